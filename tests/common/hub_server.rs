//! A Hugging Face hub on 127.0.0.1 for the download tests (std::net, one thread per connection).
//!
//! It speaks the protocol `huggingface_hub` (and vertolk) use: `HEAD`/`GET
//! /{org}/{name}/resolve/{revision}/{file}` answers with `X-Repo-Commit` and an `ETag`; an LFS file
//! answers `302` to a second listener, the "CDN" (another host:port, so another host for
//! `Authorization`), with `X-Linked-Etag` (its sha256) and `X-Linked-Size`; the CDN serves the blob with
//! `206` for `Range: bytes=a-[b]`. A 404 carries `X-Error-Code` like the hub's. Requests in absolute
//! form (`GET http://host/path`) are served too: then the server is the HTTP proxy in front of named
//! hosts (`*.invalid`, which nothing else can reach).
//!
//! [`Rule`]s inject faults per file and host: stall before the headers or after N body bytes, drop the
//! connection at a file offset, answer 200 to a range request, answer a status code, throttle. Every
//! request is recorded ([`Seen`]). Everything is bounded: the listeners stop when the server is dropped
//! or after [`MAX_LIFETIME`], a stall lasts [`MAX_STALL`] at most, a connection serves one request.
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::Digest;

/// The listeners stop by themselves after this long, whatever the test does.
pub const MAX_LIFETIME: Duration = Duration::from_secs(180);
/// A stalled answer sends nothing for this long at most, then closes (or earlier, when the server stops).
pub const MAX_STALL: Duration = Duration::from_secs(60);

pub const COMMIT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Hub,
    Cdn,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Read the request, never answer.
    StallHeaders,
    /// Send the headers and this many body bytes, then nothing.
    StallAfter(u64),
    /// Send the body up to this file offset, then close the connection (the headers promised more).
    DropAt(u64),
    /// Answer a resume (`Range: bytes=N-`, N > 0) with 200 and the whole file, as a proxy or mirror
    /// that ignores ranges does (a probe of `bytes=0-0` still gets its 206).
    IgnoreRange,
    /// Answer with this status (and the hub's headers).
    Status(u16),
    /// Send the body at this many bytes per second.
    Throttle(u64),
    /// Send the byte at this file offset altered (same size, another sha256).
    Corrupt(u64),
}

/// A fault for the requests that match: `file` (None: any), `host` (None: either), `get_only` (not
/// HEAD), the first `times` of them (None: all).
#[derive(Debug, Clone)]
pub struct Rule {
    pub fault: Fault,
    pub file: Option<String>,
    pub host: Option<Host>,
    pub get_only: bool,
    pub times: Option<usize>,
}

