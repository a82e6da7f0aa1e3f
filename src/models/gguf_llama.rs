//! Llama-family decoders from one GGUF file, for the CPU: `llama` (SmolLM2, Llama 2/3, Mistral) and
//! `qwen2` (Qwen2, Qwen2.5). The maths of candle-transformers' `quantized_llama` / `quantized_qwen2` (RMSNorm,
//! RoPE, grouped-query attention, SwiGLU), in their shape (`Config` from the file's own metadata,
//! `ModelWeights::from_gguf`, `forward(tokens, position)`), with these changes for speed on the CPU:
//! - linear layers run on [`crate::kernels::ggml_blocks`]'s kernels (candle has only scalar code for the Q4_1
//!   and Q5_0 blocks these models use), q/k/v and gate/up each fused into one layer where they share a
//!   block type, so the input is quantized once and the pool is woken once;
//! - the token embedding stays in its blocks and only the looked-up rows are dequantized (candle
//!   dequantizes the whole table: 544 MB of f32 for Qwen2.5-0.5B's 151936 × 896), and a tied output
//!   projection reads the same blocks;
//! - the KV cache is kept in f16 on the host, one growing `[position][head_dim]` vector per K/V head
//!   (appended in place; candle concatenates the whole cache every token), and decoding attends
//!   straight from it: the query heads that share a K/V head read its rows together, positions are
//!   split into chunks over the thread pool and merged with their maxima (flash-decoding). Prompt
//!   rows take the same path, so a row's arithmetic never depends on the rows processed with it and
//!   a cached prompt prefix can be reused at any token (`models/llm.rs`, `process_prompt`).
//!
//! Checked against llama.cpp token for token on the real SmolLM2 and Qwen2.5 files (tests/llm.rs).
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Module, Result, Tensor};

use crate::kernels::decode_attention::{attend_cached, HeadDims, HeadKvCache};
use crate::kernels::ggml_blocks::{BlockKind, BlockMatrix, GgufLinear};

/// The hyper-parameters of a llama-family GGUF, read from its metadata (`{arch}.*` keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub architecture: String,
    pub n_layer: usize,
    pub hidden: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_freq_base: f32,
    /// Qwen2 rotates the halves of each head (GPT-NeoX); llama GGUFs rotate adjacent pairs.
    pub rope_neox: bool,
    pub context_length: usize,
}

