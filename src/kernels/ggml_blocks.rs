//! `y = x·Wᵀ` for GGUF weights kept in GGML's blocks, and token-embedding lookups from the same blocks.
//!
//! Why: candle 0.11 has only scalar code for Q4_1 and Q5_0 on x86, and its K-quant path (`QMatMul`)
//! ran Qwen2.5-Coder-1.5B Q4_K_M (Q4_K and Q6_K only) at 0.76× llama.cpp's decoding speed. Here every
//! block type of the catalogue's files — Q4_0, Q4_1, Q5_0, Q8_0 and the K-quants Q4_K, Q5_K, Q6_K — is
//! multiplied by AVX2 ports of ggml's `ggml_vec_dot_*` (ggml-cpu's x86 `quants.c`), with the
//! activations quantized the way llama.cpp does: per 32 values (`max|x|/127`, f16 scale; Q8_1 adds
//! `d·Σq`) for the 32-value blocks, per 256 values (Q8_K: `−127/max`, f32 scale, sums of each 16) for
//! the K-quants. The integer sums are exactly ggml's; only the order of the float additions differs.
//! On CPUs with AVX-512 (F, BW) the K-quant kernels for several activation rows (prompts) take two
//! sub-blocks per 512-bit instruction (1.5B Q4_K_M prompts 1.1–1.3× the AVX2 kernels' rate; decoding,
//! one row, stays on AVX2, with VNNI's `vpdpwssd` where the CPU has it: all this for rows as the file
//! has them); `VERTOLK_NO_AVX512=1` and `VERTOLK_NO_VNNI=1` turn them off. Every level gives the same bits. There, too, linear layers of
//! every kind but Q5_K are interleaved by 8 rows at load ([`interleaved`]): their kernels compute 8
//! output columns per register (Q4_K 1.9–2.0× the row kernels' rate on prompt rows and 1.15–1.3× on
//! one row, Q8_0 3.3× and 2.0×); `VERTOLK_NO_INTERLEAVE=1` keeps the rows as the file has them. On
//! CPUs with AMX-INT8, interleaved Q4_K and Q6_K products of 12 or 24 rows and more run on its tiles
//! with the same bits ([`interleaved::amx`]: 1.9–3.0× on 512 rows); `VERTOLK_NO_AMX=1` turns them off.
//!
//! Work: one weight row against up to [`MR`] activation rows per pass (a prompt chunk unpacks each
//! weight block once per 4 rows, or 8 on the AVX-512 K-quant kernels: 1.07–1.24× their rate with 4,
//! best of 6 alternated `kernel_rates` runs), rows of the output split over the rayon pool, activation rows taken
//! in blocks of [`MB`] so they stay in L2 while the weights stream past. Layers that read the same
//! input (q/k/v, gate/up) are one layer of several matrices ([`GgufLinear::fused`]), even of different
//! block types when they share an activation format (Q4_K q/k with a Q6_K v): the input is quantized
//! once and the pool gets one job instead of three. Nothing is copied to fuse them.
//!
//! Storage: blocks stay as the file has them, in place in the memory-mapped GGUF file where the loader
//! maps it ([`BlockMatrix::from_mapped`]), so the weights cost no memory beyond the file's pages — except
//! that linear layers hold Q5_0 weights as Q8_0 blocks of the same values ([`BlockMatrix::unpacked`]),
//! and on AVX-512 interleaved copies (Q4_K 5.6 % larger, Q6_K 2.9 %, the 32-value kinds the same size
//! up to a partial cache line per 8 rows) whose file pages are released; token embeddings keep the
//! compact blocks (interleaved too where they are also the output layer). Other block types and other
//! devices use candle's `QMatMul`.
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Result, Shape, Tensor};
use half::f16;
use std::sync::Arc;

use super::packed_linear::{for_panel_ranges, linear_cpu_fwd, OutPtr};

mod interleaved;

/// Values per block of the 32-value formats.
const QK: usize = 32;
/// Values per super-block of the K-quants.
const QK_K: usize = 256;
/// Activation rows per pass over a weight row: 4 for the AVX2 kernels (16 registers), up to 8 for
/// the AVX-512 K-quant ones (32 registers; [`BlockKind::rows_per_pass`]).
const MR: usize = 8;
/// Activation rows per cache block (a multiple of `MR`).
const MB: usize = 64;
/// Weight rows per unit of work handed to a thread.
const ROWS_PER_PANEL: usize = 16;
/// Bytes of weight rows a group of activation rows works through from L1 (of 32–48 KB).
const L1_TILE_BYTES: usize = 16 * 1024;

/// The GGML block formats with a kernel here.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// f16 `d`, 16 bytes of nibbles: `w = d·(q − 8)`, q in 0..16.
    Q4_0,
    /// f16 `d`, f16 `m`, 16 bytes of nibbles: `w = d·q + m`, q in 0..16.
    Q4_1,
    /// f16 `d`, 32 high bits, 16 bytes of nibbles: `w = d·(q − 16)`, q in 0..32.
    Q5_0,
    /// f16 `d`, 32 signed bytes: `w = d·q`.
    Q8_0,
    /// 256 values: f16 `d`, f16 `dmin`, 12 bytes of eight 6-bit scales and mins, 128 bytes of nibbles:
    /// `w = d·sc·q − dmin·m` per 32 values, q in 0..16.
    Q4_K,
    /// Q4_K plus 32 bytes of fifth bits: q in 0..32.
    Q5_K,
    /// 256 values: 128 bytes of low nibbles, 64 bytes of high 2 bits, 16 signed 8-bit scales, f16 `d`:
    /// `w = d·sc·(q − 32)` per 16 values, q in 0..64.
    Q6_K,
}

/// How the activations are quantized for a block kind: per 32 values (Q8_0/Q8_1) or per 256 (Q8_K).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActFormat {
    Q8,
    Q8K,
}

impl BlockKind {
    pub fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q4_0 => Some(Self::Q4_0),
            GgmlDType::Q4_1 => Some(Self::Q4_1),
            GgmlDType::Q5_0 => Some(Self::Q5_0),
            GgmlDType::Q8_0 => Some(Self::Q8_0),
            GgmlDType::Q4K => Some(Self::Q4_K),
            GgmlDType::Q5K => Some(Self::Q5_K),
            GgmlDType::Q6K => Some(Self::Q6_K),
            _ => None,
        }
    }

    pub const fn block_bytes(self) -> usize {
        match self {
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q8_0 => 34,
            Self::Q4_K => 144,
            Self::Q5_K => 176,
            Self::Q6_K => 210,
        }
    }

    pub const fn block_values(self) -> usize {
        match self {
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q8_0 => QK,
            Self::Q4_K | Self::Q5_K | Self::Q6_K => QK_K,
        }
    }

    /// Byte offsets of a block's f16 scales (each must be finite).
    const fn scale_offsets(self) -> &'static [usize] {
        match self {
            Self::Q4_0 | Self::Q5_0 | Self::Q8_0 => &[0],
            Self::Q4_1 | Self::Q4_K | Self::Q5_K => &[0, 2],
            Self::Q6_K => &[208],
        }
    }

    /// Activation rows one pass takes on kernels `simd`: 8 on the 512-bit kernels, which are the
    /// K-quants' (Q8_K activations), whose 8 registers of weights and scales leave room for 8 rows'
    /// sums; 4 on the AVX2 ones, which have 16 registers.
    fn rows_per_pass(self, simd: Simd) -> usize {
        if simd == Simd::Avx512 && self.act() == ActFormat::Q8K { 8 } else { 4 }
    }

    const fn act(self) -> ActFormat {
        match self {
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q8_0 => ActFormat::Q8,
            Self::Q4_K | Self::Q5_K | Self::Q6_K => ActFormat::Q8K,
        }
    }
}

/// Where a matrix's blocks are: read into memory, in place in a memory-mapped GGUF file, or (linear
/// layers on CPUs with AVX-512) rows interleaved by 8 in memory ([`BlockMatrix::interleaved`]).
enum BlockBytes {
    Owned(Vec<u8>),
    Mapped { map: Arc<memmap2::Mmap>, start: usize, len: usize },
    Interleaved(interleaved::Interleaved),
}

impl BlockBytes {
    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Mapped { map, start, len } => &map[*start..*start + *len],
            Self::Interleaved(x) => x.bytes(),
        }
    }
}

/// An `n × k` matrix in GGML blocks: rows contiguous, exactly as stored in the GGUF file, or
/// interleaved by 8 ([`BlockMatrix::interleaved`]).
pub struct BlockMatrix {
    kind: BlockKind,
    n: usize,
    k: usize,
    data: BlockBytes,
}

impl std::fmt::Debug for BlockMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.data {
            BlockBytes::Owned(_) => "in memory",
            BlockBytes::Mapped { .. } => "mapped",
            BlockBytes::Interleaved(_) => "rows interleaved by 8",
        };
        write!(f, "BlockMatrix({:?}, {}x{}, {place})", self.kind, self.n, self.k)
    }
}

#[inline(always)]
fn read_f16(p: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([p[at], p[at + 1]])).to_f32()
}

/// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (ggml's `get_scale_min_k4`), four at a
/// time in 32-bit words as ggml's x86 kernels do (`utmp` and `kmask1..3`): scale and min `j < 4` are
/// the low six bits of bytes `j` and `j + 4`; `j ≥ 4` take a nibble of byte `j + 4` and the top two
/// bits of byte `j − 4` (scale) or `j` (min).
#[inline(always)]
fn k4_scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (u0, u1, u2) = (word(0), word(1), word(2));
    let sc_lo = u0 & LOW6;
    let mn_lo = u1 & LOW6;
    let sc_hi = (u2 & LOW4) | (((u0 >> 6) & LOW2) << 4);
    let mn_hi = ((u2 >> 4) & LOW4) | (((u1 >> 6) & LOW2) << 4);
    let join = |lo: u32, hi: u32| -> [u8; 8] { (u64::from(lo) | (u64::from(hi) << 32)).to_le_bytes() };
    (join(sc_lo, sc_hi), join(mn_lo, mn_hi))
}

impl BlockMatrix {
    /// The raw blocks of a 2-D `(n, k)` tensor of one of the [`BlockKind`]s; `None` for other block types.
    pub fn from_qtensor(t: &QTensor) -> Result<Option<Self>> {
        let Some(kind) = BlockKind::of(t.dtype()) else { return Ok(None) };
        let (n, k) = t.shape().dims2()?;
        Self::from_raw(kind, n, k, t.data()?.into_owned()).map(Some)
    }

    /// `n` rows of `k` values, `data` in the GGUF block layout of `kind`.
    pub fn from_raw(kind: BlockKind, n: usize, k: usize, data: Vec<u8>) -> Result<Self> {
        Self::checked(kind, n, k, BlockBytes::Owned(data))
    }

    /// `n` rows of `k` values whose blocks start at byte `start` of a memory-mapped GGUF file; they are
    /// read in place (the file must not change while it is mapped, as for llama.cpp's `mmap`).
    pub fn from_mapped(kind: BlockKind, n: usize, k: usize, map: Arc<memmap2::Mmap>, start: usize) -> Result<Self> {
        let len = Self::expected_bytes(kind, n, k)?;
        if start.checked_add(len).is_none_or(|end| end > map.len()) {
            candle_core::bail!("{kind:?} tensor ({n}x{k}): {len} bytes at offset {start} run past the end of the file ({} bytes)", map.len())
        }
        Self::checked(kind, n, k, BlockBytes::Mapped { map, start, len })
    }

    fn expected_bytes(kind: BlockKind, n: usize, k: usize) -> Result<usize> {
        let bv = kind.block_values();
        if !k.is_multiple_of(bv) {
            candle_core::bail!("{kind:?} tensor ({n}x{k}): rows are not whole blocks of {bv}")
        }
        match n.checked_mul(k / bv).and_then(|b| b.checked_mul(kind.block_bytes())) {
            Some(len) => Ok(len),
            None => candle_core::bail!("{kind:?} tensor ({n}x{k}) is too large"),
        }
    }

    fn checked(kind: BlockKind, n: usize, k: usize, data: BlockBytes) -> Result<Self> {
        let want = Self::expected_bytes(kind, n, k)?;
        let got = data.as_slice().len();
        if got != want {
            candle_core::bail!("{kind:?} tensor ({n}x{k}): {got} bytes of blocks, expected {want}")
        }
        let m = Self { kind, n, k, data };
        // A non-finite block scale would silently poison every output that reads it: refuse at load.
        let bad_scale = m.bytes().chunks_exact(kind.block_bytes()).any(|b| kind.scale_offsets().iter().any(|&o| !read_f16(b, o).is_finite()));
        if bad_scale {
            candle_core::bail!("{kind:?} tensor ({n}x{k}) holds a non-finite block scale")
        }
        Ok(m)
    }

    pub fn kind(&self) -> BlockKind {
        self.kind
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn cols(&self) -> usize {
        self.k
    }

    /// Whether the blocks are read in place from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.data, BlockBytes::Mapped { .. })
    }

