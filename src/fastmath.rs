//! Vectorisable `exp` and log-sum-exp for the softmaxes of decoding (vocabulary rows, attention rows).
//! libm's `expf` is a scalar call per element; these loops compile to AVX2 on our x86-64-v3 target.

/// `ln Σ e^x` over a row, computed as `max + ln Σ e^(x - max)`; `-inf` when every entry is `-inf`.
pub fn log_sum_exp(row: &[f32]) -> f32 {
    // eight running maxima, so that this pass vectorises too
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            lanes[l] = lanes[l].max(c[l]);
        }
    }
    let max = lanes.iter().chain(tail).copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + sum_exp_shifted(row, max).ln()
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
}