impl Config {
    /// The architectures this file implements.
    pub const ARCHITECTURES: [&'static str; 2] = ["llama", "qwen2"];

    /// Whether this file implements the model of a GGUF whose `general.architecture` is `arch`: llama
    /// (but not mixture-of-experts llama) or qwen2. The loader routes on this; [`Config::from_gguf`]
    /// refuses the rest with the reason.
    pub fn implements(ct: &gguf_file::Content, arch: &str) -> bool {
        Self::ARCHITECTURES.contains(&arch) && !Self::is_moe(ct, arch)
    }

    fn is_moe(ct: &gguf_file::Content, arch: &str) -> bool {
        arch == "llama" && ct.metadata.get("llama.expert_count").and_then(|v| v.to_u32().ok()).unwrap_or(0) > 1
    }

    pub fn from_gguf(ct: &gguf_file::Content) -> Result<Self> {
        let get = |key: &str| ct.metadata.get(key).ok_or_else(|| candle_core::Error::Msg(format!("GGUF metadata lacks {key}")));
        let architecture = get("general.architecture")?.to_string()?.clone();
        if !Self::ARCHITECTURES.contains(&architecture.as_str()) {
            candle_core::bail!("architecture '{architecture}' is not a llama-family model this file implements")
        }
        let a = architecture.as_str();
        let u = |key: &str| -> Result<usize> { Ok(get(&format!("{a}.{key}"))?.to_u32()? as usize) };
        let (n_head, hidden) = (u("attention.head_count")?, u("embedding_length")?);
        if n_head == 0 || hidden % n_head != 0 {
            candle_core::bail!("{hidden} embedding values do not split into {n_head} heads")
        }
        let head_dim = hidden / n_head;
        let n_kv_head = u("attention.head_count_kv").unwrap_or(n_head);
        if n_kv_head == 0 || n_head % n_kv_head != 0 {
            candle_core::bail!("{n_head} query heads do not group over {n_kv_head} key/value heads")
        }
        if let Ok(rope_dim) = u("rope.dimension_count") {
            if rope_dim != head_dim {
                candle_core::bail!("partial rotary embeddings ({rope_dim} of {head_dim} per head) are not supported")
            }
        }
        if Self::is_moe(ct, a) {
            candle_core::bail!("mixture-of-experts llama models are not implemented here")
        }
        Ok(Self {
            n_layer: u("block_count")?,
            hidden,
            n_head,
            n_kv_head,
            head_dim,
            rms_norm_eps: get(&format!("{a}.attention.layer_norm_rms_epsilon"))?.to_f32()? as f64,
            rope_freq_base: get(&format!("{a}.rope.freq_base")).and_then(|v| v.to_f32()).unwrap_or(10_000.0),
            rope_neox: a == "qwen2",
            context_length: u("context_length").unwrap_or(4096),
            architecture,
        })
    }
}

/// Linear layers that read the same input: one fused layer whose output is split, or the layers apart.
#[derive(Debug)]
enum Parallel {
    Fused { layer: GgufLinear, widths: Vec<usize> },
    Apart(Vec<GgufLinear>),
}

impl Parallel {
    fn new(parts: Vec<GgufLinear>) -> Self {
        let refs: Vec<&GgufLinear> = parts.iter().collect();
        match (GgufLinear::fused(&refs), parts.iter().map(|p| p.out_features()).collect::<Option<Vec<_>>>()) {
            (Some(layer), Some(widths)) => Parallel::Fused { layer, widths },
            _ => Parallel::Apart(parts),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Parallel::Fused { layer, widths } => {
                let y = layer.forward(x)?;
                let last = y.rank() - 1;
                let mut start = 0;
                widths
                    .iter()
                    .map(|&w| {
                        let part = y.narrow(last, start, w);
                        start += w;
                        part
                    })
                    .collect()
            }
            Parallel::Apart(parts) => parts.iter().map(|p| p.forward(x)).collect(),
        }
    }
}

/// Token embeddings: GGML blocks dequantized row by row on lookup, or a dense table.
#[derive(Debug)]
enum Embedding {
    Blocks(Arc<BlockMatrix>),
    Dense(Tensor),
}

impl Embedding {
    /// `(1, seq)` token ids → `(1, seq, hidden)`.
    fn forward(&self, ids: &Tensor, hidden: usize, device: &Device) -> Result<Tensor> {
        match self {
            Embedding::Blocks(m) => {
                let ids = ids.flatten_all()?.to_vec1::<u32>()?;
                let mut out = vec![0f32; ids.len() * hidden];
                for (&id, row) in ids.iter().zip(out.chunks_exact_mut(hidden)) {
                    if id as usize >= m.rows() {
                        candle_core::bail!("token id {id} is outside the vocabulary of {}", m.rows())
                    }
                    m.dequantize_row(id as usize, row);
                }
                Tensor::from_vec(out, (1, ids.len(), hidden), device)
            }
            Embedding::Dense(t) => {
                let (b, s) = ids.dims2()?;
                t.index_select(&ids.flatten_all()?, 0)?.reshape((b, s, hidden))
            }
        }
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Tensor,
    qkv: Parallel,
    /// q, k, v biases (Qwen2)
    qkv_bias: Option<[Vec<f32>; 3]>,
    attn_output: GgufLinear,
    ffn_norm: Tensor,
    gate_up: Parallel,
    down: GgufLinear,
    kv: HeadKvCache,
}

#[derive(Debug)]
pub struct ModelWeights {
    cfg: Config,
    embedding: Embedding,
    layers: Vec<Layer>,
    output_norm: Tensor,
    output: GgufLinear,
    /// RoPE angles, `context × head_dim / 2`
    cos: Vec<f32>,
    sin: Vec<f32>,
    device: Device,
}

impl ModelWeights {
    /// All tensors read into memory from `reader`.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(ct: gguf_file::Content, reader: &mut R, device: &Device) -> Result<Self> {
        Self::load(ct, reader, None, device)
    }

