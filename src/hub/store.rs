//! The model store: turns a model SPEC into a local folder in hub layout, downloading into the
//! standard Hugging Face cache when needed and allowed ([`super::download`], on `ureq`).
//!
//! Cache layout (shared with Python's `huggingface_hub`, both ways): `<cache>/models--org--name/
//! {blobs/<etag>, snapshots/<commit>/<file> → ../../blobs/<etag>, refs/<revision>}`, partial downloads
//! in `blobs/<etag>.incomplete`, locks in `<cache>/.locks/`. A cached model is used without touching the
//! network; offline mode (`--offline`, `HF_HUB_OFFLINE=1`) never touches it.
//!
//! Why vertolk has its own download code instead of `hf-hub`: hf-hub 0.4.3 (`api::sync`) sets no read
//! timeout (a silent server hangs it forever), gives up on another process's lock after 5 tries 1 s
//! apart and leaves `blobs/<etag>.lock` files behind, appends a 200 answer to a range request to its
//! `.part` file and renames that into the cache unchecked (no size, no sha256), probes the CDN with the
//! hub's token, and takes one proxy for all schemes with no `NO_PROXY`. hf-hub 1.0 is async (tokio,
//! reqwest, hf-xet), sets no read timeout either, gives up a lock after 10 s, never resumes and checks no
//! sha256. What the store needs is ~1,150 lines with their docs (net.rs, lock.rs, download.rs) on
//! `ureq`, which hf-hub already brought in.
use std::path::{Path, PathBuf};

use url::Url;

use super::download::{is_commit, repo_folder, FetchError, Fetcher, NetFailure, Phase};
use super::net::{Http, NetError, NetSettings};
use super::spec::{FileSet, ModelSpec};
use crate::error::{DownloadCause, Error, Result};

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
    token: Option<Secret>,
    pub offline: bool,
    pub show_progress: bool,
    /// Say on stderr what downloads do (waits for another process, retries, restarts); the CLI turns
    /// this on unless `--quiet`.
    pub notices: bool,
    /// Timeouts, retries, lock patience, proxies.
    pub net: NetSettings,
}

/// The token, kept out of `Debug` output.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<token>")
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

