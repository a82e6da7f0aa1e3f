//! Summarizers: one trait, an instruct LLM (GGUF) and an extractive fallback (TextRank, no weights).
//!
//! Articles longer than the LLM's working context are summarized map-reduce (chunk facts, then a
//! summary of those); the result says which path was taken. Nothing is silently truncated.
use std::path::Path;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::models::llm::{GgufLlm, SamplingParams};
use crate::segment::SentenceSplitter;

pub const PROMPT_SUMMARY: &str = include_str!("../prompts/summary.txt");
pub const PROMPT_SUMMARY_DIRECT: &str = include_str!("../prompts/summary_direct.txt");
pub const PROMPT_CHUNK: &str = include_str!("../prompts/chunk.txt");
pub const PROMPT_BRIEFING: &str = include_str!("../prompts/briefing.txt");

/// A prompt template: system part, `---`, user part.
#[derive(Debug, Clone)]
pub struct PromptTemplate {
    pub system: String,
    pub user: String,
}

impl PromptTemplate {
    pub fn parse(text: &str) -> Self {
        match text.split_once("\n---\n") {
            Some((s, u)) => Self { system: s.trim().to_string(), user: u.trim().to_string() },
            None => Self { system: String::new(), user: text.trim().to_string() },
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?))
    }

    /// Fill `{name}` placeholders.
    pub fn fill(&self, vars: &[(&str, &str)]) -> (String, String) {
        let sub = |t: &str| {
            let mut t = t.to_string();
            for (k, v) in vars {
                t = t.replace(&format!("{{{k}}}"), v);
            }
            t
        };
        (sub(&self.system), sub(&self.user))
    }
}

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
    pub text: String,
    /// "llm", "llm-map-reduce", "seq2seq", "seq2seq-map-reduce" or "extractive".
    pub method: String,
    pub summarizer: String,
    /// Chunks summarized in the map step (1 when the article fit the context).
    pub chunks: usize,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub seconds: f64,
}

pub trait Summarizer {
    /// Human-readable name, e.g. the model's name and file.
    fn describe(&self) -> String;
    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary>;
    /// Free-form generation (for the briefing); `None` for summarizers that cannot write.
    fn llm(&mut self) -> Option<&mut LlmSummarizer> {
        None
    }
}

fn language_name(code: &str) -> &str {
    match code {
        "de" => "German",
        "nl" => "Dutch",
        "en" => "English",
        other => other,
    }
}

pub struct LlmSummarizer {
    pub model: GgufLlm,
    pub params: SamplingParams,
    /// Working context in tokens (≤ the model's): prompts beyond it go map-reduce.
    pub context: usize,
    pub prompt: PromptTemplate,
    pub direct_prompt: PromptTemplate,
    pub chunk_prompt: PromptTemplate,
}

impl LlmSummarizer {
    pub fn new(model: GgufLlm, context: usize) -> Self {
        let context = context.min(model.context_length).max(512);
        Self {
            model,
            params: SamplingParams::default(),
            context,
            prompt: PromptTemplate::parse(PROMPT_SUMMARY),
            direct_prompt: PromptTemplate::parse(PROMPT_SUMMARY_DIRECT),
            chunk_prompt: PromptTemplate::parse(PROMPT_CHUNK),
        }
    }

    fn budget_tokens(max_words: usize) -> usize {
        // English runs about 1.3 tokens a word; leave room for a closing sentence
        max_words * 3 / 2 + 24
    }

    fn run(&mut self, system: &str, user: &str, max_new: usize) -> Result<crate::models::llm::Generated> {
        let params = SamplingParams { max_new_tokens: max_new, ..self.params.clone() };
        self.model.chat(system, user, &params)
    }

    fn fits(&self, system: &str, user: &str, max_new: usize) -> Result<bool> {
        let n = self.model.count_tokens(&self.model.chat.render(system, user))?;
        Ok(n + max_new <= self.context)
    }
}

impl Summarizer for LlmSummarizer {
    fn describe(&self) -> String {
        format!("{} ({}, {})", self.model.name, self.model.architecture, self.model.path.display())
    }

