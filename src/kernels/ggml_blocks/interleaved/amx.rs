//! Products of interleaved Q4_K and Q6_K matrices with many activation rows (prompts) on AMX-INT8
//! tiles (Intel Sapphire Rapids and later).
//!
//! Why: on the 1.5B's prompts the 8-column AVX-512 kernels of [`super::avx512`] were 61 % of the time
//! (`perf`, an 873-token prompt: `dot_q4k` 50 %, `dot_q6k` 11 %), at ~13 instructions per 256
//! multiply-adds. One `tdpbsud` does 16 × 16 × 64 of them in ~22 cycles (8.4 ns measured here, about
//! 2 T multiply-adds/s on one core), so what is left to the vector units is unpacking the weights
//! once per block of activation rows and scaling the integer sums.
//!
//! Work, per tile of 16 weight rows (two interleaved groups):
//! - the weights are unpacked into B operands (64 rows of 16 weight rows × 4 consecutive values per
//!   super-block) with their scales folded in as small digits, so that no per-sub-block multiply is
//!   left: Q4_K's `sc = 8a + b` gives `q·a` and `q·b` ([`Prepared`]), Q6_K's signed scales
//!   `sc = 64a + 8b + c` give `(q − 32)·a`, `·b`, `·c` ([`Prepared6`]), all bytes;
//! - the activation rows (Q8_K) are copied into tiles of 16 rows, 4 KB per super-block ([`Packed`]);
//! - per super-block, 2 (Q4_K) or 3 (Q6_K) accumulator tiles per activation tile give exact integer
//!   sums over its 256 values (4 `tdpbsud`/`tdpbssd` each), then per activation row, in one
//!   512-bit register of the 16 weight rows, the digits are joined (`8A + B`, `64A + 8B + C`), Q4_K's
//!   mins term `Σ m·Σ y` is added up (`vpdpwssd`), and the float multiply-adds of
//!   [`super::dot_portable`] follow, in its order.
//!
//! So the integer sums are the exact ones every other kernel computes and the float operations are
//! the same, and the outputs are the interleaved kernels' bit for bit (tested against the portable
//! kernel): which rows run here and which on AVX-512 changes no output. Measured
//! (`VERTOLK_RATES=x8,amx paired_kernel_rates`, one thread, the 1.5B's feed-forward shapes, 512 rows):
//! Q4_K 2.1–3.0× the AVX-512 kernel, Q6_K 1.9–2.9×; the first version (one tile per 32-value
//! sub-block and a `vpmulld` per sub-block and row to scale it) reached 1.4–2.0×.
use super::super::{ActBlockK, QK_K};
use super::{q4k, q4k_min_at, q4k_scale_at, q6k, q6k_scale_at, BlockKind, Interleaved, GROUP};
use std::arch::asm;
use std::arch::x86_64::*;

/// Activation rows per tile (AMX's 16 tile rows), and weight rows per tile (two groups of 8).
pub(in super::super) const TILE: usize = 16;

/// The fewest activation rows whose products of `kind` run on the tiles; fewer stay on the AVX-512
/// kernels, where unpacking the weights for so few rows costs more than it saves
/// (`paired_kernel_rates`, one thread, the 1.5B's feed-forward shapes: Q4_K on tiles 0.45–0.61× at 2–4
/// rows, 0.80–0.90× at 8, 1.45–1.49× at 16; Q6_K 0.65–0.84× at 8, 0.93–1.07× at 16, 1.31× at 32).
pub(in super::super) fn min_rows(kind: BlockKind) -> usize {
    if kind == BlockKind::Q6_K { 24 } else { 12 }
}

/// Bytes of quantized activations a block of activation rows may take, so that it stays in L2 while
/// the weight tiles pass (Sapphire Rapids has 2 MB of L2 per core).
const ACT_BLOCK_BYTES: usize = 1 << 20;

/// Whether the CPU has AMX-INT8 (with AVX-512 F, BW, VBMI and VNNI for the unpacking and scaling) and the OS lets this
/// process use the tile registers (detected once; Linux asks for the tile state with `arch_prctl`).
/// `VERTOLK_NO_AMX=1` turns it off, so that both can be measured on one machine.
pub(in super::super) fn available() -> bool {
    static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AMX.get_or_init(|| {
        use std::arch::is_x86_feature_detected as has;
        if super::super::switched_off("VERTOLK_NO_AMX") || !(has!("avx512f") && has!("avx512bw") && has!("avx512vnni") && has!("avx512vbmi") && has!("fma")) {
            return false;
        }
        // CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8
        // SAFETY: leaf 7 exists on every CPU with AVX-512
        let leaf = __cpuid_count(7, 0);
        if leaf.edx >> 24 & 1 == 0 || leaf.edx >> 25 & 1 == 0 {
            return false;
        }
        os_allows_tiles()
    })
}

