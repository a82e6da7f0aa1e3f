//! `y = x·Wᵀ` for GGUF weights kept in GGML's blocks, and token-embedding lookups from the same blocks.
//!
//! Why: candle 0.11 has SIMD code for Q8_0 and the K-quants but only scalar code for Q4_1 and Q5_0 on
//! x86, and those two are what the catalogue's LLMs use (SmolLM2-135M Q4_1; Qwen2.5-0.5B Q4_K_M, whose
//! 896-wide rows fall back to Q5_0 for everything but `ffn_down`). The scalar dot product was 83 % of
//! both models' decoding profiles. Here Q4_1, Q5_0 and Q8_0 rows are multiplied by AVX2 ports of ggml's
//! `ggml_vec_dot_q4_1_q8_1`, `q5_0_q8_0` and `q8_0_q8_0`, with the activations quantized per 32 values
//! the way llama.cpp does (scale `max|x|/127`, stored as f16; Q8_1 adds `d·Σq` for Q4_1's offset), so
//! the numbers are llama.cpp's up to the order of float additions.
//!
//! Work: one weight row against up to [`MR`] activation rows per pass (a prompt chunk unpacks each
//! weight block once per 4 rows), rows of the output split over the rayon pool, activation rows taken
//! in blocks of [`MB`] so they stay in L2 while the weights stream past. Weight rows of layers that read
//! the same input (q/k/v, gate/up) can be concatenated into one layer ([`GgufLinear::fused`]), which
//! quantizes the input once and hands one job to the pool instead of three.
//!
//! Linear layers hold Q5_0 weights as Q8_0 blocks of the same values ([`BlockMatrix::unpacked`]);
//! token embeddings keep the compact blocks. Other block types and other devices use candle's `QMatMul`.
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Result, Shape, Tensor};
use half::f16;
use std::sync::Arc;

use super::packed_linear::{for_panel_ranges, linear_cpu_fwd, OutPtr};

/// Values per block (all three formats).
const QK: usize = 32;
/// Activation rows per pass over a weight row.
const MR: usize = 4;
/// Activation rows per cache block (a multiple of `MR`).
const MB: usize = 64;
/// Weight rows per unit of work handed to a thread.
const ROWS_PER_PANEL: usize = 16;

/// The GGML block formats with a kernel here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// f16 `d`, f16 `m`, 16 bytes of nibbles: `w = d·q + m`, q in 0..16.
    Q4_1,
    /// f16 `d`, 32 high bits, 16 bytes of nibbles: `w = d·(q − 16)`, q in 0..32.
    Q5_0,
    /// f16 `d`, 32 signed bytes: `w = d·q`.
    Q8_0,
}

impl BlockKind {
    pub fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q4_1 => Some(Self::Q4_1),
            GgmlDType::Q5_0 => Some(Self::Q5_0),
            GgmlDType::Q8_0 => Some(Self::Q8_0),
            _ => None,
        }
    }

    pub const fn block_bytes(self) -> usize {
        match self {
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q8_0 => 34,
        }
    }
}

/// An `n × k` matrix in GGML blocks, rows contiguous, exactly as stored in the GGUF file.
pub struct BlockMatrix {
    kind: BlockKind,
    n: usize,
    k: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for BlockMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockMatrix({:?}, {}x{})", self.kind, self.n, self.k)
    }
}

#[inline(always)]
fn read_f16(p: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([p[at], p[at + 1]])).to_f32()
}

impl BlockMatrix {
    /// The raw blocks of a 2-D `(n, k)` tensor of one of the [`BlockKind`]s; `None` for other block types.
    pub fn from_qtensor(t: &QTensor) -> Result<Option<Self>> {
        let Some(kind) = BlockKind::of(t.dtype()) else { return Ok(None) };
        let (n, k) = t.shape().dims2()?;
        Self::from_raw(kind, n, k, t.data()?.into_owned()).map(Some)
    }