    /// Block tensors that are used as the file stores them (every kind but the Q5_0 of linear layers,
    /// which are re-laid as Q8_0) read in place from a memory map of `file`; the rest read from it.
    /// Weights then take no memory beyond the file's pages, which the kernel shares with the page
    /// cache, and an embedding table costs only the rows looked up. On CPUs with AVX-512 the linear
    /// layers (Q5_K ones aside) and a tied embedding are copies with their rows interleaved
    /// ([`BlockMatrix::interleaved`]), whose file pages are released once copied. The file must not
    /// change while the model is loaded (as with llama.cpp's default `mmap`).
    pub fn from_gguf_mapped(ct: gguf_file::Content, file: &mut std::fs::File, device: &Device) -> Result<Self> {
        if !device.is_cpu() {
            return Self::load(ct, file, None, device);
        }
        // SAFETY: the map is read-only; the GGUF file is not written while a model reads it (see above).
        let map = Arc::new(unsafe { memmap2::Mmap::map(&*file) }.map_err(|e| candle_core::Error::Msg(format!("mapping the GGUF file: {e}")))?);
        Self::load(ct, file, Some(map), device)
    }

    fn load<R: std::io::Seek + std::io::Read>(ct: gguf_file::Content, reader: &mut R, map: Option<Arc<memmap2::Mmap>>, device: &Device) -> Result<Self> {
        let cfg = Config::from_gguf(&ct)?;
        // A block matrix of `name` in place in the map, when there is a map and the tensor is one.
        let mapped = |name: &str| -> Result<Option<BlockMatrix>> {
            let (Some(map), Some(info)) = (&map, ct.tensor_infos.get(name)) else { return Ok(None) };
            let Some(kind) = BlockKind::of(info.ggml_dtype) else { return Ok(None) };
            let (n, k) = info.shape.dims2()?;
            let start = usize::try_from(ct.tensor_data_offset.saturating_add(info.offset)).map_err(|_| candle_core::Error::Msg(format!("{name}: offset beyond this machine's address space")))?;
            BlockMatrix::from_mapped(kind, n, k, map.clone(), start).map(Some).map_err(|e| candle_core::Error::Msg(format!("{name}: {e}")))
        };
        let mut tensor = |name: &str| ct.tensor(reader, name, device);
        let dense = |t: candle_core::quantized::QTensor| t.dequantize(device);
        // A linear layer: mapped unless its blocks are re-laid (Q5_0), then read; either way
        // interleaved where that pays (`GgufLinear::from_matrix`).
        let keeps_blocks = |name: &str| ct.tensor_infos.get(name).and_then(|i| BlockKind::of(i.ggml_dtype)).is_some_and(|k| k != BlockKind::Q5_0);
        let linear = |name: &str, tensor: &mut dyn FnMut(&str) -> Result<candle_core::quantized::QTensor>| -> Result<GgufLinear> {
            if keeps_blocks(name) {
                if let Some(m) = mapped(name)? {
                    return Ok(GgufLinear::from_matrix(m));
                }
            }
            GgufLinear::new(tensor(name)?, device)
        };

        let embd = match (device.is_cpu(), mapped("token_embd.weight")?) {
            (true, Some(m)) => Some(m),
            (true, None) => BlockMatrix::from_qtensor(&tensor("token_embd.weight")?)?,
            (false, _) => None,
        };
        let has_output = ct.tensor_infos.contains_key("output.weight");
        let (embedding, tied) = match embd {
            Some(m) => {
                let m = if has_output {
                    // looked up a row at a time: only the rows a prompt uses need to stay resident
                    m.release_mapped_pages();
                    m
                } else {
                    // also the output layer, read whole every token: interleaved where that pays
                    // (lookups read the interleaved rows, same values)
                    m.interleaved()
                };
                let m = Arc::new(m);
                (Embedding::Blocks(m.clone()), Some(GgufLinear::from_shared(m)))
            }
            None => (Embedding::Dense(dense(tensor("token_embd.weight")?)?), None),
        };
        let output = match (has_output, tied) {
            (true, _) => linear("output.weight", &mut tensor)?,
            (false, Some(t)) => t,
            (false, None) => GgufLinear::new(tensor("token_embd.weight")?, device)?,
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let name = |n: &str| format!("blk.{i}.{n}");
            let mut lin = |n: &str| linear(&name(n), &mut tensor);
            let qkv = Parallel::new(vec![lin("attn_q.weight")?, lin("attn_k.weight")?, lin("attn_v.weight")?]);
            let attn_output = lin("attn_output.weight")?;
            let gate_up = Parallel::new(vec![lin("ffn_gate.weight")?, lin("ffn_up.weight")?]);
            let down = lin("ffn_down.weight")?;
            let mut t = |n: &str| tensor(&name(n));
            let qkv_bias = if cfg.architecture == "qwen2" { Some([host(&dense(t("attn_q.bias")?)?)?, host(&dense(t("attn_k.bias")?)?)?, host(&dense(t("attn_v.bias")?)?)?]) } else { None };
            layers.push(Layer {
                attn_norm: dense(t("attn_norm.weight")?)?,
                qkv,
                qkv_bias,
                attn_output,
                ffn_norm: dense(t("ffn_norm.weight")?)?,
                gate_up,
                down,
                kv: HeadKvCache::default(),
            });
        }
        let output_norm = dense(tensor("output_norm.weight")?)?;
        let (cos, sin) = rope_tables(&cfg);
        Ok(Self { cfg, embedding, layers, output_norm, output, cos, sin, device: device.clone() })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Forget the cached keys and values (a new conversation).
    pub fn clear_kv_cache(&mut self) {
        for l in &mut self.layers {
            l.kv = HeadKvCache::default();
        }
    }

    /// Keep the keys and values of the first `positions` positions only, so that a prompt sharing that
    /// prefix with the previous one continues from it.
    pub fn truncate_kv_cache(&mut self, positions: usize) {
        let hd = self.cfg.head_dim;
        for l in &mut self.layers {
            l.kv.truncate(positions, hd);
        }
    }

    /// The KV cache, taken out (an empty one left in its place), to be kept aside and put back with
    /// [`restore_kv_cache`](Self::restore_kv_cache).
    pub fn take_kv_cache(&mut self) -> Vec<HeadKvCache> {
        self.layers.iter_mut().map(|l| std::mem::take(&mut l.kv)).collect()
    }

    /// Put back a cache from [`take_kv_cache`](Self::take_kv_cache) (or a copy of its prefix).
    pub fn restore_kv_cache(&mut self, kv: Vec<HeadKvCache>) {
        for (l, kv) in self.layers.iter_mut().zip(kv) {
            l.kv = kv;
        }
    }

    /// A copy of the first `positions` positions of a cache taken out with [`take_kv_cache`](Self::take_kv_cache).
    pub fn kv_cache_prefix(&self, kv: &[HeadKvCache], positions: usize) -> Vec<HeadKvCache> {
        kv.iter().map(|l| l.prefix(positions, self.cfg.head_dim)).collect()
    }

    /// Room for `positions` more positions in each layer of a cache taken out.
    pub fn reserve_kv_cache(&self, kv: &mut [HeadKvCache], positions: usize) {
        for l in kv {
            l.reserve(positions, self.cfg.head_dim);
        }
    }

    /// Positions in the KV cache.
    pub fn cached_positions(&self) -> usize {
        self.layers.first().map_or(0, |l| l.kv.len(self.cfg.head_dim))
    }

    /// `tokens (1, seq)` at positions `pos..pos + seq` (after `pos` cached ones) → logits of the last
    /// position, `(1, vocab)`.
    pub fn forward(&mut self, tokens: &Tensor, pos: usize) -> Result<Tensor> {
        self.forward_rows(tokens, pos, false)
    }

    /// As [`forward`](Self::forward), with the logits of every position, `(seq, vocab)` (checking
    /// several drafted tokens at once).
    pub fn forward_all(&mut self, tokens: &Tensor, pos: usize) -> Result<Tensor> {
        self.forward_rows(tokens, pos, true)
    }

    fn forward_rows(&mut self, tokens: &Tensor, pos: usize, all: bool) -> Result<Tensor> {
        let (b, seq) = tokens.dims2()?;
        if b != 1 {
            candle_core::bail!("one sequence at a time (got a batch of {b})")
        }
        if pos + seq > self.cfg.context_length {
            candle_core::bail!("{} positions exceed the model's context of {}", pos + seq, self.cfg.context_length)
        }
        let mut x = self.embedding.forward(tokens, self.cfg.hidden, &self.device)?;
        let cfg = &self.cfg;
        for layer in &mut self.layers {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, cfg.rms_norm_eps as f32)?;
            let a = attention(cfg, layer, &h, (&self.cos, &self.sin), pos)?;
            x = (x + a)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, cfg.rms_norm_eps as f32)?;
            let gu = layer.gate_up.forward(&h)?;
            let m = layer.down.forward(&(candle_nn::ops::silu(&gu[0])? * &gu[1])?)?;
            x = (x + m)?;
        }
        let rows = if all { x.squeeze(0)? } else { x.narrow(1, seq - 1, 1)?.squeeze(1)? };
        let rows = candle_nn::ops::rms_norm(&rows, &self.output_norm, cfg.rms_norm_eps as f32)?;
        self.output.forward(&rows)
    }

