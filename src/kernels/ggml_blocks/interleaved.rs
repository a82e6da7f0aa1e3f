//! Q4_K, Q6_K, Q8_0, Q4_0 and Q4_1 matrices with their rows interleaved in groups of 8, so that one
//! kernel pass computes 8 output columns in the lanes of one register (llama.cpp's CPU "repack" idea,
//! `block_q4_Kx8`, in layouts of our own).
//!
//! Why: in the row-at-a-time AVX-512 kernels ([`super::avx512`]) 12 of each row's 23 instructions per
//! Q4_K super-block and activation row were the float scaling, the mins term and the horizontal fold:
//! work per (weight row, activation row, super-block). With 8 weight rows in the lanes of one
//! register that work is done once for 8 columns, the scales are applied by `madd`s that cover 8
//! columns, and no horizontal sum is left at the end. The 32-value formats gain more: their row
//! kernels paid a float multiply-add per 32 values and row. Measured (`paired_kernel_rates`, one
//! thread, best of alternated calls; the 1.5B's feed-forward shapes, the 0.5B's gate/up for Q8_0):
//! Q4_K 1.86–1.99× the row kernels' rate on 64- and 512-row products and 1.15–1.32× on one row
//! (against AVX2 with VNNI, decoding's kernels); Q6_K 1.47–1.53× and 1.21–1.28×; Q8_0 3.3× and 2.0×.
//!
//! Layouts. Values `8t..8t+8` of a 32-value (sub-)block are its quad `t`; one register holds a quad of
//! all 8 rows, row `c` in bytes `8c..8c+8`, and meets one 8-byte octet of activations broadcast to
//! every 64-bit lane. Nibbles go two quads to a 64-byte load `h`: byte `8c + v` holds value `16h + v`
//! of row `c` in its low nibble and value `16h + 8 + v` in its high nibble.
//! - The K-quants, per super-block (a whole number of cache lines, so every one starts on a line);
//!   sub-block `s` is values `32s..32s+32`.
//!   - Q4_K, 1216 bytes: `0..1024` the nibbles, sub-block `s` in bytes `128s..128s+128`;
//!     `1024..1056`, `1056..1088` the rows' `d` and `dmin` as f32 (exactly their f16 values);
//!     `1088..1152` the 6-bit scales as bytes `[s][c]`; `1152..1216` the mins as bytes
//!     `[s / 2][c][s % 2]`, the i16 pairs a `madd` with two sub-blocks' activation sums takes.
//!   - Q6_K, 1728 bytes: `0..1024` the low nibbles as Q4_K's; `1024..1536` the high two bits,
//!     sub-block `s` in bytes `1024 + 64s..`, bits `2t, 2t + 1` of byte `8c + v` for quad `t`;
//!     `1536..1664` the 16 signed scales as bytes `[i / 4][c][i % 4]` (scale `i` covers values
//!     `16i..16i+16`); `1664..1696` the rows' `d` as f32; 32 bytes of padding.
//! - The 32-value formats, per group (rounded up to whole lines): first every block's values — Q8_0's
//!   quads at `256b + 64t`, Q4_0/Q4_1's nibbles at `128b` as one Q4_K sub-block's — then the blocks'
//!   f16 scales, `[b][c]`, then Q4_1's f16 offsets `m`, `[b][c]`. Any whole number of blocks per row
//!   works (SmolLM2's rows are 18 blocks).
//!
//! The integer sums are exactly ggml's (per row and super-block: Q4_K `Σ sc·Σ q·y` and `Σ m·Σ y`;
//! Q6_K `Σ sc·Σ q·y − 32·Σ sc·Σ y`; per block `Σ q·y`, for Q4_0 `− 8·Σ y`); each output then adds its
//! blocks' float terms one after another in one f32 lane. That order differs from the row kernels'
//! (partial lanes summed at the end), so an interleaved matrix's products differ from a row-major
//! one's in the last bits; every row count, tail and level (AVX-512 with or without VNNI, or the
//! portable references [`dot_portable`], [`dot_small_portable`]) gives the same bits, so a row's
//! result never depends on the rows computed with it.
use super::{k4_scales_mins, read_f16, ActBlock, ActBlockK, BlockKind, QK, QK_K};

#[cfg(target_arch = "x86_64")]
pub(super) mod amx;

/// Rows per group.
pub(super) const GROUP: usize = 8;

mod q4k {
    pub const BYTES: usize = 1216;
    pub const D: usize = 1024;
    pub const DMIN: usize = 1056;
    pub const SCALES: usize = 1088;
    pub const MINS: usize = 1152;
    const _: () = assert!(BYTES == MINS + 64 && BYTES.is_multiple_of(64));
}

mod q6k {
    pub const BYTES: usize = 1728;
    pub const HIGH: usize = 1024;
    pub const SCALES: usize = 1536;
    pub const D: usize = 1664;
    const _: () = assert!(BYTES >= D + 32 && BYTES.is_multiple_of(64));
}

