//! Downloads against the local hub server (`common::hub_server`): the happy path and the cache layout
//! Python reads, stalls, dropped connections, a resume answered with 200, two processes sharing a cache,
//! server errors, 401/404, the token and the CDN, a hub behind a proxy, repair, and `brief` end to end.
//! Every case runs the binary with short timeouts (env) and its own time limit.
use crate::common;
use crate::common::hub_server::{sha256_hex, Fault, Host, HubServer, Repo, Rule, COMMIT};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = "vertolk/tiny-marian";
const WEIGHTS: &str = "model.safetensors";

fn tiny_repo() -> Repo {
    Repo::from_dir(REPO, &common::fixtures().join("tiny-marian"))
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    secs: f64,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?} after {:.1} s\nstdout:\n{}\nstderr:\n{}", self.code, self.secs, self.stdout, self.stderr)
    }
}

/// The vertolk command with a clean environment: HF_HOME `home`, HF_ENDPOINT the server, no proxies,
/// no token, short timeouts unless `env` says otherwise.
fn command(args: &[&str], home: &Path, endpoint: &str, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(common::bin());
    c.args(args);
    for k in [
        "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
        "all_proxy", "NO_PROXY", "no_proxy", "HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT", "VERTOLK_DOWNLOAD_RETRIES",
        "VERTOLK_LOCK_TIMEOUT",
    ] {
        c.env_remove(k);
    }
    c.env("HF_HOME", home).env("HF_ENDPOINT", endpoint);
    c.env("HF_HUB_DOWNLOAD_TIMEOUT", "2").env("HF_HUB_ETAG_TIMEOUT", "2").env("VERTOLK_DOWNLOAD_RETRIES", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Run to the end or until `limit` (then killed: `code` None).
fn wait(mut child: std::process::Child, limit: Duration) -> Run {
    let t0 = Instant::now();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let so = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let se = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = t0.elapsed().as_secs_f64();
    Run { code, stdout: so.join().unwrap(), stderr: se.join().unwrap(), secs }
}

fn vertolk(args: &[&str], home: &Path, server: &HubServer, env: &[(&str, &str)], limit: Duration) -> Run {
    wait(command(args, home, &server.endpoint(), env).spawn().unwrap(), limit)
}

fn repo_dir(home: &Path, repo: &str) -> PathBuf {
    home.join("hub").join(format!("models--{}", repo.replace('/', "--")))
}

fn blob(home: &Path, repo: &str, etag: &str) -> PathBuf {
    repo_dir(home, repo).join("blobs").join(etag)
}

/// Every file under `dir` whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

fn assert_blob_is(home: &Path, repo: &Repo, name: &str) {
    let f = repo.file(name);
    let p = blob(home, &repo.id, &f.etag);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(bytes.len(), f.content.len(), "{name}: size");
    assert_eq!(sha256_hex(&bytes), sha256_hex(&f.content), "{name}: sha256");
}

const LIMIT: Duration = Duration::from_secs(40);

#[test]
fn pull_from_the_test_hub_writes_the_cache_python_reads() {
    let server = HubServer::start(vec![tiny_repo()]);
    let home = tempfile::tempdir().unwrap();
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    let base = repo_dir(home.path(), REPO);
    assert_eq!(std::fs::read_to_string(base.join("refs/main")).unwrap().trim(), COMMIT);
    let snap = base.join("snapshots").join(COMMIT);
    assert!(r.stdout.contains(&snap.display().to_string()), "{r}");
    let repo = tiny_repo();
    for f in &repo.files {
        let link = snap.join(&f.name);
        // a relative link to the blob named by the etag, as huggingface_hub writes it
        assert_eq!(std::fs::read_link(&link).unwrap(), PathBuf::from(format!("../../blobs/{}", f.etag)), "{}", f.name);
        assert_blob_is(home.path(), &repo, &f.name);
    }
    assert!(files_ending(home.path(), ".incomplete").is_empty());
    assert!(files_ending(home.path(), ".lock").is_empty(), "lock files left: {:?}", files_ending(home.path(), ".lock"));
    assert!(files_ending(home.path(), ".part").is_empty());
    // cached: a second pull asks nothing
    server.clear_seen();
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}

#[test]
fn stalled_download_fails_within_the_timeout_naming_file_host_and_bytes() {
    let server = HubServer::start(vec![tiny_repo()]);
    // 100000 bytes, then silence; the retry (a range request) gets silence at once
    server.add_rule(Rule::new(Fault::StallAfter(100_000)).file(WEIGHTS).on(Host::Cdn).get_only().times(1));
    server.add_rule(Rule::new(Fault::StallAfter(0)).file(WEIGHTS).on(Host::Cdn).get_only());
    let home = tempfile::tempdir().unwrap();
    let env = [("HF_HUB_DOWNLOAD_TIMEOUT", "1"), ("VERTOLK_DOWNLOAD_RETRIES", "1")];
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &env, Duration::from_secs(30));
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.secs < 10.0, "a stall is an error within the timeouts: {r}");
    for needle in [WEIGHTS, server.cdn_host(), "100000", "stalled", "resume", "HF_HUB_DOWNLOAD_TIMEOUT"] {
        assert!(r.stderr.contains(needle), "message lacks {needle:?}: {r}");
    }
    assert!(!r.stderr.contains("Check the repo id"), "{r}");
}

