//! `vertolk models verify`: a model's files are present and readable, their headers parse, and cached
//! blobs match the sha256 the hub recorded for them.
use std::io::Read;
use std::path::Path;

use sha2::Digest;

use super::spec::FileSet;

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileCheck {
    pub file: String,
    pub ok: bool,
    pub size: u64,
    pub detail: String,
}

/// Check that a model's files are present and readable: sizes, JSON/spm/safetensors/torch/GGUF headers,
/// and the sha256 of cached blobs whose name is their hash (the hub's LFS etag).
pub fn verify_dir(dir: &Path, files: &FileSet) -> Vec<FileCheck> {
    let mut names: Vec<String> = files.required.clone();
    match files.weights.iter().find(|w| dir.join(w).is_file()) {
        Some(w) => names.push(w.clone()),
        None if !files.weights.is_empty() => names.push(files.weights[0].clone()),
        None => {}
    }
    names.extend(files.optional.iter().filter(|f| dir.join(f).is_file()).cloned());
    names.into_iter().map(|f| verify_file(&dir.join(&f), &f)).collect()
}

pub fn verify_file(path: &Path, name: &str) -> FileCheck {
    let mut check = FileCheck { file: name.to_string(), ok: false, size: 0, detail: String::new() };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            check.detail = format!("missing ({e})");
            return check;
        }
    };
    check.size = meta.len();
    if meta.len() == 0 {
        check.detail = "empty file".into();
        return check;
    }
    let content = check_content(path, name);
    let hash = check_blob_hash(path);
    match (content, hash) {
        (Err(e), _) | (Ok(_), Err(e)) => check.detail = e,
        (Ok(c), Ok(h)) => {
            check.ok = true;
            check.detail = [c, h].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("; ");
        }
    }
    check
}

fn check_content(path: &Path, name: &str) -> std::result::Result<String, String> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        let t = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
        serde_json::from_str::<serde_json::Value>(&t).map_err(|e| format!("invalid JSON: {e}"))?;
        Ok("JSON parses".into())
    } else if lower.ends_with(".spm") {
        let m = crate::tokenizer::spm::SpmModel::from_file(path).map_err(|e| e.to_string())?;
        Ok(format!("SentencePiece, {} pieces", m.pieces.len()))
    } else if lower.ends_with(".safetensors") {
        let bytes_on_disk = std::fs::metadata(path).map(|m| m.len()).map_err(|e| format!("unreadable: {e}"))?;
        let mut f = std::fs::File::open(path).map_err(|e| format!("unreadable: {e}"))?;
        let mut n = [0u8; 8];
        f.read_exact(&mut n).map_err(|_| "truncated safetensors header".to_string())?;
        let len = u64::from_le_bytes(n);
        if len > 100_000_000 || len + 8 > bytes_on_disk {
            return Err("safetensors header length is out of range".into());
        }
        let mut h = vec![0u8; len as usize];
        f.read_exact(&mut h).map_err(|_| "truncated safetensors header".to_string())?;
        let n = safetensors_layout(&h, bytes_on_disk)?;
        Ok(format!("safetensors, {n} tensors, sizes match the file"))
    } else if lower.ends_with(".bin") || lower.ends_with(".pt") || lower.ends_with(".pth") {
        // what loading does, so that "ok" means the model loads: a checkpoint whose pickle loading
        // refuses (a payload calling os.system, a truncated archive) was reported ok from its magic alone
        let format = super::weights::detect_format(path).map_err(|e| e.to_string())?;
        let tensors = super::weights::load_tensors(path, candle_core::DType::F32, &candle_core::Device::Cpu).map_err(|e| e.to_string())?;
        let kind = match format {
            super::weights::WeightFormat::TorchZip => "PyTorch zip checkpoint",
            super::weights::WeightFormat::TorchLegacy => "PyTorch legacy checkpoint",
            super::weights::WeightFormat::Safetensors => "safetensors (named .bin)",
        };
        Ok(format!("{kind}, {} tensors load", tensors.len()))
    } else if lower.ends_with(".gguf") {
        let mut f = std::fs::File::open(path).map_err(|e| format!("unreadable: {e}"))?;
        let bytes_on_disk = f.metadata().map(|m| m.len()).map_err(|e| format!("unreadable: {e}"))?;
        let content = crate::models::llm::read_gguf(&mut f).map_err(|e| format!("GGUF: {e}"))?;
        let n = crate::models::llm::gguf_layout(&content, bytes_on_disk)?;
        Ok(format!("GGUF, {n} tensors, sizes match the file"))
    } else {
        Ok(String::new())
    }
}