    /// Whether every linear layer, the output included, runs vertolk's block kernels, whose rows never
    /// depend on the rows beside them. A layer left to candle (F16/F32 weights, kinds without a kernel)
    /// may take another path for one row than for several (its GEMM's matrix-vector case), so
    /// [`forward_sequences`](Self::forward_sequences) would not give each row a one-row step's bits.
    pub fn rows_are_independent(&self) -> bool {
        let parallel = |p: &Parallel| match p {
            Parallel::Fused { layer, .. } => layer.is_blocks(),
            Parallel::Apart(parts) => parts.iter().all(GgufLinear::is_blocks),
        };
        self.output.is_blocks() && self.layers.iter().all(|l| parallel(&l.qkv) && parallel(&l.gate_up) && l.attn_output.is_blocks() && l.down.is_blocks())
    }

    /// One decoding step of several sequences together: `tokens[i]` at position `positions[i]` of the
    /// sequence whose cache (one per layer, as [`take_kv_cache`](Self::take_kv_cache) hands out) is
    /// `caches[i]`, which gains that position → logits `(n, vocab)`. The weights are read once for
    /// all the rows. Each row's arithmetic is its own (norms, attention and, inside
    /// [`with_decoding_kernels`](crate::kernels::ggml_blocks::with_decoding_kernels), the block
    /// products), so row i's logits are, bit for bit, those [`forward`](Self::forward) gives that
    /// sequence alone.
    pub fn forward_sequences(&self, tokens: &[u32], positions: &[usize], caches: &mut [Vec<HeadKvCache>]) -> Result<Tensor> {
        let n = tokens.len();
        if n == 0 || positions.len() != n || caches.len() != n {
            candle_core::bail!("{n} tokens, {} positions and {} caches: one of each per sequence", positions.len(), caches.len())
        }
        let hd = self.cfg.head_dim;
        for (&pos, kv) in positions.iter().zip(caches.iter()) {
            if kv.len() != self.layers.len() || kv.iter().any(|l| l.len(hd) != pos) {
                candle_core::bail!("a sequence's cache does not hold its {pos} positions in each of {} layers", self.layers.len())
            }
            if pos + 1 > self.cfg.context_length {
                candle_core::bail!("{} positions exceed the model's context of {}", pos + 1, self.cfg.context_length)
            }
        }
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mut x = self.embedding.forward(&ids, self.cfg.hidden, &self.device)?;
        let cfg = &self.cfg;
        for (index, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, cfg.rms_norm_eps as f32)?;
            let a = attention_of_sequences(cfg, layer, index, &h, (&self.cos, &self.sin), positions, caches)?;
            x = (x + a)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, cfg.rms_norm_eps as f32)?;
            let gu = layer.gate_up.forward(&h)?;
            let m = layer.down.forward(&(candle_nn::ops::silu(&gu[0])? * &gu[1])?)?;
            x = (x + m)?;
        }
        let rows = candle_nn::ops::rms_norm(&x.squeeze(0)?, &self.output_norm, cfg.rms_norm_eps as f32)?;
        self.output.forward(&rows)
    }
}

