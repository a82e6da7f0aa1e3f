#!/usr/bin/env python3
"""Reference sentence embeddings for tests/models_embedder.rs: all-MiniLM-L6-v2 run by an independent
NumPy implementation of `transformers`' BertModel (post-LN encoder, exact-erf GELU, LayerNorm eps from the
config) with mean pooling over the attention mask and L2 normalisation — what sentence-transformers'
modules (Transformer, Pooling(mean), Normalize) compute. Tokens come from the repo's tokenizer.json via
HF `tokenizers`. (PyTorch is not installable here: PyPI's wheels need the CUDA libraries.)

Usage: pip install numpy safetensors tokenizers && python3 scripts/record_embedding_goldens.py MODEL_DIR
Writes tests/fixtures/golden/embeddings_minilm.json.
"""
import json
import math
import pathlib
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "Cloudflare is keeping its business in Russia.",
    "Cloudflare and Akamai have stopped short of pulling completely out of Russia.",
    "Cloudflare is responsible for a partial outage of the internet this Tuesday.",
    "The company has filed an application with the US stock market watchdog, the SEC.",
    "Seifert expects revenue of $1 billion toward the end of the year.",
    "Die Straße bleibt bis Freitag gesperrt.",
    "a",
    "Those affected include the social media platform X owned by Elon Musk (54), the popular online game "
    "\"League of Legends\" and, in part, OpenAI's AI service ChatGPT, as well as other websites.",
]


def erf(x):
    return np.vectorize(math.erf)(x)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def embed(model_dir, texts):
    cfg = json.loads((model_dir / "config.json").read_text())
    w = {k: v.astype(np.float64) for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    h_n, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    out = []
    for t in texts:
        enc = tok.encode(t)
        ids = np.array(enc.ids)
        types = np.array(enc.type_ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][np.arange(len(ids))] + w["embeddings.token_type_embeddings.weight"][types]
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            lin = lambda v, n: v @ w[p + n + ".weight"].T + w[p + n + ".bias"]
            q, k, v = lin(x, "attention.self.query"), lin(x, "attention.self.key"), lin(x, "attention.self.value")
            s, d = x.shape[0], x.shape[1] // h_n
            q, k, v = (m.reshape(s, h_n, d).transpose(1, 0, 2) for m in (q, k, v))
            a = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(s, -1)
            x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            inter = lin(x, "intermediate.dense")
            inter = 0.5 * inter * (1 + erf(inter / math.sqrt(2)))
            x = layer_norm(lin(inter, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        e = x.mean(0)
        out.append((e / np.linalg.norm(e)).tolist())
    return out


def main():
    model_dir = pathlib.Path(sys.argv[1])
    emb = embed(model_dir, SENTENCES)
    golden = {"model": "sentence-transformers/all-MiniLM-L6-v2", "sentences": SENTENCES, "embeddings": [[round(v, 7) for v in e] for e in emb]}
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/golden/embeddings_minilm.json"
    path.write_text(json.dumps(golden) + "\n")
    print(f"{len(emb)} embeddings -> {path}")


if __name__ == "__main__":
    main()
