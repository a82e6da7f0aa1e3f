//! `y = x·Wᵀ + b` on the CPU with 8-bit integer weights and 8- or 7-bit integer activations: the
//! schemes of CTranslate2's `int8` and of FBGEMM's dynamic quantization, not GGML's Q8_0 blocks.
//!
//! - Weights: one scale per output column, `s_w[n] = max |W[n, :]| / 127`, `W_q = round(W / s_w)` in
//!   `[-127, 127]`, quantized once at load and laid out in panels like [`super::packed_linear`].
//! - Activations: one scale per input row, computed on every call, `s_x[m] = max |x[m, :]| / A`, with
//!   `A = 127` ([`ActivationBits::Eight`], `--quantize int8`) or `A = 63` ([`ActivationBits::Seven`],
//!   `--quantize int8-fast`, FBGEMM's `reduce_range`, what PyTorch's dynamic quantization uses on x86).
//! - `y[m, n] = s_x[m] · s_w[n] · Σ_k x_q[m, k] · W_q[n, k] + b[n]`, the sum exact in `i32`.
//!
//! Why not candle's Q8_0 `QMatMul`: it re-quantizes activations into 32-wide blocks and runs one dot
//! product per (row, column) with a float rescale every 32 inputs; for the 32–128-row batches of
//! decoding it was slower than the packed f32 kernel. Here the rescale happens once per output and the
//! inner loop is integer multiply-adds over 4 inputs at a time.
//!
//! The AVX2 kernel multiplies with `vpmaddubsw` (unsigned × signed bytes, pairs summed to `i16`, with
//! saturation) and `vpmaddwd` by ones (pairs summed to `i32`). It needs an unsigned operand:
//! - 8 bits: it gets `|x_q|` and the weights take the sign of `x_q` (`vpsignb`): `|x|·(w·sign x) = x·w`.
//!   With both operands in `[-127, 127]` a pair sums to at most 2·127² = 32258: never saturates.
//! - 7 bits: `x_u = x_q + 64` in `[1, 127]` goes in as it is, and the sum is corrected by `64 · Σ_k W_q`
//!   per column (computed at load). A pair is at most 2·127·127 as well, and the `vpsignb` before every
//!   multiply is gone: 73 → 88 GMAC/s on the 32 × 512 × 58101 vocabulary projection. The price is the
//!   coarser activation grid (relative RMS error of a layer on Gaussian data 1.6 % instead of 1.0 %),
//!   which is why it is opt-in.
//!
//! Layout: output columns in panels of [`NR`] = 16; for each group of 4 inputs a panel stores 64 bytes,
//! columns 0–7 (4 bytes each) then columns 8–15, so one 32-byte load feeds 8 `i32` lanes. `k` is padded
//! to a multiple of 4: zero weights, and activations that quantize zero (so the padding adds nothing).
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use std::sync::Arc;

use super::packed_linear::{for_panel_ranges, linear_cpu_fwd, OutPtr};

/// Output columns per panel (two registers of 8 `i32` lanes).
const NR: usize = 16;
/// Rows per register tile (2 accumulators per row, 15 of the 16 AVX registers in use).
const MR: usize = 4;
/// Rows per cache block (a multiple of `MR`).
const MB: usize = 128;
/// Largest magnitude of a quantized weight (symmetric range, -128 unused).
const WMAX: f32 = 127.0;

/// Precision of the activations, chosen per layer at load (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationBits {
    /// `[-127, 127]`, exact products through the sign transfer.
    Eight,
    /// `[-63, 63]` stored as `x_q + 64`; faster on CPUs without VNNI, less precise.
    Seven,
}

impl ActivationBits {
    /// Largest magnitude of a quantized activation.
    fn max(self) -> f32 {
        match self {
            ActivationBits::Eight => 127.0,
            ActivationBits::Seven => 63.0,
        }
    }

    /// What is added to `x_q` before it is stored (the byte that means zero).
    fn offset(self) -> i32 {
        match self {
            ActivationBits::Eight => 0,
            ActivationBits::Seven => 64,
        }
    }
}

/// A linear layer with int8 weights for [`forward`](PackedInt8Linear::forward) on the CPU.
#[derive(Clone)]
pub struct PackedInt8Linear {
    inner: Arc<PackedI8>,
}

