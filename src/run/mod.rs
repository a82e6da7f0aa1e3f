//! `vertolk brief`: the folder job. Resumable (a content-addressed record per article), atomic (temp file
//! + rename for every output), per-file errors that never sink the batch, and scale-out by shards that a
//! merge step turns into one briefing.
//!
//! Layout of `--out`:
//!   `<stem>.en.md`, `<stem>.summary.md`   per article
//!   `briefing.md`, `briefing.json`         the cited cross-article briefing
//!   `report.json`                          per article: source, sha256, language, models, timings, flags, errors
//!   `articles/<stem>-<hash>.json`          the per-article record: the unit of resume and of `--merge`
pub mod fs;
pub mod outputs;
pub mod record;
pub mod report;
pub mod shard;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::models::sentence_embedder::SentenceEmbedder;
use crate::pipeline::briefing::embed::{Lexical, Similarity};
use crate::pipeline::briefing::Briefing;
use crate::pipeline::factcheck::unsupported_items;
use crate::pipeline::input::Source;
use crate::pipeline::prepare::{PreparedArticle, Preparer};
use crate::pipeline::summarize::{Article, Summarizer};
use crate::pipeline::translate::{ArticleText, SegmentFlag, TranslationPipeline};
use fs::remove_stale_temp_files;
pub use outputs::{briefing_is_current, write_article_outputs, write_briefing};
pub use record::{briefing_key, collect_records, ArticleRecord, Timings};
use record::{load_record, record_path, save_record, summary_key, translation_key};
pub use report::{ArticleStatus, ArticleSummaryReport, FailureKind, Report, ReportEntry};
pub use shard::Shard;

/// Settings of the folder job beyond the translation and summarizer setups.
pub struct BriefOptions {
    pub out: PathBuf,
    /// Summarize the original language straight into English.
    pub direct: bool,
    pub max_words: usize,
    pub shard: Option<Shard>,
    pub max_input_bytes: u64,
    /// Identity of the summarization setup (part of the cache key).
    pub summarizer_id: String,
    /// The sentence-embedding model folder that groups the briefing's points; `None`: shared words.
    pub embedder: Option<PathBuf>,
    pub quiet: bool,
}

/// The similarity the briefing groups points by: the embedding model when it loads, else shared
/// words (and a note saying why).
pub fn similarity(embedder: Option<&Path>) -> (Box<dyn Similarity>, Option<String>) {
    match embedder {
        None => (Box::new(Lexical), None),
        Some(dir) => match SentenceEmbedder::load(dir, &candle_core::Device::Cpu) {
            Ok(e) => (Box::new(e), None),
            Err(e) => (Box::new(Lexical), Some(format!("the embedding model did not load ({e}); stories are grouped by shared words"))),
        },
    }
}

/// Identity of the briefing's grouping, for its cache key.
fn grouping_id(embedder: Option<&Path>) -> String {
    match embedder {
        Some(d) => format!("|embedder={}", d.display()),
        None => "|lexical".into(),
    }
}

struct Pending {
    idx: usize,
    record_path: PathBuf,
    record: ArticleRecord,
    article: PreparedArticle,
    translation_cached: bool,
    summary_cached: bool,
}

/// A summarizer created on first use, so a fully cached re-run loads no model.
pub struct LazySummarizer<'a> {
    slot: Option<Box<dyn Summarizer>>,
    make: Box<dyn FnMut() -> Result<Box<dyn Summarizer>> + 'a>,
}

impl<'a> LazySummarizer<'a> {
    pub fn new(make: impl FnMut() -> Result<Box<dyn Summarizer>> + 'a) -> Self {
        Self { slot: None, make: Box::new(make) }
    }

    pub fn get(&mut self) -> Result<&mut dyn Summarizer> {
        if self.slot.is_none() {
            self.slot = Some((self.make)()?);
        }
        match self.slot.as_mut() {
            Some(s) => Ok(s.as_mut()),
            None => Err(Error::Internal("the summarizer was not created".into())),
        }
    }
}

