//! `MarianTranslator` loads a Marian model folder (hub layout) and translates
//! batches of segments, each whole. Segmenting documents into such segments is the segmenter's job.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use crate::error::{Error, Result};
use crate::generation::{generate, GenerationConfig};
use crate::hub::model_dir;
use crate::models::marian::{Config, MarianMTModel};
use crate::tokenizer::MarianTokenizer;

/// Settings that override the model's own generation defaults, and batching limits.
#[derive(Debug, Clone)]
pub struct TranslatorOptions {
    /// Beam width (1 = greedy); `None` keeps the model's `num_beams`.
    pub num_beams: Option<usize>,
    /// Total decoder length limit (start token included), as `generate(max_length=...)`.
    pub max_length: Option<usize>,
    /// Limit on generated tokens, as `generate(max_new_tokens=...)`; wins over `max_length`.
    pub max_new_tokens: Option<usize>,
    /// Padded source tokens per batch (rows × longest row).
    pub batch_tokens: usize,
    /// Sentences per batch at most.
    pub max_batch: usize,
    pub dtype: DType,
    /// Quantize the linear layers after loading (CPU only).
    pub quantize: crate::models::transformer::Quantize,
}

impl Default for TranslatorOptions {
    fn default() -> Self {
        Self { num_beams: None, max_length: None, max_new_tokens: None, batch_tokens: 2048, max_batch: 32, dtype: DType::F32, quantize: Default::default() }
    }
}

/// Per-call changes to generation, used by the document guards.
#[derive(Debug, Clone, Default)]
pub struct CallOverrides {
    pub num_beams: Option<usize>,
    pub repetition_penalty: Option<f32>,
    /// Cap generated tokens at `ratio × source tokens + add` (per batch, by its longest source).
    pub length_cap: Option<(f32, usize)>,
}

/// One translated segment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Translation {
    pub source: String,
    pub text: String,
    /// Source token count, `</s>` included.
    pub source_tokens: usize,
    /// Generated target ids (EOS included when generation ended on it).
    pub tokens: Vec<u32>,
    /// Sum of token log-probabilities.
    pub sum_logprob: f32,
    /// `generate()`'s sequence score (beam: length-normalised; greedy: mean log-prob).
    pub score: f32,
    /// False when the length limit cut generation before EOS.
    pub finished: bool,
    /// True when generation used every token the limit allowed (its EOS, if any, was forced).
    pub hit_length_limit: bool,
    /// This segment's share of the time its batch took (the batch's seconds / its rows): summed over a
    /// document's segments it is the document's own translation time, not the batch average.
    #[serde(skip)]
    pub seconds: f64,
}

pub struct MarianTranslator {
    model: MarianMTModel,
    tokenizer: MarianTokenizer,
    generation: GenerationConfig,
    options: TranslatorOptions,
    dir: PathBuf,
}

impl MarianTranslator {
    /// Load from a model folder holding `config.json`, the tokenizer files and the weights.
    pub fn load(dir: &Path, device: &Device, options: TranslatorOptions) -> Result<Self> {
        let (config, config_text) = model_dir::read_config(dir, "Marian config", Config::validate)?;
        let mut generation = model_dir::read_generation_config(dir, &config_text, config.forced_eos_token_id)?;
        if let Some(b) = options.num_beams {
            generation.num_beams = b.max(1);
        }
        if let Some(m) = options.max_length {
            generation.max_length = m;
        }
        if options.max_new_tokens.is_some() {
            generation.max_new_tokens = options.max_new_tokens;
        }
        generation
            .validate(config.target_vocab_size())
            .map_err(|reason| Error::InvalidConfig { what: "generation config", path: dir.join("generation_config.json"), reason })?;
        let tokenizer = MarianTokenizer::from_dir(dir)?;
        let (vb, weights_path) = model_dir::load_weights(dir, options.dtype, device)?;
        let mut model = MarianMTModel::load(vb, &config).map_err(|e| Error::InvalidModelFile {
            path: weights_path.clone(),
            reason: format!("does not fit config.json: {e}"),
        })?;
        model.prepare_weights(options.quantize)?;
        tracing::debug!(dir = %dir.display(), ?generation, "loaded Marian model");
        Ok(Self { model, tokenizer, generation, options, dir: dir.to_path_buf() })
    }