#[cfg(target_os = "linux")]
fn os_allows_tiles() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a request for a permission; it changes nothing but this process's XSAVE state size
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) };
    if r != 0 {
        tracing::debug!("AMX: the kernel refused the tile state (arch_prctl {r}); prompts use AVX-512");
    }
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn os_allows_tiles() -> bool {
    false
}

/// One super-block of a tile of 16 weight rows, laid out for the tiles and the 16-lane scaling.
///
/// Each 6-bit scale is split as `sc = 8a + b` (`a`, `b` in 0..8) and folded into the nibbles:
/// `q·a` and `q·b` (at most 105) are bytes, so two B operands cover the whole super-block and
/// `Σ sc·Σ q·y = 8·Σ (q·a)·y + Σ (q·b)·y` comes out of two accumulator tiles with no per-sub-block
/// multiply left (the first version, with a `vpmulld` per sub-block and activation row, ran at
/// 1.4–1.7× the AVX-512 kernel, this one at 1.7–2.0× before the other changes below).
#[repr(C, align(64))]
struct Prepared {
    /// `q·a` of the 16 rows as the B operand: 64 rows of 64 bytes, row `r` holding values `4r..4r+4`
    /// of each weight row (so values `64j..64j+64` are the 1024 bytes at `1024j`).
    qa: [u8; 4096],
    /// `q·b`, the same way.
    qb: [u8; 4096],
    /// Sub-blocks `2q, 2q+1`'s mins of the 16 rows, as i16 pairs in i32 lanes (for `vpdpwssd`).
    mn: [[i16; 32]; 4],
    d: [f32; 16],
    dmin: [f32; 16],
}

/// The AMX tile configuration: C tiles tmm0–3 (16 × 16 i32), A tiles tmm4–5 (16 activation rows ×
/// 64 bytes), B tiles tmm6–7 (16 rows × 64 bytes).
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1; // palette 1
        for t in 0..8 {
            c[16 + 2 * t..18 + 2 * t].copy_from_slice(&64u16.to_le_bytes());
            c[48 + t] = 16;
        }
        Self(c)
    }
}

/// Outputs `[rows) × [8·groups.start, 8·groups.end)` of `acts · xᵀ` (`acts`: `nb` Q8_K blocks per
/// activation row), into `dst` at column offset `col0` of rows of `ld` values; `groups.len()` must be
/// even. Any number of rows: a last partial tile runs padded with zero rows.
///
/// # Safety
/// [`available`] must be true; `x` must be Q4_K or Q6_K; `dst` must have room for the rows' outputs
/// and no other thread may write these columns.
pub(in super::super) unsafe fn tiles(x: &Interleaved, acts: &[ActBlockK], nb: usize, rows: std::ops::Range<usize>, groups: std::ops::Range<usize>, dst: *mut f32, col0: usize, ld: usize) {
    match x.kind() {
        BlockKind::Q4_K => run::<Q4k>(x, acts, nb, rows, groups, dst, col0, ld),
        BlockKind::Q6_K => run::<Q6k>(x, acts, nb, rows, groups, dst, col0, ld),
        kind => unreachable!("no tile kernel for {kind:?}"),
    }
}

static SUSPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps `matmul` off the tiles while `true` (for measuring both kernels in one process).
#[cfg(test)]
pub(in super::super) fn suspend(on: bool) {
    SUSPENDED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `matmul` may use the tiles now: [`available`] and not suspended.
pub(in super::super) fn in_use() -> bool {
    available() && !SUSPENDED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether [`tiles`] takes matrices of `kind`.
pub(in super::super) fn has_kernel(kind: BlockKind) -> bool {
    matches!(kind, BlockKind::Q4_K | BlockKind::Q6_K)
}

/// A block kind's tile kernel: its prepared weight tiles and the pass of one over a packed block.
trait Kernel {
    type Prepared;
    /// Unpacks super-blocks `0..nb` of two groups' rows (16 weight rows) into `out`.
    unsafe fn prepare(lo: &[u8], hi: &[u8], nb: usize, out: &mut Vec<Self::Prepared>);
    /// Adds the products of the prepared weight rows with the packed activation rows to `acc`.
    unsafe fn weight_tile(prepared: &[Self::Prepared], packed: &Packed, acc: *mut [f32; 16]);
}

#[allow(clippy::too_many_arguments)]
unsafe fn run<K: Kernel>(x: &Interleaved, acts: &[ActBlockK], nb: usize, rows: std::ops::Range<usize>, groups: std::ops::Range<usize>, dst: *mut f32, col0: usize, ld: usize) {
    debug_assert!(groups.len().is_multiple_of(2) && x.blocks == nb);
    if rows.is_empty() || groups.is_empty() {
        return;
    }
    let block_rows = (ACT_BLOCK_BYTES / (nb * (QK_K + std::mem::size_of::<Side>()))).max(1).div_ceil(2 * TILE) * 2 * TILE;
    let mut prepared: Vec<K::Prepared> = Vec::with_capacity(nb);
    let mut packed = Packed::default();
    let mut acc: Vec<[f32; 16]> = vec![[0.0; 16]; block_rows.min(rows.len())];
    let cfg = TileConfig::new();
    asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly));
    for r0 in rows.clone().step_by(block_rows) {
        let r1 = (r0 + block_rows).min(rows.end);
        packed.pack(&acts[r0 * nb..r1 * nb], nb);
        for g in groups.clone().step_by(2) {
            K::prepare(x.group(g), x.group(g + 1), nb, &mut prepared);
            acc.fill([0.0; 16]);
            K::weight_tile(&prepared, &packed, acc.as_mut_ptr());
            for (i, row) in acc[..r1 - r0].iter().enumerate() {
                std::ptr::copy_nonoverlapping(row.as_ptr(), dst.add((r0 + i) * ld + col0 + g * GROUP), 16);
            }
        }
    }
    asm!("tilerelease", options(nostack, nomem));
}

/// Q4_K.
struct Q4k;

impl Kernel for Q4k {
    type Prepared = Prepared;
    unsafe fn prepare(lo: &[u8], hi: &[u8], nb: usize, out: &mut Vec<Prepared>) {
        prepare(lo, hi, nb, out)
    }
    unsafe fn weight_tile(prepared: &[Prepared], packed: &Packed, acc: *mut [f32; 16]) {
        weight_tile(prepared, packed, acc)
    }
}

/// What the scaling needs of an activation row's super-block: its sums of each 32 as i16 pairs, and `d`.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Side {
    sums32: [i32; 4],
    d: f32,
}

/// A block of activation rows (tiles of 16, the last one padded with zero rows) laid out for the tiles: super-block `b` of tile `t`
/// is 16 rows of 256 bytes, one contiguous 4 KB (so the tile loads stream), its [`Side`]s apart.
#[derive(Default)]
struct Packed {
    qs: Vec<Line4k>,
    side: Vec<[Side; TILE]>,
    tiles: usize,
    rows: usize,
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line4k([u8; TILE * QK_K]);

impl Packed {
    fn pack(&mut self, acts: &[ActBlockK], nb: usize) {
        self.rows = acts.len() / nb;
        self.tiles = self.rows.div_ceil(TILE);
        // a last partial tile's missing rows stay zero (and are never scaled or written)
        self.qs.clear();
        self.qs.resize(nb * self.tiles, Line4k([0; TILE * QK_K]));
        self.side.clear();
        self.side.resize(nb * self.tiles, [Side::default(); TILE]);
        for b in 0..nb {
            for t in 0..self.tiles {
                let valid = self.valid(t);
                let (qs, side) = (&mut self.qs[b * self.tiles + t].0, &mut self.side[b * self.tiles + t]);
                for i in 0..valid {
                    let y = &acts[(t * TILE + i) * nb + b];
                    for (q, &v) in qs[QK_K * i..QK_K * (i + 1)].iter_mut().zip(&y.qs) {
                        *q = v as u8;
                    }
                    side[i] = Side { sums32: std::array::from_fn(|q| (y.sums32[2 * q] as u16 as u32 | (y.sums32[2 * q + 1] as u16 as u32) << 16) as i32), d: y.d };
                }
            }
        }
    }

    /// The rows of tile `t` that hold activation rows.
    fn valid(&self, t: usize) -> usize {
        (self.rows - t * TILE).min(TILE)
    }

    fn qs(&self, b: usize, t: usize) -> *const u8 {
        self.qs[b * self.tiles + t].0.as_ptr()
    }