    /// `n` rows of `k` values, `data` in the GGUF block layout of `kind`.
    pub fn from_raw(kind: BlockKind, n: usize, k: usize, data: Vec<u8>) -> Result<Self> {
        if k % QK != 0 {
            candle_core::bail!("{kind:?} tensor ({n}x{k}): rows are not whole blocks of {QK}")
        }
        if data.len() != n * (k / QK) * kind.block_bytes() {
            candle_core::bail!("{kind:?} tensor ({n}x{k}): {} bytes of blocks, expected {}", data.len(), n * (k / QK) * kind.block_bytes())
        }
        let m = Self { kind, n, k, data };
        // A non-finite block scale would silently poison every output that reads it: refuse at load.
        let bb = kind.block_bytes();
        let bad_scale = m.data.chunks_exact(bb).any(|b| !read_f16(b, 0).is_finite() || (kind == BlockKind::Q4_1 && !read_f16(b, 2).is_finite()));
        if bad_scale {
            candle_core::bail!("{kind:?} tensor ({n}x{k}) holds a non-finite block scale")
        }
        Ok(m)
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn cols(&self) -> usize {
        self.k
    }

    fn row_bytes(&self) -> usize {
        self.k / QK * self.kind.block_bytes()
    }

    fn row(&self, j: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.data[j * rb..(j + 1) * rb]
    }

    /// Row `j` as floats (an embedding lookup).
    pub fn dequantize_row(&self, j: usize, out: &mut [f32]) {
        let bb = self.kind.block_bytes();
        for (blk, out) in self.row(j).chunks_exact(bb).zip(out.chunks_exact_mut(QK)) {
            let d = read_f16(blk, 0);
            match self.kind {
                BlockKind::Q4_1 => {
                    let m = read_f16(blk, 2);
                    for i in 0..QK / 2 {
                        let q = blk[4 + i];
                        out[i] = (q & 0xF) as f32 * d + m;
                        out[i + QK / 2] = (q >> 4) as f32 * d + m;
                    }
                }
                BlockKind::Q5_0 => {
                    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                    for i in 0..QK / 2 {
                        let q = blk[6 + i];
                        let lo = (q & 0xF) as i32 | ((((qh >> i) & 1) as i32) << 4);
                        let hi = (q >> 4) as i32 | ((((qh >> (i + 16)) & 1) as i32) << 4);
                        out[i] = (lo - 16) as f32 * d;
                        out[i + QK / 2] = (hi - 16) as f32 * d;
                    }
                }
                BlockKind::Q8_0 => {
                    for i in 0..QK {
                        out[i] = blk[2 + i] as i8 as f32 * d;
                    }
                }
            }
        }
    }

    /// Q5_0 rows re-laid as Q8_0 blocks holding the same values (`q − 16` fits a signed byte, same
    /// scales); other kinds as they are. Unpacking the nibbles and fifth bits at every product held
    /// Q5_0 rows to ~12 multiply-adds per ns on 2 threads, bound by instructions rather than memory;
    /// as Q8_0 they run at the memory-bound speed of Q8_0 rows, 55 % more bytes notwithstanding
    /// (Qwen2.5-0.5B, 900-token context: gate/up 17.7 → 11.0 ms per token, decoding 25.5 → 33.4 tok/s,
    /// peak RSS 768 → 845 MB).
    pub fn unpacked(self) -> Self {
        if self.kind != BlockKind::Q5_0 {
            return self;
        }
        let mut data = Vec::with_capacity(self.data.len() / 22 * 34);
        for blk in self.data.chunks_exact(22) {
            data.extend_from_slice(&blk[..2]);
            let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
            let mut q = [0u8; QK];
            for i in 0..QK / 2 {
                let lo = (blk[6 + i] & 0xF) as i32 | ((((qh >> i) & 1) as i32) << 4);
                let hi = (blk[6 + i] >> 4) as i32 | ((((qh >> (i + 16)) & 1) as i32) << 4);
                q[i] = (lo - 16) as i8 as u8;
                q[i + QK / 2] = (hi - 16) as i8 as u8;
            }
            data.extend_from_slice(&q);
        }
        Self { kind: BlockKind::Q8_0, n: self.n, k: self.k, data }
    }

    /// `x (m × k)` row-major → `m × n`.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let n = self.n;
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        if m == 0 || n == 0 {
            return out;
        }
        let acts = quantize_rows(x, m, self.k);
        let dst = OutPtr(out.as_mut_ptr());
        // SAFETY: `out` has capacity m×n; the panel ranges cover every weight row (output column) once,
        // and each call writes all m rows of its columns.
        for_panel_ranges(n.div_ceil(ROWS_PER_PANEL), m * n * self.k, |panels| unsafe { self.panels_range(&acts, m, panels, dst) });
        // SAFETY: all m×n elements were written.
        unsafe { out.set_len(m * n) };
        out
    }

