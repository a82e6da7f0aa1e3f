//! The translate stage: per paragraph language → segment → translate (batched across documents) →
//! guard → reassemble with the paragraph structure intact. English passes through; every source sentence
//! is accounted for in the output. [`translate_articles`] is the stage as the pipeline runs it: prepared
//! articles in, the text later stages read out.
pub mod checks;
pub mod glossary;
pub mod loader;
pub mod marian;

use std::collections::HashMap;

use super::detect::{Detection, LanguageDetectorSet};
use super::input::{Block, BlockKind, Document, Dropped, Format, Metadata};
use super::prepare::{guess_title, PreparedArticle, TRANSLATABLE};
use super::segment::Segmenter;
use crate::error::{Error, Result};
pub use checks::{check_translation, confidence, has_repetition, SegmentFlag, LOW_CONFIDENCE};
pub use glossary::Glossary;
use glossary::Protected;
pub use loader::{TranslationOptions, TranslationPipeline, TranslationPipelineBuilder};
pub use marian::{CallOverrides, MarianTranslator, Translation, TranslatorOptions};

#[derive(Debug, Clone)]
pub struct DocumentOptions {
    /// Force the source language of every document and paragraph (`--from`).
    pub from: Option<String>,
    /// Most source tokens per segment (`</s>` included); clamped to the model's limit.
    pub segment_tokens: usize,
    /// Pack several sentences per segment (see [`Segmenter::pack`]).
    pub pack: bool,
    /// Output length cap `ratio × source + add` tokens, and the retry of flagged segments.
    pub length_cap: (f32, usize),
    /// Terms kept verbatim or translated as given (`--glossary`).
    pub glossary: Glossary,
    /// Segments whose [`confidence`] is below this are flagged and retried (`--min-confidence`).
    pub min_confidence: f32,
}

impl Default for DocumentOptions {
    fn default() -> Self {
        Self { from: None, segment_tokens: 200, pack: false, length_cap: (3.0, 10), glossary: Glossary::default(), min_confidence: LOW_CONFIDENCE }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentResult {
    pub source: String,
    pub translation: String,
    pub language: String,
    /// The paragraph's sentences this segment holds (indices from 0).
    pub sentences: Vec<usize>,
    /// Sequence score from generation (none for passed-through text).
    pub score: Option<f32>,
    /// The model's confidence, `exp(mean token log-probability)` in (0, 1] (see [`confidence`]).
    pub confidence: Option<f32>,
    pub source_tokens: usize,
    pub output_tokens: usize,
    pub flags: Vec<SegmentFlag>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TranslatedBlock {
    #[serde(flatten)]
    pub kind: BlockKind,
    pub language: String,
    pub source: String,
    pub translation: String,
    #[serde(skip)]
    pub separator: String,
    pub sentence_count: usize,
    pub segments: Vec<SegmentResult>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TranslatedDocument {
    pub name: String,
    pub format: Format,
    pub meta: Metadata,
    pub language: Detection,
    pub blocks: Vec<TranslatedBlock>,
    /// Text kept out of the translation, and why.
    pub dropped: Vec<Dropped>,
    /// Model folder per language used.
    pub models: HashMap<String, String>,
    /// Seconds spent generating this document's segments (its share of each batch, retries included).
    #[serde(skip)]
    pub seconds: f64,
}

impl TranslatedDocument {
    pub fn flagged_segments(&self) -> usize {
        self.blocks.iter().flat_map(|b| &b.segments).filter(|s| s.flags.iter().any(SegmentFlag::is_problem)).count()
    }

    /// Plain text: paragraphs in order, with the input's separators.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for b in &self.blocks {
            s.push_str(&b.translation);
            s.push_str(&b.separator);
        }
        s
    }

    /// Markdown: headings, list items and quotes keep their markers.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        for b in &self.blocks {
            match &b.kind {
                BlockKind::Heading { level } => {
                    s.push_str(&"#".repeat(*level as usize));
                    s.push(' ');
                }
                BlockKind::ListItem { marker } => {
                    s.push_str(marker);
                    s.push(' ');
                }
                BlockKind::Quote => s.push_str("> "),
                BlockKind::Paragraph => {}
            }
            s.push_str(&b.marked_translation());
            s.push_str(&b.separator);
        }
        s
    }