    pub fn tokenizer(&self) -> &MarianTokenizer {
        &self.tokenizer
    }
    pub fn generation_config(&self) -> &GenerationConfig {
        &self.generation
    }
    pub fn model_dir(&self) -> &Path {
        &self.dir
    }
    /// Longest source the encoder takes, `</s>` included.
    pub fn max_source_tokens(&self) -> usize {
        self.model.max_positions()
    }

    /// Source token count of a text, `</s>` included.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.tokenizer.encode_source(text)?.len())
    }

    /// Translate each text whole. A text longer than the model's positions is an error (never truncated):
    /// documents go through the segmenter first.
    pub fn translate(&self, texts: &[&str]) -> Result<Vec<Translation>> {
        self.translate_with(texts, &CallOverrides::default())
    }

    /// [`translate`](Self::translate) with per-call generation overrides.
    pub fn translate_with(&self, texts: &[&str], overrides: &CallOverrides) -> Result<Vec<Translation>> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode_source(t)).collect::<Result<_>>()?;
        for (t, row) in texts.iter().zip(&ids) {
            if row.len() > self.max_source_tokens() {
                return Err(Error::Input {
                    path: "-".into(),
                    reason: format!(
                        "a segment of {} tokens exceeds the model's limit of {} (starts: {:?}); translate it as a document so it is split, not truncated",
                        row.len(),
                        self.max_source_tokens(),
                        t.chars().take(60).collect::<String>()
                    ),
                });
            }
        }
        self.translate_ids(texts, &ids, overrides)
    }

    fn translate_ids(&self, texts: &[&str], ids: &[Vec<u32>], ov: &CallOverrides) -> Result<Vec<Translation>> {
        let mut generation = self.generation.clone();
        if let Some(b) = ov.num_beams {
            generation.num_beams = b.max(1);
        }
        if let Some(p) = ov.repetition_penalty {
            generation.repetition_penalty = p;
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // longest first: similar lengths share a batch, so little padding
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out: Vec<Option<Translation>> = vec![None; ids.len()];
        let mut start = 0;
        while start < order.len() {
            // a stop request (SIGINT/SIGTERM) ends the work between two batches
            crate::interrupt::check()?;
            let t0 = std::time::Instant::now();
            let longest = ids[order[start]].len().max(1);
            let fit = (self.options.batch_tokens / longest).clamp(1, self.options.max_batch.max(1));
            let end = (start + fit).min(order.len());
            let batch: Vec<Vec<u32>> = order[start..end].iter().map(|&i| ids[i].clone()).collect();
            let mut g = generation.clone();
            if let Some((ratio, add)) = ov.length_cap {
                let cap = (ratio * longest as f32) as usize + add;
                g.max_new_tokens = Some(cap.min(g.effective_max_length().saturating_sub(1)).max(1));
            }
            let hyps = generate(&self.model, &batch, &g, self.model.max_positions())?;
            let limit = g.effective_max_length().min(self.model.max_positions() + 1).saturating_sub(1);
            let share = t0.elapsed().as_secs_f64() / (end - start) as f64;
            for (&i, h) in order[start..end].iter().zip(hyps) {
                out[i] = Some(Translation {
                    source: texts[i].to_string(),
                    text: self.tokenizer.decode(&h.tokens, true),
                    source_tokens: ids[i].len(),
                    hit_length_limit: h.tokens.len() >= limit,
                    tokens: h.tokens,
                    sum_logprob: h.sum_logprob,
                    score: h.score,
                    finished: h.finished,
                    seconds: share,
                });
            }
            start = end;
        }
        Ok(out.into_iter().flatten().collect())
    }
}