    unsafe fn panels_range(&self, acts: &[ActBlock], m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        let nb = self.k / QK;
        let j0 = panels.start * ROWS_PER_PANEL;
        let j1 = (panels.end * ROWS_PER_PANEL).min(self.n);
        for rb in (0..m).step_by(MB) {
            let rb_end = (rb + MB).min(m);
            for j in j0..j1 {
                let w = self.row(j);
                let mut r = rb;
                while r < rb_end {
                    let rows = MR.min(rb_end - r);
                    let mut sums = [0f32; MR];
                    let a = |i: usize| &acts[(r + i) * nb..(r + i + 1) * nb];
                    match rows {
                        4 => self.dot::<4>(w, [a(0), a(1), a(2), a(3)], &mut sums),
                        3 => self.dot::<3>(w, [a(0), a(1), a(2)], &mut sums),
                        2 => self.dot::<2>(w, [a(0), a(1)], &mut sums),
                        _ => self.dot::<1>(w, [a(0)], &mut sums),
                    }
                    for (i, s) in sums.iter().enumerate().take(rows) {
                        *dst.0.add((r + i) * self.n + j) = *s;
                    }
                    r += rows;
                }
            }
        }
    }

    #[inline(always)]
    fn dot<const R: usize>(&self, w: &[u8], a: [&[ActBlock]; R], out: &mut [f32; MR]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the features are present; `w` holds `a[i].len()` blocks (checked at load).
                let s = unsafe {
                    match self.kind {
                        BlockKind::Q4_1 => avx2::dot_q4_1::<R>(w, a),
                        BlockKind::Q5_0 => avx2::dot_q5_0::<R>(w, a),
                        BlockKind::Q8_0 => avx2::dot_q8_0::<R>(w, a),
                    }
                };
                out[..R].copy_from_slice(&s);
                return;
            }
        }
        for (i, a) in a.iter().enumerate() {
            out[i] = portable::dot(self.kind, w, a);
        }
    }
}

/// 32 activations quantized to bytes: `x ≈ d·q`, `s = d·Σq` (f16-rounded, as in GGML's Q8_1) and the
/// exact `Σq` (for Q5_0's offset of 16).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(4))]
pub struct ActBlock {
    qs: [i8; QK],
    d: f32,
    s: f32,
    qsum: f32,
}

/// GGML's `quantize_row_q8_1` (which is `q8_0` plus `s`): per 32 values `d = max|x|/127`,
/// `q = round(x/d)` (half away from zero, like `roundf`), `d` and `d·Σq` rounded to f16.
fn quantize_rows(x: &[f32], m: usize, k: usize) -> Vec<ActBlock> {
    let nb = k / QK;
    let mut out = vec![ActBlock { qs: [0; QK], d: 0.0, s: 0.0, qsum: 0.0 }; m * nb];
    for (vals, blk) in x[..m * k].chunks_exact(QK).zip(out.iter_mut()) {
        let amax = vals.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in blk.qs.iter_mut().zip(vals) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        blk.d = f16::from_f32(d).to_f32();
        blk.s = f16::from_f32(d * sum as f32).to_f32();
        blk.qsum = sum as f32;
    }
    out
}

mod portable {
    use super::{read_f16, ActBlock, BlockKind, QK};

