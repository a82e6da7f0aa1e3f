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
    /// What the reader should know about the input (e.g. invalid bytes replaced).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The translation setup in words (translator, beams, segment budget; "none" when the text passed
    /// through): `--merge` refuses shards whose setups differ. Empty in records of older versions.
    #[serde(default)]
    pub translator_setup: String,
    /// The summary setup in words (summarizer, length, direct), for the same check.
    #[serde(default)]
    pub summary_setup: String,
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

/// The summary settings in words, as records hold them for `--merge`'s check.
pub fn summary_setup(summarizer_id: &str, max_words: usize, direct: bool) -> String {
    format!("{summarizer_id}|max_words={max_words}|direct={direct}")
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

/// All finished article records of one output folder, ordered by source path.
pub fn collect_records(dir: &Path) -> Result<Vec<ArticleRecord>> {
    let mut out: Vec<ArticleRecord> = records_in(dir)?.into_iter().map(|(_, r)| r).collect();
    out.sort_by(|a, b| a.source.cmp(&b.source));
    out.dedup_by(|a, b| a.source == b.source);
    Ok(out)
}

/// The finished records in `dir/articles` with their files; a folder without `articles/` is not a brief
/// output folder (a usage error: the wrong folder was named).
fn records_in(dir: &Path) -> Result<Vec<RecordFile>> {
    let a = dir.join("articles");
    let rd = std::fs::read_dir(&a)
        .map_err(|e| Error::Usage(format!("{} is not the output folder of a `brief` run: {} cannot be read ({e})", dir.display(), a.display())))?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        if let Some(r) = load_record(&p).filter(|r| r.summary.is_some()) {
            out.push((p, r));
        }
    }
    Ok(out)
}

/// A record and the file it was read from.
pub type RecordFile = (PathBuf, ArticleRecord);

/// The records of several shard folders, checked to belong to one job: every folder is a brief output
/// folder, all were made with one summary setup and one translation setup per language (else a usage
/// error naming both), an article in two folders is taken once (with a note) when it is the same
/// article, and refused when its content differs. Returns the records by source path, their files, and
/// the notes.
pub fn collect_shard_records(dirs: &[PathBuf]) -> Result<(Vec<RecordFile>, Vec<String>)> {
    let mut notes = Vec::new();
    let mut all: Vec<(PathBuf, ArticleRecord, &Path)> = Vec::new();
    let mut seen_dirs: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let canonical = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
        if seen_dirs.contains(&canonical) {
            notes.push(format!("{} was given twice; read once", d.display()));
            continue;
        }
        seen_dirs.push(canonical);
        let mut rs = records_in(d)?;
        rs.sort_by(|a, b| a.1.source.cmp(&b.1.source));
        all.extend(rs.into_iter().map(|(p, r)| (p, r, d.as_path())));
    }
    let mut summary_setup: Option<(&str, &Path)> = None;
    let mut translator_setup: BTreeMap<&str, (&str, &Path)> = BTreeMap::new();
    for (_, r, d) in &all {
        if !r.summary_setup.is_empty() {
            match summary_setup {
                Some((s, first)) if s != r.summary_setup => {
                    return Err(Error::Usage(format!(
                        "the shards were summarized differently: {} has '{s}', {} has '{}'; merge shards of one run only",
                        first.display(),
                        d.display(),
                        r.summary_setup
                    )))
                }
                Some(_) => {}
                None => summary_setup = Some((&r.summary_setup, d)),
            }
        }
        if !r.translator_setup.is_empty() {
            match translator_setup.get(r.language.as_str()) {
                Some((s, first)) if *s != r.translator_setup => {
                    return Err(Error::Usage(format!(
                        "the shards translated {} differently: {} has '{s}', {} has '{}'; merge shards of one run only",
                        r.language,
                        first.display(),
                        d.display(),
                        r.translator_setup
                    )))
                }
                Some(_) => {}
                None => {
                    translator_setup.insert(&r.language, (&r.translator_setup, d));
                }
            }
        }
    }
    let mut by_source: BTreeMap<String, (PathBuf, ArticleRecord, &Path)> = BTreeMap::new();
    for (p, r, d) in all {
        match by_source.get(&r.source) {
            Some((_, first, fd)) if first.sha256 != r.sha256 => {
                return Err(Error::Usage(format!(
                    "{} is in {} and in {} with different contents (changed between the shard runs?); merge shards of one run only",
                    r.source,
                    fd.display(),
                    d.display()
                )))
            }
            Some((_, _, fd)) => notes.push(format!("{} is in {} and in {}; taken once", r.source, fd.display(), d.display())),
            None => {
                by_source.insert(r.source.clone(), (p, r, d));
            }
        }
    }
    Ok((by_source.into_values().map(|(p, r, _)| (p, r)).collect(), notes))
}