/// Bytes of one group's super-block of a K-quant (Q4_K or Q6_K).
const fn super_block_bytes(kind: BlockKind) -> usize {
    match kind {
        BlockKind::Q6_K => q6k::BYTES,
        _ => q4k::BYTES,
    }
}

/// Bytes of one 32-value block's values for the 8 rows of a group (Q4_0, Q4_1, Q8_0), in the group's
/// first region; its f16 scales (and Q4_1's offsets) follow all the blocks' values, 16 bytes a block.
const fn small_values_bytes(kind: BlockKind) -> usize {
    match kind {
        BlockKind::Q8_0 => 256,
        _ => 128,
    }
}

/// Whether `kind` is one of the 32-value formats laid out here.
const fn is_small(kind: BlockKind) -> bool {
    matches!(kind, BlockKind::Q4_0 | BlockKind::Q4_1 | BlockKind::Q8_0)
}

/// Bytes of a group of `blocks` blocks (super-blocks for the K-quants) per row, rounded up to whole
/// cache lines.
const fn group_bytes_of(kind: BlockKind, blocks: usize) -> usize {
    let bytes = if is_small(kind) { blocks * (small_values_bytes(kind) + if matches!(kind, BlockKind::Q4_1) { 32 } else { 16 }) } else { blocks * super_block_bytes(kind) };
    bytes.div_ceil(64) * 64
}

/// Where the f16 scale of block `b` of row `c` is in a group of a 32-value format with `blocks` blocks;
/// Q4_1's offset `m` is `16·blocks` bytes further.
#[inline(always)]
const fn small_scale_at(kind: BlockKind, blocks: usize, b: usize, c: usize) -> usize {
    blocks * small_values_bytes(kind) + 16 * b + 2 * c
}

/// Where Q4_K sub-block `s`'s scale of row `c` is in a super-block.
#[inline(always)]
const fn q4k_scale_at(s: usize, c: usize) -> usize {
    q4k::SCALES + 8 * s + c
}

/// Where Q4_K sub-block `s`'s min of row `c` is in a super-block.
#[inline(always)]
const fn q4k_min_at(s: usize, c: usize) -> usize {
    q4k::MINS + 16 * (s / 2) + 2 * c + s % 2
}

/// Where Q6_K scale `i` (of values `16i..16i+16`) of row `c` is in a super-block.
#[inline(always)]
const fn q6k_scale_at(i: usize, c: usize) -> usize {
    q6k::SCALES + 32 * (i / 4) + 4 * c + i % 4
}

/// Where Q4_1's f16 offset `m` of block `b` of row `c` is in a group of `blocks` blocks per row.
#[inline(always)]
const fn q41_offset_at(blocks: usize, b: usize, c: usize) -> usize {
    small_scale_at(BlockKind::Q4_1, blocks, b, c) + 16 * blocks
}

/// One cache line, so the groups' blocks start on lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// An `n × k` matrix (`n` a multiple of 8) in the interleaved layout of its kind.
pub(super) struct Interleaved {
    kind: BlockKind,
    lines: Vec<Line>,
    /// Blocks (the K-quants: super-blocks) per row.
    blocks: usize,
}

