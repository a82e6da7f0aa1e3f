//! The model store: turns a model SPEC into a local folder in hub layout, downloading with `hf-hub` into
//! the standard Hugging Face cache when needed and allowed.
//!
//! A SPEC is a catalogue name (`opus-mt-de-en`), a hub repo id with optional revision
//! (`Helsinki-NLP/opus-mt-de-en@<rev>`), a local model folder, or a local `.gguf` file. An existing local
//! path always wins over a catalogue name or repo id, as in `transformers`.
//!
//! Cache layout (shared with Python's `huggingface_hub`): `<cache>/models--org--name/{blobs,refs,snapshots}`.
//! A cached model is used without touching the network; offline mode (`--offline`, `HF_HUB_OFFLINE=1`)
//! never touches it.
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};
use indicatif::ProgressBar;
use sha2::Digest;

use crate::catalog::{Catalog, CatalogEntry};
use crate::error::{Error, Result};

/// How long we wait for the hub's TCP port before declaring it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Files of a model: all required, the first available weight file, optional ones if present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileSet {
    pub required: Vec<String>,
    pub weights: Vec<String>,
    pub optional: Vec<String>,
}

impl FileSet {
    /// What a Marian translator needs (used for hub repos that are not in the catalogue).
    pub fn marian() -> Self {
        Self {
            required: ["config.json", "source.spm", "target.spm", "vocab.json"].map(String::from).to_vec(),
            weights: crate::weights::WEIGHT_FILES.map(String::from).to_vec(),
            optional: ["generation_config.json", "tokenizer_config.json", "special_tokens_map.json", "target_vocab.json"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// What a BART summarizer needs: the tokenizer comes as tokenizer.json or vocab.json + merges.txt.
    pub fn bart() -> Self {
        Self {
            required: ["config.json"].map(String::from).to_vec(),
            weights: crate::weights::WEIGHT_FILES.map(String::from).to_vec(),
            optional: ["generation_config.json", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]
                .map(String::from)
                .to_vec(),
        }
    }

    pub fn of_entry(e: &CatalogEntry) -> Self {
        Self { required: e.required_files.clone(), weights: e.weight_files.clone(), optional: e.optional_files.clone() }
    }

    /// Required files plus a weight file missing from `dir` (empty when the folder is complete).
    pub fn missing_in(&self, dir: &Path) -> Vec<String> {
        let mut missing: Vec<String> = self.required.iter().filter(|f| !dir.join(f).is_file()).cloned().collect();
        if !self.weights.is_empty() && !self.weights.iter().any(|f| dir.join(f).is_file()) {
            missing.push(format!("one of {}", self.weights.join(" / ")));
        }
        missing
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    Catalog(CatalogEntry),
    Hub { repo: String, revision: String },
    LocalDir(PathBuf),
    Gguf(PathBuf),
}

impl ModelSpec {
    pub fn parse(spec: &str, catalog: &Catalog) -> Result<Self> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::Usage("empty model spec".into()));
        }
        let path = Path::new(spec);
        if path.is_dir() {
            return Ok(ModelSpec::LocalDir(path.to_path_buf()));
        }
        if spec.to_ascii_lowercase().ends_with(".gguf") {
            if path.is_file() {
                return Ok(ModelSpec::Gguf(path.to_path_buf()));
            }
            return Err(Error::ModelUnavailable(format!("GGUF file {spec} does not exist")));
        }
        if let Some(e) = catalog.get(spec) {
            return Ok(ModelSpec::Catalog(e.clone()));
        }
        let (repo, revision) = match spec.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev.to_string()),
            Some(_) => return Err(Error::Usage(format!("model spec {spec}: empty revision after '@'"))),
            None => (spec, "main".to_string()),
        };
        let valid_part = |p: &str| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !p.starts_with('.')
        };
        match repo.split_once('/') {
            Some((org, name)) if valid_part(org) && valid_part(name) && !spec.starts_with('.') => {
                Ok(ModelSpec::Hub { repo: repo.to_string(), revision })
            }
            _ => Err(Error::UnknownModel { name: spec.to_string(), known: catalog.names().join(", ") }),
        }
    }

    /// A short human label: catalogue name, repo@rev or path.
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Catalog(e) => e.name.clone(),
            ModelSpec::Hub { repo, revision } => format!("{repo}@{revision}"),
            ModelSpec::LocalDir(p) | ModelSpec::Gguf(p) => p.display().to_string(),
        }
    }
}

