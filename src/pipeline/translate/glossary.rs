//! Glossary and do-not-translate terms (`--glossary FILE`): a TSV of `source<TAB>target` lines; an
//! empty target (or no tab) keeps the term verbatim. Terms are protected by placeholders: before
//! translation each term in a segment is replaced by a name the model copies, after translation that
//! name is replaced by the term's target. The placeholders are names written alike in English, German
//! and Dutch ("Google", "Amazon", "Paris" …, [`PLACEHOLDER_NAMES`]) that the model copies: each is tried
//! once per translator in a test sentence, in quotes and bare, and used only if it comes back unchanged
//! both times (a made-up code is not copied reliably: the fixture model turns "ZQX1" into "ZQ1" and
//! "Z Dollar X", "Term1" into "Tmm1"; of the 23 names it copies 10), surest first; one not in the
//! segment, nor a term. A placeholder the model changed a little ("Googles", "Roogle") is found by edit
//! distance. A term whose target is not in the output as often as the term was in the source
//! is flagged [`SegmentFlag::MissingTerm`](super::SegmentFlag::MissingTerm). Constrained beam search
//! would also inflect the term, but it costs a beam per constraint; placeholders cost nothing and keep
//! names exactly as given, which is what a glossary of names and products wants.
use std::path::Path;

use crate::error::{Error, Result};
use crate::hash::sha256_hex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub source: String,
    /// What the output must say; the source itself for a do-not-translate term.
    pub target: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Glossary {
    /// Longest source first, so "Handelsblatt Disrupt" wins over "Handelsblatt".
    terms: Vec<Term>,
}

/// A segment with its terms replaced by placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Protected {
    /// The text the model translates.
    pub text: String,
    /// Placeholder, target and how often the term is in the segment.
    pub slots: Vec<(String, String, usize)>,
    /// Terms left in place (no placeholder was free), with their target and count.
    pub unprotected: Vec<(String, String, usize)>,
}

/// Names written the same in English, German and Dutch, candidates for placeholders; a translator uses
/// those it copies unchanged in a test sentence (see [`super::copied_placeholders`]).
pub const PLACEHOLDER_NAMES: &[&str] = &[
    "Google", "Amazon", "Akamai", "Cloudflare", "Microsoft", "Facebook", "Samsung", "Siemens", "Nokia", "Toyota", "Netflix",
    "Berlin", "London", "Paris", "Madrid", "Amsterdam", "Chicago", "Boston", "Toronto", "Sydney", "Dublin", "Oslo", "Ukraine",
];

impl Glossary {
    /// Parse TSV text (`name` for errors): `source<TAB>target`, `#` comments and blank lines skipped.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let mut terms: Vec<Term> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (source, target) = match line.split_once('\t') {
                Some((s, t)) => (s.trim(), t.trim()),
                None => (line.trim(), ""),
            };
            if source.is_empty() {
                return Err(Error::Input { path: name.to_string(), reason: format!("line {}: empty source term", n + 1) });
            }
            let target = if target.is_empty() { source } else { target };
            match terms.iter_mut().find(|t| t.source == source) {
                Some(t) => t.target = target.to_string(),
                None => terms.push(Term { source: source.to_string(), target: target.to_string() }),
            }
        }
        terms.sort_by(|a, b| b.source.chars().count().cmp(&a.source.chars().count()).then(a.source.cmp(&b.source)));
        Ok(Self { terms })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Identity for cache keys: a change of any term changes the translations.
    pub fn hash(&self) -> String {
        let flat: Vec<String> = self.terms.iter().map(|t| format!("{}\t{}", t.source, t.target)).collect();
        sha256_hex(flat.join("\n").as_bytes())[..16].to_string()
    }

    /// Replace the whole-word occurrences of each term in `text` by one of `placeholders` (names the
    /// model copies), skipping those in the text or among the terms.
    pub fn protect(&self, text: &str, placeholders: &[&str]) -> Protected {
        let mut p = Protected { text: text.to_string(), ..Default::default() };
        if self.terms.is_empty() {
            return p;
        }
        let mut free = placeholders.iter().filter(|ph| count_word(text, ph) == 0 && !self.terms.iter().any(|t| t.source.contains(**ph) || t.target.contains(**ph)));
        for t in &self.terms {
            let n = count_word(&p.text, &t.source);
            if n == 0 {
                continue;
            }
            match free.next() {
                Some(ph) => {
                    p.text = replace_word(&p.text, &t.source, ph);
                    p.slots.push((ph.to_string(), t.target.clone(), n));
                }
                None => p.unprotected.push((t.source.clone(), t.target.clone(), n)),
            }
        }
        p
    }

    /// Put the targets in place of the placeholders in the model's `output`; returns the text and the
    /// targets that are not in it as often as their terms were in the source.
    pub fn restore(&self, output: &str, protected: &Protected) -> (String, Vec<String>) {
        let mut text = output.to_string();
        for (ph, target, _) in &protected.slots {
            if find_word(&text, ph).is_none() {
                // a placeholder the model changed a little ("Googles", "Roogle") is still its place
                if let Some(near) = nearest_word(&text, ph) {
                    text = replace_word(&text, &near, ph);
                }
            }
            text = replace_word(&text, ph, target);
        }
        let mut missing = Vec::new();
        for (_, target, n) in protected.slots.iter().chain(&protected.unprotected) {
            if count_word(&text, target) < *n && !missing.contains(target) {
                missing.push(target.clone());
            }
        }
        (text, missing)
    }
}

