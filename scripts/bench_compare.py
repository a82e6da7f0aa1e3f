#!/usr/bin/env python3
"""Side-by-side speed of vertolk, CTranslate2 and transformers (MarianMT), and of vertolk and llama.cpp
(GGUF LLMs): same inputs, same beam sizes, same length limit, same thread count, one command, one table.

What it does:
  1. builds a MarianMT of the real opus-mt-de-en shape (config from ../shared/reference/opus-mt-configs/de-en,
     vocab 58101, eos 0, pad 58100) in hub layout, with real SentencePiece models (opus-mt-tc-big-fr-en's
     source.spm/target.spm, re-numbered into the de-en id layout) and seeded random weights *trained for a
     few hundred steps on a copy task*, so output lengths follow the input as real translations do;
     cached under --work, so re-runs skip it;
  2. converts it with CTranslate2's converter to fp32 and int8;
  3. translates the same >= 500 sentences (the seeds' sentences plus our own) with each engine, beams 1 and 4,
     max_length 256, batches of 32 sorted by length, 2 threads, each engine in its own process (peak RSS is
     that process's), --marian-runs rounds with the engines in a rotated order each round (this machine's
     speed drifts by 15-30 % over minutes); the table gives medians and the range of the per-round ratios;
  4. checks that vertolk's fp32 output ids equal transformers' for every sentence (parity at scale) and
     reports the agreement of int8 and int8-fast (7-bit activations) with fp32;
  4b. counts the model's multiply-adds for each engine's own outputs (the useful work, without padding)
     and sets the rate against this machine's measured GEMM peak (torch fp32 sgemm, FBGEMM int8), so the
     table says how far from the hardware's limit each engine is;
  5. runs the same chat prompt (a seed article), greedy, through vertolk and llama.cpp on each GGUF found,
     --llm-runs times each, interleaved, and reports the medians.

Usage:  python3 scripts/bench_compare.py [--shared ../shared] [--work target/bench] [--llm-dir DIR]
        [--skip-llm | --skip-marian] [--marian-runs 3] [--llm-runs 3]
Needs:  cargo build --release; pip install torch transformers sentencepiece ctranslate2
        CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python
"""
import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
MAX_LENGTH = 256
BATCH = 32
# Each batch may generate as many tokens as its longest source has (</s> included), the last one a forced
# EOS in transformers and vertolk: a copy-trained model of this size, trained for minutes, does not yet
# place EOS by itself, so the cap keeps output lengths at source lengths, as translations have them.
LENGTH_CAP = 1.0


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------------------
# inputs


def bench_sentences():
    """The seeds' sentences, then our own news-style sentences from templates, 520 in all."""
    out = []
    for p in sorted((ROOT / "seeds").glob("*.txt")):
        for para in p.read_text(encoding="utf-8").split("\n"):
            for s in para.replace("? ", "?\n").replace(". ", ".\n").replace("! ", "!\n").split("\n"):
                s = s.strip()
                if 3 <= len(s.split()) <= 60:
                    out.append(s)
    rng = random.Random(7)
    de = ["Der Konzern", "Die Bundesregierung", "Die Polizei", "Der Finanzchef", "Die Firma", "Das Gericht", "Die Stadt Köln"]
    nl = ["Het bedrijf", "De regering", "De politie", "De directeur", "Het kabinet", "De gemeente Utrecht"]
    de_v = ["meldete am Dienstag einen Umsatz von {n} Millionen Euro", "will die Förderung ab {y} kürzen",
            "rechnet mit {n} Prozent Wachstum im nächsten Jahr", "hat {n} neue Stellen in Berlin geschaffen",
            "warnt vor steigenden Preisen im Winter", "prüft den Verkauf der Sparte bis {y}"]
    nl_v = ["maakte een omzet van {n} miljoen euro bekend", "wil de subsidie vanaf {y} verlagen",
            "verwacht {n} procent groei volgend jaar", "heeft {n} nieuwe banen in Amsterdam geschapen",
            "waarschuwt voor stijgende prijzen in de winter", "onderzoekt de verkoop van de divisie tot {y}"]
    tail_de = ["", ", sagte ein Sprecher", ", wie aus einem Bericht hervorgeht", ", obwohl die Konkurrenz groß ist und die Kosten steigen"]
    tail_nl = ["", ", zei een woordvoerder", ", blijkt uit een rapport", ", hoewel de concurrentie groot is en de kosten stijgen"]
    while len(out) < 520:
        n, y = rng.randint(2, 950), rng.randint(2020, 2030)
        if rng.random() < 0.5:
            s = f"{rng.choice(de)} {rng.choice(de_v).format(n=n, y=y)}{rng.choice(tail_de)}."
        else:
            s = f"{rng.choice(nl)} {rng.choice(nl_v).format(n=n, y=y)}{rng.choice(tail_nl)}."
        out.append(s)
    return out


