//! Prompt templates (`prompts/*.txt`, compiled in; `--prompt FILE` replaces the summary one).
use std::path::Path;

use crate::error::{Error, Result};

/// The article as numbered sentences → grounded points (English text).
pub const PROMPT_POINTS: &str = include_str!("../../../prompts/points.txt");
/// The same for an article in German or Dutch (`--direct`).
pub const PROMPT_POINTS_DIRECT: &str = include_str!("../../../prompts/points_direct.txt");
/// A failed point, with what failed → its rewrite.
pub const PROMPT_POINT_RETRY: &str = include_str!("../../../prompts/point_retry.txt");
/// A lead sentence's amount that no point states → a point on that sentence.
pub const PROMPT_POINT_AMOUNT: &str = include_str!("../../../prompts/point_amount.txt");
/// A headline → English (`--direct`).
pub const PROMPT_TITLE: &str = include_str!("../../../prompts/title.txt");
/// Two articles' facts → the one fact both state (a briefing bullet citing both).
pub const PROMPT_JOINT: &str = include_str!("../../../prompts/joint.txt");

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
        for p in [PROMPT_POINTS, PROMPT_POINTS_DIRECT, PROMPT_POINT_RETRY, PROMPT_POINT_AMOUNT, PROMPT_TITLE, PROMPT_JOINT] {
            let t = PromptTemplate::parse(p);
            assert!(!t.system.is_empty() && !t.user.is_empty());
        }
    }
}
