//! The real OPUS-MT configs from ../shared/reference parse into our Config and GenerationConfig with
//! the values `transformers` would use, and a random-weight model of the real de-en size runs.
use crate::common;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use vertolk::generation::{generate, GenerationConfig};
use vertolk::models::marian::{Activation, Config, MarianMTModel};

fn read(rel: &str) -> String {
    std::fs::read_to_string(common::shared().join("reference").join(rel)).unwrap()
}

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED); .ci/run runs it"]
fn de_en_and_nl_en_configs_parse() {
    for (dir, vocab) in [("opus-mt-configs/de-en", 58101), ("opus-mt-configs/nl-en", 67028)] {
        let text = read(&format!("{dir}/config.json"));
        let cfg: Config = serde_json::from_str(&text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.vocab_size, vocab, "{dir}");
        assert_eq!((cfg.pad_token_id, cfg.decoder_start_token_id), (vocab as u32 - 1, vocab as u32 - 1));
        assert_eq!((cfg.d_model, cfg.encoder_layers, cfg.decoder_layers, cfg.max_position_embeddings), (512, 6, 6, 512));
        assert_eq!(cfg.activation_function, Activation::Swish);
        assert!(cfg.scale_embedding && cfg.share_encoder_decoder_embeddings);
        // 2020 repos: no generation_config.json, generation settings in config.json
        let g = GenerationConfig::from_json(None, &text, cfg.forced_eos_token_id).unwrap();
        assert_eq!((g.num_beams, g.max_length, g.eos_token_ids.clone()), (6, 512, vec![0]));
        assert_eq!(g.forced_eos_token_id, Some(0), "MarianConfig's default forced_eos_token_id");
        assert_eq!(g.bad_words_ids, vec![vec![vocab as u32 - 1]]);
        assert_eq!(g.length_penalty, 1.0);
    }
}

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED); .ci/run runs it"]
fn tc_big_configs_parse() {
    let text = read("opus-mt-tc-big-fr-en/config.json");
    let cfg: Config = serde_json::from_str(&text).unwrap();
    assert_eq!((cfg.d_model, cfg.max_position_embeddings, cfg.eos_token_id), (1024, 1024, 43311));
    assert_eq!(cfg.activation_function, Activation::Relu);
    assert_eq!(cfg.target_vocab_size(), 53017);
    let gen = read("opus-mt-tc-big-fr-en/generation_config.json");
    let g = GenerationConfig::from_json(Some(&gen), &text, cfg.forced_eos_token_id).unwrap();
    assert_eq!((g.num_beams, g.max_length, g.forced_eos_token_id), (4, 512, Some(43311)));
    let text = read("opus-mt-tc-big-en-pt/config.json");
    let cfg: Config = serde_json::from_str(&text).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.eos_token_id, 44670);
}

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED); .ci/run runs it"]
fn random_de_en_sized_model_translates_one_sentence() {
    let text = read("opus-mt-configs/de-en/config.json");
    let cfg: Config = serde_json::from_str(&text).unwrap();
    let vb = VarBuilder::from_tensors(vertolk::bench::random_marian_weights(&cfg, &Device::Cpu).unwrap(), DType::F32, &Device::Cpu);
    let model = MarianMTModel::load(vb, &cfg).unwrap();
    let mut g = GenerationConfig::from_json(None, &text, cfg.forced_eos_token_id).unwrap();
    g.max_new_tokens = Some(6);
    let src: Vec<u32> = vec![120, 5531, 17, 2048, 33, 901, 4, 0];
    for beams in [1, 2] {
        g.num_beams = beams;
        let out = generate(&model, &[src.clone()], &g, model.max_positions()).unwrap();
        let toks = &out[0].tokens;
        assert!(!toks.is_empty() && toks.len() <= 6, "beams={beams}: {toks:?}");
        assert_eq!(*toks.last().unwrap(), 0, "forced EOS ends every output: {toks:?}");
        assert!(!toks.contains(&cfg.pad_token_id), "pad is a bad word: {toks:?}");
        assert!(toks.iter().all(|&t| (t as usize) < cfg.vocab_size));
    }
}
