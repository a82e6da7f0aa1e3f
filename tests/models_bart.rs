//! Token-exact parity of our BART + generator with HF `transformers` `generate()` on the tiny trained
//! fixture (tests/fixtures/tiny-bart, built by scripts/build_bart_fixture.py): the config's own settings
//! (beam 4, no_repeat_ngram_size 3, min_length, length_penalty 2.0, early stopping, forced BOS/EOS), greedy,
//! one text at a time and padded batches; and the tokenizer from vocab.json + merges.txt and from
//! tokenizer.json against `BartTokenizer`.
use crate::common;

use candle_core::Device;
use vertolk::pipeline::summarize::{BartOptions, BartSummarizer};
use vertolk::pipeline::summarize::{Article, Summarizer, SummaryMethod};
use vertolk::tokenizer::BartTokenizer;

fn load(opts: BartOptions) -> BartSummarizer {
    BartSummarizer::load(&common::fixtures().join("tiny-bart"), &Device::Cpu, opts).unwrap_or_else(|e| panic!("tiny-bart: {e}"))
}

/// The fixture with `forced_bos_token_id` changed in its config.json (in a temporary copy).
fn load_with_forced_bos(bos: u64, opts: BartOptions) -> (tempfile::TempDir, BartSummarizer) {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::fixtures().join("tiny-bart")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let p = dir.path().join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    cfg["forced_bos_token_id"] = bos.into();
    std::fs::write(&p, cfg.to_string()).unwrap();
    let s = BartSummarizer::load(dir.path(), &Device::Cpu, opts).unwrap();
    (dir, s)
}

fn opt_usize(v: &serde_json::Value, key: &str) -> Option<usize> {
    v.get(key).and_then(|x| x.as_u64()).map(|x| x as usize)
}

