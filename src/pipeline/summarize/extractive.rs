//! TextRank over sentences (no weights): the fallback when no model is available; labelled "extractive".
use std::time::Instant;

use super::{Article, PointStatus, Summarizer, Summary, SummaryMethod, SummaryPoint};
use crate::error::Result;
use crate::pipeline::factcheck::{Check, CheckKind};
use crate::pipeline::segment::body_sentences;

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

/// Sentences TextRank ranks at most: the first ones of the article. The similarity matrix has a weight per
/// pair, so its memory and time grow with the square of this: 2,000 sentences (some 40,000 words, ten
/// times a long news article) are a 32 MB matrix, where 40,000 short sentences of a 2 MB file took
/// 5.8 GB and aborted the batch. The lead of a news article carries its content; sentences past the cap
/// are not candidates.
pub const MAX_SENTENCES: usize = 2000;

impl ExtractiveSummarizer {
    /// The highest-ranked sentences within `max_words`, in article order. Never more than `max_words`
    /// words: a sentence longer than the whole budget is cut at it, with an ellipsis.
    pub fn extract(text: &str, language: &str, max_words: usize) -> String {
        let sentences = body_sentences(text, language);
        if max_words == 0 {
            return String::new();
        }
        let text = Self::choose(&sentences, max_words).iter().map(|&i| sentences[i].as_str()).collect::<Vec<_>>().join(" ");
        cut_to(&text, max_words)
    }

    /// Indices of the highest-ranked of `sentences` within `max_words`, in article order; when every
    /// sentence is longer than the budget, the best one alone (its caller cuts it, marked).
    pub fn choose(sentences: &[String], max_words: usize) -> Vec<usize> {
        let sentences = &sentences[..sentences.len().min(MAX_SENTENCES)];
        if sentences.is_empty() || max_words == 0 {
            return Vec::new();
        }
        let words: Vec<Vec<String>> = sentences.iter().map(|s| content_words(s)).collect();
        let sets: Vec<std::collections::HashSet<&str>> = words.iter().map(|ws| ws.iter().map(String::as_str).collect()).collect();
        let n = sentences.len();
        let mut w = vec![vec![0f64; n]; n];
        for i in 0..n {
            for j in 0..n {
                if i == j || words[i].len() < 2 || words[j].len() < 2 {
                    continue;
                }
                let overlap = words[i].iter().filter(|x| sets[j].contains(x.as_str())).count() as f64;
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
        for &i in &order {
            // a sentence sharing no content with any other is off-topic: never filler
            if out_sum[i] == 0.0 && i != 0 && !chosen.is_empty() {
                continue;
            }
            let len = sentences[i].split_whitespace().count();
            if count + len > max_words {
                continue;
            }
            chosen.push(i);
            count += len;
            if count >= max_words {
                break;
            }
        }
        if chosen.is_empty() {
            // every sentence is longer than the budget: the best one (its caller cuts it)
            return vec![order[0]];
        }
        chosen.sort();
        chosen
    }
}

/// `text` within `max_words`: as it is, or its first words and an ellipsis (a cut marked as such).
fn cut_to(text: &str, max_words: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max_words {
        return text.to_string();
    }
    format!("{} …", words[..max_words].join(" "))
}

impl Summarizer for ExtractiveSummarizer {
    fn describe(&self) -> String {
        "extractive (TextRank over sentences, no model)".into()
    }

    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary> {
        let t0 = Instant::now();
        let sentences = body_sentences(&article.text, &article.language);
        let chosen = Self::choose(&sentences, max_words);
        // each point is an article sentence: quoted, and so true to the article by construction
        let points = chosen
            .iter()
            .map(|&i| SummaryPoint {
                text: cut_to(&sentences[i], max_words),
                citations: vec![i + 1],
                status: PointStatus::Quoted,
                checks: vec![Check { check: CheckKind::Support, ok: true, detail: "quoted from the article".into() }],
                draft: None,
            })
            .collect();
        Ok(Summary {
            text: cut_to(&chosen.iter().map(|&i| sentences[i].as_str()).collect::<Vec<_>>().join(" "), max_words),
            method: SummaryMethod::Extractive,
            summarizer: self.describe(),
            chunks: 1,
            prompt_tokens: 0,
            generated_tokens: 0,
            seconds: t0.elapsed().as_secs_f64(),
            sentences,
            points,
            dropped: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_longer_than_the_budget_is_cut_at_it() {
        let long = vec!["Wort"; 500].join(" ") + ".";
        let s = ExtractiveSummarizer::extract(&long, "de", 120);
        assert_eq!(s.split_whitespace().filter(|w| *w != "…").count(), 120, "{s}");
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
}