/// A model resolved to local files.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResolvedModel {
    /// Folder holding the files (a snapshot folder for hub models), or the `.gguf` file itself.
    pub path: PathBuf,
    pub repo: Option<String>,
    pub revision: Option<String>,
    /// The commit the snapshot belongs to, when known.
    pub commit: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ModelStore {
    pub cache_dir: PathBuf,
    pub endpoint: String,
    token: Option<String>,
    pub offline: bool,
    pub show_progress: bool,
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

impl ModelStore {
    /// Settings from the environment as Python's `huggingface_hub` reads them, with CLI overrides:
    /// cache `--cache-dir` > `HF_HUB_CACHE` > `$HF_HOME/hub` > `~/.cache/huggingface/hub`;
    /// `HF_ENDPOINT`; token `HF_TOKEN` > `$HF_HOME/token`; offline `--offline` or `HF_HUB_OFFLINE`.
    pub fn from_env(cache_dir: Option<PathBuf>, offline: bool, show_progress: bool) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let hf_home = env("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let home = env("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
            env("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".cache")).join("huggingface")
        });
        let cache_dir = cache_dir.or_else(|| env("HF_HUB_CACHE").map(PathBuf::from)).unwrap_or_else(|| hf_home.join("hub"));
        let token = env("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(hf_home.join("token")).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
        });
        Self {
            cache_dir,
            endpoint: env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()).trim_end_matches('/').to_string(),
            token,
            offline: offline || env("HF_HUB_OFFLINE").map(|v| truthy(&v)).unwrap_or(false),
            show_progress,
        }
    }

    /// The same store, never touching the network.
    pub fn offline_view(&self) -> Self {
        Self { offline: true, ..self.clone() }
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `<cache>/models--org--name`
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.cache_dir.join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The snapshot folder of `repo@revision` in the cache, if the revision is known locally.
    pub fn snapshot_dir(&self, repo: &str, revision: &str) -> Option<(PathBuf, String)> {
        let base = self.repo_dir(repo);
        let commit = if is_commit_sha(revision) {
            revision.to_string()
        } else {
            std::fs::read_to_string(base.join("refs").join(revision)).ok()?.trim().to_string()
        };
        let dir = base.join("snapshots").join(&commit);
        dir.is_dir().then_some((dir, commit))
    }

    /// Resolve a spec to local files, downloading what is missing unless offline.
    pub fn resolve(&self, spec: &ModelSpec, files: &FileSet) -> Result<ResolvedModel> {
        match spec {
            ModelSpec::LocalDir(dir) => {
                let missing = files.missing_in(dir);
                if !missing.is_empty() {
                    return Err(Error::ModelUnavailable(format!(
                        "model folder {} is incomplete: missing {}. A model folder needs the files of the hub repo (config.json, the tokenizer files and the weights).",
                        dir.display(),
                        missing.join(", ")
                    )));
                }
                Ok(ResolvedModel { path: dir.clone(), repo: None, revision: None, commit: None })
            }
            ModelSpec::Gguf(p) => Ok(ResolvedModel { path: p.clone(), repo: None, revision: None, commit: None }),
            ModelSpec::Catalog(e) => self.resolve_hub(&e.name, &e.repo, &e.revision, files),
            ModelSpec::Hub { repo, revision } => self.resolve_hub(repo, repo, revision, files),
        }
    }

    fn resolve_hub(&self, label: &str, repo: &str, revision: &str, files: &FileSet) -> Result<ResolvedModel> {
        if let Some((dir, commit)) = self.snapshot_dir(repo, revision) {
            if files.missing_in(&dir).is_empty() {
                tracing::debug!(model = label, dir = %dir.display(), "using cached model");
                return Ok(ResolvedModel { path: dir, repo: Some(repo.into()), revision: Some(revision.into()), commit: Some(commit) });
            }
        }
        let missing_now = self
            .snapshot_dir(repo, revision)
            .map(|(d, _)| files.missing_in(&d))
            .unwrap_or_else(|| files.missing_in(Path::new("/nonexistent-vertolk-snapshot")));
        if self.offline {
            return Err(self.unavailable(label, repo, revision, &missing_now, "vertolk is offline (--offline or HF_HUB_OFFLINE=1)"));
        }
        self.check_reachable().map_err(|why| self.unavailable(label, repo, revision, &missing_now, &why))?;
        self.download(label, repo, revision, files)
    }

    fn unavailable(&self, label: &str, repo: &str, revision: &str, missing: &[String], why: &str) -> Error {
        Error::ModelUnavailable(format!(
            "model '{label}' ({repo} @ {revision}) is not available: {why}, and the local cache ({}) lacks {}. \
             To fix: run `vertolk models pull {label}` on a machine with internet access and copy its cache folder here \
             (point HF_HUB_CACHE or --cache-dir at it); or pass --model with a local folder holding the model's files; \
             or set HF_ENDPOINT to a reachable hub mirror.",
            self.cache_dir.display(),
            if missing.is_empty() { "nothing".to_string() } else { missing.join(", ") }
        ))
    }

    /// Fail fast (bounded time) when the hub's host does not accept connections.
    fn check_reachable(&self) -> std::result::Result<(), String> {
        let url = &self.endpoint;
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let hostport = rest.split('/').next().unwrap_or(rest);
        let default_port = if url.starts_with("http://") { 80 } else { 443 };
        let addr = if hostport.rsplit_once(':').map(|(_, p)| p.parse::<u16>().is_ok()).unwrap_or(false) {
            hostport.to_string()
        } else {
            format!("{hostport}:{default_port}")
        };
        let addrs: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| format!("the hub endpoint {url} cannot be resolved ({e})"))?
            .collect();
        for a in &addrs {
            if TcpStream::connect_timeout(a, CONNECT_TIMEOUT).is_ok() {
                return Ok(());
            }
        }
        Err(format!("the hub endpoint {url} is unreachable"))
    }

    fn download(&self, label: &str, repo: &str, revision: &str, files: &FileSet) -> Result<ResolvedModel> {
        let api = ApiBuilder::new()
            .with_endpoint(self.endpoint.clone())
            .with_cache_dir(self.cache_dir.clone())
            .with_token(self.token.clone())
            .with_progress(false)
            .build()
            .map_err(|e| Error::ModelUnavailable(format!("model '{label}': cannot start the hub client: {e}")))?;
        let hub = api.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string()));
        let fetch = |file: &str| -> std::result::Result<PathBuf, ApiError> {
            let bar = if self.show_progress { ProgressBar::new(0) } else { ProgressBar::hidden() };
            hub.download_with_progress(file, bar)
        };
        let fail = |file: &str, e: ApiError| {
            Error::ModelUnavailable(format!(
                "model '{label}' ({repo} @ {revision}): downloading {file} failed: {}. Check the repo id and revision, \
                 HF_TOKEN for gated repos, or use --model with a local folder.",
                describe_api_error(&e)
            ))
        };
        let mut snapshot: Option<PathBuf> = None;
        for f in &files.required {
            let p = fetch(f).map_err(|e| fail(f, e))?;
            snapshot.get_or_insert_with(|| p.parent().map(Path::to_path_buf).unwrap_or_default());
        }
        if !files.weights.is_empty() {
            let mut last_err = None;
            let mut got = false;
            for f in &files.weights {
                match fetch(f) {
                    Ok(p) => {
                        snapshot.get_or_insert_with(|| p.parent().map(Path::to_path_buf).unwrap_or_default());
                        got = true;
                        break;
                    }
                    Err(e) if is_not_found(&e) => last_err = Some((f.clone(), e)),
                    Err(e) => return Err(fail(f, e)),
                }
            }
            if !got {
                let (f, e) = last_err.ok_or_else(|| Error::ModelUnavailable(format!("model '{label}': no weight files listed")))?;
                return Err(fail(&f, e));
            }
        }
        for f in &files.optional {
            match fetch(f) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => tracing::debug!(file = %f, "optional file not in repo"),
                Err(e) => return Err(fail(f, e)),
            }
        }
        let path = snapshot.ok_or_else(|| Error::ModelUnavailable(format!("model '{label}': nothing to download")))?;
        let commit = path.file_name().map(|c| c.to_string_lossy().into_owned());
        Ok(ResolvedModel { path, repo: Some(repo.into()), revision: Some(revision.into()), commit })
    }
}

fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_not_found(e: &ApiError) -> bool {
    matches!(e, ApiError::RequestError(b) if matches!(**b, ureq::Error::Status(404, _)))
}

/// The error without anything that could carry the token (ureq's errors name URLs, never headers).
fn describe_api_error(e: &ApiError) -> String {
    match e {
        ApiError::RequestError(b) => match &**b {
            ureq::Error::Status(code, _) => format!("HTTP status {code}"),
            ureq::Error::Transport(t) => format!("network error ({})", t.kind()),
        },
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

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
        match crate::weights::detect_format(path).map_err(|e| e.to_string())? {
            crate::weights::WeightFormat::TorchZip => Ok("PyTorch zip checkpoint".into()),
            crate::weights::WeightFormat::TorchLegacy => Ok("PyTorch legacy checkpoint".into()),
            crate::weights::WeightFormat::Safetensors => Ok("safetensors (named .bin)".into()),
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
