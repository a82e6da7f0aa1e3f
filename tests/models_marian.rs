//! Token-exact parity of our Marian + generator with HF `transformers` `generate()`, on the tiny trained
//! fixture model in all three weight layouts: greedy and beam 4, one sentence at a time and padded batches.
//! Goldens: tests/fixtures/golden/marian_generate.json, written by scripts/build_fixtures.py.
use crate::common;

use candle_core::Device;
use vertolk::pipeline::translate::{MarianTranslator, TranslatorOptions};

const LAYOUTS: [&str; 3] = ["tiny-marian", "tiny-marian-zip", "tiny-marian-legacy"];

fn translator(layout: &str, beams: usize, max_length: Option<usize>) -> MarianTranslator {
    let opts = TranslatorOptions { num_beams: Some(beams), max_length, ..Default::default() };
    MarianTranslator::load(&common::fixtures().join(layout), &Device::Cpu, opts)
        .unwrap_or_else(|e| panic!("{layout}: {e}"))
}

/// HF's `sequences` row without the decoder start token and the batch padding after EOS.
fn hf_generated(row: &serde_json::Value, pad: u32) -> Vec<u32> {
    let mut ids = common::ids(row);
    ids.remove(0);
    while ids.last() == Some(&pad) {
        ids.pop();
    }
    ids
}

