//! `vertolk bench`: throughput and peak memory, printed as Markdown rows. Speed is measured here, never
//! in timed tests.
use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::Result;
use crate::generation::{generate, GenerationConfig};
use crate::models::marian::{Config, MarianMTModel};

/// Peak resident memory of this process in MB (Linux `VmHWM`), if known.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Random weights for every tensor of a Marian checkpoint of `cfg`'s shape (tied embeddings once).
pub fn random_marian_weights(cfg: &Config, device: &Device) -> Result<HashMap<String, Tensor>> {
    let d = cfg.d_model;
    let mut t = HashMap::new();
    let mut put = |name: String, shape: Vec<usize>, kind: u8| -> Result<()> {
        let x = match kind {
            0 => Tensor::randn(0f32, 0.05, shape, device)?,
            1 => Tensor::ones(shape, DType::F32, device)?,
            _ => Tensor::zeros(shape, DType::F32, device)?,
        };
        t.insert(name, x);
        Ok(())
    };
    put("model.shared.weight".into(), vec![cfg.vocab_size, d], 0)?;
    put("final_logits_bias".into(), vec![1, cfg.target_vocab_size()], 2)?;
    for (side, n, ffn) in [("encoder", cfg.encoder_layers, cfg.encoder_ffn_dim), ("decoder", cfg.decoder_layers, cfg.decoder_ffn_dim)] {
        for i in 0..n {
            let p = format!("model.{side}.layers.{i}");
            let mut attn = vec!["self_attn"];
            let mut norms = vec!["self_attn_layer_norm", "final_layer_norm"];
            if side == "decoder" {
                attn.push("encoder_attn");
                norms.push("encoder_attn_layer_norm");
            }
            for a in attn {
                for m in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    put(format!("{p}.{a}.{m}.weight"), vec![d, d], 0)?;
                    put(format!("{p}.{a}.{m}.bias"), vec![d], 2)?;
                }
            }
            for l in norms {
                put(format!("{p}.{l}.weight"), vec![d], 1)?;
                put(format!("{p}.{l}.bias"), vec![d], 2)?;
            }
            put(format!("{p}.fc1.weight"), vec![ffn, d], 0)?;
            put(format!("{p}.fc1.bias"), vec![ffn], 2)?;
            put(format!("{p}.fc2.weight"), vec![d, ffn], 0)?;
            put(format!("{p}.fc2.bias"), vec![d], 2)?;
        }
    }
    Ok(t)
}

/// Encode a batch of `batch × src_len` tokens and decode exactly `steps` steps (EOS banned until then),
/// on a model of `cfg`'s shape with random weights: the cost per step of the real architecture.
pub fn bench_marian(cfg: &Config, config_json: &str, batch: usize, src_len: usize, steps: usize, beams: usize, repeat: usize, device: &Device) -> Result<String> {
    let model = MarianMTModel::load(VarBuilder::from_tensors(random_marian_weights(cfg, device)?, DType::F32, device), cfg)?;
    let mut g = GenerationConfig::from_json(None, config_json, cfg.forced_eos_token_id).map_err(crate::Error::Usage)?;
    g.num_beams = beams.max(1);
    g.max_new_tokens = Some(steps);
    g.min_length = steps + 1; // no EOS before the last step: every run decodes `steps` tokens
    let vocab = cfg.vocab_size as u32 - 1;
    let sources: Vec<Vec<u32>> = (0..batch)
        .map(|b| (0..src_len).map(|i| if i + 1 == src_len { cfg.eos_token_id } else { 1 + ((b * 7919 + i * 104729) as u32 % (vocab - 1)) }).collect())
        .collect();
    // warm-up, then timed runs
    generate(&model, &sources, &g, model.max_positions())?;
    let mut best = f64::INFINITY;
    let mut generated = 0;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let out = generate(&model, &sources, &g, model.max_positions())?;
        best = best.min(t.elapsed().as_secs_f64());
        generated = out.iter().map(|h| h.tokens.len()).sum::<usize>();
    }
    Ok(format!(
        "| marian {}x{} d{} (random weights) | batch {batch} × {src_len} src tokens, {steps} steps, beams {beams} | {best:.3} s | {:.0} generated tok/s | {:.1} sentences/s | {} |",
        cfg.encoder_layers,
        cfg.decoder_layers,
        cfg.d_model,
        generated as f64 / best,
        batch as f64 / best,
        peak_rss_mb().map(|m| format!("{m:.0} MB peak RSS")).unwrap_or_else(|| "peak RSS n/a".into())
    ))
}
