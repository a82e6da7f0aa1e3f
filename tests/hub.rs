//! Model SPECs, the catalogue, the hub-layout cache, offline behaviour and `models verify`.
use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use candle_core::Device;
use vertolk::hub::{Catalog, Task};
use vertolk::error::Error;
use vertolk::hub::{FileSet, ModelSpec, ModelStore};
use vertolk::pipeline::translate::{MarianTranslator, TranslatorOptions};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn store(cache: PathBuf, offline: bool) -> ModelStore {
    let mut s = ModelStore::from_env(Some(cache), offline, false);
    s.endpoint = "http://127.0.0.1:9".into(); // nothing listens there: never the real hub in tests
    s
}

#[test]
fn builtin_catalogue_has_both_marian_translators_pinned() {
    let cat = Catalog::builtin();
    let de = cat.get("opus-mt-de-en").expect("opus-mt-de-en");
    assert_eq!(de.repo, "Helsinki-NLP/opus-mt-de-en");
    assert_eq!(de.revision, "8be33f00bcaf451dc5ed05fdd94282649696b8e7");
    assert_eq!(de.weight_files, vec!["model.safetensors", "pytorch_model.bin"]);
    assert_eq!(de.task, Task::Translation);
    let nl = cat.get("opus-mt-nl-en").expect("opus-mt-nl-en");
    assert_eq!((nl.repo.as_str(), nl.revision.as_str()), ("Helsinki-NLP/opus-mt-nl-en", "refs/pr/1"));
    assert_eq!(cat.translator_for("nl").map(|e| e.name.as_str()), Some("opus-mt-nl-en"));
    assert!(cat.translator_for("fr").is_none());
}

#[test]
fn catalogue_parsing_rejects_bad_entries() {
    let entry = r#"[[model]]
name = "x"
task = "translation"
architecture = "marian"
languages = ["de"]
repo = "a/b"
revision = "main"
required_files = ["config.json"]
license = "MIT"
"#;
    assert!(Catalog::parse(entry).is_ok());
    assert!(Catalog::parse(&format!("{entry}\n{entry}")).unwrap_err().to_string().contains("duplicate"));
    assert!(Catalog::parse(&entry.replace("translation", "poetry")).is_err());
    assert!(Catalog::parse(&entry.replace("license", "licence")).is_err(), "unknown fields are errors");
}

#[test]
fn spec_resolution_covers_every_form() {
    let cat = Catalog::builtin();
    assert!(matches!(ModelSpec::parse("opus-mt-de-en", &cat).unwrap(), ModelSpec::Catalog(e) if e.name == "opus-mt-de-en"));
    assert_eq!(
        ModelSpec::parse("Helsinki-NLP/opus-mt-de-en@refs/pr/4", &cat).unwrap(),
        ModelSpec::Hub { repo: "Helsinki-NLP/opus-mt-de-en".into(), revision: "refs/pr/4".into() }
    );
    assert_eq!(
        ModelSpec::parse("org/model", &cat).unwrap(),
        ModelSpec::Hub { repo: "org/model".into(), revision: "main".into() }
    );
    let dir = common::fixtures().join("tiny-marian");
    assert_eq!(ModelSpec::parse(dir.to_str().unwrap(), &cat).unwrap(), ModelSpec::LocalDir(dir.clone()));
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("m.gguf");
    std::fs::write(&gguf, b"GGUF\x03\0\0\0").unwrap();
    assert_eq!(ModelSpec::parse(gguf.to_str().unwrap(), &cat).unwrap(), ModelSpec::Gguf(gguf.clone()));
    assert!(matches!(ModelSpec::parse("/no/such/file.gguf", &cat), Err(Error::ModelUnavailable(_))));
    assert!(matches!(ModelSpec::parse("opus-mt-xx-en", &cat), Err(Error::UnknownModel { .. })));
    assert!(matches!(ModelSpec::parse("org/model@", &cat), Err(Error::Usage(_))));
}

