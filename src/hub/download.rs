//! One file of a hub repo into the cache, the way Python's `huggingface_hub` does it, plus what it
//! leaves out: verification before a blob enters the cache, and resumes that a server ignoring `Range`
//! cannot corrupt.
//!
//! 1. `HEAD {endpoint}/{repo}/resolve/{revision}/{file}`, following relative redirects only (a renamed
//!    repo). The answer names the commit (`X-Repo-Commit`), the etag (`X-Linked-Etag`, else `ETag`:
//!    the sha256 of an LFS file, the git blob id of another) and the size (`X-Linked-Size`, else
//!    `Content-Length`); an absolute redirect (`Location`) names where the bytes are (the CDN).
//! 2. Under the blob's lock ([`super::lock`]), `GET` the bytes into `blobs/<etag>.incomplete`, from
//!    where a partial file ends (`Range: bytes=N-`). A 206 must start at N; a 200 means the range was
//!    ignored, so the partial file is emptied and the whole file taken (never appended); a 416 empties
//!    it too. The token goes only to the hub's own host.
//! 3. The blob enters the cache (renamed from `.incomplete`) only when its size is the hub's and, for an
//!    LFS file, its sha256 equals the etag; a mismatch discards it and downloads once more from zero.
//! 4. `snapshots/<commit>/<file>` becomes a relative symlink to `../../blobs/<etag>` and
//!    `refs/<revision>` holds the commit (only for a branch or tag, as Python writes it).
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use sha2::Digest;
use url::Url;

use super::lock::{CacheLock, LockError, Waiting};
use super::net::{host_of, Http, NetError, NetSettings};

/// At most this many redirects are followed for one request.
const MAX_REDIRECTS: usize = 10;
const CHUNK: usize = 1 << 16;

/// Where a failure happened: asking the hub about the file, or fetching its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Probe,
    Body,
}

/// A request that failed (`tries` times, when transient); `got` bytes of `size` are in `partial`.
#[derive(Debug)]
pub struct NetFailure {
    pub err: NetError,
    pub phase: Phase,
    pub host: String,
    pub got: u64,
    pub size: Option<u64>,
    pub tries: u32,
    pub partial: Option<PathBuf>,
}

/// A failed fetch, with what a message needs.
#[derive(Debug)]
pub enum FetchError {
    Net(Box<NetFailure>),
    /// Another process holds the blob's lock and made no progress for the lock timeout.
    Lock { path: PathBuf, waited: Duration },
    /// The bytes did not match the hub's sha256, twice.
    Corrupt { host: String, expected: String, got: String },
    /// The server's size for the file differs from the hub's.
    SizeChanged { host: String, expected: u64, got: u64 },
    /// The answers were not the hub's protocol.
    Protocol { host: String, detail: String },
    /// Writing the cache failed.
    Io { path: PathBuf, err: std::io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |err| FetchError::Io { path: path.to_path_buf(), err }
}

/// What the hub says about a file.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub commit: String,
    pub etag: String,
    pub size: u64,
    /// Where the bytes are: the resolve URL itself, or the CDN URL it redirects to.
    pub location: Url,
}

/// The `huggingface_hub` etag: `W/` and quotes removed.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

/// An LFS file's etag is the sha256 of its content.
pub fn is_sha256(etag: &str) -> bool {
    etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Safe as one path component (etags and commits name files and folders in the cache).
fn is_safe_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) && !s.starts_with('.')
}

/// `bytes a-b/total` → (a, total); `total` may be `*`.
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim();
    let (span, total) = rest.split_once('/')?;
    let (start, _) = span.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// Percent-encoded as Python's `quote(revision, safe="")` / `quote(filename)` encode them.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<cache>/models--org--name`
pub fn repo_folder(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

/// Attempts left for one file: a try that made progress renews them.
struct Budget {
    retries: u32,
    left: u32,
    tries: u32,
}

impl Budget {
    fn new(retries: u32) -> Self {
        Self { retries, left: retries, tries: 0 }
    }

    /// Count a failed try; the number of tries so far.
    fn failed(&mut self) -> u32 {
        self.tries += 1;
        self.tries
    }

    /// After a transient failure: the wait before trying again, or None when the tries are spent.
    fn again(&mut self, progressed: bool, err: &NetError) -> Option<Duration> {
        if !err.is_transient() {
            return None;
        }
        if progressed {
            self.left = self.retries;
        }
        if self.left == 0 {
            return None;
        }
        let n = self.retries - self.left;
        self.left -= 1;
        Some(NetSettings::wait_before_retry(n, err.retry_after()))
    }
}

/// Fetches files of hub repos into one cache.
pub struct Fetcher<'a> {
    pub http: Http,
    pub endpoint: Url,
    pub cache_dir: &'a Path,
    /// Say on stderr what happens (waits, retries, restarts).
    pub notices: bool,
    pub show_progress: bool,
}