    /// Confidence over the document's translated segments: mean, lowest, and how many are below
    /// `threshold`; `None` when nothing was translated.
    pub fn confidence_summary(&self, threshold: f32) -> Option<ConfidenceSummary> {
        let c: Vec<f32> = self.blocks.iter().flat_map(|b| &b.segments).filter_map(|s| s.confidence).collect();
        if c.is_empty() {
            return None;
        }
        Some(ConfidenceSummary {
            mean: c.iter().sum::<f32>() / c.len() as f32,
            min: c.iter().copied().fold(f32::INFINITY, f32::min),
            low: c.iter().filter(|&&x| x < threshold).count(),
        })
    }

    /// How many segments carry each problem flag, by its name (`missing_number`: 2).
    pub fn flag_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for s in self.blocks.iter().flat_map(|b| &b.segments) {
            let names: std::collections::BTreeSet<&str> = s.flags.iter().filter(|f| f.is_problem()).map(SegmentFlag::name).collect();
            for n in names {
                *m.entry(n.to_string()).or_insert(0) += 1;
            }
        }
        m
    }
}

/// The model's confidence over an article's segments, as `report.json` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ConfidenceSummary {
    pub mean: f32,
    pub min: f32,
    /// Segments under the low-confidence threshold.
    pub low: usize,
}

impl TranslatedBlock {
    /// The translation with each flagged segment marked for the reader: `… ⚠ *missing_number:3,5
    /// Milliarden*` after the segment.
    pub fn marked_translation(&self) -> String {
        if !self.segments.iter().any(|s| s.flags.iter().any(SegmentFlag::is_problem)) {
            return self.translation.clone();
        }
        let parts: Vec<String> = self
            .segments
            .iter()
            .filter(|s| !s.translation.is_empty())
            .map(|s| {
                let problems: Vec<String> = s.flags.iter().filter(|f| f.is_problem()).map(|f| f.to_string()).collect();
                if problems.is_empty() {
                    s.translation.clone()
                } else {
                    format!("{} ⚠ *{}*", s.translation, problems.join(", "))
                }
            })
            .collect();
        parts.join(" ")
    }
}

/// Translators per source language, loaded on first use (a load failure is remembered, not retried).
pub struct TranslatorPool<'a> {
    loader: Box<dyn Fn(&str) -> Result<MarianTranslator> + 'a>,
    loaded: HashMap<String, Result<MarianTranslator>>,
}

impl<'a> TranslatorPool<'a> {
    pub fn new(loader: impl Fn(&str) -> Result<MarianTranslator> + 'a) -> Self {
        Self { loader: Box::new(loader), loaded: HashMap::new() }
    }

    /// The translator for `lang`; a failure to load it comes back as [`Error::TranslatorUnavailable`]
    /// around the loader's own error (so it keeps its kind and exit code).
    pub fn get(&mut self, lang: &str) -> Result<&MarianTranslator> {
        let loaded = self.loaded.entry(lang.to_string()).or_insert_with(|| (self.loader)(lang));
        loaded.as_ref().map_err(|e| Error::TranslatorUnavailable { lang: lang.to_string(), source: Box::new(e.clone()) })
    }
}

/// Every flag of a translation `t` of the segment `source` (language `lang`), after the glossary's
/// placeholders were restored to `text`: the decoder's own signs (length cap, a loop of tokens), the
/// checks against the source ([`check_translation`]), glossary terms not in the output, and a
/// confidence under `min_confidence`.
fn segment_flags(t: &Translation, source: &str, text: &str, lang: &str, missing_terms: &[String], min_confidence: f32) -> Vec<SegmentFlag> {
    let mut f = Vec::new();
    if !t.finished || t.hit_length_limit {
        f.push(SegmentFlag::LengthCap);
    }
    if has_repetition(&t.tokens) {
        f.push(SegmentFlag::Repetition);
    }
    for flag in check_translation(source, text, lang) {
        if !f.contains(&flag) {
            f.push(flag);
        }
    }
    f.extend(missing_terms.iter().map(|m| SegmentFlag::MissingTerm(m.clone())));
    if confidence(t.sum_logprob, t.tokens.len()) < min_confidence {
        f.push(SegmentFlag::LowConfidence);
    }
    f
}