    pub(super) fn dot(kind: BlockKind, w: &[u8], a: &[ActBlock]) -> f32 {
        let bb = kind.block_bytes();
        let mut sum = 0f32;
        for (blk, a) in w.chunks_exact(bb).zip(a) {
            let d = read_f16(blk, 0);
            match kind {
                BlockKind::Q4_1 => {
                    let mut si = 0i32;
                    for i in 0..QK / 2 {
                        let q = blk[4 + i];
                        si += (q & 0xF) as i32 * a.qs[i] as i32 + (q >> 4) as i32 * a.qs[i + QK / 2] as i32;
                    }
                    sum += si as f32 * (d * a.d) + read_f16(blk, 2) * a.s;
                }
                BlockKind::Q5_0 => {
                    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                    let mut si = 0i32;
                    for i in 0..QK / 2 {
                        let q = blk[6 + i];
                        let lo = ((q & 0xF) as i32 | ((((qh >> i) & 1) as i32) << 4)) - 16;
                        let hi = ((q >> 4) as i32 | ((((qh >> (i + 16)) & 1) as i32) << 4)) - 16;
                        si += lo * a.qs[i] as i32 + hi * a.qs[i + QK / 2] as i32;
                    }
                    sum += si as f32 * (d * a.d);
                }
                BlockKind::Q8_0 => {
                    let si: i32 = (0..QK).map(|i| blk[2 + i] as i8 as i32 * a.qs[i] as i32).sum();
                    sum += si as f32 * (d * a.d);
                }
            }
        }
        sum
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{read_f16, ActBlock, BlockKind, QK};
    use std::arch::x86_64::*;

    /// 16 bytes of nibbles → 32 bytes: low nibbles (values 0–15) then high nibbles (16–31).
    #[inline(always)]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        let t = _mm_loadu_si128(p as *const __m128i);
        let b = _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(t), _mm_srli_epi16::<4>(t));
        _mm256_and_si256(b, _mm256_set1_epi8(0x0F))
    }

    /// 32 bits → 32 bytes, 0xFF where the bit is set.
    #[inline(always)]
    unsafe fn bits(p: *const u8) -> __m256i {
        let x = u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
        let shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x as i32), shuf);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    /// Σ u·s over 32 unsigned × signed bytes, as 8 float lanes (pairs to i16 cannot saturate: |u| ≤ 127).
    #[inline(always)]
    unsafe fn dot_us(u: __m256i, s: __m256i) -> __m256 {
        let p16 = _mm256_maddubs_epi16(u, s);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    #[inline(always)]
    unsafe fn load_q(a: &ActBlock) -> __m256i {
        _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i)
    }

    /// Sum the two accumulators of each row into its dot product, plus its scalar term.
    #[inline(always)]
    unsafe fn finish<const R: usize>(acc: &[[__m256; 2]; R], scalar: &[f32; R]) -> [f32; R] {
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = hsum(_mm256_add_ps(acc[r][0], acc[r][1])) + scalar[r];
        }
        out
    }

    /// The offset term of a block of unsigned weights `u`: Q4_1's `w = d·u + m` adds `m·Σy` (GGML's `s`),
    /// Q5_0's `w = d·(u − 16)` subtracts `16·d·Σy`.
    #[derive(Clone, Copy)]
    enum Offset {
        Min(f32),
        Sixteen,
    }

    /// Add block `b` (unsigned weights `u`, scale `d`) times each row's activations. Even and odd blocks
    /// go to two accumulators per row, so that a block's multiply-add does not wait for the previous one.
    #[inline(always)]
    unsafe fn add_unsigned_block<const R: usize>(u: __m256i, d: f32, off: Offset, a: &[&[ActBlock]; R], b: usize, acc: &mut [[__m256; 2]; R], offs: &mut [f32; R]) {
        for r in 0..R {
            let y = a[r].get_unchecked(b);
            let dd = d * y.d;
            acc[r][b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(dd), dot_us(u, load_q(y)), acc[r][b & 1]);
            offs[r] += match off {
                Offset::Min(m) => m * y.s,
                Offset::Sixteen => -16.0 * dd * y.qsum,
            };
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_1<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        let (mut acc, mut offs) = ([[_mm256_setzero_ps(); 2]; R], [0f32; R]);
        for (b, blk) in w.chunks_exact(BlockKind::Q4_1.block_bytes()).enumerate() {
            let u = nibbles(blk.as_ptr().add(4));
            add_unsigned_block(u, read_f16(blk, 0), Offset::Min(read_f16(blk, 2)), &a, b, &mut acc, &mut offs);
        }
        finish(&acc, &offs)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q5_0<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        let (mut acc, mut offs) = ([[_mm256_setzero_ps(); 2]; R], [0f32; R]);
        for (b, blk) in w.chunks_exact(BlockKind::Q5_0.block_bytes()).enumerate() {
            // u = q + 16: the nibble, plus 16 where the fifth bit is set
            let hi = _mm256_and_si256(bits(blk.as_ptr().add(2)), _mm256_set1_epi8(0x10));
            let u = _mm256_or_si256(nibbles(blk.as_ptr().add(6)), hi);
            add_unsigned_block(u, read_f16(blk, 0), Offset::Sixteen, &a, b, &mut acc, &mut offs);
        }
        finish(&acc, &offs)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_0<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        const BB: usize = BlockKind::Q8_0.block_bytes();
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for (b, blk) in w.chunks_exact(BB).enumerate() {
            let qx = _mm256_loadu_si256(blk.as_ptr().add(2) as *const __m256i);
            let d = read_f16(blk, 0);
            // signed × signed via the sign trick: |x| · (y·sign x)
            let ax = _mm256_sign_epi8(qx, qx);
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let sy = _mm256_sign_epi8(load_q(y), qx);
                acc[r][b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), dot_us(ax, sy), acc[r][b & 1]);
            }
        }
        finish(&acc, &[0f32; R])
    }

    const _: () = assert!(QK == 32);
}

