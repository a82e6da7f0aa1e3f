//! The post-LayerNorm encoder-decoder blocks that BART and Marian share. In `transformers` Marian's layers
//! are "Copied from transformers.models.bart.modeling_bart"; here they live once, and each model file keeps
//! what differs: embeddings, positions, the extra LayerNorms and the output head.
//!
//! What the blocks add over candle-transformers' Marian: padding masks (finite in every float dtype), a
//! decoder state with self-attention KV cache and cross-attention K/V computed once per batch, and row
//! selection for beam reordering and for dropping finished sentences.
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{layer_norm, linear, LayerNorm, Linear, VarBuilder};

use crate::generation::DecoderCache;
use crate::kernels::kv_cache::HostKvCache;
use crate::kernels::packed_int8::{ActivationBits, PackedInt8Linear};
use crate::kernels::packed_linear::PackedLinear;
use crate::kernels::step_attention::{attend_one_position, attend_slices};

/// Weight format of the linear layers (`--quantize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Quantize {
    /// Keep the checkpoint's float weights.
    #[default]
    None,
    /// 8-bit weights with one scale per output column, activations quantized per row on each call,
    /// integer sums (CTranslate2's `int8` scheme; [`PackedInt8Linear`]): 4× less weight memory than f32.
    #[serde(rename = "int8")]
    Int8,
    /// As `int8` with 7-bit activations (FBGEMM's `reduce_range`, the scheme of PyTorch's dynamic
    /// quantization on x86): the integer kernel skips a sign transfer per multiply and runs about 20 %
    /// faster on AVX2 CPUs without VNNI, at the price of a coarser activation grid.
    #[serde(rename = "int8-fast")]
    Int8Fast,
    /// GGML Q8_0 (8-bit blocks of 32 with an f16 scale) through candle's `QMatMul`; slower than `int8`
    /// and than f32 for batched decoding on the CPU, kept for comparison.
    #[serde(rename = "q8_0")]
    Q8_0,
}

/// A linear layer that is either dense (the checkpoint's floats) or quantized after loading.
#[derive(Debug, Clone)]
pub enum Proj {
    Dense(Linear),
    /// f32 on the CPU, weight re-laid in panels once (see [`PackedLinear`]).
    Packed(PackedLinear),
    /// int8 on the CPU (see [`PackedInt8Linear`]).
    Int8(PackedInt8Linear),
    Quantized { weight: QMatMul, bias: Option<Tensor> },
}

impl Proj {
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Proj::Dense(l) => l.forward(xs),
            Proj::Packed(p) => p.forward(xs),
            Proj::Int8(p) => p.forward(xs),
            Proj::Quantized { weight, bias } => {
                let y = weight.forward(xs)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }

    /// Lay the weight out for inference, once after loading: int8 panels or Q8_0 blocks when asked
    /// (for Q8_0, layers whose input width is not a multiple of the 32-wide block stay as they are),
    /// otherwise f32 weights on the CPU are packed for [`PackedLinear`]. Other dtypes and devices keep
    /// candle's `Linear`.
    pub fn prepare(&mut self, q: Quantize) -> Result<()> {
        let Proj::Dense(l) = &*self else { return Ok(()) };
        let w = l.weight();
        if !w.device().is_cpu() {
            return Ok(());
        }
        match q {
            Quantize::Int8 => *self = Proj::Int8(PackedInt8Linear::new(w, l.bias(), ActivationBits::Eight)?),
            Quantize::Int8Fast => *self = Proj::Int8(PackedInt8Linear::new(w, l.bias(), ActivationBits::Seven)?),
            Quantize::Q8_0 => {
                let (_, k) = w.dims2()?;
                if k % 32 == 0 {
                    let qt = QTensor::quantize(&w.to_dtype(DType::F32)?, GgmlDType::Q8_0)?;
                    *self = Proj::Quantized { weight: QMatMul::from_qtensor(qt)?, bias: l.bias().cloned() };
                }
            }
            Quantize::None if w.dtype() == DType::F32 => *self = Proj::Packed(PackedLinear::new(w, l.bias())?),
            Quantize::None => {}
        }
        Ok(())
    }
}

fn proj(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Proj> {
    Ok(Proj::Dense(linear(in_dim, out_dim, vb)?))
}

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
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Swish | Activation::Silu => candle_nn::ops::silu(xs),
            Activation::Relu => xs.relu(),
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluNew => xs.gelu(),
        }
    }
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
    q_proj: Proj,
    k_proj: Proj,
    v_proj: Proj,
    out_proj: Proj,
    num_heads: usize,
    head_dim: usize,
    scaling: f64,
}

