//! Every flag and its help, defined once; the library's option types are built from these in the
//! commands. The library's enums are mirrored here so that `clap` stays in the CLI.
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::device::DeviceChoice;
use crate::models::transformer::Quantize;
use crate::pipeline::input::DEFAULT_MAX_BYTES;
use crate::pipeline::translate::LOW_CONFIDENCE;
use crate::pipeline::summarize::choice::{DEFAULT_CONTEXT, DEFAULT_JUDGE_THRESHOLD, DEFAULT_MAX_WORDS, DEFAULT_SEED};
use crate::run::Shard;

const EXIT_CODES: &str = "Exit codes: 0 all done · 1 nothing usable (fatal error) · 2 usage error · \
3 some inputs failed, the rest done · 4 a model is unavailable (offline with a cold cache, hub unreachable, \
a download that failed, missing or corrupt model files) · 128+N stopped by signal N (SIGINT 130, SIGTERM 143; what is done is saved).";

/// `--beams`: 1-64. Wider beams cost time and memory in proportion and stop helping long before 64
/// (OPUS-MT's own setting is 4-6); `--beams 1000` took 186 s and 1.2 GB on a 2.8 KB article.
fn beams_range() -> clap::builder::RangedU64ValueParser<usize> {
    usize_in(1..=64)
}

/// A count in `range` (clap shows the range in its error message).
fn usize_in(range: std::ops::RangeInclusive<u64>) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(range)
}

/// A finite float in `[lo, hi]` (NaN and infinities are refused, which a plain `f64` parser accepts).
fn float_in(lo: f64, hi: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
        if !v.is_finite() || v < lo || v > hi {
            return Err(format!("{s} is not in {lo}..={hi}"));
        }
        Ok(v)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "vertolk",
    version,
    about = "Turn German and Dutch news into English briefings: MarianMT translation and summaries on candle, offline-first.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Compute device. `auto` picks CUDA or Metal when this build supports it and one is present.
    #[arg(long, global = true, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Never touch the network: use the model cache or local folders only (also: HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
    /// Hugging Face cache folder [default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// CPU threads for inference, 1-1024 [default: all cores].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// No progress bars and no notices on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Seconds without a byte before a download try counts as stalled [default: 10].
    #[arg(long, global = true, value_name = "SECS", env = "HF_HUB_DOWNLOAD_TIMEOUT", value_parser = seconds, help_heading = "Downloads")]
    pub download_timeout: Option<Duration>,
    /// Seconds to wait for the hub's answer about a file [default: 10].
    #[arg(long, global = true, value_name = "SECS", env = "HF_HUB_ETAG_TIMEOUT", value_parser = seconds, help_heading = "Downloads")]
    pub etag_timeout: Option<Duration>,
    /// Tries after the first when a download stalls, drops, or gets HTTP 429/5xx; a try that made
    /// progress renews them [default: 3].
    #[arg(long, global = true, value_name = "N", env = "VERTOLK_DOWNLOAD_RETRIES", help_heading = "Downloads")]
    pub retries: Option<u32>,
    /// Seconds to wait for another process's download of the same file while it makes no progress
    /// [default: 600].
    #[arg(long, global = true, value_name = "SECS", env = "VERTOLK_LOCK_TIMEOUT", value_parser = seconds, help_heading = "Downloads")]
    pub lock_timeout: Option<Duration>,
}