/// The rows of `t` as one host vector (fused projections hand out narrowed views).
fn host(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// The q, k and v rows of `h`, biases added (Qwen2).
fn project_qkv(layer: &Layer, h: &Tensor) -> Result<[Vec<f32>; 3]> {
    let qkv = layer.qkv.forward(h)?;
    let (mut q, mut k, mut v) = (host(&qkv[0])?, host(&qkv[1])?, host(&qkv[2])?);
    if let Some([bq, bk, bv]) = &layer.qkv_bias {
        for (x, b) in [(&mut q, bq), (&mut k, bk), (&mut v, bv)] {
            for row in x.chunks_exact_mut(b.len()) {
                for (x, b) in row.iter_mut().zip(b) {
                    *x += b;
                }
            }
        }
    }
    Ok([q, k, v])
}

fn attention(cfg: &Config, layer: &mut Layer, h: &Tensor, rope: (&[f32], &[f32]), pos: usize) -> Result<Tensor> {
    let (_, seq, _) = h.dims3()?;
    let (hd, nh, nkv) = (cfg.head_dim, cfg.n_head, cfg.n_kv_head);
    let [mut q, mut k, v] = project_qkv(layer, h)?;
    rope_rows(cfg, &mut q, nh, pos, rope);
    rope_rows(cfg, &mut k, nkv, pos, rope);
    layer.kv.append(&k, &v, nkv, hd);
    // Every row, prompt or decoding, attends straight from the cache with the same arithmetic, so a
    // row's output does not depend on which other rows share its chunk: a prompt continued from a
    // cached prefix gives the logits a fresh run gives, bit for bit (see `process_prompt`).
    let y = attend_cached(&q, &layer.kv, seq, pos, HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd });
    let y = Tensor::from_vec(y, (1, seq, nh * hd), h.device())?;
    layer.attn_output.forward(&y)
}

