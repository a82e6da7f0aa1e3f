//! The command line: every flag is defined here, with its help text; each command is a thin driver over
//! the library. Errors get their context here (`anyhow`) and map to documented exit codes.
use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::{Catalog, Task};
use crate::device::{select_device, DeviceChoice};
use crate::error::{exit_code, Error};
use crate::store::{FileSet, ModelSpec, ModelStore};
use crate::tokenizer::MarianTokenizer;
use crate::document::{DocumentOptions, DocumentTranslator, TranslatorPool};
use crate::models::llm::{GgufLlm, SamplingParams};
use crate::summarize::{ExtractiveSummarizer, LlmSummarizer, PromptTemplate, Summarizer};
use crate::bart_summarizer::{BartOptions, BartSummarizer};
use crate::models::transformer::Quantize;
use crate::input::{collect_sources, Source};
use crate::runner::write_atomic;
use crate::translate::{MarianTranslator, Translation, TranslatorOptions};
use std::collections::HashMap;

const EXIT_CODES: &str = "Exit codes: 0 all done · 1 nothing usable (fatal error) · 2 usage error · \
3 some inputs failed, the rest done · 4 a model is unavailable (offline with a cold cache, hub unreachable, \
missing or corrupt model files).";

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
    #[arg(long, global = true, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Never touch the network: use the model cache or local folders only (also: HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
    /// Hugging Face cache folder [default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// CPU threads for inference [default: all cores].
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bars and no notices on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
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
        #[arg(long, value_enum, default_value_t = Quantize::None)]
        quantize: Quantize,
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
        /// Print one JSON line instead of a Markdown row.
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
    /// Beam width (1 = greedy) [default: the catalogue's, else the model's].
    #[arg(long, value_name = "N")]
    pub beams: Option<usize>,
    /// Decoder length limit, start token included (as transformers' max_length).
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
    /// Limit on generated tokens per segment (as transformers' max_new_tokens); wins over --max-length.
    #[arg(long, value_name = "N")]
    pub max_new_tokens: Option<usize>,
    /// Write one output file per input into DIR instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output format: text or markdown (paragraphs kept), json (per segment: source, translation,
    /// language, score, flags), jsonl (one segment per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Most source tokens per segment; longer sentences are split at clause boundaries (never truncated).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub segment_tokens: usize,
    /// Pack several sentences into one segment up to --segment-tokens (default: one sentence each,
    /// which is what OPUS-MT is trained on).
    #[arg(long)]
    pub pack: bool,
    /// Refuse inputs larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::input::DEFAULT_MAX_BYTES)]
    pub max_input_bytes: u64,
    /// Quantize the translator's linear layers after loading (CPU): `int8` (per-column int8 weights,
    /// per-row int8 activations, as CTranslate2's int8; 4× smaller weights, outputs close to but not
    /// identical with f32), `int8-fast` (the same with 7-bit activations, as PyTorch's x86 dynamic
    /// quantization: faster, less precise) or `q8_0` (candle's GGML Q8_0 kernel, slower). See the
    /// README's benchmark.
    #[arg(long, value_enum, default_value_t = Quantize::None)]
    pub quantize: Quantize,
}