/// How often `word` is in `text` as a whole word (no letter or digit on either side).
pub fn count_word(text: &str, word: &str) -> usize {
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = find_word(&text[from..], word) {
        n += 1;
        from += at + word.len();
    }
    n
}

/// The word of `text` closest to `placeholder` within an edit distance of a quarter of its letters
/// (at least 1), if any: a placeholder the model garbled slightly.
fn nearest_word(text: &str, placeholder: &str) -> Option<String> {
    let limit = (placeholder.chars().count() / 4).max(1);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| (edit_distance(w, placeholder), w))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, w)| w.to_string())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `text` with every whole-word `word` replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_word(rest, word) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of `word` in `text` as a whole word (no letter or digit on either side).
fn find_word(text: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(p) = text[from..].find(word) {
        let at = from + p;
        let before = text[..at].chars().last();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_protected_and_restored() {
        let g = Glossary::parse("g.tsv", "# names\nHandelsblatt Disrupt\nHandelsblatt\t\nFinanzchef\tCFO\n").unwrap();
        assert_eq!(g.terms()[0].source, "Handelsblatt Disrupt");
        let p = g.protect("Im Podcast „Handelsblatt Disrupt“ erklärt Finanzchef Seifert bei Google, was das Handelsblatt schreibt.", PLACEHOLDER_NAMES);
        assert_eq!(p.text, "Im Podcast „Amazon“ erklärt Cloudflare Seifert bei Google, was das Akamai schreibt.", "Google is in the text: not a placeholder");
        let (out, missing) = g.restore("In the podcast \"Amazon\", Cloudflare Seifert explains at Google what Akamai writes.", &p);
        assert_eq!(out, "In the podcast \"Handelsblatt Disrupt\", CFO Seifert explains at Google what Handelsblatt writes.");
        assert!(missing.is_empty());
        let (out, _) = g.restore("In the podcast \"Amazn\", Cloudflares Seifert explains at Google what Akamai writes.", &p);
        assert_eq!(out, "In the podcast \"Handelsblatt Disrupt\", CFO Seifert explains at Google what Handelsblatt writes.", "slightly garbled placeholders");
        let (_, missing) = g.restore("In the podcast, the CFO Seifert explains at Google.", &p);
        assert_eq!(missing, vec!["Handelsblatt Disrupt", "Handelsblatt"], "CFO is there without its placeholder");
        let p = g.protect("Finanzchef und Finanzchef", &["Paris"]);
        assert_eq!(g.restore("Paris and CFO", &p).1, Vec::<String>::new());
        assert_eq!(g.restore("Paris and the head", &p).1, vec!["CFO"], "twice in, once out");
        let p = g.protect("Handelsblatt und Finanzchef", &["Paris"]);
        assert_eq!(p.unprotected.len(), 1, "one placeholder for two terms");
        assert_ne!(g.hash(), Glossary::parse("g", "Handelsblatt\n").unwrap().hash());
        assert!(Glossary::parse("g", "\tCFO\n").is_err());
        assert_eq!(g.protect("Handelsblattes", PLACEHOLDER_NAMES).slots.len(), 0, "whole words only");
    }
}