    fn llm(&mut self) -> Option<&mut LlmSummarizer> {
        Some(self)
    }

    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary> {
        let t0 = Instant::now();
        let template = if article.language == "en" { self.prompt.clone() } else { self.direct_prompt.clone() };
        let title = article.title.clone().unwrap_or_else(|| "(none)".into());
        let date = article.date.clone().unwrap_or_else(|| "(unknown)".into());
        let max_new = Self::budget_tokens(max_words);
        let mw = max_words.to_string();
        let vars = |text: &str| -> (String, String) {
            template.fill(&[("title", &title), ("date", &date), ("max_words", &mw), ("text", text), ("language_name", language_name(&article.language))])
        };
        let (system, user) = vars(&article.text);
        let mut prompt_tokens = 0;
        let mut generated_tokens = 0;
        if self.fits(&system, &user, max_new)? {
            let g = self.run(&system, &user, max_new)?;
            return Ok(Summary {
                text: clean_summary(&g.text),
                method: "llm".into(),
                summarizer: self.describe(),
                chunks: 1,
                prompt_tokens: g.prompt_tokens,
                generated_tokens: g.generated_tokens,
                seconds: t0.elapsed().as_secs_f64(),
            });
        }
        // map: chunks of paragraphs that fit, each reduced to its key facts
        let (chunk_sys, _) = self.chunk_prompt.fill(&[]);
        let overhead = self.model.count_tokens(&self.model.chat.render(&chunk_sys, &self.chunk_prompt.user))? + max_new + 16;
        let chunk_budget = self.context.saturating_sub(overhead).max(128);
        let mut chunks: Vec<String> = Vec::new();
        let mut cur = String::new();
        for para in article.text.split("\n\n").flat_map(|p| p.split('\n')).filter(|p| !p.trim().is_empty()) {
            let candidate = if cur.is_empty() { para.to_string() } else { format!("{cur}\n\n{para}") };
            if !cur.is_empty() && self.model.count_tokens(&candidate)? > chunk_budget {
                chunks.push(std::mem::take(&mut cur));
                cur = para.to_string();
            } else {
                cur = candidate;
            }
            // a single paragraph over the budget is cut at sentence boundaries
            while self.model.count_tokens(&cur)? > chunk_budget {
                let sentences = SentenceSplitter::new("any").split(&cur).into_iter().map(String::from).collect::<Vec<_>>();
                let half = (sentences.len() / 2).max(1);
                if sentences.len() < 2 {
                    let words: Vec<&str> = cur.split_whitespace().collect();
                    let mid = words.len() / 2;
                    chunks.push(words[..mid].join(" "));
                    cur = words[mid..].join(" ");
                } else {
                    chunks.push(sentences[..half].join(" "));
                    cur = sentences[half..].join(" ");
                }
            }
        }
        if !cur.is_empty() {
            chunks.push(cur);
        }
        let parts = chunks.len().to_string();
        let mut facts = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let part = (i + 1).to_string();
            let (s, u) = self.chunk_prompt.fill(&[("part", &part), ("parts", &parts), ("max_words", &mw), ("text", c)]);
            let g = self.run(&s, &u, max_new)?;
            prompt_tokens += g.prompt_tokens;
            generated_tokens += g.generated_tokens;
            facts.push(g.text);
        }
        // reduce
        let joined = facts.join("\n\n");
        let (system, user) = template.fill(&[("title", &title), ("date", &date), ("max_words", &mw), ("text", &joined), ("language_name", "English")]);
        let g = self.run(&system, &user, max_new)?;
        Ok(Summary {
            text: clean_summary(&g.text),
            method: "llm-map-reduce".into(),
            summarizer: self.describe(),
            chunks: chunks.len(),
            prompt_tokens: prompt_tokens + g.prompt_tokens,
            generated_tokens: generated_tokens + g.generated_tokens,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

/// Drop the chatter small models put around a summary ("Summary:", headings, quotes).
fn clean_summary(text: &str) -> String {
    let mut t = text.trim();
    for p in ["Summary:", "**Summary:**", "Summary", "## Summary", "# Summary"] {
        if let Some(rest) = t.strip_prefix(p) {
            t = rest.trim_start_matches([':', ' ', '\n']);
        }
    }
    t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect::<Vec<_>>().join(" ").trim().to_string()
}

/// TextRank over sentences (no weights): the fallback when no model is available; labelled "extractive".
pub struct ExtractiveSummarizer;

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "that", "with", "this", "from", "have", "has", "was", "were", "are", "its", "it's", "not", "but", "they",
    "their", "which", "will", "would", "said", "says", "der", "die", "das", "und", "den", "dem", "des", "ein", "eine", "einen",
    "ist", "sind", "mit", "von", "auf", "für", "sich", "nicht", "auch", "als", "wie", "dass", "het", "een", "van", "voor", "niet",
    "zijn", "met", "ook", "dat", "die", "als", "aan", "wordt",
];

fn content_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 2)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

impl ExtractiveSummarizer {
    /// The highest-ranked sentences within `max_words`, in article order.
    pub fn extract(text: &str, language: &str, max_words: usize) -> String {
        let splitter = SentenceSplitter::new(language);
        let sentences: Vec<&str> = text.split('\n').filter(|p| !p.trim().is_empty()).flat_map(|p| splitter.split(p.trim())).collect();
        if sentences.is_empty() {
            return String::new();
        }
        let words: Vec<Vec<String>> = sentences.iter().map(|s| content_words(s)).collect();
        let n = sentences.len();
        let mut w = vec![vec![0f64; n]; n];
        for i in 0..n {
            for j in 0..n {
                if i == j || words[i].len() < 2 || words[j].len() < 2 {
                    continue;
                }
                let overlap = words[i].iter().filter(|x| words[j].contains(x)).count() as f64;
                w[i][j] = overlap / ((words[i].len() as f64).ln() + (words[j].len() as f64).ln());
            }
        }
        let out_sum: Vec<f64> = w.iter().map(|r| r.iter().sum()).collect();
        let mut score = vec![1.0f64; n];
        for _ in 0..50 {
            let mut next = vec![0.15f64; n];
            for i in 0..n {
                for j in 0..n {
                    if out_sum[j] > 0.0 {
                        next[i] += 0.85 * w[j][i] / out_sum[j] * score[j];
                    }
                }
            }
            score = next;
        }
        // the lead sentence of a news article carries the most; TextRank alone under-rates it
        score[0] *= 1.5;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| score[b].partial_cmp(&score[a]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
        let mut chosen = Vec::new();
        let mut count = 0;
        for i in order {
            // a sentence sharing no content with any other is off-topic: never filler
            if out_sum[i] == 0.0 && i != 0 && !chosen.is_empty() {
                continue;
            }
            let len = sentences[i].split_whitespace().count();
            if count + len > max_words && !chosen.is_empty() {
                continue;
            }
            chosen.push(i);
            count += len;
            if count >= max_words {
                break;
            }
        }
        chosen.sort();
        chosen.iter().map(|&i| sentences[i]).collect::<Vec<_>>().join(" ")
    }
}

impl Summarizer for ExtractiveSummarizer {
    fn describe(&self) -> String {
        "extractive (TextRank over sentences, no model)".into()
    }

    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary> {
        let t0 = Instant::now();
        Ok(Summary {
            text: Self::extract(&article.text, &article.language, max_words),
            method: "extractive".into(),
            summarizer: self.describe(),
            chunks: 1,
            prompt_tokens: 0,
            generated_tokens: 0,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_placeholders() {
        let t = PromptTemplate::parse("sys {x}\n---\nuser {x} {y}");
        assert_eq!(t.fill(&[("x", "1"), ("y", "2")]), ("sys 1".to_string(), "user 1 2".to_string()));
        for p in [PROMPT_SUMMARY, PROMPT_SUMMARY_DIRECT, PROMPT_CHUNK, PROMPT_BRIEFING] {
            let t = PromptTemplate::parse(p);
            assert!(!t.system.is_empty() && !t.user.is_empty());
        }
    }

    #[test]
    fn extractive_picks_central_sentences_within_budget() {
        let text = "Cloudflare said on Tuesday it will stay in Russia. \
                    The weather in Paris was mild. \
                    Cloudflare argued that leaving Russia would cut Russians off from independent news. \
                    Akamai, a Cloudflare rival, also stays in Russia.";
        let s = ExtractiveSummarizer::extract(text, "en", 25);
        assert!(s.starts_with("Cloudflare said on Tuesday"), "{s}");
        assert!(!s.contains("weather"), "{s}");
        assert!(s.split_whitespace().count() <= 25, "{s}");
    }

    #[test]
    fn clean_summary_strips_labels() {
        assert_eq!(clean_summary("Summary:\n\nCloudflare stays.\n"), "Cloudflare stays.");
    }
}
