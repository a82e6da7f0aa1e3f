//! The binary end to end on the fixture model: `tokenize` and `translate --lines`.
use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(common::bin())
        .args(args)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn model() -> String {
    common::fixtures().join("tiny-marian").display().to_string()
}

#[test]
fn tokenize_prints_hf_ids_one_line_per_input_line() {
    let golden = common::golden("marian_generate.json");
    let cases: Vec<_> = golden["cases"].as_array().unwrap().iter().filter(|c| c["mode"] == "single").take(12).collect();
    let input: String = cases.iter().map(|c| format!("{}\n", c["sources"][0].as_str().unwrap())).collect();
    let out = run(&["tokenize", "--model", &model(), "-"], &input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), cases.len());
    for (line, c) in lines.iter().zip(&cases) {
        let want: Vec<String> = common::ids(&c["input_ids"][0]).iter().map(u32::to_string).collect();
        assert_eq!(line, &want.join(" "));
    }
    // --target uses target.spm: different ids for the same text
    let out = run(&["tokenize", "--target", "--model", &model()], "Die Straße bleibt bis Freitag gesperrt.\n");
    let tgt = String::from_utf8(out.stdout).unwrap();
    assert!(tgt.trim().ends_with(" 0"));
    assert_ne!(tgt.trim(), lines[0]);
}

#[test]
fn translate_lines_keeps_line_count_and_matches_golden() {
    let golden = common::golden("marian_generate.json");
    let singles: Vec<_> = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["mode"] == "single" && c["num_beams"] == 4 && c["max_length"].is_null())
        .collect();
    let mut input = String::new();
    let mut want = Vec::new();
    for (i, c) in singles.iter().enumerate() {
        input.push_str(c["sources"][0].as_str().unwrap());
        input.push('\n');
        want.push(c["texts"][0].as_str().unwrap().to_string());
        if i == 2 {
            input.push('\n'); // an empty line stays an empty line
            want.push(String::new());
        }
    }
    let out = run(&["translate", "--lines", "--beams", "4", "--model", &model(), "-"], &input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    assert_eq!(got, want);
}

#[test]
fn bad_inputs_are_reported_and_the_rest_is_translated() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.txt");
    let bin = tmp.path().join("bad.txt");
    std::fs::write(&good, "Die Firma\n").unwrap();
    std::fs::write(&bin, b"\x00\x01\x02binary").unwrap();
    let out_dir = tmp.path().join("out");
    let out = run(
        &["translate", "--lines", "--beams", "1", "--model", &model(), "--out", out_dir.to_str().unwrap(), good.to_str().unwrap(), bin.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.txt"));
    assert_eq!(std::fs::read_to_string(out_dir.join("good.en.txt")).unwrap(), "Die Firma\n");
    assert!(!out_dir.join("bad.en.txt").exists());
}

#[test]
fn translate_folder_writes_one_file_per_article_and_reports_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), input.join(e.file_name())).unwrap();
    }
    std::fs::write(input.join("empty.txt"), b"").unwrap();
    std::fs::write(input.join("blob.txt"), b"\x00\x01\x02\x03binary").unwrap();
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("Die Straße bleibt bis Freitag gesperrt.\n");
    std::fs::write(input.join("latin.txt"), &latin).unwrap();
    std::fs::write(input.join(".hidden.txt"), "Die Firma").unwrap();
    let out = tmp.path().join("out");
    let o = run(&["-q", "translate", "--model", &model(), "--format", "markdown", "--out", out.to_str().unwrap(), input.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("empty.txt") && err.contains("empty file"), "{err}");
    assert!(err.contains("blob.txt") && err.contains("binary"), "{err}");
    let mut written: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    written.sort();
    assert_eq!(written.len(), 6, "{written:?}");
    assert!(written.contains(&"latin.en.md".to_string()) && !written.iter().any(|w| w.contains("hidden")));
    assert_eq!(std::fs::read_to_string(out.join("latin.en.md")).unwrap(), "Die Straße bleibt bis Freitag gesperrt. ⚠ *copied_source*\n", "the fixture copies German: marked");
}

#[test]
fn detect_names_the_seed_languages() {
    let o = run(&["detect", concat!(env!("CARGO_MANIFEST_DIR"), "/seeds")], "");
    assert!(o.status.success());
    let langs: Vec<String> = String::from_utf8(o.stdout).unwrap().lines().map(|l| l.split('\t').nth(1).unwrap().to_string()).collect();
    assert_eq!(langs, vec!["de", "de", "nl", "de", "en"]);
}

#[test]
fn summarize_with_a_bart_folder_goes_map_reduce_over_a_long_article() {
    // seed 004 is ~1,000 tokens; the tiny BART reads 128 positions
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/004_cfe423b33326e34a.txt");
    let bart = common::fixtures().join("tiny-bart");
    let out = run(&["summarize", "--format", "json", "--summarizer", &bart.display().to_string(), &seed.display().to_string()], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let s = if v.is_array() { &v[0]["summary"] } else { &v["summary"] };
    assert_eq!(s["method"], "seq2seq-map-reduce", "{v}");
    assert!(s["chunks"].as_u64().unwrap() >= 5, "{v}");
    assert!(s["summarizer"].as_str().unwrap().contains("BART"), "{v}");
    assert!(!s["text"].as_str().unwrap().trim().is_empty(), "{v}");
    // BART reads English only: --direct is refused with a usage error
    let out = run(&["summarize", "--direct", "--summarizer", &bart.display().to_string(), &seed.display().to_string()], "");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
