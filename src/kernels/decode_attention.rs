//! Causal attention straight from an f16 KV cache held per K/V head (grouped-query attention,
//! flash-decoding's split softmax over position chunks), for decoding steps and prompt rows alike.
//! Slices in, slices out; the llama-family decoder (`models/gguf_llama.rs`) owns one cache per layer.
//!
//! Prompt rows used candle's matmul and softmax until session 12 (the f16 cache converted to f32
//! tensors every chunk). This kernel computes each row exactly as a decoding step would, so a row's
//! result no longer depends on the chunk it came in, which is what lets a prompt continue from a
//! cached prefix at any token. Cost, `perf record` of a 1.5B prompt of 873 tokens: attention 8 % of
//! the samples with candle's matmul, 9 % here (its first, row-by-row version: 20 %).
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

    /// A copy of the first `positions` positions (room reserved for a prompt's worth more).
    pub fn prefix(&self, positions: usize, hd: usize) -> Self {
        let copy = |x: &[Vec<f16>]| -> Vec<Vec<f16>> {
            x.iter()
                .map(|h| {
                    let mut v = Vec::with_capacity(h.len().max(positions * hd));
                    v.extend_from_slice(&h[..(positions * hd).min(h.len())]);
                    v
                })
                .collect()
        };
        Self { k: copy(&self.k), v: copy(&self.v) }
    }

    /// Room for `positions` more positions in every head, so that growing to them moves nothing (a
    /// reply's cache copied out of a prompt's would otherwise double on its first token).
    pub fn reserve(&mut self, positions: usize, hd: usize) {
        for h in self.k.iter_mut().chain(self.v.iter_mut()) {
            h.reserve_exact(positions * hd);
        }
    }

    /// Cached positions.
    pub fn len(&self, hd: usize) -> usize {
        self.k.first().map_or(0, |h| h.len() / hd)
    }
}

/// Positions per unit of attention work.
pub const CHUNK: usize = 128;

/// Query rows per unit of prompt work: their queries share each key and value read.
const ROW_BLOCK: usize = 4;

/// Queries scored together against each key (the block kernel's register budget: 2 × 4 accumulators).
const QB: usize = 4;

/// Attention of `seq` new rows (row i at position `pos + i`, seeing positions `0..=pos + i`) straight
/// from the cache. The query heads that share a K/V head (and, in a prompt, up to [`ROW_BLOCK`] rows)
/// are scored together, so each cached key and value is read and converted once for them all
/// (memory traffic is what this costs at long contexts). Positions are cut into chunks of [`CHUNK`];
/// each chunk keeps its own maximum, sum of exponentials and unnormalised output, and the chunks are
/// merged by rescaling with their maxima (the split softmax of flash-decoding).
///
/// Each row's result depends only on its query and the cache, never on `seq` or on the rows beside it
/// (the same operations in the same order whatever the grouping): a prompt continued from a cached
/// prefix computes what a fresh run computes, bit for bit.
pub fn attend_cached(q: &[f32], kv: &HeadKvCache, seq: usize, pos: usize, heads: HeadDims) -> Vec<f32> {
    attend_cached_on(q, kv, seq, pos, heads, wide_available())
}

/// Whether [`avx512::attend_block`] runs here: AVX-512 F detected once, and `VERTOLK_NO_AVX512` not 1.
/// Only in builds with FMA (`target-cpu=x86-64-v3`, `.cargo/config.toml`): without it the 256-bit
/// kernel's `mul_add` is not fused, and the two would differ in their last bits.
fn wide_available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "fma"))]
    {
        static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *WIDE.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("fma") && std::env::var("VERTOLK_NO_AVX512").map_or(true, |v| v != "1")
        })
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "fma")))]
    false
}