#[test]
fn generate_matches_transformers() {
    let golden = common::golden("bart_generate.json");
    let cases = golden["cases"].as_array().unwrap();
    let mut compared = 0;
    for case in cases {
        let o = &case["overrides"];
        let opts = BartOptions {
            num_beams: opt_usize(o, "num_beams"),
            max_length: opt_usize(o, "max_length"),
            min_length: opt_usize(o, "min_length"),
            no_repeat_ngram_size: opt_usize(o, "no_repeat_ngram_size"),
            max_batch: 0,
        };
        let (_tmp, s) = match o.get("forced_bos_token_id").and_then(|b| b.as_u64()) {
            Some(bos) => {
                let (t, s) = load_with_forced_bos(bos, opts);
                (Some(t), s)
            }
            None => (None, load(opts)),
        };
        let pad = s.tokenizer().pad_id();
        let inputs: Vec<&str> = case["inputs"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        for (text, row) in inputs.iter().zip(case["input_ids"].as_array().unwrap()) {
            let mut want = common::ids(row);
            while want.last() == Some(&pad) {
                want.pop();
            }
            assert_eq!(s.tokenizer().encode(text).unwrap(), want, "input ids of {text:?}");
        }
        let out = s.summarize_texts(&inputs).unwrap();
        let beams = s.generation_config().num_beams;
        for (i, g) in out.iter().enumerate() {
            let mut want = common::ids(&case["sequences"][i]);
            assert_eq!(want[0], s.generation_config().decoder_start_token_id);
            want.remove(0);
            while want.last() == Some(&pad) {
                want.pop();
            }
            assert_eq!(g.tokens, want, "{} beams={beams} overrides={o} {:?}", case["mode"], inputs[i]);
            assert_eq!(Some(g.tokens[0]), s.generation_config().forced_bos_token_id, "forced first token");
            assert_eq!(g.text, case["texts"][i].as_str().unwrap().trim(), "text of {:?}", inputs[i]);
            if beams > 1 {
                let hf = case["sequence_scores"][i].as_f64().unwrap() as f32;
                assert!((g.score - hf).abs() < 1e-4, "score {} vs HF {hf} for {:?}", g.score, inputs[i]);
            }
            compared += 1;
        }
    }
    // 10 texts × (single + batched) × (beam 4, greedy) + 5 without n-gram/min-length + 5 × 2 with another
    // forced first token + 1 short max_length
    assert_eq!(compared, 10 * 2 * 2 + 5 + 10 + 1, "every golden case was compared");
}

#[test]
fn no_repeat_ngram_and_min_length_change_the_output() {
    // the goldens hold the same inputs with and without the processors; they must differ somewhere,
    // or the parity above would not show that we apply them
    let golden = common::golden("bart_generate.json");
    let cases = golden["cases"].as_array().unwrap();
    let with = cases.iter().find(|c| c["mode"] == "batch" && c["overrides"].as_object().map(|o| o.is_empty()).unwrap_or(false)).unwrap();
    let without = cases.iter().find(|c| c["overrides"].get("no_repeat_ngram_size").is_some()).unwrap();
    assert_eq!(with["inputs"], without["inputs"]);
    // row 4 repeats a phrase: copying it whole needs a repeated 3-gram
    let row = |c: &serde_json::Value| {
        let mut ids = common::ids(&c["sequences"][4]);
        while ids.last() == Some(&1) {
            ids.pop(); // batch padding
        }
        ids
    };
    assert!(with["inputs"][4].as_str().unwrap().contains("cancelled today, the train"));
    assert_ne!(row(with), row(without), "n-gram blocking did not change the repeated-phrase output");
    let trigrams = |ids: &[u32]| {
        let mut seen = std::collections::HashSet::new();
        ids.windows(3).all(|w| seen.insert(w.to_vec()))
    };
    assert!(trigrams(&row(with)), "an output under no_repeat_ngram_size 3 repeats a 3-gram");
}

#[test]
fn tokenizer_matches_bart_tokenizer_from_both_file_layouts() {
    let golden = common::golden("bart_generate.json");
    let from_merges = BartTokenizer::from_dir(&common::fixtures().join("tiny-bart")).unwrap();
    // tokenizer.json layout: the fixture's tokenizer.json alone in a folder
    let from_json = BartTokenizer::from_dir(&common::fixtures().join("tiny-bart-tokenizer-json")).unwrap();
    let mut n = 0;
    for case in golden["tokenizer"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want = common::ids(&case["ids"]);
        for (name, t) in [("vocab+merges", &from_merges), ("tokenizer.json", &from_json)] {
            assert_eq!(t.encode(text).unwrap(), want, "{name}: ids of {text:?}");
            assert_eq!(t.decode(&want, true).unwrap(), case["decoded"].as_str().unwrap(), "{name}: decode of {text:?}");
        }
        n += 1;
    }
    assert!(n >= 12);
}

#[test]
fn long_article_is_summarized_map_reduce_not_truncated() {
    // the fixture reads 128 positions; an article of ~600 tokens must go through several chunks
    let mut s = load(BartOptions::default());
    let para = "The road remains closed until Friday. Experts warn of rising prices in the winter. \
                About 3,000 people protested against the plans in Berlin. The company is headquartered in San Francisco.";
    let text = (0..12).map(|i| format!("{para} Item {i}.")).collect::<Vec<_>>().join("\n\n");
    assert!(s.tokenizer().count(&text).unwrap() > 4 * s.max_input_tokens());
    let article = Article { title: None, date: None, language: "en".into(), text };
    let sum = s.summarize(&article, 200).unwrap();
    assert_eq!(sum.method, SummaryMethod::Seq2SeqMapReduce);
    assert!(sum.chunks >= 5, "{} chunks", sum.chunks);
    assert!(!sum.text.is_empty());
    assert!(sum.prompt_tokens > 4 * s.max_input_tokens(), "every chunk was read: {} tokens", sum.prompt_tokens);
    // a text over the limit given straight to summarize_texts is an error, not a truncation
    let long = article.text.as_str();
    let err = s.summarize_texts(&[long]).unwrap_err().to_string();
    assert!(err.contains("exceeds the model's limit of 128"), "{err}");
}

#[test]
fn short_article_takes_one_pass_and_max_words_tightens_the_length() {
    let mut s = load(BartOptions::default());
    let article = Article { title: None, date: None, language: "en".into(), text: "Inflation was 4.5 percent in October. The road remains closed until Friday.".into() };
    let sum = s.summarize(&article, 100).unwrap();
    assert_eq!((sum.method, sum.chunks), (SummaryMethod::Seq2Seq, 1));
    let tight = s.summarize(&article, 4).unwrap();
    assert!(tight.generated_tokens <= 8, "{} tokens for max_words 4", tight.generated_tokens);
}

#[test]
fn bad_configs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::fixtures().join("tiny-bart")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let cfg_path = dir.path().join("config.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, cfg.replace("\"model_type\": \"bart\"", "\"model_type\": \"mbart\"")).unwrap();
    let err = BartSummarizer::load(dir.path(), &Device::Cpu, BartOptions::default()).err().expect("mbart must be refused").to_string();
    assert!(err.contains("not 'bart'"), "{err}");
    std::fs::write(&cfg_path, cfg).unwrap();
    std::fs::remove_file(dir.path().join("merges.txt")).unwrap();
    let err = BartSummarizer::load(dir.path(), &Device::Cpu, BartOptions::default()).err().expect("missing merges").to_string();
    assert!(err.contains("merges.txt"), "{err}");
}
