//! Sentence embeddings from a sentence-transformers BERT model (`all-MiniLM-L6-v2`): candle-transformers'
//! BERT encoder over the repo's `config.json` and `model.safetensors`, the repo's `tokenizer.json`, mean
//! pooling over the real tokens, then L2 normalisation — the modules (Transformer, Pooling(mean),
//! Normalize) that `SentenceTransformer.encode` runs for this model, checked against it in
//! `tests/models_embedder.rs`. Inputs are cut at the model's `max_seq_length` (256 word pieces for
//! all-MiniLM-L6-v2), as sentence-transformers cuts them.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use crate::error::{Error, Result};

pub struct SentenceEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    pub dir: PathBuf,
    /// Width of each embedding.
    pub dim: usize,
}

impl SentenceEmbedder {
    /// Load from a sentence-transformers model folder (`config.json`, `tokenizer.json`,
    /// `model.safetensors`, optionally `sentence_bert_config.json` for `max_seq_length`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| Error::io(dir.join(name), e));
        let config: Config = serde_json::from_str(&read("config.json")?)
            .map_err(|e| Error::InvalidConfig { what: "BERT config", path: dir.join("config.json"), reason: e.to_string() })?;
        let max_seq: usize = read("sentence_bert_config.json")
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
            .map(|m| m as usize)
            .unwrap_or(256);
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| Error::Tokenizer(format!("{}: {e}", tok_path.display())))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_seq, ..Default::default() }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams { pad_id: config.pad_token_id as u32, ..Default::default() }));
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(Error::ModelUnavailable(format!("embedding model folder {} has no model.safetensors", dir.display())));
        }
        // SAFETY: the file is memory-mapped read-only; candle checks its header and tensor bounds.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device)? };
        let model = BertModel::load(vb, &config).map_err(|e| Error::InvalidModelFile { path: weights.clone(), reason: e.to_string() })?;
        Ok(Self { model, tokenizer, device: device.clone(), dir: dir.to_path_buf(), dim: config.hidden_size })
    }

    /// Unit-length embeddings of `texts`, in order (batches of 32).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(32) {
            let enc = self.tokenizer.encode_batch(batch.to_vec(), true).map_err(|e| Error::Tokenizer(e.to_string()))?;
            let rows = enc.len();
            let len = enc.iter().map(|e| e.len()).max().unwrap_or(0);
            if len == 0 {
                out.extend(std::iter::repeat_n(vec![0.0; self.dim], rows));
                continue;
            }
            let flat = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> Vec<u32> { enc.iter().flat_map(f).collect() };
            let ids = Tensor::from_vec(flat(&|e| e.get_ids().to_vec()), (rows, len), &self.device)?;
            let types = Tensor::from_vec(flat(&|e| e.get_type_ids().to_vec()), (rows, len), &self.device)?;
            let mask = Tensor::from_vec(flat(&|e| e.get_attention_mask().to_vec()), (rows, len), &self.device)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // mean over the real tokens, then unit length
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            let unit = mean.broadcast_div(&norm)?;
            out.extend(unit.to_vec2::<f32>()?);
        }
        Ok(out)
    }
}
