//! `y = x·Wᵀ + b` on the CPU with 8-bit integer weights and activations: the scheme of CTranslate2's
//! `int8` (and of FBGEMM's dynamic quantization), not GGML's Q8_0 blocks.
//!
//! - Weights: one scale per output column, `s_w[n] = max |W[n, :]| / 127`, `W_q = round(W / s_w)` in
//!   `[-127, 127]`, quantized once at load and laid out in panels like [`super::packed_linear`].
//! - Activations: one scale per input row, computed on every call (`s_x[m] = max |x[m, :]| / 127`).
//! - `y[m, n] = s_x[m] · s_w[n] · Σ_k x_q[m, k] · W_q[n, k] + b[n]`, the sum exact in `i32`.
//!
//! Why not candle's Q8_0 `QMatMul`: it re-quantizes activations into 32-wide blocks and runs one dot
//! product per (row, column) with a float rescale every 32 inputs; for the 32–128-row batches of
//! decoding it was slower than the packed f32 kernel. Here the rescale happens once per output and the
//! inner loop is integer multiply-adds over 4 inputs at a time.
//!
//! The AVX2 kernel multiplies with `vpmaddubsw` (unsigned × signed bytes, pairs summed to `i16`) and
//! `vpmaddwd` by ones (pairs summed to `i32`). `vpmaddubsw` wants an unsigned operand, so it gets `|x_q|`
//! and the weights take the sign of `x_q` (`vpsignb`): `|x|·(w·sign x) = x·w`. With both operands in
//! `[-127, 127]` a pair sums to at most 2·127² = 32258, so the `i16` step never saturates.
//!
//! Layout: output columns in panels of [`NR`] = 16; for each group of 4 inputs a panel stores 64 bytes,
//! columns 0–7 (4 bytes each) then columns 8–15, so one 32-byte load feeds 8 `i32` lanes. `k` is padded
//! to a multiple of 4 with zeros (in weights and activations alike).
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use std::sync::Arc;

use super::packed_linear::{for_panel_ranges, linear_cpu_fwd, OutPtr};

/// Output columns per panel (two registers of 8 `i32` lanes).
const NR: usize = 16;
/// Rows per register tile (2 accumulators per row, 15 of the 16 AVX registers in use).
const MR: usize = 4;
/// Rows per cache block (a multiple of `MR`).
const MB: usize = 128;
/// Largest magnitude of a quantized value (symmetric range, -128 unused).
const QMAX: f32 = 127.0;

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
    /// `n.div_ceil(NR)` panels of `kp × NR` bytes
    panels: Vec<i8>,
    /// per output column, padded to whole panels with zeros
    scales: Vec<f32>,
    /// per output column, padded to whole panels (zeros when the layer has no bias)
    bias: Vec<f32>,
}

impl std::fmt::Debug for PackedInt8Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedInt8Linear({}x{})", self.inner.n, self.inner.k)
    }
}

/// Quantize `v` with `inv = 1 / scale`, rounding half to even like `vcvtps2dq`.
#[inline(always)]
fn quantize_one(v: f32, inv: f32) -> i8 {
    (v * inv).round_ties_even().clamp(-QMAX, QMAX) as i8
}

