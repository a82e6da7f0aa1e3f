//! Which summarizer runs, decided from options without loading it (its identity is part of the folder
//! job's cache keys), and loading it when a summary is actually needed.
use std::path::PathBuf;

use super::extractive::ExtractiveSummarizer;
use super::llm::LlmSummarizer;
use super::prompts::{PromptTemplate, PROMPT_POINTS, PROMPT_POINTS_DIRECT, PROMPT_POINT_RETRY, PROMPT_TITLE};
use super::seq2seq::{BartOptions, BartSummarizer};
use super::Summarizer;
use crate::device::{select_device, DeviceChoice};
use crate::error::{Error, Result};
use crate::hash::sha256_hex;
use crate::hub::{Catalog, FileSet, ModelSpec, ModelStore, Task};
use crate::models::llm::{GgufLlm, SamplingParams};

/// Length of each summary in words, unless asked otherwise.
pub const DEFAULT_MAX_WORDS: usize = 120;
/// The LLM's working context in tokens, unless asked otherwise.
pub const DEFAULT_CONTEXT: usize = 4096;
/// Seed for sampling, unless asked otherwise.
pub const DEFAULT_SEED: u64 = 299792458;
/// Log-odds of "yes" below which the LLM's own verdict fails a point. Measured on the 71 labelled
/// summary sentences (`vertolk eval checker --judge`, Qwen2.5-Coder-1.5B): with the deterministic
/// checks, 0.7 flags 31/41 wrong sentences and 1/15 supported ones (0.9: 32/41 and 2/15; 0.0: 25/41
/// and 1/15).
pub const DEFAULT_JUDGE_THRESHOLD: f32 = 0.7;

/// LLMs below this many parameters are refused for `--direct`: measured on the seeds, SmolLM2-135M and
/// Qwen2.5-Coder-0.5B left German and Dutch in most of their "English" points (see the README's quality
/// table); Qwen2.5-Coder-1.5B wrote English. `--force-direct` overrides (for measurements).
pub const MIN_DIRECT_PARAMETERS: u64 = 1_000_000_000;

/// Everything that decides which summarizer runs and what it writes.
#[derive(Debug, Clone)]
pub struct SummarizerOptions {
    /// `--summarizer`: a .gguf file, a catalogue name, a BART folder or repo, or `extractive`;
    /// `None` takes the catalogue's first summarizer (extractive, with a notice, when it cannot be had
    /// here: offline with a cold cache, or the hub unreachable; a failed download is an error).
    pub spec: Option<String>,
    pub max_words: usize,
    /// Summarize the original language straight into English (no translation).
    pub direct: bool,
    /// Allow `direct` with a model below [`MIN_DIRECT_PARAMETERS`].
    pub force_direct: bool,
    /// A template replacing the per-article summary prompt.
    pub prompt: Option<PathBuf>,
    pub context: usize,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: u64,
    /// The LLM's support verdict on each point: fail below these log-odds; `None` skips it.
    pub judge_threshold: Option<f32>,
    pub device: DeviceChoice,
}

impl Default for SummarizerOptions {
    fn default() -> Self {
        Self {
            spec: None,
            max_words: DEFAULT_MAX_WORDS,
            direct: false,
            force_direct: false,
            prompt: None,
            context: DEFAULT_CONTEXT,
            temperature: None,
            top_p: None,
            seed: DEFAULT_SEED,
            judge_threshold: Some(DEFAULT_JUDGE_THRESHOLD),
            device: DeviceChoice::Auto,
        }
    }
}

/// The summarizer that will run.
#[derive(Debug, Clone)]
pub enum SummarizerChoice {
    /// No model: TextRank. `notice` says why, when a model was wanted but is unavailable.
    Extractive { notice: Option<String> },
    Gguf(PathBuf),
    /// A BART model folder (hub layout).
    Seq2Seq(PathBuf),
}

