#!/usr/bin/env python3
"""Side-by-side speed of vertolk, CTranslate2 and transformers (MarianMT), and of vertolk and llama.cpp
(GGUF LLMs): same inputs, same beam sizes, same length limit, same thread count, one command, one table.

What it does:
  1. builds a MarianMT of the real opus-mt-de-en shape (config from ../shared/reference/opus-mt-configs/de-en,
     vocab 58101, eos 0, pad 58100) in hub layout, with real SentencePiece models (opus-mt-tc-big-fr-en's
     source.spm/target.spm, re-numbered into the de-en id layout) and seeded random weights *trained on a
     copy task until it ends its own outputs* (TRAIN: 1000 steps; in a free run every output ends with EOS,
     at about the source's length), so the work per sentence is set by the model, not by a length cap;
     trained once and cached outside the repo (--cache, ~/.cache/vertolk-bench), with checkpoints so an
     interrupted training continues; the weights' sha256 is checked against BENCH_MODEL_SHA256;
  2. converts it with CTranslate2's converter to fp32 and int8;
  3. translates the same >= 500 sentences (the seeds' sentences plus our own) with each engine, beams 1 and 4,
     max_length 256 and no other cap, batches of 32 sorted by length, 2 threads, each engine in its own
     process started from a small launcher that reads the engine's peak RSS from wait4 (the same measure
     for every engine; a process forked from this script would inherit its 2 GB high-water mark, as the
     Python engines' getrusage figures did before), --marian-runs rounds with the engines in a rotated order each round (this machine's
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
import hashlib
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
MAX_LENGTH = 256
BATCH = 32


def peak_rss_mb():
    """This process's own peak resident memory (Linux `VmHWM`, reset at exec, so a process started from a
    big parent does not inherit the parent's figure as `getrusage(RUSAGE_SELF).ru_maxrss` does). Every
    engine reports it as a cross-check of the launcher's measurement (see `LAUNCHER`)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return None


# Peak RSS of every engine is measured the same way, from outside: this small launcher (a fresh
# interpreter without site packages, about 10 MB) forks and execs the engine's command and reads the
# engine's `ru_maxrss` from `wait4`. Why a launcher: on Linux a child's `ru_maxrss` starts from the
# high-water mark of the memory it was forked from (exec records it), so engines forked straight from
# this script (2 GB after training) all reported the script's size; forked from the launcher they start
# from its 10 MB, below any engine's own peak. The result goes to the file named by the environment.
LAUNCHER = r"""
import json, os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(os.environ["VERTOLK_BENCH_RSS_FILE"], "w") as f:
    json.dump({"maxrss_kb": ru.ru_maxrss}, f)
sys.exit(os.waitstatus_to_exitcode(status) & 255)
"""


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