impl ModelStore {
    /// Settings from the environment as Python's `huggingface_hub` reads them, with CLI overrides:
    /// cache `--cache-dir` > `HF_HUB_CACHE` > `$HF_HOME/hub` > `~/.cache/huggingface/hub`;
    /// `HF_ENDPOINT`; token `HF_TOKEN` > `$HF_HOME/token`; offline `--offline` or `HF_HUB_OFFLINE`;
    /// timeouts, retries and proxies as [`NetSettings::from_env`] reads them.
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
            token: token.map(Secret),
            offline: offline || env("HF_HUB_OFFLINE").map(|v| truthy(&v)).unwrap_or(false),
            show_progress,
            notices: false,
            net: NetSettings::from_env(),
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
        repo_folder(&self.cache_dir, repo)
    }

    /// The snapshot folder of `repo@revision` in the cache, if the revision is known locally.
    pub fn snapshot_dir(&self, repo: &str, revision: &str) -> Option<(PathBuf, String)> {
        let base = self.repo_dir(repo);
        let commit = if is_commit(revision) {
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
        self.download(label, repo, revision, files, &missing_now)
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

    /// Download the missing files of `repo@revision`: the required ones, the first weight file the repo
    /// has, the optional ones it has. The first file's answer names the commit and the others are asked
    /// for by that commit, so one snapshot holds them all even if the branch moves meanwhile.
    fn download(&self, label: &str, repo: &str, revision: &str, files: &FileSet, missing: &[String]) -> Result<ResolvedModel> {
        let endpoint = Url::parse(&self.endpoint).map_err(|e| Error::Usage(format!("HF_ENDPOINT {} is not a URL ({e})", self.endpoint)))?;
        let fetcher = Fetcher {
            http: Http::new(self.net.clone(), &endpoint, self.token.as_ref().map(|t| t.0.clone())),
            endpoint,
            cache_dir: &self.cache_dir,
            notices: self.notices,
            show_progress: self.show_progress,
        };
        let ctx = Failure { store: self, label, repo, revision, missing };
        let mut commit: Option<String> = None;
        let mut fetch = |file: &str| -> std::result::Result<(), FetchError> {
            let (_, c) = fetcher.fetch(repo, commit.as_deref().unwrap_or(revision), file)?;
            commit.get_or_insert(c);
            Ok(())
        };
        for f in &files.required {
            fetch(f).map_err(|e| ctx.error(f, e))?;
        }
        if !files.weights.is_empty() {
            let mut got = false;
            for f in &files.weights {
                match fetch(f) {
                    Ok(()) => {
                        got = true;
                        break;
                    }
                    Err(e) if is_missing_file(&e) => tracing::debug!(file = %f, "weight file not in repo"),
                    Err(e) => return Err(ctx.error(f, e)),
                }
            }
            if !got {
                return Err(Error::Download {
                    cause: DownloadCause::NotFound,
                    message: format!(
                        "model '{label}' ({repo} @ {revision}) has none of the weight files {} (HTTP 404). Check the repo id and revision.",
                        files.weights.join(", ")
                    ),
                });
            }
        }
        for f in &files.optional {
            match fetch(f) {
                Ok(()) => {}
                Err(e) if is_missing_file(&e) => {
                    tracing::debug!(file = %f, "optional file not in repo");
                    mark_missing(&self.repo_dir(repo), &e, f);
                }
                Err(e) => return Err(ctx.error(f, e)),
            }
        }
        let commit = commit.ok_or_else(|| Error::ModelUnavailable(format!("model '{label}': nothing to download")))?;
        let path = self.repo_dir(repo).join("snapshots").join(&commit);
        Ok(ResolvedModel { path, repo: Some(repo.into()), revision: Some(revision.into()), commit: Some(commit) })
    }

    /// Download again the files of a cached hub model that failed `models verify` (`bad`: their names
    /// in the snapshot). Their blobs and links are removed, then the model is resolved as usual, which
    /// fetches what is missing.
    pub fn repair(&self, spec: &ModelSpec, files: &FileSet, bad: &[String]) -> Result<ResolvedModel> {
        let (repo, revision) = match spec {
            ModelSpec::Catalog(e) => (e.repo.as_str(), e.revision.as_str()),
            ModelSpec::Hub { repo, revision } => (repo.as_str(), revision.as_str()),
            other => {
                return Err(Error::Usage(format!("{} is not in the hub cache: nothing to download; replace the bad files", other.label())));
            }
        };
        if self.offline {
            return Err(Error::ModelUnavailable(format!(
                "repairing {} downloads its bad files again, but vertolk is offline (--offline or HF_HUB_OFFLINE=1)",
                spec.label()
            )));
        }
        if let Some((dir, _)) = self.snapshot_dir(repo, revision) {
            let blobs = self.repo_dir(repo).join("blobs");
            for f in bad {
                let link = dir.join(f);
                if let Ok(target) = std::fs::read_link(&link) {
                    let blob = link.parent().unwrap_or(&dir).join(target);
                    // only a blob of this repo's cache, never a file a link points to elsewhere
                    if let (Ok(b), Ok(root)) = (blob.canonicalize(), blobs.canonicalize()) {
                        if b.starts_with(&root) {
                            remove_if_present(&b)?;
                        }
                    }
                }
                remove_if_present(&link)?;
            }
        }
        self.resolve(spec, files)
    }
}

fn remove_if_present(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}

/// A 404 for the file itself (not for the repo or revision): an optional file or another weight format.
fn is_missing_file(e: &FetchError) -> bool {
    match e {
        FetchError::Net(f) => match &f.err {
            NetError::Status { code: 404, error_code, .. } => f.phase == Phase::Probe && error_code.as_deref().is_none_or(|c| c == "EntryNotFound"),
            _ => false,
        },
        _ => false,
    }
}

/// `.no_exist/<commit>/<file>`, as `huggingface_hub` records a file the repo does not have.
fn mark_missing(repo_dir: &Path, e: &FetchError, file: &str) {
    if let FetchError::Net(f) = e {
        if let NetError::Status { commit: Some(c), .. } = &f.err {
            if !is_commit(c) {
                return;
            }
            let p = repo_dir.join(".no_exist").join(c).join(file);
            if let Some(d) = p.parent() {
                let _ = std::fs::create_dir_all(d).and_then(|_| std::fs::write(&p, b""));
            }
        }
    }
}

/// The context of a failed download, and the one message per cause.
struct Failure<'a> {
    store: &'a ModelStore,
    label: &'a str,
    repo: &'a str,
    revision: &'a str,
    missing: &'a [String],
}