impl Interleaved {
    /// From `n` rows of `kind` blocks as GGUF stores them; `None` for other kinds (Q5_0, Q5_K), or
    /// when `n` is not a multiple of 8.
    pub(super) fn from_rows(kind: BlockKind, rows: &[u8], n: usize, k: usize) -> Option<Self> {
        if !matches!(kind, BlockKind::Q4_K | BlockKind::Q6_K) && !is_small(kind) || n == 0 || k == 0 || !n.is_multiple_of(GROUP) || !k.is_multiple_of(kind.block_values()) {
            return None;
        }
        let blocks = k / kind.block_values();
        let bb = kind.block_bytes();
        if rows.len() != n * blocks * bb {
            return None;
        }
        let group_bytes = group_bytes_of(kind, blocks);
        // (2 MB pages for these lines, asked with MADV_HUGEPAGE and granted, measured no faster: prompt
        // 68.3/66.5/74.2 against 73.1/67.3/71.6 tok/s with 4 KB pages, decoding 13.3/11.2/12.8 against
        // 13.7/11.6/11.2, alternated `bench llm` runs of the 1.5B)
        let mut lines = vec![Line([0; 64]); n / GROUP * group_bytes / 64];
        // SAFETY: `Line` is 64 plain bytes; the vector's bytes are exactly `lines.len() · 64`.
        let out = unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr() as *mut u8, lines.len() * 64) };
        use rayon::prelude::*;
        out.par_chunks_mut(group_bytes).enumerate().for_each(|(g, group)| {
            for b in 0..blocks {
                for c in 0..GROUP {
                    let at = ((g * GROUP + c) * blocks + b) * bb;
                    let src = &rows[at..at + bb];
                    let sb = b * super_block_bytes(kind);
                    match kind {
                        BlockKind::Q6_K => put_q6k(src, c, &mut group[sb..sb + q6k::BYTES]),
                        BlockKind::Q4_K => put_q4k(src, c, &mut group[sb..sb + q4k::BYTES]),
                        _ => put_small(kind, src, blocks, b, c, group),
                    }
                }
            }
        });
        Some(Self { kind, lines, blocks })
    }

    pub(super) fn kind(&self) -> BlockKind {
        self.kind
    }

    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: as in `from_rows`.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const u8, self.lines.len() * 64) }
    }

    /// The bytes of group `g` (rows `8g..8g+8`).
    #[inline(always)]
    pub(super) fn group(&self, g: usize) -> &[u8] {
        let gb = self.group_bytes();
        &self.bytes()[g * gb..(g + 1) * gb]
    }

    pub(super) fn group_bytes(&self) -> usize {
        group_bytes_of(self.kind, self.blocks)
    }

    /// Row `j` as floats, with the arithmetic of the row-major [`super::BlockMatrix::dequantize_row`]
    /// (so the same bits).
    pub(super) fn dequantize_row(&self, j: usize, out: &mut [f32]) {
        let (c, g, kind) = (j % GROUP, self.group(j / GROUP), self.kind);
        if is_small(kind) {
            for (b, out) in out.chunks_exact_mut(QK).enumerate() {
                let at = small_scale_at(kind, self.blocks, b, c);
                let d = read_f16(g, at);
                let m = if kind == BlockKind::Q4_1 { read_f16(g, q41_offset_at(self.blocks, b, c)) } else { 0.0 };
                for (u, o) in out.iter_mut().enumerate() {
                    *o = match kind {
                        BlockKind::Q8_0 => q80_value(g, b, u, c) as f32 * d,
                        BlockKind::Q4_0 => (nibble(&g[128 * b..], u, c) as i32 - 8) as f32 * d,
                        _ => nibble(&g[128 * b..], u, c) as f32 * d + m,
                    };
                }
            }
            return;
        }
        for (blk, out) in g.chunks_exact(super_block_bytes(kind)).zip(out.chunks_exact_mut(QK_K)) {
            if kind == BlockKind::Q6_K {
                let d = f32_at(blk, q6k::D + 4 * c);
                for (u, o) in out.iter_mut().enumerate() {
                    *o = d * q6k_scale(blk, u / 16, c) as f32 * (q6k_value(blk, u, c) as i32 - 32) as f32;
                }
            } else {
                let (d, dmin) = (f32_at(blk, q4k::D + 4 * c), f32_at(blk, q4k::DMIN + 4 * c));
                for s in 0..8 {
                    let (d1, m1) = (d * blk[q4k_scale_at(s, c)] as f32, dmin * blk[q4k_min_at(s, c)] as f32);
                    for u in 32 * s..32 * s + 32 {
                        out[u] = d1 * nibble(blk, u, c) as f32 - m1;
                    }
                }
            }
        }
    }
}

/// The low nibble (both kinds' 4-bit part) of value `u` of row `c` in an interleaved super-block.
#[inline(always)]
fn nibble(blk: &[u8], u: usize, c: usize) -> u8 {
    let (s, t, v) = (u / 32, (u / 8) % 4, u % 8);
    (blk[128 * s + 64 * (t / 2) + 8 * c + v] >> (4 * (t % 2))) & 0xF
}

/// Q6_K value `u` (0..64) of row `c`.
#[inline(always)]
fn q6k_value(blk: &[u8], u: usize, c: usize) -> u8 {
    let (s, t, v) = (u / 32, (u / 8) % 4, u % 8);
    nibble(blk, u, c) | (((blk[q6k::HIGH + 64 * s + 8 * c + v] >> (2 * t)) & 3) << 4)
}

/// Q6_K scale `i` (of values `16i..16i+16`) of row `c`.
#[inline(always)]
fn q6k_scale(blk: &[u8], i: usize, c: usize) -> i8 {
    blk[q6k_scale_at(i, c)] as i8
}

/// Q8_0 value `u` (of 32) of block `b` of row `c` in a group.
#[inline(always)]
fn q80_value(g: &[u8], b: usize, u: usize, c: usize) -> i8 {
    g[256 * b + 64 * (u / 8) + 8 * c + u % 8] as i8
}