struct WorkItem {
    doc: usize,
    block: usize,
    seg: usize,
    /// The segment as the source has it.
    source: String,
    /// What the model reads: the segment with glossary terms replaced by placeholders.
    protected: Protected,
    /// The same with the other placeholders, for the retry (a model that lost one name may copy another).
    protected_retry: Protected,
}

pub struct DocumentTranslator {
    detector: LanguageDetectorSet,
    pub options: DocumentOptions,
    /// Glossary placeholders per language, tried once (see [`copied_placeholders`]).
    placeholders: std::sync::Mutex<HashMap<String, Vec<&'static str>>>,
}

/// The glossary placeholders `translator` copies: each name of [`glossary::PLACEHOLDER_NAMES`] in a
/// test sentence of `lang`, in quotes and bare ("„Paris“ und Paris sagten das am Montag."), kept when
/// both come back unchanged, the surest (highest [`confidence`]) first. One batched call per translator.
pub fn copied_placeholders(translator: &MarianTranslator, lang: &str) -> Vec<&'static str> {
    let carrier = |n: &str| match lang {
        "nl" => format!("„{n}“ en {n} zeiden dat maandag."),
        _ => format!("„{n}“ und {n} sagten das am Montag."),
    };
    let tests: Vec<String> = glossary::PLACEHOLDER_NAMES.iter().map(|n| carrier(n)).collect();
    let refs: Vec<&str> = tests.iter().map(String::as_str).collect();
    match translator.translate(&refs) {
        Ok(out) => {
            let mut kept: Vec<(&'static str, f32)> = glossary::PLACEHOLDER_NAMES
                .iter()
                .zip(out)
                .filter(|(n, t)| glossary::count_word(&t.text, n) == 2)
                .map(|(n, t)| (*n, confidence(t.sum_logprob, t.tokens.len())))
                .collect();
            // the names the model copies most surely first
            kept.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
            kept.into_iter().map(|(n, _)| n).collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, "glossary placeholders could not be tried; terms stay in place");
            Vec::new()
        }
    }
}

impl DocumentTranslator {
    pub fn new(options: DocumentOptions) -> Self {
        Self { detector: LanguageDetectorSet::new(), options, placeholders: Default::default() }
    }

