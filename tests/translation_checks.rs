//! The translation checks judged by mutation: the hand translations in `shared/seeds-en/` against the
//! seeds (they must pass), then copies with one fault each (they must be flagged). The checks compare a
//! source with a translation, so no model is needed: [`check_translation`] runs on (source, reference)
//! pairs, sentence-aligned by our splitter within paragraphs.
use crate::common;

use std::collections::BTreeMap;

use vertolk::pipeline::segment::SentenceSplitter;
use vertolk::pipeline::translate::check_translation;

struct Pair {
    stem: String,
    lang: &'static str,
    source: String,
    reference: String,
}

const SEEDS: &[(&str, &str)] = &[("000_7609ae540cdb8cc1", "de"), ("001_8695f23ad673d5a0", "de"), ("002_13c6f63b31598274", "nl"), ("003_5696cc00a3403725", "de")];

/// ` date 2022-04 ` before the first paragraph is metadata (the input stage takes it off).
fn strip_date(p: &str) -> &str {
    let t = p.trim_start();
    match t.strip_prefix("date ") {
        Some(r) if r.len() > 7 => r[7..].trim_start(),
        _ => p,
    }
}

/// Paragraph-aligned seeds and references (one output paragraph per source paragraph), each
/// paragraph split into sentences; equal counts pair one to one, else the paragraph is one pair.
fn pairs() -> Vec<Pair> {
    let shared = common::shared();
    let mut out = Vec::new();
    for &(stem, lang) in SEEDS {
        let src = std::fs::read_to_string(shared.join(format!("seeds/{stem}.txt"))).unwrap();
        let rf = std::fs::read_to_string(shared.join(format!("seeds-en/{stem}.en.txt"))).unwrap();
        // 003 has one paragraph per line, the others blank lines between paragraphs
        let sep = if stem.starts_with("003") { "\n" } else { "\n\n" };
        let sp: Vec<&str> = src.trim().split(sep).filter(|p| !p.trim().is_empty()).collect();
        let rp: Vec<&str> = rf.trim().split(sep).filter(|p| !p.trim().is_empty()).collect();
        assert_eq!(sp.len(), rp.len(), "{stem}: paragraphs");
        for (a, b) in sp.iter().zip(&rp) {
            let (a, b) = (strip_date(a.trim()), strip_date(b.trim()));
            let ss = SentenceSplitter::new(lang).split(a);
            let rs = SentenceSplitter::new("en").split(b);
            if ss.len() == rs.len() {
                for (x, y) in ss.iter().zip(&rs) {
                    out.push(Pair { stem: stem.into(), lang, source: x.to_string(), reference: y.to_string() });
                }
            } else {
                out.push(Pair { stem: stem.into(), lang, source: a.to_string(), reference: b.to_string() });
            }
        }
    }
    out
}

