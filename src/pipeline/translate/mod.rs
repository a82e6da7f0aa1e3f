//! The translate stage: per paragraph language → segment → translate (batched across documents) →
//! guard → reassemble with the paragraph structure intact. English passes through; every source sentence
//! is accounted for in the output. [`translate_articles`] is the stage as the pipeline runs it: prepared
//! articles in, the text later stages read out.
pub mod loader;
pub mod marian;

use std::collections::HashMap;

use super::detect::{Detection, LanguageDetectorSet};
use super::input::{Block, BlockKind, Document, Dropped, Format, Metadata};
use super::prepare::{guess_title, PreparedArticle, TRANSLATABLE};
use super::segment::Segmenter;
use crate::error::{Error, Result};
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
}

impl Default for DocumentOptions {
    fn default() -> Self {
        Self { from: None, segment_tokens: 200, pack: false, length_cap: (3.0, 10) }
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
    pub source_tokens: usize,
    pub output_tokens: usize,
    pub flags: Vec<SegmentFlag>,
}

/// What happened to a segment; serialised as `split_sentence`, `length_cap`, `repetition`, `short_output`,
/// `retried`, `passthrough`, `other_language:xx`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SegmentFlag {
    /// A piece of a sentence too long for the model, cut at a clause boundary.
    SplitSentence,
    /// Generation hit the output length cap.
    LengthCap,
    /// A degenerate loop (repeated n-grams).
    Repetition,
    /// Far fewer output than source tokens.
    ShortOutput,
    /// Retried with beam search and a repetition penalty.
    Retried,
    /// English: kept as it is.
    Passthrough,
    /// Another language than the document's with no translator: kept as it is.
    OtherLanguage(String),
}

impl SegmentFlag {
    /// Flags that say the translation may be wrong (the others say what was done).
    pub fn is_problem(&self) -> bool {
        matches!(self, SegmentFlag::LengthCap | SegmentFlag::Repetition | SegmentFlag::ShortOutput)
    }
}

impl From<SegmentFlag> for String {
    fn from(f: SegmentFlag) -> String {
        match f {
            SegmentFlag::SplitSentence => "split_sentence".into(),
            SegmentFlag::LengthCap => "length_cap".into(),
            SegmentFlag::Repetition => "repetition".into(),
            SegmentFlag::ShortOutput => "short_output".into(),
            SegmentFlag::Retried => "retried".into(),
            SegmentFlag::Passthrough => "passthrough".into(),
            SegmentFlag::OtherLanguage(l) => format!("other_language:{l}"),
        }
    }
}

impl TryFrom<String> for SegmentFlag {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        Ok(match s.as_str() {
            "split_sentence" => SegmentFlag::SplitSentence,
            "length_cap" => SegmentFlag::LengthCap,
            "repetition" => SegmentFlag::Repetition,
            "short_output" => SegmentFlag::ShortOutput,
            "retried" => SegmentFlag::Retried,
            "passthrough" => SegmentFlag::Passthrough,
            other => match other.strip_prefix("other_language:") {
                Some(l) => SegmentFlag::OtherLanguage(l.to_string()),
                None => return Err(format!("unknown segment flag {other:?}")),
            },
        })
    }
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
            s.push_str(&b.translation);
            s.push_str(&b.separator);
        }
        s
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

/// Repeated n-grams in a row (n = 1..4), the signature of a degenerate decoder loop.
pub fn has_repetition(tokens: &[u32]) -> bool {
    for n in 1..=4usize {
        let need = if n == 1 { 4 } else { 3 };
        if tokens.len() < n * need {
            continue;
        }
        for start in 0..=tokens.len() - n * need {
            let gram = &tokens[start..start + n];
            if (1..need).all(|k| &tokens[start + k * n..start + (k + 1) * n] == gram) {
                return true;
            }
        }
    }
    false
}

