//! The steps shared by `summarize` and `brief`: read → detect → translate (unless English or
//! `--direct`) → the text a summarizer reads and the text its facts are checked against.
use crate::document::{DocumentOptions, DocumentTranslator, TranslatedDocument, TranslatorPool};
use crate::error::Result;
use crate::input::{Document, Source};
use crate::summarize::Article;
use crate::translate::MarianTranslator;

#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub from: Option<String>,
    /// Summarize from the original language (no translation).
    pub direct: bool,
    pub max_input_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct PreparedArticle {
    pub name: String,
    pub title: Option<String>,
    pub date: Option<String>,
    /// Source language.
    pub language: String,
    pub language_confidence: f64,
    /// What the summarizer reads: the English translation, or the original (English input, `--direct`).
    pub text: String,
    /// Language of `text`.
    pub text_language: String,
    /// What summary facts are checked against (same as `text`).
    pub check_text: String,
    pub translation: Option<TranslatedDocument>,
    pub document: Document,
}

impl PreparedArticle {
    pub fn article(&self) -> Article {
        Article { title: self.title.clone(), date: self.date.clone(), language: self.text_language.clone(), text: self.text.clone() }
    }
}

/// A title: the document's own, else its first block when that reads like a headline.
pub fn guess_title(doc: &Document, first_block_text: Option<&str>) -> Option<String> {
    if let Some(t) = &doc.meta.title {
        return Some(t.clone());
    }
    let first = first_block_text?;
    let headline = first.chars().count() <= 150 && !first.trim_end().ends_with('.');
    headline.then(|| first.trim().to_string())
}

/// Read, detect and translate inputs; one result per source, in order. Translation batches across all.
pub fn prepare_articles(sources: &[Source], opts: &PrepareOptions, loader: &dyn Fn(&str) -> Result<MarianTranslator>) -> Vec<Result<PreparedArticle>> {
    let dt = DocumentTranslator::new(DocumentOptions { from: opts.from.clone(), ..Default::default() });
    let mut out: Vec<Option<Result<PreparedArticle>>> = Vec::new();
    let mut to_translate: Vec<(usize, Document)> = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        match src.document(opts.max_input_bytes) {
            Ok(doc) => {
                let lang = dt.document_language(&doc);
                if lang.lang == "en" || opts.direct {
                    let text = doc.text();
                    let title = guess_title(&doc, doc.blocks.first().map(|b| b.text.as_str()));
                    out.push(Some(Ok(PreparedArticle {
                        name: doc.name.clone(),
                        title,
                        date: doc.meta.date.clone(),
                        language: lang.lang.clone(),
                        language_confidence: lang.confidence,
                        text: text.clone(),
                        text_language: lang.lang,
                        check_text: text,
                        translation: None,
                        document: doc,
                    })));
                } else {
                    out.push(None);
                    to_translate.push((i, doc));
                }
            }
            Err(e) => out.push(Some(Err(e))),
        }
    }
    if !to_translate.is_empty() {
        let (idx, docs): (Vec<usize>, Vec<Document>) = to_translate.into_iter().unzip();
        let mut pool = TranslatorPool::new(|l: &str| loader(l));
        let results = dt.translate_all(docs.clone(), &mut pool);
        for ((i, doc), r) in idx.into_iter().zip(docs).zip(results) {
            out[i] = Some(r.map(|td| {
                let text = td.to_text().trim().to_string();
                let title = guess_title(&doc, td.blocks.first().map(|b| b.translation.as_str()));
                PreparedArticle {
                    name: doc.name.clone(),
                    title,
                    date: doc.meta.date.clone(),
                    language: td.language.lang.clone(),
                    language_confidence: td.language.confidence,
                    text: text.clone(),
                    text_language: "en".into(),
                    check_text: text,
                    translation: Some(td),
                    document: doc,
                }
            }));
        }
    }
    out.into_iter().map(|r| r.unwrap_or_else(|| Err(crate::Error::Usage("internal: article lost".into())))).collect()
}
