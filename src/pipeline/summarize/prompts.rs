//! Prompt templates (`prompts/*.txt`, compiled in; `--prompt FILE` replaces the summary one).
use std::path::Path;

use crate::error::{Error, Result};

pub const PROMPT_SUMMARY: &str = include_str!("../../../prompts/summary.txt");
pub const PROMPT_SUMMARY_DIRECT: &str = include_str!("../../../prompts/summary_direct.txt");
pub const PROMPT_CHUNK: &str = include_str!("../../../prompts/chunk.txt");

/// A prompt template: system part, `---`, user part.
#[derive(Debug, Clone)]
pub struct PromptTemplate {
    pub system: String,
    pub user: String,
}

impl PromptTemplate {
    pub fn parse(text: &str) -> Self {
        match text.split_once("\n---\n") {
            Some((s, u)) => Self { system: s.trim().to_string(), user: u.trim().to_string() },
            None => Self { system: String::new(), user: text.trim().to_string() },
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?))
    }

    /// Fill `{name}` placeholders.
    pub fn fill(&self, vars: &[(&str, &str)]) -> (String, String) {
        let sub = |t: &str| {
            let mut t = t.to_string();
            for (k, v) in vars {
                t = t.replace(&format!("{{{k}}}"), v);
            }
            t
        };
        (sub(&self.system), sub(&self.user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_placeholders() {
        let t = PromptTemplate::parse("sys {x}\n---\nuser {x} {y}");
        assert_eq!(t.fill(&[("x", "1"), ("y", "2")]), ("sys 1".to_string(), "user 1 2".to_string()));
        for p in [PROMPT_SUMMARY, PROMPT_SUMMARY_DIRECT, PROMPT_CHUNK] {
            let t = PromptTemplate::parse(p);
            assert!(!t.system.is_empty() && !t.user.is_empty());
        }
    }
}