/// A GGUF linear layer (no bias): GGML blocks run here on the CPU, anything else through candle's `QMatMul`.
#[derive(Clone, Debug)]
pub enum GgufLinear {
    Blocks(Arc<BlockMatrix>),
    Candle(QMatMul),
}

impl GgufLinear {
    pub fn new(t: QTensor, device: &Device) -> Result<Self> {
        if device.is_cpu() {
            if let Some(m) = BlockMatrix::from_qtensor(&t)? {
                return Ok(Self::Blocks(Arc::new(m.unpacked())));
            }
        }
        Ok(Self::Candle(QMatMul::from_qtensor(t)?))
    }

    /// One layer computing all of `parts` (same input width) side by side, when they are all GGML
    /// blocks of one kind on the CPU; `None` otherwise (use them one by one).
    pub fn fused(parts: &[&GgufLinear]) -> Option<Self> {
        let mats = parts.iter().map(|p| if let Self::Blocks(m) = p { Some(&**m) } else { None }).collect::<Option<Vec<_>>>()?;
        let first = mats.first()?;
        if mats.iter().any(|m| m.kind != first.kind || m.k != first.k) {
            return None;
        }
        let data = mats.iter().flat_map(|m| m.data.iter().copied()).collect();
        Some(Self::Blocks(Arc::new(BlockMatrix { kind: first.kind, n: mats.iter().map(|m| m.n).sum(), k: first.k, data })))
    }

    pub fn out_features(&self) -> Option<usize> {
        match self {
            Self::Blocks(m) => Some(m.n),
            Self::Candle(_) => None,
        }
    }
}

impl Module for GgufLinear {
    /// `xs (..., k)` → `(..., n)`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Blocks(_) => xs.contiguous()?.apply_op1_no_bwd(self),
            Self::Candle(q) => q.forward(xs),
        }
    }
}

