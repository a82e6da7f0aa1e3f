//! BART (`facebook/bart-large-cnn`, `sshleifer/distilbart-cnn-12-6`), which candle-transformers does not
//! have, in the shape of its model files: a serde `Config` read from the hub's `config.json`, `load(vb, &cfg)`,
//! `encode` / `decode` over the shared post-LayerNorm blocks of [`super::transformer`].
//!
//! What differs from Marian (reference: `transformers/models/bart/modeling_bart.py`):
//! - learned positions, a table of `max_position_embeddings + 2` rows read at `position + 2` (fairseq's
//!   padding offset, kept by `BartLearnedPositionalEmbedding`);
//! - `layernorm_embedding` after token + position embeddings, in encoder and decoder;
//! - `embed_scale` only when `scale_embedding` (false for the CNN summarizers), exact GELU;
//! - generation starts from `</s>` and forces `<s>` next (`forced_bos_token_id`), see
//!   [`crate::generation`].
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{layer_norm, Embedding, LayerNorm, Linear, VarBuilder};

use super::transformer::{
    check_heads, check_positions, final_logits_bias, output_weight, padding_bias, shared_embedding, Activation, DecoderStack, Proj, Quantize,
    DecoderState, EncoderStack, StackDims,
};

/// fairseq's offset: position `p` reads row `p + 2` of the learned table.
const POSITION_OFFSET: usize = 2;

fn default_true() -> bool {
    true
}
fn default_activation() -> Activation {
    Activation::Gelu
}
fn default_forced_eos() -> Option<u32> {
    // BartConfig's own default (`forced_eos_token_id=2`) when config.json does not name it
    Some(2)
}

/// The fields of a BART `config.json` that the network needs; generation settings are read by
/// [`crate::generation::GenerationConfig`]. Legacy fields of 2020 configs (`normalize_before`,
/// `add_final_layer_norm`, `static_position_embeddings`, ...) are ignored, as `transformers` ignores them.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Config {
    pub vocab_size: usize,
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
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub model_type: Option<String>,
}

impl Config {
    /// Reject configs the network cannot run, with a reason (instead of a shape error deep inside).
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self.model_type.as_deref() {
            Some("bart") | None => {}
            // mBART and friends are pre-LayerNorm with a final norm: a different network
            Some(t) => return Err(format!("model_type is '{t}', not 'bart'")),
        }
        check_heads(self.d_model, self.encoder_attention_heads, self.decoder_attention_heads)?;
        if self.pad_token_id as usize >= self.vocab_size {
            return Err(format!("pad_token_id {} outside the vocabulary", self.pad_token_id));
        }
        super::transformer::check_position_count(self.max_position_embeddings)?;
        let mut ids = vec![("eos_token_id", self.eos_token_id), ("decoder_start_token_id", self.decoder_start_token_id)];
        ids.extend(self.forced_eos_token_id.map(|f| ("forced_eos_token_id", f)));
        super::transformer::check_token_ids(&ids, self.vocab_size)
    }
}

#[derive(Debug, Clone)]
pub struct BartForConditionalGeneration {
    embed_tokens: Embedding,
    encoder_positions: Tensor,
    decoder_positions: Tensor,
    encoder_layernorm_embedding: LayerNorm,
    decoder_layernorm_embedding: LayerNorm,
    embed_scale: f64,
    encoder: EncoderStack,
    decoder: DecoderStack,
    lm_head: Proj,
    dtype: DType,
    device: Device,
    pub config: Config,
}

