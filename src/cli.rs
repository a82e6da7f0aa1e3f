//! The command line: every flag is defined here, with its help text; each command is a thin driver over
//! the library. Errors get their context here (`anyhow`) and map to documented exit codes.
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::{Catalog, Task};
use crate::device::{select_device, DeviceChoice};
use crate::error::{exit_code, Error};
use crate::store::{FileSet, ModelSpec, ModelStore};
use crate::tokenizer::MarianTokenizer;
use crate::document::{DocumentOptions, DocumentTranslator, TranslatorPool};
use crate::input::Document;
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

#[derive(Debug, Args)]
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
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Summarizer: catalogue name, repo id, local folder or .gguf file.
    #[arg(long, value_name = "SPEC")]
    pub summarizer: Option<String>,
    /// Length of each summary in words.
    #[arg(long, value_name = "N", default_value_t = 120)]
    pub max_words: usize,
}

#[derive(Debug, Args)]
pub struct BriefArgs {
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
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
    if let Some(n) = cli.global.threads {
        // candle's CPU kernels size their pool from this variable; set before any tensor work.
        std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
    }
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
        Command::Summarize(_) => Err(Error::NotImplemented(
            "`vertolk summarize` (the summarizers are tracked in the summaries issue)".into(),
        )
        .into()),
        Command::Brief(_) => Err(Error::NotImplemented("`vertolk brief` (the folder pipeline issue)".into()).into()),
        Command::Detect(a) => detect(&a),
    }
}

// ---------------------------------------------------------------------------------------------
// translate

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
        ..Default::default()
    };
    MarianTranslator::load(&resolved.path, &device, options)
}

/// An input file (or stdin) found on the command line.
pub(crate) enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".into(),
            Source::File(p) => p.display().to_string(),
        }
    }
    fn stem(&self) -> String {
        match self {
            Source::Stdin => "stdin".into(),
            Source::File(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into()),
        }
    }
    /// Read and parse as an article.
    fn document(&self, max_bytes: u64) -> crate::Result<Document> {
        match self {
            Source::File(p) => crate::input::read_document(p, max_bytes),
            Source::Stdin => {
                let text = self.raw_text(max_bytes)?;
                let format = crate::input::detect_format(Path::new("stdin"), &text);
                crate::input::parse_document("<stdin>", &text, format, "UTF-8".into())
            }
        }
    }
    /// Decoded text without any parsing (for `--lines`).
    fn raw_text(&self, max_bytes: u64) -> crate::Result<String> {
        let name = self.name();
        let mut bytes = Vec::new();
        match self {
            Source::Stdin => {
                std::io::stdin().take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| Error::io("<stdin>", e))?;
            }
            Source::File(p) => {
                std::fs::File::open(p).and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes)).map_err(|e| Error::io(p, e))?;
            }
        }
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Input { path: name, reason: format!("over the {max_bytes}-byte limit (--max-input-bytes)") });
        }
        Ok(crate::input::decode(&name, &bytes)?.0)
    }
}

/// Files, folders (recursive; .txt, .md, .html; hidden files skipped) and `-`.
pub(crate) fn collect_sources(specs: &[String]) -> Vec<Source> {
    let mut out = Vec::new();
    for s in specs {
        if s == "-" {
            out.push(Source::Stdin);
            continue;
        }
        let p = Path::new(s);
        if p.is_dir() {
            let mut files = Vec::new();
            collect_files(p, &mut files);
            files.sort();
            out.extend(files.into_iter().map(Source::File));
        } else {
            out.push(Source::File(p.to_path_buf()));
        }
    }
    out
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let hidden = p.file_name().map(|n| n.to_string_lossy().starts_with('.')).unwrap_or(false);
        if hidden {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()).map(str::to_ascii_lowercase).as_deref(),
            Some("txt" | "md" | "markdown" | "html" | "htm")
        ) {
            out.push(p);
        }
    }
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
    Ok(match (ok, failed) {
        (_, 0) => exit_code::OK,
        (0, _) => exit_code::FAILURE,
        _ => exit_code::PARTIAL,
    })
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

/// Write via a temp file in the same folder and rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
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
    Ok(match (ok, failed) {
        (_, 0) => exit_code::OK,
        (0, _) => exit_code::FAILURE,
        _ => exit_code::PARTIAL,
    })
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
