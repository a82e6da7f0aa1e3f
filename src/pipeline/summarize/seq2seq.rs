//! Seq2seq summaries: `BartSummarizer` loads a BART model folder (hub layout, e.g.
//! `sshleifer/distilbart-cnn-12-6`) and summarizes with the model's own generation settings (beam search,
//! `no_repeat_ngram_size`, min/max length, length penalty), token for token as `transformers` does.
//!
//! BART reads at most `max_position_embeddings` tokens (1,024 for the CNN models). Longer articles are not
//! truncated (as the HF pipeline does silently): they are cut at sentence boundaries into chunks that fit,
//! each chunk is summarized, and the chunk summaries are summarized again (map-reduce).
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device};
use crate::error::{Error, Result};
use crate::generation::{generate, GenerationConfig, Hypothesis};
use crate::hub::model_dir;
use crate::models::bart::{BartForConditionalGeneration, Config};
use crate::models::transformer::Quantize;
use super::{Article, PointStatus, Summarizer, Summary, SummaryMethod, SummaryPoint};
use crate::pipeline::factcheck::{align, check_point, Evidence};
use crate::pipeline::segment::{article_sentences, Segmenter, SentenceSplitter};
use crate::tokenizer::BartTokenizer;

/// Settings over the model's own generation defaults.
#[derive(Debug, Clone, Default)]
pub struct BartOptions {
    pub num_beams: Option<usize>,
    pub max_length: Option<usize>,
    pub min_length: Option<usize>,
    pub no_repeat_ngram_size: Option<usize>,
    /// Texts per batch (0 = 8).
    pub max_batch: usize,
}

/// One generated summary.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub tokens: Vec<u32>,
    pub score: f32,
    pub source_tokens: usize,
}

pub struct BartSummarizer {
    model: BartForConditionalGeneration,
    tokenizer: BartTokenizer,
    generation: GenerationConfig,
    options: BartOptions,
    dir: PathBuf,
}

impl BartSummarizer {
    /// Load from a model folder holding `config.json`, the tokenizer files and the weights.
    pub fn load(dir: &Path, device: &Device, options: BartOptions) -> Result<Self> {
        let (config, config_text) = model_dir::read_config(dir, "BART config", Config::validate)?;
        let mut generation = model_dir::read_generation_config(dir, &config_text, config.forced_eos_token_id)?;
        if let Some(b) = options.num_beams {
            generation.num_beams = b.max(1);
        }
        if let Some(m) = options.max_length {
            generation.max_length = m;
        }
        if let Some(m) = options.min_length {
            generation.min_length = m;
        }
        if let Some(n) = options.no_repeat_ngram_size {
            generation.no_repeat_ngram_size = n;
        }
        generation
            .validate(config.vocab_size)
            .map_err(|reason| Error::InvalidConfig { what: "generation config", path: dir.join("generation_config.json"), reason })?;
        let tokenizer = BartTokenizer::from_dir(dir)?;
        let (vb, weights_path) = model_dir::load_weights(dir, DType::F32, device)?;
        let mut model = BartForConditionalGeneration::load(vb, &config)
            .map_err(|e| Error::InvalidModelFile { path: weights_path.clone(), reason: format!("does not fit config.json: {e}") })?;
        model.prepare_weights(Quantize::None)?;
        tracing::debug!(dir = %dir.display(), ?generation, "loaded BART model");
        Ok(Self { model, tokenizer, generation, options, dir: dir.to_path_buf() })
    }

    pub fn tokenizer(&self) -> &BartTokenizer {
        &self.tokenizer
    }
    pub fn generation_config(&self) -> &GenerationConfig {
        &self.generation
    }
    /// Tokens one input may have, `<s>` and `</s>` included.
    pub fn max_input_tokens(&self) -> usize {
        self.model.max_positions()
    }

    /// One summary per text, in order (rust-bert's `summarize(&[&str])`). Each text must fit the model's
    /// input; longer ones are an error here (the `Summarizer` impl chunks them instead).
    pub fn summarize_texts(&self, texts: &[&str]) -> Result<Vec<Generated>> {
        self.generate_with(texts, &self.generation)
    }