impl Attention {
    fn load(vb: VarBuilder, d_model: usize, num_heads: usize) -> Result<Self> {
        let head_dim = d_model / num_heads;
        Ok(Self {
            q_proj: proj(d_model, d_model, vb.pp("q_proj"))?,
            k_proj: proj(d_model, d_model, vb.pp("k_proj"))?,
            v_proj: proj(d_model, d_model, vb.pp("v_proj"))?,
            out_proj: proj(d_model, d_model, vb.pp("out_proj"))?,
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

    /// One position per row (`xs (b, 1, d)`) against a host cache (self-attention, no bias).
    fn attend_cached(&self, xs: &Tensor, cache: &HostKvCache) -> Result<Tensor> {
        let (b, _, d) = xs.dims3()?;
        let q = self.q_proj.forward(xs)?.flatten_all()?.to_vec1::<f32>()?;
        let out = attend_slices(&q, (b, self.num_heads, self.head_dim), cache.step_kv(), None, self.scaling as f32);
        self.out_proj.forward(&Tensor::from_vec(out, (b, 1, d), xs.device())?)
    }

    fn attend(&self, xs: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.attend_rows(xs, k, v, bias, None)
    }

    /// As [`attend`](Self::attend), with query row `r` reading K/V/bias row `kv_rows[r]` (cross-attention
    /// K/V stored once per sentence, shared by its beams).
    fn attend_rows(&self, xs: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>, kv_rows: Option<&[u32]>) -> Result<Tensor> {
        let (b, t, d) = xs.dims3()?;
        let q = self.split_heads(&self.q_proj.forward(xs)?)?;
        if t == 1 {
            if let Some(out) = attend_one_position(&q, k, v, bias, self.scaling as f32, kv_rows)? {
                return self.out_proj.forward(&out);
            }
        }
        // candle's ops need K/V (and bias) expanded to one row per query row
        let expanded;
        let (k, v, bias) = match kv_rows {
            Some(rows) => {
                let idx = Tensor::new(rows, k.device())?;
                expanded = (k.index_select(&idx, 0)?, v.index_select(&idx, 0)?, bias.map(|b| b.index_select(&idx, 0)).transpose()?);
                (&expanded.0, &expanded.1, expanded.2.as_ref())
            }
            None => (k, v, bias),
        };
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
    fc1: Proj,
    fc2: Proj,
    act: Activation,
}

impl Attention {
    fn prepare_weights(&mut self, q: Quantize) -> Result<()> {
        for p in [&mut self.q_proj, &mut self.k_proj, &mut self.v_proj, &mut self.out_proj] {
            p.prepare(q)?;
        }
        Ok(())
    }
}

impl FeedForward {
    fn load(vb: &VarBuilder, d_model: usize, ffn: usize, act: Activation) -> Result<Self> {
        Ok(Self { fc1: proj(d_model, ffn, vb.pp("fc1"))?, fc2: proj(ffn, d_model, vb.pp("fc2"))?, act })
    }
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.act.apply(&self.fc1.forward(xs)?)?)
    }
    fn prepare_weights(&mut self, q: Quantize) -> Result<()> {
        self.fc1.prepare(q)?;
        self.fc2.prepare(q)
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
    fn load(vb: VarBuilder, dims: &StackDims) -> Result<Self> {
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), dims.d_model, dims.heads)?,
            self_attn_layer_norm: layer_norm(dims.d_model, 1e-5, vb.pp("self_attn_layer_norm"))?,
            ffn: FeedForward::load(&vb, dims.d_model, dims.ffn_dim, dims.activation)?,
            final_layer_norm: layer_norm(dims.d_model, 1e-5, vb.pp("final_layer_norm"))?,
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
    fn load(vb: VarBuilder, dims: &StackDims) -> Result<Self> {
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), dims.d_model, dims.heads)?,
            self_attn_layer_norm: layer_norm(dims.d_model, 1e-5, vb.pp("self_attn_layer_norm"))?,
            encoder_attn: Attention::load(vb.pp("encoder_attn"), dims.d_model, dims.heads)?,
            encoder_attn_layer_norm: layer_norm(dims.d_model, 1e-5, vb.pp("encoder_attn_layer_norm"))?,
            ffn: FeedForward::load(&vb, dims.d_model, dims.ffn_dim, dims.activation)?,
            final_layer_norm: layer_norm(dims.d_model, 1e-5, vb.pp("final_layer_norm"))?,
        })
    }
}

/// One layer's self-attention cache: f32 on the CPU in a [`HostKvCache`], otherwise candle tensors
/// grown with `cat`.
#[derive(Debug, Clone)]
enum SelfKv {
    Empty,
    Host(HostKvCache),
    Tensors(Tensor, Tensor),
}