    /// Let the kernel drop this matrix's pages of the mapped file from the process until they are read
    /// again. An embedding table is checked whole at load but then read a row per token: without this,
    /// the check alone keeps the whole table resident (Qwen2.5-1.5B: 131 MB of Q4_K rows).
    pub fn release_mapped_pages(&self) {
        if let BlockBytes::Mapped { map, start, len } = &self.data {
            // Page-aligned inner part of the range; the pages it shares with neighbours stay.
            let page = 4096;
            let (s, e) = (start.div_ceil(page) * page, (start + len) / page * page);
            #[cfg(unix)]
            if e > s {
                // SAFETY: a read-only private file mapping: dropping its pages only means they are read
                // from the file (page cache) again on the next access; nothing written is lost.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, s, e - s) };
            }
            #[cfg(not(unix))]
            let _ = (map, s, e);
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.data.as_slice()
    }

    fn row_bytes(&self) -> usize {
        self.k / self.kind.block_values() * self.kind.block_bytes()
    }

    /// Row `j`'s blocks, of a matrix whose rows are as the file has them (not interleaved).
    #[inline(always)]
    fn row(&self, j: usize) -> &[u8] {
        debug_assert!(!matches!(self.data, BlockBytes::Interleaved(_)), "row() of interleaved blocks");
        let rb = self.row_bytes();
        &self.bytes()[j * rb..(j + 1) * rb]
    }

    /// Row `j` as floats (an embedding lookup), as ggml's `dequantize_row_*` (and candle) compute them.
    pub fn dequantize_row(&self, j: usize, out: &mut [f32]) {
        if let BlockBytes::Interleaved(x) = &self.data {
            return x.dequantize_row(j, out);
        }
        let bb = self.kind.block_bytes();
        let bv = self.kind.block_values();
        for (blk, out) in self.row(j).chunks_exact(bb).zip(out.chunks_exact_mut(bv)) {
            match self.kind {
                BlockKind::Q4_0 => {
                    let d = read_f16(blk, 0);
                    for i in 0..QK / 2 {
                        let q = blk[2 + i];
                        out[i] = ((q & 0xF) as i32 - 8) as f32 * d;
                        out[i + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
                    }
                }
                BlockKind::Q4_1 => {
                    let (d, m) = (read_f16(blk, 0), read_f16(blk, 2));
                    for i in 0..QK / 2 {
                        let q = blk[4 + i];
                        out[i] = (q & 0xF) as f32 * d + m;
                        out[i + QK / 2] = (q >> 4) as f32 * d + m;
                    }
                }
                BlockKind::Q5_0 => {
                    let d = read_f16(blk, 0);
                    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                    for i in 0..QK / 2 {
                        let q = blk[6 + i];
                        let lo = (q & 0xF) as i32 | ((((qh >> i) & 1) as i32) << 4);
                        let hi = (q >> 4) as i32 | ((((qh >> (i + 16)) & 1) as i32) << 4);
                        out[i] = (lo - 16) as f32 * d;
                        out[i + QK / 2] = (hi - 16) as f32 * d;
                    }
                }
                BlockKind::Q8_0 => {
                    let d = read_f16(blk, 0);
                    for i in 0..QK {
                        out[i] = blk[2 + i] as i8 as f32 * d;
                    }
                }
                BlockKind::Q4_K | BlockKind::Q5_K => {
                    let (d, dmin) = (read_f16(blk, 0), read_f16(blk, 2));
                    let (sc, mn) = k4_scales_mins(&blk[4..16]);
                    let five = self.kind == BlockKind::Q5_K;
                    let (qh, qs) = if five { (&blk[16..48], &blk[48..176]) } else { (&blk[..0], &blk[16..144]) };
                    for c in 0..4 {
                        for half in 0..2 {
                            let s = 2 * c + half;
                            let (d1, m1) = (d * sc[s] as f32, dmin * mn[s] as f32);
                            for l in 0..32 {
                                let mut q = if half == 0 { qs[32 * c + l] & 0xF } else { qs[32 * c + l] >> 4 } as f32;
                                if five && qh[l] & (1 << s) != 0 {
                                    q += 16.0;
                                }
                                out[32 * s + l] = d1 * q - m1;
                            }
                        }
                    }
                }
                BlockKind::Q6_K => {
                    let d = read_f16(blk, 208);
                    let (ql, qh, sc) = (&blk[..128], &blk[128..192], &blk[192..208]);
                    for h in 0..2 {
                        let (ql, qh, sc, out) = (&ql[64 * h..], &qh[32 * h..], &sc[8 * h..], &mut out[128 * h..]);
                        for l in 0..32 {
                            let is = l / 16;
                            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                            out[l] = d * sc[is] as i8 as f32 * q1 as f32;
                            out[l + 32] = d * sc[is + 2] as i8 as f32 * q2 as f32;
                            out[l + 64] = d * sc[is + 4] as i8 as f32 * q3 as f32;
                            out[l + 96] = d * sc[is + 6] as i8 as f32 * q4 as f32;
                        }
                    }
                }
            }
        }
    }

    /// Q5_0 rows re-laid as Q8_0 blocks holding the same values (`q − 16` fits a signed byte, same
    /// scales); other kinds as they are. Unpacking the nibbles and fifth bits at every product held
    /// Q5_0 rows to ~12 multiply-adds per ns on 2 threads, bound by instructions rather than memory;
    /// as Q8_0 they run at the memory-bound speed of Q8_0 rows, 55 % more bytes notwithstanding
    /// (Qwen2.5-0.5B, 900-token context: gate/up 17.7 → 11.0 ms per token, decoding 25.5 → 33.4 tok/s,
    /// peak RSS 768 → 845 MB).
    pub fn unpacked(self) -> Self {
        if self.kind != BlockKind::Q5_0 {
            return self;
        }
        let mut data = Vec::with_capacity(self.bytes().len() / 22 * 34);
        for blk in self.bytes().chunks_exact(22) {
            data.extend_from_slice(&blk[..2]);
            let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
            let mut q = [0u8; QK];
            for i in 0..QK / 2 {
                let lo = (blk[6 + i] & 0xF) as i32 | ((((qh >> i) & 1) as i32) << 4);
                let hi = (blk[6 + i] >> 4) as i32 | ((((qh >> (i + 16)) & 1) as i32) << 4);
                q[i] = (lo - 16) as i8 as u8;
                q[i + QK / 2] = (hi - 16) as i8 as u8;
            }
            data.extend_from_slice(&q);
        }
        Self { kind: BlockKind::Q8_0, n: self.n, k: self.k, data: BlockBytes::Owned(data) }
    }

    /// Q4_K, Q6_K, Q8_0, Q4_0 and Q4_1 rows interleaved by 8 for the kernels that compute 8 output
    /// columns at once ([`interleaved`]), where the CPU has AVX-512 (F, BW), `n` is a multiple of 8 and
    /// `VERTOLK_NO_INTERLEAVE` is not 1; other matrices as they are. The copy replaces the file's pages:
    /// a mapped matrix's pages are released once read. It changes the products' last bits (the float
    /// sums are added in another order; see [`interleaved`]).
    pub fn interleaved(self) -> Self {
        if !interleaving_pays() {
            return self;
        }
        self.interleaved_always()
    }

    /// [`Self::interleaved`] whatever the CPU (its kernels then are [`interleaved::dot_portable`] and
    /// [`interleaved::dot_small_portable`]).
    fn interleaved_always(self) -> Self {
        // (an interleaved Q8_0 group has the byte count of its rows: never read it as rows)
        if matches!(self.data, BlockBytes::Interleaved(_)) {
            return self;
        }
        let Some(x) = interleaved::Interleaved::from_rows(self.kind, self.bytes(), self.n, self.k) else { return self };
        self.release_mapped_pages();
        Self { kind: self.kind, n: self.n, k: self.k, data: BlockBytes::Interleaved(x) }
    }

    /// `x (m × k)` row-major → `m × n`.
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        matmul_parts(&[self], x, m)
    }

    /// Output columns `col0 + j` (j the rows of `panels`) of all `m` rows, into `dst` of row stride `ld`.
    ///
    /// # Safety
    /// `dst` must have room for `m × ld` values, `col0 + self.n ≤ ld`, and no other thread may write
    /// these columns; `acts` must be `m` rows of this matrix's activation format.
    unsafe fn panels_range(&self, acts: &Acts, m: usize, panels: std::ops::Range<usize>, dst: OutPtr, col0: usize, ld: usize, simd: Simd) {
        use kernels::*;
        let out = Out { dst, col0, ld };
        if let BlockBytes::Interleaved(x) = &self.data {
            return match acts {
                Acts::Q8K(a) => self.groups_with(x, a, m, panels, out, simd),
                Acts::Q8(a) => self.groups_with(x, a, m, panels, out, simd),
            };
        }
        match (self.kind, acts) {
            (BlockKind::Q4_0, Acts::Q8(a)) => self.rows_with::<Q4_0>(a, m, panels, out, simd),
            (BlockKind::Q4_1, Acts::Q8(a)) => self.rows_with::<Q4_1>(a, m, panels, out, simd),
            (BlockKind::Q5_0, Acts::Q8(a)) => self.rows_with::<Q5_0>(a, m, panels, out, simd),
            (BlockKind::Q8_0, Acts::Q8(a)) => self.rows_with::<Q8_0>(a, m, panels, out, simd),
            (BlockKind::Q4_K, Acts::Q8K(a)) => self.rows_with::<Q4_K>(a, m, panels, out, simd),
            (BlockKind::Q5_K, Acts::Q8K(a)) => self.rows_with::<Q5_K>(a, m, panels, out, simd),
            (BlockKind::Q6_K, Acts::Q8K(a)) => self.rows_with::<Q6_K>(a, m, panels, out, simd),
            // a layer's matrices share one activation format (checked when it is built)
            _ => unreachable!("{:?} weights with activations of another format", self.kind),
        }
    }

    unsafe fn rows_with<K: RowDot>(&self, acts: &[K::Act], m: usize, panels: std::ops::Range<usize>, out: Out, simd: Simd) {
        let nb = self.k / self.kind.block_values();
        let j0 = panels.start * ROWS_PER_PANEL;
        let j1 = (panels.end * ROWS_PER_PANEL).min(self.n);
        // Weight rows in tiles that fit L1 beside a group of activation rows; the group then meets
        // each row of the tile from L1 instead of streaming from L2 once per weight row.
        let tile = (L1_TILE_BYTES / self.row_bytes()).clamp(1, ROWS_PER_PANEL);
        let mr = self.kind.rows_per_pass(simd);
        fn pass<'a, K: RowDot + 'a, const R: usize>(simd: Simd, w: &[u8], a: impl Fn(usize) -> &'a [K::Act], sums: &mut [f32]) {
            sums[..R].copy_from_slice(&K::dot::<R>(simd, w, std::array::from_fn(a)));
        }
        for_each_pass(0..m, mr, j0..j1, tile, |r, rows, j| {
            let a = |i: usize| &acts[(r + i) * nb..(r + i + 1) * nb];
            let w = self.row(j);
            let mut sums = [0f32; MR];
            match rows {
                8 => pass::<K, 8>(simd, w, a, &mut sums),
                7 => pass::<K, 7>(simd, w, a, &mut sums),
                6 => pass::<K, 6>(simd, w, a, &mut sums),
                5 => pass::<K, 5>(simd, w, a, &mut sums),
                4 => pass::<K, 4>(simd, w, a, &mut sums),
                3 => pass::<K, 3>(simd, w, a, &mut sums),
                2 => pass::<K, 2>(simd, w, a, &mut sums),
                _ => pass::<K, 1>(simd, w, a, &mut sums),
            }
            for (i, s) in sums.iter().enumerate().take(rows) {
                // SAFETY: as for `panels_range`: row r + i < m, column col0 + j < ld, ours alone
                unsafe { *out.dst.0.add((r + i) * out.ld + out.col0 + j) = *s };
            }
        });
    }
}

/// The passes of a product, in cache-friendly order: activation rows in blocks of [`MB`] (kept in L2),
/// weight units (rows, or interleaved groups) `units` in tiles of `tile` (kept in L1), each tile met by
/// passes of up to `mr` activation rows: `pass(first row, rows, unit)`.
#[inline(always)]
fn for_each_pass(rows: std::ops::Range<usize>, mr: usize, units: std::ops::Range<usize>, tile: usize, mut pass: impl FnMut(usize, usize, usize)) {
    for rb in rows.clone().step_by(MB) {
        let rb_end = (rb + MB).min(rows.end);
        for t0 in units.clone().step_by(tile) {
            let t1 = (t0 + tile).min(units.end);
            let mut r = rb;
            while r < rb_end {
                let rows = mr.min(rb_end - r);
                for u in t0..t1 {
                    pass(r, rows, u);
                }
                r += rows;
            }
        }
    }
}

impl BlockMatrix {
    /// [`Self::rows_with`] for interleaved rows: 8 output columns per kernel call. `simd` only
    /// tells the portable kernel (tests) from the AVX-512 one, which every other level runs (an
    /// interleaved matrix exists only where the CPU has AVX-512, or in tests; the bits are the same).
    unsafe fn groups_with<A: GroupDot>(&self, x: &interleaved::Interleaved, acts: &[A], m: usize, panels: std::ops::Range<usize>, out: Out, simd: Simd) {
        const _: () = assert!(ROWS_PER_PANEL.is_multiple_of(interleaved::GROUP));
        let nb = acts.len() / m;
        let g0 = panels.start * ROWS_PER_PANEL / interleaved::GROUP;
        let g1 = ((panels.end * ROWS_PER_PANEL).min(self.n)) / interleaved::GROUP;
        let tile = (L1_TILE_BYTES / x.group_bytes()).max(1);
        #[cfg(target_arch = "x86_64")]
        let fast = {
            use std::arch::is_x86_feature_detected as has;
            simd != Simd::Portable && has!("avx512f") && has!("avx512bw") && has!("avx2") && has!("fma") && has!("f16c")
        };
        #[cfg(not(target_arch = "x86_64"))]
        let fast = {
            let _ = simd;
            false
        };
        let kind = x.kind();
        // AMX tiles take pairs of groups (16 weight rows) of Q4_K and Q6_K products of enough rows,
        // the kernels below the rest, with the same bits ([`interleaved::amx`]): on any level, as the
        // interleaved kernels give the same bits on all (decoding's batched steps included)
        #[cfg(target_arch = "x86_64")]
        let (tile_rows, tile_groups) = if fast { A::tiles(x, acts, m, nb, g0..g1, out) } else { (0, 0) };
        #[cfg(not(target_arch = "x86_64"))]
        let (tile_rows, tile_groups) = (0, 0);
        let mut sums = [[0f32; interleaved::GROUP]; MR];
        let prompt = m >= VNNI_K_ROWS;
        let mut pass = |r: usize, rows: usize, g: usize| {
            let a = |i: usize| &acts[(r + i) * nb..(r + i + 1) * nb];
            let w = x.group(g);
            if fast {
                #[cfg(target_arch = "x86_64")]
                {
                    /// # Safety
                    /// As [`GroupDot::fast`] (`fast` checked it).
                    unsafe fn put<'a, A: GroupDot + 'a, const R: usize>(kind: BlockKind, w: &[u8], a: impl Fn(usize) -> &'a [A], sums: &mut [[f32; interleaved::GROUP]; MR], prompt: bool) {
                        sums[..R].copy_from_slice(&A::fast::<R>(kind, w, std::array::from_fn(a), prompt));
                    }
                    // SAFETY: `fast` checked the kernels' target features
                    unsafe {
                        match rows {
                            8 => put::<A, 8>(kind, w, a, &mut sums, prompt),
                            7 => put::<A, 7>(kind, w, a, &mut sums, prompt),
                            6 => put::<A, 6>(kind, w, a, &mut sums, prompt),
                            5 => put::<A, 5>(kind, w, a, &mut sums, prompt),
                            4 => put::<A, 4>(kind, w, a, &mut sums, prompt),
                            3 => put::<A, 3>(kind, w, a, &mut sums, prompt),
                            2 => put::<A, 2>(kind, w, a, &mut sums, prompt),
                            _ => put::<A, 1>(kind, w, a, &mut sums, prompt),
                        }
                    }
                }
            } else {
                for (i, s) in sums.iter_mut().enumerate().take(rows) {
                    *s = A::portable(kind, w, a(i));
                }
            }
            for (i, s) in sums.iter().enumerate().take(rows) {
                // SAFETY: as for `panels_range`: row r + i < m, columns col0 + 8g.. < ld, ours alone
                unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), out.dst.0.add((r + i) * out.ld + out.col0 + g * interleaved::GROUP), interleaved::GROUP) };
            }
        };
        for_each_pass(tile_rows..m, MR, g0..g1, tile, &mut pass);
        for_each_pass(0..tile_rows, MR, g0 + tile_groups..g1, tile, &mut pass);
    }
}