/// [`attend_cached`] with the 512-bit block kernel (`wide`, where the CPU has it) or the 256-bit one:
/// the same bits either way.
fn attend_cached_on(q: &[f32], kv: &HeadKvCache, seq: usize, pos: usize, heads: HeadDims, wide: bool) -> Vec<f32> {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = wide;
    let HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd } = heads;
    let group = nh / nkv;
    let scaling = 1.0 / (hd as f32).sqrt();
    let n_chunks = (pos + seq).div_ceil(CHUNK);
    let n_blocks = seq.div_ceil(ROW_BLOCK);
    // per (row, kv head, chunk) and query head of its group: max, sum, then head_dim outputs
    let stride = hd + 2;
    let mut partial = vec![0f32; seq * nkv * n_chunks * group * stride];
    let dst = OutPtr(partial.as_mut_ptr());
    let slot = move |i: usize, kvh: usize, c: usize, g: usize| (((i * nkv + kvh) * n_chunks + c) * group + g) * stride;
    // task t: row block t / (nkv · n_chunks), then K/V head, then chunk
    let task = |t: usize| {
        let dst = dst; // the whole pointer wrapper (Sync), not its raw field
        let (b, rest) = (t / (nkv * n_chunks), t % (nkv * n_chunks));
        let (kvh, c) = (rest / n_chunks, rest % n_chunks);
        let p0 = c * CHUNK;
        let rows = (b * ROW_BLOCK)..((b + 1) * ROW_BLOCK).min(seq);
        let (keys, values) = (&kv.k[kvh][..], &kv.v[kvh][..]);
        // the block's queries, row by row and head by head, with the positions each sees in this chunk
        let mut queries: Vec<(&[f32], usize, usize)> = Vec::with_capacity(ROW_BLOCK * group);
        for i in rows {
            let len = ((c + 1) * CHUNK).min(pos + i + 1).saturating_sub(p0);
            for g in 0..group {
                let at = slot(i, kvh, c, g);
                if len == 0 {
                    // SAFETY: each (row, kv head, chunk, head) slot belongs to one task.
                    unsafe { *dst.0.add(at) = f32::NEG_INFINITY };
                } else {
                    queries.push((&q[(i * nh + kvh * group + g) * hd..][..hd], len, at));
                }
            }
        }
        let mut scores = [[0f32; CHUNK]; QB];
        for block in queries.chunks(QB) {
            let mut outs: [&mut [f32]; QB] = Default::default();
            for (o, &(_, _, at)) in outs.iter_mut().zip(block) {
                // SAFETY: as above; the slots of one block are distinct.
                *o = unsafe { std::slice::from_raw_parts_mut(dst.0.add(at), stride) };
            }
            let qs: [&[f32]; QB] = std::array::from_fn(|r| block.get(r).map_or(&[][..], |b| b.0));
            let lens: [usize; QB] = std::array::from_fn(|r| block.get(r).map_or(0, |b| b.1));
            macro_rules! blocks {
                ($hd:literal) => {{
                    let [o0, o1, o2, o3] = outs;
                    #[cfg(target_arch = "x86_64")]
                    if wide {
                        use avx512::attend_block as wide_block;
                        // SAFETY: `wide` checked AVX-512 F (and F16C, FMA, which those CPUs have)
                        unsafe {
                            match block.len() {
                                4 => wide_block::<$hd, 4>(qs, lens, keys, values, p0, scaling, &mut scores, [o0, o1, o2, o3]),
                                3 => wide_block::<$hd, 3>([qs[0], qs[1], qs[2]], [lens[0], lens[1], lens[2]], keys, values, p0, scaling, &mut scores, [o0, o1, o2]),
                                2 => wide_block::<$hd, 2>([qs[0], qs[1]], [lens[0], lens[1]], keys, values, p0, scaling, &mut scores, [o0, o1]),
                                _ => wide_block::<$hd, 1>([qs[0]], [lens[0]], keys, values, p0, scaling, &mut scores, [o0]),
                            }
                        }
                        continue;
                    }
                    match block.len() {
                        4 => attend_block::<$hd, 4>(qs, lens, keys, values, p0, scaling, &mut scores, [o0, o1, o2, o3]),
                        3 => attend_block::<$hd, 3>([qs[0], qs[1], qs[2]], [lens[0], lens[1], lens[2]], keys, values, p0, scaling, &mut scores, [o0, o1, o2]),
                        2 => attend_block::<$hd, 2>([qs[0], qs[1]], [lens[0], lens[1]], keys, values, p0, scaling, &mut scores, [o0, o1]),
                        _ => attend_block::<$hd, 1>([qs[0]], [lens[0]], keys, values, p0, scaling, &mut scores, [o0]),
                    }
                }};
            }
            match hd {
                64 => blocks!(64),
                128 => blocks!(128),
                _ => {
                    for ((o, &qg), &len) in outs.into_iter().zip(&qs).zip(&lens).filter(|(_, &len)| len > 0) {
                        let (head, o) = o.split_at_mut(2);
                        let (max, sum) = attend_chunk_any(qg, keys, values, p0, scaling, &mut scores[0][..len], o);
                        (head[0], head[1]) = (max, sum);
                    }
                }
            }
        }
    };
    let n_tasks = n_blocks * nkv * n_chunks;
    if seq == 1 {
        for_panel_ranges(n_tasks, nh * (pos + 1) * hd * 2, |tasks| tasks.for_each(task));
    } else {
        // a prompt's later rows see more positions: tasks handed out one by one keep both threads busy
        // (contiguous ranges gave one thread three times the other's work)
        use rayon::prelude::*;
        (0..n_tasks).into_par_iter().for_each(task);
    }
    let mut y = vec![0f32; seq * nh * hd];
    for i in 0..seq {
        for head in 0..nh {
            let (kvh, g) = (head / group, head % group);
            let part = |c: usize| &partial[slot(i, kvh, c, g)..][..stride];
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

/// `N` queries of one K/V head against positions `p0..p0 + lens[r]` of its `[position][head_dim]`
/// rows: into each `outs[r]`, the scores' max, Σ e^(s − max) and the unnormalised weighted sum of
/// values. Each query gets exactly the operations, in the order, that it would get alone (two score
/// accumulators over alternate 8-lane slices, then the weighted values summed position by position in
/// each lane); only the reading and converting of keys and values is shared. With the head size and
/// the block a constant, the accumulators stay in registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attend_block<const HD: usize, const N: usize>(qs: [&[f32]; N], lens: [usize; N], keys: &[f16], values: &[f16], p0: usize, scaling: f32, scores: &mut [[f32; CHUNK]; QB], outs: [&mut [f32]; N]) {
    let n = lens.iter().copied().max().unwrap_or(0);
    let common = lens.iter().copied().min().unwrap_or(0);
    let mut qv = [[0f32; HD]; N];
    for (qv, q) in qv.iter_mut().zip(qs) {
        qv.copy_from_slice(&q[..HD]);
    }
    for (j, p) in (p0..p0 + n).enumerate() {
        let k = &keys[p * HD..][..HD];
        // two accumulators (even and odd 8-lane slices) halve the chain of dependent multiply-adds
        let (mut a, mut b) = ([[0f32; 8]; N], [[0f32; 8]; N]);
        for c in 0..HD / 16 {
            let (k0, k1) = (f16x8(&k[c * 16..]), f16x8(&k[c * 16 + 8..]));
            for r in 0..N {
                for l in 0..8 {
                    a[r][l] = mul_add(qv[r][c * 16 + l], k0[l], a[r][l]);
                }
                for l in 0..8 {
                    b[r][l] = mul_add(qv[r][c * 16 + 8 + l], k1[l], b[r][l]);
                }
            }
        }
        for r in 0..N {
            scores[r][j] = (0..8).map(|l| a[r][l] + b[r][l]).sum::<f32>() * scaling;
        }
    }
    let heads: [(f32, f32); N] = std::array::from_fn(|r| exp_shifted_in_place(&mut scores[r][..lens[r]]));
    for c in 0..HD / 8 {
        let mut acc = [[0f32; 8]; N];
        for j in 0..common {
            let vx = f16x8(&values[(p0 + j) * HD + c * 8..]);
            for r in 0..N {
                axpy8(&mut acc[r], scores[r][j], &vx);
            }
        }
        // rows on the diagonal's chunk see different numbers of its positions
        for j in common..n {
            let vx = f16x8(&values[(p0 + j) * HD + c * 8..]);
            for r in 0..N {
                if j < lens[r] {
                    axpy8(&mut acc[r], scores[r][j], &vx);
                }
            }
        }
        for r in 0..N {
            outs[r][2 + c * 8..][..8].copy_from_slice(&acc[r]);
        }
    }
    for r in 0..N {
        (outs[r][0], outs[r][1]) = heads[r];
    }
}

/// [`attend_block`] in 512-bit registers, with its bits. Its two 8-lane score accumulators over
/// alternate slices are the two halves of one 16-lane register fed 16 consecutive dimensions, and
/// its 8-lane value sums, two slices at a time: every lane sees the same fused multiply-adds in the
/// same order, half the instructions. The scores' 8-lane fold is the scalar sum it was.
/// Measured (session 18, AMD EPYC Zen 5): attention was 12 % of a `brief --direct` profile with the
/// 256-bit kernel.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{exp_shifted_in_place, CHUNK, QB};
    use half::f16;
    use std::arch::x86_64::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,f16c,fma,avx2")]
    pub(super) unsafe fn attend_block<const HD: usize, const N: usize>(qs: [&[f32]; N], lens: [usize; N], keys: &[f16], values: &[f16], p0: usize, scaling: f32, scores: &mut [[f32; CHUNK]; QB], outs: [&mut [f32]; N]) {
        const { assert!(HD % 16 == 0) };
        let n = lens.iter().copied().max().unwrap_or(0);
        let common = lens.iter().copied().min().unwrap_or(0);
        for q in &qs {
            assert!(q.len() >= HD);
        }
        assert!(keys.len() >= (p0 + n) * HD && values.len() >= (p0 + n) * HD);
        let kp = keys.as_ptr() as *const u16;
        let vp = values.as_ptr() as *const u16;
        let half = |p: *const u16| _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i));
        for (j, p) in (p0..p0 + n).enumerate() {
            let k = kp.add(p * HD);
            let mut acc = [_mm512_setzero_ps(); N];
            for c in 0..HD / 16 {
                let kx = half(k.add(c * 16));
                for r in 0..N {
                    acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(qs[r].as_ptr().add(c * 16)), kx, acc[r]);
                }
            }
            for r in 0..N {
                // a[l] + b[l], then summed over l as the 256-bit kernel sums them
                let t = _mm256_add_ps(_mm512_castps512_ps256(acc[r]), _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc[r]))));
                let mut lanes = [0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), t);
                scores[r][j] = lanes.iter().sum::<f32>() * scaling;
            }
        }
        let heads: [(f32, f32); N] = std::array::from_fn(|r| exp_shifted_in_place(&mut scores[r][..lens[r]]));
        for c in 0..HD / 16 {
            let mut acc = [_mm512_setzero_ps(); N];
            for j in 0..common {
                let vx = half(vp.add((p0 + j) * HD + c * 16));
                for r in 0..N {
                    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(scores[r][j]), vx, acc[r]);
                }
            }
            for j in common..n {
                let vx = half(vp.add((p0 + j) * HD + c * 16));
                for r in 0..N {
                    if j < lens[r] {
                        acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(scores[r][j]), vx, acc[r]);
                    }
                }
            }
            for r in 0..N {
                assert!(outs[r].len() >= 2 + HD);
                _mm512_storeu_ps(outs[r].as_mut_ptr().add(2 + c * 16), acc[r]);
            }
        }
        for r in 0..N {
            (outs[r][0], outs[r][1]) = heads[r];
        }
    }
}

