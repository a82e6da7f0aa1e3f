//! Attention of one new decoder position against cached keys and values, fused, on the CPU in f32.
//!
//! Why: at a decoding step every (row, head) pair multiplies a 1 × head_dim query by a short key
//! matrix. Through candle that is one small GEMM per pair for the scores and another for the values
//! (rows × heads × 2 × 2 attention blocks × layers calls per step: 24,576 for beam 4 over 32 sentences
//! on OPUS-MT), plus separate scale, bias, softmax and transpose passes, all on the main thread. Here
//! each pair is one pass over its keys and one over its values, pairs spread over the rayon pool, the
//! output written directly in `(rows, 1, heads × head_dim)` layout.
//!
//! Numerics follow the unfused path: scores `q·k × scaling + bias`, softmax as `e^(s - max) / Σ`,
//! then the probability-weighted sum of values.
use candle_core::{DType, Device, Result, Tensor};

use crate::kernels::fastmath::{exp_nonpositive, mul_add};
use crate::kernels::host_f32::HostF32;

/// `q (b, h, 1, hd)`, `k`/`v (B, h, L, hd)`, `bias (B, 1, 1, L)` (or none) -> `(b, 1, h × hd)`.
/// Query row `r` attends to key/value row `kv_rows[r]` (or `r` itself when `kv_rows` is `None`, then
/// `B = b`): the beams of one sentence share its cross-attention K/V instead of each holding a copy.
/// `None` when the fused path does not apply (not f32, not on the CPU, more than one query position);
/// the caller then takes candle's ops.
pub fn attend_one_position(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>, scaling: f32, kv_rows: Option<&[u32]>) -> Result<Option<Tensor>> {
    if !matches!(q.device(), Device::Cpu) || q.dtype() != DType::F32 || k.dtype() != DType::F32 || v.dtype() != DType::F32 {
        return Ok(None);
    }
    let (b, h, t, hd) = q.dims4()?;
    let (kb, kh, len, khd) = k.dims4()?;
    if t != 1 || (kh, khd) != (h, hd) || v.dims() != k.dims() {
        return Ok(None);
    }
    match kv_rows {
        None if kb != b => return Ok(None),
        Some(rows) if rows.len() != b => candle_core::bail!("step attention: {} kv rows for {b} query rows", rows.len()),
        Some(rows) if rows.iter().any(|&r| r as usize >= kb) => candle_core::bail!("step attention: kv row out of range (K/V has {kb})"),
        _ => {}
    }
    if let Some(bias) = bias {
        if bias.dtype() != DType::F32 || bias.dims() != [kb, 1, 1, len] {
            return Ok(None);
        }
    }
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let bias = bias.map(Tensor::contiguous).transpose()?;
    let out = {
        let q = HostF32::of(&q)?;
        let k = HostF32::of(&k)?;
        let v = HostF32::of(&v)?;
        let bias_guard = bias.as_ref().map(HostF32::of).transpose()?;
        let kv = StepKv { keys: k.slice()?, values: v.slice()?, len, layout: KvLayout::Pairs { pair_stride: len * hd, kv_rows } };
        attend_slices(q.slice()?, (b, h, hd), kv, bias_guard.as_ref().map(HostF32::slice).transpose()?, scaling)
    };
    Ok(Some(Tensor::from_vec(out, (b, 1, h * hd), q.device())?))
}

/// Cached keys and values in host memory, `head_dim` floats per (row, head, position), `len` positions.
pub struct StepKv<'a> {
    pub keys: &'a [f32],
    pub values: &'a [f32],
    pub len: usize,
    pub layout: KvLayout<'a>,
}

/// Where a (query row, head, position) finds its key and value.
pub enum KvLayout<'a> {
    /// (kv row, head) pair `c` holds its positions consecutively at `c × pair_stride`; query row `r`
    /// reads kv row `kv_rows[r]`, or `r` when `kv_rows` is `None` (cross-attention, tensors).
    Pairs { pair_stride: usize, kv_rows: Option<&'a [u32]> },
    /// One block per position, `(block rows, heads, head_dim)` at `offsets[p]`; query row `r` reads row
    /// `origin[p × rows + r]` of block `p` (the self-attention cache, reordered without copying).
    Positions { offsets: &'a [usize], origin: &'a [u32], rows: usize },
}