#[test]
fn offline_with_empty_cache_fails_fast_naming_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path().to_path_buf(), true);
    let spec = ModelSpec::parse("opus-mt-de-en", &Catalog::builtin()).unwrap();
    let t0 = Instant::now();
    let err = s.resolve(&spec, &FileSet::of_entry(&Catalog::builtin().models[0])).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2));
    let msg = err.to_string();
    assert!(matches!(err, Error::ModelUnavailable(_)));
    for needle in ["opus-mt-de-en", "Helsinki-NLP/opus-mt-de-en", "offline", "config.json", "vertolk models pull", "--model", "HF_ENDPOINT"] {
        assert!(msg.contains(needle), "message lacks {needle:?}: {msg}");
    }
    assert_eq!(err.exit_code(), vertolk::error::exit_code::MODEL_UNAVAILABLE);
}

#[test]
fn unreachable_endpoint_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path().to_path_buf(), false);
    let spec = ModelSpec::parse("org/some-model@main", &Catalog::builtin()).unwrap();
    let t0 = Instant::now();
    let err = s.resolve(&spec, &FileSet::marian()).unwrap_err().to_string();
    assert!(t0.elapsed() < Duration::from_secs(15), "bounded time");
    assert!(err.contains("unreachable") && err.contains("org/some-model"), "{err}");
}

#[test]
fn model_in_hub_cache_resolves_offline_and_translates() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = common::install_in_hub_cache(tmp.path(), "vertolk/tiny-marian", "main", COMMIT, &common::fixtures().join("tiny-marian"));
    let s = store(tmp.path().to_path_buf(), true);
    let spec = ModelSpec::parse("vertolk/tiny-marian", &Catalog::builtin()).unwrap();
    let r = s.resolve(&spec, &FileSet::marian()).unwrap();
    assert_eq!(r.path, snap);
    assert_eq!(r.commit.as_deref(), Some(COMMIT));
    // a commit sha as revision needs no refs file
    let by_sha = ModelSpec::Hub { repo: "vertolk/tiny-marian".into(), revision: COMMIT.into() };
    assert_eq!(s.resolve(&by_sha, &FileSet::marian()).unwrap().path, snap);
    let t = MarianTranslator::load(&r.path, &Device::Cpu, TranslatorOptions { num_beams: Some(1), ..Default::default() }).unwrap();
    assert_eq!(t.translate(&["Die Straße bleibt bis Freitag gesperrt."]).unwrap()[0].text, "Die Straße bleibt bis Freitag gesperrt.");
    // all files verify, checksums included
    let checks = vertolk::hub::verify::verify_dir(&r.path, &FileSet::marian());
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(checks.iter().any(|c| c.file == "model.safetensors" && c.detail.contains("sha256 matches")), "{checks:?}");
}

#[test]
fn verify_catches_corrupt_blobs_and_bad_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = common::install_in_hub_cache(tmp.path(), "vertolk/tiny-marian", "main", COMMIT, &common::fixtures().join("tiny-marian"));
    // flip a byte inside the weights blob: its sha256 no longer matches its name
    let blob = std::fs::canonicalize(snap.join("model.safetensors")).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    // and break a JSON file
    let cfg = std::fs::canonicalize(snap.join("vocab.json")).unwrap();
    std::fs::write(&cfg, b"{not json").unwrap();
    let checks = vertolk::hub::verify::verify_dir(&snap, &FileSet::marian());
    let get = |f: &str| checks.iter().find(|c| c.file == f).unwrap();
    assert!(!get("model.safetensors").ok && get("model.safetensors").detail.contains("sha256 mismatch"));
    assert!(!get("vocab.json").ok && get("vocab.json").detail.contains("invalid JSON"));
    assert!(get("source.spm").ok);
}

#[test]
fn incomplete_local_folder_names_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "source.spm", "vocab.json"] {
        std::fs::copy(common::fixtures().join("tiny-marian").join(f), tmp.path().join(f)).unwrap();
    }
    let s = store(tmp.path().join("cache"), true);
    let err = s.resolve(&ModelSpec::LocalDir(tmp.path().to_path_buf()), &FileSet::marian()).unwrap_err().to_string();
    assert!(err.contains("target.spm") && err.contains("model.safetensors / pytorch_model.bin"), "{err}");
}