/// `max |v|`, NaN if `v` holds one (`f32::max` alone would skip it).
fn max_abs(v: &[f32]) -> f32 {
    if v.iter().any(|x| x.is_nan()) {
        return f32::NAN;
    }
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

impl PackedInt8Linear {
    /// `weight (n, k)` and `bias (n)` or `(1, n)`, in any float dtype, on any device (copied to host).
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (n, k) = weight.dims2()?;
        let w = weight.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if let Some(bad) = w.iter().find(|v| !v.is_finite()) {
            candle_core::bail!("packed-int8: weight ({n}x{k}) holds a non-finite value ({bad})")
        }
        let kp = k.div_ceil(4) * 4;
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0i8; n_panels * kp * NR];
        let mut scales = vec![0f32; n_panels * NR];
        for (c, row) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let amax = max_abs(row);
            if amax == 0.0 {
                continue; // all-zero column: scale 0, weights 0
            }
            scales[c] = amax / QMAX;
            let inv = QMAX / amax;
            let (p, col) = (c / NR, c % NR);
            let panel = &mut panels[p * kp * NR..(p + 1) * kp * NR];
            let (half, lane) = (col / 8, col % 8);
            for (kk, &v) in row.iter().enumerate() {
                panel[(kk / 4) * 4 * NR + half * 32 + lane * 4 + kk % 4] = quantize_one(v, inv);
            }
        }
        let mut padded_bias = vec![0f32; n_panels * NR];
        if let Some(b) = bias {
            let b = b.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            if b.len() != n {
                candle_core::bail!("bias of {} values for {n} outputs", b.len())
            }
            padded_bias[..n].copy_from_slice(&b);
        }
        Ok(Self { inner: Arc::new(PackedI8 { n, k, kp, panels, scales, bias: padded_bias }) })
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

/// Rows of `x` quantized for the kernel: `q` and `|q|` (each `m × kp` bytes) and one scale per row.
struct QuantRows {
    q: Vec<i8>,
    abs: Vec<u8>,
    scales: Vec<f32>,
}

impl QuantRows {
    fn new(x: &[f32], m: usize, k: usize, kp: usize) -> Self {
        let mut q = vec![0i8; m * kp];
        let mut abs = vec![0u8; m * kp];
        let mut scales = vec![0f32; m];
        for r in 0..m {
            let row = &x[r * k..(r + 1) * k];
            let amax = row_max_abs(row);
            // A zero row quantizes to zeros with scale 0; a non-finite value poisons only its own row
            // (scale NaN/inf), as it would in f32.
            if amax == 0.0 {
                continue;
            }
            scales[r] = amax / QMAX;
            let inv = QMAX / amax;
            quantize_row(row, inv, &mut q[r * kp..r * kp + k]);
            for (a, &v) in abs[r * kp..r * kp + k].iter_mut().zip(&q[r * kp..r * kp + k]) {
                *a = v.unsigned_abs();
            }
        }
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

fn quantize_row(row: &[f32], inv: f32, out: &mut [i8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; `out` is as long as `row`.
            return unsafe { avx2::quantize_row(row, inv, out) };
        }
    }
    for (o, &v) in out.iter_mut().zip(row) {
        *o = quantize_one(v, inv);
    }
}

impl PackedI8 {
    fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let n = self.n;
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        if m == 0 || n == 0 {
            return out;
        }
        let xq = QuantRows::new(x, m, self.k, self.kp);
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

