//! MarianMT (the OPUS-MT translators), in the shape of candle-transformers' model files, but complete:
//! padding masks, a decoder state with self-attention KV cache and cross-attention K/V computed once per
//! batch, beam reordering, any float dtype, and the config read from the hub's own `config.json`.
//!
//! Reference: `transformers/models/marian/modeling_marian.py` (post-LayerNorm transformer, static
//! sinusoidal positions with the cosine half second, `embed_scale = sqrt(d_model)`, `final_logits_bias`).
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};

/// Activation named by `activation_function` in `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Swish,
    Silu,
    Relu,
    /// exact (erf) GELU, HF's "gelu"
    Gelu,
    /// tanh approximation, HF's "gelu_new"
    #[serde(rename = "gelu_new")]
    GeluNew,
}

impl Activation {
    fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Swish | Activation::Silu => candle_nn::ops::silu(xs),
            Activation::Relu => xs.relu(),
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluNew => xs.gelu(),
        }
    }
}

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
        for (name, heads) in [("encoder", self.encoder_attention_heads), ("decoder", self.decoder_attention_heads)] {
            if heads == 0 || self.d_model % heads != 0 {
                return Err(format!("d_model {} is not divisible by {name}_attention_heads {heads}", self.d_model));
            }
        }
        if self.pad_token_id as usize >= self.vocab_size.max(self.target_vocab_size()) {
            return Err(format!("pad_token_id {} outside the vocabulary", self.pad_token_id));
        }
        Ok(())
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

/// Large negative bias for masked attention positions, finite in every float dtype.
fn mask_value(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 65504.0,
        DType::BF16 => 3.38e38,
        _ => f32::MAX as f64,
    }
}

/// `(b, s)` mask of 1 (token) / 0 (padding) -> additive bias `(b, 1, 1, s)`.
pub fn padding_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, s) = mask.dims2()?;
    let m = mask.to_dtype(DType::F32)?;
    let bias = ((m - 1.0)? * mask_value(dtype))?;
    bias.reshape((b, 1, 1, s))?.to_dtype(dtype)
}

fn causal_bias(t: usize, past: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let neg = -(mask_value(dtype) as f32);
    let v: Vec<f32> =
        (0..t).flat_map(|i| (0..past + t).map(move |j| if j > past + i { neg } else { 0.0 })).collect();
    Tensor::from_vec(v, (1, 1, t, past + t), device)?.to_dtype(dtype)
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
    scaling: f64,
}

impl Attention {
    fn load(vb: VarBuilder, d_model: usize, num_heads: usize) -> Result<Self> {
        let head_dim = d_model / num_heads;
        Ok(Self {
            q_proj: linear(d_model, d_model, vb.pp("q_proj"))?,
            k_proj: linear(d_model, d_model, vb.pp("k_proj"))?,
            v_proj: linear(d_model, d_model, vb.pp("v_proj"))?,
            out_proj: linear(d_model, d_model, vb.pp("out_proj"))?,
            num_heads,
            head_dim,
            scaling: (head_dim as f64).powf(-0.5),
        })
    }

    /// `(b, t, d_model)` -> `(b, heads, t, head_dim)`, contiguous.
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, t, _) = xs.dims3()?;
        xs.reshape((b, t, self.num_heads, self.head_dim))?.transpose(1, 2)?.contiguous()
    }

    fn project_kv(&self, xs: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.split_heads(&self.k_proj.forward(xs)?)?, self.split_heads(&self.v_proj.forward(xs)?)?))
    }

    fn attend(&self, xs: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, d) = xs.dims3()?;
        let q = self.split_heads(&self.q_proj.forward(xs)?)?;
        let mut scores = (q.matmul(&k.t()?)? * self.scaling)?;
        if let Some(bias) = bias {
            scores = scores.broadcast_add(bias)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(v)?.transpose(1, 2)?.reshape((b, t, d))?;
        self.out_proj.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

impl FeedForward {
    fn load(vb: &VarBuilder, d_model: usize, ffn: usize, act: Activation) -> Result<Self> {
        Ok(Self { fc1: linear(d_model, ffn, vb.pp("fc1"))?, fc2: linear(ffn, d_model, vb.pp("fc2"))?, act })
    }
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.act.apply(&self.fc1.forward(xs)?)?)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), cfg.d_model, cfg.encoder_attention_heads)?,
            self_attn_layer_norm: layer_norm(cfg.d_model, 1e-5, vb.pp("self_attn_layer_norm"))?,
            ffn: FeedForward::load(&vb, cfg.d_model, cfg.encoder_ffn_dim, cfg.activation_function)?,
            final_layer_norm: layer_norm(cfg.d_model, 1e-5, vb.pp("final_layer_norm"))?,
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (k, v) = self.self_attn.project_kv(xs)?;
        let h = (xs + self.self_attn.attend(xs, &k, &v, Some(bias))?)?;
        let h = self.self_attn_layer_norm.forward(&h)?;
        let h2 = (&h + self.ffn.forward(&h)?)?;
        self.final_layer_norm.forward(&h2)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