/// Check a safetensors JSON header against the file: every tensor's dtype, shape and byte range agree,
/// the ranges tile the data without gaps or overlaps, and the data ends exactly at the end of the file
/// (as the format requires). A file cut in half has a valid header and was reported ok; this is what
/// catches it. Returns the number of tensors.
pub fn safetensors_layout(header: &[u8], file_len: u64) -> std::result::Result<usize, String> {
    let v: serde_json::Value = serde_json::from_slice(header).map_err(|e| format!("safetensors header: {e}"))?;
    let obj = v.as_object().ok_or("safetensors header is not a JSON object")?;
    let mut ranges: Vec<(u64, u64, &str)> = Vec::new();
    for (name, t) in obj.iter().filter(|(k, _)| *k != "__metadata__") {
        let bad = |what: &str| format!("safetensors tensor {name}: {what}");
        let dtype = t.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("no dtype"))?;
        let bits: u64 = match dtype {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 8,
            "I16" | "U16" | "F16" | "BF16" => 16,
            "I32" | "U32" | "F32" => 32,
            "I64" | "U64" | "F64" => 64,
            other => return Err(bad(&format!("unknown dtype {other}"))),
        };
        let shape = t.get("shape").and_then(|s| s.as_array()).ok_or_else(|| bad("no shape"))?;
        let mut elems: u64 = 1;
        for d in shape {
            let d = d.as_u64().ok_or_else(|| bad("shape is not a list of sizes"))?;
            elems = elems.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
        }
        let offsets = t.get("data_offsets").and_then(|o| o.as_array()).filter(|o| o.len() == 2).ok_or_else(|| bad("no data_offsets"))?;
        let (start, end) = match (offsets[0].as_u64(), offsets[1].as_u64()) {
            (Some(s), Some(e)) if s <= e => (s, e),
            _ => return Err(bad("data_offsets are not a range")),
        };
        let want = elems.checked_mul(bits).map(|b| b / 8).ok_or_else(|| bad("size overflows"))?;
        if end - start != want {
            return Err(bad(&format!("{} bytes for {elems} {dtype} values ({want} bytes)", end - start)));
        }
        ranges.push((start, end, name));
    }
    ranges.sort();
    let mut at = 0u64;
    for (start, end, name) in &ranges {
        if *start != at {
            return Err(format!("safetensors tensor {name} starts at byte {start} of the data, expected {at} (a gap or an overlap)"));
        }
        at = *end;
    }
    let data = file_len.saturating_sub(8 + header.len() as u64);
    if at != data {
        return Err(format!("safetensors data is {data} bytes, the header describes {at} (truncated or padded file)"));
    }
    Ok(ranges.len())
}

/// In the hub cache, snapshot files link to `blobs/<etag>`; for LFS files the etag is the content's sha256.
fn check_blob_hash(path: &Path) -> std::result::Result<String, String> {
    let target = match std::fs::read_link(path) {
        Ok(t) => t,
        Err(_) => return Ok(String::new()),
    };
    let blob = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if blob.len() != 64 || !blob.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(String::new());
    }
    let mut f = std::fs::File::open(path).map_err(|e| format!("unreadable: {e}"))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("unreadable: {e}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got == blob.to_ascii_lowercase() {
        Ok("sha256 matches the cache".into())
    } else {
        Err(format!("sha256 mismatch: cache records {blob}, file has {got}"))
    }
}