struct PackedI8 {
    /// output features
    n: usize,
    /// input features
    k: usize,
    /// `k` rounded up to a multiple of 4
    kp: usize,
    act: ActivationBits,
    /// `n.div_ceil(NR)` panels of `kp × NR` bytes
    panels: Vec<i8>,
    /// per output column, padded to whole panels with zeros
    scales: Vec<f32>,
    /// per output column, `offset · Σ_k W_q[n, k]`: what the activation offset adds to each sum (zeros
    /// for 8-bit activations)
    offsets: Vec<i32>,
    /// per output column, padded to whole panels (zeros when the layer has no bias)
    bias: Vec<f32>,
}

impl std::fmt::Debug for PackedInt8Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedInt8Linear({}x{}, {:?})", self.inner.n, self.inner.k, self.inner.act)
    }
}

/// Quantize `v` with `inv = 1 / scale` to `[-max, max]`, rounding half to even like `vcvtps2dq`, and
/// add `offset`; the result is the stored byte.
#[inline(always)]
fn quantize_one(v: f32, inv: f32, max: f32, offset: i32) -> u8 {
    ((v * inv).round_ties_even().clamp(-max, max) as i32 + offset) as u8
}

/// `max |v|`, NaN if `v` holds one (`f32::max` alone would skip it).
fn max_abs(v: &[f32]) -> f32 {
    if v.iter().any(|x| x.is_nan()) {
        return f32::NAN;
    }
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

impl PackedInt8Linear {
    /// `weight (n, k)` and `bias (n)` or `(1, n)`, in any float dtype, on any device (copied to host);
    /// activations quantized to `act` bits on each call.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, act: ActivationBits) -> Result<Self> {
        let (n, k) = weight.dims2()?;
        let w = weight.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if let Some(bad) = w.iter().find(|v| !v.is_finite()) {
            candle_core::bail!("packed-int8: weight ({n}x{k}) holds a non-finite value ({bad})")
        }
        let kp = k.div_ceil(4) * 4;
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0i8; n_panels * kp * NR];
        let mut scales = vec![0f32; n_panels * NR];
        let mut offsets = vec![0i32; n_panels * NR];
        for (c, row) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let amax = max_abs(row);
            if amax == 0.0 {
                continue; // all-zero column: scale 0, weights 0
            }
            scales[c] = amax / WMAX;
            let inv = WMAX / amax;
            let (p, col) = (c / NR, c % NR);
            let panel = &mut panels[p * kp * NR..(p + 1) * kp * NR];
            let (half, lane) = (col / 8, col % 8);
            let mut sum = 0i32;
            for (kk, &v) in row.iter().enumerate() {
                let q = quantize_one(v, inv, WMAX, 0) as i8;
                sum += i32::from(q);
                panel[(kk / 4) * 4 * NR + half * 32 + lane * 4 + kk % 4] = q;
            }
            offsets[c] = act.offset() * sum;
        }
        let mut padded_bias = vec![0f32; n_panels * NR];
        if let Some(b) = bias {
            let b = b.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            if b.len() != n {
                candle_core::bail!("bias of {} values for {n} outputs", b.len())
            }
            padded_bias[..n].copy_from_slice(&b);
        }
        Ok(Self { inner: Arc::new(PackedI8 { n, k, kp, act, panels, scales, offsets, bias: padded_bias }) })
    }

    pub fn out_features(&self) -> usize {
        self.inner.n
    }

    /// `xs (..., k)` f32 on the CPU -> `(..., n)` f32.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.contiguous()?.apply_op1_no_bwd(self)
    }
}

impl CustomOp1 for PackedInt8Linear {
    fn name(&self) -> &'static str {
        "packed-int8-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let p = &*self.inner;
        linear_cpu_fwd(self.name(), p.k, p.n, storage, layout, |x, m| p.matmul(x, m))
    }
}

/// Rows of `x` quantized for the kernel: `m × kp` stored bytes (`x_q` as `i8` for 8 bits, `x_q + 64`
/// for 7), for 8 bits also `|x_q|` (empty otherwise), and one scale per row.
struct QuantRows {
    q: Vec<u8>,
    abs: Vec<u8>,
    scales: Vec<f32>,
}