impl Rule {
    pub fn new(fault: Fault) -> Self {
        Self { fault, file: None, host: None, get_only: false, times: None }
    }
    pub fn file(mut self, f: &str) -> Self {
        self.file = Some(f.to_string());
        self
    }
    pub fn on(mut self, h: Host) -> Self {
        self.host = Some(h);
        self
    }
    pub fn get_only(mut self) -> Self {
        self.get_only = true;
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub host: Host,
    pub method: String,
    pub path: String,
    /// The file the request was for (resolved from the blob name on the CDN).
    pub file: Option<String>,
    pub range: Option<String>,
    pub authorization: Option<String>,
    /// The request came in absolute form (through this server as a proxy).
    pub via_proxy: bool,
    pub status: u16,
    pub body_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct RepoFile {
    pub name: String,
    pub content: Arc<Vec<u8>>,
    /// Stored in LFS: redirected to the CDN, its etag is its sha256.
    pub lfs: bool,
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: String,
    pub commit: String,
    /// Revision names that resolve to `commit` (the commit itself always does).
    pub revisions: Vec<String>,
    pub files: Vec<RepoFile>,
}

pub fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

impl Repo {
    /// A repo with the files of a local folder; `*.safetensors`, `*.bin` and `*.gguf` go to LFS.
    pub fn from_dir(id: &str, dir: &std::path::Path) -> Self {
        let mut files = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            files.push(RepoFile::new(&name, std::fs::read(&p).unwrap()));
        }
        Self { id: id.to_string(), commit: COMMIT.to_string(), revisions: vec!["main".into()], files }
    }

    pub fn with_revisions(mut self, commit: &str, revisions: &[&str]) -> Self {
        self.commit = commit.to_string();
        self.revisions = revisions.iter().map(|r| r.to_string()).collect();
        self
    }

    pub fn file(&self, name: &str) -> &RepoFile {
        self.files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no {name} in {}", self.id))
    }
}

impl RepoFile {
    pub fn new(name: &str, content: Vec<u8>) -> Self {
        let lfs = [".safetensors", ".bin", ".gguf"].iter().any(|e| name.ends_with(e));
        let sha = sha256_hex(&content);
        // a regular file's etag is its git blob id (40 hex digits); any stable 40-digit id will do here
        let etag = if lfs { sha } else { sha[..40].to_string() };
        Self { name: name.to_string(), content: Arc::new(content), lfs, etag }
    }
}

struct State {
    repos: Vec<Repo>,
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    /// Requests as they begin (`seen` has them when they end).
    started: Vec<Seen>,
    token: Option<String>,
}

pub struct HubServer {
    hub_addr: String,
    cdn_addr: String,
    /// Names the hub and CDN go by in URLs (their addresses, or `*.invalid` names behind the proxy).
    hub_name: String,
    cdn_name: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HubServer {
    /// Hub and CDN on their own ports of 127.0.0.1.
    pub fn start(repos: Vec<Repo>) -> Self {
        Self::start_named(repos, None)
    }

    /// Behind a proxy: the hub is `http://hub.vertolk.invalid`, the CDN `http://cdn.vertolk.invalid`,
    /// and only [`HubServer::proxy_url`] reaches them.
    pub fn start_behind_proxy(repos: Vec<Repo>) -> Self {
        Self::start_named(repos, Some(("hub.vertolk.invalid", "cdn.vertolk.invalid")))
    }

    fn start_named(repos: Vec<Repo>, names: Option<(&str, &str)>) -> Self {
        let hub = TcpListener::bind("127.0.0.1:0").unwrap();
        let cdn = TcpListener::bind("127.0.0.1:0").unwrap();
        let hub_addr = hub.local_addr().unwrap().to_string();
        let cdn_addr = cdn.local_addr().unwrap().to_string();
        let (hub_name, cdn_name) = match names {
            Some((h, c)) => (h.to_string(), c.to_string()),
            None => (hub_addr.clone(), cdn_addr.clone()),
        };
        let state = Arc::new(Mutex::new(State { repos, rules: Vec::new(), seen: Vec::new(), started: Vec::new(), token: None }));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (listener, host) in [(hub, Host::Hub), (cdn, Host::Cdn)] {
            let ctx = Ctx { state: state.clone(), stop: stop.clone(), hub_name: hub_name.clone(), cdn_name: cdn_name.clone(), host };
            threads.push(std::thread::spawn(move || accept_loop(listener, ctx)));
        }
        Self { hub_addr, cdn_addr, hub_name, cdn_name, state, stop, threads }
    }

    /// What HF_ENDPOINT should be.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.hub_name)
    }

    pub fn cdn_host(&self) -> &str {
        &self.cdn_name
    }

    pub fn hub_host(&self) -> &str {
        &self.hub_name
    }

