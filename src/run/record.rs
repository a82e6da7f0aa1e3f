//! The per-article record (`--out/articles/<stem>-<hash>.json`): everything known about one article,
//! saved after each stage. It is the unit of resume and of `--merge`, and its keys say when it is stale.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fs::write_atomic;
use crate::error::{Error, Result};
use crate::hash::sha256_hex;
use crate::pipeline::summarize::Summary;
use crate::pipeline::translate::ConfidenceSummary;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub read_s: f64,
    pub translate_s: f64,
    pub summarize_s: f64,
}

/// Everything known about one article; saved after each stage so a re-run resumes.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ArticleRecord {
    pub source: String,
    pub stem: String,
    pub sha256: String,
    pub language: String,
    pub language_confidence: f64,
    pub title: Option<String>,
    /// The title as the article had it, when `title` is its English translation (`--direct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_title: Option<String>,
    pub date: Option<String>,
    /// Key of the translation: article hash + translator + translation settings.
    pub translation_key: String,
    /// The text summaries read and facts are checked against (English translation or original).
    pub text: String,
    pub text_language: String,
    /// Markdown translation with the paragraph structure.
    pub translation_md: String,
    pub translator: BTreeMap<String, String>,
    pub segments: usize,
    pub split_sentences: usize,
    pub retried_segments: usize,
    pub flagged_segments: usize,
    /// Segments per problem flag (`missing_number`: 2), from the translation checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, usize>,
    /// The model's confidence over the article's segments (none when it passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<ConfidenceSummary>,
    pub dropped_boilerplate: usize,
    /// Key of the summary: translation key + summarizer + summary settings.
    pub summary_key: Option<String>,
    pub summary: Option<Summary>,
    pub summary_unsupported: Vec<String>,
    pub timings: Timings,
}

/// Key of a translation: the article's bytes, the translator setup (`None` when the text passes through
/// untranslated) and the forced source language.
pub fn translation_key(sha256: &str, translator: Option<&str>, from: Option<&str>) -> String {
    sha256_hex(format!("{sha256}|{}|{}", translator.unwrap_or("none"), from.unwrap_or_default()).as_bytes())
}

/// Key of a summary: the translation it reads, the summarizer setup and the summary settings.
pub fn summary_key(translation_key: &str, summarizer_id: &str, max_words: usize, direct: bool) -> String {
    sha256_hex(format!("{translation_key}|{summarizer_id}|{max_words}|{direct}").as_bytes())
}

/// Key of a briefing: its sources' summaries, in order, and the writer.
pub fn briefing_key(records: &[ArticleRecord], writer_id: &str) -> String {
    let keys: Vec<&str> = records.iter().map(|r| r.summary_key.as_deref().unwrap_or("")).collect();
    sha256_hex(format!("{}|{writer_id}", keys.join(",")).as_bytes())
}

/// Where an input's record lives: its stem and a hash of its path, so equal stems do not collide.
pub fn record_path(out: &Path, stem: &str, source: &str) -> PathBuf {
    out.join("articles").join(format!("{stem}-{}.json", &sha256_hex(source.as_bytes())[..10]))
}

/// A saved record, if there is a readable one.
pub fn load_record(path: &Path) -> Option<ArticleRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn save_record(path: &Path, r: &ArticleRecord) -> Result<()> {
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::Internal(format!("serializing the record: {e}")))?;
    write_atomic(path, json.as_bytes()).map_err(|e| Error::io(path, e))
}

/// All finished article records under `dirs` (their `articles/` folders), ordered by source path.
pub fn collect_records(dirs: &[PathBuf]) -> Result<Vec<ArticleRecord>> {
    let mut out: Vec<ArticleRecord> = Vec::new();
    for d in dirs {
        let a = d.join("articles");
        let rd = std::fs::read_dir(&a).map_err(|e| Error::Input { path: a.display().to_string(), reason: format!("not a brief output folder ({e})") })?;
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            if let Some(r) = load_record(&p).filter(|r| r.summary.is_some()) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| a.source.cmp(&b.source));
    out.dedup_by(|a, b| a.source == b.source);
    Ok(out)
}