/// The fused step attention on host slices: `q` is `(b, h, hd)` row-major, `bias` `(kv rows, len)`
/// (only with [`KvLayout::Pairs`]); returns `(b, h × hd)` row-major.
pub fn attend_slices(q: &[f32], (b, h, hd): (usize, usize, usize), kv: StepKv, bias: Option<&[f32]>, scaling: f32) -> Vec<f32> {
    let StepKv { keys, values, len, layout } = kv;
    let mut out = vec![0f32; b * h * hd];
    use rayon::prelude::*;
    // one chunk per (row, head): chunk c is row c / h, head c % h, i.e. (b, 1, h × hd) order
    out.par_chunks_mut(hd).enumerate().for_each_init(Vec::new, |scores: &mut Vec<f32>, (c, o)| {
        let (row, head) = (c / h, c % h);
        let qv = &q[c * hd..(c + 1) * hd];
        match layout {
            KvLayout::Pairs { pair_stride, kv_rows } => {
                let row = kv_rows.map_or(row, |rows| rows[row] as usize);
                let base = (row * h + head) * pair_stride;
                let bias = bias.map(|bs| &bs[row * len..(row + 1) * len]);
                attend_pair(qv, o, scores, (keys, values, len, hd), bias, scaling, |p| base + p * hd);
            }
            KvLayout::Positions { offsets, origin, rows } => {
                let at = |p: usize| offsets[p] + (origin[p * rows + row] as usize * h + head) * hd;
                attend_pair(qv, o, scores, (keys, values, len, hd), None, scaling, at);
            }
        }
    });
    out
}