fn guard_flags(t: &Translation) -> Vec<SegmentFlag> {
    let mut f = Vec::new();
    if !t.finished || t.hit_length_limit {
        f.push(SegmentFlag::LengthCap);
    }
    if has_repetition(&t.tokens) {
        f.push(SegmentFlag::Repetition);
    }
    if t.source_tokens >= 12 && t.tokens.len() * 4 < t.source_tokens {
        f.push(SegmentFlag::ShortOutput);
    }
    f
}

struct WorkItem {
    doc: usize,
    block: usize,
    seg: usize,
    text: String,
}

pub struct DocumentTranslator {
    detector: LanguageDetectorSet,
    pub options: DocumentOptions,
}

impl DocumentTranslator {
    pub fn new(options: DocumentOptions) -> Self {
        Self { detector: LanguageDetectorSet::new(), options }
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
            for seg in segmenter.segment(&text, &count) {
                let mut flags = Vec::new();
                if seg.split {
                    flags.push(SegmentFlag::SplitSentence);
                }
                pending.push(WorkItem { doc: d, block: b, seg: block.segments.len(), text: seg.text.clone() });
                block.segments.push(SegmentResult {
                    source: seg.text,
                    translation: String::new(),
                    language: lang.clone(),
                    sentences: seg.sentences,
                    score: None,
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
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
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
                    let t: Vec<&str> = items.iter().filter(|i| i.doc == d).map(|i| i.text.as_str()).collect();
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
        // guards: retry flagged segments with beam search and a repetition penalty
        let flagged: Vec<usize> = results.iter().enumerate().filter(|(_, r)| matches!(r, Ok(t) if !guard_flags(t).is_empty())).map(|(i, _)| i).collect();
        let mut retried: HashMap<usize, Translation> = HashMap::new();
        if !flagged.is_empty() {
            let beams = translator.generation_config().num_beams.max(4);
            let ov = CallOverrides { num_beams: Some(beams), repetition_penalty: Some(1.3), length_cap: Some(self.options.length_cap) };
            let texts: Vec<&str> = flagged.iter().map(|&i| items[i].text.as_str()).collect();
            if let (Ok(again), None) = (translator.translate_with(&texts, &ov), crate::interrupt::requested()) {
                for (&i, t) in flagged.iter().zip(again) {
                    retried.insert(i, t);
                }
            }
        }
        tracing::info!(lang, segments = items.len(), retried = flagged.len(), "translated");
        for (i, (it, r)) in items.iter().zip(results).enumerate() {
            let Some(Some(Ok(doc))) = out.get_mut(it.doc) else { continue };
            match r {
                Ok(first) => {
                    let mut t = first;
                    let mut flags = guard_flags(&t);
                    doc.seconds += t.seconds;
                    if let Some(second) = retried.remove(&i) {
                        doc.seconds += second.seconds;
                        let f2 = guard_flags(&second);
                        if f2.len() <= flags.len() {
                            t = second;
                            flags = f2;
                        }
                        flags.push(SegmentFlag::Retried);
                    }
                    let seg = &mut doc.blocks[it.block].segments[it.seg];
                    seg.translation = t.text.clone();
                    seg.score = Some(t.score);
                    seg.source_tokens = t.source_tokens;
                    seg.output_tokens = t.tokens.len();
                    seg.flags.extend(flags);
                }
                Err(e @ Error::Interrupted(_)) => out[it.doc] = Some(Err(e)),
                Err(e) => {
                    let name = doc.name.clone();
                    out[it.doc] = Some(Err(Error::Input { path: name, reason: e.to_string() }));
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
    use super::*;

    #[test]
    fn repetition_detector() {
        assert!(has_repetition(&[5, 6, 7, 7, 7, 7, 2]));
        assert!(!has_repetition(&[5, 6, 7, 7, 7, 2]));
        assert!(has_repetition(&[1, 9, 4, 9, 4, 9, 4, 0]));
        assert!(!has_repetition(&[1, 2, 3, 4, 5, 6, 7, 8, 9]));
    }
}