    fn side(&self, b: usize, t: usize) -> *const Side {
        self.side[b * self.tiles + t].as_ptr()
    }
}

/// [`Kernel::prepare`] for Q4_K.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn prepare(lo: &[u8], hi: &[u8], nb: usize, out: &mut Vec<Prepared>) {
    out.clear();
    let m4 = _mm512_set1_epi8(0xF);
    let m7 = _mm512_set1_epi8(0x70);
    // the even and the odd dwords of two registers: a row's values 0–3 and 4–7 of one octet
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // byte 16f + q of the 128-byte table is f·q (f, q in 0..8, 0..16): `vpermi2b` multiplies nibbles
    let table: [u8; 128] = std::array::from_fn(|i| ((i >> 4) * (i & 15)) as u8);
    let (t0, t1) = (_mm512_loadu_si512(table.as_ptr() as *const _), _mm512_loadu_si512(table.as_ptr().add(64) as *const _));
    for b in 0..nb {
        let (p0, p1) = (lo.as_ptr().add(b * q4k::BYTES), hi.as_ptr().add(b * q4k::BYTES));
        let mut blk = std::mem::MaybeUninit::<Prepared>::uninit();
        let w = blk.as_mut_ptr();
        for s in 0..8 {
            // the 16 rows' scales, each repeated over the 4 bytes of its row's dword
            let scales = _mm_set_epi64x(std::ptr::read_unaligned(p1.add(q4k_scale_at(s, 0)) as *const i64), std::ptr::read_unaligned(p0.add(q4k_scale_at(s, 0)) as *const i64));
            let sc = _mm512_mullo_epi32(_mm512_cvtepu8_epi32(scales), _mm512_set1_epi32(0x0101_0101));
            // the table's row f in bits 4–6 of every byte: a = sc >> 3, b = sc & 7
            let fa = _mm512_and_si512(_mm512_add_epi8(sc, sc), m7);
            let fb = _mm512_and_si512(_mm512_slli_epi16::<4>(sc), m7);
            let (qa, qb) = ((std::ptr::addr_of_mut!((*w).qa) as *mut u8).add(512 * s), (std::ptr::addr_of_mut!((*w).qb) as *mut u8).add(512 * s));
            for h in 0..2 {
                // byte 8c + v of load h: value 16h + v of row c (low nibble), 16h + 8 + v (high)
                let l0 = _mm512_loadu_si512(p0.add(128 * s + 64 * h) as *const _);
                let l1 = _mm512_loadu_si512(p1.add(128 * s + 64 * h) as *const _);
                let (a0, a1) = (_mm512_and_si512(l0, m4), _mm512_and_si512(l1, m4));
                let (b0, b1) = (_mm512_and_si512(_mm512_srli_epi16::<4>(l0), m4), _mm512_and_si512(_mm512_srli_epi16::<4>(l1), m4));
                let rows = [_mm512_permutex2var_epi32(a0, even, a1), _mm512_permutex2var_epi32(a0, odd, a1), _mm512_permutex2var_epi32(b0, even, b1), _mm512_permutex2var_epi32(b0, odd, b1)];
                for (j, q) in rows.into_iter().enumerate() {
                    let at = 64 * (4 * h + j);
                    _mm512_store_si512(qa.add(at) as *mut _, _mm512_permutex2var_epi8(t0, _mm512_or_si512(q, fa), t1));
                    _mm512_store_si512(qb.add(at) as *mut _, _mm512_permutex2var_epi8(t0, _mm512_or_si512(q, fb), t1));
                }
            }
        }
        for q in 0..4 {
            let pairs = _mm256_setr_m128i(_mm_loadu_si128(p0.add(q4k_min_at(2 * q, 0)) as *const _), _mm_loadu_si128(p1.add(q4k_min_at(2 * q, 0)) as *const _));
            _mm512_store_si512((std::ptr::addr_of_mut!((*w).mn) as *mut i16).add(32 * q) as *mut _, _mm512_cvtepu8_epi16(pairs));
        }
        for (field, at) in [(std::ptr::addr_of_mut!((*w).d) as *mut f32, q4k::D), (std::ptr::addr_of_mut!((*w).dmin) as *mut f32, q4k::DMIN)] {
            std::ptr::copy_nonoverlapping(p0.add(at) as *const f32, field, GROUP);
            std::ptr::copy_nonoverlapping(p1.add(at) as *const f32, field.add(GROUP), GROUP);
        }
        out.push(blk.assume_init());
    }
}

