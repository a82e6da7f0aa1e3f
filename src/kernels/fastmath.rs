//! Vectorisable `exp` and log-sum-exp for the softmaxes of decoding (vocabulary rows, attention rows).
//! libm's `expf` is a scalar call per element; these loops compile to AVX2 on our x86-64-v3 target.

/// `ln Σ e^x` over a row, computed as `max + ln Σ e^(x - max)`; `-inf` when every entry is `-inf`.
pub fn log_sum_exp(row: &[f32]) -> f32 {
    log_sum_exp_given_max(row, max_of(row))
}

/// [`log_sum_exp`] for a caller that already knows the row's maximum (greedy decoding has it from its
/// argmax); `-inf` when `max` is.
pub fn log_sum_exp_given_max(row: &[f32], max: f32) -> f32 {
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + sum_exp_shifted(row, max).ln()
}

/// The row's maximum (`-inf` if empty; NaN entries are skipped, as `f32::max` does), with eight running
/// maxima so that the pass vectorises.
fn max_of(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            lanes[l] = lanes[l].max(c[l]);
        }
    }
    lanes.iter().chain(tail).copied().fold(f32::NEG_INFINITY, f32::max)
}

/// `Σ e^(x - max)` with eight running sums, so the compiler vectorises it (the scalar `expf` call per
/// vocabulary entry was 4 % of a decoding profile).
pub fn sum_exp_shifted(row: &[f32], max: f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] += exp_nonpositive(c[l] - max);
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for &x in tail {
        sum += exp_nonpositive(x - max);
    }
    sum
}

/// `e^x` for `x ≤ 0` (Cephes `expf`: range reduction by ln 2 in two parts, degree-6 polynomial, the
/// power of two put into the exponent bits); within 2 ulp of libm; 0 below -87 (where f32 leaves the
/// normal range), so `-inf` and masked positions get exactly 0. Branch-free so that loops over it
/// vectorise.
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    let underflow = x < -87.0;
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r
        + 5.000_000_1e-1;
    let p = p * r2 + r + 1.0;
    let e = p * f32::from_bits(((n as i32 + 127) as u32) << 23);
    if underflow {
        0.0
    } else {
        e
    }
}

/// `a × b + c`, fused (one rounding) where the build's target has FMA instructions; plain where it
/// has not, since `f32::mul_add` would then call the much slower software `fmaf`.
#[inline(always)]
pub fn mul_add(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(any(target_feature = "fma", target_arch = "aarch64"))]
    {
        a.mul_add(b, c)
    }
    #[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
    {
        a * b + c
    }
}

/// Index of the largest entry, the first one on ties (as `torch.argmax`); NaN entries are skipped; 0
/// for an empty row or one with no entry above `-inf`. Eight running maxima with their indices, so the
/// pass vectorises (the scalar compare-and-branch loop over the 58101-entry vocabulary was 3 % of a
/// greedy decoding profile).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = [f32::NEG_INFINITY; 8];
    let mut at = [0u32, 1, 2, 3, 4, 5, 6, 7];
    let chunks = row.chunks_exact(8);
    let tail_start = row.len() - chunks.remainder().len();
    for (i, c) in chunks.enumerate() {
        let base = (i * 8) as u32;
        for l in 0..8 {
            // strict `>` keeps each lane's first index on ties
            let gt = c[l] > best[l];
            best[l] = if gt { c[l] } else { best[l] };
            at[l] = if gt { base + l as u32 } else { at[l] };
        }
    }
    let (mut best_v, mut best_i) = (f32::NEG_INFINITY, 0usize);
    for l in 0..8 {
        let i = at[l] as usize;
        // across lanes the smallest index among equal maxima wins
        if i < tail_start && (best[l] > best_v || (best[l] == best_v && i < best_i)) {
            (best_v, best_i) = (best[l], i);
        }
    }
    for (i, &v) in row.iter().enumerate().skip(tail_start) {
        if v > best_v {
            (best_v, best_i) = (v, i);
        }
    }
    best_i
}

