//! `vertolk eval`: quality measured against references, rerunnable.
//!
//! - [`check_labelled`]: the fact checker on hand-labelled summary sentences (`../shared/eval/
//!   summary_sentences.jsonl`): precision and recall on the sentences that are wrong (U, M, T), with
//!   partly supported ones (P) reported apart.
//! - [`evaluate_output`]: a `brief` output folder against per-article key facts and traps (`../shared/
//!   seeds-en/facts.jsonl`): facts kept with their numbers and names, trap statements, uncited points,
//!   cut-off or non-English sentences, and the briefing's shape.
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pipeline::factcheck::{align, check_point, Check, CheckKind, Evidence};
use crate::pipeline::input::{Source, DEFAULT_MAX_BYTES};
use crate::pipeline::prepare::Preparer;
use crate::pipeline::segment::SentenceSplitter;
use crate::pipeline::summarize::verify::SupportJudge;

/// One hand-labelled sentence of a summary.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LabelledSentence {
    pub run: String,
    pub article: String,
    pub sentence: String,
    /// S supported, P partly, U unsupported, M mistranslated, T truncated.
    pub label: String,
    #[serde(default)]
    pub error_spans: Vec<String>,
}

/// The checker's verdict on one labelled sentence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckedSentence {
    pub run: String,
    pub article: String,
    pub sentence: String,
    pub label: String,
    pub flagged: bool,
    /// The checks that failed.
    pub failed: Vec<Check>,
    /// The judge's verdict, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
}

/// Precision and recall over the labelled set.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckerScore {
    /// U, M and T: the sentences a checker should flag.
    pub positives: usize,
    pub flagged_positives: usize,
    /// S: the sentences it should leave alone.
    pub negatives: usize,
    pub flagged_negatives: usize,
    /// P: in between, reported apart.
    pub partly: usize,
    pub flagged_partly: usize,
    /// Flagged U/M/T over flagged U/M/T/S (P left out).
    pub precision: f64,
    /// Flagged U/M/T over all U/M/T.
    pub recall: f64,
    /// Flagged U/M/T over flagged sentences of any label (a flagged P counts as a false alarm).
    pub precision_strict: f64,
    /// How often each check fired on positives and on negatives.
    pub by_check: BTreeMap<String, (usize, usize)>,
}

pub fn read_labels(path: &Path) -> Result<Vec<LabelledSentence>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Input { path: path.display().to_string(), reason: format!("line {}: {e}", i + 1) }))
        .collect()
}

/// An article as the checker sees it: its sentences and language.
struct SourceArticle {
    language: String,
    title: Option<String>,
    sentences: Vec<String>,
}

fn read_source(path: &Path, preparer: &Preparer) -> Result<SourceArticle> {
    let p = preparer.prepare(&Source::File(path.to_path_buf()))?;
    let splitter = SentenceSplitter::new(&p.language.lang);
    let sentences = p.document.blocks.iter().flat_map(|b| splitter.split(&b.text)).map(String::from).collect();
    Ok(SourceArticle { language: p.language.lang.clone(), title: p.document.meta.title.clone(), sentences })
}