/// The integer sums of one unit (a super-block of one or two activation tiles against the 16 weight
/// rows): `[tile][q·a or q·b][activation row][weight row]`.
#[repr(C, align(64))]
struct Sums([[[[i32; 16]; TILE]; 2]; 2]);

/// The prepared 16 weight rows against a packed block of activation rows, added to the rows' outputs
/// `acc`: super-block by super-block, so that its B operands (8 KB) stay in L1 while the activation
/// tiles pass; each output still adds its super-blocks' terms in order.
///
/// The units are software-pipelined (the tile instructions of unit `k + 1` are issued before the
/// scaling of unit `k`), so that the tiles could work while the vector units scale; measured, it made
/// no difference (2.79× against 2.82× the AVX-512 kernel on gate/up, 512 rows), so the tiles are not
/// what bounds this loop. What did pay (Q4_K, 512 rows, against the AVX-512 kernel): walking super-block
/// by super-block, instead of the whole weight tile for each pair of activation tiles (gate/up
/// 2.02× → 2.85×), and activation rows packed in 4 KB tiles ([`Packed`]) instead of read in place
/// with the tiles' row stride (down, K = 8960: 1.59× → 1.89×).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
unsafe fn weight_tile(prepared: &[Prepared], packed: &Packed, acc: *mut [f32; 16]) {
    // zeroed, so that the rows a partial unit does not store are still initialized where `post` borrows them
    let mut bufs = std::mem::MaybeUninit::<[Sums; 2]>::zeroed();
    let bufs = bufs.as_mut_ptr() as *mut Sums;
    let mut prev: Option<(&Prepared, *const Side, *mut [f32; 16], usize, *const Sums)> = None;
    let mut k = 0usize;
    for (b, p) in prepared.iter().enumerate() {
        for t in (0..packed.tiles).step_by(2) {
            let two = t + 2 <= packed.tiles;
            let c = bufs.add(k % 2);
            issue(p, packed.qs(b, t), two);
            if let Some((p, side, out, n, c)) = prev {
                post(p, side, &*c, out, n);
            }
            store(c as *mut u8, two);
            let n = packed.valid(t) + if two { packed.valid(t + 1) } else { 0 };
            prev = Some((p, packed.side(b, t), acc.add(t * TILE), n, c));
            k += 1;
        }
    }
    if let Some((p, side, out, n, c)) = prev {
        post(p, side, &*c, out, n);
    }
}

/// The tile instructions of a unit: for one (or `two`) tiles of 16 activation rows (packed: row
/// `i`'s values at `a + 256i`, the second tile after the first) against the prepared weight rows,
/// `Σ (q·a)·y` in tmm0 (tmm2 for the second tile) and `Σ (q·b)·y` in tmm1 (tmm3).
#[inline(always)]
unsafe fn issue(p: &Prepared, a: *const u8, two: bool) {
    let (stride, a1) = (QK_K, a.add(TILE * QK_K));
    let (qa, qb) = (p.qa.as_ptr(), p.qb.as_ptr());
    if two {
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
    } else {
        asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
    }
    for j in 0..4 {
        if two {
            asm!(
                "tileloadd tmm4, [{a} + {stride}*1]",
                "tileloadd tmm6, [{qa} + {w}*1]",
                "tdpbsud tmm0, tmm4, tmm6",
                "tileloadd tmm5, [{a1} + {stride}*1]",
                "tdpbsud tmm2, tmm5, tmm6",
                "tileloadd tmm7, [{qb} + {w}*1]",
                "tdpbsud tmm1, tmm4, tmm7",
                "tdpbsud tmm3, tmm5, tmm7",
                a = in(reg) a.add(64 * j), a1 = in(reg) a1.add(64 * j), stride = in(reg) stride,
                qa = in(reg) qa.add(1024 * j), qb = in(reg) qb.add(1024 * j), w = in(reg) 64usize,
                options(nostack, readonly)
            );
        } else {
            asm!(
                "tileloadd tmm4, [{a} + {stride}*1]",
                "tileloadd tmm6, [{qa} + {w}*1]",
                "tdpbsud tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{qb} + {w}*1]",
                "tdpbsud tmm1, tmm4, tmm7",
                a = in(reg) a.add(64 * j), stride = in(reg) stride,
                qa = in(reg) qa.add(1024 * j), qb = in(reg) qb.add(1024 * j), w = in(reg) 64usize,
                options(nostack, readonly)
            );
        }
    }
}

