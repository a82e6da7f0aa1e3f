//! `vertolk translate`: documents (paragraphs kept, sentences segmented, batched across inputs) or, with
//! `--lines`, N lines in and N lines out.
use std::collections::HashMap;
use std::io::Write;

use anyhow::{bail, Context};

use crate::cli::args::{GlobalArgs, OutputFormat, TranslateArgs};
use crate::error::{batch_exit_code, exit_code, Error};
use crate::hub::{Catalog, ModelStore};
use crate::pipeline::input::Source;
use crate::pipeline::prepare::Preparer;
use crate::pipeline::translate::{check_translation, confidence, copied_placeholders, MarianTranslator, Translation, TranslationPipeline};
use crate::run::fs::write_atomic;

pub fn run(a: &TranslateArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    if a.to != "en" {
        bail!(Error::Usage(format!("--to {}: only English (en) is supported", a.to)));
    }
    // the output folder first, so that it can be left out of the inputs when it lies inside one of them
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    }
    let (sources, _) = super::sources(&a.inputs, a.out.as_deref(), g.quiet)?;
    let translation = TranslationPipeline::builder(store, catalog)
        .model(a.model.clone())
        .from_language(a.from.code().map(String::from))
        .beams(a.beams)
        .max_length(a.max_length)
        .max_new_tokens(a.max_new_tokens)
        .quantize(a.quantize.into())
        .segment_tokens(a.segment_tokens)
        .pack(a.pack)
        .glossary(super::glossary(&a.checks)?)
        .min_confidence(a.checks.min_confidence)
        .device(g.device.into())
        .build()?;
    let mut sink = Sink::new(a, sources.len());
    let (ok, failed) = if a.lines { translate_lines(a, &translation, &sources, &mut sink)? } else { translate_documents(a, g, &translation, &sources, &mut sink)? };
    sink.finish()?;
    if let Some(sig) = crate::interrupt::requested() {
        return Ok(exit_code::interrupted(sig));
    }
    Ok(batch_exit_code(ok, failed, false))
}

/// Where results go: one file per input in `--out`, or stdout. `--format json` on stdout is one JSON
/// document: the input's own value when one input was given (as always), else an array with one value
/// per input in input order; a failed input is `{"source", "error"}` in its place (and its error on
/// stderr). `--format jsonl` stays JSON Lines, a failed input one `{"document", "error"}` line.
struct Sink<'a> {
    a: &'a TranslateArgs,
    several: bool,
    /// `--format json` to stdout: the values, by input index, printed together at the end.
    json: Vec<(usize, serde_json::Value)>,
}

impl<'a> Sink<'a> {
    fn new(a: &'a TranslateArgs, inputs: usize) -> Self {
        Self { a, several: inputs > 1, json: Vec::new() }
    }

    fn collects_json(&self) -> bool {
        self.a.out.is_none() && self.a.format == OutputFormat::Json
    }

    fn print(text: &str) -> anyhow::Result<()> {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(text.as_bytes()).context("writing to stdout")?;
        lock.flush().context("writing to stdout")
    }

    /// One input's result: `rendered` in the chosen format, `value` the same as JSON when the format is json.
    fn emit(&mut self, index: usize, name: &str, stem: &str, rendered: &str, value: Option<serde_json::Value>) -> anyhow::Result<()> {
        if let (true, Some(v)) = (self.collects_json(), value) {
            let v = if self.several && v.is_array() { serde_json::json!({"source": name, "lines": v}) } else { v };
            self.json.push((index, v));
            return Ok(());
        }
        match &self.a.out {
            Some(dir) => {
                let path = dir.join(format!("{stem}.en.{}", self.a.format.extension()));
                write_atomic(&path, rendered.as_bytes()).with_context(|| format!("writing {}", path.display()))
            }
            None => Self::print(rendered),
        }
    }