/// The fact checker on each labelled sentence, against its whole source article (free-form summaries
/// cite nothing): numbers and names against every sentence, polarity against the sentences it aligns
/// with, and, with `judge`, the model's support verdict on those sentences.
pub fn check_labelled(labels: &[LabelledSentence], seeds: &Path, mut judge: Option<&mut dyn SupportJudge>) -> Result<(Vec<CheckedSentence>, CheckerScore)> {
    let preparer = Preparer::new(None, DEFAULT_MAX_BYTES);
    let mut sources: BTreeMap<String, SourceArticle> = BTreeMap::new();
    let mut earlier: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut rows = Vec::new();
    for l in labels {
        if !sources.contains_key(&l.article) {
            sources.insert(l.article.clone(), read_source(&seeds.join(&l.article), &preparer)?);
        }
        let src = &sources[&l.article];
        let all: Vec<&str> = src.sentences.iter().map(String::as_str).collect();
        let before = earlier.entry((l.run.clone(), l.article.clone())).or_default();
        let prior: Vec<&str> = before.iter().map(String::as_str).collect();
        let whole = Evidence { sentences: all.clone(), language: &src.language, title: src.title.as_deref() };
        let mut checks = check_point(&l.sentence, &whole, &prior, 60);
        // polarity is judged against the sentences the point rests on, not the whole article
        let aligned: Vec<&str> = align(&l.sentence, &all, 3).into_iter().map(|i| all[i]).collect();
        let near = Evidence { sentences: aligned.iter().take(1).copied().collect(), language: &src.language, title: None };
        let polarity = check_point(&l.sentence, &near, &[], 60).into_iter().find(|c| c.check == CheckKind::Polarity);
        for c in checks.iter_mut().filter(|c| c.check == CheckKind::Polarity) {
            if let Some(p) = &polarity {
                *c = p.clone();
            }
        }
        if let Some(j) = judge.as_deref_mut() {
            let evidence: Vec<&str> = if aligned.is_empty() { all.iter().take(3).copied().collect() } else { aligned.clone() };
            checks.push(j.judge(&l.sentence, &evidence, &src.language)?);
        }
        before.push(l.sentence.clone());
        // a repeat is redundant, not untrue (the labels count a repeated supported sentence as S)
        let support = checks.iter().find(|c| c.check == CheckKind::Support).map(|c| c.detail.clone());
        let failed: Vec<Check> = checks.into_iter().filter(|c| !c.ok && c.check != CheckKind::Duplicate).collect();
        rows.push(CheckedSentence { run: l.run.clone(), article: l.article.clone(), sentence: l.sentence.clone(), label: l.label.clone(), flagged: !failed.is_empty(), failed, support });
    }
    Ok((rows.clone(), score(&rows)))
}

fn score(rows: &[CheckedSentence]) -> CheckerScore {
    let mut s = CheckerScore::default();
    for r in rows {
        let positive = matches!(r.label.as_str(), "U" | "M" | "T");
        match r.label.as_str() {
            "U" | "M" | "T" => {
                s.positives += 1;
                s.flagged_positives += r.flagged as usize;
            }
            "S" => {
                s.negatives += 1;
                s.flagged_negatives += r.flagged as usize;
            }
            _ => {
                s.partly += 1;
                s.flagged_partly += r.flagged as usize;
            }
        }
        for c in &r.failed {
            let e = s.by_check.entry(format!("{:?}", c.check).to_lowercase()).or_default();
            if positive {
                e.0 += 1;
            } else if r.label == "S" {
                e.1 += 1;
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    s.precision = ratio(s.flagged_positives, s.flagged_positives + s.flagged_negatives);
    s.recall = ratio(s.flagged_positives, s.positives);
    s.precision_strict = ratio(s.flagged_positives, s.flagged_positives + s.flagged_negatives + s.flagged_partly);
    s
}

/// The checker's table as Markdown.
pub fn checker_markdown(rows: &[CheckedSentence], s: &CheckerScore) -> String {
    let mut md = String::from("| label | sentences | flagged |\n|---|---|---|\n");
    for (label, what) in [("U/M/T", "wrong"), ("S", "supported"), ("P", "partly supported")] {
        let (n, f) = match label {
            "U/M/T" => (s.positives, s.flagged_positives),
            "S" => (s.negatives, s.flagged_negatives),
            _ => (s.partly, s.flagged_partly),
        };
        md.push_str(&format!("| {label} ({what}) | {n} | {f} |\n"));
    }
    md.push_str(&format!(
        "\nprecision {:.2} ({}/{}), recall {:.2} ({}/{}); strict precision (a flagged P is a false alarm) {:.2}\n\n",
        s.precision,
        s.flagged_positives,
        s.flagged_positives + s.flagged_negatives,
        s.recall,
        s.flagged_positives,
        s.positives,
        s.precision_strict
    ));
    md.push_str("| check | fired on U/M/T | fired on S |\n|---|---|---|\n");
    for (k, (p, n)) in &s.by_check {
        md.push_str(&format!("| {k} | {p} | {n} |\n"));
    }
    md.push_str("\n| run | article | label | flagged | why | judge | sentence |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        let why: Vec<String> = r.failed.iter().filter(|c| c.check != CheckKind::Support).map(|c| format!("{:?}: {}", c.check, c.detail).to_lowercase()).collect();
        let cut: String = r.sentence.chars().take(70).collect();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.run,
            r.article.get(..3).unwrap_or(&r.article),
            r.label,
            if r.flagged { "yes" } else { "" },
            why.join("; ").replace('|', "/"),
            r.support.as_deref().unwrap_or(""),
            cut.replace('|', "/")
        ));
    }
    md
}