#[test]
fn server_that_never_answers_fails_within_the_etag_timeout() {
    let server = HubServer::start(vec![tiny_repo()]);
    server.add_rule(Rule::new(Fault::StallHeaders).on(Host::Hub));
    let home = tempfile::tempdir().unwrap();
    let env = [("HF_HUB_ETAG_TIMEOUT", "1"), ("VERTOLK_DOWNLOAD_RETRIES", "1")];
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &env, Duration::from_secs(30));
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.secs < 10.0, "{r}");
    for needle in ["config.json", server.hub_host(), "did not answer", "HF_HUB_ETAG_TIMEOUT"] {
        assert!(r.stderr.contains(needle), "message lacks {needle:?}: {r}");
    }
}

#[test]
fn two_processes_pulling_one_throttled_file_both_succeed() {
    let repo = tiny_repo();
    let size = repo.file(WEIGHTS).content.len() as u64;
    assert!(size > 1_000_000, "a 1 MB file");
    let server = HubServer::start(vec![repo.clone()]);
    // about 7 s for the weights: longer than hf-hub 0.4's 5 s lock patience
    server.add_rule(Rule::new(Fault::Throttle(150_000)).file(WEIGHTS).on(Host::Cdn).get_only());
    let home = tempfile::tempdir().unwrap();
    let a = command(&["models", "pull", REPO], home.path(), &server.endpoint(), &[]).spawn().unwrap();
    // the second starts once the first is inside the weights' download (not a `bytes=0-0` probe)
    let t0 = Instant::now();
    let downloading = |s: &common::hub_server::Seen| s.host == Host::Cdn && s.method == "GET" && s.range.as_deref() != Some("bytes=0-0");
    while !server.started().iter().any(downloading) && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let b = command(&["models", "pull", REPO], home.path(), &server.endpoint(), &[]).spawn().unwrap();
    let (ra, rb) = (wait(a, LIMIT), wait(b, LIMIT));
    assert!(ra.ok(), "first: {ra}");
    assert!(rb.ok(), "second: {rb}");
    assert!(rb.stderr.contains("waiting"), "the second says that it waits: {rb}");
    assert_blob_is(home.path(), &repo, WEIGHTS);
    assert_eq!(server.bytes_sent(WEIGHTS), size, "downloaded once");
    assert!(files_ending(home.path(), ".lock").is_empty(), "{:?}", files_ending(home.path(), ".lock"));
    assert!(files_ending(home.path(), ".incomplete").is_empty());
}

/// The catalogue's default summarizer, served by the test hub (its content is no real model).
fn qwen_repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qwen2.5-1.5b-instruct-q4_k_m.gguf"), b"GGUF\x03\0\0\0 not a real model").unwrap();
    Repo::from_dir("Qwen/Qwen2.5-1.5B-Instruct-GGUF", dir.path())
}