fn check_layout(layout: &str) {
    let golden = common::golden("marian_generate.json");
    let cases = golden["cases"].as_array().unwrap();
    let mut checked = 0;
    for beams in [1usize, 4] {
        for max_length in [None, Some(8)] {
            let t = translator(layout, beams, max_length);
            let pad = t.tokenizer().pad_id();
            for case in cases.iter().filter(|c| {
                c["num_beams"].as_u64() == Some(beams as u64) && c["max_length"].as_u64().map(|m| m as usize) == max_length
            }) {
                let sources: Vec<&str> = case["sources"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
                // the tokenizer gives HF's ids (HF pads on the right with <pad>)
                for (s, row) in sources.iter().zip(case["input_ids"].as_array().unwrap()) {
                    let mut want = common::ids(row);
                    while want.last() == Some(&pad) {
                        want.pop();
                    }
                    assert_eq!(t.tokenizer().encode_source(s).unwrap(), want, "{layout}: source ids of {s:?}");
                }
                let out = t.translate(&sources).unwrap();
                for (i, tr) in out.iter().enumerate() {
                    let want = hf_generated(&case["sequences"][i], pad);
                    assert_eq!(tr.tokens, want, "{layout} beams={beams} {} {:?}", case["mode"], sources[i]);
                    assert_eq!(tr.text, case["texts"][i].as_str().unwrap(), "{layout} beams={beams} text");
                    if beams > 1 {
                        let hf = case["sequence_scores"][i].as_f64().unwrap() as f32;
                        assert!((tr.score - hf).abs() < 1e-4, "{layout}: score {} vs HF {hf} for {:?}", tr.score, sources[i]);
                    }
                    checked += 1;
                }
            }
        }
    }
    // 12 sentences × (single + batched) × 2 beam settings + 2 max_length cases
    assert_eq!(checked, 12 * 2 * 2 + 2, "every golden case was compared");
}

#[test]
fn safetensors_layout_matches_transformers() {
    check_layout(LAYOUTS[0]);
}

#[test]
fn zip_pytorch_bin_matches_transformers() {
    check_layout(LAYOUTS[1]);
}

#[test]
fn legacy_pytorch_bin_matches_transformers() {
    check_layout(LAYOUTS[2]);
}

#[test]
fn repeated_calls_do_not_leak_state() {
    // candle-transformers' Marian keeps encoder KV state across calls; ours must not.
    let t = translator(LAYOUTS[0], 4, None);
    let a = t.translate(&["Die Firma", "Cloudflare schützt Webseiten."]).unwrap();
    let b = t.translate(&["Cloudflare schützt Webseiten."]).unwrap();
    let c = t.translate(&["Die Firma"]).unwrap();
    assert_eq!(a[1].tokens, b[0].tokens);
    assert_eq!(a[0].tokens, c[0].tokens);
}

#[test]
fn too_long_segment_is_an_error_not_a_truncation() {
    let t = translator(LAYOUTS[0], 1, None);
    let long = "Die Straße bleibt bis Freitag gesperrt. ".repeat(40);
    let err = t.translate(&[long.as_str()]).unwrap_err().to_string();
    assert!(err.contains("exceeds the model's limit of 256"), "{err}");
}

#[test]
fn generation_defaults_come_from_the_right_file() {
    // the safetensors layout has generation_config.json; the others keep the settings in config.json
    for layout in LAYOUTS {
        let t = MarianTranslator::load(&common::fixtures().join(layout), &Device::Cpu, TranslatorOptions::default()).unwrap();
        let g = t.generation_config();
        assert_eq!((g.num_beams, g.max_length, g.forced_eos_token_id), (4, 64, Some(0)), "{layout}");
        assert_eq!(g.bad_words_ids, vec![vec![t.tokenizer().pad_id()]], "{layout}");
        assert_eq!(g.decoder_start_token_id, t.tokenizer().pad_id(), "{layout}");
    }
}

/// Every golden case without a length limit, greedy and beam 4, through a translator built with
/// `opts(beams)`: (sentences checked, identical to HF's output, with HF's first 8 tokens).
fn agreement_with_hf(opts: impl Fn(usize) -> TranslatorOptions) -> (usize, usize, usize) {
    let golden = common::golden("marian_generate.json");
    let (mut checked, mut same, mut prefix_ok) = (0, 0, 0);
    for beams in [1usize, 4] {
        let t = MarianTranslator::load(&common::fixtures().join(LAYOUTS[0]), &Device::Cpu, opts(beams)).unwrap();
        let pad = t.tokenizer().pad_id();
        for case in golden["cases"].as_array().unwrap().iter().filter(|c| c["num_beams"].as_u64() == Some(beams as u64) && c["max_length"].is_null()) {
            let sources: Vec<&str> = case["sources"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            for (i, tr) in t.translate(&sources).unwrap().iter().enumerate() {
                let want = hf_generated(&case["sequences"][i], pad);
                checked += 1;
                same += usize::from(tr.tokens == want);
                let n = 8.min(want.len());
                prefix_ok += usize::from(tr.tokens.len() >= n && tr.tokens[..n] == want[..n]);
            }
        }
    }
    (checked, same, prefix_ok)
}

/// f16 on the CPU takes the other decoder path (candle's attention ops, tensor KV cache, cross-attention
/// K/V expanded per beam and re-selected when rows drop), the one CUDA/Metal use. f16 rounding flips
/// some late near-ties on this tiny model, so the check is agreement, not identity: a broken row
/// selection or cache would derail nearly every batched or beam-search sentence from its first steps.
#[test]
fn unfused_decoder_path_stays_close_to_transformers() {
    let (checked, same, prefix_ok) = agreement_with_hf(|beams| TranslatorOptions { num_beams: Some(beams), dtype: candle_core::DType::F16, ..Default::default() });
    eprintln!("f16: {same}/{checked} identical, {prefix_ok}/{checked} with HF's first 8 tokens");
    assert!(checked >= 40, "only {checked} sentences checked");
    assert!(same * 4 >= checked * 3, "f16 path kept HF's output for only {same}/{checked} sentences");
    assert!(prefix_ok * 10 >= checked * 9, "f16 path kept HF's first 8 tokens for only {prefix_ok}/{checked} sentences");
}

#[test]
fn quantized_translators_stay_close_to_transformers() {
    // Quantization changes the numbers (no exact parity to claim), but a confident model must keep its
    // choices on nearly every sentence; a broken quantized path (wrong layout, scale or bias) would not.
    use vertolk::models::transformer::Quantize;
    let golden = common::golden("marian_generate.json");
    let cases: Vec<_> = golden["cases"].as_array().unwrap().iter().filter(|c| c["mode"] == "single" && c["num_beams"] == 1 && c["max_length"].is_null()).collect();
    assert_eq!(cases.len(), 12);
    for quantize in [Quantize::Int8, Quantize::Q8_0] {
        let opts = TranslatorOptions { num_beams: Some(1), quantize, ..Default::default() };
        let t = MarianTranslator::load(&common::fixtures().join(LAYOUTS[0]), &Device::Cpu, opts).unwrap();
        let pad = t.tokenizer().pad_id();
        let same = cases
            .iter()
            .filter(|c| t.translate(&[c["sources"][0].as_str().unwrap()]).unwrap()[0].tokens == hf_generated(&c["sequences"][0], pad))
            .count();
        assert!(same >= 10, "{quantize:?} kept HF's greedy output for only {same}/12 sentences");
    }
}

#[test]
fn int8_fast_stays_close_to_transformers() {
    // 7-bit activations (`--quantize int8-fast`) move the numbers further than `int8`: on this tiny
    // fixture, whose choices are close calls, it keeps HF's whole output on 30/48 sentences (greedy 12,
    // beam 4 18; `int8` 22 and 14) and HF's first 8 tokens on 42/48. A broken path (layout, offset
    // correction, scales) loses the first tokens on nearly every sentence.
    use vertolk::models::transformer::Quantize;
    let (checked, same, prefix_ok) = agreement_with_hf(|beams| TranslatorOptions { num_beams: Some(beams), quantize: Quantize::Int8Fast, ..Default::default() });
    eprintln!("int8-fast: {same}/{checked} identical, {prefix_ok}/{checked} with HF's first 8 tokens");
    assert_eq!(checked, 48);
    assert!(same * 2 >= checked, "int8-fast kept HF's output for only {same}/{checked} sentences");
    assert!(prefix_ok * 6 >= checked * 5, "int8-fast kept HF's first 8 tokens for only {prefix_ok}/{checked} sentences");
}
