#!/usr/bin/env python3
"""Build the test fixtures for vertolk's Marian engine and record golden outputs of HF transformers.

What it writes (all small, committed, so `cargo test` needs no Python):

  tests/fixtures/tiny-marian/          safetensors + generation_config.json (newer hub layout)
  tests/fixtures/tiny-marian-zip/      zip `pytorch_model.bin`, generation settings in config.json
  tests/fixtures/tiny-marian-legacy/   legacy (pre-1.6) `pytorch_model.bin`, like the 2020 opus-mt uploads
  tests/fixtures/golden/marian_generate.json   token ids + strings from `generate()`: greedy and beam 4,
                                               one sentence at a time and padded batches
  tests/fixtures/golden/tokenizer_real.json    MarianTokenizer ids on the real OPUS-MT tokenizers
                                               (read from ../shared/reference, never copied)

The tiny model uses the real opus-mt config fields (swish, scale_embedding, static sinusoidal positions,
pad = decoder_start = last id, eos 0, bad_words_ids [[pad]], num_beams 4) and is *trained* on a copy task
for a few thousand steps: random weights give degenerate repeats and near-ties that make a parity test
meaningless, a trained model gives confident, input-dependent outputs.

Usage:  python3 scripts/build_fixtures.py [--shared ../shared] [--steps 3000]
Needs:  pip install "torch==2.9.*" "transformers==4.57.*" "sentencepiece==0.2.*" safetensors protobuf
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
import torch
import transformers
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"

# A small trilingual corpus of our own (news register, the kind vertolk translates), plus the seed articles.
CORPUS = """
Der Konzern meldete am Dienstag einen Umsatz von 1,2 Milliarden Euro.
Die Bundesregierung will die Förderung für Solaranlagen ab 2025 kürzen.
In Düsseldorf demonstrierten rund 3.000 Menschen gegen die Pläne.
Der Finanzchef sagte, das Geschäft in Russland sei sehr klein.
Die Firma schützt Webseiten vor Hackerangriffen und Überlastung.
Nach Angaben der Polizei wurde niemand verletzt.
Die Inflation lag im Oktober bei 4,5 Prozent.
Der Zug nach München fällt heute wegen eines Streiks aus.
Die Straße bleibt bis Freitag gesperrt.
Experten warnen vor steigenden Preisen im Winter.
Das Unternehmen hat seinen Sitz in San Francisco.
Die Ukraine bekommt Hilfe beim Schutz ihrer Netze.
Het bedrijf maakte dinsdag een omzet van 1,2 miljard euro bekend.
De regering wil de subsidie voor zonnepanelen vanaf 2025 verlagen.
In Amsterdam gingen ongeveer 3.000 mensen de straat op.
De financieel directeur zei dat de zaken in Rusland erg klein zijn.
Het bedrijf beschermt websites tegen hackers en overbelasting.
Volgens de politie raakte niemand gewond.
De inflatie bedroeg in oktober 4,5 procent.
De trein naar Utrecht rijdt vandaag niet vanwege een staking.
De weg blijft tot vrijdag afgesloten.
Deskundigen waarschuwen voor stijgende prijzen in de winter.
The company reported revenue of 1.2 billion euros on Tuesday.
The government wants to cut subsidies for solar panels from 2025.
About 3,000 people protested against the plans in Berlin.
The finance chief said the business in Russia is very small.
The firm protects websites from hacker attacks and overload.
According to the police, nobody was injured.
Inflation was 4.5 percent in October.
The train to Munich is cancelled today because of a strike.
The road remains closed until Friday.
Experts warn of rising prices in the winter.
The company is headquartered in San Francisco.
Ukraine is getting help to protect its networks.
""".strip().splitlines()

# Sentences whose translations become golden outputs: seen and unseen, short and long, with numbers,
# names, umlauts, quotes and characters the fixture spm has never seen.
GOLDEN_SENTENCES = [
    "Die Straße bleibt bis Freitag gesperrt.",
    "Het bedrijf beschermt websites tegen hackers.",
    "Inflation was 4.5 percent in October.",
    "Der Finanzchef Thomas Seifert sagte am 3. Oktober: „Wir bleiben.“",
    "Volgens de politie raakte niemand gewond, zei de woordvoerder.",
    "Cloudflare schützt Webseiten.",
    "Die Firma",
    "Experts warn of rising prices in the winter, the report said, and the government wants to cut subsidies.",
    "In Düsseldorf demonstrierten rund 3.000 Menschen gegen die Pläne der Regierung in Berlin.",
    "Ja.",
    "Der Zug nach München fällt aus. Het bedrijf maakte een omzet bekend. The road remains closed.",
    "Preise ✓ steigen 😀 schnell",
]

# Lines for the real-tokenizer parity test: German, Dutch, French with „quotes“, umlauts/ß,
# full-width letters, NBSP, zero-width space, soft hyphen, emoji, tabs and repeated spaces.
TOKENIZER_LINES = [
    "Der Konzern meldete am Dienstag einen Umsatz von 1,2 Milliarden Euro.",
    "„Wir haben schon vor der Invasion angefangen“, sagt Seifert.",
    "Straße, Größe, Übermaß und Äpfel für 12,50 €.",
    "Het bedrijf zei: 'we blijven in Rusland' – niet voor lang.",
    "Le président a déclaré « nous continuerons » à Paris.",
    "Ｆｕｌｌ－ｗｉｄｔｈ Ｌｅｔｔｅｒｓ １２３",
    "Zwischen\u00a0den\u00a0Wörtern steht ein NBSP.",
    "Null\u200bbreite Leer\u200bzeichen",
    "Silben\u00adtrennung mit wei\u00adchem Bindestrich",
    "Emoji 😀 und 🇩🇪 Flaggen 👍🏽",
    "Tab\tgetrennte\t\tWerte",
    "   viele    Leerzeichen   hier   ",
    "»Zitat« und ‹einfach› und \"gerade\" 'Anführungen'",
    "Dr. Müller kam um 12.20 Uhr, d. h. zu spät.",
    "",
    "ǅ ﬁ ﬂ Ⅻ ㎏ ½ ²",
    "Ελληνικά και русский текст",
    "<unk> und </s> als Text",
]


def train_spm(sentences, prefix, vocab_size):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(sentences))
        path = f.name
    spm.SentencePieceTrainer.train(
        input=path,
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        # Marian's own spm models: <unk> 0, <s> 1, </s> 2 inside the spm; vocab.json re-numbers them.
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        normalization_rule_name="nmt_nfkc",
        num_threads=1,
        seed_sentencepiece_size=100000,
    )
    os.unlink(path)


def build_vocab(src_sp, tgt_sp):
    """Joint vocab.json as OPUS-MT has it: </s> 0, <unk> 1, then pieces, <pad> last."""
    vocab = {"</s>": 0, "<unk>": 1}
    for sp in (src_sp, tgt_sp):
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece in ("<unk>", "<s>", "</s>"):
                continue
            if piece not in vocab:
                vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    return vocab


def make_config(vocab_size):
    pad = vocab_size - 1
    return MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        activation_function="swish",
        max_position_embeddings=256,
        scale_embedding=True,
        static_position_embeddings=True,
        share_encoder_decoder_embeddings=True,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=0,
        bos_token_id=0,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        tie_word_embeddings=True,
    )


def train_teacher_forced(model, pool, pad, steps, rng, batch=24, lr=1e-3, warmup=300, log_every=250, log=print, resume=None, probe=None,
                         draw=None, on_step=None):
    """Teacher-forced seq2seq training on `pool`, a list of (source ids, target ids): batches drawn with
    `rng`, Adam with a linear warm-up (without it a small transformer settles into a language model that
    ignores its input), gradient clipping at 1.0. Only parameters that require grad are trained.

    Returns the training state (step, optimizer, schedule, torch's and `rng`'s generator states); passed
    back as `resume` with a larger `steps`, training continues where it stopped, and the weights equal
    those of one uninterrupted run of `steps`. `probe(out, labels)`, if given, adds a string to each log
    line (e.g. accuracies from the logits). `draw(rng)`, if given, returns a batch instead of `batch`
    uniform draws from `pool`. `on_step(step, state)` is called after every step with a function that
    returns the training state (to checkpoint it)."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))

    def state(step):
        return {"step": step, "opt": opt.state_dict(), "sched": sched.state_dict(), "torch_rng": torch.get_rng_state(), "rng": rng.getstate()}

    start = 0
    if resume is not None:
        opt.load_state_dict(resume["opt"])
        sched.load_state_dict(resume["sched"])
        torch.set_rng_state(resume["torch_rng"])
        rng.setstate(resume["rng"])
        start = resume["step"]
    model.train()

    def padded(rows, fill):
        width = max(len(r) for r in rows)
        return torch.tensor([r + [fill] * (width - len(r)) for r in rows])

    for step in range(start, steps):
        drawn = draw(rng) if draw is not None else [rng.choice(pool) for _ in range(batch)]
        input_ids = padded([b[0] for b in drawn], pad)
        labels = padded([b[1] for b in drawn], -100)
        out = model(input_ids=input_ids, attention_mask=(input_ids != pad).long(), labels=labels)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            extra = f" {probe(out, labels)}" if probe is not None else ""
            log(f"step {step:5d} loss {out.loss.item():.4f}{extra}")
        if on_step is not None:
            on_step(step + 1, lambda: state(step + 1))
    model.eval()
    return state(steps)