#[test]
fn default_summarizer_download_failures_are_errors_not_a_silent_fallback() {
    let qwen = qwen_repo();
    let gguf = qwen.files[0].clone();
    let server = HubServer::start(vec![qwen]);
    let home = tempfile::tempdir().unwrap();
    let article = home.path().join("a.txt");
    std::fs::write(&article, "The council approved the budget on Monday. It includes new money for schools.\n").unwrap();
    let args = ["summarize", "--from", "en", article.to_str().unwrap()];

    // a server error: exit 4 saying so, not exit 0 with the extractive summarizer
    server.add_rule(Rule::new(Fault::Status(500)).file(&gguf.name));
    let r = vertolk(&args, home.path(), &server, &[], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("500") && r.stderr.contains(&gguf.name), "{r}");
    assert!(!r.stdout.contains("extractive"), "{r}");
    server.clear_rules();

    // another process holds the download lock and makes no progress: give up, say so, exit 4
    let lock = home.path().join("hub/.locks/models--Qwen--Qwen2.5-1.5B-Instruct-GGUF").join(format!("{}.lock", gguf.etag));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&lock).unwrap();
    held.lock().unwrap();
    let r = vertolk(&args, home.path(), &server, &[("VERTOLK_LOCK_TIMEOUT", "1")], LIMIT);
    drop(held);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("another process") && r.stderr.contains("VERTOLK_LOCK_TIMEOUT"), "{r}");
    assert!(!r.stdout.contains("extractive"), "{r}");
}

#[test]
fn resume_answered_with_200_restarts_and_ends_with_a_correct_blob() {
    let repo = tiny_repo();
    let w = repo.file(WEIGHTS).clone();
    let server = HubServer::start(vec![repo.clone()]);
    let home = tempfile::tempdir().unwrap();
    // a first run ends with a dropped connection and a partial file
    server.add_rule(Rule::new(Fault::DropAt(300_000)).file(WEIGHTS).on(Host::Cdn).get_only());
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[("VERTOLK_DOWNLOAD_RETRIES", "0")], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    // the re-run's range request is answered with the whole file (a proxy or mirror that ignores Range)
    server.clear_rules();
    server.clear_seen();
    server.add_rule(Rule::new(Fault::IgnoreRange).file(WEIGHTS).on(Host::Cdn));
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    let gets: Vec<_> = server.seen().into_iter().filter(|s| s.host == Host::Cdn && s.method == "GET").collect();
    assert!(gets.iter().any(|s| s.range.as_deref() == Some("bytes=300000-") && s.status == 200), "{gets:?}");
    assert_blob_is(home.path(), &repo, WEIGHTS);
    assert!(!blob(home.path(), REPO, &format!("{}.incomplete", w.etag)).exists());
    let r = vertolk(&["models", "verify", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
}

#[test]
fn a_blob_whose_sha256_is_not_the_etag_never_enters_the_cache() {
    let repo = tiny_repo();
    let w = repo.file(WEIGHTS).clone();
    let server = HubServer::start(vec![repo.clone()]);
    // once altered: discarded, downloaded again from the start, correct
    server.add_rule(Rule::new(Fault::Corrupt(500_000)).file(WEIGHTS).on(Host::Cdn).get_only().times(1));
    let home = tempfile::tempdir().unwrap();
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    assert!(r.stderr.contains("sha256"), "{r}");
    assert_eq!(server.bytes_sent(WEIGHTS), 2 * w.content.len() as u64, "the second download from byte 0");
    assert_blob_is(home.path(), &repo, WEIGHTS);
    // always altered: an error, and no blob, no partial file
    server.add_rule(Rule::new(Fault::Corrupt(500_000)).file(WEIGHTS).on(Host::Cdn).get_only());
    let home = tempfile::tempdir().unwrap();
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("did not match the hub's sha256") && r.stderr.contains(&w.etag), "{r}");
    assert!(!blob(home.path(), REPO, &w.etag).exists());
    assert!(files_ending(home.path(), ".incomplete").is_empty());
}

#[test]
fn dropped_connection_says_a_rerun_resumes_and_the_rerun_does() {
    let repo = tiny_repo();
    let size = repo.file(WEIGHTS).content.len();
    let server = HubServer::start(vec![repo.clone()]);
    let home = tempfile::tempdir().unwrap();
    // every answer ends at offset 300000: the retries make no progress
    server.add_rule(Rule::new(Fault::DropAt(300_000)).file(WEIGHTS).on(Host::Cdn).get_only());
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[("VERTOLK_DOWNLOAD_RETRIES", "2")], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    for needle in [WEIGHTS.to_string(), "300000".into(), size.to_string(), "dropped".into(), "resume".into()] {
        assert!(r.stderr.contains(&needle), "message lacks {needle:?}: {r}");
    }
    assert!(!r.stderr.contains("Check the repo id"), "{r}");
    let cdn_gets = server.seen().iter().filter(|s| s.host == Host::Cdn && s.method == "GET").count();
    assert_eq!(cdn_gets, 3, "one try and two retries");
    // the re-run asks for the rest only
    server.clear_rules();
    server.clear_seen();
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    assert!(server.seen().iter().any(|s| s.range.as_deref() == Some("bytes=300000-") && s.status == 206), "{:?}", server.seen());
    assert_eq!(server.bytes_sent(WEIGHTS), (size - 300_000) as u64);
    assert_blob_is(home.path(), &repo, WEIGHTS);
}

#[test]
fn server_errors_are_retried_then_named_as_server_errors() {
    let server = HubServer::start(vec![tiny_repo()]);
    let home = tempfile::tempdir().unwrap();
    // two 500s, then the answer: the retries get it
    server.add_rule(Rule::new(Fault::Status(500)).file("config.json").times(2));
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[("VERTOLK_DOWNLOAD_RETRIES", "2")], LIMIT);
    assert!(r.ok(), "{r}");
    // always 503: one try, one retry, then a message about the server
    let home = tempfile::tempdir().unwrap();
    server.clear_seen();
    server.add_rule(Rule::new(Fault::Status(503)).file("config.json"));
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[("VERTOLK_DOWNLOAD_RETRIES", "1")], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    for needle in ["config.json", "503", "server error", "try again later", "HF_ENDPOINT"] {
        assert!(r.stderr.contains(needle), "message lacks {needle:?}: {r}");
    }
    assert!(!r.stderr.contains("Check the repo id"), "{r}");
    assert_eq!(server.seen().iter().filter(|s| s.file.as_deref() == Some("config.json")).count(), 2);
}

