#!/usr/bin/env python3
"""Build the tiny BART summarizer fixture and record golden outputs of HF transformers' `generate()`.

What it writes (small, committed, so `cargo test` needs no Python):

  tests/fixtures/tiny-bart/                  config.json with the generation settings at top level (the
                                             distilbart-cnn layout), vocab.json + merges.txt (no
                                             tokenizer.json, like sshleifer/distilbart-cnn-12-6),
                                             model.safetensors
  tests/fixtures/tiny-bart-tokenizer-json/   the same tokenizer as a `tokenizer.json` (the bart-large-cnn
                                             layout), to check both loading paths give HF's ids
  tests/fixtures/golden/bart_generate.json   token ids and strings from `generate()` with the config's
                                             settings (beam 4, no_repeat_ngram_size 3, min_length,
                                             length_penalty 2.0, early_stopping, forced BOS/EOS) and greedy

The model has BART's real structure at a tiny size (learned positions with offset 2, layernorm_embedding,
exact GELU, post-LayerNorm, tied lm_head + final_logits_bias, decoder start `</s>` then forced `<s>`) and is
*trained* on a lead-sentence task (two or three sentences in, the first one out), so that outputs depend on
the input and the parity test compares confident decisions, not near-ties of random weights.

Usage:  python3 scripts/build_bart_fixture.py [--steps 4000]
Needs:  pip install "torch==2.9.*" "transformers==4.57.*" tokenizers safetensors
"""
import argparse
import json
import random
import shutil
import tempfile
from pathlib import Path

import torch
import transformers
from tokenizers import ByteLevelBPETokenizer
from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer, BartTokenizerFast

import build_fixtures

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"

GEN = {
    "num_beams": 4,
    "max_length": 48,
    "min_length": 12,
    "no_repeat_ngram_size": 3,
    "length_penalty": 2.0,
    "early_stopping": True,
}

# Inputs for the goldens: seen and unseen, one sentence (min_length bites), repeated phrases
# (no_repeat_ngram bites), long ones (max_length bites), numbers, names, quotes, non-ASCII.
GOLDEN_INPUTS = [
    "The road remains closed until Friday. Experts warn of rising prices in the winter.",
    "Inflation was 4.5 percent in October. The company reported revenue of 1.2 billion euros on Tuesday.",
    "Cloudflare protects websites. The finance chief said the business in Russia is very small.",
    "According to the police, nobody was injured.",
    "The train to Munich is cancelled today, the train to Munich is cancelled today. The road remains closed.",
    "Experts warn of rising prices in the winter, the report said, and the government wants to cut subsidies "
    "for solar panels from 2025 because the budget is tight. About 3,000 people protested.",
    "Thomas Seifert said on 3 October: \u201cWe stay.\u201d The firm protects websites from hacker attacks.",
    "Yes.",
    "Düsseldorf and Zürich report 12.5 % growth 😀. The road remains closed until Friday.",
    "About 3,000 people protested against the plans in Berlin. Ukraine is getting help to protect its networks. "
    "The company is headquartered in San Francisco.",
]


def english_sentences():
    """The English part of the Marian fixture corpus plus the English seed article, one sentence a line."""
    out = list(build_fixtures.CORPUS[-12:])
    text = (ROOT / "seeds" / "004_cfe423b33326e34a.txt").read_text(encoding="utf-8")
    for para in text.split("\n"):
        out.extend(s.strip() for s in para.replace("? ", "?\n").replace(". ", ".\n").split("\n") if len(s.strip()) > 3)
    return out


def build_tokenizer(sentences, work):
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        sentences + GOLDEN_INPUTS,
        vocab_size=700,
        min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
    )
    bpe.save_model(str(work))  # vocab.json + merges.txt
    # BART's vocab ends with <mask>
    vocab = json.loads((work / "vocab.json").read_text(encoding="utf-8"))
    vocab["<mask>"] = len(vocab)
    (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tok = BartTokenizer(str(work / "vocab.json"), str(work / "merges.txt"))
    return tok


def lead_pairs(sentences, rng, n):
    """(input, target): two or three sentences in, the first one out; plus word salads of the same shape."""
    words = " ".join(sentences).replace(".", "").split()
    pairs = []
    for _ in range(n):
        if rng.random() < 0.5:
            k = rng.randint(2, 3)
            picked = [rng.choice(sentences) for _ in range(k)]
        else:
            picked = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 12))) + "." for _ in range(rng.randint(2, 3))]
        pairs.append((" ".join(picked), picked[0]))
    return pairs


def train(model, tok, sentences, steps, seed):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    pool = [(tok(a)["input_ids"][:120], tok(text_target=b)["input_ids"][:60]) for a, b in lead_pairs(sentences, rng, 8000)]
    build_fixtures.train_teacher_forced(model, pool, tok.pad_token_id, steps, rng, log_every=100, log=lambda m: print(m, flush=True))