impl QuantRows {
    fn new(x: &[f32], m: usize, k: usize, kp: usize, act: ActivationBits) -> Self {
        let (max, offset) = (act.max(), act.offset());
        let mut q = vec![offset as u8; m * kp];
        let mut scales = vec![0f32; m];
        for r in 0..m {
            let row = &x[r * k..(r + 1) * k];
            let amax = row_max_abs(row);
            // A zero row quantizes to zeros with scale 0; a non-finite value poisons only its own row
            // (scale NaN/inf), as it would in f32.
            if amax == 0.0 {
                continue;
            }
            scales[r] = amax / max;
            quantize_row(row, max / amax, max, offset, &mut q[r * kp..r * kp + k]);
        }
        let abs = match act {
            ActivationBits::Eight => q.iter().map(|&v| (v as i8).unsigned_abs()).collect(),
            ActivationBits::Seven => Vec::new(),
        };
        Self { q, abs, scales }
    }
}

fn row_max_abs(row: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            return unsafe { avx2::max_abs(row) };
        }
    }
    max_abs(row)
}

fn quantize_row(row: &[f32], inv: f32, max: f32, offset: i32, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; `out` is as long as `row`.
            return unsafe { avx2::quantize_row(row, inv, max, offset, out) };
        }
    }
    for (o, &v) in out.iter_mut().zip(row) {
        *o = quantize_one(v, inv, max, offset);
    }
}

impl PackedI8 {
    fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let n = self.n;
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        if m == 0 || n == 0 {
            return out;
        }
        let xq = QuantRows::new(x, m, self.k, self.kp, self.act);
        let dst = OutPtr(out.as_mut_ptr());
        // SAFETY: `out` has capacity m×n; the panel ranges cover every column once, and each call
        // writes all m rows of its columns.
        for_panel_ranges(n.div_ceil(NR), m * n * self.k / 4, |range| unsafe { self.panels_range(&xq, m, range, dst) });
        // SAFETY: all m×n elements were written.
        unsafe { out.set_len(m * n) };
        out
    }

    unsafe fn panels_range(&self, xq: &QuantRows, m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return avx2::panels_range(self, xq, m, panels, dst);
            }
        }
        portable::panels_range(self, xq, m, panels, dst)
    }

    /// Rescale an `R × 16` tile of integer sums and store it at rows `r0..`, panel `p`, removing what
    /// the activation offset added and adding the bias.
    #[inline(always)]
    unsafe fn store_tile<const R: usize>(&self, acc: &[[i32; NR]; R], xs: &[f32], r0: usize, p: usize, dst: OutPtr) {
        let c0 = p * NR;
        let cols = NR.min(self.n - c0);
        for (r, row) in acc.iter().enumerate() {
            let sx = xs[r0 + r];
            let out = dst.0.add((r0 + r) * self.n + c0);
            for c in 0..cols {
                let sum = row[c] - self.offsets[c0 + c];
                *out.add(c) = sum as f32 * (sx * self.scales[c0 + c]) + self.bias[c0 + c];
            }
        }
    }
}

/// Call `$f::<R, $b>` for the row count `$r` (1..=MR) of the current tile.
macro_rules! dispatch_rows {
    ($r:expr, $b:expr, $f:ident ( $($arg:expr),* )) => {
        match $r {
            4 => $f::<4, $b>($($arg),*),
            3 => $f::<3, $b>($($arg),*),
            2 => $f::<2, $b>($($arg),*),
            _ => $f::<1, $b>($($arg),*),
        }
    };
}

