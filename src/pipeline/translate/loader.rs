//! The translation pipeline as commands build it (rust-bert's `TranslationModelBuilder` shape): options
//! set on a builder, one loader that turns a source language into a translator for every command, and the
//! identity of the setup that the folder job's cache keys are made of.
use candle_core::Device;

use super::marian::{MarianTranslator, TranslatorOptions};
use super::{translate_articles, ArticleText, DocumentOptions, DocumentTranslator, TranslatorPool};
use crate::device::{default_dtype, select_device, DeviceChoice};
use crate::error::{Error, Result};
use crate::hub::{Catalog, FileSet, ModelSpec, ModelStore};
use crate::models::transformer::Quantize;
use crate::pipeline::prepare::PreparedArticle;

/// Everything that decides how articles are translated.
#[derive(Debug, Clone, Default)]
pub struct TranslationOptions {
    /// One translator for every language (`--model`); else the catalogue's per language.
    pub model: Option<String>,
    /// Beam width; `None` keeps the catalogue's, else the model's.
    pub beams: Option<usize>,
    /// Decoder length limit, start token included.
    pub max_length: Option<usize>,
    /// Limit on generated tokens per segment; wins over `max_length`.
    pub max_new_tokens: Option<usize>,
    pub quantize: Quantize,
    /// Source language, segmentation and guards.
    pub document: DocumentOptions,
}

/// Builds a [`TranslationPipeline`].
pub struct TranslationPipelineBuilder<'a> {
    store: &'a ModelStore,
    catalog: &'a Catalog,
    options: TranslationOptions,
    device: DeviceChoice,
}

impl<'a> TranslationPipelineBuilder<'a> {
    pub fn model(mut self, spec: Option<String>) -> Self {
        self.options.model = spec;
        self
    }
    pub fn from_language(mut self, lang: Option<String>) -> Self {
        self.options.document.from = lang;
        self
    }
    pub fn beams(mut self, beams: Option<usize>) -> Self {
        self.options.beams = beams;
        self
    }
    pub fn max_length(mut self, n: Option<usize>) -> Self {
        self.options.max_length = n;
        self
    }
    pub fn max_new_tokens(mut self, n: Option<usize>) -> Self {
        self.options.max_new_tokens = n;
        self
    }
    pub fn quantize(mut self, q: Quantize) -> Self {
        self.options.quantize = q;
        self
    }
    pub fn segment_tokens(mut self, n: usize) -> Self {
        self.options.document.segment_tokens = n;
        self
    }
    pub fn pack(mut self, pack: bool) -> Self {
        self.options.document.pack = pack;
        self
    }
    /// Terms kept verbatim or translated as given (see [`super::glossary`]).
    pub fn glossary(mut self, glossary: super::Glossary) -> Self {
        self.options.document.glossary = glossary;
        self
    }
    /// Flag and retry segments under this confidence (see [`super::checks::LOW_CONFIDENCE`]).
    pub fn min_confidence(mut self, c: f32) -> Self {
        self.options.document.min_confidence = c;
        self
    }
    pub fn device(mut self, device: DeviceChoice) -> Self {
        self.device = device;
        self
    }

    pub fn build(self) -> Result<TranslationPipeline<'a>> {
        let device = select_device(self.device)?;
        let documents = DocumentTranslator::new(self.options.document.clone());
        Ok(TranslationPipeline { store: self.store, catalog: self.catalog, options: self.options, device, documents })
    }
}

/// Translators per language from one set of options.
pub struct TranslationPipeline<'a> {
    store: &'a ModelStore,
    catalog: &'a Catalog,
    options: TranslationOptions,
    device: Device,
    documents: DocumentTranslator,
}