#[test]
fn not_found_and_unauthorized_are_not_retried() {
    let server = HubServer::start(vec![tiny_repo()]);
    let home = tempfile::tempdir().unwrap();
    let env = [("VERTOLK_DOWNLOAD_RETRIES", "3")];
    let r = vertolk(&["models", "pull", "vertolk/no-such-model"], home.path(), &server, &env, LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("vertolk/no-such-model") && r.stderr.contains("does not exist"), "{r}");
    assert_eq!(server.seen().len(), 1, "404 is final: {:?}", server.seen());

    server.clear_seen();
    server.require_token("hf_right");
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &env, LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    for needle in ["401", "HF_TOKEN", "gated or private"] {
        assert!(r.stderr.contains(needle), "message lacks {needle:?}: {r}");
    }
    assert_eq!(server.seen().len(), 1, "401 is final: {:?}", server.seen());
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[("HF_TOKEN", "hf_wrong")], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("was refused") && !r.stderr.contains("hf_wrong"), "{r}");
}

#[test]
fn token_goes_to_the_hub_and_never_to_the_cdn() {
    let server = HubServer::start(vec![tiny_repo()]);
    server.require_token("hf_SECRETtoken123");
    let home = tempfile::tempdir().unwrap();
    let r = vertolk(&["-vvv", "models", "pull", REPO], home.path(), &server, &[("HF_TOKEN", "hf_SECRETtoken123")], LIMIT);
    assert!(r.ok(), "{r}");
    let seen = server.seen();
    assert!(seen.iter().any(|s| s.host == Host::Cdn), "{seen:?}");
    for s in &seen {
        match s.host {
            Host::Hub => assert_eq!(s.authorization.as_deref(), Some("Bearer hf_SECRETtoken123"), "{s:?}"),
            Host::Cdn => assert_eq!(s.authorization, None, "the token went to the CDN: {s:?}"),
        }
    }
    assert!(!r.stderr.contains("SECRET") && !r.stdout.contains("SECRET"));
    assert_blob_is(home.path(), &tiny_repo(), WEIGHTS);
}