// ------------------------------------------------------------------ the binary

fn vertolk(args: &[&str], cache: &std::path::Path) -> std::process::Output {
    Command::new(common::bin())
        .args(args)
        .env("HF_HUB_CACHE", cache)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .expect("run vertolk")
}

#[test]
fn help_lists_the_subcommands_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vertolk(&["--help"], tmp.path());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["translate", "summarize", "brief", "models", "tokenize", "detect", "Exit codes"] {
        assert!(help.contains(sub), "--help lacks {sub}");
    }
    let out = vertolk(&["translate", "--no-such-flag", "x"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn models_list_shows_both_marian_repos() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vertolk(&["models", "list"], tmp.path());
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Helsinki-NLP/opus-mt-de-en @ 8be33f00bcaf451dc5ed05fdd94282649696b8e7"), "{s}");
    assert!(s.contains("Helsinki-NLP/opus-mt-nl-en @ refs/pr/1"), "{s}");
    assert!(s.contains(&tmp.path().display().to_string()));
}

#[test]
fn offline_translate_with_empty_cache_exits_4_naming_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.txt");
    std::fs::write(&input, "Die Straße bleibt gesperrt.\n").unwrap();
    let t0 = Instant::now();
    let out = vertolk(&["--offline", "translate", "--from", "de", input.to_str().unwrap()], &tmp.path().join("cache"));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opus-mt-de-en") && err.contains("offline"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn pull_against_unreachable_endpoint_fails_cleanly_without_leaking_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["-vvv", "models", "pull", "opus-mt-nl-en"])
        .env("HF_HUB_CACHE", tmp.path())
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("HF_TOKEN", "hf_SECRETtoken123")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unreachable") && err.contains("opus-mt-nl-en"), "{err}");
    assert!(!err.contains("SECRET") && !String::from_utf8_lossy(&out.stdout).contains("SECRET"));
}

#[test]
fn hf_hub_offline_env_means_cache_only() {
    // With HF_HUB_OFFLINE=1 a pull must not even try the (unreachable) endpoint: the error says offline.
    let tmp = tempfile::tempdir().unwrap();
    for v in ["1", "true", "YES"] {
        let out = Command::new(common::bin())
            .args(["models", "pull", "opus-mt-de-en"])
            .env("HF_HUB_CACHE", tmp.path())
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env("HF_HUB_OFFLINE", v)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("offline") && !err.contains("unreachable"), "HF_HUB_OFFLINE={v}: {err}");
    }
}

#[test]
fn corrupt_weights_exit_4_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for e in std::fs::read_dir(common::fixtures().join("tiny-marian")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), model.join(e.file_name())).unwrap();
    }
    let w = model.join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let input = tmp.path().join("a.txt");
    std::fs::write(&input, "Die Firma\n").unwrap();
    let out = vertolk(&["translate", "--lines", "--model", model.to_str().unwrap(), input.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("model.safetensors") && err.contains("invalid"), "{err}");
}

#[test]
fn models_list_columns_line_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vertolk(&["models", "list"], tmp.path());
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = s.lines().take_while(|l| !l.is_empty()).collect();
    assert!(lines.len() > 3, "{s}");
    // every column starts where its heading does, however long the repo names
    let header = lines[0].to_ascii_uppercase();
    let starts: Vec<usize> = ["TASK", "LANGS", "REPO", "CACHED"].iter().map(|h| header.find(h).unwrap()).collect();
    for l in &lines[1..] {
        let b = l.as_bytes();
        for &i in &starts {
            assert!(b.get(i - 1) == Some(&b' ') && b.get(i).is_some_and(|c| *c != b' '), "misaligned at {i}:\n{}\n{l}", lines[0]);
        }
        assert_eq!(l.rfind(' ').unwrap() + 1, starts[3], "the last column:\n{}\n{l}", lines[0]);
    }
}