/// [`attention`] for rows of different sequences: row i is the token at `positions[i]` of the
/// sequence whose keys and values for this layer are `caches[i][layer]`.
fn attention_of_sequences(cfg: &Config, layer: &Layer, index: usize, h: &Tensor, rope: (&[f32], &[f32]), positions: &[usize], caches: &mut [Vec<HeadKvCache>]) -> Result<Tensor> {
    let (hd, nh, nkv) = (cfg.head_dim, cfg.n_head, cfg.n_kv_head);
    let [mut q, mut k, v] = project_qkv(layer, h)?;
    let mut y = Vec::with_capacity(q.len());
    let rows = q.chunks_exact_mut(nh * hd).zip(k.chunks_exact_mut(nkv * hd)).zip(v.chunks_exact(nkv * hd));
    for (((q, k), v), (&pos, kv)) in rows.zip(positions.iter().zip(caches.iter_mut())) {
        rope_rows(cfg, q, nh, pos, rope);
        rope_rows(cfg, k, nkv, pos, rope);
        let kv = &mut kv[index];
        kv.append(k, v, nkv, hd);
        y.extend(attend_cached(q, kv, 1, pos, HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd }));
    }
    let y = Tensor::from_vec(y, (1, positions.len(), nh * hd), h.device())?;
    layer.attn_output.forward(&y)
}