/// The accumulators of the unit just issued, into `c` (a [`Sums`]).
#[inline(always)]
unsafe fn store(c: *mut u8, two: bool) {
    if two {
        asm!(
            "tilestored [{c} + {w}*1], tmm0",
            "tilestored [{c1} + {w}*1], tmm1",
            "tilestored [{c2} + {w}*1], tmm2",
            "tilestored [{c3} + {w}*1], tmm3",
            c = in(reg) c, c1 = in(reg) c.add(1024), c2 = in(reg) c.add(2048), c3 = in(reg) c.add(3072), w = in(reg) 64usize,
            options(nostack)
        );
    } else {
        asm!(
            "tilestored [{c} + {w}*1], tmm0",
            "tilestored [{c1} + {w}*1], tmm1",
            c = in(reg) c, c1 = in(reg) c.add(1024), w = in(reg) 64usize,
            options(nostack)
        );
    }
}

/// A unit's scaling: per activation row (its [`Side`] at `side + i`; the unit's first `n` rows), in one register of the 16
/// weight rows, `Σ sc·Σ q·y = 8·Σ (q·a)·y + Σ (q·b)·y`, the mins term `Σ m·Σ y`, and
/// [`super::dot_portable`]'s two float multiply-adds into `acc`.
#[inline(always)]
unsafe fn post(p: &Prepared, side: *const Side, sums: &Sums, acc: *mut [f32; 16], n: usize) {
    let mn: [__m512i; 4] = std::array::from_fn(|q| _mm512_load_si512(p.mn[q].as_ptr() as *const _));
    let (d, dmin) = (_mm512_load_ps(p.d.as_ptr()), _mm512_load_ps(p.dmin.as_ptr()));
    for i in 0..n {
        let y = &*side.add(i);
        let (tile, r) = (i / TILE, i % TILE);
        let qa = _mm512_load_si512(sums.0[tile][0][r].as_ptr() as *const _);
        let qb = _mm512_load_si512(sums.0[tile][1][r].as_ptr() as *const _);
        let sumi = _mm512_add_epi32(_mm512_slli_epi32::<3>(qa), qb);
        let mut mins = _mm512_setzero_si512();
        for (q, m) in mn.iter().enumerate() {
            mins = _mm512_dpwssd_epi32(mins, *m, _mm512_set1_epi32(y.sums32[q]));
        }
        let out = (*acc.add(i)).as_mut_ptr();
        let mut v = _mm512_loadu_ps(out);
        v = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y.d)), _mm512_cvtepi32_ps(sumi), v);
        v = _mm512_fmadd_ps(_mm512_mul_ps(dmin, _mm512_set1_ps(-y.d)), _mm512_cvtepi32_ps(mins), v);
        _mm512_storeu_ps(out, v);
    }
}

/// Q6_K: `w = d·sc·(q − 32)` with signed 8-bit scales per 16 values. Each scale is split into three
/// balanced base-8 digits, `sc = 64a + 8b + c` with `a, b, c` in −3..=4, so that `(q − 32)·a` (and
/// `·b`, `·c`) are signed bytes (−128..=124): three B operands and three accumulator tiles give
/// `Σ sc·(q − 32)·y = 64·A + 8·B + C`, the integer that [`super::dot_portable`] computes as
/// `Σ sc·Σ q·y − 32·Σ sc·Σ y`; one activation tile per unit (3 accumulators, the activations and the
/// 3 B operands fill the 8 tile registers).
struct Q6k;

/// One super-block of 16 Q6_K weight rows: the three digit products as B operands (layout of
/// [`Prepared::qa`]) and the rows' `d`.
#[repr(C, align(64))]
struct Prepared6 {
    w: [[u8; 4096]; 3],
    d: [f32; 16],
}

impl Kernel for Q6k {
    type Prepared = Prepared6;
    unsafe fn prepare(lo: &[u8], hi: &[u8], nb: usize, out: &mut Vec<Prepared6>) {
        prepare6(lo, hi, nb, out)
    }
    unsafe fn weight_tile(prepared: &[Prepared6], packed: &Packed, acc: *mut [f32; 16]) {
        weight_tile6(prepared, packed, acc)
    }
}

/// The balanced base-8 digits of signed scales (i32 lanes): `(a, b, c)` with `sc = 64a + 8b + c`.
#[inline(always)]
unsafe fn digits(sc: __m512i) -> [__m512i; 3] {
    let (three, seven) = (_mm512_set1_epi32(3), _mm512_set1_epi32(7));
    let digit = |v: __m512i| _mm512_sub_epi32(_mm512_and_si512(_mm512_add_epi32(v, three), seven), three);
    let c = digit(sc);
    let rest = _mm512_srai_epi32::<3>(_mm512_sub_epi32(sc, c));
    let b = digit(rest);
    let a = _mm512_srai_epi32::<3>(_mm512_sub_epi32(rest, b));
    [a, b, c]
}

