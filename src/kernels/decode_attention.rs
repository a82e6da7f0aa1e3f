//! Decoding attention straight from an f16 KV cache held per K/V head (grouped-query attention,
//! flash-decoding's split softmax over position chunks). Slices in, slices out; the llama-family
//! decoder (`models/gguf_llama.rs`) owns one cache per layer.
use candle_core::{Device, Result, Tensor};
use half::f16;

use super::fastmath::{axpy_f16, dot_f16, exp_nonpositive, exp_shifted_in_place, f16x8, mul_add};
use super::packed_linear::{for_panel_ranges, OutPtr};

/// Head counts and size of one attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadDims {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
}

/// Keys and values of the positions seen so far, one `[position][head_dim]` vector per K/V head, so
/// that attention streams each head's rows contiguously and appending never moves older positions.
/// Held in f16, as llama.cpp does by default: at long contexts decoding is bound by reading the cache
/// (SmolLM2 at ~1000 positions read 50 MB of f32 cache per token, as much as its weights).
#[derive(Debug, Default)]
pub struct HeadKvCache {
    pub k: Vec<Vec<f16>>,
    pub v: Vec<Vec<f16>>,
}

impl HeadKvCache {
    /// Append `seq` rows of `heads × hd` keys and values (the projections' layout).
    pub fn append(&mut self, k: &[f32], v: &[f32], heads: usize, hd: usize) {
        for (cache, new) in [(&mut self.k, k), (&mut self.v, v)] {
            cache.resize_with(heads, Vec::new);
            for row in new.chunks_exact(heads * hd) {
                for (h, x) in row.chunks_exact(hd).enumerate() {
                    cache[h].extend(x.iter().map(|&x| f16::from_f32(x)));
                }
            }
        }
    }

    /// Keep the first `positions` cached positions (a shared prompt prefix), drop the rest.
    pub fn truncate(&mut self, positions: usize, hd: usize) {
        for h in self.k.iter_mut().chain(self.v.iter_mut()) {
            h.truncate(positions * hd);
        }
    }

    /// Cached positions.
    pub fn len(&self, hd: usize) -> usize {
        self.k.first().map_or(0, |h| h.len() / hd)
    }

    /// The cache as `(1, kv heads, positions, head_dim)` f32 tensors (for prompt chunks).
    pub fn tensors(&self, hd: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
        let total = self.len(hd);
        let t = |x: &[Vec<f16>]| -> Result<Tensor> {
            let f: Vec<f32> = x.iter().flatten().map(|v| v.to_f32()).collect();
            Tensor::from_vec(f, (1, x.len(), total, hd), dev)
        };
        Ok((t(&self.k)?, t(&self.v)?))
    }
}

/// Positions per unit of decoding-attention work.
pub const CHUNK: usize = 128;

/// Attention of `seq` new rows (row i at position `pos + i`, seeing positions `0..=pos + i`) straight
/// from the cache. The `group` query heads that share a K/V head are scored together, so each cached
/// key and value is read once per group rather than once per query head (memory traffic is what this
/// costs at long contexts). Positions are cut into chunks of [`CHUNK`] handed to the pool; each chunk
/// keeps its own maximum, sum of exponentials and unnormalised output, and the chunks are merged by
/// rescaling with their maxima (the split softmax of flash-decoding).
pub fn attend_cached(q: &[f32], kv: &HeadKvCache, seq: usize, pos: usize, heads: HeadDims) -> Vec<f32> {
    let HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd } = heads;
    let group = nh / nkv;
    let scaling = 1.0 / (hd as f32).sqrt();
    let n_chunks = (pos + seq).div_ceil(CHUNK);
    // per task (row, kv head, chunk) and query head of its group: max, sum, then head_dim outputs
    let stride = hd + 2;
    let n_tasks = seq * nkv * n_chunks;
    let mut partial = vec![0f32; n_tasks * group * stride];
    let dst = OutPtr(partial.as_mut_ptr());
    for_panel_ranges(n_tasks, seq * nh * (pos + seq) * hd * 2, |tasks| {
        let dst = dst; // the whole pointer wrapper (Sync), not its raw field
        let mut scores = vec![0f32; CHUNK];
        for t in tasks {
            let (i, rest) = (t / (nkv * n_chunks), t % (nkv * n_chunks));
            let (kvh, c) = (rest / n_chunks, rest % n_chunks);
            let (p0, p1) = (c * CHUNK, ((c + 1) * CHUNK).min(pos + i + 1));
            // SAFETY: each task owns its `group × stride` slice of `partial`.
            let out = unsafe { std::slice::from_raw_parts_mut(dst.0.add(t * group * stride), group * stride) };
            if p0 >= p1 {
                for g in 0..group {
                    out[g * stride] = f32::NEG_INFINITY;
                }
                continue;
            }
            let qs = &q[(i * nh + kvh * group) * hd..][..group * hd];
            let (keys, values) = (&kv.k[kvh][..], &kv.v[kvh][..]);
            // Query heads of the group one after the other: the chunk's keys and values (16 KB each
            // at 128 positions × 64 f16) come from memory for the first and from L1 for the rest.
            for g in 0..group {
                let (head, o) = out[g * stride..][..stride].split_at_mut(2);
                let s = &mut scores[..p1 - p0];
                let qg = &qs[g * hd..][..hd];
                let (max, sum) = match hd {
                    64 => attend_chunk::<64>(qg, keys, values, p0, scaling, s, o),
                    128 => attend_chunk::<128>(qg, keys, values, p0, scaling, s, o),
                    _ => attend_chunk_any(qg, keys, values, p0, scaling, s, o),
                };
                head[0] = max;
                head[1] = sum;
            }
        }
    });
    let mut y = vec![0f32; seq * nh * hd];
    for i in 0..seq {
        for head in 0..nh {
            let (kvh, g) = (head / group, head % group);
            let part = |c: usize| &partial[(((i * nkv + kvh) * n_chunks + c) * group + g) * stride..][..stride];
            let max = (0..n_chunks).map(|c| part(c)[0]).fold(f32::NEG_INFINITY, f32::max);
            let o = &mut y[(i * nh + head) * hd..][..hd];
            let mut sum = 0f32;
            for c in 0..n_chunks {
                let pc = part(c);
                if pc[0] == f32::NEG_INFINITY {
                    continue;
                }
                let r = exp_nonpositive(pc[0] - max);
                sum += r * pc[1];
                for (o, &x) in o.iter_mut().zip(&pc[2..]) {
                    *o = mul_add(r, x, *o);
                }
            }
            for o in o.iter_mut() {
                *o /= sum;
            }
        }
    }
    y
}