impl DecoderLayer {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), cfg.d_model, cfg.decoder_attention_heads)?,
            self_attn_layer_norm: layer_norm(cfg.d_model, 1e-5, vb.pp("self_attn_layer_norm"))?,
            encoder_attn: Attention::load(vb.pp("encoder_attn"), cfg.d_model, cfg.decoder_attention_heads)?,
            encoder_attn_layer_norm: layer_norm(cfg.d_model, 1e-5, vb.pp("encoder_attn_layer_norm"))?,
            ffn: FeedForward::load(&vb, cfg.d_model, cfg.decoder_ffn_dim, cfg.activation_function)?,
            final_layer_norm: layer_norm(cfg.d_model, 1e-5, vb.pp("final_layer_norm"))?,
        })
    }
}

/// Per-layer decoder state for one batch of hypotheses (rows = batch × beams).
#[derive(Debug, Clone)]
pub struct DecoderState {
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    cross_kv: Vec<(Tensor, Tensor)>,
    cross_bias: Tensor,
    /// Tokens already fed to the decoder (the position of the next one).
    pub position: usize,
}

impl DecoderState {
    pub fn rows(&self) -> Result<usize> {
        self.cross_bias.dim(0)
    }

    /// Keep/reorder rows: `idx` are row indices into the current state. Used by beam search (reorder the
    /// self-attention cache by parent beam) and to drop finished sentences from the batch.
    pub fn select_rows(&mut self, idx: &Tensor) -> Result<()> {
        for kv in self.self_kv.iter_mut().flatten() {
            *kv = (kv.0.index_select(idx, 0)?, kv.1.index_select(idx, 0)?);
        }
        for kv in self.cross_kv.iter_mut() {
            *kv = (kv.0.index_select(idx, 0)?, kv.1.index_select(idx, 0)?);
        }
        self.cross_bias = self.cross_bias.index_select(idx, 0)?;
        Ok(())
    }