/// [`Kernel::prepare`] for Q6_K.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn prepare6(lo: &[u8], hi: &[u8], nb: usize, out: &mut Vec<Prepared6>) {
    out.clear();
    let m4 = _mm512_set1_epi8(0xF);
    let m30 = _mm512_set1_epi8(0x30);
    let bias = _mm512_set1_epi8(32);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // a row's digit (i16 lane 2w of the i32 lanes) over the 4 values of its dword, widened to i16:
    // rows 0–7 for the low 32 bytes of a B row, rows 8–15 for the high
    let spread_lo = _mm512_loadu_si512(std::array::from_fn::<i16, 32, _>(|j| (2 * (j / 4)) as i16).as_ptr() as *const _);
    let spread_hi = _mm512_loadu_si512(std::array::from_fn::<i16, 32, _>(|j| (2 * (8 + j / 4)) as i16).as_ptr() as *const _);
    for b in 0..nb {
        let (p0, p1) = (lo.as_ptr().add(b * q6k::BYTES), hi.as_ptr().add(b * q6k::BYTES));
        let mut blk = std::mem::MaybeUninit::<Prepared6>::uninit();
        let w = blk.as_mut_ptr();
        // scales 4u..4u+4 of the 16 rows, one row per dword
        let quads: [__m512i; 4] = std::array::from_fn(|u| {
            let at = q6k_scale_at(4 * u, 0);
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(_mm256_loadu_si256(p0.add(at) as *const _)), _mm256_loadu_si256(p1.add(at) as *const _))
        });
        for s in 0..8 {
            let hb0 = _mm512_loadu_si512(p0.add(q6k::HIGH + 64 * s) as *const _);
            let hb1 = _mm512_loadu_si512(p1.add(q6k::HIGH + 64 * s) as *const _);
            for h in 0..2 {
                // scale 2s + h covers the values of load h
                let i = 2 * s + h;
                let quad = quads[i / 4];
                let sc = match i % 4 {
                    0 => _mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(quad)),
                    1 => _mm512_srai_epi32::<24>(_mm512_slli_epi32::<16>(quad)),
                    2 => _mm512_srai_epi32::<24>(_mm512_slli_epi32::<8>(quad)),
                    _ => _mm512_srai_epi32::<24>(quad),
                };
                let f = digits(sc).map(|d| (_mm512_permutexvar_epi16(spread_lo, d), _mm512_permutexvar_epi16(spread_hi, d)));
                // byte 8c + v: value 16h + v of row c (low nibble, high bits 4h..4h+1 of the high
                // byte) and value 16h + 8 + v (high nibble, bits 4h+2..4h+3)
                let l0 = _mm512_loadu_si512(p0.add(128 * s + 64 * h) as *const _);
                let l1 = _mm512_loadu_si512(p1.add(128 * s + 64 * h) as *const _);
                let (hl0, hl1, hh0, hh1) = if h == 0 {
                    (_mm512_slli_epi16::<4>(hb0), _mm512_slli_epi16::<4>(hb1), _mm512_slli_epi16::<2>(hb0), _mm512_slli_epi16::<2>(hb1))
                } else {
                    (hb0, hb1, _mm512_srli_epi16::<2>(hb0), _mm512_srli_epi16::<2>(hb1))
                };
                let q = |l: __m512i, hbits: __m512i| _mm512_sub_epi8(_mm512_or_si512(l, _mm512_and_si512(hbits, m30)), bias);
                let (a0, a1) = (q(_mm512_and_si512(l0, m4), hl0), q(_mm512_and_si512(l1, m4), hl1));
                let (b0, b1) = (q(_mm512_and_si512(_mm512_srli_epi16::<4>(l0), m4), hh0), q(_mm512_and_si512(_mm512_srli_epi16::<4>(l1), m4), hh1));
                let rows = [_mm512_permutex2var_epi32(a0, even, a1), _mm512_permutex2var_epi32(a0, odd, a1), _mm512_permutex2var_epi32(b0, even, b1), _mm512_permutex2var_epi32(b0, odd, b1)];
                for (j, r) in rows.into_iter().enumerate() {
                    let at = 512 * s + 64 * (4 * h + j);
                    let (wl, wh) = (_mm512_cvtepi8_epi16(_mm512_castsi512_si256(r)), _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64::<1>(r)));
                    for (digit, (fl, fh)) in f.iter().enumerate() {
                        let (pl, ph) = (_mm512_cvtepi16_epi8(_mm512_mullo_epi16(wl, *fl)), _mm512_cvtepi16_epi8(_mm512_mullo_epi16(wh, *fh)));
                        _mm512_store_si512((std::ptr::addr_of_mut!((*w).w) as *mut u8).add(4096 * digit + at) as *mut _, _mm512_inserti64x4::<1>(_mm512_castsi256_si512(pl), ph));
                    }
                }
            }
        }
        let d = std::ptr::addr_of_mut!((*w).d) as *mut f32;
        std::ptr::copy_nonoverlapping(p0.add(q6k::D) as *const f32, d, GROUP);
        std::ptr::copy_nonoverlapping(p1.add(q6k::D) as *const f32, d.add(GROUP), GROUP);
        out.push(blk.assume_init());
    }
}

