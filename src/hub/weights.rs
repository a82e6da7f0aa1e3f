//! Loading checkpoint tensors from `model.safetensors` or `pytorch_model.bin`, never executing pickle code.
//!
//! `pytorch_model.bin` comes in two formats: the zip archive torch writes since 1.6 (read with candle's
//! pickle reader), and the legacy format of torch < 1.6, in which the 2020 OPUS-MT uploads were saved:
//! five pickles in a row (magic number, protocol, sys info, the state dict with persistent storage ids, the
//! storage keys) followed by each storage's raw bytes, prefixed with its element count.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Weight files we know, in order of preference.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    Safetensors,
    TorchZip,
    TorchLegacy,
}

/// The magic number pickle that opens a legacy torch file: PROTO 2, LONG1 0x1950a86a20f9469cfc6c, STOP.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

pub fn find_weights(dir: &Path) -> Option<PathBuf> {
    WEIGHT_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// Detect the format from the file's first bytes (not its name).
pub fn detect_format(path: &Path) -> Result<WeightFormat> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, e))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        Ok(WeightFormat::TorchZip)
    } else if head.starts_with(&LEGACY_MAGIC) {
        Ok(WeightFormat::TorchLegacy)
    } else if n >= 9 && head[8] == b'{' {
        // safetensors: u64 header length, then a JSON header
        Ok(WeightFormat::Safetensors)
    } else {
        Err(invalid(path, "neither safetensors nor a PyTorch checkpoint (unknown header)"))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidModelFile { path: path.to_path_buf(), reason: reason.into() }
}

/// All tensors of a checkpoint, on `device`, converted to `dtype` where they are floats.
pub fn load_tensors(path: &Path, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
    let format = detect_format(path)?;
    let raw: Vec<(String, Tensor)> = match format {
        WeightFormat::Safetensors => candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| invalid(path, format!("safetensors: {e}")))?
            .into_iter()
            .collect(),
        WeightFormat::TorchZip => candle_core::pickle::read_all(path)
            .map_err(|e| invalid(path, format!("zip PyTorch checkpoint: {e}")))?,
        WeightFormat::TorchLegacy => read_legacy(path)?,
    };
    if raw.is_empty() {
        return Err(invalid(path, "checkpoint holds no tensors"));
    }
    let mut out = HashMap::with_capacity(raw.len());
    for (name, t) in raw {
        let t = if t.dtype().is_float() { t.to_dtype(dtype)? } else { t };
        out.insert(name, t.to_device(device)?);
    }
    Ok(out)
}