/// The interleaved kernels ([`interleaved`]) for one activation format: 8 outputs of one group of
/// weight rows per activation row.
trait GroupDot: Sized {
    fn portable(kind: BlockKind, w: &[u8], a: &[Self]) -> [f32; interleaved::GROUP];
    /// # Safety
    /// The CPU must have AVX-512 F and BW, AVX2, FMA and F16C.
    #[cfg(target_arch = "x86_64")]
    /// `prompt`: the product has [`VNNI_K_ROWS`] rows or more.
    unsafe fn fast<const R: usize>(kind: BlockKind, w: &[u8], a: [&[Self]; R], prompt: bool) -> [[f32; interleaved::GROUP]; R];
    /// Outputs of activation rows `0..rows` and groups `groups.start..groups.start + n` computed on AMX
    /// tiles, where this kind has a tile kernel and the CPU runs it: `(rows, n)`, `(0, 0)` if none.
    ///
    /// # Safety
    /// As [`BlockMatrix::panels_range`], and the CPU must have AVX-512 F and BW.
    #[cfg(target_arch = "x86_64")]
    unsafe fn tiles(_x: &interleaved::Interleaved, _acts: &[Self], _m: usize, _nb: usize, _groups: std::ops::Range<usize>, _out: Out) -> (usize, usize) {
        (0, 0)
    }
}

impl GroupDot for ActBlockK {
    fn portable(kind: BlockKind, w: &[u8], a: &[Self]) -> [f32; interleaved::GROUP] {
        interleaved::dot_portable(kind, w, a)
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn fast<const R: usize>(kind: BlockKind, w: &[u8], a: [&[Self]; R], prompt: bool) -> [[f32; interleaved::GROUP]; R] {
        use interleaved::avx512::{dot_q4k, dot_q4k_vnni, dot_q6k, dot_q6k_vnni};
        match (kind, prompt && x8_vnni()) {
            (BlockKind::Q6_K, true) => dot_q6k_vnni::<R>(w, a),
            (BlockKind::Q6_K, false) => dot_q6k::<R>(w, a),
            (_, true) => dot_q4k_vnni::<R>(w, a),
            (_, false) => dot_q4k::<R>(w, a),
        }
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn tiles(x: &interleaved::Interleaved, acts: &[Self], m: usize, nb: usize, groups: std::ops::Range<usize>, out: Out) -> (usize, usize) {
        use interleaved::amx;
        let n = groups.len() / 2 * 2;
        if n == 0 || !amx::has_kernel(x.kind()) || m < amx::min_rows(x.kind()) || !amx::in_use() {
            return (0, 0);
        }
        amx::tiles(x, acts, nb, 0..m, groups.start..groups.start + n, out.dst.0, out.col0, out.ld);
        (m, n)
    }
}

impl GroupDot for ActBlock {
    fn portable(kind: BlockKind, w: &[u8], a: &[Self]) -> [f32; interleaved::GROUP] {
        interleaved::dot_small_portable(kind, w, a)
    }
    #[cfg(target_arch = "x86_64")]
    unsafe fn fast<const R: usize>(kind: BlockKind, w: &[u8], a: [&[Self]; R], _prompt: bool) -> [[f32; interleaved::GROUP]; R] {
        use interleaved::avx512::{dot_small, dot_small_vnni};
        match (kind, x8_vnni()) {
            (BlockKind::Q8_0, true) => dot_small_vnni::<R, 0>(w, a),
            (BlockKind::Q4_0, true) => dot_small_vnni::<R, 1>(w, a),
            (_, true) => dot_small_vnni::<R, 2>(w, a),
            (BlockKind::Q8_0, false) => dot_small::<R, 0>(w, a),
            (BlockKind::Q4_0, false) => dot_small::<R, 1>(w, a),
            (_, false) => dot_small::<R, 2>(w, a),
        }
    }
}

/// Whether the interleaved kernels use VNNI's `vpdpbusd` (detected once; `VERTOLK_NO_VNNI=1` switches
/// it off). The integer sums are exact either way, so the outputs are the same bits.
#[cfg(target_arch = "x86_64")]
fn x8_vnni() -> bool {
    static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| std::arch::is_x86_feature_detected!("avx512vnni") && !switched_off("VERTOLK_NO_VNNI")) && !VNNI_SUSPENDED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Rows from which the interleaved K-quant kernels use VNNI (where the CPU has it). Measured on an
/// AMD EPYC (Zen 5, `paired_kernel_rates`, one thread, `x8novnni` against `x8`): 64-row products
/// 1.12–1.14× (Q4_K) and 1.07–1.20× (Q6_K) faster with `vpdpbusd`, one-row Q4_K products 0.70–1.02×
/// (mostly slower), 8-row ones 0.75–1.33× (this machine's noise); 16 rows was not measured. So
/// decoding and the batched steps keep `maddubs`. The bits are the same either way.
const VNNI_K_ROWS: usize = 16;

/// Keeps the interleaved kernels off VNNI while `true` (to measure both in one process).
#[cfg(target_arch = "x86_64")]
static VNNI_SUSPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether linear layers are interleaved ([`BlockMatrix::interleaved`]): where the CPU runs the
/// AVX-512 kernels and `VERTOLK_NO_INTERLEAVE` is not 1 (to measure both on one machine).
fn interleaving_pays() -> bool {
    simd_level() == Simd::Avx512 && !switched_off("VERTOLK_NO_INTERLEAVE")
}

/// Where a matrix's outputs go: column offset `col0` in rows of `ld` values.
#[derive(Clone, Copy)]
struct Out {
    dst: OutPtr,
    col0: usize,
    ld: usize,
}

#[cfg(test)]
fn simd_available() -> bool {
    simd_level() != Simd::Portable
}

/// Which kernels this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Simd {
    Portable,
    /// AVX2 and FMA.
    Avx2,
    /// The AVX2 K-quant kernels with AVX-512 VNNI's `vpdpwssd` (with VL, on 256-bit registers) for
    /// each scale multiply and its sum: decoding on CPUs that have it.
    Avx2Vnni,
    /// AVX-512 F and BW as well: the K-quant kernels take two 32-value sub-blocks per instruction.
    Avx512,
}

/// Whether an environment switch (for measuring) is set to 1.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn switched_off(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// The best kernels the CPU has for several rows (detected once); `VERTOLK_NO_AVX512=1` keeps to
/// AVX2, so that both can be measured on one machine.
fn simd_level() -> Simd {
    static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if !(has!("avx2") && has!("fma")) {
                return Simd::Portable;
            }
            if has!("avx512f") && has!("avx512bw") && !switched_off("VERTOLK_NO_AVX512") {
                Simd::Avx512
            } else {
                Simd::Avx2
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Simd::Portable
        }
    })
}

thread_local! {
    static DECODING_KERNELS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with every block product on this thread on the kernels of one-row calls, whatever its
/// rows: tokens checked together (speculative decoding's verification) then get, bit for bit, the
/// logits that decoding them one at a time gives.
pub fn with_decoding_kernels<T>(f: impl FnOnce() -> T) -> T {
    let before = DECODING_KERNELS.with(|c| c.replace(true));
    let out = f();
    DECODING_KERNELS.with(|c| c.set(before));
    out
}

/// The kernels a call of `m` rows runs. One activation row (decoding), and every call inside
/// [`with_decoding_kernels`], runs the AVX2 kernels, faster there (see `row_dot!`), with VNNI where the
/// CPU has it ([`decoding_level`]). Calls with more rows run the widest kernels on every row, their
/// tails included, so a row's sum does not depend on how many rows came with it: a prompt continued
/// from a cached prefix then computes what a fresh run computes (`models/llm.rs`, `process_prompt`).
/// (The K-quant kernels of all levels give the same bits anyway; the 32-value ones run AVX2 on both.
/// Interleaved matrices run their own kernels at every row count.)
fn level_for_rows(m: usize) -> Simd {
    match simd_level() {
        Simd::Avx512 if m == 1 || DECODING_KERNELS.with(|c| c.get()) => decoding_level(),
        level => level,
    }
}

/// The kernels of one-row calls on a CPU with AVX-512 (`simd_level` checked it): AVX2, with VNNI where the CPU has it (and
/// `VERTOLK_NO_VNNI` is not 1). VNNI's fused multiply-add speeds decoding's K-quant products by
/// 1.04–1.09× and gives the same bits; on prompt rows the 512-bit kernels gained nothing from it
/// (0.98–1.01×; both `paired_kernel_rates`, one thread, 1.5B shapes), so they do without.
fn decoding_level() -> Simd {
    static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512vnni") && has!("avx512vl") && !switched_off("VERTOLK_NO_VNNI") {
                return Simd::Avx2Vnni;
            }
        }
        Simd::Avx2
    })
}

/// `x (m × k)` times the stacked rows of `parts` (all of width `k`, one activation format) → `m × Σn`.
fn matmul_parts(parts: &[&BlockMatrix], x: &[f32], m: usize) -> Vec<f32> {
    matmul_parts_on(parts, x, m, level_for_rows(m))
}

/// [`matmul_parts`] on kernels `simd` (one of those the CPU has).
fn matmul_parts_on(parts: &[&BlockMatrix], x: &[f32], m: usize, simd: Simd) -> Vec<f32> {
    let n: usize = parts.iter().map(|p| p.n).sum();
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    let Some(first) = parts.first() else { return out };
    if m == 0 || n == 0 {
        return out;
    }
    let k = first.k;
    let acts = match first.kind.act() {
        ActFormat::Q8 => Acts::Q8(quantize_rows(x, m, k)),
        ActFormat::Q8K => Acts::Q8K(quantize_rows_k(x, m, k)),
    };
    let panel_counts: Vec<usize> = parts.iter().map(|p| p.n.div_ceil(ROWS_PER_PANEL)).collect();
    let dst = OutPtr(out.as_mut_ptr());
    for_panel_ranges(panel_counts.iter().sum(), m * n * k, |range| {
        let (mut first_panel, mut col0) = (0, 0);
        for (p, &np) in parts.iter().zip(&panel_counts) {
            let (s, e) = (range.start.max(first_panel), range.end.min(first_panel + np));
            if s < e {
                // SAFETY: `out` has capacity m×n; each matrix writes its own columns col0..col0+p.n, and
                // the panel ranges handed to the threads are disjoint and cover every panel once.
                unsafe { p.panels_range(&acts, m, (s - first_panel)..(e - first_panel), dst, col0, n, simd) };
            }
            first_panel += np;
            col0 += p.n;
        }
    });
    // SAFETY: all m×n elements were written.
    unsafe { out.set_len(m * n) };
    out
}

/// Quantized activation rows, in the format the weights' kernel takes.
enum Acts {
    Q8(Vec<ActBlock>),
    Q8K(Vec<ActBlockK>),
}

/// 32 activations quantized to bytes: `x ≈ d·q`, `s = d·Σq` (f16-rounded, as in GGML's Q8_1) and the
/// exact `Σq` (for the offsets of Q4_0 and Q5_0).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(4))]
pub struct ActBlock {
    qs: [i8; QK],
    d: f32,
    s: f32,
    qsum: f32,
}

/// 256 activations quantized to bytes as GGML's Q8_K: `x ≈ d·q` with `d = max/−127` (f32, the signed
/// value of largest magnitude), and the sum of each 16 `q` (for the K-quants' mins and offsets).
/// The sums of each 32 (ggml's pairwise sums of `bsums`) are kept too: the Q4_K/Q5_K kernels need
/// them for every weight row, where a `phaddw` made them (3 of the ~33 µops per row and super-block
/// of the 8-row prompt kernel); they fit in the block's padding to 320 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
pub struct ActBlockK {
    qs: [i8; QK_K],
    bsums: [i16; QK_K / 16],
    sums32: [i16; QK_K / 32],
    d: f32,
}

/// GGML's `quantize_row_q8_1` (which is `q8_0` plus `s`): per 32 values `d = max|x|/127`,
/// `q = round(x/d)` (half away from zero, like `roundf`), `d` and `d·Σq` rounded to f16.
fn quantize_rows(x: &[f32], m: usize, k: usize) -> Vec<ActBlock> {
    let nb = k / QK;
    let mut out = vec![ActBlock { qs: [0; QK], d: 0.0, s: 0.0, qsum: 0.0 }; m * nb];
    for (vals, blk) in x[..m * k].chunks_exact(QK).zip(out.iter_mut()) {
        let amax = vals.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in blk.qs.iter_mut().zip(vals) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        blk.d = f16::from_f32(d).to_f32();
        blk.s = f16::from_f32(d * sum as f32).to_f32();
        blk.qsum = sum as f32;
    }
    out
}

/// GGML's `quantize_row_q8_K_ref`: per 256 values the value `max` of largest magnitude,
/// `q = nearest_int(−127·x/max)` (ties to even, capped at 127), `d = max/−127` in f32, sums of each 16 `q`.
///
/// Blocks are quantized on the rayon pool and, on CPUs with AVX-512, in 512-bit registers (the same
/// bits; non-finite blocks take the scalar path): once the Q4_K products ran on AMX tiles,
/// `matmul_parts`, where the scalar loop on the calling thread was inlined, was 7 % of a 1.5B prompt's
/// `perf` profile; the vectorized quantizer is 1.5 %.
fn quantize_rows_k(x: &[f32], m: usize, k: usize) -> Vec<ActBlockK> {
    use rayon::prelude::*;
    let nb = k / QK_K;
    let mut out = vec![ActBlockK { qs: [0; QK_K], bsums: [0; QK_K / 16], sums32: [0; QK_K / 32], d: 0.0 }; m * nb];
    #[cfg(target_arch = "x86_64")]
    let wide = simd_level() == Simd::Avx512;
    let quantize = |(vals, blk): (&[f32], &mut ActBlockK)| {
        #[cfg(target_arch = "x86_64")]
        if wide {
            // SAFETY: `simd_level` detected AVX-512 F and BW
            if unsafe { avx512::quantize_block_k(vals, blk) } {
                return;
            }
        }
        quantize_block_k(vals, blk);
    };
    if m * k >= 1 << 16 {
        x[..m * k].par_chunks_exact(QK_K).zip(out.par_iter_mut()).with_min_len(64).for_each(quantize);
    } else {
        x[..m * k].chunks_exact(QK_K).zip(out.iter_mut()).for_each(quantize);
    }
    out
}

/// One block of [`quantize_rows_k`], the reference.
fn quantize_block_k(vals: &[f32], blk: &mut ActBlockK) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in vals {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        return;
    }
    let iscale = -127.0 / max;
    for (q, &v) in blk.qs.iter_mut().zip(vals) {
        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
    }
    for (s, q) in blk.bsums.iter_mut().zip(blk.qs.chunks_exact(16)) {
        *s = q.iter().map(|&q| q as i16).sum();
    }
    for (s, pair) in blk.sums32.iter_mut().zip(blk.bsums.chunks_exact(2)) {
        *s = pair[0] + pair[1];
    }
    blk.d = 1.0 / iscale;
}

/// The dot products of one weight row (raw blocks) with up to [`MR`] activation rows, for one block kind.
trait RowDot {
    type Act;
    fn dot<const R: usize>(simd: Simd, w: &[u8], a: [&[Self::Act]; R]) -> [f32; R];
}

#[allow(non_camel_case_types)]
mod kernels {
    use super::{portable, ActBlock, ActBlockK, BlockKind, RowDot, Simd};
    #[cfg(target_arch = "x86_64")]
    use super::{avx2, avx512};

