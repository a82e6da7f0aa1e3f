//! The decoder's self-attention keys and values, kept in host memory, appended and reordered in place.
//!
//! Why: appending a step with `Tensor::cat` copies the whole cache every step, and beam reordering with
//! `index_select` copies it again; even a gather of only the filled positions moved the whole cache once
//! per step per layer (126 MB a step at beam 4 over 32 sentences by the 40th token, 8–10 % of a
//! profile). Here each position is written once, as a block of all rows, and a reorder (beam search
//! choosing parents, finished sentences dropping out) rewrites only a small table of which block row
//! each current row reads at each position: `positions × rows` integers instead of the K/V themselves.
//!
//! Layout: position `p` is a block of `(rows at p, heads, head_dim)` floats at `offsets[p]` in `keys`
//! (likewise `values`); current row `r` reads block row `origin[p × rows + r]`.
use candle_core::{Result, Tensor};

use super::step_attention::{KvLayout, StepKv};
use crate::kernels::host_f32::with_host_f32;

#[derive(Debug, Clone)]
pub struct HostKvCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    /// start of each position's block in `keys`/`values`
    offsets: Vec<usize>,
    /// `len × rows`: the block row that current row `r` reads at position `p`
    origin: Vec<u32>,
    /// current rows
    rows: usize,
    heads: usize,
    head_dim: usize,
    /// positions filled
    len: usize,
}

impl HostKvCache {
    pub fn new(rows: usize, heads: usize, head_dim: usize) -> Self {
        Self { keys: Vec::new(), values: Vec::new(), offsets: Vec::new(), origin: Vec::new(), rows, heads, head_dim, len: 0 }
    }

    /// The filled positions, as the fused step attention reads them.
    pub fn step_kv(&self) -> StepKv<'_> {
        StepKv {
            keys: &self.keys,
            values: &self.values,
            len: self.len,
            layout: KvLayout::Positions { offsets: &self.offsets, origin: &self.origin, rows: self.rows },
        }
    }

    /// Append `k`, `v (rows, heads, t, head_dim)` f32 (contiguous) at positions `len..len+t`.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let (rows, heads, t, hd) = k.dims4()?;
        if (rows, heads, hd) != (self.rows, self.heads, self.head_dim) || v.dims() != k.dims() {
            candle_core::bail!("kv cache: step of shape {:?} for a cache of {}×{}×_×{}", k.dims(), self.rows, self.heads, self.head_dim)
        }
        let block = rows * heads * hd;
        for tt in 0..t {
            self.offsets.push(self.keys.len() + tt * block);
        }
        for (buf, step) in [(&mut self.keys, k), (&mut self.values, v)] {
            with_host_f32(step, |step| {
                if t == 1 {
                    // (rows, heads, 1, hd) is already the block layout
                    buf.extend_from_slice(step);
                } else {
                    buf.reserve(t * block);
                    for tt in 0..t {
                        for pair in step.chunks_exact(t * hd) {
                            buf.extend_from_slice(&pair[tt * hd..(tt + 1) * hd]);
                        }
                    }
                }
            })?;
        }
        self.origin.extend((0..t).flat_map(|_| 0..rows as u32));
        self.len += t;
        Ok(())
    }

    /// New row `r` is old row `idx[r]` (rows may repeat or drop out). Only the row table changes.
    pub fn select_rows(&mut self, idx: &[u32]) -> Result<()> {
        if let Some(&bad) = idx.iter().find(|&&r| r as usize >= self.rows) {
            candle_core::bail!("kv cache: row {bad} of {}", self.rows)
        }
        let rows = self.rows;
        self.origin = self.origin.chunks_exact(rows.max(1)).flat_map(|at_p| idx.iter().map(|&r| at_p[r as usize])).collect();
        self.rows = idx.len();
        Ok(())
    }

    /// The filled part as `(rows, heads, len, head_dim)` tensors (for the unfused attention path).
    pub fn to_tensors(&self, device: &candle_core::Device) -> Result<(Tensor, Tensor)> {
        let (rows, heads, hd, len) = (self.rows, self.heads, self.head_dim, self.len);
        let gather = |buf: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(rows * heads * len * hd);
            for r in 0..rows {
                for h in 0..heads {
                    for p in 0..len {
                        let at = self.offsets[p] + (self.origin[p * rows + r] as usize * heads + h) * hd;
                        out.extend_from_slice(&buf[at..at + hd]);
                    }
                }
            }
            out
        };
        let shape = (rows, heads, len, hd);
        Ok((Tensor::from_vec(gather(&self.keys), shape, device)?, Tensor::from_vec(gather(&self.values), shape, device)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::step_attention::{attend_one_position, attend_slices};
    use candle_core::Device;

    /// Appends (one and several positions), row selection with repeats and drops, the tensor view and
    /// the fused attention over the cache agree with the `cat` / `index_select` they replace.
    #[test]
    fn matches_cat_and_index_select() -> Result<()> {
        let dev = Device::Cpu;
        let (rows, heads, hd) = (4, 2, 8);
        let mut cache = HostKvCache::new(rows, heads, hd);
        let (mut rk, mut rv): (Option<Tensor>, Option<Tensor>) = (None, None);
        for step in 0..40 {
            let t = if step == 0 { 3 } else { 1 };
            let n = cache.rows;
            let k = Tensor::randn(0f32, 1.0, (n, heads, t, hd), &dev)?;
            let v = Tensor::randn(0f32, 1.0, (n, heads, t, hd), &dev)?;
            cache.append(&k, &v)?;
            rk = Some(match rk { Some(p) => Tensor::cat(&[&p, &k], 2)?, None => k });
            rv = Some(match rv { Some(p) => Tensor::cat(&[&p, &v], 2)?, None => v });
            if step % 7 == 3 {
                let idx: Vec<u32> = if n > 2 && step > 20 { vec![2, 0] } else { (0..n as u32).rev().map(|r| r / 2 * 2).collect() };
                cache.select_rows(&idx)?;
                let t_idx = Tensor::new(idx.as_slice(), &dev)?;
                rk = Some(rk.unwrap().index_select(&t_idx, 0)?);
                rv = Some(rv.unwrap().index_select(&t_idx, 0)?);
            }
            let (ck, cv) = cache.to_tensors(&dev)?;
            let (ek, ev) = (rk.as_ref().unwrap(), rv.as_ref().unwrap());
            assert_eq!(ck.dims(), ek.dims());
            assert_eq!((ck - ek)?.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
            assert_eq!((cv - ev)?.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
            // attention straight from the cache's blocks = attention over the expanded tensors
            let n = cache.rows;
            let q = Tensor::randn(0f32, 1.0, (n, heads, 1, hd), &dev)?;
            let want = attend_one_position(&q, ek, ev, None, 0.3, None)?.expect("fused path applies").flatten_all()?.to_vec1::<f32>()?;
            let got = attend_slices(&q.flatten_all()?.to_vec1::<f32>()?, (n, heads, hd), cache.step_kv(), None, 0.3);
            assert_eq!(got, want, "step {step}");
        }
        assert_eq!(cache.len, 42);
        assert!(cache.select_rows(&[9]).is_err());
        Ok(())
    }
}
