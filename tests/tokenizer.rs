//! Our MarianTokenizer against HF `MarianTokenizer` on the real OPUS-MT tokenizers in
//! `../shared/reference` (German, Dutch, French, quotes, umlauts/ß, full-width letters, NBSP, zero-width
//! space, soft hyphen, emoji, tabs, repeated spaces, literal special tokens). Goldens:
//! tests/fixtures/golden/tokenizer_real.json. The spm files stay in ../shared.
use crate::common;

use vertolk::tokenizer::MarianTokenizer;

fn check(model: &str) {
    let golden = common::golden("tokenizer_real.json");
    let m = &golden["models"][model];
    let dir = common::shared().join("reference").join(model);
    let tok = MarianTokenizer::from_dir(&dir).unwrap_or_else(|e| panic!("{model}: {e}"));
    let cases = m["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.encode_source(text).unwrap(), common::ids(&c["source_ids"]), "{model} source ids of {text:?}");
        assert_eq!(tok.encode_target(text).unwrap(), common::ids(&c["target_ids"]), "{model} target ids of {text:?}");
        let tgt = common::ids(&c["target_ids"]);
        assert_eq!(tok.decode(&tgt, true), c["decoded_target"].as_str().unwrap(), "{model} decode of {text:?}");
    }
}

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED); .ci/run runs it"]
fn tc_big_fr_en_ids_match_transformers() {
    check("opus-mt-tc-big-fr-en");
}

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED); .ci/run runs it"]
fn tc_big_en_pt_ids_match_transformers() {
    check("opus-mt-tc-big-en-pt");
}

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED); .ci/run runs it"]
fn eos_id_comes_from_the_vocab() {
    let tok = MarianTokenizer::from_dir(&common::shared().join("reference/opus-mt-tc-big-fr-en")).unwrap();
    assert_eq!((tok.eos_id(), tok.pad_id()), (43311, 53016));
    let tok = MarianTokenizer::from_dir(&common::shared().join("reference/opus-mt-tc-big-en-pt")).unwrap();
    assert_eq!((tok.eos_id(), tok.pad_id()), (44670, 54775));
}

#[test]
fn fixture_decode_round_trips_through_target_ids() {
    let tok = MarianTokenizer::from_dir(&common::fixtures().join("tiny-marian")).unwrap();
    for s in ["Die Straße bleibt bis Freitag gesperrt.", "Het bedrijf beschermt websites tegen hackers."] {
        let ids = tok.encode_target(s).unwrap();
        assert_eq!(*ids.last().unwrap(), tok.eos_id());
        assert_eq!(tok.decode(&ids, true), s);
    }
    // empty and whitespace-only input: just </s>
    assert_eq!(tok.encode_source("").unwrap(), vec![tok.eos_id()]);
    assert_eq!(tok.encode_source("  \t ").unwrap(), vec![tok.eos_id()]);
}
