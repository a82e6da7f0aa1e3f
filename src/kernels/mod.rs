//! CPU kernels: slices (or candle tensors read as host slices) in, slices out. They know nothing of the
//! models that use them; each says in its docs what it was measured against.
pub mod decode_attention;
pub mod fastmath;
pub mod ggml_blocks;
pub mod host_f32;
pub mod kv_cache;
pub mod packed_int8;
pub mod packed_linear;
pub mod step_attention;

/// Deterministic pseudo-random values in [-1, 1) for the kernels' tests (no `rand` dependency).
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