# ---------------------------------------------------------------------------------------------------------
# the model


def build_model(shared, work, steps):
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    dst = work / "opus-mt-de-en-shape"
    if (dst / "model.safetensors").is_file():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    ref = shared / "reference"
    cfg_json = json.loads((ref / "opus-mt-configs" / "de-en" / "config.json").read_text())
    tok_src = ref / "opus-mt-tc-big-fr-en"
    # de-en id layout: </s> 0, <unk> 1, the spm pieces, <pad> last (58100); fillers where tc-big has fewer
    big = json.loads((tok_src / "vocab.json").read_text(encoding="utf-8"))
    pieces = [p for p, _ in sorted(big.items(), key=lambda kv: kv[1]) if p not in ("</s>", "<unk>", "<pad>")]
    vocab = {"</s>": 0, "<unk>": 1}
    for p in pieces:
        if len(vocab) >= cfg_json["vocab_size"] - 1:
            break
        vocab.setdefault(p, len(vocab))
    while len(vocab) < cfg_json["vocab_size"] - 1:
        vocab[f"<filler_{len(vocab)}>"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    assert vocab["<pad>"] == cfg_json["pad_token_id"], (vocab["<pad>"], cfg_json["pad_token_id"])
    for f in ("source.spm", "target.spm"):
        (dst / f).write_bytes((tok_src / f).read_bytes())
    (dst / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (dst / "tokenizer_config.json").write_text(json.dumps({"source_lang": "de", "target_lang": "en", "model_max_length": 512}))
    (dst / "special_tokens_map.json").write_text(json.dumps({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}))
    (dst / "config.json").write_text(json.dumps(cfg_json, indent=2))
    tok = MarianTokenizer.from_pretrained(str(dst))
    config = MarianConfig.from_pretrained(str(dst))
    torch.manual_seed(1234)
    model = MarianMTModel(config)
    train_copy(model, tok, bench_sentences(), steps)
    from safetensors.torch import save_file

    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    for k in ("lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"):
        sd.pop(k, None)
    save_file(sd, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def train_copy(model, tok, sentences, steps):
    import torch

    # imported here, not at the top: the engine subprocesses must not load torch for nothing (peak RSS)
    from build_fixtures import train_teacher_forced

    torch.set_num_threads(THREADS)
    rng = random.Random(1234)
    # short rows and frozen (tied, random) embeddings: the 58101-wide vocabulary dominates the cost of a
    # step, and copying only needs the network to map each source embedding back onto itself
    pool = [(tok(s)["input_ids"][:32], tok(text_target=s)["input_ids"][:32]) for s in sentences]
    model.model.shared.weight.requires_grad_(False)
    model.final_logits_bias.requires_grad_(False)
    t0 = time.time()
    train_teacher_forced(model, pool, tok.pad_token_id, steps, rng, batch=8, lr=1e-3, warmup=50, log_every=10,
                         log=lambda m: print(f"  copy-train {m} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True))


# ---------------------------------------------------------------------------------------------------------
# engines (each runs in its own process: `--engine NAME`)


def run_transformers(model_dir, sentences, beams, out_path):
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    torch.set_num_threads(THREADS)
    tok = MarianTokenizer.from_pretrained(model_dir)
    model = MarianMTModel.from_pretrained(model_dir).eval()
    ids = [tok(s)["input_ids"] for s in sentences]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    result = [None] * len(ids)
    t0 = time.time()
    with torch.no_grad():
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            w = max(len(ids[i]) for i in idx)
            x = torch.tensor([ids[i] + [tok.pad_token_id] * (w - len(ids[i])) for i in idx])
            cap = min(int(LENGTH_CAP * w), MAX_LENGTH - 1)
            seq = model.generate(input_ids=x, attention_mask=(x != tok.pad_token_id).long(), num_beams=beams,
                                 max_new_tokens=cap, do_sample=False)
            for i, row in zip(idx, seq.tolist()):
                row = row[1:]
                while row and row[-1] == tok.pad_token_id:
                    row.pop()
                result[i] = row
    secs = time.time() - t0
    Path(out_path).write_text("".join(json.dumps(r) + "\n" for r in result))
    return secs, sum(len(r) for r in result)


def run_ct2(ct2_dir, model_dir, sentences, beams, out_path):
    import ctranslate2
    from transformers import MarianTokenizer

    tok = MarianTokenizer.from_pretrained(model_dir)
    tr = ctranslate2.Translator(ct2_dir, device="cpu", inter_threads=1, intra_threads=THREADS)
    src = [tok.convert_ids_to_tokens(tok(s)["input_ids"]) for s in sentences]
    order = sorted(range(len(src)), key=lambda i: -len(src[i]))
    res = [None] * len(src)
    t0 = time.time()
    for b in range(0, len(order), BATCH):
        idx = order[b:b + BATCH]
        cap = min(int(LENGTH_CAP * max(len(src[i]) for i in idx)), MAX_LENGTH - 1)
        # the others' last step is a forced EOS; CT2 has no forced EOS, so it decodes cap - 1 and the EOS
        # is counted below
        out = tr.translate_batch([src[i] for i in idx], beam_size=beams, max_decoding_length=cap - 1,
                                 max_batch_size=BATCH, batch_type="examples")
        for i, r in zip(idx, out):
            res[i] = r
    secs = time.time() - t0
    rows = []
    for r in res:
        toks = r.hypotheses[0]
        # CT2 leaves EOS out of its output; count it, as the others do
        rows.append(tok.convert_tokens_to_ids(toks) + [tok.eos_token_id])
    Path(out_path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return secs, sum(len(r) for r in rows)


def engine_main(args):
    sentences = Path(args.sentences).read_text(encoding="utf-8").splitlines()
    if args.engine == "transformers":
        secs, n = run_transformers(args.model, sentences, args.beams, args.out)
    else:
        secs, n = run_ct2(args.ct2, args.model, sentences, args.beams, args.out)
    print(json.dumps({"seconds": secs, "generated_tokens": n, "sentences": len(sentences), "peak_rss_mb": peak_rss_mb()}))


def llama_cpp_main(args):
    from llama_cpp import Llama

    text = Path(args.prompt).read_text(encoding="utf-8")
    llm = Llama(model_path=args.gguf, n_ctx=4096, n_threads=THREADS, n_threads_batch=THREADS, n_batch=512, verbose=False)
    prompt = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nSummarize this article:\n\n"
              f"{text}<|im_end|>\n<|im_start|>assistant\n")
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    t0 = time.time()
    gen = llm.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.1, reset=True)
    next(gen)
    t1 = time.time()
    n = 1
    for tok in gen:
        if tok == llm.token_eos() or n >= args.gen:
            break
        n += 1
    t2 = time.time()
    print(json.dumps({"prompt_tokens": len(tokens), "prompt_tok_s": len(tokens) / (t1 - t0),
                      "generated": n, "gen_tok_s": (n - 1) / max(t2 - t1, 1e-9), "peak_rss_mb": peak_rss_mb()}))


def peak_main(args):
    """This machine's multiply-add rate on dense GEMMs at 2 threads, best of 5: torch's fp32 sgemm and
    FBGEMM's dynamic int8 (the kernel behind torch's quantized Linear), on a large square product and on
    the vocabulary projection of one 32-row decoding step. The roofline for the Marian table."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    torch.backends.quantized.engine = "fbgemm"

    def best(f, macs):
        f(), f()
        rate = 0.0
        for _ in range(5):
            t = time.perf_counter()
            f()
            rate = max(rate, macs / (time.perf_counter() - t))
        return rate / 1e9

    out = {}
    with torch.no_grad():
        for tag, (m, k, n) in (("gemm_2048", (2048, 2048, 2048)), ("vocab_32", (32, 512, 58101))):
            x, w = torch.randn(m, k), torch.randn(n, k) * 0.05
            out[f"fp32_{tag}"] = best(lambda: F.linear(x, w), m * k * n)
            lin = torch.nn.Linear(k, n, bias=False)
            lin.weight.copy_(w)
            q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)
            out[f"int8_{tag}"] = best(lambda: q(x), m * k * n)
    print(json.dumps(out))


def model_work(cfg, src_lens, outputs, beams):
    """Multiply-adds a Marian model needs for these sentences: the encoder over each source (linear layers
    and self-attention), the cross-attention K/V once per sentence, and per output token and beam one
    decoder step (self/cross attention over the positions so far, FFN, vocabulary projection). Padding and
    the extra steps of finished beams are not counted: this is the useful work, the same for every engine
    that produces the same outputs."""
    d, v = cfg["d_model"], cfg["vocab_size"]
    le, ld = cfg["encoder_layers"], cfg["decoder_layers"]
    fe, fd = cfg["encoder_ffn_dim"], cfg["decoder_ffn_dim"]
    total = 0
    for S, out in zip(src_lens, outputs):
        T = len(out)
        total += le * (S * (4 * d * d + 2 * d * fe) + 2 * S * S * d)
        total += ld * S * 2 * d * d
        per_step = ld * (6 * d * d + 2 * d * fd + 2 * S * d) + d * v
        total += beams * (T * per_step + ld * 2 * d * T * (T + 1) // 2)
    return total


# ---------------------------------------------------------------------------------------------------------
# driver


def sub(cmd, env=None):
    e = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    if env:
        e.update(env)
    r = subprocess.run(cmd, capture_output=True, text=True, env=e)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def read_ids(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--work", default=str(ROOT / "target" / "bench"))
    ap.add_argument("--llm-dir", default=os.environ.get("VERTOLK_LLM_DIR"))
    ap.add_argument("--steps", type=int, default=300, help="copy-task training steps for the bench model")
    ap.add_argument("--beams", default="1,4")
    ap.add_argument("--skip-llm", action="store_true")
    ap.add_argument("--skip-marian", action="store_true", help="only the LLM table")
    ap.add_argument("--marian-runs", type=int, default=3, help="rounds of the Marian engines (medians reported)")
    ap.add_argument("--llm-runs", type=int, default=3, help="runs per LLM engine (median reported)")
    ap.add_argument("--rerun", default="", help="re-measure only engines whose name contains this (e.g. vertolk); "
                    "the others' last results under --work are reused")
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--ct2", help=argparse.SUPPRESS)
    ap.add_argument("--sentences", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--gguf", help=argparse.SUPPRESS)
    ap.add_argument("--prompt", help=argparse.SUPPRESS)
    ap.add_argument("--gen", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--beam", dest="beams_one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine in ("transformers", "ct2"):
        args.beams = args.beams_one
        return engine_main(args)
    if args.engine == "llama.cpp":
        return llama_cpp_main(args)
    if args.engine == "peak":
        return peak_main(args)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    vertolk = ROOT / "target" / "release" / "vertolk"
    if not vertolk.is_file():
        raise SystemExit("build first: cargo build --release")
    me = [sys.executable, str(Path(__file__).resolve())]
    if args.skip_marian:
        if not args.llm_dir:
            raise SystemExit("--skip-marian needs --llm-dir (or VERTOLK_LLM_DIR)")
        return llm_table(args, vertolk, me)
    print("building the de-en-shape model (cached) ...", file=sys.stderr)
    model = build_model(Path(args.shared), work, args.steps)
    sentences = bench_sentences()
    sent_file = work / "sentences.txt"
    sent_file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    ct2 = {}
    for q in ("float32", "int8"):
        d = work / f"ct2-{q}"
        if not (d / "model.bin").is_file():
            import ctranslate2

            ctranslate2.converters.TransformersConverter(str(model)).convert(str(d), quantization=q, force=True)
        ct2[q] = d

    from transformers import MarianTokenizer

    src_lens = [len(ids) for ids in MarianTokenizer.from_pretrained(str(model))(sentences)["input_ids"]]
    cfg = json.loads((model / "config.json").read_text())
    print("measuring this machine's GEMM peak ...", file=sys.stderr, flush=True)
    peak = sub(me + ["--engine", "peak"])
    rows = []
    need = []
    for beams in [int(b) for b in args.beams.split(",")]:
        engines = [
            ("transformers fp32", me + ["--engine", "transformers", "--model", str(model), "--sentences", str(sent_file), "--beam", str(beams), "--out", str(work / f"hf-{beams}.jsonl")]),
            ("CTranslate2 fp32", me + ["--engine", "ct2", "--ct2", str(ct2["float32"]), "--model", str(model), "--sentences", str(sent_file), "--beam", str(beams), "--out", str(work / f"ct2-fp32-{beams}.jsonl")]),
            ("CTranslate2 int8", me + ["--engine", "ct2", "--ct2", str(ct2["int8"]), "--model", str(model), "--sentences", str(sent_file), "--beam", str(beams), "--out", str(work / f"ct2-int8-{beams}.jsonl")]),
            ("vertolk fp32", [str(vertolk), "-q", "bench", "translate", "--model", str(model), "--input", str(sent_file), "--beams", str(beams), "--max-length", str(MAX_LENGTH), "--max-batch", str(BATCH), "--length-cap", str(LENGTH_CAP), "--out", str(work / f"vertolk-fp32-{beams}.jsonl")]),
            ("vertolk int8", [str(vertolk), "-q", "bench", "translate", "--model", str(model), "--input", str(sent_file), "--beams", str(beams), "--max-length", str(MAX_LENGTH), "--max-batch", str(BATCH), "--quantize", "int8", "--length-cap", str(LENGTH_CAP), "--out", str(work / f"vertolk-int8-{beams}.jsonl")]),
            ("vertolk int8-fast", [str(vertolk), "-q", "bench", "translate", "--model", str(model), "--input", str(sent_file), "--beams", str(beams), "--max-length", str(MAX_LENGTH), "--max-batch", str(BATCH), "--quantize", "int8-fast", "--length-cap", str(LENGTH_CAP), "--out", str(work / f"vertolk-int8-fast-{beams}.jsonl")]),
        ]
        outs = {name: cmd[cmd.index("--out") + 1] for name, cmd in engines}
        runs = {name: [] for name, _ in engines}
        cache = lambda name: work / f"result-{name.replace(' ', '-')}-{beams}.json"
        for name, _ in engines:
            if args.rerun and args.rerun not in name and cache(name).is_file():
                old = json.loads(cache(name).read_text())
                runs[name] = old if isinstance(old, list) else [old]
        for r in range(args.marian_runs):
            # a rotated order each round, so no engine always runs first (or right after transformers)
            for name, cmd in engines[r % len(engines):] + engines[:r % len(engines)]:
                if args.rerun and args.rerun not in name and cache(name).is_file():
                    continue
                print(f"beams {beams}, round {r + 1}/{args.marian_runs}: {name} ...", file=sys.stderr, flush=True)
                runs[name].append(sub(cmd))
                cache(name).write_text(json.dumps(runs[name]))
        hf = read_ids(outs["transformers fp32"])
        parity = sum(x == y for x, y in zip(read_ids(outs["vertolk fp32"]), hf))
        vt_fp32 = read_ids(outs["vertolk fp32"])
        int8_vs_fp32 = sum(x == y for x, y in zip(read_ids(outs["vertolk int8"]), vt_fp32))
        fast_vs_fp32 = sum(x == y for x, y in zip(read_ids(outs["vertolk int8-fast"]), vt_fp32))
        ct2_int8_vs_fp32 = sum(x == y for x, y in zip(read_ids(outs["CTranslate2 int8"]), read_ids(outs["CTranslate2 fp32"])))
        tps_runs = {k: [x["generated_tokens"] / x["seconds"] for x in v] for k, v in runs.items()}
        tps = {k: statistics.median(v) for k, v in tps_runs.items()}

        def ratio(k, ref):
            """median ratio, and the range of the ratios of the same round"""
            per_round = [a / b for a, b in zip(tps_runs[k], tps_runs[ref])]
            if k == ref or len(per_round) < 2:
                return f"{tps[k] / tps[ref]:.2f}"
            return f"{tps[k] / tps[ref]:.2f} ({min(per_round):.2f}–{max(per_round):.2f})"

        for k, v in runs.items():
            ref_ct2 = "CTranslate2 int8" if "int8" in k else "CTranslate2 fp32"
            secs = statistics.median(x["seconds"] for x in v)
            gmacs = model_work(cfg, src_lens, read_ids(outs[k]), beams) / secs / 1e9
            top = peak["int8_gemm_2048" if "int8" in k else "fp32_gemm_2048"]
            rows.append(f"| {k} | {beams} | {statistics.median(x['sentences'] / x['seconds'] for x in v):.1f} | {tps[k]:.0f} | "
                        f"{statistics.median(x['peak_rss_mb'] for x in v):.0f} | {ratio(k, ref_ct2)} | {ratio(k, 'transformers fp32')} | "
                        f"{gmacs:.1f} | {100 * gmacs / top:.0f} % |")
        rows.append(f"| parity, beams {beams} | | vertolk fp32 = transformers: {parity}/{len(hf)} sentences | "
                     f"vertolk int8 = vertolk fp32: {int8_vs_fp32}/{len(hf)}; int8-fast: {fast_vs_fp32}/{len(hf)} | "
                     f"CT2 int8 = CT2 fp32: {ct2_int8_vs_fp32}/{len(hf)} | | | | |")
        avg_len = sum(len(r) for r in hf) / len(hf)
        rows.append(f"| mean output length, beams {beams} | | {avg_len:.1f} tokens | | | | | | |")
        hf_secs = statistics.median(x["seconds"] for x in runs["transformers fp32"])
        need.append(f"beams {beams}: {4 * model_work(cfg, src_lens, hf, beams) / hf_secs / 1e9:.0f}")

    print(f"\nMarian, opus-mt-de-en shape (copy-trained {args.steps} steps), {len(sentences)} sentences, batches of {BATCH} "
          f"sorted by length, each capped at its longest source's token count, {THREADS} threads, "
          f"median of {args.marian_runs} rounds (ratios: median, and in brackets the range of same-round ratios)\n")
    print("| engine | beams | sentences/s | generated tokens/s | peak RSS MB | vs CT2 (same precision) | vs transformers | useful GMAC/s | of GEMM peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nGEMM peak here ({THREADS} threads, best of 5; useful GMAC/s = the model's multiply-adds for each engine's own "
          f"outputs per second): torch fp32 sgemm 2048³ {peak['fp32_gemm_2048']:.0f} GMAC/s, 32×512×58101 "
          f"{peak['fp32_vocab_32']:.0f}; FBGEMM int8 2048³ {peak['int8_gemm_2048']:.0f}, 32×512×58101 {peak['int8_vocab_32']:.0f}. "
          f"4× transformers would take {', '.join(need)} useful GMAC/s.")

    if args.skip_llm or not args.llm_dir:
        return
    llm_table(args, vertolk, me)


def llm_table(args, vertolk, me):
    """llama.cpp and vertolk on each GGUF, `--llm-runs` times each, interleaved (this machine's speed
    drifts by 15-30 % over minutes); the table gives the median of each figure."""
    ggufs = sorted(Path(args.llm_dir).glob("*.gguf"))
    prompt = ROOT / "seeds" / "004_cfe423b33326e34a.txt"
    med = lambda runs, key: statistics.median(r[key] for r in runs)
    print(f"\nLLM summarizer, same ChatML prompt (seed 004), greedy, 64 new tokens, {THREADS} threads, "
          f"median of {args.llm_runs} interleaved runs\n")
    print("| model | engine | prompt tokens | prompt tok/s | generation tok/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for g in ggufs:
        lcs, vts = [], []
        for _ in range(args.llm_runs):
            lcs.append(sub(me + ["--engine", "llama.cpp", "--gguf", str(g), "--prompt", str(prompt), "--gen", "64"]))
            vt = subprocess.run([str(vertolk), "-q", "bench", "llm", "--gguf", str(g), "--prompt", str(prompt), "--gen", "64", "--json"],
                                capture_output=True, text=True, env=dict(os.environ, RAYON_NUM_THREADS=str(THREADS)))
            if vt.returncode != 0:
                raise SystemExit(vt.stderr[-2000:])
            vts.append(json.loads(vt.stdout.strip().splitlines()[-1]))
        for name, runs in (("llama.cpp", lcs), ("vertolk", vts)):
            print(f"| {g.name} | {name} | {runs[0]['prompt_tokens']} | {med(runs, 'prompt_tok_s'):.1f} | "
                  f"{med(runs, 'gen_tok_s'):.1f} | {med(runs, 'peak_rss_mb'):.0f} |")
        print(f"| {g.name} | vertolk / llama.cpp | | {med(vts, 'prompt_tok_s') / med(lcs, 'prompt_tok_s'):.2f} | "
              f"{med(vts, 'gen_tok_s') / med(lcs, 'gen_tok_s'):.2f} | |")

if __name__ == "__main__":
    main()
