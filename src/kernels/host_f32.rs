//! Reading f32 tensors that live in host memory without copying them out of candle's storage.
use candle_core::{Result, Storage, Tensor};

/// Read access to a contiguous f32 tensor in host memory (holds candle's storage read lock).
pub struct HostF32<'a> {
    guard: candle_core::StorageRef<'a>,
    range: (usize, usize),
}

impl<'a> HostF32<'a> {
    /// Errors when `t` is not contiguous; [`slice`](Self::slice) errors when it is not in host memory.
    pub fn of(t: &'a Tensor) -> Result<Self> {
        let (guard, layout) = t.storage_and_layout();
        let Some(range) = layout.contiguous_offsets() else { candle_core::bail!("tensor of shape {:?} is not contiguous", t.dims()) };
        Ok(Self { guard, range })
    }

    pub fn slice(&self) -> Result<&[f32]> {
        match &*self.guard {
            Storage::Cpu(cpu) => Ok(&cpu.as_slice::<f32>()?[self.range.0..self.range.1]),
            _ => candle_core::bail!("tensor is not in host memory"),
        }
    }
}

/// Run `f` on `t` as one row-major f32 slice: in place for host tensors, else through a copy.
pub fn with_host_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    if t.device().is_cpu() {
        let host = HostF32::of(&t)?;
        return Ok(f(host.slice()?));
    }
    Ok(f(&t.flatten_all()?.to_vec1::<f32>()?))
}
