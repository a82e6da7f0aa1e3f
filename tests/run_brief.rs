//! `vertolk brief` end to end with the fixture translator and the extractive summarizer: outputs,
//! citations, resume, per-file errors and exit codes, shards + merge.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn model() -> String {
    common::fixtures().join("tiny-marian").display().to_string()
}

fn brief(args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .arg("brief")
        .args(args)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run vertolk")
}

fn seeds_copy(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), input.join(e.file_name())).unwrap();
    }
    input
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn base_args<'a>(input: &'a str, out: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![input, "--out", out, "--model", model, "--summarizer", "extractive", "-q"]
}

#[test]
fn seeds_end_to_end_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let input = seeds_copy(tmp.path());
    let out = tmp.path().join("out");
    let (i, o, m) = (input.to_str().unwrap(), out.to_str().unwrap(), model());
    let r = brief(&base_args(i, o, &m));
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    for stem in ["000_7609ae540cdb8cc1", "001_8695f23ad673d5a0", "002_13c6f63b31598274", "003_5696cc00a3403725", "004_cfe423b33326e34a"] {
        assert!(out.join(format!("{stem}.en.md")).is_file(), "{stem}.en.md");
        let summary = std::fs::read_to_string(out.join(format!("{stem}.summary.md"))).unwrap();
        assert!(summary.contains("extractive summary"), "labelled extractive: {summary}");
    }
    let report = json(&out.join("report.json"));
    assert_eq!((report["total"].as_u64(), report["done"].as_u64(), report["failed"].as_u64()), (Some(5), Some(5), Some(0)));
    let langs: Vec<&str> = report["articles"].as_array().unwrap().iter().map(|a| a["article"]["language"].as_str().unwrap()).collect();
    assert_eq!(langs, vec!["de", "de", "nl", "de", "en"]);
    assert!(report["articles"][0]["article"]["sha256"].as_str().unwrap().len() == 64);
    // per article: the translation checks' flags and the model's confidence (the fixture copies German,
    // so its segments are flagged `copied_source`); English passes through with neither
    let a0 = &report["articles"][0]["article"];
    assert!(a0["flags"]["copied_source"].as_u64().unwrap() >= 1, "{a0}");
    let c = &a0["confidence"];
    assert!(c["min"].as_f64().unwrap() <= c["mean"].as_f64().unwrap() && c["mean"].as_f64().unwrap() <= 1.0, "{c}");
    assert!(report["articles"][4]["article"].get("confidence").is_none());
    // the briefing cites only existing sources and lists all five
    let b = json(&out.join("briefing.json"));
    assert_eq!(b["sources"].as_array().unwrap().len(), 5);
    let points = b["points"].as_array().unwrap();
    assert!(points.len() >= 5);
    for p in points {
        let c = p["citations"].as_array().unwrap();
        assert!(!c.is_empty() && c.iter().all(|n| (1..=5).contains(&n.as_u64().unwrap())), "{p}");
    }
    let md = std::fs::read_to_string(out.join("briefing.md")).unwrap();
    assert!(md.contains("## Sources") && md.contains("004_cfe423b33326e34a.txt") && md.contains("(nl, 2019-08)"), "{md}");
    // the English article's summary is extractive from its own text: every fact is found there
    let en = &b["sources"][4];
    assert!(en["summary"].as_str().unwrap().contains("Cloudflare"));
    assert_eq!(en["unsupported"].as_array().unwrap().len(), 0);

    // re-run: everything is skipped, nothing rewritten
    let before = std::fs::metadata(out.join("briefing.md")).unwrap().modified().unwrap();
    let r = brief(&base_args(i, o, &m));
    assert_eq!(r.status.code(), Some(0));
    let report = json(&out.join("report.json"));
    assert_eq!(report["skipped"].as_u64(), Some(5));
    assert_eq!(std::fs::metadata(out.join("briefing.md")).unwrap().modified().unwrap(), before);

    // an interrupted run: two records gone, one output deleted, a stale temp file left behind
    let mut records: Vec<PathBuf> = std::fs::read_dir(out.join("articles")).unwrap().map(|e| e.unwrap().path()).collect();
    records.sort();
    std::fs::remove_file(&records[1]).unwrap();
    std::fs::remove_file(&records[3]).unwrap();
    std::fs::remove_file(out.join("004_cfe423b33326e34a.summary.md")).unwrap();
    std::fs::write(out.join("articles/.x.json.tmp-99999"), b"{half").unwrap();
    let r = brief(&base_args(i, o, &m));
    assert_eq!(r.status.code(), Some(0));
    let report = json(&out.join("report.json"));
    assert_eq!(report["skipped"].as_u64(), Some(3));
    assert_eq!(report["done"].as_u64(), Some(5));
    assert!(out.join("004_cfe423b33326e34a.summary.md").is_file());
    let names: Vec<String> = std::fs::read_dir(out.join("articles")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 5, "no duplicates, no temp files: {names:?}");

    // a changed setting redoes exactly what it affects: summaries, not translations
    let mut args = base_args(i, o, &m);
    args.extend(["--max-words", "40"]);
    let r = brief(&args);
    assert_eq!(r.status.code(), Some(0));
    let report = json(&out.join("report.json"));
    assert_eq!(report["skipped"].as_u64(), Some(0));
    for a in report["articles"].as_array().unwrap() {
        assert_eq!((a["translation_cached"].as_bool(), a["summary_cached"].as_bool()), (Some(true), Some(false)), "{a}");
    }
}