/// Call the tile function for the row count and the layer's activation bits (`SEVEN`).
macro_rules! dispatch_tile {
    ($p:expr, $r:expr, $f:ident ( $($arg:expr),* )) => {
        match $p.act {
            super::ActivationBits::Eight => dispatch_rows!($r, false, $f($($arg),*)),
            super::ActivationBits::Seven => dispatch_rows!($r, true, $f($($arg),*)),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{OutPtr, PackedI8, QuantRows, MB, MR, NR};
    use std::arch::x86_64::*;

    /// `max |v|` over the row; NaN if the row holds one (`vmaxps` alone would drop it).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn max_abs(row: &[f32]) -> f32 {
        let sign = _mm256_set1_ps(-0.0);
        let mut m0 = _mm256_setzero_ps();
        let mut m1 = _mm256_setzero_ps();
        let mut nan = _mm256_setzero_ps();
        let chunks = row.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            let (a, b) = (_mm256_loadu_ps(c.as_ptr()), _mm256_loadu_ps(c.as_ptr().add(8)));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b));
            m0 = _mm256_max_ps(m0, _mm256_andnot_ps(sign, a));
            m1 = _mm256_max_ps(m1, _mm256_andnot_ps(sign, b));
        }
        if _mm256_movemask_ps(nan) != 0 || tail.iter().any(|v| v.is_nan()) {
            return f32::NAN;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_max_ps(m0, m1));
        lanes.iter().chain(tail).fold(0f32, |m, &x| m.max(x.abs()))
    }

    /// 32 floats at a time: scale, round (half to even), clamp to ±max, add the offset, store the bytes
    /// in order (the values fit an `i8` for 8 bits and are in `[1, 127]` for 7, so the signed packs
    /// keep them).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_row(row: &[f32], inv: f32, max: f32, offset: i32, out: &mut [u8]) {
        let vinv = _mm256_set1_ps(inv);
        let lo = _mm256_set1_ps(-max);
        let hi = _mm256_set1_ps(max);
        let off = _mm256_set1_epi32(offset);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let n32 = row.len() / 32 * 32;
        for i in (0..n32).step_by(32) {
            let p = row.as_ptr().add(i);
            let conv = |j: usize| {
                let v = _mm256_mul_ps(_mm256_loadu_ps(p.add(j)), vinv);
                _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi)), off)
            };
            let (a, b, c, d) = (conv(0), conv(8), conv(16), conv(24));
            let ab = _mm256_packs_epi32(a, b);
            let cd = _mm256_packs_epi32(c, d);
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
            _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, bytes);
        }
        for i in n32..row.len() {
            out[i] = super::quantize_one(row[i], inv, max, offset);
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn panels_range(p: &PackedI8, xq: &QuantRows, m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        let kp = p.kp;
        for rb in (0..m).step_by(MB) {
            let rb_end = (rb + MB).min(m);
            for pi in panels.clone() {
                let panel = p.panels.as_ptr().add(pi * kp * NR);
                let mut r0 = rb;
                while r0 < rb_end {
                    let rows = MR.min(rb_end - r0);
                    dispatch_tile!(p, rows, tile(p, xq, panel, r0, pi, dst));
                    r0 += rows;
                }
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn tile<const R: usize, const SEVEN: bool>(p: &PackedI8, xq: &QuantRows, panel: *const i8, r0: usize, pi: usize, dst: OutPtr) {
        let kp = p.kp;
        let ones = _mm256_set1_epi16(1);
        let q = xq.q.as_ptr().add(r0 * kp);
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        for g in (0..kp).step_by(4) {
            let w0 = _mm256_loadu_si256(panel.add(g * NR) as *const __m256i);
            let w1 = _mm256_loadu_si256(panel.add(g * NR + 32) as *const __m256i);
            for r in 0..R {
                let xs = _mm256_set1_epi32((q.add(r * kp + g) as *const i32).read_unaligned());
                let (p0, p1) = if SEVEN {
                    // x_u + 64 is already unsigned and below 128
                    (_mm256_maddubs_epi16(xs, w0), _mm256_maddubs_epi16(xs, w1))
                } else {
                    let a = xq.abs.as_ptr().add((r0 + r) * kp + g);
                    let xa = _mm256_set1_epi32((a as *const i32).read_unaligned());
                    (_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xs)), _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xs)))
                };
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
            }
        }
        let mut out = [[0i32; NR]; R];
        for r in 0..R {
            _mm256_storeu_si256(out[r].as_mut_ptr() as *mut __m256i, acc[r][0]);
            _mm256_storeu_si256(out[r].as_mut_ptr().add(8) as *mut __m256i, acc[r][1]);
        }
        p.store_tile::<R>(&out, &xq.scales, r0, pi, dst);
    }
}

/// The same sums without SIMD intrinsics, for other CPUs.
mod portable {
    use super::{OutPtr, PackedI8, QuantRows, MB, MR, NR};