/// Per-layer decoder state for one batch of hypotheses (rows = batch × beams).
#[derive(Debug, Clone)]
pub struct DecoderState {
    self_kv: Vec<SelfKv>,
    /// Cross-attention K/V per layer and their padding bias: one row per encoder row (sentence) when
    /// `cross_rows` maps hypotheses onto them, else one row per hypothesis.
    cross_kv: Vec<(Tensor, Tensor)>,
    cross_bias: Tensor,
    /// Encoder row of each hypothesis row, when its beams share the sentence's K/V (CPU f32, read by the
    /// fused step attention, so nothing is copied per beam or when rows drop). `None` on other devices
    /// and dtypes, where candle's attention ops want K/V expanded to one row per hypothesis.
    cross_rows: Option<Vec<u32>>,
    /// Tokens already fed to the decoder (the position of the next one).
    pub position: usize,
}

impl DecoderState {
    pub fn rows(&self) -> Result<usize> {
        match &self.cross_rows {
            Some(rows) => Ok(rows.len()),
            None => self.cross_bias.dim(0),
        }
    }

    /// Keep/reorder rows: `idx` are row indices into the current state. Used by beam search (reorder the
    /// self-attention cache by parent beam) and to drop finished sentences from the batch. Shared
    /// cross-attention K/V stay where they are; only their row map changes.
    pub fn select_rows(&mut self, idx: &Tensor) -> Result<()> {
        // one host copy of the index serves the host cache and the cross-row map
        let host_idx: Vec<u32> = if self.has_host_cache() || self.cross_rows.is_some() { idx.to_vec1()? } else { Vec::new() };
        self.reorder_self_cache_with(idx, &host_idx)?;
        match &mut self.cross_rows {
            Some(map) => {
                if let Some(&bad) = host_idx.iter().find(|&&i| i as usize >= map.len()) {
                    candle_core::bail!("select_rows: row {bad} of {}", map.len())
                }
                *map = host_idx.iter().map(|&i| map[i as usize]).collect();
            }
            None => {
                for kv in self.cross_kv.iter_mut() {
                    *kv = (kv.0.index_select(idx, 0)?, kv.1.index_select(idx, 0)?);
                }
                self.cross_bias = self.cross_bias.index_select(idx, 0)?;
            }
        }
        Ok(())
    }

    /// Reorder only the self-attention cache. Cross-attention K/V are identical for all beams of one
    /// sentence, so a reorder within each sentence's beams leaves them untouched.
    pub fn reorder_self_cache(&mut self, idx: &Tensor) -> Result<()> {
        let host_idx: Vec<u32> = if self.has_host_cache() { idx.to_vec1()? } else { Vec::new() };
        self.reorder_self_cache_with(idx, &host_idx)
    }

    fn has_host_cache(&self) -> bool {
        self.self_kv.iter().any(|kv| matches!(kv, SelfKv::Host(_)))
    }

    /// `host_idx` is `idx` on the host when any layer's cache is a host cache (empty otherwise).
    fn reorder_self_cache_with(&mut self, idx: &Tensor, host_idx: &[u32]) -> Result<()> {
        for kv in self.self_kv.iter_mut() {
            match kv {
                SelfKv::Empty => {}
                SelfKv::Host(cache) => cache.select_rows(host_idx)?,
                SelfKv::Tensors(k, v) => *kv = SelfKv::Tensors(k.index_select(idx, 0)?, v.index_select(idx, 0)?),
            }
        }
        Ok(())
    }
}

/// Sizes of one stack (encoder or decoder) as `config.json` gives them.
#[derive(Debug, Clone, Copy)]
pub struct StackDims {
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub activation: Activation,
}

impl StackDims {
    /// Encoder and decoder dims from the `(layers, attention_heads, ffn_dim)` of each side.
    pub fn encoder_decoder(d_model: usize, activation: Activation, enc: (usize, usize, usize), dec: (usize, usize, usize)) -> (Self, Self) {
        let side = |(layers, heads, ffn_dim): (usize, usize, usize)| Self { d_model, layers, heads, ffn_dim, activation };
        (side(enc), side(dec))
    }
}

/// The config check both models make: every stack's heads divide `d_model`.
pub fn check_heads(d_model: usize, encoder_heads: usize, decoder_heads: usize) -> std::result::Result<(), String> {
    for (name, heads) in [("encoder", encoder_heads), ("decoder", decoder_heads)] {
        if heads == 0 || d_model % heads != 0 {
            return Err(format!("d_model {d_model} is not divisible by {name}_attention_heads {heads}"));
        }
    }
    Ok(())
}

