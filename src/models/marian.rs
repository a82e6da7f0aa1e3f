//! MarianMT (the OPUS-MT translators), in the shape of candle-transformers' model files, but complete:
//! padding masks, a decoder state with self-attention KV cache and cross-attention K/V computed once per
//! batch, beam reordering, any float dtype, and the config read from the hub's own `config.json`.
//!
//! Reference: `transformers/models/marian/modeling_marian.py` (post-LayerNorm transformer, static
//! sinusoidal positions with the cosine half second, `embed_scale = sqrt(d_model)`, `final_logits_bias`).
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

pub use super::transformer::{padding_bias, Activation, DecoderState};
use super::transformer::{
    check_heads, check_position_count, check_positions, check_token_ids, final_logits_bias, output_weight, shared_embedding, DecoderStack, EncoderStack, Proj, Quantize,
    StackDims,
};

fn default_true() -> bool {
    true
}
fn default_forced_eos() -> Option<u32> {
    // MarianConfig's own default (`forced_eos_token_id=0`) when config.json does not name it
    Some(0)
}
fn default_activation() -> Activation {
    Activation::Gelu
}

/// The fields of a Marian `config.json` that the network needs. Generation settings live in
/// [`crate::generation::GenerationConfig`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    #[serde(default = "default_activation")]
    pub activation_function: Activation,
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub scale_embedding: bool,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    pub decoder_start_token_id: u32,
    #[serde(default = "default_forced_eos")]
    pub forced_eos_token_id: Option<u32>,
    #[serde(default = "default_true")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub model_type: Option<String>,
}

impl Config {
    pub fn target_vocab_size(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    /// Reject configs the network cannot run, with a reason (instead of a shape error deep inside).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(t) = &self.model_type {
            if t != "marian" {
                return Err(format!("model_type is '{t}', not 'marian'"));
            }
        }
        check_heads(self.d_model, self.encoder_attention_heads, self.decoder_attention_heads)?;
        if self.pad_token_id as usize >= self.vocab_size.max(self.target_vocab_size()) {
            return Err(format!("pad_token_id {} outside the vocabulary", self.pad_token_id));
        }
        check_position_count(self.max_position_embeddings)?;
        let mut ids = vec![("eos_token_id", self.eos_token_id), ("decoder_start_token_id", self.decoder_start_token_id)];
        ids.extend(self.forced_eos_token_id.map(|f| ("forced_eos_token_id", f)));
        check_token_ids(&ids, self.target_vocab_size())
    }
}

/// HF's `MarianSinusoidalPositionalEmbedding._init_weight`: sin in the first half, cos in the second,
/// computed in f64 and rounded once, as numpy does there.
pub fn sinusoidal_positions(n_pos: usize, dim: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let sentinel = if dim % 2 == 0 { dim / 2 } else { dim / 2 + 1 };
    let mut out = vec![0f32; n_pos * dim];
    for pos in 0..n_pos {
        let row = &mut out[pos * dim..(pos + 1) * dim];
        let angle = |j: usize| pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
        for (k, j) in (0..dim).step_by(2).enumerate() {
            row[k] = angle(j).sin() as f32;
        }
        for (k, j) in (1..dim).step_by(2).enumerate() {
            row[sentinel + k] = angle(j).cos() as f32;
        }
    }
    Tensor::from_vec(out, (n_pos, dim), device)?.to_dtype(dtype)
}

#[derive(Debug, Clone)]
pub struct MarianMTModel {
    encoder_embed: Embedding,
    decoder_embed: Embedding,
    positions: Tensor,
    embed_scale: f64,
    encoder: EncoderStack,
    decoder: DecoderStack,
    lm_head: Proj,
    dtype: DType,
    device: Device,
    pub config: Config,
}

impl MarianMTModel {
    /// Lay out (pack or quantize) every linear layer and the output projection for inference; the
    /// embeddings stay as loaded. See [`Proj::prepare`].
    pub fn prepare_weights(&mut self, q: Quantize) -> Result<()> {
        self.encoder.prepare_weights(q)?;
        self.decoder.prepare_weights(q)?;
        self.lm_head.prepare(q)
    }