/// What a whole `brief` run did.
pub struct BriefOutcome {
    pub report: Report,
    /// The briefing, when one was written in this run.
    pub briefing: Option<Briefing>,
    /// True when the briefing on disk was already current and was kept.
    pub briefing_kept: bool,
}

/// The folder job: every article through the pipeline (resuming what earlier runs finished), then the
/// briefing over the finished ones (unless this is a shard), then `report.json`.
pub fn brief_folder(sources: &[Source], opts: &BriefOptions, translation: &TranslationPipeline, summarizer: &mut LazySummarizer) -> Result<BriefOutcome> {
    let mut report = run_articles(sources, opts, translation, summarizer)?;
    let (mut briefing, mut briefing_kept) = (None, false);
    let t = Instant::now();
    if report.done > 0 && opts.shard.is_none() {
        let done: HashSet<&str> = report.articles.iter().filter(|e| e.status == ArticleStatus::Done).map(|e| e.source.as_str()).collect();
        let records: Vec<ArticleRecord> = collect_records(&[opts.out.clone()])?.into_iter().filter(|r| done.contains(r.source.as_str())).collect();
        let key = briefing_key(&records, &format!("{}{}", opts.summarizer_id, grouping_id(opts.embedder.as_deref())));
        if briefing_is_current(&opts.out, &key) {
            briefing_kept = true;
        } else {
            let s = summarizer.get()?;
            let (sim, note) = similarity(opts.embedder.as_deref());
            let mut b = write_briefing(&opts.out, &records, &key, sim.as_ref(), Some(s))?;
            if let Some(n) = note {
                b.notes.push(n);
            }
            briefing = Some(b);
        }
        report.briefing = Some(opts.out.join("briefing.md").display().to_string());
    }
    report.briefing_seconds = t.elapsed().as_secs_f64();
    report.seconds += report.briefing_seconds;
    report::write_report(&opts.out, &report)?;
    Ok(BriefOutcome { report, briefing, briefing_kept })
}

/// `--merge`: one briefing (and the per-article outputs) from the output folders of shard runs.
/// Returns the number of articles and the briefing.
pub fn merge_shards(dirs: &[PathBuf], out: &Path, writer_id: &str, embedder: Option<&Path>, summarizer: &mut LazySummarizer) -> Result<(usize, Briefing)> {
    let records = collect_records(dirs)?;
    if records.is_empty() {
        return Err(Error::Usage("no finished articles in the given shard folders".into()));
    }
    let key = briefing_key(&records, &format!("{writer_id}{}", grouping_id(embedder)));
    let s = summarizer.get()?;
    let (sim, note) = similarity(embedder);
    let mut b = write_briefing(out, &records, &key, sim.as_ref(), Some(s))?;
    if let Some(n) = note {
        b.notes.push(n);
    }
    for r in &records {
        write_article_outputs(out, r)?;
    }
    Ok((records.len(), b))
}

