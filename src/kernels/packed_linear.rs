//! `y = x·Wᵀ + b` on the CPU with `W` re-laid once, at load time, into column panels.
//!
//! Why: decoding multiplies a few dozen rows (the sentences or beams of a batch) by the same weights at
//! every step. candle's CPU matmul (the `gemm` crate) packs the weight operand on every call; for the
//! 58101 × 512 output projection of OPUS-MT that re-packing alone was 22 % of a greedy decoding profile.
//! Packing once and streaming the panels through an AVX2/FMA micro-kernel removes that work; it is how
//! CTranslate2 uses MKL's packed GEMM.
//!
//! Layout: output columns in panels of [`NR`] = 16; a panel stores, for each of the `k` inputs, the 16
//! weights of its columns contiguously (the last panel is zero-padded). The micro-kernel keeps an
//! `R × 16` block of outputs (R ≤ [`MR`] = 6 rows, 12 AVX registers) in registers for the whole `k` loop,
//! so each output is one sequential sum over `k` plus the bias, like candle's `Linear` (matmul, then add).
//! Work is split over the rayon pool by panels (each thread writes its own columns); rows are taken in
//! blocks of [`MB`] so a block of inputs stays in L2 while the panels stream past.
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use std::sync::Arc;

/// Output columns per panel (two 8-wide AVX registers).
const NR: usize = 16;
/// Rows per register tile.
const MR: usize = 6;
/// Rows per cache block (a multiple of `MR`).
const MB: usize = 96;
/// Below this many multiply-adds a call is not worth handing to other threads.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// A linear layer whose f32 weight is packed for [`forward`](PackedLinear::forward) on the CPU.
#[derive(Clone)]
pub struct PackedLinear {
    inner: Arc<Packed>,
}

struct Packed {
    /// output features
    n: usize,
    /// input features
    k: usize,
    /// `n.div_ceil(NR)` panels of `k × NR` floats
    panels: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl std::fmt::Debug for PackedLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedLinear({}x{}, bias: {})", self.inner.n, self.inner.k, self.inner.bias.is_some())
    }
}

impl PackedLinear {
    /// `weight (n, k)` and `bias (n)` or `(1, n)`, in any float dtype (converted to f32), on any device
    /// (copied to host memory).
    pub fn new(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (n, k) = weight.dims2()?;
        let w = weight.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0f32; n_panels * k * NR];
        for (p, panel) in panels.chunks_exact_mut(k * NR).enumerate() {
            for (c, row) in w[p * NR * k..((p + 1) * NR).min(n) * k].chunks_exact(k).enumerate() {
                for (kk, &v) in row.iter().enumerate() {
                    panel[kk * NR + c] = v;
                }
            }
        }
        let bias = match bias {
            Some(b) => {
                let b = b.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                if b.len() != n {
                    candle_core::bail!("bias of {} values for {n} outputs", b.len())
                }
                Some(b)
            }
            None => None,
        };
        Ok(Self { inner: Arc::new(Packed { n, k, panels, bias }) })
    }

    pub fn out_features(&self) -> usize {
        self.inner.n
    }

    /// `xs (..., k)` f32 on the CPU -> `(..., n)`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.contiguous()?.apply_op1_no_bwd(self)
    }
}

impl CustomOp1 for PackedLinear {
    fn name(&self) -> &'static str {
        "packed-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let p = &*self.inner;
        linear_cpu_fwd(self.name(), p.k, p.n, storage, layout, |x, m| p.matmul(x, m))
    }
}

/// The CPU forward of vertolk's own linear kernels: checks that the input is contiguous f32 with `k`
/// features, runs `matmul(x, m)` over its `m` rows and returns the input's shape with `n` features last.
pub(super) fn linear_cpu_fwd(
    name: &str,
    k: usize,
    n: usize,
    storage: &CpuStorage,
    layout: &Layout,
    matmul: impl FnOnce(&[f32], usize) -> Vec<f32>,
) -> Result<(CpuStorage, Shape)> {
    let dims = layout.shape().dims();
    let Some((&width, lead)) = dims.split_last() else { candle_core::bail!("{name}: scalar input") };
    if width != k {
        candle_core::bail!("{name}: input has {width} features, the layer takes {k}")
    }
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{name}: f32 input expected, got {:?}", storage.dtype())
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{name}: input must be contiguous")
    };
    let x = &data[start..end];
    let out = matmul(x, x.len() / k.max(1));
    let mut out_dims = lead.to_vec();
    out_dims.push(n);
    Ok((CpuStorage::F32(out), Shape::from(out_dims)))
}

/// A raw output pointer that threads writing disjoint columns may share.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Run `f` over `0..n_panels` split into one contiguous range per thread of the rayon pool, or on this
/// thread alone when `work` (multiply-adds) is too small to be worth the hand-off.
pub(super) fn for_panel_ranges(n_panels: usize, work: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let threads = rayon::current_num_threads().max(1).min(n_panels);
    if threads <= 1 || work < PARALLEL_MIN_WORK {
        f(0..n_panels);
    } else {
        use rayon::prelude::*;
        (0..threads).into_par_iter().for_each(|t| f((t * n_panels / threads)..((t + 1) * n_panels / threads)));
    }
}