/// One (row, head): scores `q·k × scaling + bias`, softmax `e^(s - max) / Σ`, then the weighted sum of
/// values into `o`. Position `p`'s key and value start at `at(p)`.
///
/// Why the blocking: one dot product of 64 is a single chain of dependent FMAs, and `o += w·v` per
/// position stored and reloaded `o` every time, so this ran at a few GMAC/s (about a tenth of a greedy
/// decoding profile for 1 % of its multiply-adds). Four positions' dot products now run side by side,
/// and `o` stays in registers in blocks while all positions are added. Every output element still
/// sees the same operations in the same order, so the results are bit-identical to the plain loops.
#[inline(always)]
fn attend_pair(
    qv: &[f32],
    o: &mut [f32],
    scores: &mut Vec<f32>,
    (keys, values, len, hd): (&[f32], &[f32], usize, usize),
    bias: Option<&[f32]>,
    scaling: f32,
    at: impl Fn(usize) -> usize,
) {
    scores.clear();
    let score = |p: usize, d: f32| {
        let s = d * scaling;
        match bias {
            Some(bs) => s + bs[p],
            None => s,
        }
    };
    let mut p = 0;
    while p + 4 <= len {
        let key = |j: usize| &keys[at(p + j)..at(p + j) + hd];
        let d = dot4(qv, [key(0), key(1), key(2), key(3)]);
        scores.extend((0..4).map(|j| score(p + j, d[j])));
        p += 4;
    }
    scores.extend((p..len).map(|p| score(p, dot(qv, &keys[at(p)..at(p) + hd]))));
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // the exponentials in a loop of their own vectorise; the sum stays a running one (same order)
    for s in scores.iter_mut() {
        *s = exp_nonpositive(*s - max);
    }
    let mut sum = 0f32;
    for &s in scores.iter() {
        sum += s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
    let mut c = 0;
    while c + 64 <= hd {
        add_weighted::<64>(&mut o[c..c + 64], scores, values, |p| at(p) + c);
        c += 64;
    }
    while c + 16 <= hd {
        add_weighted::<16>(&mut o[c..c + 16], scores, values, |p| at(p) + c);
        c += 16;
    }
    for (p, &w) in scores.iter().enumerate() {
        for (o, &x) in o[c..].iter_mut().zip(&values[at(p) + c..at(p) + hd]) {
            *o = mul_add(w, x, *o);
        }
    }
}

/// `o += Σ_p w[p] · values[at(p)..][..N]`, positions in order, `o` held in a local block.
#[inline(always)]
fn add_weighted<const N: usize>(o: &mut [f32], weights: &[f32], values: &[f32], at: impl Fn(usize) -> usize) {
    let mut acc = [0f32; N];
    acc.copy_from_slice(o);
    for (p, &w) in weights.iter().enumerate() {
        let v: &[f32; N] = values[at(p)..at(p) + N].try_into().expect("N values");
        for l in 0..N {
            acc[l] = mul_add(w, v[l], acc[l]);
        }
    }
    o.copy_from_slice(&acc);
}

/// Dot product with eight running sums (vectorises; head_dim is a multiple of 8 in practice).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = mul_add(x[l], y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The eight running sums of [`dot`] over `..n8` for four vectors (`n8 ≤` every length, a multiple
/// of 8). With AVX2 and FMA in the build target, written with intrinsics: the compiler's own
/// vectorisation of the portable loop mixed the four vectors into 4-wide registers with shuffles.
#[inline(always)]
fn lanes4(a: &[f32], b: [&[f32]; 4], n8: usize) -> [[f32; 8]; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        use std::arch::x86_64::*;
        assert!(n8.is_multiple_of(8) && n8 <= a.len() && b.iter().all(|b| n8 <= b.len()));
        let mut out = [[0f32; 8]; 4];
        // SAFETY: AVX2 and FMA are enabled for the whole build; every load reads 8 floats below n8,
        // within each slice (asserted above).
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for c in (0..n8).step_by(8) {
                let x = _mm256_loadu_ps(a.as_ptr().add(c));
                for j in 0..4 {
                    acc[j] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b[j].as_ptr().add(c)), acc[j]);
                }
            }
            for j in 0..4 {
                _mm256_storeu_ps(out[j].as_mut_ptr(), acc[j]);
            }
        }
        out
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        let mut acc = [[0f32; 8]; 4];
        for c in (0..n8).step_by(8) {
            for j in 0..4 {
                for l in 0..8 {
                    acc[j][l] = mul_add(a[c + l], b[j][c + l], acc[j][l]);
                }
            }
        }
        acc
    }
}