/// Run the articles through the pipeline. Translators are loaded once per language, and not at all when
/// every translation is cached; the summarizer is created only when a summary is missing.
pub fn run_articles(sources: &[Source], opts: &BriefOptions, translation: &TranslationPipeline, summarizer: &mut LazySummarizer) -> Result<Report> {
    let t0 = Instant::now();
    std::fs::create_dir_all(opts.out.join("articles")).map_err(|e| Error::io(&opts.out, e))?;
    remove_stale_temp_files(&opts.out);
    let sources: Vec<&Source> = sources.iter().filter(|s| opts.shard.map(|sh| sh.contains(&s.name())).unwrap_or(true)).collect();
    let mut entries: Vec<Option<ReportEntry>> = vec![None; sources.len()];
    let mut pending: Vec<Pending> = Vec::new();
    let bars = crate::progress::bars_enabled(opts.quiet);
    let from = translation.options().document.from.clone();
    let preparer = Preparer::new(from.clone(), opts.max_input_bytes);

    // 1. read, hash, detect; reuse what earlier runs finished
    for (idx, src) in sources.iter().enumerate() {
        let t = Instant::now();
        let prepared = match src {
            Source::File(_) => preparer.prepare(src),
            Source::Stdin => Err(Error::Usage("`brief` reads files and folders, not stdin".into())),
        };
        let article = match prepared {
            Ok(a) => a,
            Err(e) => {
                entries[idx] = Some(ReportEntry::failed(src.name(), &e, false));
                continue;
            }
        };
        let passes_through = article.passes_through(opts.direct);
        let translator = (!passes_through).then(|| translation.translator_key(&article.language.lang));
        let translation_key = translation_key(&article.sha256, translator.as_deref(), from.as_deref());
        let rpath = record_path(&opts.out, &article.stem, &article.name);
        let previous = load_record(&rpath).filter(|r| r.translation_key == translation_key);
        let translation_cached = previous.is_some();
        let mut record = previous.unwrap_or_else(|| ArticleRecord {
            source: article.name.clone(),
            stem: article.stem.clone(),
            sha256: article.sha256.clone(),
            language: article.language.lang.clone(),
            language_confidence: article.language.confidence,
            date: article.document.meta.date.clone(),
            translation_key: translation_key.clone(),
            dropped_boilerplate: article.document.dropped.len(),
            ..Default::default()
        });
        record.timings.read_s = t.elapsed().as_secs_f64();
        if !translation_cached && passes_through {
            let text = ArticleText::original(&article);
            record.text = text.text;
            record.text_language = text.language;
            record.translation_md = text.markdown;
            record.title = text.title;
        }
        let summary_cached = record.summary_key.as_deref() == Some(summary_key(&record.translation_key, &opts.summarizer_id, opts.max_words, opts.direct).as_str()) && record.summary.is_some();
        pending.push(Pending { idx, record_path: rpath, record, article, translation_cached: translation_cached || passes_through, summary_cached });
    }

    // 2. translate what is missing, batched across articles
    let need: Vec<usize> = (0..pending.len()).filter(|&i| !pending[i].translation_cached).collect();
    if !need.is_empty() {
        let t = Instant::now();
        let articles: Vec<&PreparedArticle> = need.iter().map(|&i| &pending[i].article).collect();
        let pb = crate::progress::bar(bars, articles.len() as u64, "translate");
        let results = translation.translate_articles(&articles, opts.direct);
        pb.finish_and_clear();
        let per_doc = t.elapsed().as_secs_f64() / need.len().max(1) as f64;
        for (&i, r) in need.iter().zip(results) {
            let p = &mut pending[i];
            match r {
                Ok(text) => {
                    let r = &mut p.record;
                    if let Some(td) = &text.translation {
                        r.translator = td.models.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        let segs: Vec<&crate::pipeline::translate::SegmentResult> = td.blocks.iter().flat_map(|b| &b.segments).collect();
                        r.segments = segs.len();
                        r.split_sentences = segs.iter().filter(|s| s.flags.contains(&SegmentFlag::SplitSentence)).count();
                        r.retried_segments = segs.iter().filter(|s| s.flags.contains(&SegmentFlag::Retried)).count();
                        r.flagged_segments = td.flagged_segments();
                        r.flags = td.flag_counts();
                        r.confidence = td.confidence_summary(translation.options().document.min_confidence);
                    }
                    r.text = text.text;
                    r.text_language = text.language;
                    r.translation_md = text.markdown;
                    r.title = text.title;
                    r.timings.translate_s = per_doc;
                    r.summary = None;
                    r.summary_key = None;
                    save_record(&p.record_path, r)?;
                }
                Err(e) => {
                    entries[p.idx] = Some(ReportEntry::failed(p.record.source.clone(), &e, false));
                }
            }
        }
    }
    for p in pending.iter().filter(|p| entries[p.idx].is_none() && p.translation_cached && p.record.summary_key.is_none()) {
        save_record(&p.record_path, &p.record)?;
    }

    // 3. summarize what is missing, one article at a time, saving each as it completes
    let todo = pending.iter().filter(|p| entries[p.idx].is_none() && !p.summary_cached).count();
    let pb = crate::progress::bar(bars, todo as u64, "summarize");
    for p in pending.iter_mut() {
        if entries[p.idx].is_some() {
            continue;
        }
        let key = summary_key(&p.record.translation_key, &opts.summarizer_id, opts.max_words, opts.direct);
        if !p.summary_cached {
            let s = summarizer.get()?;
            pb.set_message(p.record.stem.clone());
            let art = Article { title: p.record.title.clone(), date: p.record.date.clone(), language: p.record.text_language.clone(), text: p.record.text.clone() };
            let t = Instant::now();
            match s.summarize(&art, opts.max_words) {
                Ok(sum) => {
                    // a title in another language (--direct) is translated by the summarizer, if it can
                    if p.record.text_language != "en" && p.record.original_title.is_none() {
                        if let Some(t) = p.record.title.clone() {
                            if let Ok(Some(en)) = s.english_title(&t, &p.record.text_language) {
                                p.record.original_title = Some(t);
                                p.record.title = Some(en);
                            }
                        }
                    }
                    p.record.summary_unsupported = summary_problems(&sum, &p.record.text);
                    p.record.summary = Some(sum);
                    p.record.summary_key = Some(key);
                    p.record.timings.summarize_s = t.elapsed().as_secs_f64();
                    save_record(&p.record_path, &p.record)?;
                    if !bars && !opts.quiet {
                        // no terminal for a bar: one plain line per finished article
                        eprintln!("summarized {} ({:.1} s)", p.record.source, p.record.timings.summarize_s);
                    }
                }
                Err(e) => {
                    entries[p.idx] = Some(ReportEntry::failed(p.record.source.clone(), &e, p.translation_cached));
                    pb.inc(1);
                    continue;
                }
            }
            pb.inc(1);
        }
        // per-article outputs (rewritten from the record; cheap, and repairs deleted files)
        write_article_outputs(&opts.out, &p.record)?;
        entries[p.idx] = Some(entry_for(p));
    }
    pb.finish_and_clear();

    let mut report = Report::new(entries.into_iter().flatten().collect(), t0);
    report.skipped = pending
        .iter()
        .filter(|p| p.translation_cached && p.summary_cached && report.articles.get(p.idx).map(|e| e.status == ArticleStatus::Done).unwrap_or(false))
        .count();
    Ok(report)
}