impl Packed {
    fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let n = self.n;
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        if m == 0 || n == 0 {
            return out;
        }
        let dst = OutPtr(out.as_mut_ptr());
        // SAFETY: `out` has capacity m×n; the panel ranges cover every column once, and each call
        // writes all m rows of its columns.
        for_panel_ranges(n.div_ceil(NR), m * n * self.k, |range| unsafe { self.panels_range(x, m, range, dst) });
        // SAFETY: all m×n elements were written.
        unsafe { out.set_len(m * n) };
        out
    }

    /// Compute the output columns of `panels` for all `m` rows of `x`.
    unsafe fn panels_range(&self, x: &[f32], m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return avx2::panels_range(self, x, m, panels, dst);
            }
        }
        portable::panels_range(self, x, m, panels, dst)
    }

    /// Store an `R × 16` tile (only `cols` of its columns exist) at rows `r0..r0+R`, panel `p`, adding
    /// the bias.
    #[inline(always)]
    unsafe fn store_tile<const R: usize>(&self, acc: &[[f32; NR]; R], r0: usize, p: usize, dst: OutPtr) {
        let c0 = p * NR;
        let cols = NR.min(self.n - c0);
        for (r, row) in acc.iter().enumerate() {
            let out = dst.0.add((r0 + r) * self.n + c0);
            for c in 0..cols {
                let b = match &self.bias {
                    Some(b) => *b.get_unchecked(c0 + c),
                    None => 0.0,
                };
                *out.add(c) = row[c] + b;
            }
        }
    }
}

/// Call `$f::<R>` for the row count `$r` (1..=MR) of the current tile.
macro_rules! dispatch_rows {
    ($r:expr, $f:ident ( $($arg:expr),* )) => {
        match $r {
            6 => $f::<6>($($arg),*),
            5 => $f::<5>($($arg),*),
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{OutPtr, Packed, MB, MR, NR};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panels_range(p: &Packed, x: &[f32], m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        let k = p.k;
        for rb in (0..m).step_by(MB) {
            let rb_end = (rb + MB).min(m);
            for pi in panels.clone() {
                let panel = p.panels.as_ptr().add(pi * k * NR);
                let mut r0 = rb;
                while r0 < rb_end {
                    let rows = MR.min(rb_end - r0);
                    let xs = x.as_ptr().add(r0 * k);
                    dispatch_rows!(rows, tile(p, xs, panel, r0, pi, dst));
                    r0 += rows;
                }
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize>(p: &Packed, xs: *const f32, panel: *const f32, r0: usize, pi: usize, dst: OutPtr) {
        let k = p.k;
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(panel.add(kk * NR));
            let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
            for r in 0..R {
                let a = _mm256_broadcast_ss(&*xs.add(r * k + kk));
                acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            }
        }
        let mut out = [[0f32; NR]; R];
        for r in 0..R {
            _mm256_storeu_ps(out[r].as_mut_ptr(), acc[r][0]);
            _mm256_storeu_ps(out[r].as_mut_ptr().add(8), acc[r][1]);
        }
        p.store_tile::<R>(&out, r0, pi, dst);
    }
}

/// The same loops without SIMD intrinsics, for other CPUs (the compiler vectorises the 16-wide rows).
mod portable {
    use super::{OutPtr, Packed, MB, MR, NR};

    pub(super) unsafe fn panels_range(p: &Packed, x: &[f32], m: usize, panels: std::ops::Range<usize>, dst: OutPtr) {
        let k = p.k;
        for rb in (0..m).step_by(MB) {
            let rb_end = (rb + MB).min(m);
            for pi in panels.clone() {
                let panel = &p.panels[pi * k * NR..(pi + 1) * k * NR];
                let mut r0 = rb;
                while r0 < rb_end {
                    let rows = MR.min(rb_end - r0);
                    let xs = &x[r0 * k..(r0 + rows) * k];
                    dispatch_rows!(rows, tile(p, xs, panel, r0, pi, dst));
                    r0 += rows;
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn tile<const R: usize>(p: &Packed, xs: &[f32], panel: &[f32], r0: usize, pi: usize, dst: OutPtr) {
        let k = p.k;
        let mut acc = [[0f32; NR]; R];
        for kk in 0..k {
            let b = &panel[kk * NR..kk * NR + NR];
            for r in 0..R {
                let a = xs[r * k + kk];
                for c in 0..NR {
                    acc[r][c] = a.mul_add(b[c], acc[r][c]);
                }
            }
        }
        p.store_tile::<R>(&acc, r0, pi, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module};

    /// Every shape class the kernel has: full and ragged panels, full and ragged row tiles, more rows
    /// than a cache block, with and without bias, 2-d and 3-d input; against candle's `Linear`.
    #[test]
    fn matches_candle_linear() -> Result<()> {
        let dev = Device::Cpu;
        for &(m, k, n, with_bias) in
            &[(1, 8, 16, false), (3, 17, 5, true), (6, 64, 48, true), (7, 33, 37, false), (32, 512, 1000, true), (200, 40, 70, true)]
        {
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 1.0, n, &dev)?;
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
            let bias = with_bias.then_some(&b);
            let want = candle_nn::Linear::new(w.clone(), bias.cloned()).forward(&x)?;
            let packed = PackedLinear::new(&w, bias)?;
            let got = packed.forward(&x)?;
            assert_eq!(got.dims(), &[m, n]);
            let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-3 * (k as f32).sqrt(), "m={m} k={k} n={n}: max |diff| {diff}");
            // 3-d input keeps its leading dims
            let got3 = packed.forward(&x.reshape((1, m, k))?)?;
            assert_eq!(got3.dims(), &[1, m, n]);
        }
        Ok(())
    }

    #[test]
    fn rejects_wrong_width_and_dtype() -> Result<()> {
        let dev = Device::Cpu;
        let packed = PackedLinear::new(&Tensor::zeros((4, 8), DType::F32, &dev)?, None)?;
        assert!(packed.forward(&Tensor::zeros((2, 7), DType::F32, &dev)?).is_err());
        assert!(packed.forward(&Tensor::zeros((2, 8), DType::F64, &dev)?).is_err());
        Ok(())
    }
}
