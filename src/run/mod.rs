//! `vertolk brief`: the folder job. Resumable (a content-addressed record per article), atomic (a temp
//! file and a rename for every output), per-file errors that never sink the batch, and scale-out by
//! shards that a merge step turns into one briefing.
//!
//! Layout of `--out`:
//!   `<stem>.en.md`, `<stem>.summary.md`   per article
//!   `briefing.md`, `briefing.json`         the cited cross-article briefing
//!   `report.json`                          per article: source, sha256, language, models, timings, flags, errors
//!   `articles/<stem>-<hash>.json`          the per-article record: the unit of resume and of `--merge`
//!   `.vertolk.lock`                        while a run writes the folder (see [`fs::OutputLock`])
//!
//! Nothing takes the batch down: a bad input, a failed write (disk full) or a failed summary is that
//! article's error in `report.json`; SIGINT/SIGTERM stop the run between two steps (translation
//! batches, articles, generated tokens) with what is finished saved and `report.json` written.
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
pub use fs::OutputLock;
pub use outputs::{briefing_is_current, write_article_outputs, write_briefing};
pub use record::{briefing_key, collect_records, ArticleRecord, Timings};
use record::{collect_shard_records, load_record, record_path, save_record, summary_key, summary_setup, translation_key};
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
    /// Notes from finding the inputs (duplicates, loops, renamed outputs), kept in `report.json`.
    pub notes: Vec<String>,
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
    use crate::pipeline::briefing::PROMPT_THEME;
    // "v4": stories whose articles' lead facts are checked against each other; a shared story falls back to a title
    let prompts = &crate::hash::sha256_hex(format!("{PROMPT_THEME}v4").as_bytes())[..12];
    match embedder {
        Some(d) => format!("|embedder={}|briefing={prompts}", d.display()),
        None => format!("|lexical|briefing={prompts}"),
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

/// Articles summarized together ([`Summarizer::prepare`]: an LLM decodes their drafts, then their
/// rewrites, in shared steps): as many as replies are decoded together (`models::llm::BATCH_REPLIES`).
/// A record is saved as each article is done, and the group's are done together, so a run killed
/// mid-group loses that group's summaries (at most 8 articles' work; SIGINT and SIGTERM stop it with
/// the group reported as interrupted), and a re-run redoes them.
const SUMMARIZE_GROUP: usize = crate::models::llm::BATCH_REPLIES;

/// `VERTOLK_NO_BATCH=1`: every article summarized on its own, so that summarizing together can be
/// measured on one build (and seen to change no output), and a kill loses one article's work at most.
fn drafts_apart() -> bool {
    std::env::var("VERTOLK_NO_BATCH").is_ok_and(|v| v == "1")
}

/// Articles translated per call of the translate stage. Translation batches across the articles of one
/// call (16 articles are some 500 sentences, enough to fill every batch of 32), and each call's records
/// are saved before the next starts, so a killed or interrupted run loses at most one call's work.
const TRANSLATE_CHUNK: usize = 16;

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

    /// The loaded model's prompt positions computed and reused (`None` if none was loaded).
    pub fn prompt_counts(&self) -> Option<crate::models::llm::PromptCounts> {
        self.slot.as_ref().and_then(|s| s.prompt_counts())
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
/// briefing over the finished ones (unless this is a shard or a signal stopped the run), then
/// `report.json`. Holds the lock on `--out` throughout: a second run on the same folder fails at once.
pub fn brief_folder(sources: &[Source], opts: &BriefOptions, translation: &TranslationPipeline, summarizer: &mut LazySummarizer) -> Result<BriefOutcome> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let _lock = OutputLock::acquire(&opts.out)?;
    let mut report = run_articles(sources, opts, translation, summarizer)?;
    report.notes = opts.notes.clone();
    let (mut briefing, mut briefing_kept) = (None, false);
    let t = Instant::now();
    if report.done > 0 && opts.shard.is_none() && report.signal.is_none() {
        let done: HashSet<&str> = report.articles.iter().filter(|e| e.status == ArticleStatus::Done).map(|e| e.source.as_str()).collect();
        let records: Vec<ArticleRecord> = collect_records(&opts.out)?.into_iter().filter(|r| done.contains(r.source.as_str())).collect();
        let key = briefing_key(&records, &format!("{}{}", opts.summarizer_id, grouping_id(opts.embedder.as_deref())));
        if briefing_is_current(&opts.out, &key) {
            briefing_kept = true;
            report.briefing = Some(opts.out.join("briefing.md").display().to_string());
        } else {
            let (sim, note) = similarity(opts.embedder.as_deref());
            match summarizer.get().and_then(|s| write_briefing(&opts.out, &records, &key, sim.as_ref(), Some(s))) {
                Ok(mut b) => {
                    b.notes.extend(note);
                    briefing = Some(b);
                    report.briefing = Some(opts.out.join("briefing.md").display().to_string());
                }
                Err(Error::Interrupted(sig)) => report.signal = Some(sig),
                Err(e) => report.briefing_error = Some(e.to_string()),
            }
        }
    }
    report.briefing_seconds = t.elapsed().as_secs_f64();
    report.seconds += report.briefing_seconds;
    report.llm_prompt_positions = summarizer.prompt_counts();
    report::write_report(&opts.out, &report)?;
    Ok(BriefOutcome { report, briefing, briefing_kept })
}

/// `--merge`: one briefing (and the per-article outputs and a `report.json`) from the output folders of
/// shard runs, checked to be shards of one job (see [`record::collect_shard_records`]). Returns the
/// report and the briefing.
pub fn merge_shards(dirs: &[PathBuf], out: &Path, writer_id: &str, embedder: Option<&Path>, summarizer: &mut LazySummarizer) -> Result<(Report, Briefing)> {
    let t0 = Instant::now();
    let (found, notes) = collect_shard_records(dirs)?;
    if found.is_empty() {
        return Err(Error::Usage("no finished articles in the given shard folders".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let _lock = OutputLock::acquire(out)?;
    remove_stale_temp_files(out);
    let mut records: Vec<ArticleRecord> = found.iter().map(|(_, r)| r.clone()).collect();
    // shards of different input lists may each have named an output the same: keep them apart
    let mut count: std::collections::HashMap<String, usize> = Default::default();
    for r in &records {
        *count.entry(r.stem.to_lowercase()).or_default() += 1;
    }
    for r in records.iter_mut().filter(|r| count[&r.stem.to_lowercase()] > 1) {
        r.stem = format!("{}-{}", r.stem, &crate::hash::sha256_hex(r.source.as_bytes())[..8]);
    }
    let key = briefing_key(&records, &format!("{writer_id}{}", grouping_id(embedder)));
    let s = summarizer.get()?;
    let (sim, note) = similarity(embedder);
    let mut b = write_briefing(out, &records, &key, sim.as_ref(), Some(s))?;
    b.notes.extend(note);
    let mut entries = Vec::new();
    for ((path, _), r) in found.iter().zip(&records) {
        write_article_outputs(out, r)?;
        entries.push(record_entry(r, path, true, true));
    }
    let mut report = Report::new(entries, t0);
    report.skipped = report.total;
    report.notes = notes;
    report.merged_from = dirs.iter().map(|d| d.display().to_string()).collect();
    report.briefing = Some(out.join("briefing.md").display().to_string());
    report::write_report(out, &report)?;
    Ok((report, b))
}

/// Run the articles through the pipeline. Translators are loaded once per language, and not at all when
/// every translation is cached; the summarizer is created only when a summary is missing. A write that
/// fails (disk full) fails that article, not the batch; a signal stops the run at the next article or
/// translation batch, and the articles not finished are `interrupted` in the report. The caller holds
/// the lock on `opts.out` ([`brief_folder`] does).
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
    let summary_setup = summary_setup(&opts.summarizer_id, opts.max_words, opts.direct);

    // 1. read, hash, detect; reuse what earlier runs finished
    for (idx, src) in sources.iter().enumerate() {
        if let Some(sig) = crate::interrupt::requested() {
            entries[idx] = Some(ReportEntry::failed(src.name(), &Error::Interrupted(sig), false));
            continue;
        }
        let t = Instant::now();
        let prepared = match src {
            Source::Stdin => Err(Error::Usage("`brief` reads files and folders, not stdin".into())),
            _ => preparer.prepare(src),
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
        // the record is found by the file's own stem, so renaming its outputs (a new input with the
        // same stem) does not lose it
        let rpath = record_path(&opts.out, &src.base_stem(), &article.name);
        let previous = load_record(&rpath).filter(|r| r.translation_key == translation_key);
        let translation_cached = previous.is_some();
        let mut record = previous.unwrap_or_else(|| ArticleRecord {
            source: article.name.clone(),
            sha256: article.sha256.clone(),
            language: article.language.lang.clone(),
            language_confidence: article.language.confidence,
            date: article.document.meta.date.clone(),
            translation_key: translation_key.clone(),
            dropped_boilerplate: article.document.dropped.len(),
            ..Default::default()
        });
        record.stem = article.stem.clone();
        record.warnings = article.document.warnings.clone();
        record.translator_setup = format!("{}|from={}", translator.as_deref().unwrap_or("none"), from.as_deref().unwrap_or("auto"));
        record.timings.read_s = t.elapsed().as_secs_f64();
        if !translation_cached && passes_through {
            let text = ArticleText::original(&article);
            record.text = text.text;
            record.text_language = text.language;
            record.translation_md = text.markdown;
            record.title = text.title;
            record.timings.translate_s = 0.0;
        }
        let summary_cached = record.summary_key.as_deref() == Some(summary_key(&record.translation_key, &opts.summarizer_id, opts.max_words, opts.direct).as_str()) && record.summary.is_some();
        pending.push(Pending { idx, record_path: rpath, record, article, translation_cached: translation_cached || passes_through, summary_cached });
    }

    // 2. translate what is missing, batched across articles, a chunk of articles at a time
    let need: Vec<usize> = (0..pending.len()).filter(|&i| !pending[i].translation_cached).collect();
    if !need.is_empty() {
        let pb = crate::progress::bar(bars, need.len() as u64, "translate");
        for chunk in need.chunks(TRANSLATE_CHUNK) {
            let results = match crate::interrupt::requested() {
                Some(sig) => chunk.iter().map(|_| Err(Error::Interrupted(sig))).collect(),
                None => {
                    let articles: Vec<&PreparedArticle> = chunk.iter().map(|&i| &pending[i].article).collect();
                    translation.translate_articles(&articles, opts.direct)
                }
            };
            for (&i, r) in chunk.iter().zip(results) {
                let p = &mut pending[i];
                let saved = r.and_then(|text| {
                    let r = &mut p.record;
                    if let Some(td) = &text.translation {
                        r.translator = td.models.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        let segs: Vec<&crate::pipeline::translate::SegmentResult> = td.blocks.iter().flat_map(|b| &b.segments).collect();
                        r.segments = segs.len();
                        r.split_sentences = segs.iter().filter(|s| s.flags.contains(&SegmentFlag::SplitSentence)).count();
                        r.retried_segments = segs.iter().filter(|s| s.flags.contains(&SegmentFlag::Retried)).count();
                        r.flagged_segments = td.flagged_segments();
                        // this article's own share of the batches it was in, not the chunk's average
                        r.timings.translate_s = td.seconds;
                        r.flags = td.flag_counts();
                        r.confidence = td.confidence_summary(translation.options().document.min_confidence);
                    }
                    r.text = text.text;
                    r.text_language = text.language;
                    r.translation_md = text.markdown;
                    r.title = text.title;
                    r.summary = None;
                    r.summary_key = None;
                    save_record(&p.record_path, r)
                });
                if let Err(e) = saved {
                    entries[p.idx] = Some(ReportEntry::failed(p.record.source.clone(), &e, false));
                }
                pb.inc(1);
            }
        }
        pb.finish_and_clear();
    }
    for p in pending.iter() {
        if entries[p.idx].is_none() && p.translation_cached && p.record.summary_key.is_none() {
            if let Err(e) = save_record(&p.record_path, &p.record) {
                entries[p.idx] = Some(ReportEntry::failed(p.record.source.clone(), &e, true));
            }
        }
    }

    // 3. summarize what is missing, one article at a time, saving each as it completes
    let todo = pending.iter().filter(|p| entries[p.idx].is_none() && !p.summary_cached).count();
    let pb = crate::progress::bar(bars, todo as u64, "summarize");
    let needs_summary = |p: &Pending, entries: &[Option<ReportEntry>]| entries[p.idx].is_none() && !p.summary_cached;
    let mut prepared_to = 0;
    // seconds of the group's drafting, shared out evenly over its articles' timings
    let mut drafting_share = 0.0;
    for at in 0..pending.len() {
        if at >= prepared_to && needs_summary(&pending[at], &entries) && crate::interrupt::requested().is_none() {
            // the next group of articles to summarize, drafted together
            let group: Vec<usize> = (at..pending.len()).filter(|&j| needs_summary(&pending[j], &entries)).take(SUMMARIZE_GROUP).collect();
            prepared_to = group.last().map_or(at, |&j| j + 1);
            drafting_share = 0.0;
            if group.len() > 1 && !drafts_apart() {
                let arts: Vec<Article> = group.iter().map(|&j| article_of(&pending[j].record)).collect();
                // the headlines the loop below will ask for (not yet put into English)
                let headlines: Vec<(String, String)> = group
                    .iter()
                    .map(|&j| &pending[j].record)
                    .filter(|r| r.text_language != "en" && r.original_title.is_none())
                    .filter_map(|r| r.title.clone().map(|t| (t, r.text_language.clone())))
                    .collect();
                let s = summarizer.get()?;
                let t = Instant::now();
                s.prepare(&arts, opts.max_words, &headlines);
                drafting_share = t.elapsed().as_secs_f64() / group.len() as f64;
            }
        }
        let p = &mut pending[at];
        if entries[p.idx].is_some() {
            continue;
        }
        if let Some(sig) = crate::interrupt::requested() {
            entries[p.idx] = Some(ReportEntry::failed(p.record.source.clone(), &Error::Interrupted(sig), p.translation_cached));
            continue;
        }
        let key = summary_key(&p.record.translation_key, &opts.summarizer_id, opts.max_words, opts.direct);
        if !p.summary_cached {
            let s = summarizer.get()?;
            pb.set_message(p.record.stem.clone());
            let art = article_of(&p.record);
            let t = Instant::now();
            let done = s.summarize(&art, opts.max_words).and_then(|sum| {
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
                p.record.summary_setup = summary_setup.clone();
                p.record.timings.summarize_s = t.elapsed().as_secs_f64() + drafting_share;
                save_record(&p.record_path, &p.record)
            });
            pb.inc(1);
            if let Err(e) = done {
                entries[p.idx] = Some(ReportEntry::failed(p.record.source.clone(), &e, p.translation_cached));
                continue;
            }
            if !bars && !opts.quiet {
                // no terminal for a bar: one plain line per finished article
                eprintln!("summarized {} ({:.1} s)", p.record.source, p.record.timings.summarize_s);
            }
        }
        // per-article outputs (rewritten from the record; cheap, and repairs deleted files)
        entries[p.idx] = Some(match write_article_outputs(&opts.out, &p.record) {
            Ok(()) => entry_for(p),
            Err(e) => ReportEntry::failed(p.record.source.clone(), &e, p.translation_cached),
        });
    }
    pb.finish_and_clear();

    let mut report = Report::new(entries.into_iter().flatten().collect(), t0);
    report.skipped = pending
        .iter()
        .filter(|p| p.translation_cached && p.summary_cached && report.articles.get(p.idx).map(|e| e.status == ArticleStatus::Done).unwrap_or(false))
        .count();
    report.signal = crate::interrupt::requested().filter(|_| report.interrupted > 0);
    Ok(report)
}

/// The article a record's summary is made from.
fn article_of(r: &ArticleRecord) -> Article {
    Article { title: r.title.clone(), date: r.date.clone(), language: r.text_language.clone(), text: r.text.clone() }
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
    record_entry(&p.record, &p.record_path, p.translation_cached, p.summary_cached)
}

/// The report entry of a finished article.
fn record_entry(r: &ArticleRecord, record_path: &Path, translation_cached: bool, summary_cached: bool) -> ReportEntry {
    ReportEntry {
        source: r.source.clone(),
        status: ArticleStatus::Done,
        error: None,
        error_kind: None,
        record: Some(record_path.display().to_string()),
        translation_cached,
        summary_cached,
        warnings: r.warnings.clone(),
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
