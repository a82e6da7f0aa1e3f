//! TextRank over sentences (no weights): the fallback when no model is available; labelled "extractive".
use std::time::Instant;

use super::{Article, PointStatus, Summarizer, Summary, SummaryMethod, SummaryPoint};
use crate::error::Result;
use crate::pipeline::factcheck::{Check, CheckKind};
use crate::pipeline::segment::article_sentences;

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
        let sentences = article_sentences(text, language);
        Self::choose(&sentences, max_words).iter().map(|&i| sentences[i].as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Indices of the highest-ranked of `sentences` within `max_words`, in article order.
    pub fn choose(sentences: &[String], max_words: usize) -> Vec<usize> {
        if sentences.is_empty() {
            return Vec::new();
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
        chosen
    }
}

impl Summarizer for ExtractiveSummarizer {
    fn describe(&self) -> String {
        "extractive (TextRank over sentences, no model)".into()
    }

    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary> {
        let t0 = Instant::now();
        let sentences = article_sentences(&article.text, &article.language);
        let chosen = Self::choose(&sentences, max_words);
        // each point is an article sentence: quoted, and so true to the article by construction
        let points = chosen
            .iter()
            .map(|&i| SummaryPoint {
                text: sentences[i].clone(),
                citations: vec![i + 1],
                status: PointStatus::Quoted,
                checks: vec![Check { check: CheckKind::Support, ok: true, detail: "quoted from the article".into() }],
                draft: None,
            })
            .collect();
        Ok(Summary {
            text: chosen.iter().map(|&i| sentences[i].as_str()).collect::<Vec<_>>().join(" "),
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