impl CustomOp1 for GgufLinear {
    fn name(&self) -> &'static str {
        "gguf-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let Self::Blocks(m) = self else { candle_core::bail!("gguf-linear: not a block matrix") };
        linear_cpu_fwd(self.name(), m.k, m.n, storage, layout, |x, rows| m.matmul(x, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values as values;

    fn qtensor(dtype: GgmlDType, n: usize, k: usize, seed: u64) -> QTensor {
        let w = Tensor::from_vec(values(n * k, seed), (n, k), &Device::Cpu).unwrap();
        QTensor::quantize(&w, dtype).unwrap()
    }

    /// Our kernels against the exact product of the dequantized weights and the dequantized quantized
    /// activations (f64), for every kind, for row counts that exercise the 4/3/2/1-row passes and the
    /// row-block edge, and a column count that leaves a ragged last panel: equal up to f32 summation.
    /// Then against candle's own `QMatMul` on the same blocks (it quantizes activations the same way,
    /// but rounds Q8_1's `d·Σq` through f16 differently, hence the looser bound for Q4_1).
    #[test]
    fn matches_exact_product_and_candle_qmatmul() {
        let (n, k) = (37, 128);
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let ours = GgufLinear::new(qtensor(dtype, n, k, 7), &Device::Cpu).unwrap();
            let GgufLinear::Blocks(mat) = &ours else { panic!("{dtype:?} runs on our kernel") };
            let q = qtensor(dtype, n, k, 7);
            let w = q.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            let theirs = QMatMul::from_qtensor(q).unwrap();
            for m in [1usize, 2, 3, 5, 67] {
                let xv = values(m * k, m as u64);
                let x = Tensor::from_vec(xv.clone(), (m, k), &Device::Cpu).unwrap();
                let a = ours.forward(&x).unwrap().to_vec2::<f32>().unwrap();
                let b = theirs.forward(&x).unwrap().to_vec2::<f32>().unwrap();
                let acts = quantize_rows(&xv, m, k);
                if dtype == GgmlDType::Q5_0 {
                    // the compact Q5_0 kernel (used where a tied embedding serves as the output layer)
                    let compact = BlockMatrix::from_qtensor(&qtensor(dtype, n, k, 7)).unwrap().unwrap().matmul(&xv, m);
                    for (c, u) in compact.iter().zip(a.iter().flatten()) {
                        assert!((c - u).abs() <= 1e-5 * (1.0 + u.abs()), "Q5_0 compact {c} vs unpacked {u}");
                    }
                }
                for r in 0..m {
                    let xq: Vec<f64> = acts[r * k / QK..(r + 1) * k / QK].iter().flat_map(|blk| blk.qs.iter().map(move |&q| q as f64 * blk.d as f64)).collect();
                    for j in 0..n {
                        let mut exact: f64 = w[j].iter().zip(&xq).map(|(&w, &x)| w as f64 * x).sum();
                        if mat.kind == BlockKind::Q4_1 {
                            // the offset term uses the f16-rounded d·Σq, as in GGML
                            let deq = |blk: &ActBlock| blk.qs.iter().map(|&q| q as f64).sum::<f64>() * blk.d as f64;
                            let mut row = vec![0f32; k];
                            mat.dequantize_row(j, &mut row);
                            for (bi, blk) in acts[r * k / QK..(r + 1) * k / QK].iter().enumerate() {
                                let off = read_f16(&mat.row(j)[bi * 20..], 2) as f64;
                                exact += off * (blk.s as f64 - deq(blk));
                            }
                        }
                        let got = a[r][j] as f64;
                        assert!((got - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "{dtype:?} m={m} ({r},{j}): {got} vs exact {exact}");
                        let tol = if mat.kind == BlockKind::Q4_1 { 1e-2 } else { 1e-4 };
                        assert!((got - b[r][j] as f64).abs() <= tol * (1.0 + exact.abs()), "{dtype:?} m={m} ({r},{j}): {got} vs candle {}", b[r][j]);
                    }
                }
            }
        }
    }

    /// Exact on values the blocks and the activation quantization represent exactly (small integers
    /// with scale 1, and for Q4_1 an offset): checks nibble order, the fifth bit of Q5_0, the Q4_1
    /// offset term and the portable path, which must equal the SIMD path bit for bit here.
    #[test]
    fn exact_on_integer_blocks() {
        let k = 64;
        // one block row per kind with d = 1 (f16 0x3C00)
        let q4_1 = {
            let mut row = Vec::new();
            for b in 0..2 {
                row.extend_from_slice(&0x3C00u16.to_le_bytes());
                row.extend_from_slice(&f16::from_f32(-3.0).to_bits().to_le_bytes());
                row.extend((0..16u8).map(|i| ((i + b) & 0xF) | (((15 - i) & 0xF) << 4)));
            }
            BlockMatrix::from_raw(BlockKind::Q4_1, 1, k, row).unwrap()
        };
        let q5_0 = {
            let mut row = Vec::new();
            for _ in 0..2 {
                row.extend_from_slice(&0x3C00u16.to_le_bytes());
                row.extend_from_slice(&0xA5F0_0F5Au32.to_le_bytes());
                row.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
            }
            BlockMatrix::from_raw(BlockKind::Q5_0, 1, k, row).unwrap()
        };
        let q8_0 = {
            let mut row = Vec::new();
            for _ in 0..2 {
                row.extend_from_slice(&0x3C00u16.to_le_bytes());
                row.extend((0..32i32).map(|i| (i * 7 - 100) as i8 as u8));
            }
            BlockMatrix::from_raw(BlockKind::Q8_0, 1, k, row).unwrap()
        };
        // activations whose block max is 127 → d = 1, q = x
        let x: Vec<f32> = (0..k).map(|i| if i % 32 == 0 { 127.0 } else { ((i * 13) % 41) as f32 - 20.0 }).collect();
        for w in [q4_1, q5_0, q8_0] {
            let mut deq = vec![0f32; k];
            w.dequantize_row(0, &mut deq);
            let want: f32 = deq.iter().zip(&x).map(|(a, b)| a * b).sum();
            let got = w.matmul(&x, 1)[0];
            assert_eq!(got, want, "{:?}", w.kind);
            let acts = quantize_rows(&x, 1, k);
            assert_eq!(portable::dot(w.kind, w.row(0), &acts), want, "{:?} portable", w.kind);
        }
    }

    #[test]
    fn dequantized_rows_match_candle() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let q = qtensor(dtype, 5, 64, 3);
            let full = q.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            let m = BlockMatrix::from_qtensor(&q).unwrap().unwrap();
            let unpacked = BlockMatrix::from_qtensor(&q).unwrap().unwrap().unpacked();
            let mut row = vec![0f32; 64];
            for (j, want) in full.iter().enumerate() {
                m.dequantize_row(j, &mut row);
                assert_eq!(&row, want, "{dtype:?} row {j}");
                // Q5_0 re-laid as Q8_0 holds exactly the same values
                unpacked.dequantize_row(j, &mut row);
                assert_eq!(&row, want, "{dtype:?} row {j}, unpacked");
            }
        }
    }

