//! How alike two points are: sentence embeddings ([`SentenceEmbedder`], all-MiniLM-L6-v2) when that
//! model is available, else shared content words (TF-IDF cosine). Each says which thresholds mean "the
//! same story" and "the same fact", as measured on the seeds (see the constants).
use std::collections::HashMap;

use crate::error::Result;
use crate::models::sentence_embedder::SentenceEmbedder;
use crate::pipeline::factcheck::names::words;

/// Turns texts into vectors whose cosine measures how alike they are.
pub trait Similarity {
    fn describe(&self) -> String;
    fn vectors(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Cosine at or above which two points belong to one story.
    fn story_threshold(&self) -> f32;
    /// Cosine at or above which points of two articles may state the same fact (then checked).
    fn same_fact_threshold(&self) -> f32;
}

impl Similarity for SentenceEmbedder {
    fn describe(&self) -> String {
        format!("sentence embeddings ({})", self.dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())
    }
    fn vectors(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed(texts)
    }
    fn story_threshold(&self) -> f32 {
        STORY_MINILM
    }
    fn same_fact_threshold(&self) -> f32 {
        SAME_MINILM
    }
}

/// all-MiniLM-L6-v2 cosine thresholds, on points with the folder's shared company name left out
/// (measured on the 1.5B's points of the five seeds: points of different stories 0.28–0.46, one pair
/// of true shared facts — two articles describing the company's business — 0.58). A pair over the
/// fact threshold is only merged when the other article's sentences pass the fact check.
pub const STORY_MINILM: f32 = 0.50;
pub const SAME_MINILM: f32 = 0.50;
/// TF-IDF cosine thresholds for the word-overlap fallback.
pub const STORY_LEXICAL: f32 = 0.25;
pub const SAME_LEXICAL: f32 = 0.35;

/// Word-overlap similarity: TF-IDF vectors of content words (longer than three letters, a plural
/// `s` folded), so shared names and rare words weigh most. No model needed.
pub struct Lexical;

impl Similarity for Lexical {
    fn describe(&self) -> String {
        "shared words (no embedding model)".into()
    }

    fn vectors(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let docs: Vec<Vec<String>> = texts
            .iter()
            .map(|t| words(t).into_iter().filter(|w| w.chars().count() > 3).map(|w| w.trim_end_matches("'s").trim_end_matches('s').to_string()).collect())
            .collect();
        let mut vocab: HashMap<&str, usize> = HashMap::new();
        let mut df: Vec<f32> = Vec::new();
        for d in &docs {
            let mut seen = std::collections::HashSet::new();
            for w in d {
                let n = vocab.len();
                let id = *vocab.entry(w.as_str()).or_insert(n);
                if id == df.len() {
                    df.push(0.0);
                }
                if seen.insert(id) {
                    df[id] += 1.0;
                }
            }
        }
        let n = docs.len().max(1) as f32;
        Ok(docs
            .iter()
            .map(|d| {
                let mut v = vec![0f32; vocab.len()];
                for w in d {
                    let id = vocab[w.as_str()];
                    v[id] += (1.0 + n / df[id]).ln();
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                v
            })
            .collect())
    }

    fn story_threshold(&self) -> f32 {
        STORY_LEXICAL
    }
    fn same_fact_threshold(&self) -> f32 {
        SAME_LEXICAL
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