    /// Rescale an `R × 16` tile of integer sums and store it at rows `r0..`, panel `p`, adding the bias.
    #[inline(always)]
    unsafe fn store_tile<const R: usize>(&self, acc: &[[i32; NR]; R], xs: &[f32], r0: usize, p: usize, dst: OutPtr) {
        let c0 = p * NR;
        let cols = NR.min(self.n - c0);
        for (r, row) in acc.iter().enumerate() {
            let sx = xs[r0 + r];
            let out = dst.0.add((r0 + r) * self.n + c0);
            for c in 0..cols {
                *out.add(c) = row[c] as f32 * (sx * self.scales[c0 + c]) + self.bias[c0 + c];
            }
        }
    }
}

/// Call `$f::<R>` for the row count `$r` (1..=MR) of the current tile.
macro_rules! dispatch_rows {
    ($r:expr, $f:ident ( $($arg:expr),* )) => {
        match $r {
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{OutPtr, PackedI8, QuantRows, MB, MR, NR, QMAX};
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

    /// 32 floats at a time: scale, round (half to even), saturate to i8 in order.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quantize_row(row: &[f32], inv: f32, out: &mut [i8]) {
        let vinv = _mm256_set1_ps(inv);
        let lo = _mm256_set1_ps(-QMAX);
        let hi = _mm256_set1_ps(QMAX);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let n32 = row.len() / 32 * 32;
        for i in (0..n32).step_by(32) {
            let p = row.as_ptr().add(i);
            let conv = |j: usize| {
                let v = _mm256_mul_ps(_mm256_loadu_ps(p.add(j)), vinv);
                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi))
            };
            let (a, b, c, d) = (conv(0), conv(8), conv(16), conv(24));
            let ab = _mm256_packs_epi32(a, b);
            let cd = _mm256_packs_epi32(c, d);
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
            _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, bytes);
        }
        for i in n32..row.len() {
            out[i] = super::quantize_one(row[i], inv);
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
                    dispatch_rows!(rows, tile(p, xq, panel, r0, pi, dst));
                    r0 += rows;
                }
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn tile<const R: usize>(p: &PackedI8, xq: &QuantRows, panel: *const i8, r0: usize, pi: usize, dst: OutPtr) {
        let kp = p.kp;
        let ones = _mm256_set1_epi16(1);
        let q = xq.q.as_ptr().add(r0 * kp);
        let a = xq.abs.as_ptr().add(r0 * kp);
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        for g in (0..kp).step_by(4) {
            let w0 = _mm256_loadu_si256(panel.add(g * NR) as *const __m256i);
            let w1 = _mm256_loadu_si256(panel.add(g * NR + 32) as *const __m256i);
            for r in 0..R {
                let xs = _mm256_set1_epi32((q.add(r * kp + g) as *const i32).read_unaligned());
                let xa = _mm256_set1_epi32((a.add(r * kp + g) as *const i32).read_unaligned());
                let p0 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xs));
                let p1 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xs));
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
                    dispatch_rows!(rows, tile(p, xq, panel, r0, pi, dst));
                    r0 += rows;
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn tile<const R: usize>(p: &PackedI8, xq: &QuantRows, panel: &[i8], r0: usize, pi: usize, dst: OutPtr) {
        let kp = p.kp;
        let mut acc = [[0i32; NR]; R];
        for g in (0..kp).step_by(4) {
            let block = &panel[g * NR..g * NR + 4 * NR];
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let x = &xq.q[(r0 + r) * kp + g..(r0 + r) * kp + g + 4];
                for (c, a) in acc_r.iter_mut().enumerate() {
                    let w = &block[(c / 8) * 32 + (c % 8) * 4..][..4];
                    *a += (0..4).map(|i| x[i] as i32 * w[i] as i32).sum::<i32>();
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

    /// Weights and inputs that are already integers in [-127, 127] with 127 in every row quantize with
    /// scale exactly 1, so the layer must reproduce the integer product exactly: this checks the panel
    /// layout, the sign trick (negative inputs and weights), ragged panels/tiles/`k` and the bias.
    #[test]
    fn exact_on_integer_inputs() -> Result<()> {
        let dev = Device::Cpu;
        let mut seed = 12345u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % 255) as i32 - 127
        };
        for &(m, k, n) in &[(1, 4, 16), (3, 17, 5), (4, 64, 48), (7, 33, 37), (9, 512, 300), (130, 40, 20)] {
            let mut ints = |rows: usize| {
                let mut v: Vec<f32> = (0..rows * k).map(|_| next() as f32).collect();
                for r in 0..rows {
                    v[r * k + r % k] = if r % 2 == 0 { 127.0 } else { -127.0 }; // scale exactly 1
                }
                v
            };
            let (w, x) = (ints(n), ints(m));
            let bias: Vec<f32> = (0..n).map(|c| c as f32 - 3.0).collect();
            let layer = PackedInt8Linear::new(&Tensor::from_vec(w.clone(), (n, k), &dev)?, Some(&Tensor::new(bias.as_slice(), &dev)?))?;
            let got = layer.forward(&Tensor::from_vec(x.clone(), (m, k), &dev)?)?.to_vec2::<f32>()?;
            for r in 0..m {
                for c in 0..n {
                    let want: i64 = (0..k).map(|i| x[r * k + i] as i64 * w[c * k + i] as i64).sum();
                    assert_eq!(got[r][c], want as f32 + bias[c], "m={m} k={k} n={n} at ({r}, {c})");
                }
            }
        }
        Ok(())
    }

    /// On random floats the error must stay within what 8-bit rounding of both operands allows (about
    /// 1 % of the output's scale), far below what a layout or scale mistake produces.
    #[test]
    fn close_to_f32_on_random_inputs() -> Result<()> {
        let dev = Device::Cpu;
        for &(m, k, n) in &[(5, 512, 200), (32, 2048, 64), (128, 512, 33)] {
            let w = Tensor::randn(0f32, 0.05, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
            let want = candle_nn::Linear::new(w.clone(), Some(b.clone())).forward(&x)?;
            let got = PackedInt8Linear::new(&w, Some(&b))?.forward(&x.reshape((1, m, k))?)?;
            assert_eq!(got.dims(), &[1, m, n]);
            let err = (got.squeeze(0)? - &want)?.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()?;
            let scale = (&want - b.unsqueeze(0)?.broadcast_as((m, n))?)?.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>()?;
            assert!(err < 0.02 * scale, "m={m} k={k} n={n}: rms error {err} vs output rms {scale}");
        }
        Ok(())
    }

    /// The portable loops (other CPUs) must give bit-identical results to the kernel this CPU takes:
    /// the sums are exact integers and the rescale is the same expression.
    #[test]
    fn portable_path_equals_dispatched_path() -> Result<()> {
        let dev = Device::Cpu;
        let (m, k, n) = (11, 70, 45);
        let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
        let b = Tensor::randn(0f32, 1.0, n, &dev)?;
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?.flatten_all()?.to_vec1::<f32>()?;
        let layer = PackedInt8Linear::new(&w, Some(&b))?;
        let p = &*layer.inner;
        let want = p.matmul(&x, m);
        // quantize the activations the portable way too
        let mut xq = QuantRows::new(&x, m, k, p.kp);
        for r in 0..m {
            let row = &x[r * k..(r + 1) * k];
            let inv = QMAX / max_abs(row);
            for (i, &v) in row.iter().enumerate() {
                assert_eq!(xq.q[r * p.kp + i], quantize_one(v, inv), "activation quantization differs at ({r}, {i})");
            }
        }
        xq.abs.iter_mut().zip(&xq.q).for_each(|(a, &q)| *a = q.unsigned_abs());
        let mut got: Vec<f32> = Vec::with_capacity(m * n);
        // SAFETY: one call over all panels writes all m×n outputs.
        unsafe {
            portable::panels_range(p, &xq, m, 0..n.div_ceil(NR), OutPtr(got.as_mut_ptr()));
            got.set_len(m * n);
        }
        assert_eq!(got, want);
        Ok(())
    }

    #[test]
    fn zero_rows_and_columns_give_bias() -> Result<()> {
        let dev = Device::Cpu;
        let mut w = vec![0.5f32; 3 * 8];
        w[8..16].fill(0.0); // column 1 all zero
        let layer = PackedInt8Linear::new(&Tensor::from_vec(w, (3, 8), &dev)?, Some(&Tensor::new(&[1f32, 2., 3.], &dev)?))?;
        let x = Tensor::from_vec(vec![0f32; 8].into_iter().chain(vec![1.0; 8]).collect::<Vec<_>>(), (2, 8), &dev)?;
        let got = layer.forward(&x)?.to_vec2::<f32>()?;
        assert_eq!(got[0], vec![1., 2., 3.]);
        assert_eq!(got[1], vec![5., 2., 7.]);
        Ok(())
    }

    #[test]
    fn rejects_wrong_width_dtype_and_nonfinite_weights() -> Result<()> {
        let dev = Device::Cpu;
        let layer = PackedInt8Linear::new(&Tensor::ones((4, 8), DType::F32, &dev)?, None)?;
        assert!(layer.forward(&Tensor::zeros((2, 7), DType::F32, &dev)?).is_err());
        assert!(layer.forward(&Tensor::zeros((2, 8), DType::F64, &dev)?).is_err());
        let bad = Tensor::new(&[[1f32, f32::NAN]], &dev)?;
        assert!(PackedInt8Linear::new(&bad, None).is_err());
        Ok(())
    }
}