    /// Reorder only the self-attention cache. Cross-attention K/V are identical for all beams of one
    /// sentence, so a reorder within each sentence's beams leaves them untouched.
    pub fn reorder_self_cache(&mut self, idx: &Tensor) -> Result<()> {
        for kv in self.self_kv.iter_mut().flatten() {
            *kv = (kv.0.index_select(idx, 0)?, kv.1.index_select(idx, 0)?);
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct MarianMTModel {
    encoder_embed: Embedding,
    decoder_embed: Embedding,
    positions: Tensor,
    embed_scale: f64,
    encoder_layers: Vec<EncoderLayer>,
    decoder_layers: Vec<DecoderLayer>,
    lm_head: Linear,
    final_logits_bias: Tensor,
    dtype: DType,
    device: Device,
    pub config: Config,
}

impl MarianMTModel {
    /// `vb` is rooted at the checkpoint's top level (`model.*`, `lm_head.weight`, `final_logits_bias`).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        let d = cfg.d_model;
        let m = vb.pp("model");
        let shared_name = if m.contains_tensor("shared.weight") { "shared" } else { "encoder.embed_tokens" };
        let shared = m.pp(shared_name).get((cfg.vocab_size, d), "weight")?;
        let encoder_embed = Embedding::new(shared.clone(), d);
        let decoder_weight = if cfg.share_encoder_decoder_embeddings {
            shared
        } else {
            m.pp("decoder.embed_tokens").get((cfg.target_vocab_size(), d), "weight")?
        };
        let decoder_embed = Embedding::new(decoder_weight.clone(), d);
        // Output projection: tied to the decoder embeddings unless the checkpoint says otherwise.
        let lm_weight = if !cfg.tie_word_embeddings && vb.contains_tensor("lm_head.weight") {
            vb.get((cfg.target_vocab_size(), d), "lm_head.weight")?
        } else {
            decoder_weight
        };
        let lm_head = Linear::new(lm_weight, None);
        let final_logits_bias = if vb.contains_tensor("final_logits_bias") {
            vb.get((1, cfg.target_vocab_size()), "final_logits_bias")?
        } else {
            Tensor::zeros((1, cfg.target_vocab_size()), vb.dtype(), vb.device())?
        };
        let encoder_layers = (0..cfg.encoder_layers)
            .map(|i| EncoderLayer::load(m.pp(format!("encoder.layers.{i}")), cfg))
            .collect::<Result<Vec<_>>>()?;
        let decoder_layers = (0..cfg.decoder_layers)
            .map(|i| DecoderLayer::load(m.pp(format!("decoder.layers.{i}")), cfg))
            .collect::<Result<Vec<_>>>()?;
        let positions = sinusoidal_positions(cfg.max_position_embeddings, d, vb.dtype(), vb.device())?;
        Ok(Self {
            encoder_embed,
            decoder_embed,
            positions,
            embed_scale: if cfg.scale_embedding { (d as f64).sqrt() } else { 1.0 },
            encoder_layers,
            decoder_layers,
            lm_head,
            final_logits_bias,
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

    fn check_positions(&self, upto: usize) -> Result<()> {
        if upto > self.config.max_position_embeddings {
            candle_core::bail!(
                "sequence of {upto} tokens exceeds the model's {} positions",
                self.config.max_position_embeddings
            )
        }
        Ok(())
    }

    /// Encoder: `input_ids (b, s)` u32 and `attention_mask (b, s)` (1 token, 0 padding) -> `(b, s, d)`.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (_, s) = input_ids.dims2()?;
        self.check_positions(s)?;
        let bias = padding_bias(attention_mask, self.dtype)?;
        let emb = (self.encoder_embed.forward(input_ids)? * self.embed_scale)?;
        let mut h = emb.broadcast_add(&self.positions.i(0..s)?)?;
        for layer in &self.encoder_layers {
            h = layer.forward(&h, &bias)?;
        }
        Ok(h)
    }

    /// A fresh decoder state over encoder output: cross-attention K/V are computed here, once.
    /// `rows` selects (and may repeat) encoder rows, e.g. `[0,0,0,0,1,1,1,1]` for 4 beams of 2 sentences.
    pub fn start_decoder(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: Option<&Tensor>) -> Result<DecoderState> {
        let mut cross_kv = Vec::with_capacity(self.decoder_layers.len());
        let mut cross_bias = padding_bias(attention_mask, self.dtype)?;
        for layer in &self.decoder_layers {
            let (mut k, mut v) = layer.encoder_attn.project_kv(encoder_out)?;
            if let Some(rows) = rows {
                k = k.index_select(rows, 0)?;
                v = v.index_select(rows, 0)?;
            }
            cross_kv.push((k, v));
        }
        if let Some(rows) = rows {
            cross_bias = cross_bias.index_select(rows, 0)?;
        }
        Ok(DecoderState { self_kv: vec![None; self.decoder_layers.len()], cross_kv, cross_bias, position: 0 })
    }

    /// Feed `tokens (rows, t)` to the decoder; returns f32 logits of the last position, `(rows, vocab)`.
    pub fn decode(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        let past = state.position;
        self.check_positions(past + t)?;
        let emb = (self.decoder_embed.forward(tokens)? * self.embed_scale)?;
        let mut h = emb.broadcast_add(&self.positions.i(past..past + t)?)?;
        let causal = if t > 1 { Some(causal_bias(t, past, self.dtype, &self.device)?) } else { None };
        for (i, layer) in self.decoder_layers.iter().enumerate() {
            let (k, v) = layer.self_attn.project_kv(&h)?;
            let (k, v) = match &state.self_kv[i] {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                None => (k, v),
            };
            let a = layer.self_attn.attend(&h, &k, &v, causal.as_ref())?;
            state.self_kv[i] = Some((k, v));
            h = layer.self_attn_layer_norm.forward(&(&h + a)?)?;
            let (ck, cv) = &state.cross_kv[i];
            let c = layer.encoder_attn.attend(&h, ck, cv, Some(&state.cross_bias))?;
            h = layer.encoder_attn_layer_norm.forward(&(&h + c)?)?;
            h = layer.final_layer_norm.forward(&(&h + layer.ffn.forward(&h)?)?)?;
        }
        state.position += t;
        let last = h.i((.., t - 1, ..))?;
        let logits = self.lm_head.forward(&last)?.broadcast_add(&self.final_logits_bias)?;
        logits.to_dtype(DType::F32)
    }

    /// Number of positions the model can encode or decode.
    pub fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }
}