    #[test]
    fn fused_layers_equal_separate_ones() {
        let parts: Vec<GgufLinear> = [(8, 1), (3, 2), (5, 3)].iter().map(|&(n, s)| GgufLinear::new(qtensor(GgmlDType::Q5_0, n, 64, s), &Device::Cpu).unwrap()).collect();
        let fused = GgufLinear::fused(&parts.iter().collect::<Vec<_>>()).unwrap();
        let x = Tensor::from_vec(values(3 * 64, 9), (3, 64), &Device::Cpu).unwrap();
        let whole = fused.forward(&x).unwrap();
        let sep: Vec<Tensor> = parts.iter().map(|p| p.forward(&x).unwrap()).collect();
        assert_eq!(whole.to_vec2::<f32>().unwrap(), Tensor::cat(&sep, 1).unwrap().to_vec2::<f32>().unwrap());
        // Q5_0 layers hold Q8_0 blocks, so they fuse with Q8_0 ones; Q4_1 fuses with neither
        let q8 = GgufLinear::new(qtensor(GgmlDType::Q8_0, 4, 64, 4), &Device::Cpu).unwrap();
        assert!(GgufLinear::fused(&[&parts[0], &q8]).is_some());
        let q4 = GgufLinear::new(qtensor(GgmlDType::Q4_1, 4, 64, 4), &Device::Cpu).unwrap();
        assert!(GgufLinear::fused(&[&parts[0], &q4]).is_none());
    }

    #[test]
    fn bad_blocks_are_errors() {
        assert!(BlockMatrix::from_raw(BlockKind::Q8_0, 2, 32, vec![0; 34]).is_err(), "too few bytes");
        assert!(BlockMatrix::from_raw(BlockKind::Q8_0, 1, 48, vec![0; 51]).is_err(), "ragged block");
        let mut nan = vec![0u8; 34];
        nan[..2].copy_from_slice(&f16::NAN.to_bits().to_le_bytes());
        assert!(BlockMatrix::from_raw(BlockKind::Q8_0, 1, 32, nan).is_err(), "NaN scale");
        let lin = GgufLinear::new(qtensor(GgmlDType::Q8_0, 4, 64, 1), &Device::Cpu).unwrap();
        assert!(lin.forward(&Tensor::zeros((2, 32), candle_core::DType::F32, &Device::Cpu).unwrap()).is_err(), "wrong width");
    }
}