    pub(super) unsafe fn panels_range(p: &PackedI8, xq: &QuantRows, m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        let kp = p.kp;
        for rb in (0..m).step_by(MB) {
            let rb_end = (rb + MB).min(m);
            for pi in panels.clone() {
                let panel = &p.panels[pi * kp * NR..(pi + 1) * kp * NR];
                let mut r0 = rb;
                while r0 < rb_end {
                    let rows = MR.min(rb_end - r0);
                    dispatch_tile!(p, rows, tile(p, xq, panel, r0, pi, dst));
                    r0 += rows;
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn tile<const R: usize, const SEVEN: bool>(p: &PackedI8, xq: &QuantRows, panel: &[i8], r0: usize, pi: usize, dst: OutPtr) {
        let kp = p.kp;
        // the stored byte as the kernel reads it: unsigned (offset) for 7 bits, signed for 8
        let value = |b: u8| if SEVEN { i32::from(b) } else { i32::from(b as i8) };
        let mut acc = [[0i32; NR]; R];
        for g in (0..kp).step_by(4) {
            let block = &panel[g * NR..g * NR + 4 * NR];
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let x = &xq.q[(r0 + r) * kp + g..(r0 + r) * kp + g + 4];
                for (c, a) in acc_r.iter_mut().enumerate() {
                    let w = &block[(c / 8) * 32 + (c % 8) * 4..][..4];
                    *a += (0..4).map(|i| value(x[i]) * i32::from(w[i])).sum::<i32>();
                }
            }
        }
        p.store_tile::<R>(&acc, &xq.scales, r0, pi, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module};

    const BOTH: [ActivationBits; 2] = [ActivationBits::Eight, ActivationBits::Seven];

    /// Weights in [-127, 127] and inputs in [-A, A] that are already integers, with the largest
    /// magnitude in every row, quantize with scale exactly 1, so the layer must reproduce the integer
    /// product exactly: this checks the panel layout, the sign transfer (8 bits) or the offset and its
    /// per-column correction (7 bits) with negative inputs and weights, ragged panels/tiles/`k`, the bias.
    #[test]
    fn exact_on_integer_inputs() -> Result<()> {
        let dev = Device::Cpu;
        let mut seed = 12345u64;
        let mut next = move |max: i32| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % (2 * max as u64 + 1)) as i32 - max
        };
        for act in BOTH {
            for &(m, k, n) in &[(1, 4, 16), (3, 17, 5), (4, 64, 48), (7, 33, 37), (9, 512, 300), (130, 40, 20)] {
                let mut ints = |rows: usize, max: f32| {
                    let mut v: Vec<f32> = (0..rows * k).map(|_| next(max as i32) as f32).collect();
                    for r in 0..rows {
                        v[r * k + r % k] = if r % 2 == 0 { max } else { -max }; // scale exactly 1
                    }
                    v
                };
                let (w, x) = (ints(n, WMAX), ints(m, act.max()));
                let bias: Vec<f32> = (0..n).map(|c| c as f32 - 3.0).collect();
                let layer = PackedInt8Linear::new(&Tensor::from_vec(w.clone(), (n, k), &dev)?, Some(&Tensor::new(bias.as_slice(), &dev)?), act)?;
                let got = layer.forward(&Tensor::from_vec(x.clone(), (m, k), &dev)?)?.to_vec2::<f32>()?;
                for r in 0..m {
                    for c in 0..n {
                        let want: i64 = (0..k).map(|i| x[r * k + i] as i64 * w[c * k + i] as i64).sum();
                        assert_eq!(got[r][c], want as f32 + bias[c], "{act:?} m={m} k={k} n={n} at ({r}, {c})");
                    }
                }
            }
        }
        Ok(())
    }

    /// The largest products, all of one sign, in every pair of every group: `vpmaddubsw` must not
    /// saturate in either scheme (an 8-bit unsigned activation would: 2 · 255 · 127 > 32767).
    #[test]
    fn extreme_values_do_not_saturate() -> Result<()> {
        let dev = Device::Cpu;
        let k = 64;
        for act in BOTH {
            for (xs, ws) in [(1f32, 1f32), (1., -1.), (-1., 1.), (-1., -1.)] {
                let w = Tensor::from_vec(vec![ws * WMAX; 2 * k], (2, k), &dev)?;
                let x = Tensor::from_vec(vec![xs * act.max(); k], (1, k), &dev)?;
                let got = PackedInt8Linear::new(&w, None, act)?.forward(&x)?.to_vec2::<f32>()?;
                let want = xs * ws * act.max() * WMAX * k as f32;
                assert_eq!(got[0], vec![want, want], "{act:?} x {xs}, w {ws}");
            }
        }
        Ok(())
    }

    /// On random floats the error must stay within what the rounding allows (about 1 % of the output's
    /// scale with 8-bit activations, 1.6–1.8 % with 7), far below what a layout or scale mistake
    /// produces (the order of 100 %).
    #[test]
    fn close_to_f32_on_random_inputs() -> Result<()> {
        let dev = Device::Cpu;
        for (act, bound) in [(ActivationBits::Eight, 0.02), (ActivationBits::Seven, 0.03)] {
            for &(m, k, n) in &[(5, 512, 200), (32, 2048, 64), (128, 512, 33)] {
                let w = Tensor::randn(0f32, 0.05, (n, k), &dev)?;
                let b = Tensor::randn(0f32, 1.0, n, &dev)?;
                let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
                let want = candle_nn::Linear::new(w.clone(), Some(b.clone())).forward(&x)?;
                let got = PackedInt8Linear::new(&w, Some(&b), act)?.forward(&x.reshape((1, m, k))?)?;
                assert_eq!(got.dims(), &[1, m, n]);
                let err = (got.squeeze(0)? - &want)?.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()?;
                let scale = (&want - b.unsqueeze(0)?.broadcast_as((m, n))?)?.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()?;
                assert!(err < bound * scale, "{act:?} m={m} k={k} n={n}: rms error {err} vs output rms {scale}");
            }
        }
        Ok(())
    }

    /// The portable loops (other CPUs) must give bit-identical results to the kernel this CPU takes:
    /// the sums are exact integers and the rescale is the same expression.
    #[test]
    fn portable_path_equals_dispatched_path() -> Result<()> {
        let dev = Device::Cpu;
        let (m, k, n) = (11, 70, 45);
        for act in BOTH {
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?.flatten_all()?.to_vec1::<f32>()?;
            let layer = PackedInt8Linear::new(&w, Some(&b), act)?;
            let p = &*layer.inner;
            let want = p.matmul(&x, m);
            // quantize the activations the portable way too
            let xq = QuantRows::new(&x, m, k, p.kp, act);
            for r in 0..m {
                let row = &x[r * k..(r + 1) * k];
                let inv = act.max() / max_abs(row);
                for (i, &v) in row.iter().enumerate() {
                    assert_eq!(xq.q[r * p.kp + i], quantize_one(v, inv, act.max(), act.offset()), "{act:?}: activation quantization differs at ({r}, {i})");
                }
            }
            let mut got: Vec<f32> = Vec::with_capacity(m * n);
            // SAFETY: one call over all panels writes all m×n outputs.
            unsafe {
                portable::panels_range(p, &xq, m, 0..n.div_ceil(NR), OutPtr(got.as_mut_ptr()));
                got.set_len(m * n);
            }
            assert_eq!(got, want, "{act:?}");
        }
        Ok(())
    }

    #[test]
    fn zero_rows_and_columns_give_bias() -> Result<()> {
        let dev = Device::Cpu;
        for act in BOTH {
            let mut w = vec![0.5f32; 3 * 8];
            w[8..16].fill(0.0); // column 1 all zero
            let layer = PackedInt8Linear::new(&Tensor::from_vec(w, (3, 8), &dev)?, Some(&Tensor::new(&[1f32, 2., 3.], &dev)?), act)?;
            let x = Tensor::from_vec(vec![0f32; 8].into_iter().chain(vec![1.0; 8]).collect::<Vec<_>>(), (2, 8), &dev)?;
            let got = layer.forward(&x)?.to_vec2::<f32>()?;
            assert_eq!(got[0], vec![1., 2., 3.], "{act:?}");
            assert_eq!(got[1], vec![5., 2., 7.], "{act:?}");
        }
        Ok(())
    }

    #[test]
    fn rejects_wrong_width_dtype_and_nonfinite_weights() -> Result<()> {
        let dev = Device::Cpu;
        let layer = PackedInt8Linear::new(&Tensor::ones((4, 8), DType::F32, &dev)?, None, ActivationBits::Eight)?;
        assert!(layer.forward(&Tensor::zeros((2, 7), DType::F32, &dev)?).is_err());
        assert!(layer.forward(&Tensor::zeros((2, 8), DType::F64, &dev)?).is_err());
        let bad = Tensor::new(&[[1f32, f32::NAN]], &dev)?;
        assert!(PackedInt8Linear::new(&bad, None, ActivationBits::Seven).is_err());
        Ok(())
    }
}
