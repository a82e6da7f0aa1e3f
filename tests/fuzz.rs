//! Property tests (proptest) of everything that reads untrusted bytes: the input decoder and parser,
//! the HTML nesting scan, the sentence splitter and segmenter, the SentencePiece reader and normaliser
//! and the Marian tokenizer, the safetensors / torch / GGUF readers. The property is always "no panic,
//! no unbounded allocation, an error for garbage", plus what each must keep (the words of the input, in
//! order). Case counts are fixed so that the module runs in a few seconds in CI (`VERTOLK_FUZZ_SCALE=100`
//! multiplies them for a long local run), seeds are random (each CI run tries new cases; a failure
//! prints its shrunk input), and failures are not persisted to files.
//!
//! Findings, each fixed and kept here as a test: the legacy torch reader allocated a storage of any size
//! a corrupt count named (up to 64 GB) before reading it; candle's GGUF reader divides by a zero
//! `general.alignment` (a panic); see `legacy_storage_count_is_bounded_by_the_file` and
//! `gguf_with_zero_alignment_is_an_error`.
use crate::common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use vertolk::pipeline::input::{decode, html_nesting, parse_document, Format};
use vertolk::pipeline::segment::{Segmenter, SentenceSplitter};

/// `cases` × `VERTOLK_FUZZ_SCALE` (default 5: 6.5 s on 2 shared cores; 200: 274 s, no finding).
fn config(cases: u32) -> Config {
    let scale: u32 = std::env::var("VERTOLK_FUZZ_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    Config { cases: cases.saturating_mul(scale.max(1)), failure_persistence: None, ..Config::default() }
}

/// Run `test` on `cases` values of `strategy`; a failing case is reported shrunk.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

/// Strings from a small alphabet that hits the interesting paths (terminators, quotes, abbreviations,
/// digits, umlauts, odd whitespace, HTML) far more often than uniform Unicode does.
fn text_from(alphabet: &'static [&'static str], len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 0..len).prop_map(|v| v.concat())
}

const PROSE: &[&str] = &[
    "a", "Z", "ß", "Ü", "é", "3", "12", ".", ". ", "! ", "? ", "…", "...", " ", "  ", "\n", "\n\n", "\t", "\u{a0}", "\u{2028}", "\"", "„",
    "“", "»", "«", "(", ")", "z. B. ", "Dr. ", "U.S. ", "am 3. ", "Oktober", "1.000", "'s ", "–", "-", ",", ";", ":", "Der ", "die ",
    "http://x.de/a.b ", "\r\n", "\u{0}", "\u{1f}", "😀", "\u{301}",
];
const HTML: &[&str] = &[
    "<div>", "</div>", "<p>", "</p>", "<br>", "<br/>", "<img src=x>", "<script>", "</script>", "<style>", "</ STYLE>", "<!--", "-->",
    "<!doctype html>", "<html>", "<body>", "<article>", "</article>", "<h1>", "</h1>", "<a href=\"x>y\">", "</a>", "<", ">", "&amp;",
    "&#x0;", "Text über Köln. ", "Ein Satz. ", "<title>", "</title>", "<table><tr><td>", "<ul><li>", "=\"", "'", "\u{0}", "<?xml?>",
];

// input ---------------------------------------------------------------------------------------------

#[test]
fn fuzz_decode_and_parse_any_bytes() {
    check(400, prop::collection::vec(any::<u8>(), 0..600), |bytes| {
        if let Ok((text, enc)) = decode("x", &bytes) {
            prop_assert!(!text.trim().is_empty());
            for f in [Format::Text, Format::Markdown] {
                let _ = parse_document("x", &text, f, enc.clone());
            }
        }
        Ok(())
    });
    // UTF-8 with a stray byte anywhere (even inside a character): decoded as UTF-8, so the umlauts the
    // byte did not hit are kept, or refused; never garbled whole as windows-1252
    check(400, (text_from(PROSE, 60), any::<u8>(), any::<prop::sample::Index>()), |(t, b, at)| {
        let mut bytes = format!("Köln, Zürich und Düsseldorf {t}").into_bytes();
        bytes.insert(at.index(bytes.len() + 1), b | 0x80);
        if let Ok((text, _)) = decode("x", &bytes) {
            let kept = ["Köln", "Zürich", "Düsseldorf"].iter().filter(|w| text.contains(*w)).count();
            prop_assert!(kept >= 2, "{text:?}");
        }
        Ok(())
    });
}