#[derive(Debug, Args, Clone)]
pub struct SummarizerArgs {
    /// Summarizer: a .gguf file (instruct LLM), a catalogue name (qwen2.5-1.5b-instruct, distilbart-cnn-12-6,
    /// bart-large-cnn), a BART model folder or hub repo, or `extractive` (TextRank, no model)
    /// [default: the catalogue's first summarizer; extractive, with a notice, when it is unavailable].
    #[arg(long, value_name = "SPEC")]
    pub summarizer: Option<String>,
    /// Length of each summary in words.
    #[arg(long, value_name = "N", default_value_t = 120)]
    pub max_words: usize,
    /// Summarize the German/Dutch original straight into English with the LLM (no Marian step).
    #[arg(long)]
    pub direct: bool,
    /// Replace the per-article summary prompt (see prompts/README.md for its placeholders).
    #[arg(long, value_name = "FILE")]
    pub prompt: Option<PathBuf>,
    /// Working context of the LLM in tokens; longer articles are summarized map-reduce.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub context: usize,
    /// Sample with this temperature instead of greedy decoding.
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold (with --temperature).
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    /// Random seed for sampling.
    #[arg(long, value_name = "N", default_value_t = 299792458)]
    pub seed: u64,
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
    #[arg(long, value_enum, default_value_t = Quantize::None)]
    pub quantize: Quantize,
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
Exit codes: 0 all done · 1 nothing usable · 2 usage · 3 some inputs failed, the rest done · 4 a model is unavailable.")]
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
    /// Beam width for translation [default: the catalogue's].
    #[arg(long, value_name = "N")]
    pub beams: Option<usize>,
    /// Process only shard K of N (by path hash) and write per-article results, no briefing.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::runner::Shard>,
    /// Build one briefing from the output folders of shard runs (given as INPUT).
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The catalogue, and whether each model is in the local cache.
    List,
    /// Download models into the cache (catalogue names or `org/repo[@revision]`).
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

/// Process-wide settings for the CPU kernels; called before any tensor work.
fn tune_runtime(threads: Option<usize>) {
    // candle sizes its pools from RAYON_NUM_THREADS; when it is unset, candle works out the number of
    // physical cores again on every matmul (parsing /proc/cpuinfo), so settle it once here, with
    // candle's own default.
    let n = match threads {
        Some(n) => Some(n.max(1)),
        None if std::env::var_os("RAYON_NUM_THREADS").is_none() => Some(num_cpus::get_physical().max(1)),
        None => None,
    };
    if let Some(n) = n {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    // candle's element-wise ops hand work to a pool whose workers spin 25,000 times before parking; on
    // a 2-core machine that spinning took the core the rayon pool (GEMMs, attention, token choice)
    // needed next. Parking at once: greedy 653 → 750 tok/s and beam 4 208 → 242 tok/s on the bench
    // model (interleaved runs); the GGUF summarizer within noise. An explicit setting wins.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "1");
    }
    // Decoding frees and re-allocates the same multi-megabyte buffers (logits, activations) at every
    // step. glibc's default gives large blocks back to the kernel (mmap, heap trimming), so each step
    // paid page faults and page zeroing again (8 % of a decoding profile); keep them for reuse.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit_code::USAGE } else { exit_code::OK };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    tune_runtime(cli.global.threads);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            e.chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .map(Error::exit_code)
                .unwrap_or(exit_code::FAILURE)
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) | (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERTOLK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("vertolk={level}")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    let store = ModelStore::from_env(g.cache_dir.clone(), g.offline, crate::progress::bars_enabled(g.quiet));
    let catalog = Catalog::builtin();
    match cli.command {
        Command::Translate(a) => translate(&a, g, &store, &catalog),
        Command::Models(m) => models(m, &store, &catalog),
        Command::Tokenize(a) => tokenize(&a, &store, &catalog),
        Command::Summarize(a) => summarize(&a, g, &store, &catalog),
        Command::Brief(a) => brief(&a, g, &store, &catalog),
        Command::Detect(a) => detect(&a),
        Command::Bench(b) => bench(b, g),
    }
}

/// 0 all done, 1 nothing usable, 3 some inputs failed.
fn batch_exit_code(ok: usize, failed: usize) -> i32 {
    match (ok, failed) {
        (_, 0) => exit_code::OK,
        (0, _) => exit_code::FAILURE,
        _ => exit_code::PARTIAL,
    }
}

/// Per-file errors on stderr: the same long message (a missing model, with what to do about it) is
/// printed in full once, then only referred to.
#[derive(Default)]
struct ErrorLog {
    seen: std::collections::HashSet<String>,
}

impl ErrorLog {
    fn report(&mut self, file: &str, message: &str) {
        if self.seen.insert(message.to_string()) {
            eprintln!("error: {file}: {message}");
        } else {
            let head: String = message.split(" is not available").next().unwrap_or(message).chars().take(160).collect();
            eprintln!("error: {file}: {head} (as above)");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// translate

impl TranslateArgs {
    /// Translation settings when another command (summarize, brief) drives the translator.
    pub(crate) fn for_pipeline() -> Self {
        TranslateArgs {
            inputs: vec![],
            from: SourceLang::Auto,
            to: "en".into(),
            model: None,
            lines: false,
            beams: None,
            max_length: None,
            max_new_tokens: None,
            out: None,
            format: OutputFormat::Text,
            segment_tokens: 200,
            pack: false,
            max_input_bytes: crate::input::DEFAULT_MAX_BYTES,
            quantize: Quantize::None,
        }
    }
}

fn lang_code(l: SourceLang) -> Option<&'static str> {
    match l {
        SourceLang::Auto => None,
        SourceLang::De => Some("de"),
        SourceLang::Nl => Some("nl"),
        SourceLang::En => Some("en"),
    }
}

/// The translator for `lang`: `--model` when given (for every language), else the catalogue's.
fn translator_spec_for(model: Option<&str>, lang: &str, catalog: &Catalog) -> anyhow::Result<ModelSpec> {
    if let Some(spec) = model {
        return Ok(ModelSpec::parse(spec, catalog)?);
    }
    let entry = catalog
        .translator_for(lang)
        .ok_or_else(|| Error::Usage(format!("no translator for '{lang}' in the catalogue (pass --model)")))?;
    Ok(ModelSpec::Catalog(entry.clone()))
}

fn load_translator(spec: &ModelSpec, a: &TranslateArgs, g: &GlobalArgs, store: &ModelStore) -> crate::Result<MarianTranslator> {
    let files = match spec {
        ModelSpec::Catalog(e) => FileSet::of_entry(e),
        ModelSpec::Gguf(p) => {
            return Err(Error::Usage(format!("{} is a GGUF file; translation needs a Marian model folder", p.display())))
        }
        _ => FileSet::marian(),
    };
    let resolved = store.resolve(spec, &files)?;
    let defaults = match spec {
        ModelSpec::Catalog(e) => e.generation.clone(),
        _ => Default::default(),
    };
    let device = select_device(g.device)?;
    let options = TranslatorOptions {
        num_beams: a.beams.or(defaults.num_beams),
        max_length: a.max_length.or(defaults.max_length),
        max_new_tokens: a.max_new_tokens.or(defaults.max_new_tokens),
        dtype: crate::device::default_dtype(&device),
        quantize: a.quantize,
        ..Default::default()
    };
    MarianTranslator::load(&resolved.path, &device, options)
}

#[derive(serde::Serialize)]
struct LineOut<'a> {
    index: usize,
    source: &'a str,
    translation: &'a str,
    score: f32,
    source_tokens: usize,
    output_tokens: usize,
    finished: bool,
}

fn translate(a: &TranslateArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    if a.to != "en" {
        bail!(Error::Usage(format!("--to {}: only English (en) is supported", a.to)));
    }
    let sources = collect_sources(&a.inputs);
    if sources.is_empty() {
        bail!(Error::Usage("no input files found (looked for .txt, .md and .html)".into()));
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    }
    let (ok, failed) = if a.lines { translate_lines(a, g, store, catalog, &sources)? } else { translate_documents(a, g, store, catalog, sources)? };
    Ok(batch_exit_code(ok, failed))
}

fn emit(a: &TranslateArgs, stem: &str, rendered: &str) -> anyhow::Result<()> {
    match &a.out {
        Some(dir) => {
            let path = dir.join(format!("{stem}.en.{}", extension(a.format)));
            write_atomic(&path, rendered.as_bytes()).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            lock.write_all(rendered.as_bytes()).context("writing to stdout")?;
            lock.flush().context("writing to stdout")
        }
    }
}

/// `--lines`: each line is one segment, translated whole; N lines in, N lines out.
fn translate_lines(a: &TranslateArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog, sources: &[Source]) -> anyhow::Result<(usize, usize)> {
    let detector = crate::detect::LanguageDetectorSet::new();
    let mut pool: HashMap<String, MarianTranslator> = HashMap::new();
    let (mut ok, mut failed) = (0, 0);
    for src in sources {
        let result = (|| -> anyhow::Result<String> {
            let text = src.raw_text(a.max_input_bytes)?;
            let lang = match lang_code(a.from) {
                Some(l) => l.to_string(),
                None if a.model.is_some() => "any".to_string(),
                None => detector.detect(&text).lang,
            };
            let lines: Vec<&str> = text.lines().collect();
            if lang == "en" {
                return Ok(render_lines(&lines.iter().map(|l| (l.to_string(), None)).collect::<Vec<_>>(), a.format));
            }
            if !pool.contains_key(&lang) {
                let spec = translator_spec_for(a.model.as_deref(), &lang, catalog)?;
                let t = load_translator(&spec, a, g, store).with_context(|| format!("loading translator {}", spec.label()))?;
                pool.insert(lang.clone(), t);
            }
            let t = &pool[&lang];
            let non_empty: Vec<&str> = lines.iter().copied().filter(|l| !l.trim().is_empty()).collect();
            let mut done = t.translate(&non_empty)?.into_iter();
            let rows: Vec<(String, Option<Translation>)> = lines
                .iter()
                .map(|l| if l.trim().is_empty() { (l.to_string(), None) } else { (l.to_string(), done.next()) })
                .collect();
            Ok(render_lines(&rows, a.format))
        })();
        match result.and_then(|r| emit(a, &src.stem(), &r)) {
            Ok(()) => ok += 1,
            Err(e) => {
                if e.chain().any(|c| matches!(c.downcast_ref::<Error>(), Some(Error::ModelUnavailable(_) | Error::InvalidModelFile { .. } | Error::Usage(_)))) {
                    return Err(e);
                }
                eprintln!("error: {}: {e:#}", src.name());
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}

fn render_lines(rows: &[(String, Option<Translation>)], format: OutputFormat) -> String {
    fn line<'a>(i: usize, src: &'a str, t: &'a Option<Translation>) -> LineOut<'a> {
        LineOut {
            index: i,
            source: src,
            translation: t.as_ref().map(|t| t.text.as_str()).unwrap_or(src),
            score: t.as_ref().map(|t| t.score).unwrap_or(0.0),
            source_tokens: t.as_ref().map(|t| t.source_tokens).unwrap_or(0),
            output_tokens: t.as_ref().map(|t| t.tokens.len()).unwrap_or(0),
            finished: t.as_ref().map(|t| t.finished).unwrap_or(true),
        }
    }
    match format {
        OutputFormat::Text | OutputFormat::Markdown => rows
            .iter()
            .map(|(src, t)| format!("{}\n", t.as_ref().map(|t| t.text.as_str()).unwrap_or(if src.trim().is_empty() { "" } else { src })))
            .collect(),
        OutputFormat::Json => {
            let v: Vec<_> = rows.iter().enumerate().map(|(i, (s, t))| line(i, s, t)).collect();
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        OutputFormat::Jsonl => rows.iter().enumerate().map(|(i, (s, t))| serde_json::to_string(&line(i, s, t)).unwrap_or_default() + "\n").collect(),
    }
}

/// Document mode: languages detected, paragraphs kept, sentences segmented, batched across inputs.
fn translate_documents(a: &TranslateArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog, sources: Vec<Source>) -> anyhow::Result<(usize, usize)> {
    let options = DocumentOptions {
        from: lang_code(a.from).map(String::from),
        segment_tokens: a.segment_tokens,
        pack: a.pack,
        ..Default::default()
    };
    let dt = DocumentTranslator::new(options);
    let (mut ok, mut failed) = (0, 0);
    let mut docs = Vec::new();
    let mut stems = Vec::new();
    for src in &sources {
        match src.document(a.max_input_bytes) {
            Ok(d) => {
                docs.push(d);
                stems.push(src.stem());
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    let loader = |lang: &str| -> crate::Result<MarianTranslator> {
        let spec = translator_spec_for(a.model.as_deref(), lang, catalog).map_err(|e| Error::Usage(format!("{e:#}")))?;
        load_translator(&spec, a, g, store)
    };
    let mut pool = TranslatorPool::new(loader);
    let pb = crate::progress::bar(crate::progress::bars_enabled(g.quiet), docs.len() as u64, "translate");
    let results = dt.translate_all(docs, &mut pool);
    pb.finish_and_clear();
    for (r, stem) in results.into_iter().zip(stems) {
        match r {
            Ok(doc) => {
                let rendered = match a.format {
                    OutputFormat::Text => doc.to_text(),
                    OutputFormat::Markdown => doc.to_markdown(),
                    OutputFormat::Json => serde_json::to_string_pretty(&doc).context("serializing")? + "\n",
                    OutputFormat::Jsonl => doc
                        .blocks
                        .iter()
                        .enumerate()
                        .flat_map(|(bi, b)| b.segments.iter().map(move |s| (bi, s)))
                        .map(|(bi, s)| {
                            serde_json::to_string(&serde_json::json!({"document": doc.name, "block": bi, "segment": s})).unwrap_or_default() + "\n"
                        })
                        .collect(),
                };
                let flagged = doc.flagged_segments();
                if flagged > 0 && !g.quiet {
                    eprintln!("note: {}: {flagged} segment(s) flagged (see --format json)", doc.name);
                }
                emit(a, &stem, &rendered)?;
                ok += 1;
            }
            Err(e) => {
                if matches!(e, Error::ModelUnavailable(_) | Error::InvalidModelFile { .. }) && ok == 0 && failed == 0 {
                    return Err(e.into());
                }
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}

fn extension(f: OutputFormat) -> &'static str {
    match f {
        OutputFormat::Text => "txt",
        OutputFormat::Markdown => "md",
        OutputFormat::Json => "json",
        OutputFormat::Jsonl => "jsonl",
    }
}

// ---------------------------------------------------------------------------------------------
// detect

fn detect(a: &DetectArgs) -> anyhow::Result<i32> {
    let detector = crate::detect::LanguageDetectorSet::new();
    let sources = collect_sources(&a.inputs);
    let (mut ok, mut failed) = (0, 0);
    for src in sources {
        match src.document(crate::input::DEFAULT_MAX_BYTES) {
            Ok(doc) => {
                let d = detector.detect(&doc.text());
                println!("{}\t{}\t{:.3}", src.name(), d.lang, d.confidence);
                if a.paragraphs {
                    for (i, b) in doc.blocks.iter().enumerate() {
                        let d = detector.detect(&b.text);
                        println!("{}#{}\t{}\t{:.3}", src.name(), i + 1, d.lang, d.confidence);
                    }
                }
                ok += 1;
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok(batch_exit_code(ok, failed))
}

// ---------------------------------------------------------------------------------------------
// summarize

/// Which summarizer will run, decided without loading it (its identity is part of the cache keys).
#[derive(Debug, Clone)]
pub(crate) enum SummarizerChoice {
    Extractive { notice: Option<String> },
    Gguf(PathBuf),
    /// A BART model folder (hub layout).
    Seq2Seq(PathBuf),
}

pub(crate) fn choose_summarizer(a: &SummarizerArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<SummarizerChoice> {
    match a.summarizer.as_deref() {
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
            other => bail!(Error::Usage(format!("{}: not a summarizer (give a .gguf file, a summarization model from the catalogue, or `extractive`)", other.label()))),
        },
        None => match catalog.models.iter().find(|m| m.task == Task::Summarization) {
            Some(e) => match store.resolve(&ModelSpec::Catalog(e.clone()), &FileSet::of_entry(e)) {
                Ok(r) => Ok(SummarizerChoice::Gguf(r.path.join(&e.required_files[0]))),
                Err(err) => Ok(SummarizerChoice::Extractive {
                    notice: Some(format!("summarizer {} is not available ({err}); using the extractive summarizer (no model). Pass --summarizer FILE.gguf for a model.", e.name)),
                }),
            },
            None => Ok(SummarizerChoice::Extractive { notice: None }),
        },
    }
}

impl SummarizerChoice {
    /// Identity for cache keys: the model file (path and size) and every setting that changes output.
    pub(crate) fn id(&self, a: &SummarizerArgs) -> String {
        let prompt = a.prompt.as_ref().and_then(|p| std::fs::read(p).ok()).map(|b| crate::runner::sha256_hex(&b)).unwrap_or_default();
        match self {
            SummarizerChoice::Extractive { .. } => "extractive".into(),
            SummarizerChoice::Gguf(p) => {
                let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                format!("gguf:{}:{size}|ctx={}|t={:?}|p={:?}|seed={}|prompt={prompt}", p.display(), a.context, a.temperature, a.top_p, a.seed)
            }
            SummarizerChoice::Seq2Seq(dir) => {
                let size = crate::weights::find_weights(dir).and_then(|w| std::fs::metadata(w).ok()).map(|m| m.len()).unwrap_or(0);
                let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                format!("bart:{}:{size}", canonical.display())
            }
        }
    }

    pub(crate) fn load(&self, a: &SummarizerArgs, g: &GlobalArgs) -> crate::Result<Box<dyn Summarizer>> {
        match self {
            SummarizerChoice::Extractive { notice } => {
                if let (Some(n), false) = (notice, g.quiet) {
                    eprintln!("note: {n}");
                }
                Ok(Box::new(ExtractiveSummarizer))
            }
            SummarizerChoice::Gguf(path) => {
                let device = select_device(g.device)?;
                let model = GgufLlm::load(path, &device)?;
                let mut s = LlmSummarizer::new(model, a.context);
                s.params = SamplingParams { temperature: a.temperature, top_p: a.top_p, seed: a.seed, ..Default::default() };
                if let Some(p) = &a.prompt {
                    let t = PromptTemplate::from_file(p)?;
                    if a.direct {
                        s.direct_prompt = t;
                    } else {
                        s.prompt = t;
                    }
                }
                Ok(Box::new(s))
            }
            SummarizerChoice::Seq2Seq(dir) => {
                if a.direct {
                    return Err(crate::Error::Usage("--direct needs a multilingual instruct LLM (.gguf); BART summarizes English only".into()));
                }
                let device = select_device(g.device)?;
                Ok(Box::new(BartSummarizer::load(dir, &device, BartOptions::default())?))
            }
        }
    }
}

fn summarize(a: &SummarizeArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    let sources = collect_sources(&a.inputs);
    if sources.is_empty() {
        bail!(Error::Usage("no input files found (looked for .txt, .md and .html)".into()));
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    }
    let prepared = crate::pipeline::prepare_articles(
        &sources,
        &crate::pipeline::PrepareOptions { from: lang_code(a.translation.from).map(String::from), direct: a.summarizer.direct, max_input_bytes: crate::input::DEFAULT_MAX_BYTES },
        &|lang: &str| -> crate::Result<MarianTranslator> {
            let spec = translator_spec_for(a.translation.model.as_deref(), lang, catalog).map_err(|e| Error::Usage(format!("{e:#}")))?;
            let targs = TranslateArgs { quantize: a.translation.quantize, ..TranslateArgs::for_pipeline() };
            load_translator(&spec, &targs, g, store)
        },
    );
    let mut summarizer = choose_summarizer(&a.summarizer, store, catalog)?.load(&a.summarizer, g)?;
    let mut errors = ErrorLog::default();
    let (mut ok, mut failed) = (0, 0);
    for (src, art) in sources.iter().zip(prepared) {
        let result = art.and_then(|art| {
            let s = summarizer.summarize(&art.article(), a.summarizer.max_words)?;
            Ok((art, s))
        });
        match result {
            Ok((art, s)) => {
                let unsupported = crate::brief::unsupported_items(&s.text, &[&art.check_text]);
                let rendered = match a.format {
                    OutputFormat::Json | OutputFormat::Jsonl => {
                        let v = serde_json::json!({"source": src.name(), "language": art.language, "title": art.title, "date": art.date, "summary": s, "unsupported": unsupported});
                        if a.format == OutputFormat::Json { serde_json::to_string_pretty(&v)? + "\n" } else { serde_json::to_string(&v)? + "\n" }
                    }
                    _ => {
                        let mut t = format!("## {}\n\n{}\n", art.title.clone().unwrap_or_else(|| src.name()), s.text);
                        t.push_str(&format!("\n_{} summary by {}{}_\n", s.method, s.summarizer, if unsupported.is_empty() { String::new() } else { format!("; not found in the article: {}", unsupported.join(", ")) }));
                        t
                    }
                };
                match &a.out {
                    Some(dir) => {
                        let ext = if matches!(a.format, OutputFormat::Json | OutputFormat::Jsonl) { "json" } else { "md" };
                        let path = dir.join(format!("{}.summary.{ext}", src.stem()));
                        write_atomic(&path, rendered.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
                    }
                    None => {
                        print!("{rendered}");
                        if a.format != OutputFormat::Jsonl {
                            println!();
                        }
                    }
                }
                ok += 1;
            }
            Err(e) => {
                errors.report(&src.name(), &e.to_string());
                failed += 1;
            }
        }
    }
    Ok(batch_exit_code(ok, failed))
}

// ---------------------------------------------------------------------------------------------
// brief

fn translator_identity(spec: &ModelSpec) -> String {
    match spec {
        ModelSpec::Catalog(e) => format!("{}@{}", e.repo, e.revision),
        ModelSpec::LocalDir(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string(),
        other => other.label(),
    }
}

fn brief(a: &BriefArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    let choice = choose_summarizer(&a.summarizer, store, catalog)?;
    let mut summarizer = crate::runner::LazySummarizer::new(|| choice.load(&a.summarizer, g));
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating output folder {}", a.out.display()))?;
    if a.merge {
        let dirs: Vec<PathBuf> = a.inputs.iter().map(PathBuf::from).collect();
        let records = crate::runner::collect_records(&dirs)?;
        if records.is_empty() {
            bail!(Error::Usage("no finished articles in the given shard folders".into()));
        }
        let key = crate::runner::briefing_key(&records, &choice.id(&a.summarizer));
        let s = summarizer.get()?;
        let b = crate::runner::write_briefing(&a.out, &records, &key, Some(s))?;
        for r in &records {
            crate::runner::write_article_outputs(&a.out, r)?;
        }
        println!("{}", a.out.join("briefing.md").display());
        if !g.quiet {
            eprintln!("merged {} articles from {} folders; briefing by {} ({})", records.len(), dirs.len(), b.writer, b.method);
        }
        return Ok(exit_code::OK);
    }
    let sources = collect_sources(&a.inputs);
    if sources.is_empty() {
        bail!(Error::Usage("no input files found (looked for .txt, .md and .html)".into()));
    }
    let mut targs = TranslateArgs::for_pipeline();
    targs.beams = a.beams;
    targs.quantize = a.translation.quantize;
    let quantize = a.translation.quantize;
    let model = a.translation.model.clone();
    let beams = a.beams;
    let opts = crate::runner::BriefOptions {
        out: a.out.clone(),
        from: lang_code(a.translation.from).map(String::from),
        direct: a.summarizer.direct,
        max_words: a.summarizer.max_words,
        shard: a.shard,
        max_input_bytes: crate::input::DEFAULT_MAX_BYTES,
        translator_id: Box::new(move |lang: &str| {
            let spec = match &model {
                Some(m) => ModelSpec::parse(m, &Catalog::builtin()).map(|s| translator_identity(&s)).unwrap_or_else(|_| m.clone()),
                None => Catalog::builtin().translator_for(lang).map(|e| format!("{}@{}", e.repo, e.revision)).unwrap_or_default(),
            };
            // f32 keeps the key it always had, so existing translations stay valid
            let q = if quantize == Quantize::None { String::new() } else { format!("|quantize={quantize:?}") };
            format!("{spec}|beams={beams:?}|segment_tokens=200{q}")
        }),
        summarizer_id: choice.id(&a.summarizer),
        quiet: g.quiet,
    };
    let loader = |lang: &str| -> crate::Result<MarianTranslator> {
        let spec = translator_spec_for(a.translation.model.as_deref(), lang, catalog).map_err(|e| Error::Usage(format!("{e:#}")))?;
        load_translator(&spec, &targs, g, store)
    };
    let mut report = crate::runner::run_brief(&sources, &opts, &loader, &mut summarizer)?;
    let mut errors = ErrorLog::default();
    for e in report.articles.iter().filter(|e| e.status != "done") {
        errors.report(&e.source, &e.error.clone().unwrap_or_default());
    }
    if report.done > 0 && a.shard.is_none() {
        let done: std::collections::HashSet<&str> = report.articles.iter().filter(|e| e.status == "done").map(|e| e.source.as_str()).collect();
        let records: Vec<_> = crate::runner::collect_records(&[a.out.clone()])?.into_iter().filter(|r| done.contains(r.source.as_str())).collect();
        let key = crate::runner::briefing_key(&records, &choice.id(&a.summarizer));
        if crate::runner::briefing_is_current(&a.out, &key) {
            if !g.quiet {
                eprintln!("briefing unchanged (same summaries and writer); kept");
            }
        } else {
            let s = summarizer.get()?;
            let b = crate::runner::write_briefing(&a.out, &records, &key, Some(s))?;
            if !g.quiet {
                eprintln!("briefing by {} ({}), {} points, {} sources", b.writer, b.method, b.points.len(), b.sources.len());
            }
        }
        report.briefing = Some(a.out.join("briefing.md").display().to_string());
    }
    crate::runner::write_report(&a.out, &report)?;
    if !g.quiet {
        eprintln!(
            "{} of {} articles done ({} skipped: already done), {} failed, {:.1} s; report: {}",
            report.done,
            report.total,
            report.skipped,
            report.failed,
            report.seconds,
            a.out.join("report.json").display()
        );
    }
    if let Some(b) = &report.briefing {
        println!("{b}");
    }
    let model_missing = report.articles.iter().any(|e| e.error_kind.as_deref() == Some("model_unavailable"));
    Ok(match (report.done, report.failed) {
        (_, 0) => exit_code::OK,
        // a missing model is not the articles' fault: say so with its own code
        _ if model_missing => exit_code::MODEL_UNAVAILABLE,
        (0, _) => exit_code::FAILURE,
        _ => exit_code::PARTIAL,
    })
}

// ---------------------------------------------------------------------------------------------
// bench

fn bench(cmd: BenchCommand, g: &GlobalArgs) -> anyhow::Result<i32> {
    let device = select_device(g.device)?;
    match cmd {
        BenchCommand::Marian { config, batch, src_len, steps, beams, repeat } => {
            let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
            let cfg: crate::models::marian::Config = serde_json::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
            println!("{}", crate::bench::bench_marian(&cfg, &text, batch, src_len, steps, beams, repeat, &device)?);
        }
        BenchCommand::Translate { model, input, beams, max_length, max_batch, quantize, out, length_cap } => {
            let text = std::fs::read_to_string(&input).with_context(|| format!("reading {}", input.display()))?;
            let sentences: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let opts = TranslatorOptions { num_beams: Some(beams), max_length: Some(max_length), max_batch, batch_tokens: usize::MAX / 2, quantize, ..Default::default() };
            let t0 = std::time::Instant::now();
            let tr = MarianTranslator::load(&model, &device, opts)?;
            let load_s = t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            let overrides = crate::translate::CallOverrides { length_cap: length_cap.map(|r| (r, 0)), ..Default::default() };
            let res = tr.translate_with(&sentences, &overrides)?;
            let secs = t1.elapsed().as_secs_f64();
            let generated: usize = res.iter().map(|r| r.tokens.len()).sum();
            if let Some(path) = out {
                let lines: String = res.iter().map(|r| serde_json::to_string(&r.tokens).map(|l| l + "\n")).collect::<Result<_, _>>()?;
                write_atomic(&path, lines.as_bytes())?;
            }
            let report = serde_json::json!({
                "engine": "vertolk", "quantize": clap::ValueEnum::to_possible_value(&quantize).map(|v| v.get_name().to_owned()), "beams": beams,
                "sentences": sentences.len(), "generated_tokens": generated, "seconds": secs, "load_seconds": load_s,
                "tokens_per_s": generated as f64 / secs, "sentences_per_s": sentences.len() as f64 / secs,
                "peak_rss_mb": crate::bench::peak_rss_mb(),
            });
            println!("{report}");
        }
        BenchCommand::Llm { gguf, prompt, gen, json } => {
            let text = std::fs::read_to_string(&prompt).with_context(|| format!("reading {}", prompt.display()))?;
            let mut m = GgufLlm::load(&gguf, &device)?;
            let params = SamplingParams { max_new_tokens: gen, ..Default::default() };
            let r = m.chat("You are a helpful assistant.", &format!("Summarize this article:\n\n{text}"), &params)?;
            if json {
                let report = serde_json::json!({
                    "prompt_tokens": r.prompt_tokens, "prompt_tok_s": r.prompt_tokens as f64 / r.prompt_seconds.max(1e-9),
                    "generated": r.generated_tokens, "gen_tok_s": r.generated_tokens as f64 / r.generation_seconds.max(1e-9),
                    "peak_rss_mb": crate::bench::peak_rss_mb(),
                });
                println!("{report}");
                return Ok(exit_code::OK);
            }
            println!(
                "| {} | prompt {} tok: {:.1} tok/s | generated {} tok: {:.1} tok/s | {} |",
                m.name,
                r.prompt_tokens,
                r.prompt_tokens as f64 / r.prompt_seconds.max(1e-9),
                r.generated_tokens,
                r.generated_tokens as f64 / r.generation_seconds.max(1e-9),
                crate::bench::peak_rss_mb().map(|m| format!("{m:.0} MB peak RSS")).unwrap_or_else(|| "peak RSS n/a".into())
            );
        }
    }
    Ok(exit_code::OK)
}

// ---------------------------------------------------------------------------------------------
// models

fn models(cmd: ModelsCommand, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    match cmd {
        ModelsCommand::List => {
            println!("{:<16} {:<14} {:<8} {:<58} cached", "NAME", "TASK", "LANGS", "REPO @ REVISION");
            for m in &catalog.models {
                let cached = store
                    .snapshot_dir(&m.repo, &m.revision)
                    .map(|(d, _)| FileSet::of_entry(m).missing_in(&d).is_empty())
                    .unwrap_or(false);
                let task = match m.task {
                    Task::Translation => "translation",
                    Task::Summarization => "summarization",
                };
                println!(
                    "{:<16} {:<14} {:<8} {:<58} {}",
                    m.name,
                    task,
                    m.languages.join(","),
                    format!("{} @ {}", m.repo, m.revision),
                    if cached { "yes" } else { "no" }
                );
            }
            println!("\ncache: {}", store.cache_dir.display());
            Ok(exit_code::OK)
        }
        ModelsCommand::Pull { models } => {
            let mut failed = 0;
            for name in &models {
                let spec = ModelSpec::parse(name, catalog)?;
                let files = match &spec {
                    ModelSpec::Catalog(e) => FileSet::of_entry(e),
                    _ => FileSet::marian(),
                };
                match store.resolve(&spec, &files) {
                    Ok(r) => println!("{}\t{}", spec.label(), r.path.display()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed += 1;
                    }
                }
            }
            Ok(match failed {
                0 => exit_code::OK,
                n if n == models.len() => exit_code::MODEL_UNAVAILABLE,
                _ => exit_code::PARTIAL,
            })
        }
        ModelsCommand::Path { model } => {
            let spec = ModelSpec::parse(&model, catalog)?;
            let files = match &spec {
                ModelSpec::Catalog(e) => FileSet::of_entry(e),
                _ => FileSet::marian(),
            };
            let offline = store.offline_view();
            let r = offline.resolve(&spec, &files)?;
            println!("{}", r.path.display());
            Ok(exit_code::OK)
        }
        ModelsCommand::Verify { model } => {
            let offline = store.offline_view();
            let targets: Vec<ModelSpec> = match model {
                Some(m) => vec![ModelSpec::parse(&m, catalog)?],
                None => catalog
                    .models
                    .iter()
                    .filter(|m| offline.snapshot_dir(&m.repo, &m.revision).is_some())
                    .map(|m| ModelSpec::Catalog(m.clone()))
                    .collect(),
            };
            if targets.is_empty() {
                println!("no catalogue model is in the cache ({}); nothing to verify", store.cache_dir.display());
                return Ok(exit_code::OK);
            }
            let mut bad = false;
            for spec in targets {
                let files = match &spec {
                    ModelSpec::Catalog(e) => FileSet::of_entry(e),
                    _ => FileSet::marian(),
                };
                let dir = match &spec {
                    ModelSpec::Catalog(e) => offline.snapshot_dir(&e.repo, &e.revision).map(|(d, _)| d),
                    ModelSpec::Hub { repo, revision } => offline.snapshot_dir(repo, revision).map(|(d, _)| d),
                    ModelSpec::LocalDir(d) => Some(d.clone()),
                    ModelSpec::Gguf(p) => {
                        let c = crate::store::verify_file(p, &p.display().to_string());
                        println!("{}\n  {} {} ({} bytes) {}", spec.label(), if c.ok { "ok  " } else { "FAIL" }, c.file, c.size, c.detail);
                        bad |= !c.ok;
                        continue;
                    }
                };
                println!("{}", spec.label());
                let Some(dir) = dir else {
                    println!("  FAIL not in the cache ({})", store.cache_dir.display());
                    bad = true;
                    continue;
                };
                for c in crate::store::verify_dir(&dir, &files) {
                    println!("  {} {} ({} bytes) {}", if c.ok { "ok  " } else { "FAIL" }, c.file, c.size, c.detail);
                    bad |= !c.ok;
                }
            }
            Ok(if bad { exit_code::MODEL_UNAVAILABLE } else { exit_code::OK })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tokenize

fn tokenize(a: &TokenizeArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    let spec = ModelSpec::parse(&a.model, catalog)?;
    // Only the tokenizer files are needed, not the weights.
    let mut files = match &spec {
        ModelSpec::Catalog(e) => FileSet::of_entry(e),
        _ => FileSet::marian(),
    };
    files.required.retain(|f| f != "config.json");
    files.weights.clear();
    let resolved = store.resolve(&spec, &files)?;
    let tok = MarianTokenizer::from_dir(&resolved.path).with_context(|| format!("loading tokenizer of {}", spec.label()))?;
    let reader: Box<dyn BufRead> = match a.file.as_deref() {
        None | Some("-") => Box::new(std::io::BufReader::new(std::io::stdin())),
        Some(f) => Box::new(std::io::BufReader::new(std::fs::File::open(f).with_context(|| format!("opening {f}"))?)),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {} (is the input UTF-8 text?)", n + 1))?;
        let ids = if a.target { tok.encode_target(&line)? } else { tok.encode_source(&line)? };
        let s: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "{}", s.join(" ")).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(exit_code::OK)
}