/// Replace each score by `e^(s − max)` and return `(max, Σ)`; eight lanes at a time so that both
/// passes vectorise (a running scalar max and sum are latency chains).
pub fn exp_shifted_in_place(s: &mut [f32]) -> (f32, f32) {
    let max = max_of(s);
    let mut acc = [0f32; 8];
    let mut chunks = s.chunks_exact_mut(8);
    for c in &mut chunks {
        for l in 0..8 {
            c[l] = exp_nonpositive(c[l] - max);
            acc[l] += c[l];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for x in chunks.into_remainder() {
        *x = exp_nonpositive(*x - max);
        sum += *x;
    }
    (max, sum)
}

/// `Σ a·b` with `b` in f16 (a half-precision KV cache), eight lanes at a time: F16C conversion and FMA
/// where the build target has them, `half`'s conversion otherwise.
#[inline(always)]
pub fn dot_f16(a: &[f32], b: &[half::f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y.to_f32()).sum();
    for (x, y) in ca.zip(cb) {
        let y = f16x8(y);
        for l in 0..8 {
            acc[l] = mul_add(x[l], y[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `o += w · x` with `x` in f16.
#[inline(always)]
pub fn axpy_f16(o: &mut [f32], w: f32, x: &[half::f16]) {
    debug_assert_eq!(o.len(), x.len());
    let (co, cx) = (o.chunks_exact_mut(8), x.chunks_exact(8));
    for (o, x) in co.zip(cx) {
        let x = f16x8(x);
        for l in 0..8 {
            o[l] = mul_add(w, x[l], o[l]);
        }
    }
    let n8 = o.len() / 8 * 8;
    for (o, x) in o[n8..].iter_mut().zip(&x[n8..]) {
        *o = mul_add(w, x.to_f32(), *o);
    }
}

/// Eight f16 values (`x.len() ≥ 8`) as f32.
#[inline(always)]
pub fn f16x8(x: &[half::f16]) -> [f32; 8] {
    #[cfg(all(target_arch = "x86_64", target_feature = "f16c"))]
    {
        use std::arch::x86_64::{_mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128, __m128i};
        assert!(x.len() >= 8);
        let mut out = [0f32; 8];
        // SAFETY: 8 f16 (16 bytes) are readable; F16C is enabled for the whole build.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), _mm256_cvtph_ps(_mm_loadu_si128(x.as_ptr() as *const __m128i))) };
        out
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "f16c")))]
    {
        std::array::from_fn(|l| x[l].to_f32())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_and_log_sum_exp_match_libm() {
        let mut x = 0.0f32;
        while x > -90.0 {
            let (want, got) = (x.exp(), exp_nonpositive(x));
            assert!((got - want).abs() <= 2.5e-7 * want + 1e-37, "exp({x}): {got} vs {want}");
            x -= 0.0137;
        }
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-f32::MAX), 0.0);
        let row: Vec<f32> = (0..1003).map(|i| ((i * 37) % 101) as f32 * 0.173 - 9.0).collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let want = max as f64 + row.iter().map(|&v| ((v - max) as f64).exp()).sum::<f64>().ln();
        assert!((log_sum_exp(&row) as f64 - want).abs() < 1e-5, "{} vs {want}", log_sum_exp(&row));
        let mut banned = row.clone();
        banned.iter_mut().skip(1).for_each(|v| *v = f32::NEG_INFINITY);
        assert_eq!(log_sum_exp(&banned), row[0]);
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 9]), f32::NEG_INFINITY);
    }

    /// Against the scalar loop greedy decoding used before (first index on ties): ties inside a lane,
    /// across lanes and with the tail, rows shorter than a chunk, all `-inf`, NaN entries skipped.
    #[test]
    fn argmax_is_the_first_maximum() {
        let scalar = |row: &[f32]| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] || row[best].is_nan() && !v.is_nan() {
                    best = j;
                }
            }
            best
        };
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for n in [0usize, 1, 5, 8, 9, 16, 23, 58101] {
            rows.push((0..n).map(|i| ((i * 7919) % 1009) as f32 * 0.01).collect());
            rows.push((0..n).map(|i| ((i * 31) % 5) as f32).collect()); // many ties on the maximum 4
            rows.push(vec![f32::NEG_INFINITY; n]);
        }
        let mut tail_tie = vec![0f32; 19];
        tail_tie[3] = 2.0;
        tail_tie[17] = 2.0;
        rows.push(tail_tie);
        let mut lane_tie = vec![0f32; 32];
        lane_tie[13] = 5.0;
        lane_tie[10] = 5.0;
        lane_tie[29] = 5.0;
        rows.push(lane_tie);
        let mut nan = vec![1f32; 20];
        nan[0] = f32::NAN;
        nan[11] = 3.0;
        nan[12] = f32::NAN;
        rows.push(nan);
        for row in &rows {
            assert_eq!(argmax(row), scalar(row), "row of {}: {:?}", row.len(), &row[..row.len().min(40)]);
        }
        assert_eq!(argmax(&rows[rows.len() - 1]), 11);
        assert_eq!(argmax(&rows[rows.len() - 2]), 10);
        assert_eq!(argmax(&rows[rows.len() - 3]), 3);
    }

    #[test]
    fn exp_shifted_in_place_matches_libm() {
        for n in [1usize, 7, 8, 29] {
            let row: Vec<f32> = (0..n).map(|i| ((i * 37) % 23) as f32 * 0.41 - 4.0).collect();
            let mut s = row.clone();
            let (max, sum) = exp_shifted_in_place(&mut s);
            assert_eq!(max, row.iter().copied().fold(f32::NEG_INFINITY, f32::max), "n={n}");
            let want: Vec<f64> = row.iter().map(|&v| ((v - max) as f64).exp()).collect();
            for (g, w) in s.iter().zip(&want) {
                assert!((*g as f64 - w).abs() <= 3e-7 * w + 1e-38, "n={n}: {g} vs {w}");
            }
            assert!((sum as f64 - want.iter().sum::<f64>()).abs() < 1e-5, "n={n}");
        }
    }

    #[test]
    fn f16_dot_and_axpy_match_f64() {
        for n in [3usize, 8, 64, 67] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 29) % 17) as f32 * 0.31 - 2.5).collect();
            let b: Vec<half::f16> = (0..n).map(|i| half::f16::from_f32(((i * 13) % 11) as f32 * 0.7 - 3.0)).collect();
            let want: f64 = a.iter().zip(&b).map(|(&x, y)| x as f64 * y.to_f64()).sum();
            assert!((dot_f16(&a, &b) as f64 - want).abs() < 1e-4, "n={n}: {} vs {want}", dot_f16(&a, &b));
            let mut o = a.clone();
            axpy_f16(&mut o, 0.5, &b);
            for ((o, &x), y) in o.iter().zip(&a).zip(&b) {
                assert!((*o as f64 - (x as f64 + 0.5 * y.to_f64())).abs() < 1e-6, "n={n}");
            }
        }
    }
}