#[test]
fn bad_files_are_reported_and_the_rest_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = seeds_copy(tmp.path());
    std::fs::write(input.join("empty.txt"), b"").unwrap();
    std::fs::write(input.join("blob.txt"), [0u8, 1, 2, 3, 255, 0, 7]).unwrap();
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("Die Straße bleibt bis Freitag gesperrt. Der Bürgermeister ist zufrieden.\n");
    std::fs::write(input.join("latin.txt"), &latin).unwrap();
    let out = tmp.path().join("out");
    let r = brief(&base_args(input.to_str().unwrap(), out.to_str().unwrap(), &model()));
    assert_eq!(r.status.code(), Some(3), "{}", String::from_utf8_lossy(&r.stderr));
    let report = json(&out.join("report.json"));
    assert_eq!((report["total"].as_u64(), report["done"].as_u64(), report["failed"].as_u64()), (Some(8), Some(6), Some(2)));
    let failed: Vec<(String, String)> = report["articles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "failed")
        .map(|a| (a["source"].as_str().unwrap().to_string(), a["error"].as_str().unwrap().to_string()))
        .collect();
    assert!(failed.iter().any(|(s, e)| s.ends_with("empty.txt") && e.contains("empty file")), "{failed:?}");
    assert!(failed.iter().any(|(s, e)| s.ends_with("blob.txt") && e.contains("binary")), "{failed:?}");
    assert!(out.join("latin.summary.md").is_file());
    assert_eq!(json(&out.join("briefing.json"))["sources"].as_array().unwrap().len(), 6);
    // nothing usable: exit 1
    let only_bad = tmp.path().join("bad");
    std::fs::create_dir(&only_bad).unwrap();
    std::fs::write(only_bad.join("empty.txt"), b"").unwrap();
    let r = brief(&base_args(only_bad.to_str().unwrap(), tmp.path().join("out2").to_str().unwrap(), &model()));
    assert_eq!(r.status.code(), Some(1));
}

#[test]
fn shards_and_merge_cover_the_same_articles_as_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = seeds_copy(tmp.path());
    let i = input.to_str().unwrap();
    let m = model();
    let (s1, s2, merged) = (tmp.path().join("s1"), tmp.path().join("s2"), tmp.path().join("merged"));
    for (k, dir) in [("1/2", &s1), ("2/2", &s2)] {
        let mut args = base_args(i, dir.to_str().unwrap(), &m);
        args.extend(["--shard", k]);
        let r = brief(&args);
        assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
        assert!(!dir.join("briefing.md").exists(), "shards write no briefing");
    }
    let n1 = json(&s1.join("report.json"))["total"].as_u64().unwrap();
    let n2 = json(&s2.join("report.json"))["total"].as_u64().unwrap();
    assert_eq!(n1 + n2, 5);
    let r = brief(&["--merge", s1.to_str().unwrap(), s2.to_str().unwrap(), "--out", merged.to_str().unwrap(), "--summarizer", "extractive", "-q"]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let single = tmp.path().join("single");
    assert_eq!(brief(&base_args(i, single.to_str().unwrap(), &m)).status.code(), Some(0));
    let files = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = json(&p.join("briefing.json"))["sources"].as_array().unwrap().iter().map(|s| s["file"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(files(&merged), files(&single));
    assert_eq!(json(&merged.join("briefing.json"))["points"], json(&single.join("briefing.json"))["points"]);
}

#[test]
fn missing_translators_are_explained_once_not_per_article() {
    // offline with an empty cache: de (3 seeds) and nl (1 seed) have no translator; the English seed is done
    let tmp = tempfile::tempdir().unwrap();
    let input = seeds_copy(tmp.path());
    let out = tmp.path().join("out");
    let r = Command::new(common::bin())
        .args(["brief", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--summarizer", "extractive", "--offline"])
        .env("HF_HUB_CACHE", tmp.path().join("empty-cache"))
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(4), "{err}");
    assert_eq!(err.matches("To fix:").count(), 2, "one explanation per missing model:\n{err}");
    for stem in ["000_7609ae540cdb8cc1", "001_8695f23ad673d5a0", "002_13c6f63b31598274", "003_5696cc00a3403725"] {
        assert_eq!(err.lines().filter(|l| l.starts_with("error:") && l.contains(stem)).count(), 1, "{stem} named once:\n{err}");
    }
    assert!(out.join("004_cfe423b33326e34a.summary.md").is_file());
}