impl Fetcher<'_> {
    fn note(&self, bar: Option<&ProgressBar>, msg: &str) {
        if !self.notices {
            tracing::info!("{msg}");
            return;
        }
        match bar {
            Some(b) if !b.is_hidden() => b.suspend(|| eprintln!("note: {msg}")),
            _ => eprintln!("note: {msg}"),
        }
    }

    pub fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> Url {
        let base = self.endpoint.as_str().trim_end_matches('/');
        let s = format!("{base}/{}/resolve/{}/{}", encode(repo, true), encode(revision, false), encode(file, true));
        // built from a parsed URL and encoded parts: always parses
        Url::parse(&s).unwrap_or_else(|_| self.endpoint.clone())
    }

    /// Where `file` of `repo@commit` is in the cache.
    pub fn pointer(&self, repo: &str, commit: &str, file: &str) -> PathBuf {
        repo_folder(self.cache_dir, repo).join("snapshots").join(commit).join(file)
    }

    /// Fetch `file` of `repo` at `revision` unless the cache has it: its snapshot path and commit.
    pub fn fetch(&self, repo: &str, revision: &str, file: &str) -> Result<(PathBuf, String), FetchError> {
        // a commit's files never change: an existing one is used without asking
        if is_commit(revision) {
            let p = self.pointer(repo, revision, file);
            if p.is_file() {
                return Ok((p, revision.to_string()));
            }
        }
        let mut budget = Budget::new(self.http.settings().retries);
        let meta = self.probe(repo, revision, file, &mut budget)?;
        let base = repo_folder(self.cache_dir, repo);
        let pointer = self.pointer(repo, &meta.commit, file);
        if revision != meta.commit {
            write_ref(&base, revision, &meta.commit)?;
        }
        if pointer.is_file() {
            return Ok((pointer, meta.commit));
        }
        let blobs = base.join("blobs");
        let blob = blobs.join(&meta.etag);
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        if !has_blob(&blob, meta.size) {
            let lock_path = self.cache_dir.join(".locks").join(base.file_name().unwrap_or_default()).join(format!("{}.lock", meta.etag));
            let _lock = self.lock(&lock_path, &blobs, &meta.etag, file)?;
            // the process we waited for may have finished it
            if !has_blob(&blob, meta.size) {
                self.download_blob(file, &meta, &blob, &mut budget)?;
            }
            link(&blob, &pointer)?;
        } else {
            link(&blob, &pointer)?;
        }
        Ok((pointer, meta.commit))
    }

    fn lock(&self, path: &Path, blobs: &Path, etag: &str, file: &str) -> Result<CacheLock, FetchError> {
        let patience = self.http.settings().lock_timeout;
        let progress = || partial_bytes(blobs, etag);
        let note = |w: Waiting| {
            if w.first {
                self.note(
                    None,
                    &format!(
                        "waiting for another process that is downloading {file} into the shared cache (lock {}); \
                         gives up after {} s without progress (--lock-timeout, VERTOLK_LOCK_TIMEOUT)",
                        path.display(),
                        patience.as_secs_f64()
                    ),
                );
            } else {
                self.note(None, &format!("still waiting for {file} ({:.0} s, {} bytes downloaded by the other process)", w.waited.as_secs_f64(), w.progress));
            }
        };
        CacheLock::acquire(path, patience, progress, note).map_err(|e| match e {
            LockError::Timeout { waited } => FetchError::Lock { path: path.to_path_buf(), waited },
            LockError::Io(err) => FetchError::Io { path: path.to_path_buf(), err },
        })
    }

    /// Ask the hub about a file (step 1), retrying transient failures.
    fn probe(&self, repo: &str, revision: &str, file: &str, budget: &mut Budget) -> Result<FileMeta, FetchError> {
        let start = self.resolve_url(repo, revision, file);
        let timeout = self.http.settings().etag_timeout;
        loop {
            match self.head(&start, timeout) {
                Ok((url, resp)) => {
                    let mut meta = meta_from(&url, &resp)?;
                    // served by the hub itself: ask for the bytes by commit, so that a branch moving
                    // between the two requests cannot give another version's bytes
                    if meta.location == start && revision != meta.commit {
                        meta.location = self.resolve_url(repo, &meta.commit, file);
                    }
                    return Ok(meta);
                }
                Err((host, err)) => {
                    let tries = budget.failed();
                    if let Some(wait) = budget.again(false, &err) {
                        self.note(None, &format!("{file}: {} ({host}); trying again in {:.1} s", describe_brief(&err, timeout), wait.as_secs_f64()));
                        std::thread::sleep(wait);
                        continue;
                    }
                    return Err(FetchError::Net(Box::new(NetFailure { err, phase: Phase::Probe, host, got: 0, size: None, tries, partial: None })));
                }
            }
        }
    }

    /// `HEAD`, following relative redirects (same host) only, as `huggingface_hub` does.
    fn head(&self, start: &Url, timeout: Duration) -> Result<(Url, ureq::Response), (String, NetError)> {
        let mut url = start.clone();
        for _ in 0..MAX_REDIRECTS {
            let resp = self.http.send("HEAD", &url, None, timeout).map_err(|e| (host_of(&url), e))?;
            if (300..400).contains(&resp.status()) {
                if let Some(loc) = resp.header("Location") {
                    if Url::parse(loc).is_err() {
                        if let Ok(next) = url.join(loc) {
                            url = next;
                            continue;
                        }
                    }
                }
            }
            return Ok((url, resp));
        }
        Err((host_of(&url), NetError::Other { detail: "too many redirects".into() }))
    }

    /// `GET` from `from`, following every redirect (the token only where [`Http::sends_token_to`]).
    fn get(&self, start: &Url, from: Option<u64>, timeout: Duration) -> Result<(Url, ureq::Response), (String, NetError)> {
        let mut url = start.clone();
        for _ in 0..MAX_REDIRECTS {
            let resp = self.http.send("GET", &url, from, timeout).map_err(|e| (host_of(&url), e))?;
            if (300..400).contains(&resp.status()) {
                if let Some(next) = resp.header("Location").and_then(|l| url.join(l).ok()) {
                    url = next;
                    continue;
                }
            }
            return Ok((url, resp));
        }
        Err((host_of(&url), NetError::Other { detail: "too many redirects".into() }))
    }

    /// Step 2 and 3: the bytes into `blobs/<etag>.incomplete`, verified, then renamed to `blob`.
    fn download_blob(&self, file: &str, meta: &FileMeta, blob: &Path, budget: &mut Budget) -> Result<(), FetchError> {
        let partial = blob.with_file_name(format!("{}.incomplete", meta.etag));
        let lfs = is_sha256(&meta.etag);
        let timeout = self.http.settings().download_timeout;
        let bar = crate::progress::byte_bar(self.show_progress, meta.size, file);
        let mut restarted_for_checksum = false;
        loop {
            let mut f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&partial).map_err(io_err(&partial))?;
            let mut have = f.metadata().map_err(io_err(&partial))?.len();
            if have > meta.size {
                f.set_len(0).map_err(io_err(&partial))?;
                have = 0;
            }
            let mut hasher = sha2::Sha256::new();
            if lfs && have > 0 {
                have = hash_prefix(&mut f, have, &mut hasher).map_err(io_err(&partial))?;
            }
            f.seek(SeekFrom::Start(have)).map_err(io_err(&partial))?;
            f.set_len(have).map_err(io_err(&partial))?;
            if have > 0 {
                self.note(Some(&bar), &format!("{file}: resuming at {have} of {} bytes", meta.size));
            }
            bar.set_position(have);
            let mut host = host_of(&meta.location);
            while have < meta.size {
                let before = have;
                match self.transfer(file, meta, (&mut f, &partial), &mut have, &mut hasher, &bar, timeout, &mut host) {
                    Ok(()) => {}
                    Err(Transfer::Net(err)) => match (budget.failed(), budget.again(have > before, &err)) {
                        (_, Some(wait)) => {
                            self.note(
                                Some(&bar),
                                &format!(
                                    "{file}: {} after {have} of {} bytes ({host}); trying again in {:.1} s",
                                    describe_brief(&err, timeout),
                                    meta.size,
                                    wait.as_secs_f64()
                                ),
                            );
                            std::thread::sleep(wait);
                        }
                        (tries, None) => {
                            bar.abandon();
                            let _ = f.flush();
                            return Err(FetchError::Net(Box::new(NetFailure {
                                err,
                                phase: Phase::Body,
                                host,
                                got: have,
                                size: Some(meta.size),
                                tries,
                                partial: Some(partial),
                            })));
                        }
                    },
                    Err(Transfer::Fatal(e)) => {
                        bar.abandon();
                        return Err(e);
                    }
                }
            }
            drop(f);
            if lfs {
                let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
                if got != meta.etag.to_ascii_lowercase() {
                    let _ = std::fs::remove_file(&partial);
                    if restarted_for_checksum {
                        bar.abandon();
                        return Err(FetchError::Corrupt { host, expected: meta.etag.clone(), got });
                    }
                    restarted_for_checksum = true;
                    self.note(Some(&bar), &format!("{file}: the download's sha256 is not the hub's; discarded, downloading again from the start"));
                    bar.set_position(0);
                    continue;
                }
            }
            std::fs::rename(&partial, blob).map_err(io_err(blob))?;
            bar.finish_and_clear();
            return Ok(());
        }
    }

    /// One `GET` of the rest of the file into `f`; `have` and `hasher` follow every byte written.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &self,
        file: &str,
        meta: &FileMeta,
        (f, partial): (&mut File, &Path),
        have: &mut u64,
        hasher: &mut sha2::Sha256,
        bar: &ProgressBar,
        timeout: Duration,
        host: &mut String,
    ) -> Result<(), Transfer> {
        let from = (*have > 0).then_some(*have);
        let (url, resp) = self.get(&meta.location, from, timeout).map_err(|(h, e)| {
            *host = h;
            Transfer::Net(e)
        })?;
        *host = host_of(&url);
        let fatal = |e: FetchError| Transfer::Fatal(e);
        let restart = |f: &mut File, have: &mut u64, hasher: &mut sha2::Sha256| -> Result<(), Transfer> {
            f.set_len(0).and_then(|_| f.seek(SeekFrom::Start(0))).map_err(|e| Transfer::Fatal(FetchError::Io { path: partial.to_path_buf(), err: e }))?;
            *have = 0;
            *hasher = sha2::Sha256::new();
            bar.set_position(0);
            Ok(())
        };
        match resp.status() {
            206 => {
                let (start, total) = resp.header("Content-Range").and_then(parse_content_range).unwrap_or((u64::MAX, None));
                if let Some(t) = total {
                    if t != meta.size {
                        return Err(fatal(FetchError::SizeChanged { host: host.clone(), expected: meta.size, got: t }));
                    }
                }
                if start != *have {
                    if start != 0 {
                        return Err(Transfer::Net(NetError::Dropped { detail: format!("the server sent bytes from {start}, not from {have}") }));
                    }
                    restart(f, have, hasher)?;
                }
            }
            200 => {
                if *have > 0 {
                    self.note(Some(bar), &format!("{file}: {host} ignored the range request and sent the whole file; starting over from byte 0"));
                    restart(f, have, hasher)?;
                }
                if let Some(len) = resp.header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok()) {
                    if len != meta.size {
                        return Err(fatal(FetchError::SizeChanged { host: host.clone(), expected: meta.size, got: len }));
                    }
                }
            }
            416 => {
                // the partial file is not a prefix the server can continue: from the start
                restart(f, have, hasher)?;
                return Err(Transfer::Net(NetError::Dropped { detail: "range not satisfiable".into() }));
            }
            s => {
                return Err(fatal(FetchError::Protocol { host: host.clone(), detail: format!("answered HTTP {s} to a download") }));
            }
        }
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Transfer::Net(NetError::from_io(&e))),
            };
            if *have + n as u64 > meta.size {
                return Err(fatal(FetchError::SizeChanged { host: host.clone(), expected: meta.size, got: *have + n as u64 }));
            }
            f.write_all(&buf[..n]).map_err(|e| Transfer::Fatal(FetchError::Io { path: partial.to_path_buf(), err: e }))?;
            hasher.update(&buf[..n]);
            *have += n as u64;
            bar.set_position(*have);
        }
        if *have < meta.size {
            return Err(Transfer::Net(NetError::Dropped { detail: "the connection closed early".into() }));
        }
        Ok(())
    }
}