    fn generate_with(&self, texts: &[&str], cfg: &GenerationConfig) -> Result<Vec<Generated>> {
        let rows = texts.iter().map(|t| self.tokenizer.encode(t)).collect::<Result<Vec<_>>>()?;
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() > self.max_input_tokens()) {
            return Err(Error::Input {
                path: format!("text {}", i + 1),
                reason: format!("{} tokens exceeds the model's limit of {}", r.len(), self.max_input_tokens()),
            });
        }
        let batch = if self.options.max_batch == 0 { 8 } else { self.options.max_batch };
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(batch) {
            let hyps: Vec<Hypothesis> = generate(&self.model, chunk, cfg, self.model.max_positions())?;
            for (h, src) in hyps.into_iter().zip(chunk) {
                out.push(Generated { text: self.tokenizer.decode(&h.tokens, true)?.trim().to_string(), tokens: h.tokens, score: h.score, source_tokens: src.len() });
            }
        }
        Ok(out)
    }

    /// Cut `text` into chunks of whole sentences (paragraphs kept together where they fit) of at most
    /// `budget` tokens each; a sentence longer than the budget is cut at clauses.
    fn chunks(&self, text: &str, budget: usize) -> Vec<String> {
        let count = |t: &str| self.tokenizer.count(t).unwrap_or(usize::MAX / 4);
        let segmenter = Segmenter::new("en", budget, true);
        let mut chunks: Vec<String> = Vec::new();
        let mut cur = String::new();
        for para in text.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
            for seg in segmenter.segment(para, &count) {
                let candidate = if cur.is_empty() { seg.text.clone() } else { format!("{cur} {}", seg.text) };
                if !cur.is_empty() && count(&candidate) > budget {
                    chunks.push(std::mem::replace(&mut cur, seg.text));
                } else {
                    cur = candidate;
                }
            }
        }
        if !cur.is_empty() {
            chunks.push(cur);
        }
        chunks
    }
}

impl Summarizer for BartSummarizer {
    fn describe(&self) -> String {
        format!("BART seq2seq ({})", self.dir.display())
    }

    /// BART writes what it learned to write (CNN models: about 3–4 sentences); `max_words` only tightens
    /// the model's `max_length` (≈ 4/3 tokens a word), it never lengthens it.
    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary> {
        let t0 = Instant::now();
        let mut cfg = self.generation.clone();
        let cap = max_words * 4 / 3 + 2;
        if cap < cfg.effective_max_length() {
            cfg.max_new_tokens = None;
            cfg.max_length = cap.max(8);
            cfg.min_length = cfg.min_length.min(cfg.max_length / 2);
        }
        // room for <s> and </s>, and a margin for tokens the count of pieces and the whole may differ by
        let budget = self.max_input_tokens().saturating_sub(8).max(16);
        let mut pieces = self.chunks(&article.text, budget);
        if pieces.is_empty() {
            return Err(Error::Input { path: article.title.clone().unwrap_or_default(), reason: "nothing to summarize".into() });
        }
        let chunks = pieces.len();
        let (mut prompt_tokens, mut generated_tokens) = (0, 0);
        // map-reduce until one summary is left; each round shrinks the text (summaries are shorter than
        // the chunks they summarize), and a round that does not is stopped rather than looped
        let final_text = loop {
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            let out = self.generate_with(&refs, &cfg)?;
            prompt_tokens += out.iter().map(|g| g.source_tokens).sum::<usize>();
            generated_tokens += out.iter().map(|g| g.tokens.len()).sum::<usize>();
            let texts: Vec<String> = out.into_iter().map(|g| g.text).collect();
            if texts.len() == 1 {
                break texts.into_iter().next().unwrap_or_default();
            }
            let joined = texts.join("\n");
            let next = self.chunks(&joined, budget);
            if next.len() >= pieces.len() {
                break texts.join(" ");
            }
            pieces = next;
        };
        // BART cites nothing: each of its sentences is checked against the article sentences it aligns with
        let sentences = article_sentences(&article.text, &article.language);
        let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let mut points: Vec<SummaryPoint> = Vec::new();
        for text in SentenceSplitter::new("en").split(&final_text) {
            let citations: Vec<usize> = align(text, &refs, 2).into_iter().map(|i| i + 1).collect();
            let evidence = Evidence { sentences: citations.iter().map(|&c| refs[c - 1]).collect(), language: &article.language, title: article.title.as_deref() };
            let earlier: Vec<&str> = points.iter().map(|p| p.text.as_str()).collect();
            let checks = check_point(text, &evidence, &earlier, usize::MAX);
            let status = if checks.iter().all(|c| c.ok) && !citations.is_empty() { PointStatus::Verified } else { PointStatus::Unverified };
            points.push(SummaryPoint { text: text.to_string(), citations, status, checks, draft: None });
        }
        Ok(Summary {
            text: final_text,
            method: if chunks == 1 { SummaryMethod::Seq2Seq } else { SummaryMethod::Seq2SeqMapReduce },
            summarizer: self.describe(),
            chunks,
            prompt_tokens,
            generated_tokens,
            seconds: t0.elapsed().as_secs_f64(),
            sentences,
            points,
            dropped: Vec::new(),
        })
    }
}
