//! `vertolk brief`: the folder job (or `--merge` of shard outputs); the work is [`crate::run`]'s.
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::args::{BriefArgs, GlobalArgs};
use crate::cli::ErrorLog;
use crate::error::exit_code;
use crate::hub::{Catalog, FileSet, ModelSpec, ModelStore, Task};
use crate::pipeline::input::DEFAULT_MAX_BYTES;
use crate::run::{brief_folder, merge_shards, ArticleStatus, BriefOptions, LazySummarizer};

/// The embedding model folder for `--embedder`: none for `none`; the catalogue's default when not
/// given (shared words, with a notice, when it cannot be had); the named model otherwise (an error when
/// it cannot be had: it was asked for).
fn embedder(spec: Option<&str>, store: &ModelStore, catalog: &Catalog, quiet: bool) -> anyhow::Result<Option<PathBuf>> {
    let resolve = |spec: &ModelSpec| -> crate::Result<PathBuf> {
        let files = match spec {
            ModelSpec::Catalog(e) => FileSet::of_entry(e),
            _ => FileSet::sentence_embedder(),
        };
        Ok(store.resolve(spec, &files)?.path)
    };
    match spec {
        Some("none") => Ok(None),
        Some(s) => Ok(Some(resolve(&ModelSpec::parse(s, catalog)?)?)),
        None => match catalog.models.iter().find(|m| m.task == Task::Embedding) {
            None => Ok(None),
            Some(e) => match resolve(&ModelSpec::Catalog(e.clone())) {
                Ok(p) => Ok(Some(p)),
                Err(err) => {
                    tracing::info!(%err, "embedding model unavailable");
                    if !quiet {
                        eprintln!(
                            "note: embedding model {} is not available (`vertolk models pull {}`, or --embedder DIR); the briefing groups points by shared words",
                            e.name, e.name
                        );
                    }
                    Ok(None)
                }
            },
        },
    }
}

pub fn run(a: &BriefArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    let options = super::summarizer_options(&a.summarizer, g);
    let choice = options.choose(store, catalog)?;
    let summarizer_id = choice.id(&options);
    let mut summarizer = LazySummarizer::new(|| {
        if let (Some(n), false) = (choice.notice(), g.quiet) {
            eprintln!("note: {n}");
        }
        choice.load(&options)
    });
    if a.merge {
        let dirs: Vec<PathBuf> = a.inputs.iter().map(PathBuf::from).collect();
        let embedder = embedder(a.embedder.as_deref(), store, catalog, g.quiet)?;
        let (report, b) = merge_shards(&dirs, &a.out, &summarizer_id, embedder.as_deref(), &mut summarizer)?;
        println!("{}", a.out.join("briefing.md").display());
        if !g.quiet {
            for n in &report.notes {
                eprintln!("note: {n}");
            }
            eprintln!("merged {} articles from {} folders; briefing by {} ({})", report.done, dirs.len(), b.writer, b.method);
        }
        return Ok(exit_code::OK);
    }
    // created first so that it can be left out of the inputs when it lies inside one of them
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating output folder {}", a.out.display()))?;
    let (sources, notes) = super::sources(&a.inputs, Some(&a.out), g.quiet)?;
    let translation = super::pipeline_translation(&a.translation, a.beams, g, store, catalog)?;
    let opts = BriefOptions {
        out: a.out.clone(),
        direct: options.direct,
        max_words: options.max_words,
        shard: a.shard,
        max_input_bytes: DEFAULT_MAX_BYTES,
        summarizer_id,
        embedder: embedder(a.embedder.as_deref(), store, catalog, g.quiet)?,
        quiet: g.quiet,
        notes,
    };
    let outcome = brief_folder(&sources, &opts, &translation, &mut summarizer)?;
    let report = &outcome.report;
    let mut errors = ErrorLog::default();
    for e in report.articles.iter().filter(|e| e.status == ArticleStatus::Failed) {
        errors.report(&e.source, e.error.as_deref().unwrap_or_default());
    }
    if !g.quiet {
        for e in &report.articles {
            for w in &e.warnings {
                eprintln!("warning: {}: {w}", e.source);
            }
        }
    }
    if let Some(e) = &report.briefing_error {
        eprintln!("error: briefing: {e}");
    }
    if let Some(sig) = report.signal {
        eprintln!(
            "interrupted by signal {sig}: {} of {} articles done, {} not finished (a re-run does them); report: {}",
            report.done,
            report.total,
            report.interrupted,
            a.out.join("report.json").display()
        );
    }
    if !g.quiet {
        if outcome.briefing_kept {
            eprintln!("briefing unchanged (same summaries and writer); kept");
        }
        if let Some(b) = &outcome.briefing {
            eprintln!("briefing by {} ({}), {} points, {} sources", b.writer, b.method, b.points.len(), b.sources.len());
        }
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
    Ok(report.exit_code())
}