    macro_rules! row_dot {
        ($name:ident, $act:ty, $avx:ident, $portable:ident $(, $avx_vnni:ident, $avx512:ident)?) => {
            pub(super) struct $name;
            impl RowDot for $name {
                type Act = $act;
                #[inline(always)]
                fn dot<const R: usize>(simd: Simd, w: &[u8], a: [&[$act]; R]) -> [f32; R] {
                    // SAFETY: `simd` names only features that were detected (`simd_level`); `w` holds
                    // as many blocks as each `a[i]` (row widths are checked when layers are built).
                    #[cfg(target_arch = "x86_64")]
                    #[allow(unreachable_patterns)]
                    match simd {
                        // `level_for_rows` picks AVX2 for one-row calls (decoding): the 512-bit kernel
                        // saves multiplies per activation row, and with one row the unpacking it adds
                        // ate the saving (1.5B Q4_K_M decoding 8.3 vs 9.4 tok/s with it for all rows,
                        // medians of 3 alternated `vertolk bench llm` runs on a machine that drifts
                        // ±13 %: not faster, at best)
                        $(
                            Simd::Avx512 => return unsafe { avx512::$avx512::<R>(w, a) },
                            Simd::Avx2Vnni => return unsafe { avx2::$avx_vnni::<R>(w, a) },
                        )?
                        Simd::Avx2 | Simd::Avx2Vnni | Simd::Avx512 => return unsafe { avx2::$avx::<R>(w, a) },
                        Simd::Portable => {}
                    }
                    let _ = simd;
                    std::array::from_fn(|i| portable::$portable(BlockKind::$name, w, a[i]))
                }
            }
        };
    }

    row_dot!(Q4_0, ActBlock, dot_q4_0, dot);
    row_dot!(Q4_1, ActBlock, dot_q4_1, dot);
    row_dot!(Q5_0, ActBlock, dot_q5_0, dot);
    row_dot!(Q8_0, ActBlock, dot_q8_0, dot);
    row_dot!(Q4_K, ActBlockK, dot_q4_k, dot_k, dot_q4_k_vnni, dot_q4_k);
    row_dot!(Q5_K, ActBlockK, dot_q5_k, dot_k, dot_q5_k_vnni, dot_q5_k);
    row_dot!(Q6_K, ActBlockK, dot_q6_k, dot_k, dot_q6_k_vnni, dot_q6_k);
}

/// Scalar versions: the specification the SIMD kernels are tested against, and the path on other CPUs.
mod portable {
    use super::{k4_scales_mins, read_f16, ActBlock, ActBlockK, BlockKind, QK};

    pub(super) fn dot(kind: BlockKind, w: &[u8], a: &[ActBlock]) -> f32 {
        let bb = kind.block_bytes();
        let mut sum = 0f32;
        for (blk, a) in w.chunks_exact(bb).zip(a) {
            let d = read_f16(blk, 0);
            match kind {
                BlockKind::Q4_0 => {
                    let mut si = 0i32;
                    for i in 0..QK / 2 {
                        let q = blk[2 + i];
                        si += (q & 0xF) as i32 * a.qs[i] as i32 + (q >> 4) as i32 * a.qs[i + QK / 2] as i32;
                    }
                    sum += si as f32 * (d * a.d) - 8.0 * (d * a.d) * a.qsum;
                }
                BlockKind::Q4_1 => {
                    let mut si = 0i32;
                    for i in 0..QK / 2 {
                        let q = blk[4 + i];
                        si += (q & 0xF) as i32 * a.qs[i] as i32 + (q >> 4) as i32 * a.qs[i + QK / 2] as i32;
                    }
                    sum += si as f32 * (d * a.d) + read_f16(blk, 2) * a.s;
                }
                BlockKind::Q5_0 => {
                    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                    let mut si = 0i32;
                    for i in 0..QK / 2 {
                        let q = blk[6 + i];
                        let lo = (q & 0xF) as i32 | ((((qh >> i) & 1) as i32) << 4);
                        let hi = (q >> 4) as i32 | ((((qh >> (i + 16)) & 1) as i32) << 4);
                        si += lo * a.qs[i] as i32 + hi * a.qs[i + QK / 2] as i32;
                    }
                    sum += si as f32 * (d * a.d) - 16.0 * (d * a.d) * a.qsum;
                }
                BlockKind::Q8_0 => {
                    let si: i32 = (0..QK).map(|i| blk[2 + i] as i8 as i32 * a.qs[i] as i32).sum();
                    sum += si as f32 * (d * a.d);
                }
                BlockKind::Q4_K | BlockKind::Q5_K | BlockKind::Q6_K => unreachable!("K-quants take Q8_K activations"),
            }
        }
        sum
    }

    /// A K-quant row against Q8_K activations: per super-block the exact integer sums of ggml's
    /// kernels, `d·d_y·Σ sc·Σ q·y` and `−dmin·d_y·Σ m·Σ y`.
    pub(super) fn dot_k(kind: BlockKind, w: &[u8], a: &[ActBlockK]) -> f32 {
        let mut sum = 0f32;
        for (blk, a) in w.chunks_exact(kind.block_bytes()).zip(a) {
            match kind {
                BlockKind::Q4_K | BlockKind::Q5_K => {
                    let (d, dmin) = (read_f16(blk, 0), read_f16(blk, 2));
                    let (sc, mn) = k4_scales_mins(&blk[4..16]);
                    let five = kind == BlockKind::Q5_K;
                    let (qh, qs) = if five { (&blk[16..48], &blk[48..176]) } else { (&blk[..0], &blk[16..144]) };
                    let (mut si, mut mi) = (0i32, 0i32);
                    for s in 0..8 {
                        let (c, high) = (s / 2, s % 2 == 1);
                        let mut sub = 0i32;
                        for l in 0..32 {
                            let byte = qs[32 * c + l];
                            let mut q = if high { byte >> 4 } else { byte & 0xF } as i32;
                            if five && qh[l] & (1 << s) != 0 {
                                q += 16;
                            }
                            sub += q * a.qs[32 * s + l] as i32;
                        }
                        si += sc[s] as i32 * sub;
                        mi += mn[s] as i32 * (a.bsums[2 * s] as i32 + a.bsums[2 * s + 1] as i32);
                    }
                    sum += d * a.d * si as f32 - dmin * a.d * mi as f32;
                }
                BlockKind::Q6_K => {
                    let d = read_f16(blk, 208);
                    let (ql, qh, sc) = (&blk[..128], &blk[128..192], &blk[192..208]);
                    let mut si = 0i32;
                    for (i, &y) in a.qs.iter().enumerate() {
                        // value i: half h, quarter t (which nibble / which 2 bits), lane l
                        let (h, t, l) = (i / 128, (i % 128) / 32, i % 32);
                        let low = ql[64 * h + 32 * (t % 2) + l];
                        let low = if t < 2 { low & 0xF } else { low >> 4 };
                        let high = (qh[32 * h + l] >> (2 * t)) & 3;
                        let q = (low | (high << 4)) as i32 - 32;
                        si += sc[i / 16] as i8 as i32 * q * y as i32;
                    }
                    sum += d * a.d * si as f32;
                }
                _ => unreachable!("32-value blocks take Q8_0/Q8_1 activations"),
            }
        }
        sum
    }
}