/// `acc += w · x`, lane by lane (one fused multiply-add each).
#[inline(always)]
fn axpy8(acc: &mut [f32; 8], w: f32, x: &[f32; 8]) {
    for l in 0..8 {
        acc[l] = mul_add(w, x[l], acc[l]);
    }
}

/// One query head against positions `p0..p0 + s.len()` of one K/V head's `[position][head_dim]` rows, for
/// head sizes without a specialised kernel: scores into `s`, then the unnormalised weighted sum of
/// values into `o`; returns the scores' max and Σ e^(s − max).
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

    /// A row's attention is the same, bit for bit, computed among many prompt rows or alone (as the
    /// last row, after the cache holds exactly its prefix): the property that lets a prompt continue
    /// from any cached prefix. Rows on both sides of a chunk boundary, head sizes 64, 128 and 24, and
    /// groups of 6, 7 and 3 query heads (blocks of 4 with a remainder).
    #[test]
    fn a_rows_attention_does_not_depend_on_the_rows_beside_it() {
        for (nh, nkv, hd) in [(12usize, 2usize, 128usize), (14, 2, 64), (3, 1, 24)] {
            let (pos, seq) = (CHUNK - 5, 11);
            let total = pos + seq;
            let mut kv = HeadKvCache::default();
            kv.append(&values(total * nkv * hd, 7), &values(total * nkv * hd, 8), nkv, hd);
            let q = values(seq * nh * hd, 9);
            let heads = HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd };
            let all = attend_cached(&q, &kv, seq, pos, heads);
            for i in 0..seq {
                let alone = attend_cached(&q[i * nh * hd..][..nh * hd], &kv.prefix(pos + i + 1, hd), 1, pos + i, heads);
                assert_eq!(alone[..], all[i * nh * hd..][..nh * hd], "heads {nh}/{nkv}×{hd}: row {i}");
            }
            // and the rows from i on, continued after the first i (a prompt resumed mid-way)
            for i in [1, 4, 6] {
                let rest = attend_cached(&q[i * nh * hd..], &kv, seq - i, pos + i, heads);
                assert_eq!(rest[..], all[i * nh * hd..], "heads {nh}/{nkv}×{hd}: rows {i}.. resumed");
            }
        }
    }

    /// The 512-bit block kernel gives the 256-bit one's bits: prompt rows (blocks of 4, 3, 2, 1 queries,
    /// rows across a chunk boundary) and a decoding row, head sizes 64 and 128.
    #[test]
    fn the_wide_kernel_gives_the_same_bits() {
        if !wide_available() {
            eprintln!("no AVX-512 here: only the 256-bit attention kernel runs");
            return;
        }
        for (nh, nkv, hd, pos, seq) in [(12usize, 2usize, 128usize, CHUNK - 5, 11usize), (14, 2, 64, 2 * CHUNK + 3, 6), (12, 2, 128, 300, 1), (4, 4, 64, 0, 9)] {
            let total = pos + seq;
            let mut kv = HeadKvCache::default();
            kv.append(&values(total * nkv * hd, 11), &values(total * nkv * hd, 12), nkv, hd);
            let q = values(seq * nh * hd, 13);
            let heads = HeadDims { n_head: nh, n_kv_head: nkv, head_dim: hd };
            let narrow = attend_cached_on(&q, &kv, seq, pos, heads, false);
            let wide = attend_cached_on(&q, &kv, seq, pos, heads, true);
            assert_eq!(narrow.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), wide.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), "heads {nh}/{nkv}×{hd}, {seq} rows at {pos}");
        }
    }

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