    /// A failed input, in the machine-readable formats on stdout.
    fn failed(&mut self, index: usize, name: &str, error: &str) -> anyhow::Result<()> {
        if self.a.out.is_some() {
            return Ok(());
        }
        match self.a.format {
            OutputFormat::Json => self.json.push((index, serde_json::json!({"source": name, "error": error}))),
            OutputFormat::Jsonl => Self::print(&(serde_json::json!({"document": name, "error": error}).to_string() + "\n"))?,
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        if !self.collects_json() || self.json.is_empty() {
            return Ok(());
        }
        self.json.sort_by_key(|(i, _)| *i);
        let mut values: Vec<serde_json::Value> = self.json.into_iter().map(|(_, v)| v).collect();
        let doc = if self.several { serde_json::Value::Array(values) } else { values.remove(0) };
        Self::print(&(serde_json::to_string_pretty(&doc).context("serializing")? + "\n"))
    }
}

/// A failure that ends the command rather than one input: a model that cannot be had, a usage error.
fn is_fatal(e: &anyhow::Error) -> bool {
    e.chain().filter_map(|c| c.downcast_ref::<Error>()).any(|e| matches!(e.exit_code(), exit_code::MODEL_UNAVAILABLE | exit_code::USAGE))
}

/// `--lines`: each line is one segment, translated whole; N lines in, N lines out.
fn translate_lines(a: &TranslateArgs, translation: &TranslationPipeline, sources: &[Source], sink: &mut Sink) -> anyhow::Result<(usize, usize)> {
    let detector = crate::pipeline::detect::LanguageDetectorSet::new();
    let mut pool: HashMap<String, MarianTranslator> = HashMap::new();
    let (mut ok, mut failed) = (0, 0);
    for (index, src) in sources.iter().enumerate() {
        let result = (|| -> anyhow::Result<(String, Option<serde_json::Value>)> {
            let text = src.raw_text(a.max_input_bytes)?;
            let lang = match a.from.code() {
                Some(l) => l.to_string(),
                None if a.model.is_some() => "any".to_string(),
                None => detector.detect(&text).lang,
            };
            let lines: Vec<&str> = text.lines().collect();
            if lang == "en" {
                let rows: Vec<(String, Option<Translation>)> = lines.iter().map(|l| (l.to_string(), None)).collect();
                return Ok((render_lines(&rows, a.format, &lang), lines_json(&rows, a.format, &lang)));
            }
            if !pool.contains_key(&lang) {
                let spec = translation.spec_for(&lang)?;
                let t = translation.load(&lang).with_context(|| format!("loading translator {}", spec.label()))?;
                pool.insert(lang.clone(), t);
            }
            let t = &pool[&lang];
            let non_empty: Vec<&str> = lines.iter().copied().filter(|l| !l.trim().is_empty()).collect();
            // glossary terms behind placeholders, as in document mode
            let glossary = &translation.options().document.glossary;
            let placeholders: Vec<&str> = if glossary.is_empty() { Vec::new() } else { copied_placeholders(t, &lang) };
            let protected: Vec<_> = non_empty.iter().map(|l| glossary.protect(l, &placeholders)).collect();
            let inputs: Vec<&str> = protected.iter().map(|p| p.text.as_str()).collect();
            let mut translated = t.translate(&inputs)?;
            for (tr, p) in translated.iter_mut().zip(&protected) {
                tr.text = glossary.restore(&tr.text, p).0;
            }
            let mut done = translated.into_iter();
            let rows: Vec<(String, Option<Translation>)> = lines
                .iter()
                .map(|l| if l.trim().is_empty() { (l.to_string(), None) } else { (l.to_string(), done.next()) })
                .collect();
            Ok((render_lines(&rows, a.format, &lang), lines_json(&rows, a.format, &lang)))
        })();
        match result.and_then(|(r, v)| sink.emit(index, &src.name(), &src.stem(), &r, v)) {
            Ok(()) => ok += 1,
            Err(e) => {
                if is_fatal(&e) {
                    return Err(e);
                }
                eprintln!("error: {}: {e:#}", src.name());
                sink.failed(index, &src.name(), &format!("{e:#}"))?;
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}

/// `--lines --format json`: the rows as a JSON value (for [`Sink`]).
fn lines_json(rows: &[(String, Option<Translation>)], format: OutputFormat, lang: &str) -> Option<serde_json::Value> {
    (format == OutputFormat::Json).then(|| serde_json::from_str(&render_lines(rows, format, lang)).ok()).flatten()
}

#[derive(serde::Serialize)]
struct LineOut<'a> {
    index: usize,
    source: &'a str,
    translation: &'a str,
    score: f32,
    /// exp(mean token log-probability), see the README's "Translation checks".
    confidence: f32,
    /// The checks of the translation against its line (`missing_number:…`, `short_output`, …).
    flags: Vec<String>,
    source_tokens: usize,
    output_tokens: usize,
    finished: bool,
}

fn render_lines(rows: &[(String, Option<Translation>)], format: OutputFormat, lang: &str) -> String {
    fn line<'a>(i: usize, src: &'a str, t: &'a Option<Translation>, lang: &str) -> LineOut<'a> {
        LineOut {
            index: i,
            source: src,
            translation: t.as_ref().map(|t| t.text.as_str()).unwrap_or(src),
            score: t.as_ref().map(|t| t.score).unwrap_or(0.0),
            confidence: t.as_ref().map(|t| confidence(t.sum_logprob, t.tokens.len())).unwrap_or(1.0),
            flags: t.as_ref().map(|t| check_translation(src, &t.text, lang).into_iter().map(String::from).collect()).unwrap_or_default(),
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
            let v: Vec<_> = rows.iter().enumerate().map(|(i, (s, t))| line(i, s, t, lang)).collect();
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        OutputFormat::Jsonl => rows.iter().enumerate().map(|(i, (s, t))| serde_json::to_string(&line(i, s, t, lang)).unwrap_or_default() + "\n").collect(),
    }
}

/// Document mode: languages detected, paragraphs kept, sentences segmented, batched across inputs.
fn translate_documents(a: &TranslateArgs, g: &GlobalArgs, translation: &TranslationPipeline, sources: &[Source], sink: &mut Sink) -> anyhow::Result<(usize, usize)> {
    let preparer = Preparer::new(a.from.code().map(String::from), a.max_input_bytes);
    let (mut ok, mut failed) = (0, 0);
    let mut docs = Vec::new();
    let mut stems = Vec::new();
    for (index, src) in sources.iter().enumerate() {
        match preparer.prepare(src) {
            Ok(p) => {
                if !g.quiet {
                    for w in &p.document.warnings {
                        eprintln!("warning: {}: {w}", p.name);
                    }
                }
                docs.push((p.document, p.language));
                stems.push((index, p.name, p.stem));
            }
            Err(e) => {
                eprintln!("error: {e}");
                sink.failed(index, &src.name(), &e.to_string())?;
                failed += 1;
            }
        }
    }
    let pb = crate::progress::bar(crate::progress::bars_enabled(g.quiet), docs.len() as u64, "translate");
    let results = translation.documents().translate_all(docs, &mut translation.pool());
    pb.finish_and_clear();
    for (r, (index, name, stem)) in results.into_iter().zip(stems) {
        match r {
            Ok(doc) => {
                let value = (a.format == OutputFormat::Json).then(|| serde_json::to_value(&doc)).transpose().context("serializing")?;
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
                sink.emit(index, &name, &stem, &rendered, value)?;
                ok += 1;
            }
            Err(e) => {
                if e.exit_code() == exit_code::MODEL_UNAVAILABLE && ok == 0 && failed == 0 {
                    return Err(e.into());
                }
                eprintln!("error: {e}");
                sink.failed(index, &name, &e.to_string())?;
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}