    /// `vb` is rooted at the checkpoint's top level (`model.*`, `lm_head.weight`, `final_logits_bias`).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        let d = cfg.d_model;
        let m = vb.pp("model");
        let shared = shared_embedding(&m, cfg.vocab_size, d)?;
        let encoder_embed = Embedding::new(shared.clone(), d);
        let decoder_weight = if cfg.share_encoder_decoder_embeddings {
            shared
        } else {
            m.pp("decoder.embed_tokens").get((cfg.target_vocab_size(), d), "weight")?
        };
        let decoder_embed = Embedding::new(decoder_weight.clone(), d);
        // Output projection: tied to the decoder embeddings unless the checkpoint says otherwise.
        let lm_weight = output_weight(&vb, cfg.tie_word_embeddings, cfg.target_vocab_size(), d, decoder_weight)?;
        // `final_logits_bias` is the projection's bias (added after the matmul, as in transformers).
        let lm_head = Proj::Dense(Linear::new(lm_weight, Some(final_logits_bias(&vb, cfg.target_vocab_size())?)));
        let (enc_dims, dec_dims) = StackDims::encoder_decoder(
            d,
            cfg.activation_function,
            (cfg.encoder_layers, cfg.encoder_attention_heads, cfg.encoder_ffn_dim),
            (cfg.decoder_layers, cfg.decoder_attention_heads, cfg.decoder_ffn_dim),
        );
        let positions = sinusoidal_positions(cfg.max_position_embeddings, d, vb.dtype(), vb.device())?;
        Ok(Self {
            encoder_embed,
            decoder_embed,
            positions,
            embed_scale: if cfg.scale_embedding { (d as f64).sqrt() } else { 1.0 },
            encoder: EncoderStack::load(m.pp("encoder"), &enc_dims)?,
            decoder: DecoderStack::load(m.pp("decoder"), &dec_dims)?,
            lm_head,
            dtype: vb.dtype(),
            device: vb.device().clone(),
            config: cfg.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Encoder: `input_ids (b, s)` u32 and `attention_mask (b, s)` (1 token, 0 padding) -> `(b, s, d)`.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (_, s) = input_ids.dims2()?;
        check_positions(s, self.max_positions())?;
        let bias = padding_bias(attention_mask, self.dtype)?;
        let emb = (self.encoder_embed.forward(input_ids)? * self.embed_scale)?;
        let h = emb.broadcast_add(&self.positions.i(0..s)?)?;
        self.encoder.forward(&h, &bias)
    }

    /// A fresh decoder state over encoder output (cross-attention K/V computed once).
    /// `rows` selects (and may repeat) encoder rows, e.g. `[0,0,0,0,1,1,1,1]` for 4 beams of 2 sentences.
    pub fn start_decoder(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: Option<&Tensor>) -> Result<DecoderState> {
        self.decoder.start(encoder_out, attention_mask, rows)
    }

    /// Feed `tokens (rows, t)` to the decoder; returns f32 logits of the last position, `(rows, vocab)`.
    pub fn decode(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        let past = state.position;
        check_positions(past + t, self.max_positions())?;
        let emb = (self.decoder_embed.forward(tokens)? * self.embed_scale)?;
        let h = emb.broadcast_add(&self.positions.i(past..past + t)?)?;
        let last = self.decoder.forward_last(&h, state)?;
        self.lm_head.forward(&last)?.to_dtype(DType::F32)
    }

    /// Number of positions the model can encode or decode.
    pub fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }
}

impl crate::generation::EncoderDecoder for MarianMTModel {
    type State = DecoderState;
    fn device(&self) -> &Device {
        MarianMTModel::device(self)
    }
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        MarianMTModel::encode(self, input_ids, attention_mask)
    }
    fn start(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: &Tensor) -> Result<DecoderState> {
        self.start_decoder(encoder_out, attention_mask, Some(rows))
    }
    fn step(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        self.decode(tokens, state)
    }
}