impl<'a> TranslationPipeline<'a> {
    pub fn builder(store: &'a ModelStore, catalog: &'a Catalog) -> TranslationPipelineBuilder<'a> {
        TranslationPipelineBuilder { store, catalog, options: TranslationOptions::default(), device: DeviceChoice::Auto }
    }

    pub fn options(&self) -> &TranslationOptions {
        &self.options
    }

    pub fn documents(&self) -> &DocumentTranslator {
        &self.documents
    }

    /// The translator for `lang`: `--model` when given (for every language), else the catalogue's.
    pub fn spec_for(&self, lang: &str) -> Result<ModelSpec> {
        if let Some(spec) = &self.options.model {
            return ModelSpec::parse(spec, self.catalog);
        }
        let entry = self
            .catalog
            .translator_for(lang)
            .ok_or_else(|| Error::Usage(format!("no translator for '{lang}' in the catalogue (pass --model)")))?;
        Ok(ModelSpec::Catalog(entry.clone()))
    }

    /// Resolve (download if allowed) and load the translator for `lang`.
    pub fn load(&self, lang: &str) -> Result<MarianTranslator> {
        let spec = self.spec_for(lang)?;
        if let ModelSpec::Gguf(p) = &spec {
            return Err(Error::Usage(format!("{} is a GGUF file; translation needs a Marian model folder", p.display())));
        }
        let resolved = self.store.resolve(&spec, &FileSet::for_spec(&spec))?;
        let defaults = match &spec {
            ModelSpec::Catalog(e) => e.generation.clone(),
            _ => Default::default(),
        };
        let o = &self.options;
        let options = TranslatorOptions {
            num_beams: o.beams.or(defaults.num_beams),
            max_length: o.max_length.or(defaults.max_length),
            max_new_tokens: o.max_new_tokens.or(defaults.max_new_tokens),
            dtype: default_dtype(&self.device),
            quantize: o.quantize,
            ..Default::default()
        };
        MarianTranslator::load(&resolved.path, &self.device, options)
    }

    /// Translators loaded on first use, each language once.
    pub fn pool(&self) -> TranslatorPool<'_> {
        TranslatorPool::new(move |lang: &str| self.load(lang))
    }

    /// The translate stage over prepared articles (see [`translate_articles`]).
    pub fn translate_articles(&self, articles: &[&PreparedArticle], direct: bool) -> Vec<Result<ArticleText>> {
        translate_articles(articles, direct, &self.documents, &mut self.pool())
    }

    /// The identity of the translation setup for `lang`, as the folder job's cache keys hold it: the
    /// model (catalogue repo@revision, a folder's canonical path, or the spec as given) and every option
    /// that changes the output. f32 keeps the key it always had, so existing translations stay valid.
    pub fn translator_key(&self, lang: &str) -> String {
        let o = &self.options;
        let model = match &o.model {
            Some(m) => ModelSpec::parse(m, self.catalog).map(|s| model_identity(&s)).unwrap_or_else(|_| m.clone()),
            None => self.catalog.translator_for(lang).map(|e| format!("{}@{}", e.repo, e.revision)).unwrap_or_default(),
        };
        let q = if o.quantize == Quantize::None { String::new() } else { format!("|quantize={:?}", o.quantize) };
        // the glossary and the confidence cut change outputs (placeholders, retries); the defaults keep
        // the key they always had
        let g = if o.document.glossary.is_empty() { String::new() } else { format!("|glossary={}", o.document.glossary.hash()) };
        let c = if o.document.min_confidence == super::LOW_CONFIDENCE { String::new() } else { format!("|min_confidence={}", o.document.min_confidence) };
        format!("{model}|beams={:?}|segment_tokens={}{q}{g}{c}", o.beams, o.document.segment_tokens)
    }
}

/// A model's identity for cache keys: what stays the same when the same model is named differently.
fn model_identity(spec: &ModelSpec) -> String {
    match spec {
        ModelSpec::Catalog(e) => format!("{}@{}", e.repo, e.revision),
        ModelSpec::LocalDir(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string(),
        other => other.label(),
    }
}