def train_copy(model, tok, sentences, steps, seed):
    """Teacher-forced copy task: source sentence -> the same sentence, through target.spm."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    words = " ".join(sentences).split()
    # random word salads make the copy generalise beyond the corpus; tokenized once, up front
    salads = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) for _ in range(6000)]
    pool = [(tok(s)["input_ids"][:120], tok(text_target=s)["input_ids"][:120]) for s in sentences + salads]
    train_teacher_forced(model, pool, tok.pad_token_id, steps, rng, log=lambda m: print(m, flush=True))


def write_model_dir(dst, tokdir, model, config_extra, weights):
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tokdir / name, dst / name)
    cfg = model.config.to_dict()
    for k in ("_name_or_path", "torch_dtype", "dtype", "transformers_version", "architectures"):
        cfg.pop(k, None)
    cfg["architectures"] = ["MarianMTModel"]
    cfg.update(config_extra)
    (dst / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if weights == "safetensors":
        from safetensors.torch import save_file

        # Tied weights are stored once, as save_pretrained does.
        for k in ("lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"):
            sd.pop(k, None)
        save_file(sd, str(dst / "model.safetensors"), metadata={"format": "pt"})
    elif weights == "zip":
        torch.save(model.state_dict(), dst / "pytorch_model.bin")
    elif weights == "legacy":
        torch.save(model.state_dict(), dst / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    else:
        raise ValueError(weights)


def golden_generate(model, tok, max_length):
    out = {"max_length": max_length, "cases": []}
    gen_common = dict(max_length=max_length, output_scores=True, return_dict_in_generate=True)

    def run(sentences, beams):
        enc = tok(sentences, return_tensors="pt", padding=True)
        with torch.no_grad():
            res = model.generate(**enc, num_beams=beams, do_sample=False, **gen_common)
        seqs = res.sequences.tolist()
        texts = tok.batch_decode(res.sequences, skip_special_tokens=True)
        scores = res.sequences_scores.tolist() if beams > 1 else None
        return enc["input_ids"].tolist(), seqs, texts, scores

    for beams in (1, 4):
        # one at a time
        for s in GOLDEN_SENTENCES:
            ids, seqs, texts, scores = run([s], beams)
            out["cases"].append(
                {"mode": "single", "num_beams": beams, "sources": [s], "input_ids": ids,
                 "sequences": seqs, "texts": texts, "sequence_scores": scores}
            )
        # padded batches of mixed lengths
        for chunk in (GOLDEN_SENTENCES[:5], GOLDEN_SENTENCES[5:]):
            ids, seqs, texts, scores = run(chunk, beams)
            out["cases"].append(
                {"mode": "batch", "num_beams": beams, "sources": chunk, "input_ids": ids,
                 "sequences": seqs, "texts": texts, "sequence_scores": scores}
            )
    # a short max_length exercises the forced-eos path
    for beams in (1, 4):
        s = GOLDEN_SENTENCES[7]
        enc = tok([s], return_tensors="pt")
        with torch.no_grad():
            res = model.generate(**enc, num_beams=beams, max_length=8, output_scores=True,
                                 return_dict_in_generate=True)
        out["cases"].append(
            {"mode": "single", "num_beams": beams, "max_length": 8, "sources": [s],
             "input_ids": enc["input_ids"].tolist(), "sequences": res.sequences.tolist(),
             "texts": tok.batch_decode(res.sequences, skip_special_tokens=True),
             "sequence_scores": res.sequences_scores.tolist() if beams > 1 else None}
        )
    return out


def golden_tokenizers(shared):
    out = {"transformers": transformers.__version__, "models": {}}
    for name in ("opus-mt-tc-big-fr-en", "opus-mt-tc-big-en-pt"):
        d = shared / "reference" / name
        tok = MarianTokenizer.from_pretrained(str(d))
        cases = []
        for line in TOKENIZER_LINES:
            src = tok(line)["input_ids"]
            tgt = tok(text_target=line)["input_ids"]
            cases.append({
                "text": line,
                "source_ids": src,
                "target_ids": tgt,
                "decoded_target": tok.decode(tgt, skip_special_tokens=True),
                "source_pieces": tok.convert_ids_to_tokens(src),
            })
        out["models"][name] = {
            "clean_up_tokenization_spaces": bool(tok.clean_up_tokenization_spaces),
            "cases": cases,
        }
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    shared = Path(args.shared)
    torch.set_num_threads(1)  # no oversubscription while cargo builds beside it

    seeds = []
    for p in sorted((ROOT / "seeds").glob("*.txt")):
        for para in p.read_text(encoding="utf-8").split("\n"):
            para = para.strip()
            if para:
                seeds.extend(s.strip() for s in para.replace("? ", "?\n").replace(". ", ".\n").split("\n") if s.strip())
    sentences = CORPUS + seeds

    work = Path(tempfile.mkdtemp())
    train_spm(sentences, work / "source", 900)
    train_spm(sentences, work / "target", 700)
    src_sp = spm.SentencePieceProcessor(model_file=str(work / "source.model"))
    tgt_sp = spm.SentencePieceProcessor(model_file=str(work / "target.model"))
    vocab = build_vocab(src_sp, tgt_sp)
    tokdir = work / "tok"
    tokdir.mkdir()
    shutil.copy(work / "source.model", tokdir / "source.spm")
    shutil.copy(work / "target.model", tokdir / "target.spm")
    (tokdir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (tokdir / "tokenizer_config.json").write_text(json.dumps({
        "source_lang": "mul", "target_lang": "en", "unk_token": "<unk>", "eos_token": "</s>",
        "pad_token": "<pad>", "model_max_length": 256, "separate_vocabs": False,
        "tokenizer_class": "MarianTokenizer"}) + "\n")
    (tokdir / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}) + "\n")
    tok = MarianTokenizer.from_pretrained(str(tokdir))
    print(f"vocab {len(vocab)}; clean_up_tokenization_spaces={tok.clean_up_tokenization_spaces}")

    torch.manual_seed(args.seed)
    model = MarianMTModel(make_config(len(vocab)))
    train_copy(model, tok, sentences, args.steps, args.seed)
    gen = {"num_beams": 4, "max_length": 64, "bad_words_ids": [[len(vocab) - 1]]}
    model.config.update(gen)  # config-level defaults, as the 2020 opus-mt repos have them
    model.generation_config = transformers.GenerationConfig.from_model_config(model.config)

    FIX.mkdir(parents=True, exist_ok=True)
    for sub in ("tiny-marian", "tiny-marian-zip", "tiny-marian-legacy"):
        shutil.rmtree(FIX / sub, ignore_errors=True)
    write_model_dir(FIX / "tiny-marian", tokdir, model, {}, "safetensors")
    (FIX / "tiny-marian" / "generation_config.json").write_text(json.dumps({
        "bad_words_ids": [[len(vocab) - 1]], "bos_token_id": 0, "decoder_start_token_id": len(vocab) - 1,
        "eos_token_id": 0, "forced_eos_token_id": 0, "max_length": 64, "num_beams": 4,
        "pad_token_id": len(vocab) - 1}, indent=2) + "\n")
    write_model_dir(FIX / "tiny-marian-zip", tokdir, model, gen, "zip")
    write_model_dir(FIX / "tiny-marian-legacy", tokdir, model, gen, "legacy")

    # Golden outputs come from the model re-loaded from disk, so they describe what the files hold.
    reloaded = MarianMTModel.from_pretrained(str(FIX / "tiny-marian"))
    reloaded.eval()
    golden = golden_generate(reloaded, tok, 64)
    golden["transformers"] = transformers.__version__
    golden["torch"] = torch.__version__
    (FIX / "golden").mkdir(exist_ok=True)
    (FIX / "golden" / "marian_generate.json").write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n")
    for c in golden["cases"][:3]:
        print(c["num_beams"], c["sources"], "->", c["texts"])

    if (shared / "reference").is_dir():
        tg = golden_tokenizers(shared)
        (FIX / "golden" / "tokenizer_real.json").write_text(json.dumps(tg, ensure_ascii=False, indent=1) + "\n")
    else:
        print(f"warning: {shared}/reference not found; real-tokenizer goldens not rebuilt", file=sys.stderr)


if __name__ == "__main__":
    main()