/// The names `facts.jsonl` lists per seed (people, organisations, places), longest first.
fn fact_names() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(common::shared().join("seeds-en/facts.jsonl")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let stem = v["file"].as_str().unwrap().trim_end_matches(".txt").to_string();
        let mut names: Vec<String> = Vec::new();
        for f in v["facts"].as_array().unwrap() {
            for n in f["names"].as_array().unwrap() {
                let n = n.as_str().unwrap().to_string();
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        out.insert(stem, names);
    }
    out
}

/// Byte offset of `needle` in `hay` as a whole word (a possessive 's may follow).
fn whole(hay: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = hay[from..].find(needle) {
        let at = from + p;
        let before = hay[..at].chars().last();
        let after = hay[at + needle.len()..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(|c| c.is_alphanumeric() && c != 's') {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

/// The first number of `text` with its last digit changed (+1, 9 → 0): "$35 billion" → "$36 billion".
fn change_number(text: &str) -> Option<String> {
    let p = text.find(|c: char| c.is_ascii_digit())?;
    let mut end = p;
    while text[end..].starts_with(|c: char| c.is_ascii_digit()) {
        end += 1;
    }
    let d = text.as_bytes()[end - 1] - b'0';
    Some(format!("{}{}{}", &text[..end - 1], (d + 1) % 10, &text[end..]))
}

/// `text` without every occurrence of `name` (and its possessive).
fn drop_name(text: &str, name: &str) -> String {
    let mut m = text.to_string();
    while let Some(at) = whole(&m, name) {
        let mut end = at + name.len();
        if m[end..].starts_with("'s") {
            end += 2;
        }
        m.replace_range(at..end, "");
    }
    m.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Mutations the checks do not flag, each with the reason (the mutated text is the key).
const EXPLAINED: &[(&str, &str, &str)] = &[
    ("name dropped", "manager magazin", "a brand written in lower case: the checks read lower-case German words as words, not names"),
    ("left in German", "Tarnkappe.info", "the line is a site's name; its copy is its right translation (the reference is the same)"),
];

#[test]
#[ignore = "needs ../shared (VERTOLK_SHARED)"]
fn references_pass_and_every_mutation_is_flagged() {
    let pairs = pairs();
    assert!(pairs.len() >= 90, "{} sentence pairs", pairs.len());
    // 1. the references: no flag, sentence by sentence and two sentences at a time (as --pack segments)
    let mut false_flags = Vec::new();
    let mut joined = 0;
    for (i, p) in pairs.iter().enumerate() {
        let f = check_translation(&p.source, &p.reference, p.lang);
        if !f.is_empty() {
            false_flags.push(format!("{} {f:?}\n  {}\n  {}", p.stem, p.source, p.reference));
        }
        if let Some(q) = pairs.get(i + 1).filter(|q| q.stem == p.stem) {
            let both = format!("{} {}", p.source, q.source);
            if SentenceSplitter::new(p.lang).split(&both).len() == 2 {
                joined += 1;
                let f = check_translation(&both, &format!("{} {}", p.reference, q.reference), p.lang);
                if !f.is_empty() {
                    false_flags.push(format!("{} {f:?}\n  {both}", p.stem));
                }
            }
        }
    }
    println!("references: {} sentence pairs and {joined} two-sentence pairs, {} flagged", pairs.len(), false_flags.len());
    assert!(false_flags.is_empty(), "false flags on the references:\n{}", false_flags.join("\n"));

    // 2. the mutations
    let names = fact_names();
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses: Vec<(&str, String, String)> = Vec::new();
    let mut judge = |kind: &'static str, source: &str, lang: &str, mutated: &str, key: &str| {
        let f = check_translation(source, mutated, lang);
        let e = tally.entry(kind).or_default();
        e.0 += 1;
        if f.is_empty() {
            misses.push((kind, key.to_string(), format!("{source}\n  → {mutated}")));
        } else {
            e.1 += 1;
        }
    };
    for (i, p) in pairs.iter().enumerate() {
        if let Some(m) = change_number(&p.reference) {
            judge("number changed", &p.source, p.lang, &m, &m);
        }
        if let Some(n) = names[&p.stem].iter().find(|n| whole(&p.reference, n).is_some()) {
            judge("name dropped", &p.source, p.lang, &drop_name(&p.reference, n), n);
        }
        judge("left in German", &p.source, p.lang, &p.source, &p.source);
        let words: Vec<&str> = p.reference.split_whitespace().collect();
        if words.len() >= 12 {
            judge("half sentence dropped", &p.source, p.lang, &words[..words.len() / 2].join(" "), &p.reference);
        }
        if let Some(q) = pairs.get(i + 1).filter(|q| q.stem == p.stem) {
            let both = format!("{} {}", p.source, q.source);
            if SentenceSplitter::new(p.lang).split(&both).len() == 2 {
                judge("sentence dropped", &both, p.lang, &p.reference, &p.reference);
                judge("sentence dropped", &both, p.lang, &q.reference, &q.reference);
            }
        }
    }
    for (kind, (n, flagged)) in &tally {
        println!("{kind:22} {flagged:3}/{n:3} flagged");
    }
    let unexplained: Vec<String> = misses
        .iter()
        .filter(|(kind, key, _)| !EXPLAINED.iter().any(|(k, what, _)| k == kind && key == what))
        .map(|(kind, _, text)| format!("{kind}: {text}"))
        .collect();
    for (kind, what, why) in EXPLAINED {
        println!("explained miss, {kind}: {what:?}: {why}");
    }
    assert!(unexplained.is_empty(), "mutations not flagged:\n{}", unexplained.join("\n"));
    assert_eq!(misses.len(), EXPLAINED.len(), "an explained miss is flagged now: drop it from EXPLAINED");
    for kind in ["number changed", "name dropped", "left in German", "sentence dropped", "half sentence dropped"] {
        assert!(tally.get(kind).is_some_and(|(n, _)| *n >= 15), "{kind}: too few mutations");
    }
}
