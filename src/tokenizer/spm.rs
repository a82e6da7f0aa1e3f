//! Reading SentencePiece `.spm` model files and reproducing SentencePiece's own normalizer.
//!
//! The `.spm` file is a `ModelProto` protobuf. We parse the few fields we need by hand (pieces, scores,
//! types, trainer and normalizer specs) rather than pulling in a protobuf stack.
//!
//! The normalizer is SentencePiece's `Normalizer::Normalize` (longest-prefix rules from the
//! `precompiled_charsmap` double-array trie, whitespace stripping/collapsing, `▁` escaping and the
//! dummy prefix). `tokenizers`' `Precompiled` normalizer walks grapheme clusters instead, which differs from
//! the C++ library on some inputs, so we do what the C++ code does.
use crate::error::{Error, Result};

pub const SPACE_SYMBOL: char = '\u{2581}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_proto(v: u64) -> Self {
        match v {
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => PieceType::Normal,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

#[derive(Debug, Clone)]
pub struct NormalizerSpec {
    pub name: String,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        // proto2 defaults of sentencepiece_model.proto
        Self {
            name: String::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    /// 1 = unigram, 2 = bpe, 3 = word, 4 = char.
    pub model_type: u64,
    pub byte_fallback: bool,
    pub treat_whitespace_as_suffix: bool,
    pub normalizer: NormalizerSpec,
}

// ---------------------------------------------------------------------------------------------
// Minimal protobuf wire-format reader.

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    /// Next field: (field number, wire type, payload). Payload for varints is the value's bytes position.
    fn field(&mut self) -> Option<(u64, Field<'a>)> {
        let key = self.varint()?;
        let (num, wt) = (key >> 3, key & 7);
        let f = match wt {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed(self.bytes(8)?),
            2 => {
                let n = usize::try_from(self.varint()?).ok()?;
                Field::Bytes(self.bytes(n)?)
            }
            5 => Field::Fixed(self.bytes(4)?),
            _ => return None,
        };
        Some((num, f))
    }
}

enum Field<'a> {
    Varint(u64),
    Fixed(&'a [u8]),
    Bytes(&'a [u8]),
}

impl SpmModel {
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&data).map_err(|reason| Error::InvalidModelFile { path: path.to_path_buf(), reason })
    }

    pub fn from_bytes(data: &[u8]) -> std::result::Result<Self, String> {
        let bad = || "not a SentencePiece model (protobuf does not parse)".to_string();
        let mut model = SpmModel {
            pieces: Vec::new(),
            model_type: 1,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            normalizer: NormalizerSpec::default(),
        };
        let mut r = Reader::new(data);
        while !r.done() {
            let (num, field) = r.field().ok_or_else(bad)?;
            match (num, field) {
                (1, Field::Bytes(b)) => model.pieces.push(parse_piece(b).ok_or_else(bad)?),
                (2, Field::Bytes(b)) => {
                    let mut t = Reader::new(b);
                    while !t.done() {
                        match t.field().ok_or_else(bad)? {
                            (3, Field::Varint(v)) => model.model_type = v,
                            (24, Field::Varint(v)) => model.treat_whitespace_as_suffix = v != 0,
                            (35, Field::Varint(v)) => model.byte_fallback = v != 0,
                            _ => {}
                        }
                    }
                }
                (3, Field::Bytes(b)) => model.normalizer = parse_normalizer(b).ok_or_else(bad)?,
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err("SentencePiece model has no pieces".into());
        }
        if model.model_type != 1 {
            return Err(format!("SentencePiece model type {} is not unigram (the only type Marian uses)", model.model_type));
        }
        Ok(model)
    }

    pub fn unk_piece(&self) -> Option<&str> {
        self.pieces.iter().find(|p| p.kind == PieceType::Unknown).map(|p| p.piece.as_str())
    }
}

fn parse_piece(b: &[u8]) -> Option<Piece> {
    let mut r = Reader::new(b);
    let mut p = Piece { piece: String::new(), score: 0.0, kind: PieceType::Normal };
    while !r.done() {
        match r.field()? {
            (1, Field::Bytes(s)) => p.piece = String::from_utf8(s.to_vec()).ok()?,
            (2, Field::Fixed(f)) if f.len() == 4 => p.score = f32::from_le_bytes([f[0], f[1], f[2], f[3]]),
            (3, Field::Varint(v)) => p.kind = PieceType::from_proto(v),
            _ => {}
        }
    }
    Some(p)
}

fn parse_normalizer(b: &[u8]) -> Option<NormalizerSpec> {
    let mut r = Reader::new(b);
    let mut n = NormalizerSpec::default();
    while !r.done() {
        match r.field()? {
            (1, Field::Bytes(s)) => n.name = String::from_utf8_lossy(s).into_owned(),
            (2, Field::Bytes(s)) => n.precompiled_charsmap = s.to_vec(),
            (3, Field::Varint(v)) => n.add_dummy_prefix = v != 0,
            (4, Field::Varint(v)) => n.remove_extra_whitespaces = v != 0,
            (5, Field::Varint(v)) => n.escape_whitespaces = v != 0,
            _ => {}
        }
    }
    Some(n)
}

// ---------------------------------------------------------------------------------------------
// The normalizer.

/// Darts-clone double array, the trie format of `precompiled_charsmap`.
struct DoubleArray {
    units: Vec<u32>,
}

impl DoubleArray {
    fn has_leaf(u: u32) -> bool {
        (u >> 8) & 1 == 1
    }
    fn value(u: u32) -> u32 {
        u & ((1 << 31) - 1)
    }
    fn label(u: u32) -> u32 {
        u & ((1 << 31) | 0xff)
    }
    fn offset(u: u32) -> usize {
        ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize
    }

    /// Longest prefix of `key` stored in the trie: (length in bytes, value).
    fn longest_prefix(&self, key: &[u8]) -> Option<(usize, u32)> {
        let mut best = None;
        let mut pos = 0usize;
        let unit = *self.units.first()?;
        pos ^= Self::offset(unit);
        for (i, &c) in key.iter().enumerate() {
            if c == 0 {
                break;
            }
            pos ^= c as usize;
            let unit = *self.units.get(pos)?;
            if Self::label(unit) != c as u32 {
                break;
            }
            pos ^= Self::offset(unit);
            if Self::has_leaf(unit) {
                let leaf = *self.units.get(pos)?;
                best = Some((i + 1, Self::value(leaf)));
            }
        }
        best
    }
}

pub struct Normalizer {
    spec: NormalizerSpec,
    trie: Option<DoubleArray>,
    /// NUL-separated replacement strings the trie values point into.
    normalized: Vec<u8>,
    treat_whitespace_as_suffix: bool,
}

impl Normalizer {
    pub fn new(spec: &NormalizerSpec, treat_whitespace_as_suffix: bool) -> std::result::Result<Self, String> {
        let (trie, normalized) = if spec.precompiled_charsmap.is_empty() {
            // An empty charsmap means identity: skip the rules, keep the whitespace handling.
            (None, Vec::new())
        } else {
            let cm = &spec.precompiled_charsmap;
            if cm.len() < 4 {
                return Err("precompiled_charsmap too short".into());
            }
            let trie_size = u32::from_le_bytes([cm[0], cm[1], cm[2], cm[3]]) as usize;
            if trie_size % 4 != 0 || 4 + trie_size > cm.len() {
                return Err("precompiled_charsmap has a bad trie size".into());
            }
            let units = cm[4..4 + trie_size]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (Some(DoubleArray { units }), cm[4 + trie_size..].to_vec())
        };
        Ok(Self { spec: spec.clone(), trie, normalized, treat_whitespace_as_suffix })
    }

    /// One normalization step at the start of `input`: (replacement, bytes consumed).
    fn normalize_prefix<'a>(&'a self, input: &'a str) -> (&'a str, usize) {
        if let Some(trie) = &self.trie {
            if let Some((len, value)) = trie.longest_prefix(input.as_bytes()) {
                let start = value as usize;
                if start <= self.normalized.len() {
                    let rest = &self.normalized[start..];
                    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                    if let Ok(s) = std::str::from_utf8(&rest[..end]) {
                        return (s, len);
                    }
                }
            }
        }
        let len = input.chars().next().map(char::len_utf8).unwrap_or(0);
        (&input[..len], len)
    }

    /// SentencePiece's `Normalizer::Normalize`, without the alignment bookkeeping.
    pub fn normalize(&self, input: &str) -> String {
        let mut input = input;
        let mut out = String::with_capacity(input.len() + 3);
        if self.spec.remove_extra_whitespaces {
            while !input.is_empty() {
                let (s, n) = self.normalize_prefix(input);
                if s != " " {
                    break;
                }
                input = &input[n..];
            }
        }
        if input.is_empty() {
            return out;
        }
        let space = if self.spec.escape_whitespaces { SPACE_SYMBOL.to_string() } else { " ".to_string() };
        if !self.treat_whitespace_as_suffix && self.spec.add_dummy_prefix {
            out.push_str(&space);
        }
        let mut is_prev_space = self.spec.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut s, n) = self.normalize_prefix(input);
            if is_prev_space {
                s = s.trim_start_matches(' ');
            }
            if !s.is_empty() {
                for c in s.chars() {
                    if self.spec.escape_whitespaces && c == ' ' {
                        out.push(SPACE_SYMBOL);
                    } else {
                        out.push(c);
                    }
                }
                is_prev_space = s.ends_with(' ');
            }
            input = &input[n..];
        }
        if self.treat_whitespace_as_suffix && self.spec.add_dummy_prefix {
            out.push_str(&space);
        }
        if self.spec.remove_extra_whitespaces {
            while out.ends_with(space.as_str()) {
                out.truncate(out.len() - space.len());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_normalizer_strips_and_collapses_spaces() {
        let n = Normalizer::new(&NormalizerSpec::default(), false).unwrap();
        assert_eq!(n.normalize("  a   b  "), "\u{2581}a\u{2581}b");
        assert_eq!(n.normalize("   "), "");
        assert_eq!(n.normalize("x"), "\u{2581}x");
        // only U+0020 counts as whitespace without a charsmap
        assert_eq!(n.normalize("a\tb"), "\u{2581}a\tb");
    }

    #[test]
    fn rejects_garbage() {
        assert!(SpmModel::from_bytes(b"\xff\xff\xff").is_err());
        assert!(SpmModel::from_bytes(b"").is_err());
    }
}