impl Failure<'_> {
    fn error(&self, file: &str, e: FetchError) -> Error {
        let s = self.store;
        let what = format!("model '{}' ({} @ {})", self.label, self.repo, self.revision);
        let elsewhere = "or set HF_ENDPOINT to a mirror, or copy the cache folder of a machine that has the model and use --offline";
        let download = |cause, message: String| Error::Download { cause, message };
        match e {
            FetchError::Net(failure) => {
                let NetFailure { err, phase, host, got, size, tries, partial } = *failure;
                let size = size.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
                let kept = match (&partial, got) {
                    (Some(p), g) if g > 0 => format!("The {g} bytes are kept in {}: running the same command again resumes there. ", p.display()),
                    _ => "Running the same command again tries again. ".to_string(),
                };
                let times = if tries > 1 { format!(", {tries} tries") } else { String::new() };
                let proxied = |t: &str| t.starts_with("the proxy");
                match err {
                    NetError::Unresolvable { target } if phase == Phase::Probe => {
                        let why = if proxied(&target) {
                            format!("{target} cannot be resolved (the hub endpoint {} is reached through it)", s.endpoint)
                        } else {
                            format!("the hub endpoint {} cannot be resolved", s.endpoint)
                        };
                        s.unavailable(self.label, self.repo, self.revision, self.missing, &why)
                    }
                    NetError::Unreachable { target, timed_out } if phase == Phase::Probe => {
                        let how = if timed_out {
                            format!("no answer within {} s", s.net.etag_timeout.as_secs_f64())
                        } else {
                            "the connection was refused".to_string()
                        };
                        let why = if proxied(&target) {
                            format!("the hub endpoint {} is unreachable: {target}: {how}", s.endpoint)
                        } else {
                            format!("the hub endpoint {} is unreachable ({how})", s.endpoint)
                        };
                        s.unavailable(self.label, self.repo, self.revision, self.missing, &why)
                    }
                    NetError::Unresolvable { target } | NetError::Unreachable { target, .. } => download(
                        DownloadCause::Unreachable,
                        format!(
                            "{what}: the hub sends {file} from {target}, which cannot be reached from here. A firewall or the proxy \
                             settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) may block it; {elsewhere}."
                        ),
                    ),
                    NetError::Stalled if phase == Phase::Probe => download(
                        DownloadCause::Stalled,
                        format!(
                            "{what}: {host} did not answer within {} s when asked about {file}{times}. On a slow link raise the limit \
                             (--etag-timeout or HF_HUB_ETAG_TIMEOUT); {elsewhere}.",
                            s.net.etag_timeout.as_secs_f64()
                        ),
                    ),
                    NetError::Stalled => download(
                        DownloadCause::Stalled,
                        format!(
                            "{what}: downloading {file} stalled: {host} sent nothing for {} s after {got} of {size} bytes{times}. {kept}\
                             On a slow link raise the limit (--download-timeout or HF_HUB_DOWNLOAD_TIMEOUT); {elsewhere}.",
                            s.net.download_timeout.as_secs_f64()
                        ),
                    ),
                    NetError::Dropped { .. } => download(
                        DownloadCause::Dropped,
                        format!(
                            "{what}: downloading {file} failed: the connection to {host} dropped after {got} of {size} bytes{times}. {kept}\
                             If it keeps dropping, allow more tries (--retries or VERTOLK_DOWNLOAD_RETRIES), {elsewhere}."
                        ),
                    ),
                    NetError::Status { code: 429, .. } => download(
                        DownloadCause::RateLimited,
                        format!(
                            "{what}: {host} answered HTTP 429 (too many requests) for {file}{times}. Try again later; requests with a \
                             token (HF_TOKEN) get higher limits."
                        ),
                    ),
                    NetError::Status { code, .. } if code >= 500 || code == 408 => download(
                        DownloadCause::ServerError,
                        format!(
                            "{what}: {host} answered HTTP {code} (a server error) for {file}{times}. The request is fine, the server is \
                             not: try again later, {elsewhere}."
                        ),
                    ),
                    NetError::Status { code: 404, error_code, .. } => {
                        let message = match error_code.as_deref() {
                            Some("RepoNotFound") => format!(
                                "{what}: the repo {} does not exist on {} (HTTP 404). Check the repo id (`org/name`), or pass --model with a \
                                 local folder.",
                                self.repo, s.endpoint
                            ),
                            Some("RevisionNotFound") => format!(
                                "{what}: revision {} does not exist in {} (HTTP 404). Check the revision after '@' (a branch, tag or commit).",
                                self.revision, self.repo
                            ),
                            _ => format!("{what}: {file} is not in {} at {} (HTTP 404). Check the repo id and revision.", self.repo, self.revision),
                        };
                        download(DownloadCause::NotFound, message)
                    }
                    NetError::Status { code: code @ (401 | 403), .. } => {
                        let message = if s.has_token() {
                            format!(
                                "{what}: the hub refused access to {} (HTTP {code}): the token from HF_TOKEN (or $HF_HOME/token) was refused \
                                 for it. It may be expired or lack access; for a gated repo accept its terms at {}/{} first.",
                                self.repo, s.endpoint, self.repo
                            )
                        } else {
                            format!(
                                "{what}: the hub refused access to {} (HTTP {code}): it is gated or private (or does not exist). Set HF_TOKEN \
                                 (or run `huggingface-cli login`) to a token that may read it; for a gated repo accept its terms at {}/{} first.",
                                self.repo, s.endpoint, self.repo
                            )
                        };
                        download(DownloadCause::Unauthorized, message)
                    }
                    NetError::Status { code, .. } => download(
                        DownloadCause::Protocol,
                        format!("{what}: {host} answered HTTP {code} for {file}. Check HF_ENDPOINT ({}) and the proxy settings.", s.endpoint),
                    ),
                    NetError::Proxy { proxy, detail } => download(
                        DownloadCause::Protocol,
                        format!(
                            "{what}: {proxy} failed ({detail}) while fetching {file}. Check the proxy settings (HTTP_PROXY, HTTPS_PROXY, \
                             ALL_PROXY, NO_PROXY)."
                        ),
                    ),
                    NetError::Other { detail } => {
                        download(DownloadCause::Protocol, format!("{what}: fetching {file} from {host} failed ({detail}). {kept}"))
                    }
                }
            }
            FetchError::Lock { path, waited } => download(
                DownloadCause::LockTimeout,
                format!(
                    "{what}: another process is downloading {file} into the shared cache ({}) and made no progress for {} s \
                     (lock {}); gave up after waiting {:.0} s. If that process hangs, stop it (its lock goes with it) and run the \
                     command again; to wait longer: --lock-timeout or VERTOLK_LOCK_TIMEOUT.",
                    s.cache_dir.display(),
                    s.net.lock_timeout.as_secs_f64(),
                    path.display(),
                    waited.as_secs_f64()
                ),
            ),
            FetchError::Corrupt { host, expected, got } => download(
                DownloadCause::Corrupt,
                format!(
                    "{what}: {file} from {host} did not match the hub's sha256 twice (expected {expected}, got {got}): something between \
                     the hub and here alters it. Nothing was written to the cache; {elsewhere}."
                ),
            ),
            FetchError::SizeChanged { host, expected, got } => download(
                DownloadCause::Corrupt,
                format!(
                    "{what}: {host} sent {got} bytes for {file}, but the hub says it has {expected}: the file changed on the server, or \
                     something alters it. Nothing was written to the cache; run the command again."
                ),
            ),
            FetchError::Protocol { host, detail } => download(
                DownloadCause::Protocol,
                format!(
                    "{what}: {host} {detail} for {file}: it does not answer like a Hugging Face hub. Check HF_ENDPOINT ({}) and the \
                     proxy settings.",
                    s.endpoint
                ),
            ),
            FetchError::Io { path, err } => download(
                DownloadCause::LocalIo,
                format!(
                    "{what}: writing {} failed: {err}. Check the free space and permissions of the cache ({}; --cache-dir, HF_HUB_CACHE, \
                     HF_HOME).",
                    path.display(),
                    s.cache_dir.display()
                ),
            ),
        }
    }
}
