//! The model catalogue (`models/catalog.toml`, compiled in): which hub repos, files and settings each
//! supported model uses.
use crate::error::{Error, Result};

pub const CATALOG_TOML: &str = include_str!("../../models/catalog.toml");

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Translation,
    Summarization,
    /// Sentence embeddings (grouping the briefing's points into stories).
    Embedding,
}

/// Generation settings a catalogue entry sets over the repo's own.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationDefaults {
    pub num_beams: Option<usize>,
    pub max_length: Option<usize>,
    pub max_new_tokens: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub name: String,
    pub task: Task,
    pub architecture: String,
    pub languages: Vec<String>,
    pub repo: String,
    pub revision: String,
    pub required_files: Vec<String>,
    #[serde(default)]
    pub weight_files: Vec<String>,
    #[serde(default)]
    pub optional_files: Vec<String>,
    pub license: String,
    #[serde(default)]
    pub generation: GenerationDefaults,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(rename = "model")]
    pub models: Vec<CatalogEntry>,
}

impl Catalog {
    pub fn parse(text: &str) -> Result<Self> {
        let cat: Catalog = toml::from_str(text).map_err(|e| Error::InvalidConfig {
            what: "model catalogue",
            path: "models/catalog.toml".into(),
            reason: e.to_string(),
        })?;
        let mut seen = std::collections::HashSet::new();
        for m in &cat.models {
            if !seen.insert(m.name.as_str()) {
                return Err(Error::InvalidConfig {
                    what: "model catalogue",
                    path: "models/catalog.toml".into(),
                    reason: format!("duplicate model name {}", m.name),
                });
            }
            if !m.repo.contains('/') || m.required_files.is_empty() {
                return Err(Error::InvalidConfig {
                    what: "model catalogue",
                    path: "models/catalog.toml".into(),
                    reason: format!("{}: repo must be org/name and required_files non-empty", m.name),
                });
            }
        }
        Ok(cat)
    }

    /// The catalogue compiled into this binary.
    pub fn builtin() -> Self {
        // The embedded file is checked by the tests; failing here would be a build defect.
        Self::parse(CATALOG_TOML).unwrap_or_else(|e| panic!("built-in catalogue is invalid: {e}"))
    }

    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The translator for a source language, if the catalogue has one.
    pub fn translator_for(&self, lang: &str) -> Option<&CatalogEntry> {
        self.models.iter().find(|m| m.task == Task::Translation && m.languages.iter().any(|l| l == lang))
    }

    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.name.as_str()).collect()
    }
}
