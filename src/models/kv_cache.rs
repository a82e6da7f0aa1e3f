//! The decoder's self-attention keys and values, kept in host memory with spare capacity.
//!
//! Why: appending a step with `Tensor::cat` copies the whole cache every step, and beam reordering with
//! `index_select` copies it again into a freshly zeroed allocation; on beam 4 over 32 sentences those
//! copies were 12 % of the profile, all on the main thread. Here a step is written in place (the cache
//! grows by doubling), and a reorder gathers only the filled positions into one spare buffer that the
//! layers share and swap with.
//!
//! Layout: `(rows, heads, cap, head_dim)`; a (row, head) pair's first `len` positions are filled.
use candle_core::{Result, Tensor};

use super::step_attention::StepKv;
use crate::host_f32::with_host_f32;

#[derive(Debug, Clone)]
pub struct HostKvCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    rows: usize,
    heads: usize,
    head_dim: usize,
    /// positions each (row, head) pair has room for
    cap: usize,
    /// positions filled
    len: usize,
}

const INITIAL_CAPACITY: usize = 16;

impl HostKvCache {
    pub fn new(rows: usize, heads: usize, head_dim: usize) -> Self {
        let cap = INITIAL_CAPACITY;
        let n = rows * heads * cap * head_dim;
        Self { keys: vec![0.0; n], values: vec![0.0; n], rows, heads, head_dim, cap, len: 0 }
    }

    /// Floats between the starts of two (row, head) pairs.
    fn pair_stride(&self) -> usize {
        self.cap * self.head_dim
    }

    /// The filled positions, as the fused step attention reads them.
    pub fn step_kv(&self) -> StepKv<'_> {
        StepKv { keys: &self.keys, values: &self.values, pair_stride: self.pair_stride(), len: self.len, kv_rows: None }
    }

    /// Append `k`, `v (rows, heads, t, head_dim)` f32 (contiguous, host memory) at positions `len..len+t`.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let (rows, heads, t, hd) = k.dims4()?;
        if (rows, heads, hd) != (self.rows, self.heads, self.head_dim) || v.dims() != k.dims() {
            candle_core::bail!("kv cache: step of shape {:?} for a cache of {}×{}×_×{}", k.dims(), self.rows, self.heads, self.head_dim)
        }
        if self.len + t > self.cap {
            self.grow((2 * self.cap).max(self.len + t));
        }
        let (stride, block, at) = (self.pair_stride(), t * hd, self.len * hd);
        for (buf, step) in [(&mut self.keys, k), (&mut self.values, v)] {
            with_host_f32(step, |step| {
                for (pair, src) in step.chunks_exact(block).enumerate() {
                    buf[pair * stride + at..pair * stride + at + block].copy_from_slice(src);
                }
            })?;
        }
        self.len += t;
        Ok(())
    }

    fn grow(&mut self, cap: usize) {
        let (old_stride, filled) = (self.pair_stride(), self.len * self.head_dim);
        let new_stride = cap * self.head_dim;
        for buf in [&mut self.keys, &mut self.values] {
            let mut grown = vec![0f32; self.rows * self.heads * new_stride];
            for pair in 0..self.rows * self.heads {
                grown[pair * new_stride..pair * new_stride + filled]
                    .copy_from_slice(&buf[pair * old_stride..pair * old_stride + filled]);
            }
            *buf = grown;
        }
        self.cap = cap;
    }

    /// New row `r` is old row `idx[r]` (rows may repeat or drop out). `spare` is scratch memory shared by
    /// the layers; it is swapped with this cache's buffers.
    pub fn select_rows(&mut self, idx: &[u32], spare: &mut Vec<f32>) -> Result<()> {
        if let Some(&bad) = idx.iter().find(|&&r| r as usize >= self.rows) {
            candle_core::bail!("kv cache: row {bad} of {}", self.rows)
        }
        let (stride, filled, heads) = (self.pair_stride(), self.len * self.head_dim, self.heads);
        let row_size = heads * stride;
        for buf in [&mut self.keys, &mut self.values] {
            // only filled positions are ever read, so the spare's old contents need no clearing
            spare.resize(idx.len() * row_size, 0.0);
            use rayon::prelude::*;
            let src: &[f32] = buf;
            spare[..idx.len() * row_size].par_chunks_mut(row_size).zip(idx.par_iter()).for_each(|(dst, &old)| {
                for h in 0..heads {
                    let from = old as usize * row_size + h * stride;
                    dst[h * stride..h * stride + filled].copy_from_slice(&src[from..from + filled]);
                }
            });
            std::mem::swap(buf, spare);
        }
        self.rows = idx.len();
        Ok(())
    }

    /// The filled part as `(rows, heads, len, head_dim)` tensors (for the unfused attention path).
    pub fn to_tensors(&self, device: &candle_core::Device) -> Result<(Tensor, Tensor)> {
        let (stride, filled) = (self.pair_stride(), self.len * self.head_dim);
        let gather = |buf: &[f32]| -> Vec<f32> {
            (0..self.rows * self.heads).flat_map(|p| buf[p * stride..p * stride + filled].iter().copied()).collect()
        };
        let shape = (self.rows, self.heads, self.len, self.head_dim);
        Ok((Tensor::from_vec(gather(&self.keys), shape, device)?, Tensor::from_vec(gather(&self.values), shape, device)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Appends (growing past the initial capacity), row selection with repeats and drops, and the tensor
    /// view agree with the `cat` / `index_select` they replace.
    #[test]
    fn matches_cat_and_index_select() -> Result<()> {
        let dev = Device::Cpu;
        let (rows, heads, hd) = (4, 2, 8);
        let mut cache = HostKvCache::new(rows, heads, hd);
        let mut spare = Vec::new();
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
                cache.select_rows(&idx, &mut spare)?;
                let t_idx = Tensor::new(idx.as_slice(), &dev)?;
                rk = Some(rk.unwrap().index_select(&t_idx, 0)?);
                rv = Some(rv.unwrap().index_select(&t_idx, 0)?);
            }
            let (ck, cv) = cache.to_tensors(&dev)?;
            let (ek, ev) = (rk.as_ref().unwrap(), rv.as_ref().unwrap());
            assert_eq!(ck.dims(), ek.dims());
            assert_eq!((ck - ek)?.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
            assert_eq!((cv - ev)?.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
        }
        assert!(cache.cap >= cache.len && cache.len == 42);
        assert!(cache.select_rows(&[9], &mut spare).is_err());
        Ok(())
    }
}
