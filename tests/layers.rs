//! The architecture, checked: every `crate::…` and `super::…` path in `src/` points down the layers
//! (cli → run/bench/eval → pipeline → hub → models → generation/tokenizer → kernels → device/progress/hash/
//! interrupt → error), the pipeline's stages import only earlier stages (input → detect → text → prepare → segment →
//! translate → factcheck → summarize → briefing), and no two sibling modules of a layer import each other.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rank of each top-level module; a module may use modules of lower rank, and its own.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("device", 1),
    ("progress", 1),
    ("hash", 1),
    ("interrupt", 1),
    ("kernels", 2),
    ("generation", 3),
    ("tokenizer", 3),
    ("models", 4),
    ("hub", 5),
    ("pipeline", 6),
    ("run", 7),
    ("bench", 7),
    ("eval", 8),
    ("cli", 9),
];

const STAGES: &[&str] = &["input", "detect", "text", "prepare", "segment", "translate", "factcheck", "summarize", "briefing"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` → `[a, b]`, `src/a/mod.rs` → `[a]`, `src/lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The module paths a file refers to, resolved to absolute paths (`crate::a::b` → `[a, b]`), with the
/// line they are on. Comments are skipped (doc links may point anywhere).
fn references(text: &str, module: &[String]) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for prefix in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(rel) = code[from..].find(prefix) {
                let at = from + rel;
                from = at + prefix.len();
                let before = code[..at].chars().last();
                let tail = &code[at..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let segs: Vec<&str> = tail.split("::").collect();
                let mut path: Vec<String> = Vec::new();
                let mut i = 0;
                if segs[0] == "crate" {
                    i = 1;
                } else {
                    // `super` is the parent of the file's module (`a/b.rs` and `a/b/mod.rs` are both `a::b`)
                    path = module.to_vec();
                    while segs.get(i) == Some(&"super") {
                        path.pop();
                        i += 1;
                    }
                }
                for s in &segs[i..] {
                    // module names are lower-case; `Type`, `{a, b}` or `fn(` end the module path
                    let ident: String = s.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
                    if ident.is_empty() {
                        break;
                    }
                    let whole = ident.len() == s.len();
                    path.push(ident);
                    if !whole {
                        break;
                    }
                }
                if !path.is_empty() {
                    out.push((path, n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn imports_point_down_the_layers_and_stages() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let rank: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    let mut sibling_edges: BTreeSet<(String, String)> = BTreeSet::new();
    for f in &files {
        let module = module_of(&src, f);
        let Some(top) = module.first() else { continue };
        let Some(&from_rank) = rank.get(top.as_str()) else {
            violations.push(format!("{}: module {top} has no layer in tests/layers.rs", f.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (target, line) in references(&text, &module) {
            let to = target[0].as_str();
            let Some(&to_rank) = rank.get(to) else { continue };
            let here = format!("{}:{line}", f.strip_prefix(&src).unwrap().display());
            if to != top && to_rank >= from_rank {
                violations.push(format!("{here}: {top} (layer {from_rank}) uses {} (layer {to_rank})", target.join("::")));
            }
            if to == top && top == "pipeline" && module.len() > 1 && target.len() > 1 {
                let stage = |s: &str| STAGES.iter().position(|x| *x == s);
                match (stage(&module[1]), stage(&target[1])) {
                    (Some(a), Some(b)) if b > a => violations.push(format!("{here}: stage {} uses the later stage {}", module[1], target[1])),
                    (None, _) | (_, None) => violations.push(format!("{here}: pipeline::{} or pipeline::{} is not a stage in tests/layers.rs", module[1], target[1])),
                    _ => {}
                }
            }
            if to == top && module.len() > 1 && target.len() > 1 && module[1] != target[1] {
                sibling_edges.insert((format!("{top}::{}", module[1]), format!("{top}::{}", target[1])));
            }
        }
    }
    for (a, b) in &sibling_edges {
        if sibling_edges.contains(&(b.clone(), a.clone())) && a < b {
            violations.push(format!("{a} and {b} import each other"));
        }
    }
    assert!(violations.is_empty(), "imports against the layering:\n{}", violations.join("\n"));
    // the check sees the code: every layer and stage is present
    for (m, _) in LAYERS {
        assert!(src.join(format!("{m}.rs")).is_file() || src.join(m).is_dir(), "layer {m} is missing from src/");
    }
    for s in STAGES {
        assert!(src.join("pipeline").join(format!("{s}.rs")).is_file() || src.join("pipeline").join(s).is_dir(), "stage {s} is missing");
    }
}

/// The checker itself finds an upward import, a later stage and a sibling cycle.
#[test]
fn the_layer_check_catches_what_it_should() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    let refs = references("use crate::cli::args::X;\n// use crate::run::x;\nlet a = super::super::hub::spec::F;", &m("models::marian"));
    let paths: Vec<String> = refs.iter().map(|(p, _)| p.join("::")).collect();
    assert_eq!(paths, vec!["cli::args", "hub::spec"]);
    let refs = references("use super::prepare::X;", &m("pipeline::translate"));
    assert_eq!(refs[0].0, m("pipeline::prepare"));
}