#[test]
fn fuzz_text_and_markdown_blocks() {
    check(400, text_from(PROSE, 200), |t| {
        for f in [Format::Text, Format::Markdown] {
            if let Ok(d) = parse_document("x", &t, f, "UTF-8".into()) {
                prop_assert!(!d.blocks.is_empty());
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_html_nesting_scan_and_readability() {
    check(600, text_from(HTML, 120), |h| {
        let (depth, work) = html_nesting(&h);
        prop_assert!(depth <= h.len() && work <= (h.len() as u64).pow(2));
        Ok(())
    });
    // the whole HTML path (scan, then readability) on small pages: errors allowed, panics not
    check(120, text_from(HTML, 60), |h| {
        let _ = parse_document("x.html", &format!("<html><body>{h}</body></html>"), Format::Html, "UTF-8".into());
        Ok(())
    });
    check(200, any::<String>(), |h| {
        let _ = html_nesting(&h);
        Ok(())
    });
}

// segmentation -----------------------------------------------------------------------------------------

#[test]
fn fuzz_sentence_splitter_keeps_every_word_in_order() {
    let splitters: Vec<SentenceSplitter> = ["de", "nl", "en", "any"].iter().map(|l| SentenceSplitter::new(l)).collect();
    let words_kept = |t: &str| -> Result<(), TestCaseError> {
        for sp in &splitters {
            let out = sp.split(t);
            prop_assert!(out.iter().all(|s| !s.is_empty() && s.trim() == *s));
            let want: Vec<&str> = t.split_whitespace().collect();
            let got: Vec<&str> = out.iter().flat_map(|s| s.split_whitespace()).collect();
            prop_assert_eq!(got, want);
        }
        Ok(())
    };
    check(800, text_from(PROSE, 120), |t| words_kept(&t));
    check(300, any::<String>(), |t| words_kept(&t));
}

#[test]
fn fuzz_segmenter_covers_the_paragraph_within_budget() {
    // a tokenizer stand-in: 4 characters a token, plus </s>
    let count = |s: &str| s.chars().count() / 4 + 1;
    check(400, (text_from(PROSE, 160), 8usize..40, any::<bool>()), |(t, budget, pack)| {
        let seg = Segmenter::new("de", budget, pack);
        let segs = seg.segment(&t, &count);
        let want: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        let got: String = segs.iter().flat_map(|s| s.text.chars()).filter(|c| !c.is_whitespace()).collect();
        prop_assert_eq!(got, want);
        for s in &segs {
            prop_assert!(count(&s.text) <= budget.max(8), "segment of {} tokens over {budget}: {:?}", count(&s.text), s.text);
        }
        Ok(())
    });
}

// tokenizer ----------------------------------------------------------------------------------------------

#[test]
fn fuzz_spm_reader_and_normalizer() {
    use vertolk::tokenizer::spm::{Normalizer, NormalizerSpec, SpmModel};
    let real = std::fs::read(common::fixtures().join("tiny-marian/source.spm")).unwrap();
    let model = SpmModel::from_bytes(&real).unwrap();
    let normalizer = Normalizer::new(&model.normalizer, model.treat_whitespace_as_suffix).unwrap();
    check(600, prop_oneof![text_from(PROSE, 80), any::<String>()], |t| {
        let n = normalizer.normalize(&t);
        prop_assert!(!n.ends_with('\u{2581}'), "{n:?}");
        Ok(())
    });
    // garbage and damaged model files: an error or a model, never a panic
    check(200, prop::collection::vec(any::<u8>(), 0..300), |b| {
        let _ = SpmModel::from_bytes(&b);
        Ok(())
    });
    check(150, (prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), any::<prop::sample::Index>()), |(flips, cut)| {
        let mut b = real.clone();
        for (at, v) in flips {
            let i = at.index(b.len());
            b[i] = v;
        }
        b.truncate(cut.index(b.len()) + 1);
        if let Ok(m) = SpmModel::from_bytes(&b) {
            if let Ok(n) = Normalizer::new(&m.normalizer, m.treat_whitespace_as_suffix) {
                let _ = n.normalize("Größere Brücken über die Maas – „schön“  ");
            }
        }
        Ok(())
    });
    // a random precompiled charsmap (the double-array trie) with random text
    check(300, (prop::collection::vec(any::<u8>(), 0..200), text_from(PROSE, 30)), |(cm, t)| {
        let spec = NormalizerSpec { precompiled_charsmap: cm, ..NormalizerSpec::default() };
        if let Ok(n) = Normalizer::new(&spec, false) {
            let _ = n.normalize(&t);
        }
        Ok(())
    });
}

#[test]
fn fuzz_marian_tokenizer_round_trip() {
    let tok = vertolk::tokenizer::MarianTokenizer::from_dir(&common::fixtures().join("tiny-marian")).unwrap();
    check(300, prop_oneof![text_from(PROSE, 60), any::<String>(), text_from(&["</s>", "<pad>", "<unk>", ">>de<<", "a", " "], 20)], |t| {
        let ids = tok.encode_source(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ids.last().copied(), Some(tok.eos_id()));
        let _ = tok.decode(&ids, true);
        Ok(())
    });
}

// weights --------------------------------------------------------------------------------------------------

/// Write `bytes` as `name` in a fresh folder.
fn file_with(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (d, p)
}

#[test]
fn fuzz_safetensors_and_torch_readers() {
    use candle_core::{DType, Device};
    use vertolk::hub::verify::{safetensors_layout, verify_file};
    use vertolk::hub::weights::{detect_format, load_tensors};
    let real = std::fs::read(common::fixtures().join("tiny-marian/model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(real[..8].try_into().unwrap()) as usize;
    // cut anywhere: verify fails unless whole, loading fails or loads, nothing panics
    check(48, any::<prop::sample::Index>(), |cut| {
        let len = cut.index(real.len());
        let (_d, p) = file_with("model.safetensors", &real[..len]);
        let c = verify_file(&p, "model.safetensors");
        prop_assert!(!c.ok, "a file cut at {len} of {} passed: {}", real.len(), c.detail);
        prop_assert!(load_tensors(&p, DType::F32, &Device::Cpu).is_err());
        Ok(())
    });
    // damaged headers: the layout check and the loader agree on refusing what does not add up
    check(64, prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), |flips| {
        let mut b = real.clone();
        for (at, v) in flips {
            let i = 8 + at.index(header_len);
            b[i] = v;
        }
        let (_d, p) = file_with("model.safetensors", &b);
        let c = verify_file(&p, "model.safetensors");
        let _ = detect_format(&p);
        let loaded = load_tensors(&p, DType::F32, &Device::Cpu);
        if c.ok {
            prop_assert!(loaded.is_ok(), "verify ok but loading failed: {:?}", loaded.err());
        }
        Ok(())
    });
    check(300, (prop::collection::vec(any::<u8>(), 0..200), any::<u64>()), |(h, len)| {
        let _ = safetensors_layout(&h, len);
        Ok(())
    });
    // any bytes under any weight name
    check(64, (prop::sample::select(&["model.safetensors", "pytorch_model.bin"][..]), prop::collection::vec(any::<u8>(), 0..400)), |(name, b)| {
        let (_d, p) = file_with(name, &b);
        let _ = verify_file(&p, name);
        prop_assert!(load_tensors(&p, DType::F32, &Device::Cpu).is_err() || b.len() > 8);
        Ok(())
    });
    // legacy torch and zip magic followed by garbage (a pickle the loader must not trust)
    const LEGACY: [u8; 15] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
    check(150, (any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)), |(legacy, tail)| {
        let mut b = if legacy { LEGACY.to_vec() } else { b"PK\x03\x04".to_vec() };
        b.extend_from_slice(&tail);
        let (_d, p) = file_with("pytorch_model.bin", &b);
        prop_assert!(load_tensors(&p, DType::F32, &Device::Cpu).is_err());
        Ok(())
    });
}

/// Finding: a legacy checkpoint's storage count (a u64 from the file) sized an allocation up to 64 GB
/// before the read could fail. Now a storage larger than the rest of the file is refused first.
#[test]
fn legacy_storage_count_is_bounded_by_the_file() {
    use candle_core::{DType, Device};
    let mut b = vec![0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
    // protocol 1001, sys info {}, state dict {}, storage keys ["0"], then a storage "of" 2^33 elements
    b.extend_from_slice(b"\x80\x02M\xe9\x03.\x80\x02}q\x00.\x80\x02}q\x00.\x80\x02]q\x00X\x01\x00\x00\x000q\x01a.");
    b.extend_from_slice(&(1u64 << 33).to_le_bytes());
    b.extend_from_slice(&[0u8; 64]);
    let (_d, p) = file_with("pytorch_model.bin", &b);
    let e = vertolk::hub::weights::load_tensors(&p, DType::F32, &Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("larger than the rest of the file"), "{e}");
}

// GGUF ---------------------------------------------------------------------------------------------------

/// A small valid GGUF: llama metadata (no tokenizer) and one f32 tensor.
fn tiny_gguf(alignment: Option<u32>) -> Vec<u8> {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    let t = candle_core::Tensor::arange(0f32, 64f32, &candle_core::Device::Cpu).unwrap().reshape((2, 32)).unwrap();
    let q = QTensor::quantize(&t, GgmlDType::F32).unwrap();
    let arch = gguf_file::Value::String("llama".into());
    let ctx = gguf_file::Value::U32(128);
    let mut meta: Vec<(&str, &gguf_file::Value)> = vec![("general.architecture", &arch), ("llama.context_length", &ctx)];
    let align = alignment.map(gguf_file::Value::U32);
    if let Some(a) = &align {
        meta.push(("general.alignment", a));
    }
    let mut c = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut c, &meta, &[("token_embd.weight", &q)]).unwrap();
    c.into_inner()
}

#[test]
fn fuzz_gguf_reader() {
    use vertolk::models::llm::{gguf_layout, read_gguf, GgufLlm};
    let real = tiny_gguf(None);
    let content = read_gguf(&mut std::io::Cursor::new(&real)).unwrap();
    assert_eq!(gguf_layout(&content, real.len() as u64), Ok(1));
    let cpu = candle_core::Device::Cpu;
    // truncated anywhere: the header reader or the layout check refuses it; loading is an error
    check(64, any::<prop::sample::Index>(), |cut| {
        let b = &real[..cut.index(real.len())];
        if let Ok(c) = read_gguf(&mut std::io::Cursor::new(b)) {
            prop_assert!(gguf_layout(&c, b.len() as u64).is_err(), "a GGUF cut at {} of {} passed", b.len(), real.len());
        }
        let (_d, p) = file_with("m.gguf", b);
        prop_assert!(GgufLlm::load(&p, &cpu).is_err());
        Ok(())
    });
    // flipped bytes anywhere, and garbage behind the magic
    check(200, prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), |flips| {
        let mut b = real.clone();
        for (at, v) in flips {
            let i = at.index(b.len());
            b[i] = v;
        }
        if let Ok(c) = read_gguf(&mut std::io::Cursor::new(&b)) {
            let _ = gguf_layout(&c, b.len() as u64);
        }
        let (_d, p) = file_with("m.gguf", &b);
        prop_assert!(GgufLlm::load(&p, &cpu).is_err(), "no tokenizer: loading cannot succeed");
        Ok(())
    });
    check(100, prop::collection::vec(any::<u8>(), 0..200), |tail| {
        let mut b = b"GGUF\x03\x00\x00\x00".to_vec();
        b.extend_from_slice(&tail);
        let _ = read_gguf(&mut std::io::Cursor::new(&b));
        Ok(())
    });
}

/// Finding: candle's GGUF reader divides by `general.alignment`; 0 panicked (the process down, not an
/// error for the file). The reader is called through `read_gguf`, which makes that an error.
#[test]
fn gguf_with_zero_alignment_is_an_error() {
    let b = tiny_gguf(Some(0));
    assert!(vertolk::models::llm::read_gguf(&mut std::io::Cursor::new(&b)).is_err());
    let (_d, p) = file_with("m.gguf", &b);
    let e = vertolk::models::llm::GgufLlm::load(&p, &candle_core::Device::Cpu).err().expect("an error").to_string();
    assert!(e.contains("corrupt"), "{e}");
}
