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
}

/// Why an article failed: its model is missing (exit code 4; not the article's fault), or the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    ModelUnavailable,
    Input,
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
}

impl ReportEntry {
    pub fn failed(source: String, e: &Error, translation_cached: bool) -> Self {
        let kind = if e.exit_code() == exit_code::MODEL_UNAVAILABLE { FailureKind::ModelUnavailable } else { FailureKind::Input };
        ReportEntry {
            source,
            status: ArticleStatus::Failed,
            error: Some(e.to_string()),
            error_kind: Some(kind),
            record: None,
            translation_cached,
            summary_cached: false,
            article: None,
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
    /// Seconds of the whole run, the briefing included.
    pub seconds: f64,
    /// Seconds spent writing the briefing (0 when it was current).
    #[serde(default)]
    pub briefing_seconds: f64,
}

impl Report {
    pub fn new(articles: Vec<ReportEntry>, t0: Instant) -> Self {
        let done = articles.iter().filter(|a| a.status == ArticleStatus::Done).count();
        let failed = articles.len() - done;
        Report { total: articles.len(), done, failed, skipped: 0, briefing: None, seconds: t0.elapsed().as_secs_f64(), briefing_seconds: 0.0, articles }
    }

    /// The batch's exit code: a missing model is reported as such, not as bad input.
    pub fn exit_code(&self) -> i32 {
        let model_missing = self.articles.iter().any(|e| e.error_kind == Some(FailureKind::ModelUnavailable));
        batch_exit_code(self.done, self.failed, model_missing)
    }
}

pub fn write_report(out: &Path, report: &Report) -> Result<()> {
    let p = out.join("report.json");
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Internal(format!("serializing the report: {e}")))?;
    write_atomic(&p, json.as_bytes()).map_err(|e| Error::io(&p, e))
}