/// Rotate each head of `x` (`seq × heads × head_dim`, row i at position `pos + i`) exactly as candle's
/// `rope` (halves, NeoX style) or `rope_i` (adjacent pairs) do.
fn rope_rows(cfg: &Config, x: &mut [f32], heads: usize, pos: usize, (cos, sin): (&[f32], &[f32])) {
    let hd = cfg.head_dim;
    let half = hd / 2;
    for (i, row) in x.chunks_exact_mut(heads * hd).enumerate() {
        let (c, s) = (&cos[(pos + i) * half..][..half], &sin[(pos + i) * half..][..half]);
        for head in row.chunks_exact_mut(hd) {
            for j in 0..half {
                let (a, b) = if cfg.rope_neox { (j, j + half) } else { (2 * j, 2 * j + 1) };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c[j] - x1 * s[j];
                head[b] = x0 * s[j] + x1 * c[j];
            }
        }
    }
}

/// cos and sin of `position · base^(−2j/head_dim)`, `context × head_dim / 2` each, as candle computes them.
fn rope_tables(cfg: &Config) -> (Vec<f32>, Vec<f32>) {
    let theta: Vec<f32> = (0..cfg.head_dim).step_by(2).map(|i| 1f32 / cfg.rope_freq_base.powf(i as f32 / cfg.head_dim as f32)).collect();
    let freqs: Vec<f32> = (0..cfg.context_length).flat_map(|p| theta.iter().map(move |t| p as f32 * t)).collect();
    (freqs.iter().map(|f| f.cos()).collect(), freqs.iter().map(|f| f.sin()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values as values;

    fn config(n_head: usize, n_kv_head: usize, head_dim: usize) -> Config {
        Config {
            architecture: "llama".into(),
            n_layer: 1,
            hidden: n_head * head_dim,
            n_head,
            n_kv_head,
            head_dim,
            rms_norm_eps: 1e-6,
            rope_freq_base: 10_000.0,
            rope_neox: false,
            context_length: 4096,
        }
    }

    /// RoPE on host rows equals candle's `rope_i` / `rope` on the same values, bit for bit.
    #[test]
    fn rope_matches_candle() {
        for neox in [false, true] {
            let mut cfg = config(2, 1, 8);
            cfg.rope_neox = neox;
            let (cos, sin) = rope_tables(&cfg);
            let (pos, seq, heads, hd) = (5usize, 3usize, 2usize, 8usize);
            let x = values(seq * heads * hd, 4);
            let mut ours = x.clone();
            rope_rows(&cfg, &mut ours, heads, pos, (&cos, &sin));
            let t = Tensor::from_vec(x, (1, seq, heads, hd), &Device::Cpu).unwrap().transpose(1, 2).unwrap().contiguous().unwrap();
            let c = Tensor::from_slice(&cos[pos * hd / 2..(pos + seq) * hd / 2], (seq, hd / 2), &Device::Cpu).unwrap();
            let s = Tensor::from_slice(&sin[pos * hd / 2..(pos + seq) * hd / 2], (seq, hd / 2), &Device::Cpu).unwrap();
            let r = if neox { candle_nn::rotary_emb::rope(&t, &c, &s) } else { candle_nn::rotary_emb::rope_i(&t, &c, &s) }.unwrap();
            let theirs = r.transpose(1, 2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(ours, theirs, "neox {neox}");
        }
    }
}