enum Transfer {
    Net(NetError),
    Fatal(FetchError),
}

/// A few words for a retry notice.
fn describe_brief(err: &NetError, timeout: Duration) -> String {
    match err {
        NetError::Stalled => format!("no data for {} s", timeout.as_secs_f64()),
        NetError::Dropped { .. } => "the connection dropped".into(),
        NetError::Status { code, .. } => format!("HTTP {code}"),
        other => format!("{other:?}"),
    }
}

/// The metadata from the (last) `HEAD` answer.
fn meta_from(url: &Url, resp: &ureq::Response) -> Result<FileMeta, FetchError> {
    let host = host_of(url);
    let protocol = |detail: &str| FetchError::Protocol { host: host.clone(), detail: detail.to_string() };
    let redirect = (300..400).contains(&resp.status());
    let commit = resp.header("X-Repo-Commit").map(|c| c.trim().to_string()).ok_or_else(|| protocol("answered without X-Repo-Commit"))?;
    let etag = resp.header("X-Linked-Etag").or_else(|| resp.header("ETag")).map(normalize_etag).ok_or_else(|| protocol("answered without an ETag"))?;
    if !is_safe_name(&commit) || !is_safe_name(&etag) {
        return Err(protocol("answered with a commit or etag that is no plain name"));
    }
    let size = resp
        .header("X-Linked-Size")
        .or_else(|| if redirect { None } else { resp.header("Content-Length") })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| protocol("answered without the file's size (X-Linked-Size or Content-Length)"))?;
    let location = if redirect {
        resp.header("Location").and_then(|l| url.join(l).ok()).ok_or_else(|| protocol("redirected without a Location"))?
    } else {
        url.clone()
    };
    Ok(FileMeta { commit, etag, size, location })
}

