//! The model store: turns a model SPEC into a local folder in hub layout, downloading with `hf-hub` into
//! the standard Hugging Face cache when needed and allowed.
//!
//! Cache layout (shared with Python's `huggingface_hub`): `<cache>/models--org--name/{blobs,refs,snapshots}`.
//! A cached model is used without touching the network; offline mode (`--offline`, `HF_HUB_OFFLINE=1`)
//! never touches it.
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};
use indicatif::ProgressBar;

use super::spec::{FileSet, ModelSpec};
use crate::error::{Error, Result};

/// How long we wait for the hub's TCP port before declaring it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

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

