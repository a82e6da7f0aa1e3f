//! What a model SPEC names and which of its files are needed.
//!
//! A SPEC is a catalogue name (`opus-mt-de-en`), a hub repo id with optional revision
//! (`Helsinki-NLP/opus-mt-de-en@<rev>`), a local model folder, or a local `.gguf` file. An existing local
//! path always wins over a catalogue name or repo id, as in `transformers`.
use std::path::{Path, PathBuf};

use super::catalog::{Catalog, CatalogEntry};
use crate::error::{Error, Result};

/// Files of a model: all required, the first available weight file, optional ones if present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileSet {
    pub required: Vec<String>,
    pub weights: Vec<String>,
    pub optional: Vec<String>,
}

impl FileSet {
    /// What a Marian translator needs (used for hub repos that are not in the catalogue).
    pub fn marian() -> Self {
        Self {
            required: ["config.json", "source.spm", "target.spm", "vocab.json"].map(String::from).to_vec(),
            weights: super::weights::WEIGHT_FILES.map(String::from).to_vec(),
            optional: ["generation_config.json", "tokenizer_config.json", "special_tokens_map.json", "target_vocab.json"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// What a BART summarizer needs: the tokenizer comes as tokenizer.json or vocab.json + merges.txt.
    pub fn bart() -> Self {
        Self {
            required: ["config.json"].map(String::from).to_vec(),
            weights: super::weights::WEIGHT_FILES.map(String::from).to_vec(),
            optional: ["generation_config.json", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// What a sentence-transformers embedding model needs.
    pub fn sentence_embedder() -> Self {
        Self {
            required: ["config.json", "tokenizer.json", "model.safetensors"].map(String::from).to_vec(),
            weights: vec![],
            optional: ["sentence_bert_config.json", "modules.json"].map(String::from).to_vec(),
        }
    }

    pub fn of_entry(e: &CatalogEntry) -> Self {
        Self { required: e.required_files.clone(), weights: e.weight_files.clone(), optional: e.optional_files.clone() }
    }

    /// The files a spec names: a catalogue entry lists its own; any other repo or folder is taken to be
    /// a Marian translator (the one architecture vertolk loads from arbitrary repos by default).
    pub fn for_spec(spec: &ModelSpec) -> Self {
        match spec {
            ModelSpec::Catalog(e) => Self::of_entry(e),
            _ => Self::marian(),
        }
    }

    /// Required files plus a weight file missing from `dir` (empty when the folder is complete).
    pub fn missing_in(&self, dir: &Path) -> Vec<String> {
        let mut missing: Vec<String> = self.required.iter().filter(|f| !dir.join(f).is_file()).cloned().collect();
        if !self.weights.is_empty() && !self.weights.iter().any(|f| dir.join(f).is_file()) {
            missing.push(format!("one of {}", self.weights.join(" / ")));
        }
        missing
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    Catalog(CatalogEntry),
    Hub { repo: String, revision: String },
    LocalDir(PathBuf),
    Gguf(PathBuf),
}

impl ModelSpec {
    pub fn parse(spec: &str, catalog: &Catalog) -> Result<Self> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::Usage("empty model spec".into()));
        }
        let path = Path::new(spec);
        if path.is_dir() {
            return Ok(ModelSpec::LocalDir(path.to_path_buf()));
        }
        if spec.to_ascii_lowercase().ends_with(".gguf") {
            if path.is_file() {
                return Ok(ModelSpec::Gguf(path.to_path_buf()));
            }
            return Err(Error::ModelUnavailable(format!("GGUF file {spec} does not exist")));
        }
        if let Some(e) = catalog.get(spec) {
            return Ok(ModelSpec::Catalog(e.clone()));
        }
        let (repo, revision) = match spec.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev.to_string()),
            Some(_) => return Err(Error::Usage(format!("model spec {spec}: empty revision after '@'"))),
            None => (spec, "main".to_string()),
        };
        let valid_part = |p: &str| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !p.starts_with('.')
        };
        match repo.split_once('/') {
            Some((org, name)) if valid_part(org) && valid_part(name) && !spec.starts_with('.') => {
                Ok(ModelSpec::Hub { repo: repo.to_string(), revision })
            }
            _ => Err(Error::UnknownModel { name: spec.to_string(), known: catalog.names().join(", ") }),
        }
    }

    /// A short human label: catalogue name, repo@rev or path.
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Catalog(e) => e.name.clone(),
            ModelSpec::Hub { repo, revision } => format!("{repo}@{revision}"),
            ModelSpec::LocalDir(p) | ModelSpec::Gguf(p) => p.display().to_string(),
        }
    }
}