# How the bench model is trained; the cache key and the reference checksum follow from these settings.
# A pure copy task (target ids = source ids, EOS included) on whole sentences, so the model learns to end
# each output where its source ends: outputs stop by themselves, at the source's length, as translations
# do. Batches are windows of the length-sorted sentences (little padding), dropout off (a copy needs
# none), the tied embeddings and the logits bias frozen (random, as initialised). Measured (free run in
# transformers, greedy, max_length 256, no cap): after 250 steps 520/520 outputs end with EOS but only 33
# are exact copies (mean 34.1 tokens for sources of 38.0); after 1000 steps (44 min on the 2 cores, ~1.1 s
# a step when alone) 520/520 end with EOS, 426 are exact copies, mean 37.15 tokens.
TRAIN = {"recipe": "copy-v2", "steps": 1000, "batch": 12, "lr": 5e-4, "warmup": 200, "seed": 1234, "threads": THREADS}
# sha256 of model.safetensors from TRAIN's default settings (torch 2.15.0 on the 2-core Zen 3 machine);
# the run checks it, so tables from different runs compare the same model. CPU kernels of another torch
# version or CPU may round differently and train other weights: then `--any-model` runs anyway and
# the table says so.
BENCH_MODEL_SHA256 = "8f0cbed6493c0dfcbc2b0daf8abaee543cb00cc41aabcbbef458cd7d4875616d"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_key(train, sentences):
    blob = json.dumps({"train": train, "sentences": hashlib.sha256("\n".join(sentences).encode()).hexdigest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prepare_tokenizer_dir(shared, dst):
    """The de-en-shape model folder without weights: config, vocab (de-en id layout), SentencePiece models."""
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


def build_model(shared, cache, train, max_minutes=None):
    """The bench model, trained with `train` settings once and cached under `cache` (outside the repo;
    training takes 45 minutes on 2 cores). Checkpoints are written every 250 steps (every 500th kept), so an
    interrupted, shortened or extended training (other steps, same other settings) continues from the
    last one it can use; the weights equal those of one uninterrupted run (the learning rate is
    constant after the warm-up, so it does not depend on the total). Returns the model folder and its training record (train.json)."""
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    sentences = bench_sentences()
    key = model_key(train, sentences)
    dst = cache / f"opus-mt-de-en-shape-{key}"
    if (dst / "model.safetensors").is_file() and (dst / "train.json").is_file():
        return dst, json.loads((dst / "train.json").read_text())
    prepare_tokenizer_dir(shared, dst)
    tok = MarianTokenizer.from_pretrained(str(dst))
    config = MarianConfig.from_pretrained(str(dst))
    # no dropout while training (a copy needs no regularisation); the saved config.json keeps the real one
    config.dropout = config.attention_dropout = config.activation_dropout = 0.0
    torch.manual_seed(train["seed"])
    torch.set_num_threads(train["threads"])
    model = MarianMTModel(config)
    model.model.shared.weight.requires_grad_(False)
    model.final_logits_bias.requires_grad_(False)
    # imported here, not at the top: the engine subprocesses must not load torch for nothing (peak RSS)
    from build_fixtures import train_teacher_forced

    pool = []
    for s in sentences:
        ids = tok(s)["input_ids"]
        pool.append((ids, list(ids)))
    by_len = sorted(pool, key=lambda r: len(r[0]))
    batch = train["batch"]

    def draw(rng):
        i = rng.randrange(len(by_len) - batch + 1)
        return by_len[i:i + batch]

    def probe(out, labels):
        pred = out.logits.argmax(-1)
        mask = labels >= 0
        tok_acc = ((pred == labels) & mask).sum().item() / mask.sum().item()
        at_eos = labels == tok.eos_token_id
        eos_acc = (pred[at_eos] == tok.eos_token_id).float().mean().item()
        early = ((pred == tok.eos_token_id) & mask & ~at_eos).sum().item()
        return f"token acc {tok_acc:.3f}, EOS where due {eos_acc:.2f}, early EOS {early}"

    # checkpoints of this recipe, any step count: same settings but `steps`
    ckdir = cache / "checkpoints" / model_key(dict(train, steps=None), sentences)
    ckdir.mkdir(parents=True, exist_ok=True)
    resume = None
    done = sorted((int(p.stem.split("-")[1]), p) for p in ckdir.glob("step-*.pt"))
    done = [(n, p) for n, p in done if n <= train["steps"]]
    elapsed = 0.0
    if done:
        n, path = done[-1]
        ck = torch.load(path, weights_only=False)
        model.load_state_dict(ck["model"])
        resume, elapsed = ck["train"], ck["seconds"]
        print(f"  resuming from {path} (step {n})", file=sys.stderr, flush=True)
    t0 = time.time() - elapsed
    deadline = None if max_minutes is None else time.time() + 60 * max_minutes

    class Stop(Exception):
        pass

    def on_step(step, state):
        if step % 250 == 0 or step == train["steps"]:
            tmp = ckdir / f".step-{step}.pt.tmp"
            torch.save({"model": model.state_dict(), "train": state(), "seconds": time.time() - t0}, tmp)
            tmp.rename(ckdir / f"step-{step}.pt")
            # keep every 500th (a shorter training of the same recipe starts from one), the latest otherwise
            for old in ckdir.glob("step-*.pt"):
                n = int(old.stem.split("-")[1])
                if n < step and n % 500:
                    old.unlink()
        if deadline is not None and time.time() > deadline:
            raise Stop()

    rng = random.Random(train["seed"])
    try:
        train_teacher_forced(model, pool, tok.pad_token_id, train["steps"], rng, batch=batch, lr=train["lr"], warmup=train["warmup"],
                             log_every=50, resume=resume, probe=probe, draw=draw, on_step=on_step,
                             log=lambda m: print(f"  train {m} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True))
    except Stop:
        raise SystemExit(f"training stopped after --train-minutes; the last checkpoint is under {ckdir}, run again to continue")
    seconds = time.time() - t0
    from safetensors.torch import save_file

    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    for k in ("lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"):
        sd.pop(k, None)
    save_file(sd, str(dst / "model.safetensors"), metadata={"format": "pt"})
    record = {"train": train, "seconds": round(seconds), "torch": torch.__version__, "sha256": sha256_of(dst / "model.safetensors")}
    record.update(free_run_check(model, tok, sentences))
    (dst / "train.json").write_text(json.dumps(record, indent=2))
    print(f"  trained: {json.dumps(record)}", file=sys.stderr, flush=True)
    return dst, record


def free_run_check(model, tok, sentences):
    """Greedy decoding without a length cap (max_length 256) in transformers: how many outputs end with
    EOS, and their length against the source's."""
    import torch

    ids = [tok(s)["input_ids"] for s in sentences]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    ended, exact, out_len = 0, 0, 0
    with torch.no_grad():
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            w = max(len(ids[i]) for i in idx)
            x = torch.tensor([ids[i] + [tok.pad_token_id] * (w - len(ids[i])) for i in idx])
            seq = model.generate(input_ids=x, attention_mask=(x != tok.pad_token_id).long(), num_beams=1, max_length=MAX_LENGTH, do_sample=False)
            for i, row in zip(idx, seq.tolist()):
                row = row[1:]
                while row and row[-1] == tok.pad_token_id:
                    row.pop()
                ended += bool(row) and row[-1] == tok.eos_token_id
                exact += row == ids[i]
                out_len += len(row)
    n = len(sentences)
    return {"free_run_eos": ended, "free_run_exact_copies": exact, "free_run_sentences": n,
            "free_run_mean_len": round(out_len / n, 2), "source_mean_len": round(sum(map(len, ids)) / n, 2)}


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
            seq = model.generate(input_ids=x, attention_mask=(x != tok.pad_token_id).long(), num_beams=beams,
                                 max_length=MAX_LENGTH, do_sample=False)
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
        # max_length counts the decoder start token in the others; CT2 counts generated tokens only
        out = tr.translate_batch([src[i] for i in idx], beam_size=beams, max_decoding_length=MAX_LENGTH - 1,
                                 max_batch_size=BATCH, batch_type="examples", return_end_token=True)
        for i, r in zip(idx, out):
            res[i] = r
    secs = time.time() - t0
    # with return_end_token the EOS is part of a hypothesis that ended on it, as in the others' output
    rows = [tok.convert_tokens_to_ids(r.hypotheses[0]) for r in res]
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
    """Run an engine's command in its own process, started from `LAUNCHER`; its last stdout line is its
    JSON report, to which `peak_rss_mb` (the launcher's measurement) and `self_hwm_mb` (the engine's own
    `VmHWM`, as it reported it) are set."""
    import tempfile

    e = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    if env:
        e.update(env)
    with tempfile.NamedTemporaryFile(prefix="vertolk-bench-rss-", suffix=".json") as f:
        e["VERTOLK_BENCH_RSS_FILE"] = f.name
        r = subprocess.run([sys.executable, "-S", "-c", LAUNCHER] + [str(c) for c in cmd], capture_output=True, text=True, env=e)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr[-3000:]}")
        rss = json.loads(Path(f.name).read_text())
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["self_hwm_mb"] = out.get("peak_rss_mb")
    out["peak_rss_mb"] = rss["maxrss_kb"] / 1024.0
    return out


def read_ids(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--work", default=str(ROOT / "target" / "bench"))
    ap.add_argument("--llm-dir", default=os.environ.get("VERTOLK_LLM_DIR"))
    ap.add_argument("--cache", default=os.environ.get("VERTOLK_BENCH_CACHE", str(Path.home() / ".cache" / "vertolk-bench")),
                    help="where the trained bench model (and its training checkpoints) are kept")
    ap.add_argument("--train-steps", type=int, default=TRAIN["steps"], help="copy-task training steps for the bench model")
    ap.add_argument("--train-minutes", type=float, help="stop training after this long (it continues from its last "
                    "checkpoint on the next run)")
    ap.add_argument("--train-only", action="store_true", help="train (or find) the bench model and stop")
    ap.add_argument("--any-model", action="store_true", help="run even if the bench model's sha256 is not the reference one")
    ap.add_argument("--vertolk", help="the vertolk binary (default: $CARGO_TARGET_DIR or target/, release)")
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

    vertolk = Path(args.vertolk) if args.vertolk else Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "vertolk"
    if not vertolk.is_file() and not args.train_only:
        raise SystemExit(f"build first: cargo build --release ({vertolk} not found)")
    me = [sys.executable, str(Path(__file__).resolve())]
    if args.skip_marian:
        if not args.llm_dir:
            raise SystemExit("--skip-marian needs --llm-dir (or VERTOLK_LLM_DIR)")
        return llm_table(args, vertolk, me)
    print("building the de-en-shape model (cached) ...", file=sys.stderr)
    train = dict(TRAIN, steps=args.train_steps)
    model, record = build_model(Path(args.shared), Path(args.cache).expanduser(), train, args.train_minutes)
    print(f"bench model: {model}\n  {json.dumps(record)}", file=sys.stderr, flush=True)
    sha = record["sha256"]
    reference = train == TRAIN and BENCH_MODEL_SHA256 is not None and sha == BENCH_MODEL_SHA256
    if not reference:
        why = ("the training settings differ from TRAIN" if train != TRAIN else
               "no reference sha256 is recorded" if BENCH_MODEL_SHA256 is None else f"the reference is {BENCH_MODEL_SHA256}")
        msg = f"bench model sha256 {sha}: not the reference model ({why}); tables are not comparable with the README's"
        if not args.any_model:
            raise SystemExit(msg + " (pass --any-model to run anyway)")
        print("WARNING: " + msg, file=sys.stderr, flush=True)
    if args.train_only:
        return
    work = Path(args.work) / model.name
    work.mkdir(parents=True, exist_ok=True)
    sentences = bench_sentences()
    sent_file = work / "sentences.txt"
    sent_file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    ct2 = {}
    for q in ("float32", "int8"):
        d = model / f"ct2-{q}"
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
    hwm = []
    for beams in [int(b) for b in args.beams.split(",")]:
        engines = [
            ("transformers fp32", me + ["--engine", "transformers", "--model", str(model), "--sentences", str(sent_file), "--beam", str(beams), "--out", str(work / f"hf-{beams}.jsonl")]),
            ("CTranslate2 fp32", me + ["--engine", "ct2", "--ct2", str(ct2["float32"]), "--model", str(model), "--sentences", str(sent_file), "--beam", str(beams), "--out", str(work / f"ct2-fp32-{beams}.jsonl")]),
            ("CTranslate2 int8", me + ["--engine", "ct2", "--ct2", str(ct2["int8"]), "--model", str(model), "--sentences", str(sent_file), "--beam", str(beams), "--out", str(work / f"ct2-int8-{beams}.jsonl")]),
            ("vertolk fp32", [str(vertolk), "-q", "bench", "translate", "--model", str(model), "--input", str(sent_file), "--beams", str(beams), "--max-length", str(MAX_LENGTH), "--max-batch", str(BATCH), "--out", str(work / f"vertolk-fp32-{beams}.jsonl")]),
            ("vertolk int8", [str(vertolk), "-q", "bench", "translate", "--model", str(model), "--input", str(sent_file), "--beams", str(beams), "--max-length", str(MAX_LENGTH), "--max-batch", str(BATCH), "--quantize", "int8", "--out", str(work / f"vertolk-int8-{beams}.jsonl")]),
            ("vertolk int8-fast", [str(vertolk), "-q", "bench", "translate", "--model", str(model), "--input", str(sent_file), "--beams", str(beams), "--max-length", str(MAX_LENGTH), "--max-batch", str(BATCH), "--quantize", "int8-fast", "--out", str(work / f"vertolk-int8-fast-{beams}.jsonl")]),
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
            hwm.append(f"{k} beams {beams}: {statistics.median(x['peak_rss_mb'] for x in v):.0f} / "
                       f"{statistics.median(x['self_hwm_mb'] for x in v if x.get('self_hwm_mb')) if any(x.get('self_hwm_mb') for x in v) else float('nan'):.0f}")
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

    print(f"\nMarian, opus-mt-de-en shape (copy-trained {record['train']['steps']} steps, model.safetensors sha256 "
          f"{record['sha256'][:16]}…; free run in transformers: {record['free_run_eos']}/{record['free_run_sentences']} outputs end "
          f"with EOS, mean {record['free_run_mean_len']} tokens for sources of {record['source_mean_len']}), {len(sentences)} sentences, "
          f"batches of {BATCH} sorted by length, no length cap (max_length {MAX_LENGTH}), {THREADS} threads, "
          f"median of {args.marian_runs} rounds (ratios: median, and in brackets the range of same-round ratios); peak RSS "
          f"of every engine measured alike, by wait4 in a small launcher\n")
    print("| engine | beams | sentences/s | generated tokens/s | peak RSS MB | vs CT2 (same precision) | vs transformers | useful GMAC/s | of GEMM peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nGEMM peak here ({THREADS} threads, best of 5; useful GMAC/s = the model's multiply-adds for each engine's own "
          f"outputs per second): torch fp32 sgemm 2048³ {peak['fp32_gemm_2048']:.0f} GMAC/s, 32×512×58101 "
          f"{peak['fp32_vocab_32']:.0f}; FBGEMM int8 2048³ {peak['int8_gemm_2048']:.0f}, 32×512×58101 {peak['int8_vocab_32']:.0f}. "
          f"4× transformers would take {', '.join(need)} useful GMAC/s.")
    print(f"\nPeak RSS MB, launcher's wait4 / the engine's own VmHWM (a cross-check: they agree when nothing leaks in "
          f"from the parent): {'; '.join(hwm)}")

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
    # on a CPU with AVX-512, vertolk also runs with the weight rows as the file has them
    # (VERTOLK_NO_INTERLEAVE=1: the row kernels, 512-bit for K-quant prompts) and with its AVX2 kernels
    # only (VERTOLK_NO_AVX512=1), in the same rounds, so that what each changes is measured against
    # the same llama.cpp
    avx512 = "avx512bw" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
    for g in ggufs:
        lcs, vts, vrs, v2s = [], [], [], []
        vcmd = [str(vertolk), "-q", "bench", "llm", "--gguf", str(g), "--prompt", str(prompt), "--gen", "64", "--json"]
        for _ in range(args.llm_runs):
            lcs.append(sub(me + ["--engine", "llama.cpp", "--gguf", str(g), "--prompt", str(prompt), "--gen", "64"]))
            vts.append(sub(vcmd))
            if avx512:
                vrs.append(sub(vcmd, env={"VERTOLK_NO_INTERLEAVE": "1"}))
                v2s.append(sub(vcmd, env={"VERTOLK_NO_AVX512": "1"}))
        rows = [("llama.cpp", lcs), ("vertolk", vts)]
        if avx512:
            rows += [("vertolk, rows not interleaved", vrs), ("vertolk, AVX2 kernels only", v2s)]
        for name, runs in rows:
            print(f"| {g.name} | {name} | {runs[0]['prompt_tokens']} | {med(runs, 'prompt_tok_s'):.1f} | "
                  f"{med(runs, 'gen_tok_s'):.1f} | {med(runs, 'peak_rss_mb'):.0f} |")
        for name, runs in rows[1:]:
            print(f"| {g.name} | {name} / llama.cpp | | {med(runs, 'prompt_tok_s') / med(lcs, 'prompt_tok_s'):.2f} | "
                  f"{med(runs, 'gen_tok_s') / med(lcs, 'gen_tok_s'):.2f} | |")

if __name__ == "__main__":
    main()
