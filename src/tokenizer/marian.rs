//! `MarianTokenizer`, rebuilt from the hub files themselves (`source.spm`, `target.spm`, `vocab.json`,
//! `target_vocab.json`, `tokenizer_config.json`), matching HF `transformers`' slow `MarianTokenizer`.
//!
//! How HF does it, and so how we do it:
//! - the text is first split around special tokens that appear literally (`</s>`, `<unk>`, `<pad>`);
//! - a leading `>>xx<<` language code is kept as one token;
//! - each chunk is encoded by SentencePiece (its normalizer, then unigram Viterbi) into piece *strings*;
//! - the strings are mapped through `vocab.json`; a piece missing there becomes `<unk>`. Pieces that
//!   SentencePiece itself could not cover come out as their surface text (e.g. an emoji), and are looked up
//!   in `vocab.json` too, which is why ids never come from the spm file;
//! - source ids end with `</s>`, whose id is read from `vocab.json` (43311 in `tc-big` models, not 0).
//!
//! Decoding maps ids to pieces with the `vocab.json` inverse, drops special ids, and rebuilds text as
//! SentencePiece's `DecodePieces` + `replace('▁', ' ')` + `strip()` do.
use std::collections::{HashMap, HashSet};
use std::path::Path;

use tokenizers::models::unigram::Unigram;

use super::spm::{Normalizer, PieceType, SpmModel, SPACE_SYMBOL};
use crate::error::{Error, Result};

/// One SentencePiece side (source or target): normalizer + unigram model.
struct SpmSide {
    normalizer: Normalizer,
    unigram: Unigram,
    /// Pieces SentencePiece decodes to nothing (`<s>`, `</s>` and other control symbols).
    control: HashSet<String>,
}

impl SpmSide {
    fn load(path: &Path) -> Result<Self> {
        let model = SpmModel::from_file(path)?;
        let invalid = |reason: String| Error::InvalidModelFile { path: path.to_path_buf(), reason };
        let normalizer = Normalizer::new(&model.normalizer, model.treat_whitespace_as_suffix).map_err(invalid)?;
        if model.byte_fallback {
            return Err(invalid("byte-fallback SentencePiece models are not supported".into()));
        }
        // Only pieces SentencePiece can emit go into the lattice: control and unused pieces are never matched
        // by the C++ library, and user-defined pieces get its fixed high score.
        let max_score = model
            .pieces
            .iter()
            .filter(|p| p.kind == PieceType::Normal)
            .map(|p| p.score)
            .fold(f32::NEG_INFINITY, f32::max);
        let mut vocab = Vec::new();
        let mut unk_id = None;
        for p in &model.pieces {
            match p.kind {
                PieceType::Normal => vocab.push((p.piece.clone(), f64::from(p.score))),
                PieceType::UserDefined => {
                    vocab.push((p.piece.clone(), f64::from(p.piece.len() as f32 * max_score - 0.1)))
                }
                PieceType::Unknown => {
                    unk_id = Some(vocab.len());
                    // score 0 keeps the unknown-character penalty at (lowest normal score - 10), as spm does
                    vocab.push((p.piece.clone(), 0.0));
                }
                _ => {}
            }
        }
        let control = model
            .pieces
            .iter()
            .filter(|p| p.kind == PieceType::Control)
            .map(|p| p.piece.clone())
            .collect();
        let unk_id = unk_id.ok_or_else(|| invalid("SentencePiece model has no <unk> piece".into()))?;
        let unigram = Unigram::from(vocab, Some(unk_id), false).map_err(|e| invalid(e.to_string()))?;
        Ok(Self { normalizer, unigram, control })
    }

    fn pieces(&self, text: &str) -> Result<Vec<String>> {
        let normalized = self.normalizer.normalize(text);
        self.unigram.encode(&normalized).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// SentencePiece `DecodePieces` for pieces that are not special tokens.
    fn decode_pieces(&self, pieces: &[&str]) -> String {
        let mut out = String::new();
        for p in pieces {
            if self.control.contains(*p) {
                continue;
            }
            out.push_str(p);
        }
        out
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    separate_vocabs: bool,
    #[serde(default)]
    clean_up_tokenization_spaces: Option<bool>,
    #[serde(default)]
    unk_token: Option<serde_json::Value>,
    #[serde(default)]
    eos_token: Option<serde_json::Value>,
    #[serde(default)]
    pad_token: Option<serde_json::Value>,
}

fn token_name(v: &Option<serde_json::Value>, default: &str) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => {
            o.get("content").and_then(|c| c.as_str()).unwrap_or(default).to_string()
        }
        _ => default.to_string(),
    }
}

pub struct MarianTokenizer {
    source: SpmSide,
    target: SpmSide,
    encoder: HashMap<String, u32>,
    target_encoder: Option<HashMap<String, u32>>,
    decoder: HashMap<u32, String>,
    unk_token: String,
    special_tokens: Vec<String>,
    special_ids: HashSet<u32>,
    eos_id: u32,
    unk_id: u32,
    pad_id: u32,
    clean_up_tokenization_spaces: bool,
}

fn load_vocab(path: &Path) -> Result<HashMap<String, u32>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::InvalidModelFile {
        path: path.to_path_buf(),
        reason: format!("vocab is not a JSON object of token -> id: {e}"),
    })
}

