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
use crate::pipeline::factcheck::{self, align, check_point, Check, CheckKind, Evidence};
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
    let p = preparer.prepare(&Source::file(path))?;
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
        // polarity and causes are judged against the sentence the point rests on, not the whole article
        let aligned: Vec<&str> = align(&l.sentence, &all, 3).into_iter().map(|i| all[i]).collect();
        let near = Evidence { sentences: aligned.iter().take(1).copied().collect(), language: &src.language, title: None };
        let near_checks = check_point(&l.sentence, &near, &[], 60);
        for c in checks.iter_mut().filter(|c| matches!(c.check, CheckKind::Polarity | CheckKind::Cause)) {
            if let Some(p) = near_checks.iter().find(|n| n.check == c.check) {
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

// ---------------------------------------------------------------------------------------------
// A brief output against key facts and traps

/// One article's key facts (`../shared/seeds-en/facts.jsonl`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ArticleFacts {
    pub file: String,
    pub facts: Vec<KeyFact>,
    #[serde(default)]
    pub traps: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct KeyFact {
    pub fact: String,
    #[serde(default)]
    pub numbers: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
}

/// What the evaluation found for one article.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArticleEval {
    pub source: String,
    pub points: usize,
    /// Of the first three key facts, those the summary keeps (all their numbers, with unit and scale,
    /// and at least half of their name words).
    pub first_three_kept: usize,
    pub facts_kept: usize,
    pub facts: usize,
    /// Points with no valid citation, cut off, or not English.
    pub uncited: usize,
    pub truncated: usize,
    pub not_english: usize,
    /// Points that look like a trap statement (shared words and the same polarity): to be read.
    pub trap_candidates: Vec<(String, String)>,
    pub missing_facts: Vec<String>,
}

/// What the evaluation found for the briefing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BriefingEval {
    pub bullets: usize,
    pub multi_source_bullets: usize,
    pub longest_bullet_words: usize,
    pub uncited: usize,
    pub truncated: usize,
    pub not_english: usize,
    pub trap_candidates: Vec<(String, String)>,
}

pub fn read_facts(path: &Path) -> Result<Vec<ArticleFacts>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Input { path: path.display().to_string(), reason: format!("line {}: {e}", i + 1) }))
        .collect()
}

/// Is `fact` kept by `summary`: every number (value, scale, unit) and at least half of its name words?
pub fn keeps(summary: &str, fact: &KeyFact) -> bool {
    use crate::pipeline::factcheck::names::NameIndex;
    use crate::pipeline::factcheck::quantities::{quantities, supports};
    let have = quantities(summary, "en");
    let numbers = fact.numbers.iter().all(|n| quantities(n, "en").iter().all(|want| have.iter().any(|q| supports(q, want) && supports(want, q))));
    let index = NameIndex::new([summary]);
    let words: Vec<&str> = fact.names.iter().flat_map(|n| n.split_whitespace()).filter(|w| w.chars().next().is_some_and(char::is_uppercase)).collect();
    let found = words.iter().filter(|w| index.names(w)).count();
    numbers && found * 2 >= words.len()
}

/// Points that may state a trap: most of the trap's content words are in the point, and they agree in
/// negation. A candidate, not a verdict: each is to be read.
fn trap_candidates(points: &[String], traps: &[String]) -> Vec<(String, String)> {
    use crate::pipeline::factcheck::names::words;
    let content = |t: &str| -> std::collections::HashSet<String> {
        words(t).into_iter().filter(|w| w.chars().count() > 3).map(|w| w.trim_end_matches('s').to_string()).collect()
    };
    let mut out = Vec::new();
    for trap in traps {
        let tw = content(trap);
        for p in points {
            let pw = content(p);
            let shared = tw.intersection(&pw).count();
            let same_polarity = factcheck::negations(trap, "en").is_empty() == factcheck::negations(p, "en").is_empty();
            if tw.len() >= 3 && shared * 2 >= tw.len() && same_polarity {
                out.push((trap.clone(), p.clone()));
            }
        }
    }
    out
}

fn point_problems(text: &str) -> (bool, bool) {
    (factcheck::incomplete(text).is_some(), factcheck::not_english(text).is_some() || !factcheck::lexicon::untranslated_words(text).is_empty())
}