/// A complete blob (only the size is checked here; `models verify` checks the sha256).
fn has_blob(blob: &Path, size: u64) -> bool {
    std::fs::metadata(blob).map(|m| m.is_file() && m.len() == size).unwrap_or(false)
}

/// Read the partial file's first `have` bytes into the hasher; what it really holds.
fn hash_prefix(f: &mut File, have: u64, hasher: &mut sha2::Sha256) -> std::io::Result<u64> {
    f.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < have {
        let want = buf.len().min((have - done) as usize);
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok(done)
}

/// Bytes of this blob's partial files: vertolk's and Python's (`<etag>.incomplete`, Python ≥ 1.0's
/// `<etag>.<id>.incomplete`, hf-hub 0.4's `<etag>.part`), or of the blob itself once it is there.
fn partial_bytes(blobs: &Path, etag: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(blobs) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(etag)))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// `refs/<revision>` → commit, replaced atomically (a reader never sees half a sha).
fn write_ref(base: &Path, revision: &str, commit: &str) -> Result<(), FetchError> {
    let path = base.join("refs").join(revision);
    if std::fs::read_to_string(&path).map(|c| c.trim() == commit).unwrap_or(false) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(base);
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, commit).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}

/// `pointer` → a relative symlink to `blob` (`../../blobs/<etag>`, one `..` more per folder in the
/// file name), replacing whatever was there. Without symlinks (Windows), a copy.
fn link(blob: &Path, pointer: &Path) -> Result<(), FetchError> {
    let dir = pointer.parent().ok_or_else(|| FetchError::Io { path: pointer.to_path_buf(), err: std::io::ErrorKind::InvalidInput.into() })?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let repo_base = blob.parent().and_then(Path::parent).unwrap_or(dir);
    let depth = dir.strip_prefix(repo_base).map(|p| p.components().count()).unwrap_or(2);
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.push("blobs");
    target.push(blob.file_name().unwrap_or_default());
    let tmp = pointer.with_file_name(format!(".{}.{}.tmp", pointer.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp))?;
    #[cfg(not(unix))]
    std::fs::copy(blob, &tmp).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, pointer).map_err(io_err(pointer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_ranges_and_urls_as_the_hub_writes_them() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert!(is_sha256(&"a".repeat(64)) && !is_sha256(&"a".repeat(40)));
        assert_eq!(parse_content_range("bytes 300000-1044271/1044272"), Some((300000, Some(1044272))));
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert!(!is_safe_name("../x") && !is_safe_name("a/b") && is_safe_name("d33edc3c"));
        let f = Fetcher {
            http: Http::new(NetSettings::default(), &Url::parse("https://hub.example").unwrap(), None),
            endpoint: Url::parse("https://hub.example").unwrap(),
            cache_dir: Path::new("/c"),
            notices: false,
            show_progress: false,
        };
        assert_eq!(
            f.resolve_url("Helsinki-NLP/opus-mt-nl-en", "refs/pr/1", "sub dir/model.safetensors").as_str(),
            "https://hub.example/Helsinki-NLP/opus-mt-nl-en/resolve/refs%2Fpr%2F1/sub%20dir/model.safetensors"
        );
    }

    #[test]
    fn links_are_relative_to_the_blob() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("models--a--b");
        let blob = base.join("blobs/e1");
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        std::fs::write(&blob, b"x").unwrap();
        let p = base.join("snapshots/c1/sub/f.json");
        link(&blob, &p).unwrap();
        #[cfg(unix)]
        assert_eq!(std::fs::read_link(&p).unwrap(), PathBuf::from("../../../blobs/e1"));
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        link(&blob, &p).unwrap(); // replacing is fine
        write_ref(&base, "refs/pr/1", "c1").unwrap();
        assert_eq!(std::fs::read_to_string(base.join("refs/refs/pr/1")).unwrap(), "c1");
    }
}