impl MarianTokenizer {
    /// Build the tokenizer from a model folder in hub layout.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let cfg: TokenizerConfig = match std::fs::read_to_string(dir.join("tokenizer_config.json")) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| Error::InvalidConfig {
                what: "tokenizer config",
                path: dir.join("tokenizer_config.json"),
                reason: e.to_string(),
            })?,
            Err(_) => TokenizerConfig::default(),
        };
        let source = SpmSide::load(&dir.join("source.spm"))?;
        let target = SpmSide::load(&dir.join("target.spm"))?;
        let encoder = load_vocab(&dir.join("vocab.json"))?;
        let target_encoder =
            if cfg.separate_vocabs { Some(load_vocab(&dir.join("target_vocab.json"))?) } else { None };
        let decoder: HashMap<u32, String> =
            target_encoder.as_ref().unwrap_or(&encoder).iter().map(|(k, v)| (*v, k.clone())).collect();

        let unk_token = token_name(&cfg.unk_token, "<unk>");
        let eos_token = token_name(&cfg.eos_token, "</s>");
        let pad_token = token_name(&cfg.pad_token, "<pad>");
        // an empty special token matches everywhere: splitting on it never advanced (out of memory)
        for (field, t) in [("unk_token", &unk_token), ("eos_token", &eos_token), ("pad_token", &pad_token)] {
            if t.is_empty() {
                return Err(Error::InvalidModelFile {
                    path: dir.join("tokenizer_config.json"),
                    reason: format!("{field} is empty"),
                });
            }
        }
        let lookup = |t: &str| {
            encoder.get(t).copied().ok_or_else(|| Error::InvalidModelFile {
                path: dir.join("vocab.json"),
                reason: format!("special token {t} is not in the vocab"),
            })
        };
        let (eos_id, unk_id, pad_id) = (lookup(&eos_token)?, lookup(&unk_token)?, lookup(&pad_token)?);
        let mut special_tokens = vec![eos_token, unk_token.clone(), pad_token];
        // longest first, so that literal matching prefers the longer special token
        special_tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
        Ok(Self {
            source,
            target,
            encoder,
            target_encoder,
            decoder,
            unk_token,
            special_tokens,
            special_ids: [eos_id, unk_id, pad_id].into_iter().collect(),
            eos_id,
            unk_id,
            pad_id,
            clean_up_tokenization_spaces: cfg.clean_up_tokenization_spaces.unwrap_or(false),
        })
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Split around special tokens written literally in the text, as `PreTrainedTokenizer.tokenize` does.
    fn split_special<'a>(&self, text: &'a str) -> Vec<(&'a str, bool)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        let bytes = text.as_bytes();
        while i < bytes.len() {
            if let Some(tok) = self.special_tokens.iter().find(|t| !t.is_empty() && text[i..].starts_with(t.as_str())) {
                if start < i {
                    out.push((&text[start..i], false));
                }
                out.push((&text[i..i + tok.len()], true));
                i += tok.len();
                start = i;
            } else {
                i += text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
            }
        }
        if start < text.len() {
            out.push((&text[start..], false));
        }
        out
    }

    fn tokenize(&self, text: &str, target: bool) -> Result<Vec<String>> {
        let side = if target { &self.target } else { &self.source };
        let mut tokens = Vec::new();
        for (chunk, special) in self.split_special(text) {
            if special {
                tokens.push(chunk.to_string());
                continue;
            }
            let mut chunk = chunk;
            if chunk.starts_with(">>") {
                if let Some(end) = chunk.find("<<") {
                    tokens.push(chunk[..end + 2].to_string());
                    chunk = &chunk[end + 2..];
                }
            }
            tokens.extend(side.pieces(chunk)?);
        }
        Ok(tokens)
    }

    fn ids(&self, tokens: &[String], target: bool) -> Vec<u32> {
        let enc = if target { self.target_encoder.as_ref().unwrap_or(&self.encoder) } else { &self.encoder };
        let unk = enc.get(&self.unk_token).copied().unwrap_or(self.unk_id);
        let mut ids: Vec<u32> = tokens.iter().map(|t| enc.get(t).copied().unwrap_or(unk)).collect();
        ids.push(self.eos_id);
        ids
    }

    /// Source-side ids, ending with `</s>` (what the encoder reads).
    pub fn encode_source(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.ids(&self.tokenize(text, false)?, false))
    }

    /// Target-side ids, ending with `</s>` (what `tokenizer(text_target=...)` gives).
    pub fn encode_target(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.ids(&self.tokenize(text, true)?, true))
    }

    /// Source-side SentencePiece pieces (no `</s>`), for diagnostics.
    pub fn source_pieces(&self, text: &str) -> Result<Vec<String>> {
        self.tokenize(text, false)
    }

    /// Target ids -> text, skipping special tokens, as `tokenizer.decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let tokens: Vec<&str> = ids
            .iter()
            .filter(|id| !(skip_special_tokens && self.special_ids.contains(id)))
            .map(|id| self.decoder.get(id).map(String::as_str).unwrap_or(self.unk_token.as_str()))
            .collect();
        let mut out = String::new();
        let mut sub: Vec<&str> = Vec::new();
        for t in tokens {
            if self.special_tokens.iter().any(|s| s == t) {
                out.push_str(&self.target.decode_pieces(&sub));
                out.push_str(t);
                out.push(' ');
                sub.clear();
            } else {
                sub.push(t);
            }
        }
        out.push_str(&self.target.decode_pieces(&sub));
        let out = out.replace(SPACE_SYMBOL, " ");
        let out = python_strip(&out).to_string();
        if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&out)
        } else {
            out
        }
    }
}

/// Python's `str.isspace()` set, which `str.strip()` uses; it is wider than Rust's `char::is_whitespace`
/// (it includes the information separators U+001C..U+001F).
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn python_strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

/// `PreTrainedTokenizerBase.clean_up_tokenization`, used when a tokenizer config asks for it.
pub(crate) fn clean_up_tokenization(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_strip_matches_str_strip() {
        assert_eq!(python_strip("\u{1f} a b \u{a0}\n"), "a b");
        assert_eq!(python_strip(""), "");
    }
}