/// The K-quant entry points `$q4`, `$q5`, `$q6` of a SIMD module, from its `dot_q45_k` and
/// `dot_q6_k_with` compiled with `$features` (and, where given, their VNNI switch).
#[cfg(target_arch = "x86_64")]
macro_rules! k_quant_entries {
    ([$($features:literal),+] => $q4:ident, $q5:ident, $q6:ident $(, vnni = $vnni:literal)?) => {
        $(#[target_feature(enable = $features)])+
        pub(super) unsafe fn $q4<const R: usize>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
            dot_q45_k::<R, false $(, $vnni)?>(w, a)
        }

        $(#[target_feature(enable = $features)])+
        pub(super) unsafe fn $q5<const R: usize>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
            dot_q45_k::<R, true $(, $vnni)?>(w, a)
        }

        $(#[target_feature(enable = $features)])+
        pub(super) unsafe fn $q6<const R: usize>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
            dot_q6_k_with::<R $(, $vnni)?>(w, a)
        }
    };
}
#[cfg(target_arch = "x86_64")]
use k_quant_entries;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{k4_scales_mins, read_f16, ActBlock, ActBlockK, BlockKind, QK};
    use std::arch::x86_64::*;

    /// 16 bytes of nibbles → 32 bytes: low nibbles (values 0–15) then high nibbles (16–31).
    #[inline(always)]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        let t = _mm_loadu_si128(p as *const __m128i);
        let b = _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(t), _mm_srli_epi16::<4>(t));
        _mm256_and_si256(b, _mm256_set1_epi8(0x0F))
    }

    /// 32 bits → 32 bytes, 0xFF where the bit is set.
    #[inline(always)]
    unsafe fn bits(p: *const u8) -> __m256i {
        let x = u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
        let shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x as i32), shuf);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    /// Σ u·s over 32 unsigned × signed bytes, as 8 float lanes (pairs to i16 cannot saturate: |u| ≤ 127).
    #[inline(always)]
    unsafe fn dot_us(u: __m256i, s: __m256i) -> __m256 {
        let p16 = _mm256_maddubs_epi16(u, s);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// Each row's accumulator summed across its lanes.
    #[inline(always)]
    pub(super) unsafe fn hsums<const R: usize>(acc: &[__m256; R]) -> [f32; R] {
        std::array::from_fn(|r| hsum(acc[r]))
    }

    #[inline(always)]
    unsafe fn load_q(a: &ActBlock) -> __m256i {
        _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i)
    }

    #[inline(always)]
    pub(super) unsafe fn load32(p: *const u8) -> __m256i {
        _mm256_loadu_si256(p as *const __m256i)
    }

    /// Sum the two accumulators of each row into its dot product, plus its scalar term.
    #[inline(always)]
    unsafe fn finish<const R: usize>(acc: &[[__m256; 2]; R], scalar: &[f32; R]) -> [f32; R] {
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = hsum(_mm256_add_ps(acc[r][0], acc[r][1])) + scalar[r];
        }
        out
    }

    /// The offset term of a block of unsigned weights `u`: Q4_1's `w = d·u + m` adds `m·Σy` (GGML's `s`),
    /// Q4_0's `w = d·(u − 8)` and Q5_0's `w = d·(u − 16)` subtract `shift·d·Σy`.
    #[derive(Clone, Copy)]
    enum Offset {
        Min(f32),
        Shift(f32),
    }

    /// Add block `b` (unsigned weights `u`, scale `d`) times each row's activations. Even and odd blocks
    /// go to two accumulators per row, so that a block's multiply-add does not wait for the previous one.
    #[inline(always)]
    unsafe fn add_unsigned_block<const R: usize>(u: __m256i, d: f32, off: Offset, a: &[&[ActBlock]; R], b: usize, acc: &mut [[__m256; 2]; R], offs: &mut [f32; R]) {
        for r in 0..R {
            let y = a[r].get_unchecked(b);
            let dd = d * y.d;
            acc[r][b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(dd), dot_us(u, load_q(y)), acc[r][b & 1]);
            offs[r] += match off {
                Offset::Min(m) => m * y.s,
                Offset::Shift(s) => -s * dd * y.qsum,
            };
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_0<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        let (mut acc, mut offs) = ([[_mm256_setzero_ps(); 2]; R], [0f32; R]);
        for (b, blk) in w.chunks_exact(BlockKind::Q4_0.block_bytes()).enumerate() {
            let u = nibbles(blk.as_ptr().add(2));
            add_unsigned_block(u, read_f16(blk, 0), Offset::Shift(8.0), &a, b, &mut acc, &mut offs);
        }
        finish(&acc, &offs)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_1<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        let (mut acc, mut offs) = ([[_mm256_setzero_ps(); 2]; R], [0f32; R]);
        for (b, blk) in w.chunks_exact(BlockKind::Q4_1.block_bytes()).enumerate() {
            let u = nibbles(blk.as_ptr().add(4));
            add_unsigned_block(u, read_f16(blk, 0), Offset::Min(read_f16(blk, 2)), &a, b, &mut acc, &mut offs);
        }
        finish(&acc, &offs)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q5_0<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        let (mut acc, mut offs) = ([[_mm256_setzero_ps(); 2]; R], [0f32; R]);
        for (b, blk) in w.chunks_exact(BlockKind::Q5_0.block_bytes()).enumerate() {
            // u = q + 16: the nibble, plus 16 where the fifth bit is set
            let hi = _mm256_and_si256(bits(blk.as_ptr().add(2)), _mm256_set1_epi8(0x10));
            let u = _mm256_or_si256(nibbles(blk.as_ptr().add(6)), hi);
            add_unsigned_block(u, read_f16(blk, 0), Offset::Shift(16.0), &a, b, &mut acc, &mut offs);
        }
        finish(&acc, &offs)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_0<const R: usize>(w: &[u8], a: [&[ActBlock]; R]) -> [f32; R] {
        const BB: usize = BlockKind::Q8_0.block_bytes();
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for (b, blk) in w.chunks_exact(BB).enumerate() {
            let qx = _mm256_loadu_si256(blk.as_ptr().add(2) as *const __m256i);
            let d = read_f16(blk, 0);
            // signed × signed via the sign trick: |x| · (y·sign x)
            let ax = _mm256_sign_epi8(qx, qx);
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let sy = _mm256_sign_epi8(load_q(y), qx);
                acc[r][b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), dot_us(ax, sy), acc[r][b & 1]);
            }
        }
        finish(&acc, &[0f32; R])
    }

    /// Each of 16 i16 lanes = scale `i` of the 8 i16 scales held (twice) in `scales`.
    #[inline(always)]
    pub(super) unsafe fn broadcast_i16(scales: __m256i, i: usize) -> __m256i {
        let lo = (2 * i) as i16;
        _mm256_shuffle_epi8(scales, _mm256_set1_epi16(((lo + 1) << 8) | lo))
    }

    /// `acc + madd(s, p)`: i16 pairs multiplied and summed into i32 lanes. With `VNNI` one `vpdpwssd`
    /// instead of two instructions; the sums are exact i32 arithmetic either way, so both give the
    /// same bits.
    #[inline(always)]
    unsafe fn madd_add<const VNNI: bool>(acc: __m256i, s: __m256i, p: __m256i) -> __m256i {
        if VNNI { _mm256_dpwssd_epi32(acc, s, p) } else { _mm256_add_epi32(acc, _mm256_madd_epi16(s, p)) }
    }

    /// Which of a row's two i32 sums the product of sub-block `t` goes to. One row alone (decoding)
    /// alternates them, so that each `vpdpwssd` (5 cycles) does not wait for the one before; several
    /// rows already interleave, and their registers are needed. Integer sums: the same bits either way.
    #[inline(always)]
    const fn chain<const R: usize>(t: usize) -> usize {
        if R == 1 { t & 1 } else { 0 }
    }

    /// The mins term `Σ_s m_s·Σ_{32 values of s} y` of one row of a super-block as 4 i32 lanes (ggml's
    /// pairwise sums of `bsums`, kept in `sums32`, then `madd` with the mins), widened to 8 lanes with
    /// zeros above.
    #[inline(always)]
    unsafe fn mins_term(mins: __m128i, y: &ActBlockK) -> __m256i {
        let q8s = _mm_loadu_si128(y.sums32.as_ptr() as *const __m128i);
        _mm256_zextsi128_si256(_mm_madd_epi16(mins, q8s))
    }

    pub(super) const fn q45_block_bytes(five: bool) -> usize {
        if five { BlockKind::Q5_K.block_bytes() } else { BlockKind::Q4_K.block_bytes() }
    }

    /// A Q4_K/Q5_K super-block's `d`, `dmin`, scales and mins ([`k4_scales`]), and Q5_K's fifth bits
    /// (`qh`, 32 bytes: bit `s` of byte `l` is value `l` of sub-block `s`; zero for Q4_K).
    #[inline(always)]
    pub(super) unsafe fn q45_header<const FIVE: bool>(blk: &[u8]) -> (f32, f32, __m256i, __m128i, __m256i) {
        let (scales, mins) = k4_scales(blk);
        let hb = if FIVE { load32(blk.as_ptr().add(16)) } else { _mm256_setzero_si256() };
        (read_f16(blk, 0), read_f16(blk, 2), scales, mins, hb)
    }

    /// The 4- or 5-bit values of sub-blocks `2c` and `2c + 1` of a Q4_K/Q5_K super-block: the low and
    /// high nibbles of bytes `32c..32c+32`, with Q5_K's bits `2c` and `2c + 1` of `hb` moved to bit 4
    /// (`hb` moves on by two bits for the next pair).
    #[inline(always)]
    pub(super) unsafe fn q45_pair<const FIVE: bool>(blk: &[u8], c: usize, hb: &mut __m256i) -> (__m256i, __m256i) {
        let m4 = _mm256_set1_epi8(0xF);
        let raw = load32(blk.as_ptr().add(if FIVE { 48 } else { 16 } + 32 * c));
        let (mut lo, mut hi) = (_mm256_and_si256(raw, m4), _mm256_and_si256(_mm256_srli_epi16::<4>(raw), m4));
        if FIVE {
            let bit4 = _mm256_set1_epi8(0x10);
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16::<4>(*hb), bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16::<3>(*hb), bit4));
            *hb = _mm256_srli_epi16::<2>(*hb);
        }
        (lo, hi)
    }

    /// One Q4_K/Q5_K super-block of one row into its accumulator: `d·d_y·Σ sc·Σ q·y − dmin·d_y·Σ m·Σy`.
    #[inline(always)]
    pub(super) unsafe fn add_k4_block(acc: &mut __m256, d: f32, dmin: f32, y: &ActBlockK, sumi: __m256i, mins: __m128i) {
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), _mm256_cvtepi32_ps(sumi), *acc);
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * y.d), _mm256_cvtepi32_ps(mins_term(mins, y)), *acc);
    }

    /// The scales and mins of a Q4_K/Q5_K super-block as i16: the 8 scales in both 128-bit halves
    /// (for in-lane shuffles), and the 8 mins.
    #[inline(always)]
    unsafe fn k4_scales(blk: &[u8]) -> (__m256i, __m128i) {
        let (sc, mn) = k4_scales_mins(&blk[4..16]);
        let sc = _mm_cvtepu8_epi16(_mm_loadl_epi64(sc.as_ptr() as *const __m128i));
        let mn = _mm_cvtepu8_epi16(_mm_loadl_epi64(mn.as_ptr() as *const __m128i));
        (_mm256_broadcastsi128_si256(sc), mn)
    }

    /// Q4_K (and with `FIVE` Q5_K) against Q8_K, as ggml's `ggml_vec_dot_q4_K_q8_K`/`q5_K`: per pair of
    /// 32-value sub-blocks the nibbles (plus the fifth bits) times each row's bytes (`maddubs`, no
    /// saturation: 31·127·2 < 2¹⁵), times the sub-block scale (`madd`), summed in i32; then
    /// `d·d_y·Σ − dmin·d_y·Σ m·Σy` in float.
    #[inline(always)]
    unsafe fn dot_q45_k<const R: usize, const FIVE: bool, const VNNI: bool>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        for (b, blk) in w.chunks_exact(q45_block_bytes(FIVE)).enumerate() {
            let (d, dmin, scales, mins, mut hb) = q45_header::<FIVE>(blk);
            let mut sumi = [[_mm256_setzero_si256(); 2]; R];
            // Two halves of 128 values: the four sub-blocks' values and scales of a half (8 registers)
            // stay in registers while each row's bytes stream past; the whole block at once spilled them.
            for half in 0..2 {
                let mut q = [_mm256_setzero_si256(); 4];
                for c in 0..2 {
                    (q[2 * c], q[2 * c + 1]) = q45_pair::<FIVE>(blk, 2 * half + c, &mut hb);
                }
                let sc: [__m256i; 4] = std::array::from_fn(|t| broadcast_i16(scales, 4 * half + t));
                for r in 0..R {
                    let y = a[r].get_unchecked(b).qs.as_ptr().add(128 * half) as *const u8;
                    for t in 0..4 {
                        let s = &mut sumi[r][chain::<R>(t)];
                        *s = madd_add::<VNNI>(*s, sc[t], _mm256_maddubs_epi16(q[t], load32(y.add(32 * t))));
                    }
                }
            }
            for r in 0..R {
                add_k4_block(&mut acc[r], d, dmin, a[r].get_unchecked(b), _mm256_add_epi32(sumi[r][0], sumi[r][1]), mins);
            }
        }
        hsums(&acc)
    }

    k_quant_entries!(["avx2,fma"] => dot_q4_k, dot_q5_k, dot_q6_k, vnni = false);
    k_quant_entries!(["avx2,fma", "avx512vnni,avx512vl"] => dot_q4_k_vnni, dot_q5_k_vnni, dot_q6_k_vnni, vnni = true);

    /// A Q6_K block's scale `d`, its 16 scales as bytes and as i16.
    #[inline(always)]
    pub(super) unsafe fn q6_header(blk: &[u8]) -> (f32, __m128i, __m256i) {
        let scales = _mm_loadu_si128(blk.as_ptr().add(192) as *const __m128i);
        (read_f16(blk, 208), scales, _mm256_cvtepi8_epi16(scales))
    }

    /// One Q6_K block of one row into its accumulator: `d·d_y·(Σ sc·Σ q·y − 32·Σ sc·Σy)`.
    #[inline(always)]
    pub(super) unsafe fn add_q6_block(acc: &mut __m256, d: f32, y: &ActBlockK, sumi: __m256i, scales16: __m256i) {
        let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums, scales16));
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi, offset)), *acc);
    }

    /// The four quarters of 6-bit values (0..64) of half `h` of a Q6_K block at `p`.
    #[inline(always)]
    pub(super) unsafe fn q6_quarters(p: *const u8, h: usize) -> [__m256i; 4] {
        let m15 = _mm256_set1_epi8(15);
        let l1 = load32(p.add(64 * h));
        let l2 = load32(p.add(64 * h + 32));
        let hb = load32(p.add(128 + 32 * h));
        [
            _mm256_or_si256(_mm256_and_si256(l1, m15), _mm256_slli_epi16::<4>(_mm256_and_si256(hb, _mm256_set1_epi8(3)))),
            _mm256_or_si256(_mm256_and_si256(l2, m15), _mm256_slli_epi16::<2>(_mm256_and_si256(hb, _mm256_set1_epi8(12)))),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(l1), m15), _mm256_and_si256(hb, _mm256_set1_epi8(48))),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(l2), m15), _mm256_srli_epi16::<2>(_mm256_and_si256(hb, _mm256_set1_epi8(-64)))),
        ]
    }

    /// 16 i16 lanes: scale `8h + 2t` for the first 16 values of quarter `t` of half `h`, `8h + 2t + 1`
    /// for the next 16.
    #[inline(always)]
    pub(super) unsafe fn q6_scales(scales: __m128i, h: usize, t: usize) -> __m256i {
        let i = (8 * h + 2 * t) as i64;
        let pick = _mm_set_epi64x((i + 1) * 0x0101010101010101, i * 0x0101010101010101);
        _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick))
    }

    /// Q6_K against Q8_K, as ggml's `ggml_vec_dot_q6_K_q8_K`: the unsigned 6-bit values `q` (0..64)
    /// times each row's bytes (`maddubs`: 63·127·2 < 2¹⁵), times the 16-value scales (`madd`), summed in
    /// i32, minus `32·Σ sc·Σy` from the row's 16-value sums; then `d·d_y·Σ` in float.
    #[inline(always)]
    unsafe fn dot_q6_k_with<const R: usize, const VNNI: bool>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        for (b, blk) in w.chunks_exact(BlockKind::Q6_K.block_bytes()).enumerate() {
            let p = blk.as_ptr();
            let (d, scales, scales16) = q6_header(blk);
            let mut sumi = [[_mm256_setzero_si256(); 2]; R];
            for h in 0..2 {
                let q = q6_quarters(p, h);
                let mut sc = [_mm256_setzero_si256(); 4];
                for (t, s) in sc.iter_mut().enumerate() {
                    *s = q6_scales(scales, h, t);
                }
                for r in 0..R {
                    let y = a[r].get_unchecked(b).qs.as_ptr().add(128 * h) as *const u8;
                    for t in 0..4 {
                        let s = &mut sumi[r][chain::<R>(t)];
                        *s = madd_add::<VNNI>(*s, sc[t], _mm256_maddubs_epi16(q[t], load32(y.add(32 * t))));
                    }
                }
            }
            for r in 0..R {
                add_q6_block(&mut acc[r], d, a[r].get_unchecked(b), _mm256_add_epi32(sumi[r][0], sumi[r][1]), scales16);
            }
        }
        hsums(&acc)
    }

    const _: () = assert!(QK == 32);
}

/// The K-quant kernels with AVX-512 (F, BW): the same integer sums as [`avx2`], two 32-value
/// sub-blocks per 512-bit `maddubs`/`madd` instead of one per 256-bit pair, so a super-block takes
/// half the multiply instructions per activation row. The weights of a super-block are unpacked in
/// 256-bit halves (the nibbles of one 32-byte load are the two sub-blocks' values) and joined.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::{add_k4_block, add_q6_block, broadcast_i16, hsums, q45_block_bytes, q45_header, q45_pair, q6_header, q6_quarters, q6_scales};
    use super::{ActBlockK, BlockKind};
    use std::arch::x86_64::*;

    /// [`super::quantize_block_k`] in 512-bit registers, bit for bit: `false` (nothing written) for a
    /// block with a NaN or an infinity, which the scalar code takes.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantize_block_k(vals: &[f32], blk: &mut ActBlockK) -> bool {
        debug_assert_eq!(vals.len(), super::QK_K);
        let p = vals.as_ptr();
        let v: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(p.add(16 * i)));
        let mut amax = _mm512_setzero_ps();
        let mut finite = true;
        for x in &v {
            let a = _mm512_abs_ps(*x);
            // |x| < ∞ is false for NaN and ±∞
            finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, _mm512_set1_ps(f32::INFINITY)) == 0xFFFF;
            amax = _mm512_max_ps(amax, a);
        }
        if !finite {
            return false;
        }
        let amax = _mm512_reduce_max_ps(amax);
        if amax == 0.0 {
            return true;
        }
        // the first value of that magnitude, as the scalar scan finds it
        let max = vals.iter().copied().find(|x| x.abs() == amax).unwrap_or(amax);
        let iscale = -127.0 / max;
        let (s, cap) = (_mm512_set1_ps(iscale), _mm512_set1_epi32(127));
        for (i, x) in v.iter().enumerate() {
            // `cvtps` rounds to nearest, ties to even (the default MXCSR mode), as `round_ties_even`
            let q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(s, *x)), cap);
            _mm_storeu_si128(blk.qs.as_mut_ptr().add(16 * i) as *mut __m128i, _mm512_cvtepi32_epi8(q));
            blk.bsums[i] = _mm512_reduce_add_epi32(q) as i16;
        }
        for (s, pair) in blk.sums32.iter_mut().zip(blk.bsums.chunks_exact(2)) {
            *s = pair[0] + pair[1];
        }
        blk.d = 1.0 / iscale;
        true
    }

    #[inline(always)]
    unsafe fn join(lo: __m256i, hi: __m256i) -> __m512i {
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }

    #[inline(always)]
    unsafe fn load64(p: *const u8) -> __m512i {
        _mm512_loadu_si512(p as *const _)
    }

    /// 16 i32 lanes → the 8 lanes of their two halves' sum.
    #[inline(always)]
    unsafe fn fold(v: __m512i) -> __m256i {
        _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
    }

    /// Q4_K (and with `FIVE` Q5_K) against Q8_K: as `avx2::dot_q45_k`, with sub-blocks `2c` and `2c+1`
    /// (the low and high nibbles of bytes `32c..32c+32`, and their activations `64c..64c+64`) in one
    /// register.
    #[inline(always)]
    unsafe fn dot_q45_k<const R: usize, const FIVE: bool>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        for (b, blk) in w.chunks_exact(q45_block_bytes(FIVE)).enumerate() {
            let (d, dmin, scales, mins, mut hb) = q45_header::<FIVE>(blk);
            let mut q = [_mm512_setzero_si512(); 4];
            let mut sc = [_mm512_setzero_si512(); 4];
            for c in 0..4 {
                let (lo, hi) = q45_pair::<FIVE>(blk, c, &mut hb);
                q[c] = join(lo, hi);
                sc[c] = join(broadcast_i16(scales, 2 * c), broadcast_i16(scales, 2 * c + 1));
            }
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let yq = y.qs.as_ptr() as *const u8;
                let mut sumi = _mm512_setzero_si512();
                for c in 0..4 {
                    let p = _mm512_madd_epi16(sc[c], _mm512_maddubs_epi16(q[c], load64(yq.add(64 * c))));
                    sumi = _mm512_add_epi32(sumi, p);
                }
                add_k4_block(&mut acc[r], d, dmin, y, fold(sumi), mins);
            }
        }
        hsums(&acc)
    }

    super::k_quant_entries!(["avx512f,avx512bw,avx2,fma"] => dot_q4_k, dot_q5_k, dot_q6_k);

    /// Q6_K against Q8_K: as `avx2::dot_q6_k`, with quarters `2c` and `2c + 1` of a half, which are
    /// values `64c..64c + 64`, in one register, so that each row's bytes come in one 64-byte load.
    /// (Joining quarter `t` of both halves, as first written, took two loads and an insert per
    /// register; the rate did not measurably change, 0.95–1.01×.) Every i32 lane sums the products it
    /// summed before, so the bits are the same.
    #[inline(always)]
    unsafe fn dot_q6_k_with<const R: usize>(w: &[u8], a: [&[ActBlockK]; R]) -> [f32; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        for (b, blk) in w.chunks_exact(BlockKind::Q6_K.block_bytes()).enumerate() {
            let p = blk.as_ptr();
            let (d, scales, scales16) = q6_header(blk);
            let (mut q, mut sc) = ([_mm512_setzero_si512(); 4], [_mm512_setzero_si512(); 4]);
            let halves = [q6_quarters(p, 0), q6_quarters(p, 1)];
            for c in 0..4 {
                let (h, t) = (c / 2, 2 * (c % 2));
                q[c] = join(halves[h][t], halves[h][t + 1]);
                sc[c] = join(q6_scales(scales, h, t), q6_scales(scales, h, t + 1));
            }
            for r in 0..R {
                let y = a[r].get_unchecked(b);
                let yq = y.qs.as_ptr() as *const u8;
                let mut sumi = _mm512_setzero_si512();
                for c in 0..4 {
                    sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(sc[c], _mm512_maddubs_epi16(q[c], load64(yq.add(64 * c)))));
                }
                add_q6_block(&mut acc[r], d, y, fold(sumi), scales16);
            }
        }
        hsums(&acc)
    }
}