/// [`dot`] of `a` with four vectors at once (four independent accumulator chains), each result
/// computed exactly as `dot` computes it.
#[inline(always)]
fn dot4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    let n = a.len();
    let b = b.map(|b| &b[..n]);
    let n8 = n / 8 * 8;
    let acc = lanes4(a, b, n8);
    std::array::from_fn(|j| {
        let tail: f32 = a[n8..].iter().zip(&b[j][n8..]).map(|(x, y)| x * y).sum();
        acc[j].iter().sum::<f32>() + tail
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain loops the blocked [`attend_pair`] replaced: one position at a time.
    fn attend_pair_plain(qv: &[f32], o: &mut [f32], keys: &[f32], values: &[f32], len: usize, bias: Option<&[f32]>, scaling: f32) {
        let hd = qv.len();
        let scores: Vec<f32> = (0..len)
            .map(|p| {
                let s = dot(qv, &keys[p * hd..(p + 1) * hd]) * scaling;
                bias.map_or(s, |bs| s + bs[p])
            })
            .collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = scores.iter().map(|&s| exp_nonpositive(s - max)).collect();
        let mut sum = 0f32;
        e.iter().for_each(|&x| sum += x);
        for (p, &w) in e.iter().enumerate() {
            let w = w / sum;
            for (o, &x) in o.iter_mut().zip(&values[p * hd..(p + 1) * hd]) {
                *o = mul_add(w, x, *o);
            }
        }
    }

    /// Blocking changes no bit: head sizes with and without 64/16 blocks and a tail, lengths with and
    /// without a remainder of the four-position blocks, with and without a bias.
    #[test]
    fn blocked_pair_equals_plain_loops_bit_for_bit() -> Result<()> {
        let dev = Device::Cpu;
        for hd in [8, 16, 20, 64, 80, 128] {
            for len in [1, 3, 4, 7, 9, 33] {
                let v = |n: usize| Tensor::randn(0f32, 1.0, n, &dev)?.to_vec1::<f32>();
                let (q, keys, values, bias) = (v(hd)?, v(len * hd)?, v(len * hd)?, v(len)?);
                for bias in [None, Some(bias.as_slice())] {
                    let mut want = vec![0f32; hd];
                    attend_pair_plain(&q, &mut want, &keys, &values, len, bias, 0.125);
                    let (mut got, mut scores) = (vec![0f32; hd], Vec::new());
                    attend_pair(&q, &mut got, &mut scores, (&keys, &values, len, hd), bias, 0.125, |p| p * hd);
                    let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "hd {hd} len {len} bias {}", bias.is_some());
                }
            }
        }
        Ok(())
    }

    /// Against candle's unfused ops (the path the layers take otherwise), with and without a padding
    /// bias that masks some positions.
    #[test]
    fn matches_unfused_attention() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, len, hd) = (3, 4, 7, 16);
        let q = Tensor::randn(0f32, 1.0, (b, h, 1, hd), &dev)?;
        let k = Tensor::randn(0f32, 1.0, (b, h, len, hd), &dev)?;
        let v = Tensor::randn(0f32, 1.0, (b, h, len, hd), &dev)?;
        let mask: Vec<f32> = (0..b * len).map(|i| if i % len >= len - i / len { -f32::MAX } else { 0.0 }).collect();
        let bias = Tensor::from_vec(mask, (b, 1, 1, len), &dev)?;
        let scaling = (hd as f64).powf(-0.5);
        for bias in [None, Some(&bias)] {
            let mut scores = (q.matmul(&k.t()?)? * scaling)?;
            if let Some(bias) = bias {
                scores = scores.broadcast_add(bias)?;
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let want = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, 1, h * hd))?;
            let got = attend_one_position(&q, &k, &v, bias, scaling as f32, None)?.expect("fused path applies");
            let diff = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "max |diff| {diff}");
            // Shared K/V: five query rows over the three kv rows must equal the unfused attention on
            // K/V/bias expanded by index_select (which is what beams of one sentence used to hold).
            let rows = [2u32, 0, 0, 1, 2];
            let q5 = Tensor::randn(0f32, 1.0, (rows.len(), h, 1, hd), &dev)?;
            let idx = Tensor::new(&rows, &dev)?;
            let (k5, v5) = (k.index_select(&idx, 0)?, v.index_select(&idx, 0)?);
            let mut scores = (q5.matmul(&k5.t()?)? * scaling)?;
            if let Some(bias) = bias {
                scores = scores.broadcast_add(&bias.index_select(&idx, 0)?)?;
            }
            let want5 = candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v5)?.transpose(1, 2)?.reshape((rows.len(), 1, h * hd))?;
            let got5 = attend_one_position(&q5, &k, &v, bias, scaling as f32, Some(&rows))?.expect("fused path applies");
            let diff = (got5 - want5)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "shared rows: max |diff| {diff}");
        }
        // more than one query position is left to candle
        let q2 = Tensor::randn(0f32, 1.0, (b, h, 2, hd), &dev)?;
        assert!(attend_one_position(&q2, &k, &v, None, 1.0, None)?.is_none());
        // kv rows out of range are an error, not a read past the cache
        let q1 = Tensor::randn(0f32, 1.0, (1, h, 1, hd), &dev)?;
        assert!(attend_one_position(&q1, &k, &v, None, 1.0, Some(&[3])).is_err());
        Ok(())
    }
}