    fn placeholders(&self, translator: &MarianTranslator, lang: &str) -> Vec<&'static str> {
        let mut cache = match self.placeholders.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.entry(lang.to_string()).or_insert_with(|| copied_placeholders(translator, lang)).clone()
    }

    fn block_language(&self, text: &str, doc_lang: &str) -> String {
        if let Some(l) = &self.options.from {
            return l.clone();
        }
        if text.chars().filter(|c| c.is_alphabetic()).count() < 20 {
            return doc_lang.to_string();
        }
        let d = self.detector.detect(text);
        let known = d.lang == "en" || TRANSLATABLE.contains(&d.lang.as_str());
        if (known && d.confidence >= 0.9) || (!known && d.lang != "und") {
            d.lang
        } else {
            doc_lang.to_string()
        }
    }

    /// Translate documents (each with its detected language); translation batches across all of them.
    /// One result per document, in order.
    pub fn translate_all(&self, docs: Vec<(Document, Detection)>, pool: &mut TranslatorPool) -> Vec<Result<TranslatedDocument>> {
        let mut out: Vec<Option<Result<TranslatedDocument>>> = Vec::with_capacity(docs.len());
        let mut work: HashMap<String, Vec<WorkItem>> = HashMap::new();
        for (d, (doc, language)) in docs.into_iter().enumerate() {
            match self.segment_document(d, doc, language, pool, &mut work) {
                Ok(td) => out.push(Some(Ok(td))),
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let mut langs: Vec<String> = work.keys().cloned().collect();
        langs.sort();
        for lang in langs {
            let items = work.remove(&lang).unwrap_or_default();
            let translator = match pool.get(&lang) {
                Ok(t) => t,
                Err(e) => {
                    for it in &items {
                        if let Some(slot) = out.get_mut(it.doc) {
                            if matches!(slot, Some(Ok(_))) {
                                *slot = Some(Err(e.clone()));
                            }
                        }
                    }
                    continue;
                }
            };
            self.run_items(translator, &lang, &items, &mut out);
        }
        out.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Internal("document lost".into())))).collect()
    }

    /// Languages, blocks and segments of one document; segments to translate go to `work`.
    fn segment_document(&self, d: usize, doc: Document, language: Detection, pool: &mut TranslatorPool, work: &mut HashMap<String, Vec<WorkItem>>) -> Result<TranslatedDocument> {
        let doc_lang = language.lang.clone();
        if doc_lang != "en" && !TRANSLATABLE.contains(&doc_lang.as_str()) {
            return Err(Error::Input {
                path: doc.name.clone(),
                reason: format!("language '{doc_lang}' (confidence {:.2}): no model for {doc_lang}; vertolk translates de and nl (--from overrides)", language.confidence),
            });
        }
        let mut td = TranslatedDocument {
            name: doc.name.clone(),
            format: doc.format,
            meta: doc.meta.clone(),
            language,
            blocks: Vec::new(),
            dropped: doc.dropped.clone(),
            models: HashMap::new(),
            seconds: 0.0,
        };
        let mut pending: Vec<WorkItem> = Vec::new();
        for (b, Block { kind, text, separator }) in doc.blocks.into_iter().enumerate() {
            let lang = self.block_language(&text, &doc_lang);
            let mut block = TranslatedBlock { kind, language: lang.clone(), source: text.clone(), translation: String::new(), separator, sentence_count: 0, segments: Vec::new() };
            if lang == "en" || !TRANSLATABLE.contains(&lang.as_str()) {
                let flag = if lang == "en" { SegmentFlag::Passthrough } else { SegmentFlag::OtherLanguage(lang.clone()) };
                block.sentence_count = Segmenter::new(&lang, usize::MAX, false).sentences(&text).len();
                block.segments.push(SegmentResult {
                    source: text.clone(),
                    translation: text.clone(),
                    language: lang,
                    sentences: (0..block.sentence_count).collect(),
                    score: None,
                    confidence: None,
                    source_tokens: 0,
                    output_tokens: 0,
                    flags: vec![flag],
                });
                block.translation = text;
                td.blocks.push(block);
                continue;
            }
            let translator = pool.get(&lang)?;
            td.models.insert(lang.clone(), translator.model_dir().display().to_string());
            let budget = self.options.segment_tokens.min(translator.max_source_tokens());
            let segmenter = Segmenter::new(&lang, budget, self.options.pack);
            block.sentence_count = segmenter.sentences(&text).len();
            let count = |s: &str| translator.count_tokens(s).unwrap_or(usize::MAX);
            let placeholders: Vec<&'static str> = if self.options.glossary.is_empty() { Vec::new() } else { self.placeholders(translator, &lang) };
            for seg in segmenter.segment(&text, &count) {
                let mut flags = Vec::new();
                if seg.split {
                    flags.push(SegmentFlag::SplitSentence);
                }
                let protected = self.options.glossary.protect(&seg.text, &placeholders);
                let used = protected.slots.len().min(placeholders.len());
                let rotated: Vec<&str> = placeholders[used..].iter().chain(&placeholders[..used]).copied().collect();
                let protected_retry = self.options.glossary.protect(&seg.text, &rotated);
                pending.push(WorkItem { doc: d, block: b, seg: block.segments.len(), source: seg.text.clone(), protected, protected_retry });
                block.segments.push(SegmentResult {
                    source: seg.text,
                    translation: String::new(),
                    language: lang.clone(),
                    sentences: seg.sentences,
                    score: None,
                    confidence: None,
                    source_tokens: 0,
                    output_tokens: 0,
                    flags,
                });
            }
            td.blocks.push(block);
        }
        for it in pending {
            let lang = td.blocks[it.block].language.clone();
            work.entry(lang).or_default().push(it);
        }
        Ok(td)
    }

    fn run_items(&self, translator: &MarianTranslator, lang: &str, items: &[WorkItem], out: &mut [Option<Result<TranslatedDocument>>]) {
        let cap = CallOverrides { length_cap: Some(self.options.length_cap), ..Default::default() };
        let texts: Vec<&str> = items.iter().map(|i| i.protected.text.as_str()).collect();
        let results: Vec<Result<Translation>> = match translator.translate_with(&texts, &cap) {
            Ok(r) => r.into_iter().map(Ok).collect(),
            // stopped by a signal: every document of this batch is abandoned, none retried
            Err(e @ Error::Interrupted(_)) => items.iter().map(|_| Err(e.clone())).collect(),
            // isolate the failure: one document at a time
            Err(_) => {
                let mut per = Vec::with_capacity(items.len());
                let mut by_doc: Vec<usize> = items.iter().map(|i| i.doc).collect();
                by_doc.dedup();
                let mut res: HashMap<usize, Result<Vec<Translation>>> = HashMap::new();
                for d in by_doc {
                    let t: Vec<&str> = items.iter().filter(|i| i.doc == d).map(|i| i.protected.text.as_str()).collect();
                    res.insert(d, translator.translate_with(&t, &cap));
                }
                let mut cursor: HashMap<usize, usize> = HashMap::new();
                for it in items {
                    let k = cursor.entry(it.doc).or_insert(0);
                    per.push(match res.get(&it.doc) {
                        Some(Ok(v)) => v.get(*k).cloned().ok_or_else(|| Error::Internal("missing translation result".into())),
                        Some(Err(e)) => Err(Error::Input { path: format!("segment of document {}", it.doc), reason: e.to_string() }),
                        None => Err(Error::Internal("missing translation result".into())),
                    });
                    *k += 1;
                }
                per
            }
        };
        // guards and checks: retry flagged segments with beam search and a repetition penalty
        let glossary = &self.options.glossary;
        let judge = |it: &WorkItem, p: &Protected, t: &Translation| -> (String, Vec<SegmentFlag>) {
            let (text, missing) = glossary.restore(&t.text, p);
            let flags = segment_flags(t, &it.source, &text, lang, &missing, self.options.min_confidence);
            (text, flags)
        };
        let first: Vec<Option<(String, Vec<SegmentFlag>)>> = items.iter().zip(&results).map(|(it, r)| r.as_ref().ok().map(|t| judge(it, &it.protected, t))).collect();
        let flagged: Vec<usize> = first.iter().enumerate().filter(|(_, j)| matches!(j, Some((_, f)) if f.iter().any(SegmentFlag::is_problem))).map(|(i, _)| i).collect();
        let mut retried: HashMap<usize, Translation> = HashMap::new();
        if !flagged.is_empty() {
            let beams = translator.generation_config().num_beams.max(4);
            let ov = CallOverrides { num_beams: Some(beams), repetition_penalty: Some(1.3), length_cap: Some(self.options.length_cap) };
            let texts: Vec<&str> = flagged.iter().map(|&i| items[i].protected_retry.text.as_str()).collect();
            if let (Ok(again), None) = (translator.translate_with(&texts, &ov), crate::interrupt::requested()) {
                for (&i, t) in flagged.iter().zip(again) {
                    retried.insert(i, t);
                }
            }
        }
        tracing::info!(lang, segments = items.len(), retried = flagged.len(), "translated");
        for (i, ((it, r), judged)) in items.iter().zip(results).zip(first).enumerate() {
            let Some(Some(Ok(doc))) = out.get_mut(it.doc) else { continue };
            match (r, judged) {
                (Ok(first), Some((mut text, mut flags))) => {
                    let mut t = first;
                    doc.seconds += t.seconds;
                    if let Some(second) = retried.remove(&i) {
                        doc.seconds += second.seconds;
                        // the retry wins with fewer problems, or as many and a higher confidence
                        let (text2, f2) = judge(it, &it.protected_retry, &second);
                        let problems = |f: &[SegmentFlag]| f.iter().filter(|x| x.is_problem()).count();
                        let better = problems(&f2) < problems(&flags)
                            || (problems(&f2) == problems(&flags) && confidence(second.sum_logprob, second.tokens.len()) > confidence(t.sum_logprob, t.tokens.len()));
                        if better {
                            t = second;
                            text = text2;
                            flags = f2;
                        }
                        flags.push(SegmentFlag::Retried);
                    }
                    let seg = &mut doc.blocks[it.block].segments[it.seg];
                    seg.translation = text;
                    seg.score = Some(t.score);
                    seg.confidence = Some(confidence(t.sum_logprob, t.tokens.len()));
                    seg.source_tokens = t.source_tokens;
                    seg.output_tokens = t.tokens.len();
                    seg.flags.extend(flags);
                }
                (Err(e @ Error::Interrupted(_)), _) => out[it.doc] = Some(Err(e)),
                (Err(e), _) => {
                    let name = doc.name.clone();
                    out[it.doc] = Some(Err(Error::Input { path: name, reason: e.to_string() }));
                }
                (Ok(_), None) => {
                    out[it.doc] = Some(Err(Error::Internal("a translation lost its check".into())));
                }
            }
        }
        for slot in out.iter_mut() {
            if let Some(Ok(doc)) = slot {
                for b in doc.blocks.iter_mut().filter(|b| b.language == lang) {
                    b.translation = b.segments.iter().map(|s| s.translation.as_str()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
                }
            }
        }
    }
}