impl SummarizerOptions {
    /// Decide which summarizer runs; resolves (and may download) catalogue and hub models.
    pub fn choose(&self, store: &ModelStore, catalog: &Catalog) -> Result<SummarizerChoice> {
        match self.spec.as_deref() {
            Some("extractive") => Ok(SummarizerChoice::Extractive { notice: None }),
            Some(s) => match ModelSpec::parse(s, catalog)? {
                ModelSpec::Gguf(p) => Ok(SummarizerChoice::Gguf(p)),
                ModelSpec::Catalog(e) if e.task == Task::Summarization && e.architecture == "bart" => {
                    Ok(SummarizerChoice::Seq2Seq(store.resolve(&ModelSpec::Catalog(e.clone()), &FileSet::of_entry(&e))?.path))
                }
                ModelSpec::LocalDir(d) => Ok(SummarizerChoice::Seq2Seq(d)),
                spec @ ModelSpec::Hub { .. } => Ok(SummarizerChoice::Seq2Seq(store.resolve(&spec, &FileSet::bart())?.path)),
                ModelSpec::Catalog(e) if e.task == Task::Summarization => {
                    let r = store.resolve(&ModelSpec::Catalog(e.clone()), &FileSet::of_entry(&e))?;
                    Ok(SummarizerChoice::Gguf(r.path.join(&e.required_files[0])))
                }
                other => Err(Error::Usage(format!(
                    "{}: not a summarizer (give a .gguf file, a summarization model from the catalogue, or `extractive`)",
                    other.label()
                ))),
            },
            None => match catalog.models.iter().find(|m| m.task == Task::Summarization) {
                Some(e) => match store.resolve(&ModelSpec::Catalog(e.clone()), &FileSet::of_entry(e)) {
                    Ok(r) => Ok(SummarizerChoice::Gguf(r.path.join(&e.required_files[0]))),
                    // Only a model that cannot be had here (offline with a cold cache, no route to the hub)
                    // gives way to TextRank. A download that began and failed (a stall, a 500, a refused
                    // token, another process's lock) is an error: a re-run fixes it, and quietly writing
                    // other summaries than the ones asked for would hide it.
                    Err(err @ Error::ModelUnavailable(_)) => Ok(SummarizerChoice::Extractive {
                        notice: Some(format!(
                            "summarizer {} is not available ({err}); using the extractive summarizer (no model). Pass --summarizer FILE.gguf for a model.",
                            e.name
                        )),
                    }),
                    Err(err) => Err(err),
                },
                None => Ok(SummarizerChoice::Extractive { notice: None }),
            },
        }
    }
}

impl SummarizerChoice {
    /// Why the extractive summarizer stands in for a model, when it does.
    pub fn notice(&self) -> Option<&str> {
        match self {
            SummarizerChoice::Extractive { notice } => notice.as_deref(),
            _ => None,
        }
    }

    /// Identity for cache keys: the model file (path and size) and every setting that changes output.
    pub fn id(&self, o: &SummarizerOptions) -> String {
        let prompt = o.prompt.as_ref().and_then(|p| std::fs::read(p).ok()).map(|b| sha256_hex(&b)).unwrap_or_default();
        match self {
            SummarizerChoice::Extractive { .. } => "extractive".into(),
            SummarizerChoice::Gguf(p) => {
                let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                // the built-in prompts are part of the identity: a release that changes them redoes summaries
                let builtin = sha256_hex(format!("{PROMPT_POINTS}{PROMPT_POINTS_DIRECT}{PROMPT_POINT_RETRY}{PROMPT_TITLE}").as_bytes());
                format!(
                    "gguf:{}:{size}|ctx={}|t={:?}|p={:?}|seed={}|prompt={prompt}|points={}|judge={:?}",
                    p.display(),
                    o.context,
                    o.temperature,
                    o.top_p,
                    o.seed,
                    &builtin[..12],
                    o.judge_threshold
                )
            }
            SummarizerChoice::Seq2Seq(dir) => {
                let size = crate::hub::weights::find_weights(dir).and_then(|w| std::fs::metadata(w).ok()).map(|m| m.len()).unwrap_or(0);
                let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                format!("bart:{}:{size}", canonical.display())
            }
        }
    }

    /// Load the chosen summarizer.
    pub fn load(&self, o: &SummarizerOptions) -> Result<Box<dyn Summarizer>> {
        match self {
            SummarizerChoice::Extractive { .. } => Ok(Box::new(ExtractiveSummarizer)),
            SummarizerChoice::Gguf(path) => {
                let device = select_device(o.device)?;
                let model = GgufLlm::load(path, &device)?;
                if o.direct && !o.force_direct && model.parameters < MIN_DIRECT_PARAMETERS {
                    return Err(Error::Usage(format!(
                        "--direct needs a model that can translate: {} has {:.2} billion parameters, and models this small were measured leaving German and Dutch in their English summaries. Drop --direct (articles are then translated with OPUS-MT first) or use a larger model (qwen2.5-1.5b-instruct or larger); --force-direct overrides.",
                        model.label,
                        model.parameters as f64 / 1e9
                    )));
                }
                let mut s = LlmSummarizer::new(model, o.context);
                s.params = SamplingParams { temperature: o.temperature, top_p: o.top_p, seed: o.seed, ..Default::default() };
                s.judge_threshold = o.judge_threshold;
                if let Some(p) = &o.prompt {
                    let t = PromptTemplate::from_file(p)?;
                    if o.direct {
                        s.direct_prompt = t;
                    } else {
                        s.prompt = t;
                    }
                }
                Ok(Box::new(s))
            }
            SummarizerChoice::Seq2Seq(dir) => {
                if o.direct {
                    return Err(Error::Usage("--direct needs a multilingual instruct LLM (.gguf); BART summarizes English only".into()));
                }
                let device = select_device(o.device)?;
                Ok(Box::new(BartSummarizer::load(dir, &device, BartOptions::default())?))
            }
        }
    }
}