/// One query head against positions `p0..p0 + s.len()` of one K/V head's `[position][head_dim]` rows: scores into `s`, then the
/// unnormalised weighted sum of values into `o`; returns the scores' max and Σ e^(s − max).
/// With the head size a constant the query, the two score accumulators and the output stay in
/// registers (an output accumulated in memory made each position wait on the previous store).
#[inline(always)]
fn attend_chunk<const HD: usize>(qg: &[f32], keys: &[f16], values: &[f16], p0: usize, scaling: f32, s: &mut [f32], o: &mut [f32]) -> (f32, f32) {
    let mut qv = [0f32; HD];
    qv.copy_from_slice(qg);
    for (p, sc) in (p0..).zip(s.iter_mut()) {
        let k = &keys[p * HD..][..HD];
        // two accumulators halve the chain of dependent multiply-adds
        let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
        for c in 0..HD / 8 {
            let kx = f16x8(&k[c * 8..]);
            let acc = if c % 2 == 0 { &mut a } else { &mut b };
            for l in 0..8 {
                acc[l] = mul_add(qv[c * 8 + l], kx[l], acc[l]);
            }
        }
        *sc = (0..8).map(|l| a[l] + b[l]).sum::<f32>() * scaling;
    }
    let (max, sum) = exp_shifted_in_place(s);
    let mut acc = [0f32; HD];
    for (p, &w) in (p0..).zip(s.iter()) {
        let v = &values[p * HD..][..HD];
        for c in 0..HD / 8 {
            let vx = f16x8(&v[c * 8..]);
            for l in 0..8 {
                acc[c * 8 + l] = mul_add(w, vx[l], acc[c * 8 + l]);
            }
        }
    }
    o.copy_from_slice(&acc);
    (max, sum)
}

/// [`attend_chunk`] for any head size.
fn attend_chunk_any(qg: &[f32], keys: &[f16], values: &[f16], p0: usize, scaling: f32, s: &mut [f32], o: &mut [f32]) -> (f32, f32) {
    let hd = qg.len();
    for (p, sc) in (p0..).zip(s.iter_mut()) {
        *sc = dot_f16(qg, &keys[p * hd..][..hd]) * scaling;
    }
    let (max, sum) = exp_shifted_in_place(s);
    o.fill(0.0);
    for (p, &w) in (p0..).zip(s.iter()) {
        axpy_f16(o, w, &values[p * hd..][..hd]);
    }
    (max, sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values as values;

    /// The cached decoding attention (grouped heads, chunks merged by their maxima) against plain causal
    /// softmax attention in f64 over the same f16 cache: several new rows whose causal spans end on both
    /// sides of a chunk boundary (so one row has an empty last chunk), for the head sizes with a
    /// specialised kernel (64, 128) and one without (24).
    #[test]
    fn cached_attention_matches_causal_softmax() {
        for (nh, nkv, hd) in [(6usize, 2usize, 64usize), (4, 4, 128), (3, 1, 24)] {
            let (pos, seq) = (CHUNK - 2, 3);
            let total = pos + seq;
            let mut kv = HeadKvCache::default();
            kv.append(&values(total * nkv * hd, 1), &values(total * nkv * hd, 2), nkv, hd);
            let q = values(seq * nh * hd, 3);
            let got = attend_cached(&q, &kv, seq, pos, HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd });
            let group = nh / nkv;
            for i in 0..seq {
                for h in 0..nh {
                    let (keys, vals) = (&kv.k[h / group], &kv.v[h / group]);
                    let qv = &q[(i * nh + h) * hd..][..hd];
                    let len = pos + i + 1;
                    let scores: Vec<f64> = (0..len)
                        .map(|p| (0..hd).map(|d| qv[d] as f64 * keys[p * hd + d].to_f64()).sum::<f64>() / (hd as f64).sqrt())
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = w.iter().sum();
                    for d in 0..hd {
                        let want: f64 = (0..len).map(|p| w[p] * vals[p * hd + d].to_f64()).sum::<f64>() / sum;
                        let g = got[(i * nh + h) * hd + d] as f64;
                        assert!((g - want).abs() < 1e-5, "hd {hd} row {i} head {h} dim {d}: {g} vs {want}");
                    }
                }
            }
        }
    }
}