/// An article as the later stages read it: its English translation, or its own text when it is English
/// or summarized `--direct`.
#[derive(Debug, Clone)]
pub struct ArticleText {
    /// Paragraphs joined by blank lines.
    pub text: String,
    /// Language of `text`.
    pub language: String,
    /// The text with its paragraph structure (Markdown markers kept).
    pub markdown: String,
    pub title: Option<String>,
    /// The translation with its per-segment record; `None` when the text passed through.
    pub translation: Option<TranslatedDocument>,
}

impl ArticleText {
    /// The article's own text (English, or `--direct`).
    pub fn original(article: &PreparedArticle) -> Self {
        let doc = &article.document;
        ArticleText {
            text: doc.text(),
            language: article.language.lang.clone(),
            markdown: doc.blocks.iter().map(|b| format!("{}{}", b.text, b.separator)).collect(),
            title: guess_title(doc, doc.blocks.first().map(|b| b.text.as_str())),
            translation: None,
        }
    }

    /// The English translation of the article.
    pub fn translated(article: &PreparedArticle, td: TranslatedDocument) -> Self {
        ArticleText {
            text: td.to_text().trim().to_string(),
            language: "en".into(),
            markdown: td.to_markdown(),
            title: guess_title(&article.document, td.blocks.first().map(|b| b.translation.as_str())),
            translation: Some(td),
        }
    }
}