def golden(model, tok):
    out = {"generation": GEN, "cases": []}

    def run(inputs, **kw):
        enc = tok(inputs, return_tensors="pt", padding=True)
        with torch.no_grad():
            res = model.generate(**enc, output_scores=True, return_dict_in_generate=True, **kw)
        beams = kw.get("num_beams", GEN["num_beams"])
        return {
            "inputs": inputs,
            "overrides": kw,
            "input_ids": enc["input_ids"].tolist(),
            "sequences": res.sequences.tolist(),
            "texts": tok.batch_decode(res.sequences, skip_special_tokens=True),
            "sequence_scores": res.sequences_scores.tolist() if beams > 1 else None,
        }

    for kw in ({}, {"num_beams": 1}):
        for s in GOLDEN_INPUTS:
            out["cases"].append(dict(mode="single", **run([s], **kw)))
        for chunk in (GOLDEN_INPUTS[:5], GOLDEN_INPUTS[5:]):
            out["cases"].append(dict(mode="batch", **run(chunk, **kw)))
    # no n-gram blocking and no min length: shows the processors above are what shaped the outputs
    out["cases"].append(dict(mode="batch", **run(GOLDEN_INPUTS[:5], no_repeat_ngram_size=0, min_length=0)))
    # another forced first token (the model always writes <s> first by itself, so only this shows the
    # forced-BOS processor at work); greedy and beam
    out["cases"].append(dict(mode="batch", **run(GOLDEN_INPUTS[:5], forced_bos_token_id=60)))
    out["cases"].append(dict(mode="batch", **run(GOLDEN_INPUTS[:5], forced_bos_token_id=60, num_beams=1)))
    # a short max_length exercises forced EOS under beam search
    out["cases"].append(dict(mode="single", **run([GOLDEN_INPUTS[5]], max_length=16, min_length=0)))
    out["tokenizer"] = [
        {"text": t, "ids": tok(t)["input_ids"], "decoded": tok.decode(tok(t)["input_ids"], skip_special_tokens=True)}
        for t in GOLDEN_INPUTS + ["  two  spaces\tand tab\n", "<mask> and </s> in text", ""]
    ]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--golden-only", action="store_true", help="keep the committed weights, rewrite config and goldens")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dst = FIX / "tiny-bart"
    if args.golden_only:
        return write_config_and_goldens(dst)

    sentences = english_sentences()
    work = Path(tempfile.mkdtemp())
    tok = build_tokenizer(sentences, work)
    print(f"{len(sentences)} sentences, vocab {len(tok)}")
    cfg = BartConfig(
        vocab_size=len(tok),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        activation_function="gelu",
        max_position_embeddings=128,
        scale_embedding=False,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
        **GEN,
    )
    torch.manual_seed(args.seed)
    model = BartForConditionalGeneration(cfg)
    # BART's init leaves final_logits_bias at zero; give it values so the test sees it is added
    with torch.no_grad():
        model.final_logits_bias.normal_(0.0, 0.05)
    train(model, tok, sentences, args.steps, args.seed)

    shutil.rmtree(dst, ignore_errors=True)
    model.save_pretrained(str(dst), safe_serialization=True)
    tok.save_pretrained(str(dst))
    write_config_and_goldens(dst)


def write_config_and_goldens(dst):
    for extra in ("generation_config.json", "tokenizer.json", "added_tokens.json"):
        (dst / extra).unlink(missing_ok=True)
    conf = json.loads((dst / "config.json").read_text())
    # distilbart-cnn keeps these in config.json (save_pretrained moves them out; put them back), and
    # bart-large-cnn forces <s> after the </s> decoder start
    conf.update(GEN)
    conf["forced_bos_token_id"] = 0
    (dst / "config.json").write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n")

    fast_dir = FIX / "tiny-bart-tokenizer-json"
    shutil.rmtree(fast_dir, ignore_errors=True)
    fast_dir.mkdir()
    BartTokenizerFast.from_pretrained(str(dst)).backend_tokenizer.save(str(fast_dir / "tokenizer.json"))

    reloaded = BartForConditionalGeneration.from_pretrained(str(dst))
    reloaded.eval()
    tok = BartTokenizer.from_pretrained(str(dst))
    g = golden(reloaded, tok)
    g["transformers"] = transformers.__version__
    g["torch"] = torch.__version__
    g["clean_up_tokenization_spaces"] = bool(tok.clean_up_tokenization_spaces)
    (FIX / "golden" / "bart_generate.json").write_text(json.dumps(g, ensure_ascii=False, indent=1) + "\n")
    for c in g["cases"][:4]:
        print(c["inputs"], "->", c["texts"])


if __name__ == "__main__":
    main()