/// Row `c`'s block `b` (of `blocks` per row) of a 32-value format, `src` as GGUF stores it, into its
/// places in `group`: Q8_0's quad `t` at `256b + 64t`; Q4_0/Q4_1's nibbles as a Q4_K sub-block's at
/// `128b`; the f16 scale at [`small_scale_at`], Q4_1's offset `16·blocks` bytes further.
fn put_small(kind: BlockKind, src: &[u8], blocks: usize, b: usize, c: usize, group: &mut [u8]) {
    let at = small_scale_at(kind, blocks, b, c);
    group[at..at + 2].copy_from_slice(&src[..2]);
    match kind {
        BlockKind::Q8_0 => {
            for t in 0..4 {
                group[256 * b + 64 * t + 8 * c..][..8].copy_from_slice(&src[2 + 8 * t..][..8]);
            }
        }
        _ => {
            let qs = if kind == BlockKind::Q4_1 {
                let m = q41_offset_at(blocks, b, c);
                group[m..m + 2].copy_from_slice(&src[2..4]);
                &src[4..20]
            } else {
                &src[2..18]
            };
            // value i: low nibble of byte i; value i + 16: its high nibble
            let mut q = [0u8; QK];
            for (i, &byte) in qs.iter().enumerate() {
                q[i] = byte & 0xF;
                q[i + 16] = byte >> 4;
            }
            put_nibbles(&q, c, &mut group[128 * b..128 * b + 128]);
        }
    }
}

/// Values `32s + 8t + v` at the byte and nibble of the layout: `q[u]` are row `c`'s values (256, or a
/// 32-value block's 32).
fn put_nibbles(q: &[u8], c: usize, dst: &mut [u8]) {
    for s in 0..q.len() / 32 {
        for h in 0..2 {
            let (lo, hi) = (&q[32 * s + 16 * h..][..8], &q[32 * s + 16 * h + 8..][..8]);
            let out = &mut dst[128 * s + 64 * h + 8 * c..][..8];
            for v in 0..8 {
                out[v] = (lo[v] & 0xF) | ((hi[v] & 0xF) << 4);
            }
        }
    }
}

/// Row `c`'s Q4_K block `src` into its places in the group's super-block `dst`.
fn put_q4k(src: &[u8], c: usize, dst: &mut [u8]) {
    let (sc, mn) = k4_scales_mins(&src[4..16]);
    dst[q4k::D + 4 * c..][..4].copy_from_slice(&read_f16(src, 0).to_le_bytes());
    dst[q4k::DMIN + 4 * c..][..4].copy_from_slice(&read_f16(src, 2).to_le_bytes());
    for s in 0..8 {
        dst[q4k_scale_at(s, c)] = sc[s];
        dst[q4k_min_at(s, c)] = mn[s];
    }
    // value u of sub-block s: nibble s % 2 of byte 16 + 32·(s/2) + u
    let mut q = [0u8; QK_K];
    for (pair, bytes) in src[16..144].chunks_exact(32).enumerate() {
        for (u, &byte) in bytes.iter().enumerate() {
            q[64 * pair + u] = byte & 0xF;
            q[64 * pair + 32 + u] = byte >> 4;
        }
    }
    put_nibbles(&q, c, dst);
}

/// Row `c`'s Q6_K block `src` into its places in the group's super-block `dst`.
fn put_q6k(src: &[u8], c: usize, dst: &mut [u8]) {
    let (ql, qh, sc) = (&src[..128], &src[128..192], &src[192..208]);
    // ggml's layout: half h, l < 32: values 128h + l, +32, +64, +96 from ql[64h + l], ql[64h + l + 32]
    // and the bit pairs 0, 2, 4, 6 of qh[32h + l]
    let mut q = [0u8; QK_K];
    for h in 0..2 {
        for l in 0..32 {
            let (a, b, hb) = (ql[64 * h + l], ql[64 * h + l + 32], qh[32 * h + l]);
            q[128 * h + l] = (a & 0xF) | ((hb & 3) << 4);
            q[128 * h + l + 32] = (b & 0xF) | (((hb >> 2) & 3) << 4);
            q[128 * h + l + 64] = (a >> 4) | (((hb >> 4) & 3) << 4);
            q[128 * h + l + 96] = (b >> 4) | (((hb >> 6) & 3) << 4);
        }
    }
    put_nibbles(&q, c, dst);
    for s in 0..8 {
        for v in 0..8 {
            let high = (0..4).fold(0u8, |acc, t| acc | ((q[32 * s + 8 * t + v] >> 4) << (2 * t)));
            dst[q6k::HIGH + 64 * s + 8 * c + v] = high;
        }
    }
    for (i, &s) in sc.iter().enumerate() {
        dst[q6k_scale_at(i, c)] = s;
    }
    dst[q6k::D + 4 * c..][..4].copy_from_slice(&read_f16(src, 208).to_le_bytes());
}

