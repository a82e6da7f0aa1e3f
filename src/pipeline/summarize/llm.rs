//! Summaries by an instruct LLM (one GGUF file). Articles longer than the working context are summarized
//! map-reduce (chunk facts, then a summary of those); the result says which path was taken.
use std::time::Instant;

use super::prompts::{PromptTemplate, PROMPT_CHUNK, PROMPT_SUMMARY, PROMPT_SUMMARY_DIRECT};
use super::{language_name, Article, Summarizer, Summary, SummaryMethod, TextWriter};
use crate::error::Result;
use crate::models::llm::{Generated, GgufLlm, SamplingParams};
use crate::pipeline::segment::SentenceSplitter;

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

    fn run(&mut self, system: &str, user: &str, max_new: usize) -> Result<Generated> {
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

    fn writer(&mut self) -> Option<&mut dyn TextWriter> {
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
                method: SummaryMethod::Llm,
                summarizer: Summarizer::describe(self),
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
        let model = &self.model;
        let chunks = chunk_text(&article.text, chunk_budget, &|t: &str| model.count_tokens(t))?;
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
            method: SummaryMethod::LlmMapReduce,
            summarizer: Summarizer::describe(self),
            chunks: chunks.len(),
            prompt_tokens: prompt_tokens + g.prompt_tokens,
            generated_tokens: generated_tokens + g.generated_tokens,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

impl TextWriter for LlmSummarizer {
    fn describe(&self) -> String {
        Summarizer::describe(self)
    }

    fn write(&mut self, system: &str, user: &str, max_new_tokens: usize) -> Result<Generated> {
        self.run(system, user, max_new_tokens)
    }
}

/// The map step's chunks: whole paragraphs packed up to `budget` tokens (by `count`); a paragraph over
/// the budget is cut into pieces that fit ([`split_to_fit`]). Every chunk is non-empty and the text's
/// paragraphs come out in order.
pub fn chunk_text(text: &str, budget: usize, count: &dyn Fn(&str) -> Result<usize>) -> Result<Vec<String>> {
    let mut chunks: Vec<String> = Vec::new();
    let mut cur = String::new();
    for para in text.split("\n\n").flat_map(|p| p.split('\n')).filter(|p| !p.trim().is_empty()) {
        let candidate = if cur.is_empty() { para.to_string() } else { format!("{cur}\n\n{para}") };
        if count(&candidate)? <= budget {
            cur = candidate;
            continue;
        }
        if !cur.is_empty() {
            chunks.push(std::mem::take(&mut cur));
        }
        let mut pieces = split_to_fit(para, budget, count)?;
        cur = pieces.pop().unwrap_or_default();
        chunks.extend(pieces);
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    Ok(chunks)
}

/// Cut a text over `budget` tokens into pieces within it: in halves at sentence boundaries, else at
/// spaces, else (a single giant token, no spaces) by characters. Each cut leaves two non-empty,
/// strictly shorter halves, so this always ends; a lone character over the budget stays as it is.
/// (Cutting at word boundaries alone looped forever on a token with no spaces: the cut was at 0.)
pub fn split_to_fit(text: &str, budget: usize, count: &dyn Fn(&str) -> Result<usize>) -> Result<Vec<String>> {
    if text.chars().nth(1).is_none() || count(text)? <= budget {
        return Ok(vec![text.to_string()]);
    }
    let sentences = SentenceSplitter::new("any").split(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    let (head, rest) = if sentences.len() >= 2 {
        let half = sentences.len() / 2;
        (sentences[..half].join(" "), sentences[half..].join(" "))
    } else if words.len() >= 2 {
        let mid = words.len() / 2;
        (words[..mid].join(" "), words[mid..].join(" "))
    } else {
        let t = text.trim();
        let mid = t.char_indices().nth(t.chars().count() / 2).map(|(i, _)| i).unwrap_or(t.len());
        (t[..mid].to_string(), t[mid..].to_string())
    };
    if head.is_empty() || rest.is_empty() {
        return Ok(vec![text.to_string()]);
    }
    let mut out = split_to_fit(&head, budget, count)?;
    out.extend(split_to_fit(&rest, budget, count)?);
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_summary_strips_labels() {
        assert_eq!(clean_summary("Summary:\n\nCloudflare stays.\n"), "Cloudflare stays.");
    }
}