/// Seconds for the download flags; 0 (ZERO) means the default, as huggingface_hub reads its variables.
fn seconds(s: &str) -> Result<Duration, String> {
    crate::hub::net::parse_seconds(s).map(Option::unwrap_or_default)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate files, folders or stdin (`-`) into English.
    Translate(TranslateArgs),
    /// Summarize articles (English, or translated first).
    Summarize(SummarizeArgs),
    /// The whole pipeline over a folder: translate, summarize, write a cited briefing.
    Brief(BriefArgs),
    /// List, download, locate and verify models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print token ids, one line per input line (source side ends with </s>), for debugging and parity checks.
    Tokenize(TokenizeArgs),
    /// Print the language of each input.
    Detect(DetectArgs),
    /// Measure throughput and peak memory (prints Markdown table rows).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Measure quality against references: the fact checker on labelled sentences, or a `brief` output
    /// against key facts and traps.
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Marian of a real config's shape with random weights: encode a batch, decode a fixed number of steps.
    Marian {
        /// A Marian config.json (e.g. ../shared/reference/opus-mt-configs/de-en/config.json).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        #[arg(long, default_value_t = 64)]
        src_len: usize,
        #[arg(long, default_value_t = 64)]
        steps: usize,
        #[arg(long, default_value_t = 1)]
        beams: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// A Marian model folder over a file of sentences (one per line), batched as `translate` batches them:
    /// generated tokens/s, sentences/s and peak RSS as one JSON line; `--out` writes each sentence's
    /// generated ids (JSON lines) for parity checks. Used by scripts/bench_compare.py.
    Translate {
        /// Model folder (hub layout).
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Sentences, one per line.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        #[arg(long, default_value_t = 1)]
        beams: usize,
        /// Decoder length limit, start token included (as `generate(max_length=...)`).
        #[arg(long, default_value_t = 256)]
        max_length: usize,
        /// Sentences per batch at most.
        #[arg(long, default_value_t = 32)]
        max_batch: usize,
        /// Quantize the linear layers (`int8`, `int8-fast`, or candle's GGML `q8_0`) or keep f32 (`none`).
        #[arg(long, value_enum, default_value_t = QuantizeArg::None)]
        quantize: QuantizeArg,
        /// Write generated ids, one JSON array per line, in input order.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Cap each batch's generated tokens at RATIO × its longest source (token count, `</s>` included).
        #[arg(long, value_name = "RATIO")]
        length_cap: Option<f32>,
    },
    /// A GGUF LLM: prompt processing and generation rates on a seed article.
    Llm {
        #[arg(long, value_name = "FILE")]
        gguf: PathBuf,
        /// Text to use as the prompt.
        #[arg(long, value_name = "FILE")]
        prompt: PathBuf,
        #[arg(long, default_value_t = 64)]
        gen: usize,
        /// Also generate with this smaller GGUF (same tokenizer) drafting tokens for speculative
        /// decoding, and report both runs and whether their outputs are identical.
        #[arg(long, value_name = "FILE")]
        draft: Option<PathBuf>,
        /// Tokens the draft proposes per check (with --draft).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
        draft_tokens: u16,
        /// Also decode N replies together (the prompt, then N−1 others that each ask for one more
        /// thing), as `brief` drafts a group of articles, and report their combined generation rate
        /// and whether the first reply equals the one generated alone.
        #[arg(long, value_name = "N", value_parser = usize_in(1..=64))]
        together: Option<usize>,
        /// Print one JSON line instead of a Markdown row.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// The fact checker on hand-labelled summary sentences: precision and recall on the wrong ones
    /// (U/M/T), partly supported ones (P) apart.
    Checker {
        /// Labelled sentences (JSON lines: run, article, sentence, label), e.g. ../shared/eval/summary_sentences.jsonl.
        #[arg(long, value_name = "FILE")]
        labels: PathBuf,
        /// Folder of the source articles the labels name (e.g. ../shared/seeds).
        #[arg(long, value_name = "DIR")]
        seeds: PathBuf,
        /// Also judge support with this instruct LLM (a .gguf file).
        #[arg(long, value_name = "FILE")]
        judge: Option<PathBuf>,
        /// Log-odds of "yes" below which the judge flags a sentence.
        #[arg(long, value_name = "X", default_value_t = 0.0, allow_hyphen_values = true)]
        threshold: f32,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
    /// A `brief` output folder against per-article key facts and traps: facts kept (numbers with
    /// units, names), trap candidates, uncited, cut-off and non-English points, the briefing's shape.
    Output {
        /// The `brief --out` folder.
        #[arg(value_name = "DIR")]
        out: PathBuf,
        /// Key facts and traps per article (JSON lines), e.g. ../shared/seeds-en/facts.jsonl.
        #[arg(long, value_name = "FILE")]
        facts: PathBuf,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceLang {
    Auto,
    De,
    Nl,
    En,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Markdown,
    Json,
    Jsonl,
}

#[derive(Debug, Args, Clone)]
pub struct TranslateArgs {
    /// Input files or folders (recursive); `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Source language; `auto` detects it.
    #[arg(long, value_enum, default_value_t = SourceLang::Auto)]
    pub from: SourceLang,
    /// Target language (only English is supported).
    #[arg(long, default_value = "en")]
    pub to: String,
    /// Translator: catalogue name, `org/repo[@revision]`, or a local model folder [default: by --from].
    #[arg(long, value_name = "SPEC")]
    pub model: Option<String>,
    /// Each input line is one segment: N lines in, exactly N lines out (no segmentation).
    #[arg(long)]
    pub lines: bool,
    /// Beam width, 1-64 (1 = greedy) [default: the catalogue's, else the model's].
    #[arg(long, value_name = "N", value_parser = beams_range())]
    pub beams: Option<usize>,
    /// Decoder length limit, start token included (as transformers' max_length), 2-4096.
    #[arg(long, value_name = "N", value_parser = usize_in(2..=4096))]
    pub max_length: Option<usize>,
    /// Limit on generated tokens per segment (as transformers' max_new_tokens), 1-4096; wins over --max-length.
    #[arg(long, value_name = "N", value_parser = usize_in(1..=4096))]
    pub max_new_tokens: Option<usize>,
    /// Write one output file per input into DIR instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output format: text or markdown (paragraphs kept), json (per segment: source, translation,
    /// language, score, flags; on stdout one JSON document: the input's object, or an array of them for
    /// several inputs, a failed input as {"source", "error"}), jsonl (one segment per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Most source tokens per segment, 8-4096 (and at most the model's positions); longer sentences are
    /// split at clause boundaries (never truncated).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = usize_in(8..=4096))]
    pub segment_tokens: usize,
    /// Pack several sentences into one segment up to --segment-tokens (default: one sentence each,
    /// which is what OPUS-MT is trained on).
    #[arg(long)]
    pub pack: bool,
    /// Refuse inputs larger than this many bytes, 1-1073741824 (1 GiB).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BYTES, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_input_bytes: u64,
    /// Quantize the translator's linear layers after loading (CPU): `int8` (per-column int8 weights,
    /// per-row int8 activations, as CTranslate2's int8; 4× smaller weights, outputs close to but not
    /// identical with f32), `int8-fast` (the same with 7-bit activations, as PyTorch's x86 dynamic
    /// quantization: faster, less precise) or `q8_0` (candle's GGML Q8_0 kernel, slower). See the
    /// README's benchmark.
    #[arg(long, value_enum, default_value_t = QuantizeArg::None)]
    pub quantize: QuantizeArg,
    #[command(flatten)]
    pub checks: TranslationCheckArgs,
}

/// Glossary and confidence cut, for every command that translates.
#[derive(Debug, Args, Clone)]
pub struct TranslationCheckArgs {
    /// Glossary: a TSV file of `source<TAB>target` lines (an empty target keeps the term verbatim);
    /// terms come out as given, and a segment whose output lacks one is flagged `missing_term`.
    #[arg(long, value_name = "FILE")]
    pub glossary: Option<PathBuf>,
    /// Flag (and retry) segments whose confidence, the model's mean token probability, is below X.
    #[arg(long, value_name = "X", default_value_t = LOW_CONFIDENCE)]
    pub min_confidence: f32,
}

#[derive(Debug, Args, Clone)]
pub struct SummarizerArgs {
    /// Summarizer: a .gguf file (instruct LLM), a catalogue name (qwen2.5-1.5b-instruct, distilbart-cnn-12-6,
    /// bart-large-cnn), a BART model folder or hub repo, or `extractive` (TextRank, no model)
    /// [default: the catalogue's first summarizer; extractive, with a notice, when it cannot be had here
    /// (offline with a cold cache, hub unreachable); a download that fails is an error].
    #[arg(long, value_name = "SPEC")]
    pub summarizer: Option<String>,
    /// Length of each summary in words, 10-2000.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_WORDS, value_parser = usize_in(10..=2000))]
    pub max_words: usize,
    /// Summarize the German/Dutch original straight into English with the LLM (no Marian step); needs a
    /// model of a billion parameters or more (smaller ones were measured unable to translate).
    #[arg(long)]
    pub direct: bool,
    /// Allow --direct with a model under a billion parameters (for measurements).
    #[arg(long)]
    pub force_direct: bool,
    /// Replace the per-article summary prompt (see prompts/README.md for its placeholders).
    #[arg(long, value_name = "FILE")]
    pub prompt: Option<PathBuf>,
    /// Working context of the LLM in tokens, 512-131072 (and at most the model's); longer articles are
    /// summarized map-reduce.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONTEXT, value_parser = usize_in(512..=131072))]
    pub context: usize,
    /// Sample with this temperature, 0-5 (0 = greedy), instead of greedy decoding.
    #[arg(long, value_name = "T", value_parser = float_in(0.0, 5.0))]
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold, 0-1 (with --temperature).
    #[arg(long, value_name = "P", value_parser = float_in(0.0, 1.0))]
    pub top_p: Option<f64>,
    /// Random seed for sampling.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// The LLM's yes/no verdict on each point against the sentences it cites: a point whose "yes"
    /// log-odds fall below X is rewritten (or quoted or dropped). See the README's quality table.
    #[arg(long, value_name = "X", default_value_t = DEFAULT_JUDGE_THRESHOLD, allow_hyphen_values = true)]
    pub judge_threshold: f32,
    /// Skip the LLM's verdict (the deterministic checks still run): faster, catches less.
    #[arg(long)]
    pub no_judge: bool,
}

/// How `summarize` and `brief` translate non-English articles.
#[derive(Debug, Args, Clone)]
pub struct PipelineTranslationArgs {
    /// Translator for every non-English article [default: the catalogue's per language].
    #[arg(long, value_name = "SPEC")]
    pub model: Option<String>,
    /// Source language of all articles; `auto` detects each.
    #[arg(long, value_enum, default_value_t = SourceLang::Auto)]
    pub from: SourceLang,
    /// Quantize the translator's linear layers (`int8`, `int8-fast` or `q8_0`), as `translate --quantize`.
    #[arg(long, value_enum, default_value_t = QuantizeArg::None)]
    pub quantize: QuantizeArg,
    #[command(flatten)]
    pub checks: TranslationCheckArgs,
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub summarizer: SummarizerArgs,
    #[command(flatten)]
    pub translation: PipelineTranslationArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Markdown)]
    pub format: OutputFormat,
    /// Write `<stem>.summary.md` (or .json) per input into DIR instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Outputs in --out: <stem>.en.md, <stem>.summary.md, briefing.md, briefing.json, report.json, \
articles/*.json (per-article records). A re-run skips finished articles and redoes only what changed. \
One run at a time per --out (a lock); SIGINT/SIGTERM stop at the next article or batch with report.json written. \
Exit codes: 0 all done · 1 nothing usable · 2 usage · 3 some inputs failed, the rest done · 4 a model is unavailable · \
128+N stopped by signal N.")]
pub struct BriefArgs {
    /// Article files or folders (recursive: .txt, .md, .html); with --merge, the output folders of shards.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub summarizer: SummarizerArgs,
    #[command(flatten)]
    pub translation: PipelineTranslationArgs,
    /// Beam width for translation, 1-64 [default: the catalogue's].
    #[arg(long, value_name = "N", value_parser = beams_range())]
    pub beams: Option<usize>,
    /// Process only shard K of N (by path hash) and write per-article results, no briefing.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Build one briefing from the output folders of shard runs (given as INPUT).
    #[arg(long)]
    pub merge: bool,
    /// Sentence-embedding model that groups the briefing's points into stories: a catalogue name, a
    /// model folder, a hub repo, or `none` (group by shared words) [default: all-minilm-l6-v2; shared
    /// words, with a notice, when it is unavailable].
    #[arg(long, value_name = "SPEC")]
    pub embedder: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The catalogue, and whether each model is in the local cache.
    List,
    /// Download models into the cache (catalogue names or `org/repo[@revision]`); a cached model's files
    /// are verified and bad ones downloaded again.
    Pull {
        #[arg(required = true, value_name = "NAME|SPEC")]
        models: Vec<String>,
    },
    /// Print the local folder of a cached model (never downloads).
    Path {
        #[arg(value_name = "NAME|SPEC")]
        model: String,
    },
    /// Check a model's files: present, readable, headers parse, checksums match the cache [default: all cached].
    Verify {
        #[arg(value_name = "NAME|SPEC")]
        model: Option<String>,
        /// Download the files that fail again (hub models in the cache).
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Model whose tokenizer to use.
    #[arg(long, value_name = "SPEC")]
    pub model: String,
    /// Use the target-side tokenizer (what the decoder produces).
    #[arg(long)]
    pub target: bool,
    /// Input file; stdin when absent or `-`.
    #[arg(value_name = "FILE")]
    pub file: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Also print the language of each paragraph.
    #[arg(long)]
    pub paragraphs: bool,
}

/// `--device` (mirrors [`DeviceChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DeviceArg {
    /// CUDA or Metal when this build has it and a device is present, else CPU
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda,
            DeviceArg::Metal => DeviceChoice::Metal,
        }
    }
}

/// `--quantize` (mirrors [`Quantize`], whose docs explain each scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum QuantizeArg {
    /// Keep the checkpoint's float weights.
    #[default]
    None,
    /// int8 weights per output column, int8 activations per row (CTranslate2's scheme).
    #[value(name = "int8")]
    Int8,
    /// As int8 with 7-bit activations (PyTorch's x86 dynamic quantization): faster, less exact.
    #[value(name = "int8-fast")]
    Int8Fast,
    /// candle's GGML Q8_0 kernel (slower; for comparison).
    #[value(name = "q8_0")]
    Q8_0,
}

impl From<QuantizeArg> for Quantize {
    fn from(q: QuantizeArg) -> Self {
        match q {
            QuantizeArg::None => Quantize::None,
            QuantizeArg::Int8 => Quantize::Int8,
            QuantizeArg::Int8Fast => Quantize::Int8Fast,
            QuantizeArg::Q8_0 => Quantize::Q8_0,
        }
    }
}

impl SourceLang {
    /// The language code, or `None` for `auto`.
    pub fn code(self) -> Option<&'static str> {
        match self {
            SourceLang::Auto => None,
            SourceLang::De => Some("de"),
            SourceLang::Nl => Some("nl"),
            SourceLang::En => Some("en"),
        }
    }
}

impl OutputFormat {
    /// File extension of outputs in this format.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Text => "txt",
            OutputFormat::Markdown => "md",
            OutputFormat::Json => "json",
            OutputFormat::Jsonl => "jsonl",
        }
    }
}