/// What a summary states that its article does not: the failed checks of its points, or for a
/// summary without points the numbers and names the article lacks.
fn summary_problems(sum: &crate::pipeline::summarize::Summary, text: &str) -> Vec<String> {
    if sum.points.is_empty() {
        return unsupported_items(&sum.text, &[text]);
    }
    sum.points.iter().flat_map(|p| p.checks.iter().filter(|c| !c.ok).map(move |c| format!("\"{}\": {}", p.text, c.detail))).collect()
}

fn entry_for(p: &Pending) -> ReportEntry {
    let r = &p.record;
    ReportEntry {
        source: r.source.clone(),
        status: ArticleStatus::Done,
        error: None,
        error_kind: None,
        record: Some(p.record_path.display().to_string()),
        translation_cached: p.translation_cached,
        summary_cached: p.summary_cached,
        article: Some(ArticleSummaryReport {
            sha256: r.sha256.clone(),
            language: r.language.clone(),
            language_confidence: r.language_confidence,
            translator: r.translator.clone(),
            summarizer: r.summary.as_ref().map(|s| s.summarizer.clone()),
            summary_method: r.summary.as_ref().map(|s| s.method),
            timings: r.timings.clone(),
            segments: r.segments,
            split_sentences: r.split_sentences,
            retried_segments: r.retried_segments,
            flagged_segments: r.flagged_segments,
            flags: r.flags.clone(),
            confidence: r.confidence,
            dropped_boilerplate: r.dropped_boilerplate,
            summary_unsupported: r.summary_unsupported.clone(),
        }),
    }
}
