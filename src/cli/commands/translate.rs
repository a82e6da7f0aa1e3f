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
    let sources = super::sources(&a.inputs)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    }
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
    let (ok, failed) = if a.lines { translate_lines(a, &translation, &sources)? } else { translate_documents(a, g, &translation, &sources)? };
    Ok(batch_exit_code(ok, failed, false))
}

fn emit(a: &TranslateArgs, stem: &str, rendered: &str) -> anyhow::Result<()> {
    match &a.out {
        Some(dir) => {
            let path = dir.join(format!("{stem}.en.{}", a.format.extension()));
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

/// A failure that ends the command rather than one input: a model that cannot be had, a usage error.
fn is_fatal(e: &anyhow::Error) -> bool {
    e.chain().filter_map(|c| c.downcast_ref::<Error>()).any(|e| matches!(e.exit_code(), exit_code::MODEL_UNAVAILABLE | exit_code::USAGE))
}

/// `--lines`: each line is one segment, translated whole; N lines in, N lines out.
fn translate_lines(a: &TranslateArgs, translation: &TranslationPipeline, sources: &[Source]) -> anyhow::Result<(usize, usize)> {
    let detector = crate::pipeline::detect::LanguageDetectorSet::new();
    let mut pool: HashMap<String, MarianTranslator> = HashMap::new();
    let (mut ok, mut failed) = (0, 0);
    for src in sources {
        let result = (|| -> anyhow::Result<String> {
            let text = src.raw_text(a.max_input_bytes)?;
            let lang = match a.from.code() {
                Some(l) => l.to_string(),
                None if a.model.is_some() => "any".to_string(),
                None => detector.detect(&text).lang,
            };
            let lines: Vec<&str> = text.lines().collect();
            if lang == "en" {
                return Ok(render_lines(&lines.iter().map(|l| (l.to_string(), None)).collect::<Vec<_>>(), a.format, &lang));
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
            Ok(render_lines(&rows, a.format, &lang))
        })();
        match result.and_then(|r| emit(a, &src.stem(), &r)) {
            Ok(()) => ok += 1,
            Err(e) => {
                if is_fatal(&e) {
                    return Err(e);
                }
                eprintln!("error: {}: {e:#}", src.name());
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
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
fn translate_documents(a: &TranslateArgs, g: &GlobalArgs, translation: &TranslationPipeline, sources: &[Source]) -> anyhow::Result<(usize, usize)> {
    let preparer = Preparer::new(a.from.code().map(String::from), a.max_input_bytes);
    let (mut ok, mut failed) = (0, 0);
    let mut docs = Vec::new();
    let mut stems = Vec::new();
    for src in sources {
        match preparer.prepare(src) {
            Ok(p) => {
                docs.push((p.document, p.language));
                stems.push(p.stem);
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    let pb = crate::progress::bar(crate::progress::bars_enabled(g.quiet), docs.len() as u64, "translate");
    let results = translation.documents().translate_all(docs, &mut translation.pool());
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
                if e.exit_code() == exit_code::MODEL_UNAVAILABLE && ok == 0 && failed == 0 {
                    return Err(e.into());
                }
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}