#[test]
fn hub_reachable_only_through_http_proxy_works() {
    let server = HubServer::start_behind_proxy(vec![tiny_repo()]);
    let proxy = server.proxy_url();
    for var in ["HTTP_PROXY", "all_proxy"] {
        let home = tempfile::tempdir().unwrap();
        server.clear_seen();
        let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[(var, &proxy)], LIMIT);
        assert!(r.ok(), "{var}: {r}");
        let seen = server.seen();
        assert!(seen.iter().all(|s| s.via_proxy), "{seen:?}");
        assert!(seen.iter().any(|s| s.host == Host::Cdn), "{seen:?}");
        assert_blob_is(home.path(), &tiny_repo(), WEIGHTS);
    }
    // NO_PROXY names the hub: no proxy, and *.invalid cannot be resolved
    let home = tempfile::tempdir().unwrap();
    server.clear_seen();
    let env = [("HTTP_PROXY", proxy.as_str()), ("NO_PROXY", "localhost,.vertolk.invalid")];
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &env, LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stderr.contains("cannot be resolved"), "{r}");
    assert!(server.seen().is_empty());
}

fn flip_a_byte(p: &Path) {
    let p = std::fs::canonicalize(p).unwrap();
    let mut b = std::fs::read(&p).unwrap();
    let n = b.len();
    b[n - 10] ^= 0xff;
    std::fs::write(&p, &b).unwrap();
}

#[test]
fn failed_verify_says_how_to_repair_and_repair_and_pull_fix_the_blob() {
    let repo = tiny_repo();
    let server = HubServer::start(vec![repo.clone()]);
    let home = tempfile::tempdir().unwrap();
    assert!(vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT).ok());
    let link = repo_dir(home.path(), REPO).join("snapshots").join(COMMIT).join(WEIGHTS);
    flip_a_byte(&link);
    let r = vertolk(&["models", "verify", REPO], home.path(), &server, &[], LIMIT);
    assert_eq!(r.code, Some(4), "{r}");
    assert!(r.stdout.contains("sha256 mismatch") && r.stderr.contains(&format!("vertolk models verify --repair {REPO}")), "{r}");
    let r = vertolk(&["models", "verify", "--repair", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    assert_blob_is(home.path(), &repo, WEIGHTS);
    // pull checks the cached blobs too
    flip_a_byte(&link);
    let r = vertolk(&["models", "pull", REPO], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    assert_blob_is(home.path(), &repo, WEIGHTS);
}

#[test]
fn catalogue_translators_pull_by_pinned_commit_and_by_pr_ref() {
    let dir = common::fixtures().join("tiny-marian");
    let de = Repo::from_dir("Helsinki-NLP/opus-mt-de-en", &dir).with_revisions("8be33f00bcaf451dc5ed05fdd94282649696b8e7", &[]);
    let nl = Repo::from_dir("Helsinki-NLP/opus-mt-nl-en", &dir).with_revisions(COMMIT, &["refs/pr/1"]);
    let server = HubServer::start(vec![de, nl]);
    let home = tempfile::tempdir().unwrap();
    let r = vertolk(&["models", "pull", "opus-mt-de-en", "opus-mt-nl-en"], home.path(), &server, &[], LIMIT);
    assert!(r.ok(), "{r}");
    let nl_dir = repo_dir(home.path(), "Helsinki-NLP/opus-mt-nl-en");
    assert_eq!(std::fs::read_to_string(nl_dir.join("refs/refs/pr/1")).unwrap().trim(), COMMIT);
    assert!(repo_dir(home.path(), "Helsinki-NLP/opus-mt-de-en").join("snapshots/8be33f00bcaf451dc5ed05fdd94282649696b8e7/config.json").is_file());
    let r = vertolk(&["--offline", "models", "path", "opus-mt-nl-en"], home.path(), &server, &[], LIMIT);
    assert!(r.ok() && r.stdout.contains(COMMIT), "{r}");
}

#[test]
fn brief_of_the_seeds_with_the_translator_from_the_test_hub() {
    let server = HubServer::start(vec![tiny_repo()]);
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("briefing");
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds");
    let args = ["brief", seeds, "--out", out.to_str().unwrap(), "--model", REPO, "--summarizer", "extractive"];
    let r = vertolk(&args, home.path(), &server, &[], Duration::from_secs(120));
    assert!(r.ok(), "{r}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!((report["total"].as_u64(), report["done"].as_u64()), (Some(5), Some(5)), "{report}");
    assert!(out.join("briefing.md").is_file());
    assert!(server.seen().iter().any(|s| s.host == Host::Cdn && s.file.as_deref() == Some(WEIGHTS)));
    assert_blob_is(home.path(), &tiny_repo(), WEIGHTS);
}