/// Most positions a config may ask for. Marian builds its sinusoidal table from the config alone
/// (`max_position_embeddings × d_model` floats), so `1e9` asked for 256 GB and aborted; real models
/// have 512 (OPUS-MT) to 1,024 (BART), and 65,536 × 1,024 floats are 256 MB.
pub const MAX_POSITIONS: usize = 65_536;
/// Fewest positions a config may have: fewer cannot hold one sentence (0 failed every input).
pub const MIN_POSITIONS: usize = 16;

/// `max_position_embeddings` within [`MIN_POSITIONS`]..=[`MAX_POSITIONS`].
pub fn check_position_count(n: usize) -> std::result::Result<(), String> {
    if !(MIN_POSITIONS..=MAX_POSITIONS).contains(&n) {
        return Err(format!("max_position_embeddings {n} is outside {MIN_POSITIONS}..={MAX_POSITIONS}"));
    }
    Ok(())
}

/// Token ids the config names must be in the vocabulary (an `eos_token_id` outside it never ends
/// generation; a `decoder_start_token_id` outside it fails every input).
pub fn check_token_ids(ids: &[(&str, u32)], vocab: usize) -> std::result::Result<(), String> {
    for (name, id) in ids {
        if *id as usize >= vocab {
            return Err(format!("{name} {id} is outside the vocabulary of {vocab}"));
        }
    }
    Ok(())
}

/// A sequence of `upto` tokens must fit the model's position table.
pub fn check_positions(upto: usize, max_positions: usize) -> Result<()> {
    if upto > max_positions {
        candle_core::bail!("sequence of {upto} tokens exceeds the model's {max_positions} positions")
    }
    Ok(())
}

/// The tied token embedding, `(vocab, d)`, from `vb` rooted at `model`: save_pretrained keeps it once,
/// under `shared`; old checkpoints may only have the encoder's copy.
pub fn shared_embedding(model: &VarBuilder, vocab: usize, d: usize) -> Result<Tensor> {
    let name = if model.contains_tensor("shared.weight") { "shared" } else { "encoder.embed_tokens" };
    model.pp(name).get((vocab, d), "weight")
}

/// The output projection: `lm_head.weight` when the config unties it and the checkpoint has one, else
/// the `tied` embedding. `vb` is rooted at the checkpoint's top level.
pub fn output_weight(vb: &VarBuilder, tie_word_embeddings: bool, vocab: usize, d: usize, tied: Tensor) -> Result<Tensor> {
    if !tie_word_embeddings && vb.contains_tensor("lm_head.weight") {
        vb.get((vocab, d), "lm_head.weight")
    } else {
        Ok(tied)
    }
}

/// `final_logits_bias (1, vocab)`, zeros when the checkpoint has none.
pub fn final_logits_bias(vb: &VarBuilder, vocab: usize) -> Result<Tensor> {
    if vb.contains_tensor("final_logits_bias") {
        vb.get((1, vocab), "final_logits_bias")
    } else {
        Tensor::zeros((1, vocab), vb.dtype(), vb.device())
    }
}

/// The encoder layers (`<prefix>.layers.N.*`), applied to already-embedded input.
#[derive(Debug, Clone)]
pub struct EncoderStack {
    layers: Vec<EncoderLayer>,
}

impl EncoderStack {
    /// `vb` points at the stack (e.g. `model.encoder`).
    pub fn load(vb: VarBuilder, dims: &StackDims) -> Result<Self> {
        let layers = (0..dims.layers).map(|i| EncoderLayer::load(vb.pp(format!("layers.{i}")), dims)).collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// See [`Proj::prepare`].
    pub fn prepare_weights(&mut self, q: Quantize) -> Result<()> {
        for l in &mut self.layers {
            l.self_attn.prepare_weights(q)?;
            l.ffn.prepare_weights(q)?;
        }
        Ok(())
    }

    /// `h (b, s, d)` embedded input, `bias` from [`padding_bias`].
    pub fn forward(&self, h: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let mut h = h.clone();
        for layer in &self.layers {
            h = layer.forward(&h, bias)?;
        }
        Ok(h)
    }
}

/// The decoder layers (`<prefix>.layers.N.*`), one step at a time over a [`DecoderState`].
#[derive(Debug, Clone)]
pub struct DecoderStack {
    layers: Vec<DecoderLayer>,
    dtype: DType,
}

impl DecoderStack {
    /// `vb` points at the stack (e.g. `model.decoder`).
    pub fn load(vb: VarBuilder, dims: &StackDims) -> Result<Self> {
        let layers = (0..dims.layers).map(|i| DecoderLayer::load(vb.pp(format!("layers.{i}")), dims)).collect::<Result<_>>()?;
        Ok(Self { layers, dtype: vb.dtype() })
    }