/// Matrices of one width and activation format whose rows are stacked into one layer's outputs.
#[derive(Clone, Debug)]
pub struct BlockLayer {
    parts: Vec<Arc<BlockMatrix>>,
}

impl BlockLayer {
    fn n(&self) -> usize {
        self.parts.iter().map(|p| p.n).sum()
    }

    fn k(&self) -> usize {
        self.parts.first().map_or(0, |p| p.k)
    }

    fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let parts: Vec<&BlockMatrix> = self.parts.iter().map(|p| &**p).collect();
        matmul_parts(&parts, x, m)
    }
}

/// A GGUF linear layer (no bias): GGML blocks run here on the CPU, anything else through candle's `QMatMul`.
#[derive(Clone, Debug)]
pub enum GgufLinear {
    Blocks(BlockLayer),
    Candle(QMatMul),
}

impl GgufLinear {
    /// Runs vertolk's block kernels (not candle's).
    pub fn is_blocks(&self) -> bool {
        matches!(self, Self::Blocks(_))
    }

    pub fn new(t: QTensor, device: &Device) -> Result<Self> {
        if device.is_cpu() {
            if let Some(m) = BlockMatrix::from_qtensor(&t)? {
                return Ok(Self::from_matrix(m));
            }
        }
        Ok(Self::Candle(QMatMul::from_qtensor(t)?))
    }

    /// A layer of one block matrix, Q5_0 re-laid as Q8_0 ([`BlockMatrix::unpacked`]), rows
    /// interleaved by 8 where that pays ([`BlockMatrix::interleaved`]).
    pub fn from_matrix(m: BlockMatrix) -> Self {
        Self::from_shared(Arc::new(m.unpacked().interleaved()))
    }

    /// A layer reading a matrix as it is, shared with others (a tied token embedding).
    pub fn from_shared(m: Arc<BlockMatrix>) -> Self {
        Self::Blocks(BlockLayer { parts: vec![m] })
    }

    /// One layer computing all of `parts` (same input width) side by side, when they are all GGML
    /// blocks on the CPU taking the same activation format; `None` otherwise (use them one by one).
    pub fn fused(parts: &[&GgufLinear]) -> Option<Self> {
        let layers = parts.iter().map(|p| if let Self::Blocks(l) = p { Some(l) } else { None }).collect::<Option<Vec<_>>>()?;
        let mats: Vec<Arc<BlockMatrix>> = layers.iter().flat_map(|l| l.parts.iter().cloned()).collect();
        let first = mats.first()?;
        if mats.iter().any(|m| m.kind.act() != first.kind.act() || m.k != first.k) {
            return None;
        }
        Some(Self::Blocks(BlockLayer { parts: mats }))
    }

    pub fn out_features(&self) -> Option<usize> {
        match self {
            Self::Blocks(l) => Some(l.n()),
            Self::Candle(_) => None,
        }
    }
}

impl Module for GgufLinear {
    /// `xs (..., k)` → `(..., n)`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Blocks(_) => xs.contiguous()?.apply_op1_no_bwd(self),
            Self::Candle(q) => q.forward(xs),
        }
    }
}

