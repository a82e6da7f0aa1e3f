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
        let mut f = std::fs::File::open(path).map_err(|e| format!("unreadable: {e}"))?;
        let mut n = [0u8; 8];
        f.read_exact(&mut n).map_err(|_| "truncated safetensors header".to_string())?;
        let len = u64::from_le_bytes(n);
        if len > 100_000_000 || len + 8 > std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) {
            return Err("safetensors header length is out of range".into());
        }
        let mut h = vec![0u8; len as usize];
        f.read_exact(&mut h).map_err(|_| "truncated safetensors header".to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&h).map_err(|e| format!("safetensors header: {e}"))?;
        let n = v.as_object().map(|o| o.keys().filter(|k| *k != "__metadata__").count()).unwrap_or(0);
        Ok(format!("safetensors, {n} tensors"))
    } else if lower.ends_with(".bin") || lower.ends_with(".pt") || lower.ends_with(".pth") {
        match super::weights::detect_format(path).map_err(|e| e.to_string())? {
            super::weights::WeightFormat::TorchZip => Ok("PyTorch zip checkpoint".into()),
            super::weights::WeightFormat::TorchLegacy => Ok("PyTorch legacy checkpoint".into()),
            super::weights::WeightFormat::Safetensors => Ok("safetensors (named .bin)".into()),
        }
    } else if lower.ends_with(".gguf") {
        let mut f = std::fs::File::open(path).map_err(|e| format!("unreadable: {e}"))?;
        let mut h = [0u8; 8];
        f.read_exact(&mut h).map_err(|_| "truncated GGUF header".to_string())?;
        if &h[..4] != b"GGUF" {
            return Err("not a GGUF file (bad magic)".into());
        }
        Ok(format!("GGUF v{}", u32::from_le_bytes([h[4], h[5], h[6], h[7]])))
    } else {
        Ok(String::new())
    }
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