/// The translate stage over prepared articles: English ones (and all of them with `direct`) pass
/// through, the others are translated in batches across all of them. One result per article, in order.
pub fn translate_articles(articles: &[&PreparedArticle], direct: bool, translator: &DocumentTranslator, pool: &mut TranslatorPool) -> Vec<Result<ArticleText>> {
    let mut out: Vec<Option<Result<ArticleText>>> = articles.iter().map(|a| a.passes_through(direct).then(|| Ok(ArticleText::original(a)))).collect();
    let todo: Vec<usize> = (0..articles.len()).filter(|&i| out[i].is_none()).collect();
    if !todo.is_empty() {
        let docs = todo.iter().map(|&i| (articles[i].document.clone(), articles[i].language.clone())).collect();
        for (&i, r) in todo.iter().zip(translator.translate_all(docs, pool)) {
            out[i] = Some(r.map(|td| ArticleText::translated(articles[i], td)));
        }
    }
    out.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Internal("article lost in translation".into())))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn repetition_detector() {
        use crate::pipeline::translate::has_repetition;
        assert!(has_repetition(&[5, 6, 7, 7, 7, 7, 2]));
        assert!(!has_repetition(&[5, 6, 7, 7, 7, 2]));
        assert!(has_repetition(&[1, 9, 4, 9, 4, 9, 4, 0]));
        assert!(!has_repetition(&[1, 2, 3, 4, 5, 6, 7, 8, 9]));
    }
}
