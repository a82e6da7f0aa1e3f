//! Model files, one per architecture, in candle-transformers' shape (`Config` + `load(vb, &cfg)`).
pub mod bart;
pub mod gguf_linear;
pub mod gguf_llama;
pub mod kv_cache;
pub mod llm;
pub mod marian;
pub mod packed_int8;
pub mod packed_linear;
pub mod step_attention;
pub mod transformer;

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