    /// The proxy (the hub's listener, which also serves requests in absolute form).
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.hub_addr)
    }

    pub fn add_rule(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    pub fn clear_rules(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// The hub answers 401 unless `Authorization: Bearer <token>` (the CDN's URLs are signed instead).
    pub fn require_token(&self, token: &str) {
        self.state.lock().unwrap().token = Some(token.to_string());
    }

    /// Finished requests; waits (2 s at most) for those in flight to finish first.
    pub fn seen(&self) -> Vec<Seen> {
        let t0 = Instant::now();
        loop {
            {
                let st = self.state.lock().unwrap();
                if st.seen.len() >= st.started.len() || t0.elapsed() > Duration::from_secs(2) {
                    return st.seen.clone();
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Requests that have begun, finished or not.
    pub fn started(&self) -> Vec<Seen> {
        self.state.lock().unwrap().started.clone()
    }

    pub fn clear_seen(&self) {
        let mut st = self.state.lock().unwrap();
        st.seen.clear();
        st.started.clear();
    }

    /// Body bytes sent for `file` by GET answers.
    pub fn bytes_sent(&self, file: &str) -> u64 {
        self.seen().iter().filter(|s| s.file.as_deref() == Some(file) && s.method == "GET").map(|s| s.body_bytes).sum()
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Ctx {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    hub_name: String,
    cdn_name: String,
    host: Host,
}

fn accept_loop(listener: TcpListener, ctx: Ctx) {
    listener.set_nonblocking(true).unwrap();
    let t0 = Instant::now();
    while !ctx.stop.load(Ordering::SeqCst) && t0.elapsed() < MAX_LIFETIME {
        match listener.accept() {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = handle(stream, &ctx);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(stream.take(64 * 1024));
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for _ in 0..100 {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Request { method, target, headers })
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response in the making: status, headers, body range of a file.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<(Arc<Vec<u8>>, u64, u64)>,
    file: Option<String>,
}

impl Answer {
    fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: None, file: None }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn handle(mut stream: TcpStream, ctx: &Ctx) -> std::io::Result<()> {
    let req = read_request(&stream)?;
    if req.method.is_empty() {
        return Ok(()); // a connection opened and closed (a reachability check)
    }
    // absolute form: this server is the proxy; the host names which of the two is meant
    let (host, via_proxy, path) = match req.target.strip_prefix("http://") {
        Some(rest) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let name = authority.split(':').next().unwrap_or_default();
            let cdn_name = ctx.cdn_name.split(':').next().unwrap_or_default();
            let host = if name == cdn_name { Host::Cdn } else { Host::Hub };
            (host, true, if path.is_empty() { "/".to_string() } else { path.to_string() })
        }
        None => (ctx.host, false, req.target.clone()),
    };
    let path_only = path.split('?').next().unwrap_or_default().to_string();
    let range = req.header("range").map(String::from);
    let authorization = req.header("authorization").map(String::from);

    let (file, mut answer) = route(ctx, host, &req, &path_only, range.as_deref());
    // the matching rule, if any (consumed)
    let fault = {
        let mut st = ctx.state.lock().unwrap();
        let idx = st.rules.iter().position(|r| {
            r.times != Some(0)
                && r.host.is_none_or(|h| h == host)
                && (!r.get_only || req.method == "GET")
                && r.file.as_deref().is_none_or(|f| file.as_deref() == Some(f))
        });
        idx.map(|i| {
            let r = &mut st.rules[i];
            if let Some(t) = r.times.as_mut() {
                *t -= 1;
            }
            r.fault.clone()
        })
    };
    let mut seen = Seen {
        host,
        method: req.method.clone(),
        path: path.clone(),
        file: file.clone(),
        range: range.clone(),
        authorization,
        via_proxy,
        status: answer.status,
        body_bytes: 0,
    };
    ctx.state.lock().unwrap().started.push(seen.clone());
    match &fault {
        Some(Fault::StallHeaders) => {
            record(ctx, seen);
            stall(ctx);
            return Ok(());
        }
        Some(Fault::Status(code)) => {
            answer = Answer::status(*code).header("X-Repo-Commit", commit_of(ctx, &path_only).unwrap_or_default());
            if *code == 404 {
                answer = answer.header("X-Error-Code", "EntryNotFound");
            }
            seen.status = *code;
        }
        Some(Fault::IgnoreRange) if range.as_deref().is_some_and(|r| !r.starts_with("bytes=0-")) => {
            if let Some((content, _, _)) = answer.body.clone() {
                let len = content.len() as u64;
                answer.status = 200;
                answer.headers.retain(|(k, _)| k != "Content-Range" && k != "Content-Length");
                answer.headers.push(("Content-Length".into(), len.to_string()));
                answer.body = Some((content, 0, len));
                seen.status = 200;
            }
        }
        _ => {}
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", answer.status, reason(answer.status));
    let mut has_len = false;
    for (k, v) in &answer.headers {
        has_len |= k.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        let n = match (&answer.body, req.method.as_str()) {
            (Some((_, a, b)), _) => b - a,
            _ => 0,
        };
        head.push_str(&format!("Content-Length: {n}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    let mut sent = 0u64;
    let result = (|| -> std::io::Result<()> {
        let Some((content, start, end)) = answer.body.clone() else { return Ok(()) };
        if req.method == "HEAD" {
            return Ok(());
        }
        let chunk = 16 * 1024u64;
        let mut pos = start;
        let t0 = Instant::now();
        while pos < end {
            let mut stop_at = end;
            match &fault {
                Some(Fault::StallAfter(n)) => stop_at = stop_at.min(start + n),
                Some(Fault::DropAt(off)) => stop_at = stop_at.min((*off).max(start)),
                _ => {}
            }
            if pos >= stop_at {
                match fault {
                    Some(Fault::StallAfter(_)) => {
                        stream.flush()?;
                        stall(ctx);
                    }
                    _ => {
                        stream.flush()?;
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
                return Ok(());
            }
            let n = chunk.min(stop_at - pos);
            if let Some(Fault::Throttle(rate)) = fault {
                let due = Duration::from_secs_f64((pos + n - start) as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(t0.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let mut bytes = content[pos as usize..(pos + n) as usize].to_vec();
            if let Some(Fault::Corrupt(at)) = fault {
                if (pos..pos + n).contains(&at) {
                    bytes[(at - pos) as usize] ^= 0xff;
                }
            }
            stream.write_all(&bytes)?;
            pos += n;
            sent += n;
            if ctx.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
        }
        Ok(())
    })();
    seen.body_bytes = sent;
    record(ctx, seen);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
    result
}

fn record(ctx: &Ctx, seen: Seen) {
    ctx.state.lock().unwrap().seen.push(seen);
}

fn stall(ctx: &Ctx) {
    let t0 = Instant::now();
    while t0.elapsed() < MAX_STALL && !ctx.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn commit_of(ctx: &Ctx, path: &str) -> Option<String> {
    let st = ctx.state.lock().unwrap();
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() >= 2 {
        let id = format!("{}/{}", parts[0], parts[1]);
        return st.repos.iter().find(|r| r.id == id).map(|r| r.commit.clone());
    }
    None
}

/// The normal answer: hub resolve URLs and CDN blobs.
fn route(ctx: &Ctx, host: Host, req: &Request, path: &str, range: Option<&str>) -> (Option<String>, Answer) {
    let st = ctx.state.lock().unwrap();
    if host == Host::Cdn {
        let Some(sha) = path.strip_prefix("/blobs/") else { return (None, Answer::status(404)) };
        let Some(f) = st.repos.iter().flat_map(|r| &r.files).find(|f| f.lfs && f.etag == sha) else {
            return (None, Answer::status(404));
        };
        let a = body_answer(f, range).header("ETag", format!("\"{}\"", f.etag));
        return (Some(f.name.clone()), a);
    }
    // /{org}/{name}/resolve/{revision}/{file}
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() != 5 || parts[2] != "resolve" {
        return (None, Answer::status(404).header("X-Error-Code", "RepoNotFound"));
    }
    let id = format!("{}/{}", parts[0], parts[1]);
    let Some(repo) = st.repos.iter().find(|r| r.id == id) else {
        return (None, Answer::status(404).header("X-Error-Code", "RepoNotFound"));
    };
    let revision = pct_decode(parts[3]);
    if revision != repo.commit && !repo.revisions.contains(&revision) {
        return (None, Answer::status(404).header("X-Error-Code", "RevisionNotFound"));
    }
    let name = pct_decode(parts[4]);
    if let Some(token) = &st.token {
        if req.header("authorization") != Some(&format!("Bearer {token}")) {
            return (Some(name), Answer::status(401).header("X-Error-Code", "GatedRepo"));
        }
    }
    let Some(f) = repo.files.iter().find(|f| f.name == name) else {
        return (
            Some(name),
            Answer::status(404).header("X-Error-Code", "EntryNotFound").header("X-Repo-Commit", repo.commit.clone()),
        );
    };
    if f.lfs {
        let a = Answer::status(302)
            .header("Location", format!("http://{}/blobs/{}?X-Amz-Signature=s1gn3d", ctx.cdn_name, f.etag))
            .header("X-Repo-Commit", repo.commit.clone())
            .header("X-Linked-Etag", format!("\"{}\"", f.etag))
            .header("X-Linked-Size", f.content.len().to_string())
            .header("ETag", "\"0123456789abcdef0123456789abcdef01234567\"")
            .header("Content-Length", "0");
        return (Some(f.name.clone()), a);
    }
    let a = body_answer(f, range).header("X-Repo-Commit", repo.commit.clone()).header("ETag", format!("\"{}\"", f.etag));
    (Some(f.name.clone()), a)
}

fn body_answer(f: &RepoFile, range: Option<&str>) -> Answer {
    let len = f.content.len() as u64;
    let mut a = Answer::status(200).header("Accept-Ranges", "bytes");
    a.file = Some(f.name.clone());
    let parsed = range.and_then(|r| r.strip_prefix("bytes=")).and_then(|r| {
        let (s, e) = r.split_once('-')?;
        let s: u64 = s.parse().ok()?;
        let e: u64 = if e.is_empty() { len.saturating_sub(1) } else { e.parse().ok()? };
        Some((s, e))
    });
    match parsed {
        Some((s, _)) if s >= len => {
            a.status = 416;
            a.headers.push(("Content-Range".into(), format!("bytes */{len}")));
        }
        Some((s, e)) => {
            let e = e.min(len - 1);
            a.status = 206;
            a.headers.push(("Content-Range".into(), format!("bytes {s}-{e}/{len}")));
            a.headers.push(("Content-Length".into(), (e + 1 - s).to_string()));
            a.body = Some((f.content.clone(), s, e + 1));
        }
        None => {
            a.headers.push(("Content-Length".into(), len.to_string()));
            a.body = Some((f.content.clone(), 0, len));
        }
    }
    a
}