/// Evaluate a `brief` output folder against key facts: per article (matched by the first three
/// characters of the file name, the seeds' number) and the briefing.
pub fn evaluate_output(out: &Path, facts: &[ArticleFacts]) -> Result<(Vec<ArticleEval>, BriefingEval)> {
    let records = crate::run::collect_records(out)?;
    let number = |name: &str| -> String { Path::new(name).file_name().map(|f| f.to_string_lossy().chars().take(3).collect()).unwrap_or_default() };
    let mut articles = Vec::new();
    let mut all_traps: Vec<String> = Vec::new();
    for r in &records {
        let Some(f) = facts.iter().find(|f| number(&f.file) == number(&r.source)) else { continue };
        all_traps.extend(f.traps.iter().cloned());
        let Some(s) = &r.summary else { continue };
        let texts: Vec<String> = if s.points.is_empty() { vec![s.text.clone()] } else { s.points.iter().map(|p| p.text.clone()).collect() };
        let joined = texts.join(" ");
        let kept: Vec<bool> = f.facts.iter().map(|k| keeps(&joined, k)).collect();
        let n = s.sentences.len();
        let uncited = s.points.iter().filter(|p| p.citations.is_empty() || p.citations.iter().any(|&c| c == 0 || c > n)).count();
        let (mut truncated, mut not_english) = (0, 0);
        for t in &texts {
            let (tr, ne) = point_problems(t);
            truncated += tr as usize;
            not_english += ne as usize;
        }
        articles.push(ArticleEval {
            source: r.source.clone(),
            points: texts.len(),
            first_three_kept: kept.iter().take(3).filter(|k| **k).count(),
            facts_kept: kept.iter().filter(|k| **k).count(),
            facts: kept.len(),
            uncited,
            truncated,
            not_english,
            trap_candidates: trap_candidates(&texts, &f.traps),
            missing_facts: f.facts.iter().zip(&kept).take(3).filter(|(_, k)| !**k).map(|(f, _)| f.fact.clone()).collect(),
        });
    }
    let mut b = BriefingEval::default();
    let path = out.join("briefing.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Input { path: path.display().to_string(), reason: e.to_string() })?;
        let sources = v["sources"].as_array().map(Vec::len).unwrap_or(0);
        let bullets: Vec<(String, Vec<u64>)> = v["points"]
            .as_array()
            .map(|a| a.iter().map(|p| (p["text"].as_str().unwrap_or("").to_string(), p["citations"].as_array().map(|c| c.iter().filter_map(|x| x.as_u64()).collect()).unwrap_or_default())).collect())
            .unwrap_or_default();
        b.bullets = bullets.len();
        for (t, c) in &bullets {
            b.multi_source_bullets += (c.len() >= 2) as usize;
            b.longest_bullet_words = b.longest_bullet_words.max(t.split_whitespace().count());
            b.uncited += (c.is_empty() || c.iter().any(|&n| n == 0 || n as usize > sources)) as usize;
            let (tr, ne) = point_problems(t);
            b.truncated += tr as usize;
            b.not_english += ne as usize;
        }
        let texts: Vec<String> = bullets.into_iter().map(|(t, _)| t).collect();
        b.trap_candidates = trap_candidates(&texts, &all_traps);
    }
    Ok((articles, b))
}

/// The output evaluation as Markdown.
pub fn output_markdown(articles: &[ArticleEval], b: &BriefingEval) -> String {
    let mut md = String::from("| article | points | first 3 facts kept | all facts kept | uncited | cut off | not English | trap candidates |\n|---|---|---|---|---|---|---|---|\n");
    for a in articles {
        let name = Path::new(&a.source).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        md.push_str(&format!(
            "| {} | {} | {}/3 | {}/{} | {} | {} | {} | {} |\n",
            name.get(..3).unwrap_or(&name),
            a.points,
            a.first_three_kept,
            a.facts_kept,
            a.facts,
            a.uncited,
            a.truncated,
            a.not_english,
            a.trap_candidates.len()
        ));
    }
    md.push_str(&format!(
        "\nbriefing: {} bullets, {} citing two or more articles, longest {} words, {} uncited, {} cut off, {} not English, {} trap candidates\n",
        b.bullets, b.multi_source_bullets, b.longest_bullet_words, b.uncited, b.truncated, b.not_english, b.trap_candidates.len()
    ));
    for a in articles {
        for m in &a.missing_facts {
            md.push_str(&format!("\n- {} misses: {m}", a.source));
        }
        for (trap, p) in &a.trap_candidates {
            md.push_str(&format!("\n- {} trap candidate: \"{p}\" ~ trap \"{trap}\"", a.source));
        }
    }
    for (trap, p) in &b.trap_candidates {
        md.push_str(&format!("\n- briefing trap candidate: \"{p}\" ~ trap \"{trap}\""));
    }
    md.push('\n');
    md
}