/// [`Kernel::weight_tile`] for Q6_K: one activation tile per unit, pipelined as [`weight_tile`].
#[target_feature(enable = "avx512f,avx512bw,fma")]
unsafe fn weight_tile6(prepared: &[Prepared6], packed: &Packed, acc: *mut [f32; 16]) {
    /// `[digit][activation row][weight row]`
    #[repr(C, align(64))]
    struct Sums6([[[i32; 16]; TILE]; 3]);
    let mut bufs = std::mem::MaybeUninit::<[Sums6; 2]>::zeroed();
    let bufs = bufs.as_mut_ptr() as *mut Sums6;
    let mut prev: Option<(&Prepared6, *const Side, *mut [f32; 16], usize, *const Sums6)> = None;
    let mut k = 0usize;
    for (b, p) in prepared.iter().enumerate() {
        for t in 0..packed.tiles {
            let c = bufs.add(k % 2);
            let (a, w) = (packed.qs(b, t), [p.w[0].as_ptr(), p.w[1].as_ptr(), p.w[2].as_ptr()]);
            asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", options(nostack, nomem));
            for j in 0..4 {
                asm!(
                    "tileloadd tmm3, [{a} + {stride}*1]",
                    "tileloadd tmm4, [{w0} + {w}*1]",
                    "tdpbssd tmm0, tmm3, tmm4",
                    "tileloadd tmm5, [{w1} + {w}*1]",
                    "tdpbssd tmm1, tmm3, tmm5",
                    "tileloadd tmm6, [{w2} + {w}*1]",
                    "tdpbssd tmm2, tmm3, tmm6",
                    a = in(reg) a.add(64 * j), stride = in(reg) QK_K,
                    w0 = in(reg) w[0].add(1024 * j), w1 = in(reg) w[1].add(1024 * j), w2 = in(reg) w[2].add(1024 * j), w = in(reg) 64usize,
                    options(nostack, readonly)
                );
            }
            if let Some((p, side, out, n, c)) = prev {
                post6(p, side, &*c, out, n);
            }
            let cp = c as *mut u8;
            asm!(
                "tilestored [{c} + {w}*1], tmm0",
                "tilestored [{c1} + {w}*1], tmm1",
                "tilestored [{c2} + {w}*1], tmm2",
                c = in(reg) cp, c1 = in(reg) cp.add(1024), c2 = in(reg) cp.add(2048), w = in(reg) 64usize,
                options(nostack)
            );
            prev = Some((p, packed.side(b, t), acc.add(t * TILE), packed.valid(t), c));
            k += 1;
        }
    }
    if let Some((p, side, out, n, c)) = prev {
        post6(p, side, &*c, out, n);
    }

    #[inline(always)]
    unsafe fn post6(p: &Prepared6, side: *const Side, sums: &Sums6, acc: *mut [f32; 16], n: usize) {
        let d = _mm512_load_ps(p.d.as_ptr());
        for i in 0..n {
            let y = &*side.add(i);
            let part = |digit: usize| _mm512_load_si512(sums.0[digit][i].as_ptr() as *const _);
            let tot = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32::<6>(part(0)), _mm512_slli_epi32::<3>(part(1))), part(2));
            let out = (*acc.add(i)).as_mut_ptr();
            _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y.d)), _mm512_cvtepi32_ps(tot), _mm512_loadu_ps(out)));
        }
    }
}
