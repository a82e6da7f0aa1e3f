//! `--out/report.json`: per article what was done (or why not), and the batch's totals and exit code.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::fs::write_atomic;
use super::record::Timings;
use crate::pipeline::summarize::SummaryMethod;
use crate::pipeline::translate::ConfidenceSummary;
use crate::error::{batch_exit_code, exit_code, Error, Result};

/// Whether an article made it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    Done,
    Failed,
    /// Not finished because a signal stopped the run; a re-run does it.
    Interrupted,
}

/// Why an article failed: its model is missing (exit code 4; not the article's fault), or the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    ModelUnavailable,
    Input,
    /// Its outputs could not be written (disk full, a file size limit, permissions).
    Output,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportEntry {
    pub source: String,
    pub status: ArticleStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<FailureKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub translation_cached: bool,
    pub summary_cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<ArticleSummaryReport>,
    /// What the reader should know about the input (e.g. invalid bytes replaced).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ReportEntry {
    pub fn failed(source: String, e: &Error, translation_cached: bool) -> Self {
        let kind = match e {
            Error::Io { .. } => FailureKind::Output,
            e if e.exit_code() == exit_code::MODEL_UNAVAILABLE => FailureKind::ModelUnavailable,
            _ => FailureKind::Input,
        };
        let status = if matches!(e, Error::Interrupted(_)) { ArticleStatus::Interrupted } else { ArticleStatus::Failed };
        ReportEntry {
            source,
            status,
            error: Some(e.to_string()),
            error_kind: Some(kind),
            record: None,
            translation_cached,
            summary_cached: false,
            article: None,
            warnings: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ArticleSummaryReport {
    pub sha256: String,
    pub language: String,
    pub language_confidence: f64,
    pub translator: BTreeMap<String, String>,
    pub summarizer: Option<String>,
    pub summary_method: Option<SummaryMethod>,
    pub timings: Timings,
    pub segments: usize,
    pub split_sentences: usize,
    pub retried_segments: usize,
    pub flagged_segments: usize,
    /// Segments per problem flag of the translation checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, usize>,
    /// Mean and lowest confidence of the translated segments, and how many are below the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<ConfidenceSummary>,
    pub dropped_boilerplate: usize,
    pub summary_unsupported: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub articles: Vec<ReportEntry>,
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    /// Articles whose translation and summary were reused from an earlier run.
    pub skipped: usize,
    pub briefing: Option<String>,
    /// Why the briefing could not be written, when it could not (the articles are still done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub briefing_error: Option<String>,
    /// Articles not finished because a signal stopped the run.
    pub interrupted: usize,
    /// The signal that stopped the run (2 SIGINT, 15 SIGTERM), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Inputs read once though named twice, symlink loops, the output folder skipped, renamed outputs,
    /// duplicate shards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// With `--merge`: the shard folders merged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Seconds of the whole run, the briefing included.
    pub seconds: f64,
    /// Seconds spent writing the briefing (0 when it was current).
    #[serde(default)]
    pub briefing_seconds: f64,
    /// The LLM's prompt positions in this run, every call counted (verdicts too): computed, and taken
    /// from the cache of an earlier prompt with the same beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_prompt_positions: Option<crate::models::llm::PromptCounts>,
}

impl Report {
    pub fn new(articles: Vec<ReportEntry>, t0: Instant) -> Self {
        let done = articles.iter().filter(|a| a.status == ArticleStatus::Done).count();
        let interrupted = articles.iter().filter(|a| a.status == ArticleStatus::Interrupted).count();
        let failed = articles.len() - done - interrupted;
        Report {
            total: articles.len(),
            done,
            failed,
            skipped: 0,
            briefing: None,
            briefing_error: None,
            interrupted,
            signal: None,
            notes: Vec::new(),
            merged_from: Vec::new(),
            seconds: t0.elapsed().as_secs_f64(),
            briefing_seconds: 0.0,
            llm_prompt_positions: None,
            articles,
        }
    }

    /// The batch's exit code: a missing model is reported as such, not as bad input; a run stopped by a
    /// signal exits 128 + its number; a briefing that could not be written makes a done batch partial (3).
    pub fn exit_code(&self) -> i32 {
        if let Some(sig) = self.signal {
            return exit_code::interrupted(sig);
        }
        let model_missing = self.articles.iter().any(|e| e.error_kind == Some(FailureKind::ModelUnavailable));
        match batch_exit_code(self.done, self.failed, model_missing) {
            exit_code::OK if self.briefing_error.is_some() => exit_code::PARTIAL,
            code => code,
        }
    }
}

pub fn write_report(out: &Path, report: &Report) -> Result<()> {
    let p = out.join("report.json");
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Internal(format!("serializing the report: {e}")))?;
    write_atomic(&p, json.as_bytes()).map_err(|e| Error::io(&p, e))
}
