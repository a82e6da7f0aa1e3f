//! `vertolk brief`: the folder pipeline. Resumable (a content-addressed record per article), atomic
//! (temp file + rename for every output), per-file errors that never sink the batch, and scale-out by
//! shards that a merge step turns into one briefing.
//!
//! Layout of `--out`:
//!   `<stem>.en.md`, `<stem>.summary.md`   per article
//!   `briefing.md`, `briefing.json`         the cited cross-article briefing
//!   `report.json`                          per article: source, sha256, language, models, timings, flags, errors
//!   `articles/<stem>-<hash>.json`          the per-article record: the unit of resume and of `--merge`
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::Digest;

use crate::brief::{Briefing, BriefingWriter, SourceInfo};
use crate::document::{DocumentOptions, DocumentTranslator, TranslatorPool};
use crate::error::{Error, Result};
use crate::input::Source;
use crate::summarize::{Article, Summarizer, Summary};
use crate::translate::MarianTranslator;

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Write via a temp file in the same folder and rename: a reader (or a re-run) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// `K/N`: this process handles the inputs whose path hash falls in shard K (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or("shard must be K/N, e.g. 1/4")?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| "bad K")?, n.trim().parse().map_err(|_| "bad N")?);
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k}/{n}: need 1 <= K <= N"));
        }
        Ok(Shard { index: k, count: n })
    }
}