impl CustomOp1 for GgufLinear {
    fn name(&self) -> &'static str {
        "gguf-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let Self::Blocks(l) = self else { candle_core::bail!("gguf-linear: not a block matrix") };
        linear_cpu_fwd(self.name(), l.k(), l.n(), storage, layout, |x, rows| l.matmul(x, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values as values;

    const ALL: [GgmlDType; 7] = [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K];

    fn qtensor(dtype: GgmlDType, n: usize, k: usize, seed: u64) -> QTensor {
        let w = Tensor::from_vec(values(n * k, seed), (n, k), &Device::Cpu).unwrap();
        QTensor::quantize(&w, dtype).unwrap()
    }

    /// The dequantized activations of row `r` (`q·d`, f64) for the format `kind` takes.
    fn dequantized_acts(kind: BlockKind, x: &[f32], m: usize, k: usize) -> Vec<Vec<f64>> {
        match kind.act() {
            ActFormat::Q8 => {
                let a = quantize_rows(x, m, k);
                (0..m).map(|r| a[r * k / QK..(r + 1) * k / QK].iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect()).collect()
            }
            ActFormat::Q8K => {
                let a = quantize_rows_k(x, m, k);
                (0..m).map(|r| a[r * k / QK_K..(r + 1) * k / QK_K].iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect()).collect()
            }
        }
    }

    /// Our kernels against the exact product of the dequantized weights and the dequantized quantized
    /// activations (f64), for every kind, for row counts that exercise passes of several sizes and the
    /// row-block edge, and a column count that leaves a ragged last panel: equal up to f32 summation.
    /// Then against candle's own `QMatMul` on the same blocks (it quantizes activations the same way
    /// up to rounding ties, but rounds Q8_1's `d·Σq` through f16 differently, hence the looser bound).
    #[test]
    fn matches_exact_product_and_candle_qmatmul() {
        let (n, k) = (37, 512);
        for dtype in ALL {
            let ours = GgufLinear::new(qtensor(dtype, n, k, 7), &Device::Cpu).unwrap();
            let GgufLinear::Blocks(layer) = &ours else { panic!("{dtype:?} runs on our kernel") };
            let mat = &layer.parts[0];
            let q = qtensor(dtype, n, k, 7);
            let w = q.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            let theirs = QMatMul::from_qtensor(q).unwrap();
            for m in [1usize, 2, 3, 5, 67] {
                let xv = values(m * k, m as u64);
                let x = Tensor::from_vec(xv.clone(), (m, k), &Device::Cpu).unwrap();
                let a = ours.forward(&x).unwrap().to_vec2::<f32>().unwrap();
                let b = theirs.forward(&x).unwrap().to_vec2::<f32>().unwrap();
                if dtype == GgmlDType::Q5_0 {
                    // the compact Q5_0 kernel (used where a tied embedding serves as the output layer)
                    let compact = BlockMatrix::from_qtensor(&qtensor(dtype, n, k, 7)).unwrap().unwrap().matmul(&xv, m);
                    for (c, u) in compact.iter().zip(a.iter().flatten()) {
                        assert!((c - u).abs() <= 1e-5 * (1.0 + u.abs()), "Q5_0 compact {c} vs unpacked {u}");
                    }
                }
                let xq = dequantized_acts(mat.kind, &xv, m, k);
                let acts = quantize_rows(&xv, m, k);
                for r in 0..m {
                    for j in 0..n {
                        let mut exact: f64 = w[j].iter().zip(&xq[r]).map(|(&w, &x)| w as f64 * x).sum();
                        if mat.kind == BlockKind::Q4_1 {
                            // the offset term uses the f16-rounded d·Σq, as in GGML
                            let deq = |blk: &ActBlock| blk.qs.iter().map(|&q| q as f64).sum::<f64>() * blk.d as f64;
                            for (bi, blk) in acts[r * k / QK..(r + 1) * k / QK].iter().enumerate() {
                                let off = read_f16(&mat.row(j)[bi * 20..], 2) as f64;
                                exact += off * (blk.s as f64 - deq(blk));
                            }
                        }
                        let got = a[r][j] as f64;
                        assert!((got - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "{dtype:?} m={m} ({r},{j}): {got} vs exact {exact}");
                        let tol = if mat.kind == BlockKind::Q4_1 { 1e-2 } else { 1e-3 };
                        assert!((got - b[r][j] as f64).abs() <= tol * (1.0 + exact.abs()), "{dtype:?} m={m} ({r},{j}): {got} vs candle {}", b[r][j]);
                    }
                }
            }
        }
    }

    /// The SIMD levels this CPU has (and the switches allow), AVX2 first; empty without AVX2.
    pub(super) fn levels_here() -> Vec<Simd> {
        match (simd_level(), decoding_level()) {
            (Simd::Portable, _) => Vec::new(),
            (Simd::Avx512, Simd::Avx2Vnni) => vec![Simd::Avx2, Simd::Avx2Vnni, Simd::Avx512],
            (Simd::Avx512, _) => vec![Simd::Avx2, Simd::Avx512],
            _ => vec![Simd::Avx2],
        }
    }

    /// The SIMD kernels equal the portable ones on random blocks (up to the order of float sums) for
    /// passes of 4 rows and of 1, on every level this CPU has.
    #[test]
    fn simd_equals_portable() {
        if !simd_available() {
            return;
        }
        let k = 512;
        // every SIMD level this CPU has (AVX-512 covers only the K-quants; the others run AVX2 there)
        let levels = &levels_here();
        println!("SIMD levels tested: {levels:?}");
        for &level in levels {
        for dtype in ALL {
            let q = qtensor(dtype, 3, k, 11);
            let mat = BlockMatrix::from_qtensor(&q).unwrap().unwrap();
            let xv = values(4 * k, 5);
            let nb = k / mat.kind.block_values();
            for j in 0..3 {
                let w = mat.row(j);
                let (simd, port): (Vec<f32>, Vec<f32>) = match mat.kind.act() {
                    ActFormat::Q8 => {
                        let a = quantize_rows(&xv, 4, k);
                        let rows: [&[ActBlock]; 4] = std::array::from_fn(|i| &a[i * nb..(i + 1) * nb]);
                        let simd = match mat.kind {
                            BlockKind::Q4_0 => kernels::Q4_0::dot::<4>(level, w, rows),
                            BlockKind::Q4_1 => kernels::Q4_1::dot::<4>(level, w, rows),
                            BlockKind::Q5_0 => kernels::Q5_0::dot::<4>(level, w, rows),
                            _ => kernels::Q8_0::dot::<4>(level, w, rows),
                        };
                        (simd.to_vec(), rows.iter().map(|r| portable::dot(mat.kind, w, r)).collect())
                    }
                    ActFormat::Q8K => {
                        let a = quantize_rows_k(&xv, 4, k);
                        let rows: [&[ActBlockK]; 4] = std::array::from_fn(|i| &a[i * nb..(i + 1) * nb]);
                        let (s4, s1) = match mat.kind {
                            BlockKind::Q4_K => (kernels::Q4_K::dot::<4>(level, w, rows), kernels::Q4_K::dot::<1>(level, w, [rows[2]])),
                            BlockKind::Q5_K => (kernels::Q5_K::dot::<4>(level, w, rows), kernels::Q5_K::dot::<1>(level, w, [rows[2]])),
                            _ => (kernels::Q6_K::dot::<4>(level, w, rows), kernels::Q6_K::dot::<1>(level, w, [rows[2]])),
                        };
                        assert_eq!(s4[2], s1[0], "{dtype:?}: a row's sum does not depend on the rows beside it");
                        (s4.to_vec(), rows.iter().map(|r| portable::dot_k(mat.kind, w, r)).collect())
                    }
                };
                for (s, p) in simd.iter().zip(&port) {
                    assert!((s - p).abs() <= 1e-5 * (1.0 + p.abs()), "{dtype:?} {level:?} row {j}: simd {s} vs portable {p}");
                }
            }
        }
        }
    }

    /// The K-quant kernels give the same bits on every level the CPU has, for 4 rows and for 1: AVX2
    /// with and without VNNI (which only fuses each exact i32 multiply-add) and AVX-512 (whose i32
    /// lanes, folded, sum the products each AVX2 lane sums). So `VERTOLK_NO_VNNI=1` and
    /// `VERTOLK_NO_AVX512=1` change the K-quant products' speed and nothing else.
    #[test]
    fn k_quant_kernels_give_the_same_bits_on_every_level() {
        let levels = levels_here();
        if levels.len() < 2 {
            println!("one SIMD level on this CPU ({levels:?}): nothing to compare");
            return;
        }
        let k = 1024;
        for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
            let mat = BlockMatrix::from_qtensor(&qtensor(dtype, 5, k, 31)).unwrap().unwrap();
            let nb = k / mat.kind.block_values();
            let a = quantize_rows_k(&values(4 * k, 32), 4, k);
            let rows: [&[ActBlockK]; 4] = std::array::from_fn(|i| &a[i * nb..(i + 1) * nb]);
            for j in 0..5 {
                let w = mat.row(j);
                let run = |level: Simd| -> ([f32; 4], f32) {
                    match mat.kind {
                        BlockKind::Q4_K => (kernels::Q4_K::dot::<4>(level, w, rows), kernels::Q4_K::dot::<1>(level, w, [rows[1]])[0]),
                        BlockKind::Q5_K => (kernels::Q5_K::dot::<4>(level, w, rows), kernels::Q5_K::dot::<1>(level, w, [rows[1]])[0]),
                        _ => (kernels::Q6_K::dot::<4>(level, w, rows), kernels::Q6_K::dot::<1>(level, w, [rows[1]])[0]),
                    }
                };
                for &level in &levels[1..] {
                    assert_eq!(run(level), run(Simd::Avx2), "{dtype:?} row {j}: {level:?} against AVX2");
                }
            }
        }
    }

    /// A row's output depends only on that row, never on how many rows share the call (2 or more) or
    /// where it sits among them: every slice of 2..=11 rows of an 11-row product gives, bit for bit,
    /// those rows of the whole product, for every block type. Prompt-prefix reuse rests on this.
    #[test]
    fn rows_do_not_depend_on_their_neighbours() {
        let (n, k, m) = (40, 512, 11);
        for dtype in ALL {
            let mat = BlockMatrix::from_qtensor(&qtensor(dtype, n, k, 21)).unwrap().unwrap();
            let x = values(m * k, 22);
            let whole = mat.matmul(&x, m);
            for start in 0..m - 1 {
                for rows in 2..=m - start {
                    let part = mat.matmul(&x[start * k..(start + rows) * k], rows);
                    assert_eq!(part[..], whole[start * n..(start + rows) * n], "{dtype:?}: rows {start}..{} alone", start + rows);
                }
            }
        }
    }

    /// Exact on values the blocks and the activation quantization represent exactly (small integers
    /// with scale 1, and for Q4_1 an offset): checks nibble order, the fifth bit of Q5_0, the Q4_1
    /// offset term and the portable path, which must equal the SIMD path bit for bit here.
    #[test]
    fn exact_on_integer_blocks() {
        let k = 64;
        let block_row = |head: &[u8], tail: &dyn Fn(u8) -> Vec<u8>| -> Vec<u8> {
            (0..2u8).flat_map(|b| head.iter().copied().chain(tail(b))).collect()
        };
        let one = 0x3C00u16.to_le_bytes();
        let q4_0 = BlockMatrix::from_raw(BlockKind::Q4_0, 1, k, block_row(&one, &|b| (0..16u8).map(|i| ((i + b) & 0xF) | (((15 - i) & 0xF) << 4)).collect())).unwrap();
        let q4_1 = {
            let head: Vec<u8> = one.iter().copied().chain(f16::from_f32(-3.0).to_bits().to_le_bytes()).collect();
            BlockMatrix::from_raw(BlockKind::Q4_1, 1, k, block_row(&head, &|b| (0..16u8).map(|i| ((i + b) & 0xF) | (((15 - i) & 0xF) << 4)).collect())).unwrap()
        };
        let q5_0 = {
            let head: Vec<u8> = one.iter().copied().chain(0xA5F0_0F5Au32.to_le_bytes()).collect();
            BlockMatrix::from_raw(BlockKind::Q5_0, 1, k, block_row(&head, &|_| (0..16u8).map(|i| i | ((15 - i) << 4)).collect())).unwrap()
        };
        let q8_0 = BlockMatrix::from_raw(BlockKind::Q8_0, 1, k, block_row(&one, &|_| (0..32i32).map(|i| (i * 7 - 100) as i8 as u8).collect())).unwrap();
        // activations whose block max is 127 → d = 1, q = x
        let x: Vec<f32> = (0..k).map(|i| if i % 32 == 0 { 127.0 } else { ((i * 13) % 41) as f32 - 20.0 }).collect();
        for w in [q4_0, q4_1, q5_0, q8_0] {
            let mut deq = vec![0f32; k];
            w.dequantize_row(0, &mut deq);
            let want: f32 = deq.iter().zip(&x).map(|(a, b)| a * b).sum();
            let got = w.matmul(&x, 1)[0];
            assert_eq!(got, want, "{:?}", w.kind);
            let acts = quantize_rows(&x, 1, k);
            assert_eq!(portable::dot(w.kind, w.row(0), &acts), want, "{:?} portable", w.kind);
        }
    }

    /// The K-quants on super-blocks built by hand with d = 1, dmin = 1 (Q6_K: d = 1) and activations
    /// whose Q8_K scale is −1 (max −127): every product is a small integer, so the SIMD kernel, the
    /// portable one and the dequantized product must agree bit for bit. Checks the 6-bit scale/min
    /// packing, the nibble and fifth-bit order of Q4_K/Q5_K and the 2-bit/nibble layout of Q6_K.
    #[test]
    fn k_quants_exact_on_integer_blocks() {
        let k = 512;
        let bytes = |n: usize, seed: u32| -> Vec<u8> { (0..n as u32).map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8).collect() };
        let one = 0x3C00u16.to_le_bytes();
        let q45 = |five: bool| -> Vec<u8> {
            (0..2u32)
                .flat_map(|b| {
                    let mut blk = Vec::new();
                    blk.extend_from_slice(&one);
                    blk.extend_from_slice(&one);
                    blk.extend(bytes(12, b));
                    if five {
                        blk.extend(bytes(32, 100 + b));
                    }
                    blk.extend(bytes(128, 200 + b));
                    blk
                })
                .collect()
        };
        let q6 = (0..2u32)
            .flat_map(|b| {
                let mut blk = bytes(192, 300 + b);
                // small signed scales keep every product exact in f32
                blk.extend((0..16).map(|i| ((i as i8 % 7) - 3) as u8));
                blk.extend_from_slice(&one);
                blk
            })
            .collect();
        let mats = [BlockMatrix::from_raw(BlockKind::Q4_K, 1, k, q45(false)).unwrap(), BlockMatrix::from_raw(BlockKind::Q5_K, 1, k, q45(true)).unwrap(), BlockMatrix::from_raw(BlockKind::Q6_K, 1, k, q6).unwrap()];
        // a block max of −127 gives iscale = −127/−127 = 1: q = x, d = 1; small values keep every partial
        // sum below 2²⁴ (exact in f32)
        let x: Vec<f32> = (0..k).map(|i| if i % 256 == 0 { -127.0 } else { ((i * 13) % 15) as f32 - 7.0 }).collect();
        for w in mats {
            let mut deq = vec![0f32; k];
            w.dequantize_row(0, &mut deq);
            let acts = quantize_rows_k(&x, 1, k);
            assert!(acts.iter().all(|a| a.d == 1.0), "activation scale 1");
            let want: f32 = deq.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert_eq!(w.matmul(&x, 1)[0], want, "{:?}", w.kind);
            assert_eq!(portable::dot_k(w.kind, w.row(0), &acts), want, "{:?} portable", w.kind);
        }
    }

    /// Q8_K activations as ggml quantizes them: scale from the signed value of largest magnitude,
    /// ties to even, sums of each 16.
    #[test]
    fn q8k_activations_follow_ggml() {
        let mut x = vec![0f32; 256];
        x[0] = 2.0; // largest magnitude, positive: iscale = −63.5
        x[1] = 1.0 / 127.0; // −0.5 → ties to even: 0 (roundf would give −1)
        x[2] = 3.0 / 127.0; // −1.5 → −2
        x[3] = -2.0; // → 127
        let a = quantize_rows_k(&x, 1, 256);
        assert_eq!(a[0].d, 1.0 / (-127.0 / 2.0));
        assert_eq!(&a[0].qs[..4], &[-127, 0, -2, 127]);
        assert_eq!(a[0].bsums[0], -2);
        let b = &quantize_rows_k(&values(256, 9), 1, 256)[0];
        for s in 0..8 {
            let sum: i32 = b.qs[32 * s..32 * (s + 1)].iter().map(|&q| q as i32).sum();
            assert_eq!(b.sums32[s] as i32, sum, "sum of sub-block {s}");
        }
        assert!(quantize_rows_k(&[0f32; 256], 1, 256)[0].qs.iter().all(|&q| q == 0));
    }

    #[test]
    fn dequantized_rows_match_candle() {
        for dtype in ALL {
            let q = qtensor(dtype, 5, 512, 3);
            let full = q.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            let m = BlockMatrix::from_qtensor(&q).unwrap().unwrap();
            let unpacked = BlockMatrix::from_qtensor(&q).unwrap().unwrap().unpacked();
            let mut row = vec![0f32; 512];
            for (j, want) in full.iter().enumerate() {
                m.dequantize_row(j, &mut row);
                assert_eq!(&row, want, "{dtype:?} row {j}");
                // Q5_0 re-laid as Q8_0 holds exactly the same values
                unpacked.dequantize_row(j, &mut row);
                assert_eq!(&row, want, "{dtype:?} row {j}, unpacked");
            }
        }
    }

    #[test]
    fn fused_layers_equal_separate_ones() {
        // (parts of 16 and 8 rows are interleaved on CPUs with AVX-512, beside a row-major one of 17;
        // the same again with interleaving forced, below)
        let cases: [&[(GgmlDType, usize)]; 3] = [
            &[(GgmlDType::Q5_0, 8), (GgmlDType::Q5_0, 3), (GgmlDType::Q8_0, 5)],
            &[(GgmlDType::Q4K, 20), (GgmlDType::Q4K, 3), (GgmlDType::Q6K, 17)],
            &[(GgmlDType::Q4K, 16), (GgmlDType::Q4K, 8), (GgmlDType::Q6K, 17)],
        ];
        for case in cases {
            let parts: Vec<GgufLinear> = case.iter().enumerate().map(|(s, &(t, n))| GgufLinear::new(qtensor(t, n, 256, s as u64), &Device::Cpu).unwrap()).collect();
            let fused = GgufLinear::fused(&parts.iter().collect::<Vec<_>>()).unwrap();
            for m in [1, 3, 6] {
                let x = Tensor::from_vec(values(m * 256, 9), (m, 256), &Device::Cpu).unwrap();
                let whole = fused.forward(&x).unwrap();
                let sep: Vec<Tensor> = parts.iter().map(|p| p.forward(&x).unwrap()).collect();
                assert_eq!(whole.to_vec2::<f32>().unwrap(), Tensor::cat(&sep, 1).unwrap().to_vec2::<f32>().unwrap(), "{case:?} m={m}");
            }
        }
        // interleaved parts (whatever the CPU) beside row-major ones, at column offsets 0, 16 and 24
        for case in [[GgmlDType::Q4K, GgmlDType::Q4K, GgmlDType::Q6K], [GgmlDType::Q8_0, GgmlDType::Q4_1, GgmlDType::Q4_0]] {
            let x8: Vec<Arc<BlockMatrix>> = case.iter().zip([16, 8, 17]).enumerate().map(|(s, (&t, n))| Arc::new(BlockMatrix::from_qtensor(&qtensor(t, n, 256, s as u64)).unwrap().unwrap().interleaved_always())).collect();
            assert!(matches!(x8[0].data, BlockBytes::Interleaved(_)) && !matches!(x8[2].data, BlockBytes::Interleaved(_)));
            let layer = BlockLayer { parts: x8.clone() };
            for m in [1, 3, 6] {
                let x = values(m * 256, 9);
                let whole = layer.matmul(&x, m);
                for (i, row) in whole.chunks_exact(41).enumerate() {
                    let mut col0 = 0;
                    for p in &x8 {
                        let alone = p.matmul(&x[i * 256..(i + 1) * 256], 1);
                        assert_eq!(row[col0..col0 + p.n], alone[..], "{case:?} m={m} row {i}");
                        col0 += p.n;
                    }
                }
            }
        }
        // Q5_0 layers hold Q8_0 blocks, so they fuse with Q8_0 ones; Q4_1 with them too (same
        // activations); 32-value blocks never with K-quants
        let lin = |t, s| GgufLinear::new(qtensor(t, 4, 256, s), &Device::Cpu).unwrap();
        assert!(GgufLinear::fused(&[&lin(GgmlDType::Q5_0, 1), &lin(GgmlDType::Q8_0, 2)]).is_some());
        assert!(GgufLinear::fused(&[&lin(GgmlDType::Q5_0, 1), &lin(GgmlDType::Q4_1, 2)]).is_some());
        assert!(GgufLinear::fused(&[&lin(GgmlDType::Q8_0, 1), &lin(GgmlDType::Q4K, 2)]).is_none());
    }

    /// Q4_K, Q6_K, Q8_0 (Q5_0 too, held as Q8_0), Q4_0 and Q4_1 rows interleaved by 8 ([`interleaved`]): the
    /// same dequantized rows, bit for bit; products equal
    /// to the exact product of the dequantized operands (up to f32 sums) and close to the row-major
    /// kernels'; the AVX-512 kernel (every level but the portable one runs it) equal to the portable
    /// one bit for bit for passes of 1–8 rows, and every row's result equal to the row computed alone.
    /// Ragged row counts stay row-major.
    #[test]
    fn interleaved_rows_give_the_exact_product_with_the_same_bits_everywhere() {
        // Q5_0 as linear layers hold it: Q8_0 blocks of the same values, then interleaved; rows of 17
        // blocks leave a partial cache line at the end of each group
        let kinds = [GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::Q8_0, GgmlDType::Q5_0, GgmlDType::Q4_0, GgmlDType::Q4_1];
        for ((n, k), dtype) in [(40, 768), (16, 544)].into_iter().flat_map(|s| kinds.map(|t| (s, t))) {
            if k % 256 != 0 && matches!(dtype, GgmlDType::Q4K | GgmlDType::Q6K) {
                continue;
            }
            let q = qtensor(dtype, n, k, 31);
            let w = q.dequantize(&Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
            let rows = BlockMatrix::from_qtensor(&q).unwrap().unwrap().unpacked();
            let x8 = BlockMatrix::from_qtensor(&q).unwrap().unwrap().unpacked().interleaved_always();
            assert!(matches!(x8.data, BlockBytes::Interleaved(_)), "{x8:?}");
            let ragged = BlockMatrix::from_qtensor(&qtensor(dtype, 12, k, 3)).unwrap().unwrap().unpacked().interleaved_always();
            assert!(!matches!(ragged.data, BlockBytes::Interleaved(_)), "12 rows stay row-major");
            let (mut a, mut b) = (vec![0f32; k], vec![0f32; k]);
            for j in 0..n {
                rows.dequantize_row(j, &mut a);
                x8.dequantize_row(j, &mut b);
                assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{dtype:?} row {j}");
            }
            #[cfg(target_arch = "x86_64")]
            if let (BlockBytes::Interleaved(il), Some(kind), true) = (&x8.data, [GgmlDType::Q8_0, GgmlDType::Q4_0, GgmlDType::Q4_1].iter().position(|&t| t == dtype), levels_here().contains(&Simd::Avx512)) {
                // the 32-value kinds' kernels with and without VNNI, whichever of them `matmul` picks here
                let acts = quantize_rows(&values(8 * k, 5), 8, k);
                let a: [&[ActBlock]; 8] = std::array::from_fn(|r| &acts[r * k / QK..(r + 1) * k / QK]);
                let want: Vec<_> = a.iter().map(|a| interleaved::dot_small_portable(x8.kind, il.group(1), a)).collect();
                use interleaved::avx512::{dot_small, dot_small_vnni};
                // SAFETY: the CPU has AVX-512 F and BW (levels_here), and those CPUs have AVX2, FMA, F16C
                let plain = unsafe { [dot_small::<8, 0>, dot_small::<8, 1>, dot_small::<8, 2>][kind](il.group(1), a) };
                assert_eq!(plain.to_vec(), want, "{dtype:?} without VNNI");
                if std::arch::is_x86_feature_detected!("avx512vnni") {
                    // SAFETY: as above, and VNNI checked
                    let vnni = unsafe { [dot_small_vnni::<8, 0>, dot_small_vnni::<8, 1>, dot_small_vnni::<8, 2>][kind](il.group(1), a) };
                    assert_eq!(vnni.to_vec(), want, "{dtype:?} with VNNI");
                }
            }
            #[cfg(target_arch = "x86_64")]
            if let (BlockBytes::Interleaved(il), true, true) = (&x8.data, matches!(dtype, GgmlDType::Q4K | GgmlDType::Q6K), levels_here().contains(&Simd::Avx512)) {
                // the K-quant kernels with and without VNNI, 8 rows and 1, against the portable reference
                let acts = quantize_rows_k(&values(8 * k, 7), 8, k);
                let a: [&[ActBlockK]; 8] = std::array::from_fn(|r| &acts[r * k / QK_K..(r + 1) * k / QK_K]);
                let want: Vec<_> = a.iter().map(|a| interleaved::dot_portable(x8.kind, il.group(2), a)).collect();
                use interleaved::avx512::{dot_q4k, dot_q4k_vnni, dot_q6k, dot_q6k_vnni};
                let q6 = dtype == GgmlDType::Q6K;
                // SAFETY: the CPU has AVX-512 F and BW (levels_here), and those CPUs have AVX2, FMA, F16C
                let plain = unsafe { if q6 { dot_q6k::<8>(il.group(2), a) } else { dot_q4k::<8>(il.group(2), a) } };
                assert_eq!(plain.to_vec(), want, "{dtype:?} without VNNI");
                if std::arch::is_x86_feature_detected!("avx512vnni") {
                    // SAFETY: as above, and VNNI checked
                    let vnni = unsafe { if q6 { dot_q6k_vnni::<8>(il.group(2), a) } else { dot_q4k_vnni::<8>(il.group(2), a) } };
                    assert_eq!(vnni.to_vec(), want, "{dtype:?} with VNNI");
                    let one = unsafe { if q6 { dot_q6k_vnni::<1>(il.group(4), [a[3]]) } else { dot_q4k_vnni::<1>(il.group(4), [a[3]]) } };
                    assert_eq!(one[0], interleaved::dot_portable(x8.kind, il.group(4), a[3]), "{dtype:?} with VNNI, one row");
                } else {
                    eprintln!("no AVX-512 VNNI on this CPU: the VNNI K-quant kernels were not run");
                }
            }
            for m in [1usize, 2, 4, 5, 6, 7, 8, 9, 67] {
                let x = values(m * k, 40 + m as u64);
                let want = matmul_parts_on(&[&x8], &x, m, Simd::Portable);
                for level in levels_here() {
                    assert_eq!(matmul_parts_on(&[&x8], &x, m, level), want, "{dtype:?} m={m} on {level:?}");
                    for r in 0..m {
                        assert_eq!(matmul_parts_on(&[&x8], &x[r * k..(r + 1) * k], 1, level), want[r * n..(r + 1) * n], "{dtype:?} m={m}: row {r} alone on {level:?}");
                    }
                }
                let row_major = rows.matmul(&x, m);
                let xq = dequantized_acts(x8.kind, &x, m, k);
                let acts = quantize_rows(&x, m, k);
                for r in 0..m {
                    for j in 0..n {
                        let mut exact: f64 = w[j].iter().zip(&xq[r]).map(|(&w, &x)| w as f64 * x).sum();
                        if x8.kind == BlockKind::Q4_1 {
                            // the offset term uses the f16-rounded d·Σq, as in GGML
                            for (bi, blk) in acts[r * k / QK..(r + 1) * k / QK].iter().enumerate() {
                                let deq = blk.qs.iter().map(|&q| q as f64).sum::<f64>() * blk.d as f64;
                                exact += read_f16(&rows.row(j)[bi * 20..], 2) as f64 * (blk.s as f64 - deq);
                            }
                        }
                        let got = want[r * n + j] as f64;
                        assert!((got - exact).abs() <= 1e-5 * (1.0 + exact.abs()), "{dtype:?} m={m} ({r},{j}): {got} vs exact {exact}");
                        assert!((got - row_major[r * n + j] as f64).abs() <= 1e-5 * (1.0 + exact.abs()), "{dtype:?} m={m} ({r},{j}): {got} vs row-major {}", row_major[r * n + j]);
                    }
                }
            }
        }
    }

    /// The AMX tile kernels ([`interleaved::amx`], Q4_K and Q6_K) give the portable interleaved kernels' bits, called
    /// directly (one and two tiles per unit, partial tiles, several token blocks, a second pair of
    /// groups) and through `matmul` (a lone group left to AVX-512). Where the CPU has no AMX it
    /// says so, and fails if `VERTOLK_EXPECT_AMX=1` (`.ci/run` sets it where `/proc/cpuinfo` lists
    /// `amx_int8`), so a CI machine with AMX cannot pass without running it.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn amx_tiles_give_the_interleaved_kernels_bits() {
        if !interleaved::amx::available() {
            assert!(!switched_off("VERTOLK_EXPECT_AMX") || switched_off("VERTOLK_NO_AMX"), "VERTOLK_EXPECT_AMX=1 but AMX is not available");
            eprintln!("amx_tiles_give_the_interleaved_kernels_bits: no AMX on this CPU (or VERTOLK_NO_AMX=1); the tile kernel was not run");
            return;
        }
        // K = 8960 (35 super-blocks) takes activation rows in blocks of 128: 176 rows are a block of
        // 8 tiles and one of 3 (a two-tile unit and a single tile); 67 and 5 rows end in a partial tile
        for ((n, k, m), dtype) in [(32usize, 8960usize, 176usize), (48, 1536, 48), (40, 512, 67), (16, 512, 5)].into_iter().flat_map(|s| [(s, GgmlDType::Q4K), (s, GgmlDType::Q6K)]) {
            let q = qtensor(dtype, n, k, 9);
            let x8 = BlockMatrix::from_qtensor(&q).unwrap().unwrap().interleaved_always();
            let BlockBytes::Interleaved(il) = &x8.data else { panic!("{x8:?} is not interleaved") };
            let x = values(m * k, 13);
            let want = matmul_parts_on(&[&x8], &x, m, Simd::Portable);
            assert_eq!(matmul_parts_on(&[&x8], &x, m, Simd::Avx512), want, "{dtype:?} {n}x{k}, {m} rows through matmul");
            let (nb, rows, groups) = (k / QK_K, m, n / 16 * 2);
            let acts = quantize_rows_k(&x, m, k);
            let mut got = vec![f32::NAN; m * n];
            // SAFETY: AMX is available; `got` has m × n values and this thread alone writes them
            unsafe { interleaved::amx::tiles(il, &acts, nb, 0..rows, 0..groups, got.as_mut_ptr(), 0, n) };
            for r in 0..rows {
                assert_eq!(got[r * n..r * n + 8 * groups], want[r * n..r * n + 8 * groups], "{dtype:?} {n}x{k}: row {r} on the tiles");
            }
        }
    }

    /// The AVX-512 Q8_K quantizer equals the scalar reference bit for bit: random blocks, ties between
    /// +max and −max (the first wins), halves that round to even, all-zero blocks, and blocks with a
    /// NaN or an infinity (left to the scalar code).
    #[test]
    fn q8k_quantizer_is_the_reference_bit_for_bit() {
        let mut x = values(64 * QK_K, 77);
        x[QK_K + 5] = 9.0;
        x[QK_K + 200] = -9.0;
        x[2 * QK_K + 7] = -9.0;
        x[2 * QK_K + 9] = 9.0;
        for (i, v) in x[3 * QK_K..4 * QK_K].iter_mut().enumerate() {
            *v = (i as f32 - 128.0) * 0.5;
        }
        x[4 * QK_K..5 * QK_K].fill(0.0);
        x[5 * QK_K + 3] = f32::NAN;
        x[6 * QK_K + 3] = f32::INFINITY;
        let bits = |b: &ActBlockK| (b.qs.to_vec(), b.bsums.to_vec(), b.sums32.to_vec(), b.d.to_bits());
        let got = quantize_rows_k(&x, 64, QK_K);
        for (i, (vals, blk)) in x.chunks_exact(QK_K).zip(&got).enumerate() {
            let mut want = ActBlockK { qs: [0; QK_K], bsums: [0; QK_K / 16], sums32: [0; QK_K / 32], d: 0.0 };
            quantize_block_k(vals, &mut want);
            assert_eq!(bits(blk), bits(&want), "block {i}");
        }
        #[cfg(target_arch = "x86_64")]
        if levels_here().contains(&Simd::Avx512) {
            for (i, vals) in x.chunks_exact(QK_K).enumerate() {
                let mut b = ActBlockK { qs: [0; QK_K], bsums: [0; QK_K / 16], sums32: [0; QK_K / 32], d: 0.0 };
                // SAFETY: AVX-512 F and BW are here (levels_here)
                let done = unsafe { avx512::quantize_block_k(vals, &mut b) };
                assert_eq!(done, i != 5 && i != 6, "block {i}: non-finite blocks are left to the scalar code");
            }
        }
    }

    #[test]
    fn bad_blocks_are_errors() {
        assert!(BlockMatrix::from_raw(BlockKind::Q8_0, 2, 32, vec![0; 34]).is_err(), "too few bytes");
        assert!(BlockMatrix::from_raw(BlockKind::Q8_0, 1, 48, vec![0; 51]).is_err(), "ragged block");
        assert!(BlockMatrix::from_raw(BlockKind::Q4_K, 1, 128, vec![0; 72]).is_err(), "half a super-block");
        let mut nan = vec![0u8; 34];
        nan[..2].copy_from_slice(&f16::NAN.to_bits().to_le_bytes());
        assert!(BlockMatrix::from_raw(BlockKind::Q8_0, 1, 32, nan).is_err(), "NaN scale");
        let mut inf = vec![0u8; 210];
        inf[208..].copy_from_slice(&f16::INFINITY.to_bits().to_le_bytes());
        assert!(BlockMatrix::from_raw(BlockKind::Q6_K, 1, 256, inf).is_err(), "infinite Q6_K scale");
        let mut nan_min = vec![0u8; 144];
        nan_min[2..4].copy_from_slice(&f16::NAN.to_bits().to_le_bytes());
        assert!(BlockMatrix::from_raw(BlockKind::Q4_K, 1, 256, nan_min).is_err(), "NaN Q4_K dmin");
        let lin = GgufLinear::new(qtensor(GgmlDType::Q8_0, 4, 64, 1), &Device::Cpu).unwrap();
        assert!(lin.forward(&Tensor::zeros((2, 32), candle_core::DType::F32, &Device::Cpu).unwrap()).is_err(), "wrong width");
    }

    /// Blocks read in place from a mapped file equal the same blocks read into memory; a range past
    /// the end of the file is an error.
    #[test]
    fn mapped_blocks_equal_owned_ones() {
        let q = qtensor(GgmlDType::Q4K, 6, 512, 4);
        let raw = q.data().unwrap().into_owned();
        let mut f = tempfile::tempfile().unwrap();
        use std::io::Write;
        f.write_all(&[7u8; 100]).unwrap();
        f.write_all(&raw).unwrap();
        // SAFETY: a private temporary file nobody else writes
        let map = Arc::new(unsafe { memmap2::Mmap::map(&f) }.unwrap());
        let mapped = BlockMatrix::from_mapped(BlockKind::Q4_K, 6, 512, map.clone(), 100).unwrap();
        assert!(mapped.is_mapped());
        let owned = BlockMatrix::from_raw(BlockKind::Q4_K, 6, 512, raw).unwrap();
        let x = values(2 * 512, 1);
        assert_eq!(mapped.matmul(&x, 2), owned.matmul(&x, 2));
        mapped.release_mapped_pages();
        assert_eq!(mapped.matmul(&x, 2), owned.matmul(&x, 2), "pages come back after release");
        assert!(BlockMatrix::from_mapped(BlockKind::Q4_K, 7, 512, map, 100).is_err(), "past the end");
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use crate::kernels::test_values as values;

    fn thread_cpu_seconds() -> f64 {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid timespec to fill
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    }

    /// Multiply-adds per ns of CPU time of one thread for each kind, at a decoding step (1 row) and a
    /// prompt chunk (512 rows). CPU time rather than wall time, so that other processes on a shared
    /// machine do not count (their use of caches and memory still does). A measurement, not a check:
    /// `cargo test --release --lib ggml_blocks::speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn kernel_rates() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        // the 1.5B's feed-forward shapes: gate/up (8960 rows of 1536) and down (1536 rows of 8960, whose
        // rows are too long for more than 2–3 in an L1 tile)
        let shapes = [(8960, 1536, GgmlDType::Q8_0), (8960, 1536, GgmlDType::Q4K), (8960, 1536, GgmlDType::Q6K), (1536, 8960, GgmlDType::Q4K), (1536, 8960, GgmlDType::Q6K)];
        for (n, k, dtype) in shapes {
            let w = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
            let m = BlockMatrix::from_qtensor(&QTensor::quantize(&w, dtype).unwrap()).unwrap().unwrap();
            for rows in [1usize, 64, 512] {
                let x = values(rows * k, 2);
                let reps = if rows == 1 { 30 } else { 3 };
                let mut best = f64::MAX;
                pool.install(|| {
                    for _ in 0..reps {
                        let t = thread_cpu_seconds();
                        std::hint::black_box(m.matmul(&x, rows));
                        best = best.min(thread_cpu_seconds() - t);
                    }
                });
                println!("{dtype:?} {n}x{k}, {rows} rows: {:.1} MAC/ns, weights {:.1} GB/s", (n * k * rows) as f64 / best / 1e9, m.bytes().len() as f64 / best / 1e9);
            }
        }
    }

    /// Two kernel levels side by side on the 1.5B's K-quant shapes (and a Q8_0 and a Q4_1 one): calls alternate between them and
    /// each keeps its fastest CPU time, so that a neighbour's load on this shared machine, which comes
    /// and goes, counts against both alike. A measurement, not a check:
    /// `VERTOLK_RATES=avx2,avx2vnni cargo test --release --lib paired_kernel_rates -- --ignored --nocapture`.
    /// `x8` names the interleaved kernels ([`interleaved`], AVX-512), `amx` those with AMX's tiles.
    #[test]
    #[ignore = "a measurement"]
    fn paired_kernel_rates() {
        let here = super::tests::levels_here();
        let level = |name: &str| {
            let l = match name {
                "avx2" => Simd::Avx2,
                "avx2vnni" => Simd::Avx2Vnni,
                "avx512" | "x8" | "x8novnni" | "amx" => Simd::Avx512,
                _ => panic!("VERTOLK_RATES names avx2, avx2vnni, avx512, x8, x8novnni or amx, not {name:?}"),
            };
            assert!(here.contains(&l), "{l:?} is not on this CPU (it has {here:?})");
            #[cfg(target_arch = "x86_64")]
            assert!(name != "amx" || interleaved::amx::available(), "no AMX here");
            (l, name == "x8" || name == "x8novnni" || name == "amx")
        };
        let spec = std::env::var("VERTOLK_RATES").unwrap_or_else(|_| "avx2,avx2vnni".into());
        let (na, nb) = spec.split_once(',').expect("VERTOLK_RATES=LEVEL,LEVEL");
        let (a, b) = (level(na), level(nb));
        let rows: usize = std::env::var("VERTOLK_RATES_ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        // and the 0.5B's gate/up (its Q5_0 held as Q8_0), SmolLM2's (Q4_1)
        for (n, k, dtype) in [(8960, 1536, GgmlDType::Q4K), (8960, 1536, GgmlDType::Q6K), (1536, 8960, GgmlDType::Q4K), (1536, 8960, GgmlDType::Q6K), (4864, 896, GgmlDType::Q8_0), (1536, 576, GgmlDType::Q4_1)] {
            let w = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&w, dtype).unwrap();
            let mat = |x8: bool| {
                let m = BlockMatrix::from_qtensor(&q).unwrap().unwrap();
                if x8 { m.interleaved_always() } else { m }
            };
            let ms = [mat(a.1), mat(b.1)];
            let x = values(rows * k, 2);
            let mut best = [f64::MAX; 2];
            pool.install(|| {
                for i in 0..(if rows == 1 { 200 } else { 12 }) {
                    // each goes first in every other round
                    for j in 0..2 {
                        let slot = (j + i) % 2;
                        let t = thread_cpu_seconds();
                        #[cfg(target_arch = "x86_64")]
                        interleaved::amx::suspend((if slot == 0 { na } else { nb }) != "amx");
                        #[cfg(target_arch = "x86_64")]
                        VNNI_SUSPENDED.store((if slot == 0 { na } else { nb }) == "x8novnni", std::sync::atomic::Ordering::Relaxed);
                        std::hint::black_box(matmul_parts_on(&[&ms[slot]], &x, rows, if slot == 0 { a.0 } else { b.0 }));
                        best[slot] = best[slot].min(thread_cpu_seconds() - t);
                    }
                }
            });
            #[cfg(target_arch = "x86_64")]
            interleaved::amx::suspend(false);
            #[cfg(target_arch = "x86_64")]
            VNNI_SUSPENDED.store(false, std::sync::atomic::Ordering::Relaxed);
            let rate = |t: f64| (n * k * rows) as f64 / t / 1e9;
            println!("{dtype:?} {n}x{k}, {rows} rows: {} {:.1} MAC/ns, {} {:.1} MAC/ns: {:.2}x", na, rate(best[0]), nb, rate(best[1]), best[0] / best[1]);
        }
    }
}