/// Parse a legacy (pre-1.6) torch checkpoint without running pickle code: candle's pickle `Stack` only
/// builds a tree of objects, it never imports or calls anything.
fn read_legacy(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = BufReader::new(file);
    let mut magic = [0u8; LEGACY_MAGIC.len()];
    r.read_exact(&mut magic).map_err(|e| Error::io(path, e))?;
    if magic != LEGACY_MAGIC {
        return Err(invalid(path, "not a legacy PyTorch checkpoint"));
    }
    let bad = |what: &str, e: candle_core::Error| invalid(path, format!("legacy PyTorch checkpoint, {what}: {e}"));
    let read_pickle = |r: &mut BufReader<std::fs::File>, what: &str| -> Result<Object> {
        let mut stack = Stack::empty();
        stack.read_loop(r).map_err(|e| bad(what, e))?;
        stack.finalize().map_err(|e| bad(what, e))
    };
    let _protocol = read_pickle(&mut r, "protocol")?;
    let _sys_info = read_pickle(&mut r, "sys info")?;
    let state = read_pickle(&mut r, "state dict")?;
    let keys = read_pickle(&mut r, "storage keys")?;

    struct Entry {
        name: String,
        info: candle_core::pickle::TensorInfo,
        key: String,
    }
    let mut entries = Vec::new();
    let dict = match state {
        Object::Dict(d) => d,
        other => return Err(invalid(path, format!("state dict is not a dict ({})", short(&other)))),
    };
    for (name, value) in dict {
        if let Ok(Some(info)) = value.into_tensor_info(name, Path::new("")) {
            // into_tensor_info names the storage "<dir>/<key>"; with an empty dir it is "/<key>"
            let key = info.path.trim_start_matches('/').to_string();
            entries.push(Entry { name: info.name.clone(), info, key });
        }
    }
    let keys: Vec<String> = match keys {
        Object::List(v) | Object::Tuple(v) => v.into_iter().filter_map(|k| k.unicode().ok()).collect(),
        other => return Err(invalid(path, format!("storage key list is not a list ({})", short(&other)))),
    };
    // Storage sizes in elements come with the data; element sizes come from the tensors' dtypes.
    let elem_size: HashMap<&str, usize> =
        entries.iter().map(|e| (e.key.as_str(), e.info.dtype.size_in_bytes())).collect();
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in &keys {
        let mut n = [0u8; 8];
        r.read_exact(&mut n).map_err(|e| invalid(path, format!("truncated storage {key}: {e}")))?;
        let count = u64::from_le_bytes(n) as usize;
        let size = *elem_size.get(key.as_str()).unwrap_or(&4);
        // a storage cannot be larger than what is left of the file: a corrupt count (up to 2^64) was
        // allocated before the read could fail (found by tests/fuzz.rs)
        let remaining = file_len.saturating_sub(std::io::Seek::stream_position(&mut r).map_err(|e| Error::io(path, e))?);
        let bytes = count
            .checked_mul(size)
            .filter(|b| *b as u64 <= remaining)
            .ok_or_else(|| invalid(path, format!("storage {key} is larger than the rest of the file (truncated or corrupt)")))?;
        let mut data = vec![0u8; bytes];
        r.read_exact(&mut data).map_err(|e| invalid(path, format!("truncated storage {key}: {e}")))?;
        storages.insert(key.clone(), data);
    }
    if r.fill_buf().map(|b| !b.is_empty()).unwrap_or(false) {
        tracing::debug!("legacy checkpoint {} has trailing bytes", path.display());
    }

    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let data = storages
            .get(&e.key)
            .ok_or_else(|| invalid(path, format!("tensor {} points at missing storage {}", e.name, e.key)))?;
        let layout = &e.info.layout;
        if !layout.is_contiguous() {
            return Err(invalid(path, format!("tensor {} is not contiguous", e.name)));
        }
        let start = layout.start_offset();
        let len = layout.shape().elem_count() * e.info.dtype.size_in_bytes();
        let bytes = data
            .get(start..start + len)
            .ok_or_else(|| invalid(path, format!("tensor {} lies outside its storage", e.name)))?;
        let t = Tensor::from_raw_buffer(bytes, e.info.dtype, layout.dims(), &Device::Cpu)?;
        out.push((e.name, t));
    }
    Ok(out)
}

fn short(o: &Object) -> String {
    let s = format!("{o:?}");
    s.chars().take(80).collect()
}

/// Normalise checkpoint names to HF's current layout: some old checkpoints lack the `model.` prefix.
pub fn normalize_seq2seq_names(mut t: HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    let has_prefix = t.keys().any(|k| k.starts_with("model."));
    if !has_prefix {
        t = t
            .into_iter()
            .map(|(k, v)| {
                if k == "final_logits_bias" || k.starts_with("lm_head.") {
                    (k, v)
                } else {
                    (format!("model.{k}"), v)
                }
            })
            .collect();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_header_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pytorch_model.bin");
        std::fs::write(&p, b"this is not a model").unwrap();
        let e = load_tensors(&p, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("unknown header"), "{e}");
    }

    #[test]
    fn truncated_safetensors_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.safetensors");
        let mut bytes = 1000u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{\"a\":");
        std::fs::write(&p, bytes).unwrap();
        let e = load_tensors(&p, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("safetensors"), "{e}");
    }
}