impl Shard {
    /// Deterministic: the same path lands in the same shard on every machine.
    pub fn contains(&self, path: &str) -> bool {
        let h = sha2::Sha256::digest(path.as_bytes());
        let v = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        (v % self.count as u64) as usize == self.index - 1
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub read_s: f64,
    pub translate_s: f64,
    pub summarize_s: f64,
}

/// Everything known about one article; saved after each stage so a re-run resumes.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ArticleRecord {
    pub source: String,
    pub stem: String,
    pub sha256: String,
    pub language: String,
    pub language_confidence: f64,
    pub title: Option<String>,
    pub date: Option<String>,
    /// Key of the translation: article hash + translator + translation settings.
    pub translation_key: String,
    /// The text summaries read and facts are checked against (English translation or original).
    pub text: String,
    pub text_language: String,
    /// Markdown translation with the paragraph structure.
    pub translation_md: String,
    pub translator: BTreeMap<String, String>,
    pub segments: usize,
    pub split_sentences: usize,
    pub retried_segments: usize,
    pub flagged_segments: usize,
    pub dropped_boilerplate: usize,
    /// Key of the summary: translation key + summarizer + summary settings.
    pub summary_key: Option<String>,
    pub summary: Option<Summary>,
    pub summary_unsupported: Vec<String>,
    pub timings: Timings,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportEntry {
    pub source: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// "model_unavailable" (exit code 4) or "input".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub translation_cached: bool,
    pub summary_cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<ArticleSummaryReport>,
}

impl ReportEntry {
    fn failed(source: String, e: &Error, translation_cached: bool) -> Self {
        let kind = if e.exit_code() == crate::error::exit_code::MODEL_UNAVAILABLE { "model_unavailable" } else { "input" };
        ReportEntry {
            source,
            status: "failed".into(),
            error: Some(e.to_string()),
            error_kind: Some(kind.into()),
            record: None,
            translation_cached,
            summary_cached: false,
            article: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ArticleSummaryReport {
    pub sha256: String,
    pub language: String,
    pub language_confidence: f64,
    pub translator: BTreeMap<String, String>,
    pub summarizer: Option<String>,
    pub summary_method: Option<String>,
    pub timings: Timings,
    pub segments: usize,
    pub split_sentences: usize,
    pub retried_segments: usize,
    pub flagged_segments: usize,
    pub dropped_boilerplate: usize,
    pub summary_unsupported: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub articles: Vec<ReportEntry>,
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    /// Articles whose translation and summary were reused from an earlier run.
    pub skipped: usize,
    pub briefing: Option<String>,
    pub seconds: f64,
}

pub struct BriefOptions {
    pub out: PathBuf,
    pub from: Option<String>,
    pub direct: bool,
    pub max_words: usize,
    pub shard: Option<Shard>,
    pub max_input_bytes: u64,
    /// Identity of the translation setup, per language (part of the cache key).
    pub translator_id: Box<dyn Fn(&str) -> String>,
    /// Identity of the summarization setup (part of the cache key).
    pub summarizer_id: String,
    pub quiet: bool,
}

fn record_path(out: &Path, stem: &str, source: &str) -> PathBuf {
    out.join("articles").join(format!("{stem}-{}.json", &sha256_hex(source.as_bytes())[..10]))
}

fn load_record(path: &Path) -> Option<ArticleRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn save_record(path: &Path, r: &ArticleRecord) -> Result<()> {
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::Usage(format!("internal: {e}")))?;
    write_atomic(path, json.as_bytes()).map_err(|e| Error::io(path, e))
}

struct Pending {
    idx: usize,
    record_path: PathBuf,
    record: ArticleRecord,
    document: crate::input::Document,
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
            None => Err(Error::Usage("internal: no summarizer".into())),
        }
    }
}

/// Run the pipeline. `loader` gives a translator per language (called at most once per language, and
/// never when every translation is cached); the summarizer is created only when a summary is missing.
pub fn run_brief(
    sources: &[Source],
    opts: &BriefOptions,
    loader: &dyn Fn(&str) -> Result<MarianTranslator>,
    summarizer: &mut LazySummarizer,
) -> Result<Report> {
    let t0 = Instant::now();
    std::fs::create_dir_all(opts.out.join("articles")).map_err(|e| Error::io(&opts.out, e))?;
    remove_stale_temp_files(&opts.out);
    let sources: Vec<&Source> = sources.iter().filter(|s| opts.shard.map(|sh| sh.contains(&s.name())).unwrap_or(true)).collect();
    let mut entries: Vec<Option<ReportEntry>> = vec![None; sources.len()];
    let mut pending: Vec<Pending> = Vec::new();
    let bars = crate::progress::bars_enabled(opts.quiet);
    let dt = DocumentTranslator::new(DocumentOptions { from: opts.from.clone(), ..Default::default() });

    // 1. read, hash, detect; reuse what earlier runs finished
    for (idx, src) in sources.iter().enumerate() {
        let t = Instant::now();
        let name = src.name();
        let bytes = match src {
            Source::File(p) => std::fs::read(p).map_err(|e| Error::io(p, e)),
            Source::Stdin => Err(Error::Usage("`brief` reads files and folders, not stdin".into())),
        };
        let doc = bytes.and_then(|b| src.document(opts.max_input_bytes).map(|d| (b, d)));
        let (bytes, doc) = match doc {
            Ok(x) => x,
            Err(e) => {
                entries[idx] = Some(ReportEntry::failed(name, &e, false));
                continue;
            }
        };
        let sha = sha256_hex(&bytes);
        let lang = dt.document_language(&doc);
        let direct_or_en = lang.lang == "en" || opts.direct;
        let translation_key = sha256_hex(format!("{sha}|{}|{}", if direct_or_en { "none".into() } else { (opts.translator_id)(&lang.lang) }, opts.from.clone().unwrap_or_default()).as_bytes());
        let rpath = record_path(&opts.out, &src.stem(), &name);
        let previous = load_record(&rpath).filter(|r| r.translation_key == translation_key);
        let translation_cached = previous.is_some();
        let mut record = previous.unwrap_or_else(|| ArticleRecord {
            source: name.clone(),
            stem: src.stem(),
            sha256: sha.clone(),
            language: lang.lang.clone(),
            language_confidence: lang.confidence,
            date: doc.meta.date.clone(),
            translation_key: translation_key.clone(),
            dropped_boilerplate: doc.dropped.len(),
            ..Default::default()
        });
        record.timings.read_s = t.elapsed().as_secs_f64();
        if !translation_cached && direct_or_en {
            // English (or --direct): the original is the text
            record.text = doc.text();
            record.text_language = lang.lang.clone();
            record.translation_md = doc.blocks.iter().map(|b| format!("{}{}", b.text, b.separator)).collect();
            record.title = crate::pipeline::guess_title(&doc, doc.blocks.first().map(|b| b.text.as_str()));
        }
        let summary_cached = record.summary_key.as_deref() == Some(summary_key(&record.translation_key, &opts.summarizer_id, opts.max_words, opts.direct).as_str()) && record.summary.is_some();
        pending.push(Pending { idx, record_path: rpath, record, document: doc, translation_cached: translation_cached || direct_or_en, summary_cached });
    }

    // 2. translate what is missing, batched across articles
    let need: Vec<usize> = (0..pending.len()).filter(|&i| !pending[i].translation_cached).collect();
    if !need.is_empty() {
        let t = Instant::now();
        let docs: Vec<crate::input::Document> = need.iter().map(|&i| pending[i].document.clone()).collect();
        let mut pool = TranslatorPool::new(|l: &str| loader(l));
        let pb = crate::progress::bar(bars, docs.len() as u64, "translate");
        let results = dt.translate_all(docs, &mut pool);
        pb.finish_and_clear();
        let per_doc = t.elapsed().as_secs_f64() / need.len().max(1) as f64;
        for (&i, r) in need.iter().zip(results) {
            let p = &mut pending[i];
            match r {
                Ok(td) => {
                    p.record.text = td.to_text().trim().to_string();
                    p.record.text_language = "en".into();
                    p.record.translation_md = td.to_markdown();
                    p.record.translator = td.models.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    let segs: Vec<&crate::document::SegmentResult> = td.blocks.iter().flat_map(|b| &b.segments).collect();
                    p.record.segments = segs.len();
                    p.record.split_sentences = segs.iter().filter(|s| s.flags.iter().any(|f| f == "split_sentence")).count();
                    p.record.retried_segments = segs.iter().filter(|s| s.flags.iter().any(|f| f == "retried")).count();
                    p.record.flagged_segments = td.flagged_segments();
                    p.record.title = crate::pipeline::guess_title(&p.document, td.blocks.first().map(|b| b.translation.as_str()));
                    p.record.timings.translate_s = per_doc;
                    p.record.summary = None;
                    p.record.summary_key = None;
                    save_record(&p.record_path, &p.record)?;
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
                    p.record.summary_unsupported = crate::brief::unsupported_items(&sum.text, &[&p.record.text]);
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

    let mut report = finish_report(entries.into_iter().flatten().collect(), t0);
    report.skipped = pending.iter().filter(|p| p.translation_cached && p.summary_cached && report.articles.get(p.idx).map(|e| e.status == "done").unwrap_or(false)).count();
    Ok(report)
}

/// Temp files of a killed run (`.<name>.tmp-<pid>`) are garbage: their finished twins were never renamed.
fn remove_stale_temp_files(out: &Path) {
    for dir in [out.to_path_buf(), out.join("articles")] {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn summary_key(translation_key: &str, summarizer_id: &str, max_words: usize, direct: bool) -> String {
    sha256_hex(format!("{translation_key}|{summarizer_id}|{max_words}|{direct}").as_bytes())
}

fn entry_for(p: &Pending) -> ReportEntry {
    let r = &p.record;
    ReportEntry {
        source: r.source.clone(),
        status: "done".into(),
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
            summary_method: r.summary.as_ref().map(|s| s.method.clone()),
            timings: r.timings.clone(),
            segments: r.segments,
            split_sentences: r.split_sentences,
            retried_segments: r.retried_segments,
            flagged_segments: r.flagged_segments,
            dropped_boilerplate: r.dropped_boilerplate,
            summary_unsupported: r.summary_unsupported.clone(),
        }),
    }
}

fn finish_report(articles: Vec<ReportEntry>, t0: Instant) -> Report {
    let done = articles.iter().filter(|a| a.status == "done").count();
    let failed = articles.len() - done;
    Report { total: articles.len(), done, failed, skipped: 0, briefing: None, seconds: t0.elapsed().as_secs_f64(), articles }
}

pub fn write_article_outputs(out: &Path, r: &ArticleRecord) -> Result<()> {
    let en = out.join(format!("{}.en.md", r.stem));
    write_atomic(&en, r.translation_md.as_bytes()).map_err(|e| Error::io(&en, e))?;
    if let Some(s) = &r.summary {
        let mut md = format!("## {}\n\n{}\n\n_{} summary by {}_\n", r.title.clone().unwrap_or_else(|| r.source.clone()), s.text, s.method, s.summarizer);
        if !r.summary_unsupported.is_empty() {
            md.push_str(&format!("\n⚠ _not found in the article: {}_\n", r.summary_unsupported.join(", ")));
        }
        let p = out.join(format!("{}.summary.md", r.stem));
        write_atomic(&p, md.as_bytes()).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// All finished article records under `dirs` (their `articles/` folders), ordered by source path.
pub fn collect_records(dirs: &[PathBuf]) -> Result<Vec<ArticleRecord>> {
    let mut out: Vec<ArticleRecord> = Vec::new();
    for d in dirs {
        let a = d.join("articles");
        let rd = std::fs::read_dir(&a).map_err(|e| Error::Input { path: a.display().to_string(), reason: format!("not a brief output folder ({e})") })?;
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            if let Some(r) = load_record(&p).filter(|r| r.summary.is_some()) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| a.source.cmp(&b.source));
    out.dedup_by(|a, b| a.source == b.source);
    Ok(out)
}

/// Key of a briefing: its sources' summaries, in order, and the writer.
pub fn briefing_key(records: &[ArticleRecord], writer_id: &str) -> String {
    let keys: Vec<&str> = records.iter().map(|r| r.summary_key.as_deref().unwrap_or("")).collect();
    sha256_hex(format!("{}|{writer_id}", keys.join(",")).as_bytes())
}

/// True when `out/briefing.json` was written from exactly these inputs.
pub fn briefing_is_current(out: &Path, key: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("briefing.json")) else { return false };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    v.get("key").and_then(|k| k.as_str()) == Some(key) && out.join("briefing.md").is_file()
}

/// The briefing over finished records.
pub fn write_briefing(out: &Path, records: &[ArticleRecord], key: &str, summarizer: Option<&mut dyn Summarizer>) -> Result<Briefing> {
    let sources: Vec<SourceInfo> = records
        .iter()
        .enumerate()
        .map(|(i, r)| SourceInfo {
            number: i + 1,
            file: r.source.clone(),
            title: r.title.clone(),
            language: r.language.clone(),
            date: r.date.clone(),
            summary: r.summary.as_ref().map(|s| s.text.clone()).unwrap_or_default(),
            unsupported: vec![],
            text: r.text.clone(),
        })
        .collect();
    let mut b = BriefingWriter::default().write(sources, summarizer)?;
    b.key = key.to_string();
    let md = out.join("briefing.md");
    write_atomic(&md, b.to_markdown().as_bytes()).map_err(|e| Error::io(&md, e))?;
    let js = out.join("briefing.json");
    let json = serde_json::to_string_pretty(&b).map_err(|e| Error::Usage(format!("internal: {e}")))?;
    write_atomic(&js, json.as_bytes()).map_err(|e| Error::io(&js, e))?;
    Ok(b)
}

pub fn write_report(out: &Path, report: &Report) -> Result<()> {
    let p = out.join("report.json");
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Usage(format!("internal: {e}")))?;
    write_atomic(&p, json.as_bytes()).map_err(|e| Error::io(&p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_inputs() {
        let paths: Vec<String> = (0..200).map(|i| format!("seeds/{i:03}.txt")).collect();
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for p in &paths {
            assert_eq!(shards.iter().filter(|s| s.contains(p)).count(), 1);
        }
        assert!(shards.iter().all(|s| paths.iter().filter(|p| s.contains(p)).count() > 40));
        assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err() && "x".parse::<Shard>().is_err());
    }
}