impl BartForConditionalGeneration {
    /// `vb` is rooted at the checkpoint's top level (`model.*`, `final_logits_bias`, maybe `lm_head.weight`).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        let d = cfg.d_model;
        let m = vb.pp("model");
        let shared = shared_embedding(&m, cfg.vocab_size, d)?;
        let lm_weight = output_weight(&vb, cfg.tie_word_embeddings, cfg.vocab_size, d, shared.clone())?;
        let n_pos = cfg.max_position_embeddings + POSITION_OFFSET;
        let (enc_dims, dec_dims) = StackDims::encoder_decoder(
            d,
            cfg.activation_function,
            (cfg.encoder_layers, cfg.encoder_attention_heads, cfg.encoder_ffn_dim),
            (cfg.decoder_layers, cfg.decoder_attention_heads, cfg.decoder_ffn_dim),
        );
        Ok(Self {
            embed_tokens: Embedding::new(shared, d),
            encoder_positions: m.pp("encoder.embed_positions").get((n_pos, d), "weight")?,
            decoder_positions: m.pp("decoder.embed_positions").get((n_pos, d), "weight")?,
            encoder_layernorm_embedding: layer_norm(d, 1e-5, m.pp("encoder.layernorm_embedding"))?,
            decoder_layernorm_embedding: layer_norm(d, 1e-5, m.pp("decoder.layernorm_embedding"))?,
            embed_scale: if cfg.scale_embedding { (d as f64).sqrt() } else { 1.0 },
            encoder: EncoderStack::load(m.pp("encoder"), &enc_dims)?,
            decoder: DecoderStack::load(m.pp("decoder"), &dec_dims)?,
            // `final_logits_bias` is the projection's bias (added after the matmul, as in transformers).
            lm_head: Proj::Dense(Linear::new(lm_weight, Some(final_logits_bias(&vb, cfg.vocab_size)?))),
            dtype: vb.dtype(),
            device: vb.device().clone(),
            config: cfg.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Lay out (pack or quantize) every linear layer and the output projection for inference; the
    /// embeddings stay as loaded. See [`Proj::prepare`].
    pub fn prepare_weights(&mut self, q: Quantize) -> Result<()> {
        self.encoder.prepare_weights(q)?;
        self.decoder.prepare_weights(q)?;
        self.lm_head.prepare(q)
    }

    /// Number of positions the model can encode or decode.
    pub fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn embed(&self, ids: &Tensor, positions: &Tensor, start: usize, norm: &LayerNorm) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let tok = (self.embed_tokens.forward(ids)? * self.embed_scale)?;
        let pos = positions.i(start + POSITION_OFFSET..start + POSITION_OFFSET + t)?;
        norm.forward(&tok.broadcast_add(&pos)?)
    }

    /// Encoder: `input_ids (b, s)` u32 and `attention_mask (b, s)` (1 token, 0 padding) -> `(b, s, d)`.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (_, s) = input_ids.dims2()?;
        check_positions(s, self.max_positions())?;
        let bias = padding_bias(attention_mask, self.dtype)?;
        let h = self.embed(input_ids, &self.encoder_positions, 0, &self.encoder_layernorm_embedding)?;
        self.encoder.forward(&h, &bias)
    }

    /// A fresh decoder state over encoder output (cross-attention K/V computed once); `rows` selects and
    /// may repeat encoder rows (beams).
    pub fn start_decoder(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: Option<&Tensor>) -> Result<DecoderState> {
        self.decoder.start(encoder_out, attention_mask, rows)
    }

    /// Feed `tokens (rows, t)` to the decoder; returns f32 logits of the last position, `(rows, vocab)`.
    pub fn decode(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        let past = state.position;
        check_positions(past + t, self.max_positions())?;
        let h = self.embed(tokens, &self.decoder_positions, past, &self.decoder_layernorm_embedding)?;
        let last = self.decoder.forward_last(&h, state)?;
        self.lm_head.forward(&last)?.to_dtype(DType::F32)
    }
}

impl crate::generation::EncoderDecoder for BartForConditionalGeneration {
    type State = DecoderState;
    fn device(&self) -> &Device {
        &self.device
    }
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        BartForConditionalGeneration::encode(self, input_ids, attention_mask)
    }
    fn start(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: &Tensor) -> Result<DecoderState> {
        self.start_decoder(encoder_out, attention_mask, Some(rows))
    }
    fn step(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        self.decode(tokens, state)
    }
}
