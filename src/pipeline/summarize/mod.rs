//! The summarize stage: one trait, three kinds of summarizer (an instruct LLM, a seq2seq model, an
//! extractive fallback), and the choice between them ([`choice`]). Nothing is silently truncated: articles
//! longer than a model's input are summarized map-reduce, and the summary says which path was taken.
pub mod choice;
pub mod extractive;
pub mod llm;
pub mod points;
pub mod prompts;
pub mod seq2seq;
pub mod verify;

use crate::error::Result;
use crate::models::llm::Generated;

pub use choice::{SummarizerChoice, SummarizerOptions};
pub use extractive::ExtractiveSummarizer;
pub use llm::LlmSummarizer;
pub use prompts::PromptTemplate;
pub use seq2seq::{BartOptions, BartSummarizer};

/// What a summarizer reads.
#[derive(Debug, Clone)]
pub struct Article {
    pub title: Option<String>,
    pub date: Option<String>,
    /// Language of `text` ("en" unless summarizing directly from the source).
    pub language: String,
    pub text: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// The points as one paragraph (or the summary as written, for summarizers without points).
    pub text: String,
    pub method: SummaryMethod,
    pub summarizer: String,
    /// Chunks summarized in the map step (1 when the article fit the context).
    pub chunks: usize,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Seconds it took; drafts written ahead with other articles' ([`Summarizer::prepare`]) count
    /// their prompt and their share of each decoding step.
    pub seconds: f64,
    /// The article's numbered sentences (from 1) that the points cite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentences: Vec<String>,
    /// The summary's points, each with the sentences it rests on and its checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<SummaryPoint>,
    /// Points written but left out, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedPoint>,
}

/// One point of a summary: a sentence, the article sentences it rests on, and how it was checked.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SummaryPoint {
    pub text: String,
    /// Ids of the article sentences it cites (into [`Summary::sentences`], from 1).
    pub citations: Vec<usize>,
    pub status: PointStatus,
    /// Every check run on the final text.
    pub checks: Vec<crate::pipeline::factcheck::Check>,
    /// The first draft, when it failed its checks and was rewritten or replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<String>,
}

impl SummaryPoint {
    /// True when every check passed.
    pub fn verified(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// How a point came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// Written by the model and passed every check.
    Verified,
    /// The model's first draft failed a check; its rewrite passed.
    Regenerated,
    /// The cited sentences themselves, quoted (the draft and its rewrite failed, or no model wrote it).
    Quoted,
    /// Not verified: written by a summarizer that cites nothing (seq2seq), checked against the
    /// sentences it aligns with; its failed checks say what could not be verified.
    Unverified,
}

/// A point that was written but is not in the summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DroppedPoint {
    pub text: String,
    pub citations: Vec<usize>,
    pub reason: String,
}

/// How a summary was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SummaryMethod {
    #[serde(rename = "llm")]
    Llm,
    /// Chunks summarized by the LLM, then the chunk summaries.
    #[serde(rename = "llm-map-reduce")]
    LlmMapReduce,
    #[serde(rename = "seq2seq")]
    Seq2Seq,
    #[serde(rename = "seq2seq-map-reduce")]
    Seq2SeqMapReduce,
    /// Sentences taken from the article, no model.
    #[serde(rename = "extractive")]
    Extractive,
}

impl std::fmt::Display for SummaryMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SummaryMethod::Llm => "llm",
            SummaryMethod::LlmMapReduce => "llm-map-reduce",
            SummaryMethod::Seq2Seq => "seq2seq",
            SummaryMethod::Seq2SeqMapReduce => "seq2seq-map-reduce",
            SummaryMethod::Extractive => "extractive",
        })
    }
}

pub trait Summarizer {
    /// Human-readable name, e.g. the model's name and file.
    fn describe(&self) -> String;
    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary>;
    /// Work ahead on the `articles` about to be summarized one by one, and on the `headlines` (title,
    /// language) about to be put into English, where doing it for all of them at once is cheaper (an
    /// LLM writes their drafts together). Changes no summary or headline, only how fast
    /// [`summarize`](Self::summarize) and [`english_title`](Self::english_title) give them;
    /// summarizers with nothing to gain do nothing.
    fn prepare(&mut self, _articles: &[Article], _max_words: usize, _headlines: &[(String, String)]) {}
    /// The title in English, for an article summarized from another language; `None` when this
    /// summarizer cannot translate.
    fn english_title(&mut self, _title: &str, _language: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Free-form writing (for the briefing); `None` for summarizers that cannot write.
    fn writer(&mut self) -> Option<&mut dyn TextWriter> {
        None
    }
    /// Prompt positions the model computed and took from cached prefixes so far (LLMs only).
    fn prompt_counts(&self) -> Option<crate::models::llm::PromptCounts> {
        None
    }
}

/// A model that writes free text from a system and a user message (an instruct LLM).
pub trait TextWriter {
    fn describe(&self) -> String;
    /// One chat turn, at most `max_new_tokens` generated, with the writer's own sampling settings.
    fn write(&mut self, system: &str, user: &str, max_new_tokens: usize) -> Result<Generated>;
    /// One chat turn whose reply must satisfy `constraint`.
    fn write_constrained(&mut self, system: &str, user: &str, constraint: &mut dyn crate::generation::constraint::Constraint, max_new_tokens: usize) -> Result<Generated>;
    /// The writer's verdict on whether `evidence` (sentences in `language`) says what `claim` says;
    /// `None` when it does not judge (see [`verify`]).
    fn supports(&mut self, claim: &str, evidence: &[&str], language: &str) -> Result<Option<bool>>;
}

pub(crate) fn language_name(code: &str) -> &str {
    match code {
        "de" => "German",
        "nl" => "Dutch",
        "en" => "English",
        other => other,
    }
}

