//! Shared helpers for the integration tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub mod hub_server;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn golden(name: &str) -> serde_json::Value {
    let p = fixtures().join("golden").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `../shared` (seed articles, real OPUS-MT reference files), whose path `.ci/run` sets in
/// VERTOLK_SHARED. Tests using it are `#[ignore]`d so a plain `cargo test` does not need it; when they do
/// run (`--include-ignored`), a missing folder is a failure, never a silent skip.
pub fn shared() -> PathBuf {
    let p = std::env::var("VERTOLK_SHARED")
        .expect("VERTOLK_SHARED must point at the shared folder (../shared); .ci/run sets it");
    let p = PathBuf::from(p);
    assert!(p.join("reference").is_dir(), "{}/reference does not exist", p.display());
    p
}

/// The binary under test: this build's, or `VERTOLK_TEST_BIN` (to run a suite against another build,
/// e.g. the adversarial tests against the code before a fix, to see them fail there).
pub fn bin() -> String {
    std::env::var("VERTOLK_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vertolk").to_string())
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

/// Copy a model folder into a Hugging Face cache in hub layout: blobs named by sha256, snapshot
/// symlinks, refs/<revision>. Returns the snapshot folder.
pub fn install_in_hub_cache(cache: &Path, repo: &str, revision: &str, commit: &str, src: &Path) -> PathBuf {
    use sha2::Digest;
    let base = cache.join(format!("models--{}", repo.replace('/', "--")));
    let blobs = base.join("blobs");
    let snap = base.join("snapshots").join(commit);
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        let hash: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(blobs.join(&hash), &bytes).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{hash}"), snap.join(e.file_name())).unwrap();
    }
    let refs = base.join("refs").join(revision);
    std::fs::create_dir_all(refs.parent().unwrap()).unwrap();
    std::fs::write(refs, commit).unwrap();
    snap
}
