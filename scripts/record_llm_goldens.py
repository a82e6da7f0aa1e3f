"""Record llama.cpp's greedy continuations of fixed prompts on the catalogue's real GGUF files, as the
reference for tests/summarize_llm.rs (vertolk's llama-family decoder must produce the same tokens).

llama.cpp (llama-cpp-python, built with GGML_NATIVE=OFF on these CPUs) is the engine these GGUFs are
made for: same block formats, activations quantized per 32 values, f16 KV cache. Greedy (top-k 1), no
repeat penalty, 2 threads, one sequence.

Usage:  CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python
        python3 scripts/record_llm_goldens.py --llm-dir DIR > tests/fixtures/golden/llm_greedy.json
"""
import argparse
import json
from pathlib import Path

from llama_cpp import Llama

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["smollm2-135m-instruct-q4_1.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"]
NEW_TOKENS = 40


def prompts():
    article = (ROOT / "seeds" / "004_cfe423b33326e34a.txt").read_text(encoding="utf-8")
    chat = lambda user: ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                         f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
    return {
        "short": chat("Name three rivers in Germany and one fact about each."),
        # > 512 tokens: several prompt chunks, then decoding over a long cache
        "article": chat("Summarize this article:\n\n" + article),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm-dir", required=True)
    args = ap.parse_args()
    out = {"engine": "llama-cpp-python", "new_tokens": NEW_TOKENS, "cases": []}
    for name in MODELS:
        llm = Llama(model_path=str(Path(args.llm_dir) / name), n_ctx=4096, n_threads=2, n_threads_batch=2,
                    n_batch=512, verbose=False)
        import llama_cpp
        out["engine"] = f"llama-cpp-python {llama_cpp.__version__}"
        for key, text in prompts().items():
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            gen = []
            for tok in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
                if tok == llm.token_eos() or len(gen) >= NEW_TOKENS:
                    break
                gen.append(tok)
            out["cases"].append({"model": name, "prompt": key, "prompt_text": text, "prompt_ids": ids, "generated": gen,
                                 "text": llm.detokenize(gen).decode("utf-8", "replace")})
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
