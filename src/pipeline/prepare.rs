//! Read → detect: what every command does to an input first, done once per input. The file is read
//! once (bounded), hashed, parsed into a [`Document`], and its language detected once; later stages take
//! the prepared article and never go back to the file.
use super::detect::{Detection, LanguageDetectorSet};
use super::input::{Document, Source};
use crate::error::Result;
use crate::hash::sha256_hex;

/// Languages we translate from; English passes through.
pub const TRANSLATABLE: [&str; 2] = ["de", "nl"];

/// One input, read and recognised.
#[derive(Debug, Clone)]
pub struct PreparedArticle {
    /// The input as the user named it (path or `<stdin>`).
    pub name: String,
    /// File name without extension, for output names.
    pub stem: String,
    /// sha256 of the input's bytes.
    pub sha256: String,
    pub document: Document,
    /// Language of the whole document (`--from` when given).
    pub language: Detection,
}

impl PreparedArticle {
    /// True when the article is summarized from its own text: English, or `--direct`.
    pub fn passes_through(&self, direct: bool) -> bool {
        self.language.lang == "en" || direct
    }
}

/// Reads and detects inputs with one language detector.
pub struct Preparer {
    detector: LanguageDetectorSet,
    /// Force the language of every input (`--from`).
    from: Option<String>,
    max_input_bytes: u64,
}

impl Preparer {
    pub fn new(from: Option<String>, max_input_bytes: u64) -> Self {
        Self { detector: LanguageDetectorSet::new(), from, max_input_bytes }
    }

    pub fn detector(&self) -> &LanguageDetectorSet {
        &self.detector
    }

    /// The language of a whole document.
    pub fn document_language(&self, doc: &Document) -> Detection {
        match &self.from {
            Some(l) => Detection { lang: l.clone(), confidence: 1.0 },
            None => self.detector.detect(&doc.text()),
        }
    }

    pub fn prepare(&self, src: &Source) -> Result<PreparedArticle> {
        let bytes = src.read_bytes(self.max_input_bytes)?;
        let document = src.document_from_bytes(&bytes)?;
        let language = self.document_language(&document);
        Ok(PreparedArticle { name: src.name(), stem: src.stem(), sha256: sha256_hex(&bytes), document, language })
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