    /// See [`Proj::prepare`].
    pub fn prepare_weights(&mut self, q: Quantize) -> Result<()> {
        for l in &mut self.layers {
            l.self_attn.prepare_weights(q)?;
            l.encoder_attn.prepare_weights(q)?;
            l.ffn.prepare_weights(q)?;
        }
        Ok(())
    }

    /// A fresh state over encoder output: cross-attention K/V are computed here, once per batch.
    /// `rows` selects (and may repeat) encoder rows, e.g. `[0,0,0,0,1,1,1,1]` for 4 beams of 2 sentences.
    pub fn start(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: Option<&Tensor>) -> Result<DecoderState> {
        let mut cross_kv = self.layers.iter().map(|layer| layer.encoder_attn.project_kv(encoder_out)).collect::<Result<Vec<_>>>()?;
        let mut cross_bias = padding_bias(attention_mask, self.dtype)?;
        let sentences = encoder_out.dim(0)?;
        let cross_rows = if encoder_out.device().is_cpu() && encoder_out.dtype() == DType::F32 {
            let map: Vec<u32> = match rows {
                Some(rows) => rows.to_vec1()?,
                None => (0..sentences as u32).collect(),
            };
            if let Some(&bad) = map.iter().find(|&&r| r as usize >= sentences) {
                candle_core::bail!("decoder start: row {bad} of {sentences} encoder rows")
            }
            Some(map)
        } else {
            if let Some(rows) = rows {
                for kv in cross_kv.iter_mut() {
                    *kv = (kv.0.index_select(rows, 0)?, kv.1.index_select(rows, 0)?);
                }
                cross_bias = cross_bias.index_select(rows, 0)?;
            }
            None
        };
        Ok(DecoderState { self_kv: vec![SelfKv::Empty; self.layers.len()], cross_kv, cross_bias, cross_rows, position: 0 })
    }

    /// Run the layers over `h (rows, t, d)`, the embedded tokens at positions `state.position..+t`;
    /// returns the hidden state of the last position, `(rows, d)`, and advances the state.
    pub fn forward_last(&self, h: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        let (_, t, _) = h.dims3()?;
        let past = state.position;
        let causal = if t > 1 { Some(causal_bias(t, past, self.dtype, h.device())?) } else { None };
        let mut h = h.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let (k, v) = layer.self_attn.project_kv(&h)?;
            if matches!(state.self_kv[i], SelfKv::Empty) && k.device().is_cpu() && k.dtype() == DType::F32 {
                let (rows, heads, _, head_dim) = k.dims4()?;
                state.self_kv[i] = SelfKv::Host(HostKvCache::new(rows, heads, head_dim));
            }
            let a = match &mut state.self_kv[i] {
                SelfKv::Host(cache) => {
                    cache.append(&k, &v)?;
                    if t == 1 {
                        layer.self_attn.attend_cached(&h, cache)?
                    } else {
                        let (k, v) = cache.to_tensors(h.device())?;
                        layer.self_attn.attend(&h, &k, &v, causal.as_ref())?
                    }
                }
                slot => {
                    let (k, v) = match slot {
                        SelfKv::Tensors(pk, pv) => (Tensor::cat(&[&*pk, &k], 2)?, Tensor::cat(&[&*pv, &v], 2)?),
                        _ => (k, v),
                    };
                    let a = layer.self_attn.attend(&h, &k, &v, causal.as_ref())?;
                    *slot = SelfKv::Tensors(k, v);
                    a
                }
            };
            h = layer.self_attn_layer_norm.forward(&(&h + a)?)?;
            let (ck, cv) = &state.cross_kv[i];
            let c = layer.encoder_attn.attend_rows(&h, ck, cv, Some(&state.cross_bias), state.cross_rows.as_deref())?;
            h = layer.encoder_attn_layer_norm.forward(&(&h + c)?)?;
            h = layer.final_layer_norm.forward(&(&h + layer.ffn.forward(&h)?)?)?;
        }
        state.position += t;
        h.i((.., t - 1, ..))
    }
}

impl DecoderCache for DecoderState {
    fn select_rows(&mut self, idx: &Tensor) -> Result<()> {
        DecoderState::select_rows(self, idx)
    }
    fn reorder_beams(&mut self, idx: &Tensor) -> Result<()> {
        self.reorder_self_cache(idx)
    }
}