#[inline(always)]
fn f32_at(p: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

/// The 8 outputs of group `g` (its blocks, of `kind`) for one activation row, with the float
/// arithmetic of the [`avx512`] kernels lane for lane (so the same bits): the reference, and the
/// kernel where AVX-512 is missing.
pub(super) fn dot_portable(kind: BlockKind, g: &[u8], a: &[ActBlockK]) -> [f32; GROUP] {
    let mut acc = [0f32; GROUP];
    for (blk, y) in g.chunks_exact(super_block_bytes(kind)).zip(a) {
        for (c, acc) in acc.iter_mut().enumerate() {
            if kind == BlockKind::Q6_K {
                let mut tot = 0i32;
                for i in 0..16 {
                    let dot: i32 = (16 * i..16 * i + 16).map(|u| q6k_value(blk, u, c) as i32 * y.qs[u] as i32).sum();
                    tot += q6k_scale(blk, i, c) as i32 * (dot - 32 * y.bsums[i] as i32);
                }
                *acc = (f32_at(blk, q6k::D + 4 * c) * y.d).mul_add(tot as f32, *acc);
            } else {
                let (mut sumi, mut mins) = (0i32, 0i32);
                for s in 0..8 {
                    let dot: i32 = (32 * s..32 * s + 32).map(|u| nibble(blk, u, c) as i32 * y.qs[u] as i32).sum();
                    sumi += blk[q4k_scale_at(s, c)] as i32 * dot;
                    mins += blk[q4k_min_at(s, c)] as i32 * y.sums32[s] as i32;
                }
                let (d, dmin) = (f32_at(blk, q4k::D + 4 * c), f32_at(blk, q4k::DMIN + 4 * c));
                *acc = (d * y.d).mul_add(sumi as f32, *acc);
                *acc = (dmin * -y.d).mul_add(mins as f32, *acc);
            }
        }
    }
    acc
}

/// Q4_0, Q4_1, Q8_0: the 8 outputs of group `g` for one activation row, with the float arithmetic of
/// [`avx512::dot_small`] lane for lane. Q4_0's `−8` is taken in the integer sum (`Σ q·y − 8·Σy`, exact).
pub(super) fn dot_small_portable(kind: BlockKind, g: &[u8], a: &[ActBlock]) -> [f32; GROUP] {
    let blocks = a.len();
    let mut acc = [0f32; GROUP];
    for (b, y) in a.iter().enumerate() {
        for (c, acc) in acc.iter_mut().enumerate() {
            let at = small_scale_at(kind, blocks, b, c);
            let d = read_f16(g, at);
            let dot: i32 = match kind {
                BlockKind::Q8_0 => (0..QK).map(|u| q80_value(g, b, u, c) as i32 * y.qs[u] as i32).sum(),
                _ => (0..QK).map(|u| nibble(&g[128 * b..], u, c) as i32 * y.qs[u] as i32).sum(),
            };
            let dot = if kind == BlockKind::Q4_0 { dot - 8 * y.qsum as i32 } else { dot };
            *acc = (d * y.d).mul_add(dot as f32, *acc);
            if kind == BlockKind::Q4_1 {
                *acc = read_f16(g, q41_offset_at(blocks, b, c)).mul_add(y.s, *acc);
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// The low nibbles of sub-block `s`: quads 0..4 of the 8 rows.
    #[inline(always)]
    unsafe fn nibbles(p: *const u8, s: usize) -> [__m512i; 4] {
        let m4 = _mm512_set1_epi8(0xF);
        let l0 = _mm512_loadu_si512(p.add(128 * s) as *const _);
        let l1 = _mm512_loadu_si512(p.add(128 * s + 64) as *const _);
        [
            _mm512_and_si512(l0, m4),
            _mm512_and_si512(_mm512_srli_epi16::<4>(l0), m4),
            _mm512_and_si512(l1, m4),
            _mm512_and_si512(_mm512_srli_epi16::<4>(l1), m4),
        ]
    }

    /// 32 i16 lanes: lane `4c + p` = signed byte `4c + J` of each 128-bit half of `bytes`: the scale of
    /// row `c` for the 4 i16 sums of its lanes, from bytes laid `[c][4]` (Q6_K's).
    #[inline(always)]
    unsafe fn spread<const J: i8>(bytes: __m256i) -> __m512i {
        let pick = _mm256_setr_epi8(J, J, J, J, 4 + J, 4 + J, 4 + J, 4 + J, 8 + J, 8 + J, 8 + J, 8 + J, 12 + J, 12 + J, 12 + J, 12 + J, J, J, J, J, 4 + J, 4 + J, 4 + J, 4 + J, 8 + J, 8 + J, 8 + J, 8 + J, 12 + J, 12 + J, 12 + J, 12 + J);
        _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(bytes, pick))
    }

    /// An 8-byte octet of activations in every 64-bit lane.
    #[inline(always)]
    unsafe fn octet(y: *const u8) -> __m512i {
        _mm512_set1_epi64(std::ptr::read_unaligned(y as *const i64))
    }

    /// Row `c`'s two i32 lanes `2c, 2c + 1` of `v` summed, into lane `c` of 8.
    #[inline(always)]
    unsafe fn join_pairs(v: __m512i) -> __m256i {
        _mm512_cvtepi64_epi32(_mm512_add_epi32(v, _mm512_srli_epi64::<32>(v)))
    }

    #[inline(always)]
    unsafe fn store<const R: usize>(acc: [__m256; R]) -> [[f32; GROUP]; R] {
        std::array::from_fn(|r| {
            let mut o = [0f32; GROUP];
            _mm256_storeu_ps(o.as_mut_ptr(), acc[r]);
            o
        })
    }

    /// Q4_K: the 8 outputs of group `g` for each of `R` activation rows. Per sub-block the nibbles of
    /// the 8 rows unpacked into four registers, shared by the `R` rows; per row, four `maddubs`
    /// against its octets (i16 sums: 4·2·15·127 < 2¹⁵), one `madd` with the 8 rows' scales. Per
    /// super-block and row: each row's two i32 lanes joined, the mins term for the 8 rows in four
    /// `madd`s (mins pairs against the row's 32-value sums), two fused multiply-adds for all 8 outputs.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    pub(in super::super) unsafe fn dot_q4k<const R: usize>(g: &[u8], a: [&[ActBlockK]; R]) -> [[f32; GROUP]; R] {
        dot_q4k_with::<R, false>(g, a)
    }

    /// [`dot_q4k`] with VNNI: per row and sub-block four `vpdpbusd` (two chains of two, joined by an
    /// add) give each row's two i32 sums of `q·y` and one `vpmulld` scales them (7 instructions where
    /// `maddubs` took 9: four `maddubs`, three i16 adds, a `madd`, an add), the same exact integers, so
    /// the same bits.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,avx512vnni")]
    pub(in super::super) unsafe fn dot_q4k_vnni<const R: usize>(g: &[u8], a: [&[ActBlockK]; R]) -> [[f32; GROUP]; R] {
        dot_q4k_with::<R, true>(g, a)
    }

    /// 16 i32 lanes: lanes `2c, 2c + 1` = byte `c` of the 8 at `p` (unsigned).
    #[inline(always)]
    unsafe fn pairs_u8(p: *const u8) -> __m512i {
        let expand = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        _mm512_cvtepu8_epi32(_mm_shuffle_epi8(_mm_loadl_epi64(p as *const __m128i), expand))
    }

    /// 16 i32 lanes: lanes `2c, 2c + 1` = signed byte `4c + J` of `bytes` (Q6_K's `[c][4]` scales).
    #[inline(always)]
    unsafe fn pairs_i8<const J: i8>(bytes: __m256i) -> __m512i {
        let pick = _mm256_setr_epi8(J, J, 4 + J, 4 + J, 8 + J, 8 + J, 12 + J, 12 + J, -1, -1, -1, -1, -1, -1, -1, -1, J, J, 4 + J, 4 + J, 8 + J, 8 + J, 12 + J, 12 + J, -1, -1, -1, -1, -1, -1, -1, -1);
        let picked = _mm256_permute4x64_epi64::<0b1000>(_mm256_shuffle_epi8(bytes, pick));
        _mm512_cvtepi8_epi32(_mm256_castsi256_si128(picked))
    }

    #[inline(always)]
    unsafe fn dot_q4k_with<const R: usize, const VNNI: bool>(g: &[u8], a: [&[ActBlockK]; R]) -> [[f32; GROUP]; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        for (b, blk) in g.chunks_exact(q4k::BYTES).enumerate() {
            let p = blk.as_ptr();
            let dv = _mm256_loadu_ps(p.add(q4k::D) as *const f32);
            let mv = _mm256_loadu_ps(p.add(q4k::DMIN) as *const f32);
            let mins: [__m256i; 4] = std::array::from_fn(|q| _mm256_cvtepu8_epi16(_mm_loadu_si128(p.add(q4k_min_at(2 * q, 0)) as *const __m128i)));
            // sub-block s's scale bytes, one per row → each row's byte in the 4 i16 lanes of its sums
            let expand = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
            let mut sumi = [_mm512_setzero_si512(); R];
            for s in 0..8 {
                let w = nibbles(p, s);
                if VNNI {
                    let sc = pairs_u8(p.add(q4k_scale_at(s, 0)));
                    for r in 0..R {
                        let y = a[r].get_unchecked(b).qs.as_ptr().add(32 * s) as *const u8;
                        // two chains of two, not one of four: one row alone (decoding) waits on the latency
                        let zero = _mm512_setzero_si512();
                        let d0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, w[0], octet(y)), w[1], octet(y.add(8)));
                        let d1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, w[2], octet(y.add(16))), w[3], octet(y.add(24)));
                        sumi[r] = _mm512_add_epi32(sumi[r], _mm512_mullo_epi32(_mm512_add_epi32(d0, d1), sc));
                    }
                    continue;
                }
                let sc8 = _mm256_set1_epi64x(std::ptr::read_unaligned(p.add(q4k_scale_at(s, 0)) as *const i64));
                let sc = _mm512_cvtepu8_epi16(_mm256_shuffle_epi8(sc8, expand));
                for r in 0..R {
                    let y = a[r].get_unchecked(b).qs.as_ptr().add(32 * s) as *const u8;
                    let q = |t: usize| _mm512_maddubs_epi16(w[t], octet(y.add(8 * t)));
                    let t = _mm512_add_epi16(_mm512_add_epi16(q(0), q(1)), _mm512_add_epi16(q(2), q(3)));
                    sumi[r] = _mm512_add_epi32(sumi[r], _mm512_madd_epi16(t, sc));
                }
            }
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let s32 = y.sums32.as_ptr() as *const i32;
                let mut mn = _mm256_madd_epi16(mins[0], _mm256_set1_epi32(std::ptr::read_unaligned(s32)));
                for (q, m) in mins.iter().enumerate().skip(1) {
                    mn = _mm256_add_epi32(mn, _mm256_madd_epi16(*m, _mm256_set1_epi32(std::ptr::read_unaligned(s32.add(q)))));
                }
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(join_pairs(sumi[r])), acc[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(mv, _mm256_set1_ps(-y.d)), _mm256_cvtepi32_ps(mn), acc[r]);
            }
        }
        store(acc)
    }

    /// Q8_0 (`KIND` 0), Q4_0 (1), Q4_1 (2): the 8 outputs of group `g` for each of `R` activation rows.
    /// Q8_0 is signed × signed, by the sign trick (|w| times y negated where w < 0; AVX-512 has no
    /// `vpsignb`, a masked subtraction does it); the nibbles are unsigned as they are. The weights'
    /// registers are made once per block for the `R` rows; per row and block four `maddubs` (pairs ≤
    /// 2·128·127 < 2¹⁵) widened by `madd`s with ones — or, with VNNI, four `vpdpbusd`, the same exact
    /// i32 sums — then one fused multiply-add for all 8 outputs (Q4_1: two, for its offsets).
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(in super::super) unsafe fn dot_small<const R: usize, const KIND: u8>(g: &[u8], a: [&[ActBlock]; R]) -> [[f32; GROUP]; R] {
        dot_small_with::<R, KIND, false>(g, a)
    }

    /// [`dot_small`] with VNNI's `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c,avx512vnni")]
    pub(in super::super) unsafe fn dot_small_vnni<const R: usize, const KIND: u8>(g: &[u8], a: [&[ActBlock]; R]) -> [[f32; GROUP]; R] {
        dot_small_with::<R, KIND, true>(g, a)
    }

    #[inline(always)]
    unsafe fn dot_small_with<const R: usize, const KIND: u8, const VNNI: bool>(g: &[u8], a: [&[ActBlock]; R]) -> [[f32; GROUP]; R] {
        let kind = [BlockKind::Q8_0, BlockKind::Q4_0, BlockKind::Q4_1][KIND as usize];
        let blocks = a[0].len();
        let mut acc = [_mm256_setzero_ps(); R];
        let ones = _mm512_set1_epi16(1);
        let zero = _mm512_setzero_si512();
        let p = g.as_ptr();
        for b in 0..blocks {
            let at = small_scale_at(kind, blocks, b, 0);
            let dv = _mm256_cvtph_ps(_mm_loadu_si128(p.add(at) as *const __m128i));
            let mv = if KIND == 2 { _mm256_cvtph_ps(_mm_loadu_si128(p.add(q41_offset_at(blocks, b, 0)) as *const __m128i)) } else { _mm256_setzero_ps() };
            // the four quads' weights: unsigned values, and (Q8_0) where they were negative
            let mut w = [zero; 4];
            let mut neg = [0 as __mmask64; 4];
            if KIND == 0 {
                for t in 0..4 {
                    let q = _mm512_loadu_si512(p.add(256 * b + 64 * t) as *const _);
                    w[t] = _mm512_abs_epi8(q);
                    neg[t] = _mm512_movepi8_mask(q);
                }
            } else {
                w = nibbles(p, b);
            }
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let yq = y.qs.as_ptr() as *const u8;
                let mut sumi = zero;
                for t in 0..4 {
                    let ys = octet(yq.add(8 * t));
                    let ys = if KIND == 0 { _mm512_mask_sub_epi8(ys, neg[t], zero, ys) } else { ys };
                    sumi = if VNNI { _mm512_dpbusd_epi32(sumi, w[t], ys) } else { _mm512_add_epi32(sumi, _mm512_madd_epi16(_mm512_maddubs_epi16(w[t], ys), ones)) };
                }
                let mut tot = join_pairs(sumi);
                if KIND == 1 {
                    tot = _mm256_sub_epi32(tot, _mm256_set1_epi32(8 * y.qsum as i32));
                }
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(tot), acc[r]);
                if KIND == 2 {
                    acc[r] = _mm256_fmadd_ps(mv, _mm256_set1_ps(y.s), acc[r]);
                }
            }
        }
        store(acc)
    }

    /// Q6_K: as [`dot_q4k`], with the high two bits of each value joined to its nibble; quads 0, 1 of a
    /// sub-block share a 16-value scale, as do 2, 3, so per row two `maddubs` pairs (i16 sums:
    /// 2·2·63·127 < 2¹⁵) and two `madd`s per sub-block. The `−32` offset: per super-block and row the
    /// 16 scales of the 8 rows against the row's 16-value sums in four `madd`s.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
    pub(in super::super) unsafe fn dot_q6k<const R: usize>(g: &[u8], a: [&[ActBlockK]; R]) -> [[f32; GROUP]; R] {
        dot_q6k_with::<R, false>(g, a)
    }

    /// [`dot_q6k`] with VNNI: per row and sub-block two `vpdpbusd` pairs and two `vpmulld` by the
    /// 16-value scales (8 instructions where `maddubs` took 10), the same exact integers.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,avx512vnni")]
    pub(in super::super) unsafe fn dot_q6k_vnni<const R: usize>(g: &[u8], a: [&[ActBlockK]; R]) -> [[f32; GROUP]; R] {
        dot_q6k_with::<R, true>(g, a)
    }

    #[inline(always)]
    unsafe fn dot_q6k_with<const R: usize, const VNNI: bool>(g: &[u8], a: [&[ActBlockK]; R]) -> [[f32; GROUP]; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        let m3 = _mm512_set1_epi8(3);
        for (b, blk) in g.chunks_exact(q6k::BYTES).enumerate() {
            let p = blk.as_ptr();
            let dv = _mm256_loadu_ps(p.add(q6k::D) as *const f32);
            // scales 4i'..4i'+4 of the 8 rows, [c][4]
            let quads: [__m256i; 4] = std::array::from_fn(|i| _mm256_loadu_si256(p.add(q6k_scale_at(4 * i, 0)) as *const __m256i));
            let offsets: [__m512i; 4] = std::array::from_fn(|i| _mm512_cvtepi8_epi16(quads[i]));
            let mut sumi = [_mm512_setzero_si512(); R];
            for s in 0..8 {
                let lo = nibbles(p, s);
                let hb = _mm512_loadu_si512(p.add(q6k::HIGH + 64 * s) as *const _);
                let w = [
                    _mm512_or_si512(lo[0], _mm512_slli_epi16::<4>(_mm512_and_si512(hb, m3))),
                    _mm512_or_si512(lo[1], _mm512_slli_epi16::<2>(_mm512_and_si512(hb, _mm512_set1_epi8(12)))),
                    _mm512_or_si512(lo[2], _mm512_and_si512(hb, _mm512_set1_epi8(48))),
                    _mm512_or_si512(lo[3], _mm512_srli_epi16::<2>(_mm512_and_si512(hb, _mm512_set1_epi8(-64)))),
                ];
                if VNNI {
                    let (sc0, sc1) = if s % 2 == 0 { (pairs_i8::<0>(quads[s / 2]), pairs_i8::<1>(quads[s / 2])) } else { (pairs_i8::<2>(quads[s / 2]), pairs_i8::<3>(quads[s / 2])) };
                    for r in 0..R {
                        let y = a[r].get_unchecked(b).qs.as_ptr().add(32 * s) as *const u8;
                        let zero = _mm512_setzero_si512();
                        let d0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, w[0], octet(y)), w[1], octet(y.add(8)));
                        let d1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, w[2], octet(y.add(16))), w[3], octet(y.add(24)));
                        sumi[r] = _mm512_add_epi32(sumi[r], _mm512_add_epi32(_mm512_mullo_epi32(d0, sc0), _mm512_mullo_epi32(d1, sc1)));
                    }
                    continue;
                }
                // scales 2s and 2s + 1: quad s / 2 of the scale quads, places 2(s % 2) and 2(s % 2) + 1
                let (sc0, sc1) = if s % 2 == 0 { (spread::<0>(quads[s / 2]), spread::<1>(quads[s / 2])) } else { (spread::<2>(quads[s / 2]), spread::<3>(quads[s / 2])) };
                for r in 0..R {
                    let y = a[r].get_unchecked(b).qs.as_ptr().add(32 * s) as *const u8;
                    let q = |t: usize| _mm512_maddubs_epi16(w[t], octet(y.add(8 * t)));
                    let (t0, t1) = (_mm512_add_epi16(q(0), q(1)), _mm512_add_epi16(q(2), q(3)));
                    sumi[r] = _mm512_add_epi32(sumi[r], _mm512_add_epi32(_mm512_madd_epi16(t0, sc0), _mm512_madd_epi16(t1, sc1)));
                }
            }
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let bs = y.bsums.as_ptr() as *const u8;
                let mut off = _mm512_madd_epi16(offsets[0], octet(bs));
                for (i, o) in offsets.iter().enumerate().skip(1) {
                    off = _mm512_add_epi32(off, _mm512_madd_epi16(*o, octet(bs.add(8 * i))));
                }
                let tot = _mm256_sub_epi32(join_pairs(sumi[r]), _mm256_slli_epi32::<5>(join_pairs(off)));
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(tot), acc[r]);
            }
        }
        store(acc)
    }
}
