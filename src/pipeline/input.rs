//! Reading articles: bytes → text (encoding detection) → a [`Document`] of blocks (headings, paragraphs,
//! list items) with metadata, boilerplate set aside (and recorded, never silently lost).
//!
//! Text encodings: UTF-8 (with or without BOM), UTF-16 with BOM, and legacy single-byte encodings
//! (Windows-1252/Latin-1 and the like) detected with `chardetng`. Binary and empty files are errors.
//! HTML goes through a readability extraction (`dom_smoothie`) and keeps headings and paragraphs;
//! Markdown keeps its block structure.
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Files larger than this are refused unless the caller raises the limit (a news article is < 1 MB).
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlockKind {
    Paragraph,
    /// Markdown/HTML heading level 1-6.
    Heading { level: u8 },
    /// A list item with its marker (`-`, `*`, `1.`).
    ListItem { marker: String },
    Quote,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    #[serde(flatten)]
    pub kind: BlockKind,
    pub text: String,
    /// What separated this block from the next in the input ("\n\n", "\n"), so output keeps the layout.
    pub separator: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub text: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    /// From the ` date YYYY-MM ` marker some sources put before the text.
    pub date: Option<String>,
    pub title: Option<String>,
    /// A place named before the first sentence ("Düsseldorf"), kept apart from the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dateline: Option<String>,
    pub encoding: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Document {
    pub name: String,
    pub format: Format,
    pub meta: Metadata,
    pub blocks: Vec<Block>,
    /// Text kept out of the translation (boilerplate), with the reason.
    pub dropped: Vec<Dropped>,
    /// What the reader of the output should know about the input (e.g. invalid bytes replaced).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Document {
    pub fn text(&self) -> String {
        self.blocks.iter().map(|b| b.text.as_str()).collect::<Vec<_>>().join("\n\n")
    }
}

fn input_err(name: &str, reason: impl Into<String>) -> Error {
    Error::Input { path: name.to_string(), reason: reason.into() }
}

/// Decoded text, its encoding's name, and what a reader should know about the decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: String,
    /// E.g. invalid bytes replaced in an otherwise UTF-8 file.
    pub warnings: Vec<String>,
}

/// Decode bytes to text; returns the text and the encoding's name.
pub fn decode(name: &str, bytes: &[u8]) -> Result<(String, String)> {
    decode_text(name, bytes).map(|d| (d.text, d.encoding))
}

/// UTF-8 with a few invalid sequences: (valid multi-byte characters, runs of invalid bytes). A legacy
/// single-byte file (windows-1252 "Straße") has no valid multi-byte characters at all, because each
/// accented letter is one byte >= 0x80 followed by ASCII; a UTF-8 file with a stray byte has many. A
/// stray byte inside a multi-byte character makes up to four invalid sequences in a row; they count as
/// one run (found by tests/fuzz.rs).
fn utf8_quality(bytes: &[u8]) -> (usize, usize) {
    let (mut multibyte, mut runs, mut in_run) = (0, 0, false);
    for chunk in bytes.utf8_chunks() {
        multibyte += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.valid().is_empty() {
            in_run = false;
        }
        if !chunk.invalid().is_empty() {
            if !in_run {
                runs += 1;
            }
            in_run = true;
        }
    }
    (multibyte, runs)
}

/// [`decode`], with warnings: a file that is UTF-8 but for a few invalid bytes is decoded as UTF-8
/// with U+FFFD in their place (and a warning), not whole as windows-1252 (which garbles every umlaut).
pub fn decode_text(name: &str, bytes: &[u8]) -> Result<Decoded> {
    let mut warnings = Vec::new();
    if bytes.is_empty() {
        return Err(input_err(name, "empty file"));
    }
    let (text, enc) = if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        (String::from_utf8(rest.to_vec()).map_err(|_| input_err(name, "starts with a UTF-8 BOM but is not valid UTF-8"))?, "UTF-8")
    } else if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
        let enc = if bytes[0] == 0xff { encoding_rs::UTF_16LE } else { encoding_rs::UTF_16BE };
        let (t, _, errors) = enc.decode(bytes);
        if errors {
            return Err(input_err(name, format!("invalid {} text", enc.name())));
        }
        (t.into_owned(), enc.name())
    } else {
        if bytes.contains(&0) {
            return Err(input_err(name, "binary file (contains NUL bytes); expected text, Markdown or HTML"));
        }
        match std::str::from_utf8(bytes) {
            Ok(t) => (t.to_string(), "UTF-8"),
            Err(_) if { let (multibyte, invalid) = utf8_quality(bytes); multibyte > invalid } => {
                let (_, invalid) = utf8_quality(bytes);
                warnings.push(format!("not valid UTF-8: {invalid} invalid byte sequence(s) replaced with U+FFFD (the rest is UTF-8)"));
                (String::from_utf8_lossy(bytes).into_owned(), "UTF-8")
            }
            Err(_) => {
                let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                det.feed(bytes, true);
                let enc = det.guess(None, chardetng::Utf8Detection::Allow);
                let (t, _, errors) = enc.decode(bytes);
                if errors {
                    return Err(input_err(name, format!("not valid UTF-8 and not decodable as {}", enc.name())));
                }
                (t.into_owned(), enc.name())
            }
        }
    };
    // control characters other than whitespace mean this is not prose
    let total = text.chars().count().max(1);
    let control = text.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}')).count();
    if control * 20 > total {
        return Err(input_err(name, format!("binary file ({control} control characters in {total})")));
    }
    if text.trim().is_empty() {
        return Err(input_err(name, "no text (only whitespace)"));
    }
    Ok(Decoded { text, encoding: enc.to_string(), warnings })
}

pub fn detect_format(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html" | "htm" | "xhtml") => Format::Html,
        Some("md" | "markdown") => Format::Markdown,
        _ => {
            let head: String = text.trim_start().chars().take(200).collect::<String>().to_ascii_lowercase();
            if head.starts_with("<!doctype html") || head.starts_with("<html") {
                Format::Html
            } else {
                Format::Text
            }
        }
    }
}

/// Read and parse one file.
pub fn read_document(path: &Path, max_bytes: u64) -> Result<Document> {
    let src = Source::file(path);
    src.document_from_bytes(&src.read_bytes(max_bytes)?)
}

/// Parse decoded text into a document.
pub fn parse_document(name: &str, text: &str, format: Format, encoding: String) -> Result<Document> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut meta = Metadata { encoding, ..Default::default() };
    let mut dropped = Vec::new();
    let body = match format {
        Format::Html => {
            let (title, md) = html_to_markdown(name, &text)?;
            meta.title = title;
            md
        }
        _ => text,
    };
    let body = take_date_marker(&body, &mut meta);
    let mut blocks = match format {
        Format::Text => text_blocks(&body),
        Format::Markdown | Format::Html => markdown_blocks(&body),
    };
    drop_boilerplate(&mut blocks, &mut dropped);
    if blocks.is_empty() {
        return Err(input_err(name, "no article text found"));
    }
    if meta.title.is_none() {
        meta.title = blocks.iter().find(|b| matches!(b.kind, BlockKind::Heading { .. })).map(|b| b.text.clone());
    }
    if let Some(first) = blocks.first_mut() {
        if let Some((place, rest)) = split_dateline(&first.text) {
            meta.dateline = Some(place.to_string());
            first.text = rest.to_string();
        }
    }
    Ok(Document { name: name.to_string(), format, meta, blocks, dropped, warnings: Vec::new() })
}

/// Words that open a German, Dutch or English sentence with a capital, which in the middle of one
/// they would not have: after a place name they show that the place is a dateline.
const SENTENCE_OPENERS: &[&str] = &[
    "In", "Im", "Am", "Der", "Die", "Das", "Ein", "Eine", "Nach", "Mit", "Bei", "Seit", "Wie", "Wer", "Was", "Es", "Er", "Sie",
    "De", "Het", "Een", "Na", "Bij", "Met", "Op", "The", "A", "An", "After", "On", "At",
];

/// A dateline before the first sentence: one capitalised word (a place, "Düsseldorf") and then a word
/// that only opens sentences capitalised ("In Russland steht …"). Returns the place and the rest.
fn split_dateline(text: &str) -> Option<(&str, &str)> {
    let (place, rest) = text.split_once(' ')?;
    let next = rest.split_whitespace().next()?;
    let is_place = place.chars().count() >= 3
        && place.chars().next().is_some_and(char::is_uppercase)
        && place.chars().all(|c| c.is_alphabetic() || c == '-')
        && place.chars().skip(1).all(|c| !c.is_uppercase() || c == '-');
    (is_place && SENTENCE_OPENERS.contains(&next) && rest.split_whitespace().count() >= 4).then(|| (place, rest.trim_start()))
}

/// ` date 2022-04 ` at the very start is metadata, not text.
fn take_date_marker(text: &str, meta: &mut Metadata) -> String {
    let t = text.trim_start();
    if let Some(rest) = t.strip_prefix("date ") {
        let date: String = rest.chars().take(7).collect();
        let b = date.as_bytes();
        if date.len() == 7 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5..].iter().all(u8::is_ascii_digit) {
            meta.date = Some(date);
            return rest[7..].trim_start().to_string();
        }
    }
    text.to_string()
}

/// Plain text: blank lines separate blocks. A block whose lines look hard-wrapped (three or more lines
/// of similar length up to 100 characters, none repeated) is one paragraph with its lines joined;
/// otherwise every line is a paragraph of its own (news exports often use single line breaks).
fn text_blocks(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut group: Vec<&str> = Vec::new();
    let flush = |group: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if group.is_empty() {
            return;
        }
        let lens: Vec<usize> = group.iter().map(|l| l.trim().chars().count()).collect();
        let width = lens.iter().copied().max().unwrap_or(0);
        let wrapped = group.len() >= 3
            && (40..=100).contains(&width)
            && lens[..lens.len() - 1].iter().all(|&n| n * 10 >= width * 7)
            && group.windows(2).all(|w| w[0].trim() != w[1].trim());
        if wrapped {
            // a headline on the first line (or after a sentence's end) stays a paragraph of its own
            for run in headline_runs(group) {
                let t = run.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                blocks.push(Block { kind: BlockKind::Paragraph, text: t, separator: "\n".into() });
            }
            if let Some(b) = blocks.last_mut() {
                b.separator = "\n\n".into();
            }
        } else {
            for l in group.iter() {
                blocks.push(Block { kind: BlockKind::Paragraph, text: l.trim().to_string(), separator: "\n".into() });
            }
            if let Some(b) = blocks.last_mut() {
                b.separator = "\n\n".into();
            }
        }
        group.clear();
    };
    for line in text.split('\n') {
        if line.trim().is_empty() {
            flush(&mut group, &mut blocks);
        } else {
            group.push(line);
        }
    }
    flush(&mut group, &mut blocks);
    if let Some(b) = blocks.last_mut() {
        b.separator = "\n".into();
    }
    blocks
}

/// Words a headline does not end on (the line would go on in the next).
const CONTINUES: &[&str] = &[
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "und", "oder", "von", "mit", "für", "in",
    "im", "am", "an", "auf", "zu", "zum", "zur", "bei", "nach", "aus", "über", "vor", "als", "dass", "de", "het", "een", "en",
    "of", "van", "met", "voor", "op", "aan", "naar", "uit", "te", "dat", "the", "a", "an", "and", "or", "of", "with", "for",
    "on", "at", "to", "by", "from", "that",
];

/// The lines of a paragraph cut before and after headlines: a line without final punctuation, of at
/// most 12 words, shorter than 85 % of the paragraph's longest line, not ending on a comma or a word
/// that goes on ("und", "van", "the"), first in the paragraph or after a sentence's end, and followed by
/// a line that opens with a capital, digit or quote. Hard-wrapped prose fills its lines to the width,
/// so only a title line is that short before a capital; joined with the text after it, it would be
/// translated as the start of that sentence ("Russia needs more internet access, not less Axing …").
fn headline_runs<'a, 'b>(lines: &'b [&'a str]) -> Vec<&'b [&'a str]> {
    let width = lines.iter().map(|l| l.trim().chars().count()).max().unwrap_or(0);
    let ends_sentence = |l: &str| l.trim_end().trim_end_matches(['"', '\'', '”', '“', '»', '«', ')']).ends_with(['.', '!', '?', ':']);
    let mut out = Vec::new();
    let mut from = 0;
    for i in 0..lines.len().saturating_sub(1) {
        let line = lines[i].trim();
        let next = lines[i + 1].trim_start();
        let after_end = i == from || (i > 0 && ends_sentence(lines[i - 1]));
        let last_word = line.rsplit(char::is_whitespace).next().unwrap_or("").to_lowercase();
        let headline = after_end
            && !line.is_empty()
            && line.split_whitespace().count() <= 12
            && line.chars().count() * 100 < width * 85
            && !line.ends_with(['.', '!', '?', ':', ',', ';', '-', '–', '—', '(', '/', '&', '…'])
            && !CONTINUES.contains(&last_word.as_str())
            && next.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '„' | '“' | '»' | '\''));
        if headline {
            if i > from {
                out.push(&lines[from..i]);
            }
            out.push(&lines[i..i + 1]);
            from = i + 1;
        }
    }
    if from < lines.len() {
        out.push(&lines[from..]);
    }
    out
}

/// Markdown block structure: ATX headings, list items, block quotes, paragraphs (lines joined).
fn markdown_blocks(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        for run in headline_runs(para) {
            let t = run.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
            blocks.push(Block { kind: BlockKind::Paragraph, text: t, separator: "\n\n".into() });
        }
        para.clear();
    };
    for line in text.split('\n') {
        let t = line.trim();
        if t.is_empty() {
            flush(&mut para, &mut blocks);
            continue;
        }
        let hashes = t.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            flush(&mut para, &mut blocks);
            let text = t[hashes..].trim().trim_end_matches('#').trim().to_string();
            blocks.push(Block { kind: BlockKind::Heading { level: hashes as u8 }, text, separator: "\n\n".into() });
            continue;
        }
        let marker = list_marker(t);
        if let Some(m) = marker {
            flush(&mut para, &mut blocks);
            let text = t[m.len()..].trim().to_string();
            blocks.push(Block { kind: BlockKind::ListItem { marker: m.to_string() }, text, separator: "\n".into() });
            continue;
        }
        if let Some(q) = t.strip_prefix('>') {
            flush(&mut para, &mut blocks);
            blocks.push(Block { kind: BlockKind::Quote, text: q.trim().to_string(), separator: "\n\n".into() });
            continue;
        }
        para.push(t);
    }
    flush(&mut para, &mut blocks);
    // a list ends with a blank line
    for i in 0..blocks.len() {
        let next_is_item = blocks.get(i + 1).map(|b| matches!(b.kind, BlockKind::ListItem { .. })).unwrap_or(false);
        if matches!(blocks[i].kind, BlockKind::ListItem { .. }) && !next_is_item {
            blocks[i].separator = "\n\n".into();
        }
    }
    if let Some(b) = blocks.last_mut() {
        b.separator = "\n".into();
    }
    blocks.retain(|b| !b.text.is_empty());
    blocks
}

fn list_marker(t: &str) -> Option<&str> {
    for m in ["- ", "* ", "+ "] {
        if t.starts_with(m) {
            return Some(&t[..1]);
        }
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 4 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") ")) {
        return Some(&t[..digits + 1]);
    }
    None
}

/// Deepest element nesting readability is given. Its tree walks cost about 25 ns per element per level
/// of depth (measured: 160k elements 100 deep 0.8 s, 400 deep 1.8 s; a single chain of 1,000 / 2,000 /
/// 4,000 divs 0.27 / 1.0 / 4.1 s, 10,000 took 21 s), so depth is what makes a hostile page slow. 512 is
/// Blink's own limit on parser tree depth; real article pages stay under 60.
pub const MAX_HTML_DEPTH: usize = 512;
/// Most work (the sum over elements of their depth) readability is given: 64 M is about 2 s.
pub const MAX_HTML_WORK: u64 = 64_000_000;

/// Elements whose end tag may be left out (the parser closes them): they do not nest when unclosed.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rp", "rt", "thead", "tbody", "tfoot", "colgroup", "caption",
    "head", "body", "html",
];
/// Elements that never have content.
const VOID: &[&str] = &["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"];

/// (deepest nesting, sum of element depths) of an HTML text, by a linear scan of its tags: an upper bound
/// of what the parser builds, computed before any parsing so that the bound costs nothing.
pub fn html_nesting(html: &str) -> (usize, u64) {
    let b = html.as_bytes();
    let (mut depth, mut deepest, mut work) = (0usize, 0usize, 0u64);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off + 1;
        if b[i..].starts_with(b"!--") {
            i = html[i..].find("-->").map(|e| i + e + 3).unwrap_or(b.len());
            continue;
        }
        let closing = b.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let len = b[start..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        if len == 0 || !b[start].is_ascii_alphabetic() {
            continue; // "a < b", "<!doctype", "<?xml"
        }
        let name = html[start..start + len].to_ascii_lowercase();
        let end = b[start..].iter().position(|&c| c == b'>').map(|e| start + e).unwrap_or(b.len());
        i = end.min(b.len());
        if OPTIONAL_END.contains(&name.as_str()) || VOID.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if b[..end].ends_with(b"/") {
            // self-closing: no content
        } else if matches!(name.as_str(), "script" | "style" | "textarea" | "title") {
            // raw text: skip to the end tag
            let close = format!("</{name}");
            i = b[i..].windows(close.len()).position(|w| w.eq_ignore_ascii_case(close.as_bytes())).map(|e| i + e).unwrap_or(b.len());
        } else {
            depth += 1;
            deepest = deepest.max(depth);
            work += depth as u64;
        }
    }
    (deepest, work)
}

/// Readability extraction; the article comes back as Markdown so headings and paragraphs survive.
/// Pages nested deeper than [`MAX_HTML_DEPTH`] or bigger than [`MAX_HTML_WORK`] are refused before
/// parsing: bounded work per file.
fn html_to_markdown(name: &str, html: &str) -> Result<(Option<String>, String)> {
    let (depth, work) = html_nesting(html);
    if depth > MAX_HTML_DEPTH {
        return Err(input_err(name, format!("HTML nests elements {depth} deep (the limit is {MAX_HTML_DEPTH}); not an article page")));
    }
    if work > MAX_HTML_WORK {
        return Err(input_err(name, format!("HTML too deeply nested for its size ({work} element-levels, the limit is {MAX_HTML_WORK})")));
    }
    let cfg = dom_smoothie::Config { text_mode: dom_smoothie::TextMode::Markdown, ..Default::default() };
    let mut r = dom_smoothie::Readability::new(html, None, Some(cfg)).map_err(|e| input_err(name, format!("HTML: {e}")))?;
    let article = r.parse().map_err(|e| input_err(name, format!("no article found in the HTML ({e})")))?;
    let title = Some(article.title.to_string()).filter(|t| !t.trim().is_empty());
    Ok((title, article.text_content.to_string()))
}

/// Boilerplate phrases that end (or open) news pages, in the languages we read.
const TRAILER_HEADS: &[&str] = &[
    "more about", "send us news", "other stories you might like", "related stories", "read more", "about the author",
    "mehr zum thema", "lesen sie auch", "über den autor", "über", "weitere artikel", "das könnte sie auch interessieren",
    "meer over", "lees ook", "over de auteur", "gerelateerde artikelen",
];
const CREDIT_PREFIXES: &[&str] = &[
    "bildquelle:", "foto:", "fotos:", "image:", "photo:", "credit:", "beeld:", "bild:", "image source:", "photo credit:", "picture:",
    "source image:", "beeldbron:", "fotograaf:",
];

fn drop_boilerplate(blocks: &mut Vec<Block>, dropped: &mut Vec<Dropped>) {
    let norm = |s: &str| s.trim().trim_end_matches(':').to_lowercase();
    // leading "This article is more than N years old"
    if let Some(b) = blocks.first() {
        let t = b.text.to_lowercase();
        if t.starts_with("this article is more than") && t.ends_with("old") {
            dropped.push(Dropped { text: b.text.clone(), reason: "page notice".into() });
            blocks.remove(0);
        }
    }
    // image credits and captions repeated verbatim
    let mut i = 0;
    while i < blocks.len() {
        let t = blocks[i].text.to_lowercase();
        let credit = CREDIT_PREFIXES.iter().any(|p| t.starts_with(p)) && blocks[i].text.chars().count() < 200;
        let repeated = i > 0 && blocks[i].text == blocks[i - 1].text;
        if credit || repeated {
            let reason = if credit { "image credit" } else { "repeated line (caption)" };
            dropped.push(Dropped { text: blocks[i].text.clone(), reason: reason.into() });
            blocks.remove(i);
            // a caption repeated (image alt text, then its caption) is page furniture both times: the
            // first copy is no headline either (seed 001's title was its photo caption)
            if repeated {
                let first = blocks.remove(i - 1);
                dropped.push(Dropped { text: first.text, reason: "image caption".into() });
                i -= 1;
            }
        } else {
            i += 1;
        }
    }
    // trailing boilerplate: from the first short trailer heading in the second half to the end
    let n = blocks.len();
    let from = n / 2;
    if let Some(start) = (from..n).find(|&i| {
        let t = norm(&blocks[i].text);
        blocks[i].text.chars().count() < 60 && TRAILER_HEADS.iter().any(|h| t == *h)
    }) {
        // a site name line just before the trailer ("Tarnkappe.info") goes with it
        let start = if start > 0 && is_site_name(&blocks[start - 1].text) { start - 1 } else { start };
        for b in blocks.drain(start..) {
            dropped.push(Dropped { text: b.text, reason: "trailing boilerplate".into() });
        }
    }
}

fn is_site_name(t: &str) -> bool {
    let t = t.trim();
    !t.contains(' ') && t.contains('.') && t.len() < 40 && !t.ends_with('.')
}

// ---------------------------------------------------------------------------------------------
// Finding inputs

/// An input file (or stdin) found on the command line.
#[derive(Debug, Clone)]
pub enum Source {
    Stdin,
    /// A file, and the stem its outputs are named by (its file stem, unless another input shares it).
    File { path: PathBuf, stem: String },
    /// A file or folder that was found but cannot be read (an unreadable subfolder): reported as a failed
    /// input, never skipped silently.
    Unreadable { path: PathBuf, reason: String },
}

/// A path as outputs show it: control characters (a newline in a file name) escaped, so they cannot
/// break a Markdown heading or a list.
fn display_name(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.chars().any(char::is_control) {
        return s;
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// The file stem, with control characters replaced (it names output files).
fn file_stem(p: &Path) -> String {
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into());
    stem.chars().map(|c| if c.is_control() { '_' } else { c }).collect()
}

impl Source {
    /// A file input named by its own stem.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Source::File { stem: file_stem(&path), path }
    }

    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".into(),
            Source::File { path, .. } | Source::Unreadable { path, .. } => display_name(path),
        }
    }
    pub fn stem(&self) -> String {
        match self {
            Source::Stdin => "stdin".into(),
            Source::File { stem, .. } => stem.clone(),
            Source::Unreadable { path, .. } => file_stem(path),
        }
    }
    /// The file's own stem, whatever its outputs are called (the key of its record, stable when another
    /// input with the same stem comes or goes).
    pub fn base_stem(&self) -> String {
        match self {
            Source::Stdin => "stdin".into(),
            Source::File { path, .. } | Source::Unreadable { path, .. } => file_stem(path),
        }
    }
    /// The input's bytes, read once: a file must be a regular file within `max_bytes`. The size and type
    /// are checked before the file is opened (so a FIFO, /dev/zero or a 2 GB file costs nothing), then
    /// again on the open handle (opened non-blocking, so a file swapped for a FIFO in between cannot
    /// block), and no read takes more than `max_bytes + 1` bytes.
    pub fn read_bytes(&self, max_bytes: u64) -> Result<Vec<u8>> {
        let name = self.name();
        let mut bytes = Vec::new();
        match self {
            Source::Stdin => {
                std::io::stdin().take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| Error::io("<stdin>", e))?;
            }
            Source::Unreadable { reason, .. } => return Err(input_err(&name, reason.clone())),
            Source::File { path: p, .. } => {
                let check = |meta: &std::fs::Metadata| -> Result<()> {
                    if !meta.is_file() {
                        return Err(input_err(&name, "not a regular file"));
                    }
                    if meta.len() > max_bytes {
                        return Err(input_err(&name, format!("file is {} bytes, over the {max_bytes}-byte limit (--max-input-bytes)", meta.len())));
                    }
                    Ok(())
                };
                check(&std::fs::metadata(p).map_err(|e| Error::io(p, e))?)?;
                let mut open = std::fs::OpenOptions::new();
                open.read(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    open.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
                }
                let f = open.open(p).map_err(|e| Error::io(p, e))?;
                check(&f.metadata().map_err(|e| Error::io(p, e))?)?;
                f.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| Error::io(p, e))?;
            }
        }
        if bytes.len() as u64 > max_bytes {
            return Err(Error::Input { path: name, reason: format!("over the {max_bytes}-byte limit (--max-input-bytes)") });
        }
        Ok(bytes)
    }

    /// Parse the input's bytes (from [`read_bytes`](Self::read_bytes)) as an article.
    pub fn document_from_bytes(&self, bytes: &[u8]) -> Result<Document> {
        let name = self.name();
        let d = decode_text(&name, bytes)?;
        let path = match self {
            Source::File { path, .. } | Source::Unreadable { path, .. } => path.as_path(),
            Source::Stdin => Path::new("stdin"),
        };
        let mut doc = parse_document(&name, &d.text, detect_format(path, &d.text), d.encoding)?;
        doc.warnings = d.warnings;
        Ok(doc)
    }

    /// Decoded text without any parsing (for `--lines`).
    pub fn raw_text(&self, max_bytes: u64) -> Result<String> {
        Ok(decode(&self.name(), &self.read_bytes(max_bytes)?)?.0)
    }
}

/// What the command line named, found: the inputs (each file once), and notes on what was left out.
#[derive(Debug, Default)]
pub struct Inputs {
    pub sources: Vec<Source>,
    /// Files named twice (under two spellings, through a link), symlink loops, the output folder inside
    /// an input folder, outputs renamed because two inputs share a stem: one line each.
    pub notes: Vec<String>,
}

const EXTENSIONS: &[&str] = &["txt", "md", "markdown", "html", "htm"];

fn has_input_extension(p: &Path) -> bool {
    p.extension().and_then(|x| x.to_str()).map(str::to_ascii_lowercase).is_some_and(|x| EXTENSIONS.contains(&x.as_str()))
}

/// A folder's own documentation (README.md, LICENSE.txt, CHANGELOG.md, ...): not an article. `brief
/// seeds/` read the seeds' README.md as a sixth article and summarized it; named on the command line,
/// such a file is read.
fn is_folder_documentation(p: &Path) -> bool {
    const NAMES: &[&str] = &["readme", "license", "licence", "changelog", "contributing", "notice", "authors", "copying"];
    p.file_stem().and_then(|x| x.to_str()).is_some_and(|stem| NAMES.contains(&stem.to_ascii_lowercase().as_str()))
}

/// The walk over the command line's inputs.
struct Walk {
    /// Canonical path of every file taken → the name it was taken under.
    files: std::collections::HashMap<PathBuf, String>,
    /// Canonical path of every folder walked (a link back to one is a loop, or a second spelling).
    dirs: std::collections::HashSet<PathBuf>,
    /// Canonical folders never read (the output folders).
    exclude: Vec<PathBuf>,
    out: Inputs,
}

impl Walk {
    fn excluded(&self, canonical: &Path) -> bool {
        self.exclude.iter().any(|x| canonical.starts_with(x))
    }

    /// Take a file once: its canonical path decides whether it was already taken.
    fn take_file(&mut self, p: PathBuf) {
        let Ok(canonical) = std::fs::canonicalize(&p) else {
            // missing or a dangling link: reading it reports why
            self.out.sources.push(Source::file(p));
            return;
        };
        if self.excluded(&canonical) {
            self.out.notes.push(format!("skipped {}: it is inside the output folder", display_name(&p)));
            return;
        }
        match self.files.get(&canonical) {
            Some(first) => self.out.notes.push(format!("{} is the same file as {first}; read once", display_name(&p))),
            None => {
                self.files.insert(canonical, display_name(&p));
                self.out.sources.push(Source::file(p));
            }
        }
    }

    /// Walk a folder (recursively, hidden entries skipped, files in path order), unless it was walked
    /// already (a symlink loop, a second spelling) or is an output folder.
    fn walk_dir(&mut self, dir: &Path) {
        let canonical = match std::fs::canonicalize(dir) {
            Ok(c) => c,
            Err(e) => {
                self.out.sources.push(Source::Unreadable { path: dir.to_path_buf(), reason: format!("folder cannot be read ({e})") });
                return;
            }
        };
        if self.excluded(&canonical) {
            self.out.notes.push(format!("skipped {}: it is the output folder", display_name(dir)));
            return;
        }
        if !self.dirs.insert(canonical) {
            self.out.notes.push(format!("skipped {}: a folder already read (a symlink loop or a second spelling)", display_name(dir)));
            return;
        }
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.out.sources.push(Source::Unreadable { path: dir.to_path_buf(), reason: format!("folder cannot be read ({e})") });
                return;
            }
        };
        let mut entries: Vec<PathBuf> = Vec::new();
        for e in rd {
            match e {
                Ok(e) => entries.push(e.path()),
                Err(e) => self.out.sources.push(Source::Unreadable { path: dir.to_path_buf(), reason: format!("folder listing failed ({e})") }),
            }
        }
        entries.sort();
        for p in entries {
            let hidden = p.file_name().map(|n| n.to_string_lossy().starts_with('.')).unwrap_or(false);
            if hidden {
                continue;
            }
            if p.is_dir() {
                self.walk_dir(&p);
            } else if has_input_extension(&p) {
                if is_folder_documentation(&p) {
                    self.out.notes.push(format!("skipped {}: a folder's README or LICENSE is not an article (name it to read it)", display_name(&p)));
                } else {
                    self.take_file(p);
                }
            }
        }
    }
}

/// Files, folders (recursive; .txt, .md, .html; hidden files and a folder's README/LICENSE skipped)
/// and `-`, each file once: a file
/// named twice (`seeds/` and `./seeds/x.txt`) or reached through a link is read once, a symlink loop is
/// walked once, folders in `exclude` (the output folder) are never read, an unreadable folder is a failed
/// input. Two inputs with the same stem (`a/x.txt`, `b/x.txt`, `x.md`) get outputs named
/// `<stem>-<hash of the path>` so neither overwrites the other.
pub fn collect_inputs(specs: &[String], exclude: &[PathBuf]) -> Inputs {
    let mut w = Walk {
        files: Default::default(),
        dirs: Default::default(),
        exclude: exclude.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect(),
        out: Inputs::default(),
    };
    let mut stdin = false;
    for s in specs {
        if s == "-" {
            if !std::mem::replace(&mut stdin, true) {
                w.out.sources.push(Source::Stdin);
            }
            continue;
        }
        let p = Path::new(s);
        if p.is_dir() {
            w.walk_dir(p);
        } else {
            w.take_file(p.to_path_buf());
        }
    }
    let mut out = w.out;
    disambiguate_stems(&mut out);
    out
}

/// Inputs sharing a stem (case-insensitively: `X.txt` and `x.md` collide on macOS) would write the same
/// output files; each of them gets `<stem>-<8 hex digits of its path's sha256>` instead.
fn disambiguate_stems(inputs: &mut Inputs) {
    let mut count: std::collections::HashMap<String, usize> = Default::default();
    for s in &inputs.sources {
        *count.entry(s.stem().to_lowercase()).or_default() += 1;
    }
    for s in inputs.sources.iter_mut() {
        let name = s.name();
        if let Source::File { stem, .. } = s {
            if count.get(&stem.to_lowercase()).copied().unwrap_or(0) > 1 {
                let renamed = format!("{stem}-{}", &crate::hash::sha256_hex(name.as_bytes())[..8]);
                inputs.notes.push(format!("{name} shares the name '{stem}' with another input; its outputs are named {renamed}.*"));
                *stem = renamed;
            }
        }
    }
}

/// [`collect_inputs`] without exclusions, notes dropped.
pub fn collect_sources(specs: &[String]) -> Vec<Source> {
    collect_inputs(specs, &[]).sources
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_detected() {
        let s = "Größere Brücken über die Maas – „schön“ für 12 €";
        assert_eq!(decode("x", s.as_bytes()).unwrap(), (s.to_string(), "UTF-8".into()));
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(s.as_bytes());
        assert_eq!(decode("x", &bom).unwrap().0, s);
        let (u16le, _, _) = encoding_rs::UTF_16LE.encode(s);
        let mut b = b"\xff\xfe".to_vec();
        // encoding_rs encodes UTF-16 as UTF-8; build the bytes by hand
        let _ = u16le;
        for u in s.encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode("x", &b).unwrap().0, s);
        let latin = "Die Straße über Köln bleibt gesperrt, sagte der Bürgermeister.";
        let (w1252, _, _) = encoding_rs::WINDOWS_1252.encode(latin);
        let (t, enc) = decode("x", &w1252).unwrap();
        assert_eq!(t, latin);
        assert_eq!(enc, "windows-1252");
    }

    #[test]
    fn binary_and_empty_are_errors() {
        assert!(decode("x", b"").unwrap_err().to_string().contains("empty"));
        assert!(decode("x", b" \n\t ").unwrap_err().to_string().contains("only whitespace"));
        assert!(decode("x", b"\x7fELF\x02\x01\x01\x00\x00").unwrap_err().to_string().contains("binary"));
        let noisy: Vec<u8> = (1u8..32).cycle().take(400).collect();
        assert!(decode("x", &noisy).unwrap_err().to_string().contains("binary"));
    }

    #[test]
    fn datelines_and_repeated_captions_are_not_text() {
        let d = parse_document("a", " date 2022-04 Düsseldorf In Russland steht die Software eines Konzerns.\n\nZweiter Absatz hier.", Format::Text, "UTF-8".into()).unwrap();
        assert_eq!(d.meta.dateline.as_deref(), Some("Düsseldorf"));
        assert_eq!(d.blocks[0].text, "In Russland steht die Software eines Konzerns.");
        let d = parse_document("a", "Cloudflare meldet einen Umsatz.\n\nNoch ein Satz.", Format::Text, "UTF-8".into()).unwrap();
        assert_eq!(d.meta.dateline, None, "a subject is no dateline");
        let t = "Ein Smartphone mit einer App\nEin Smartphone mit einer App\nBildquelle: Agentur\n\nDie echte Schlagzeile\n\nDer erste Satz des Artikels steht hier.";
        let d = parse_document("a", t, Format::Text, "UTF-8".into()).unwrap();
        assert_eq!(d.blocks[0].text, "Die echte Schlagzeile");
        assert_eq!(d.dropped.len(), 3);
    }

    #[test]
    fn date_marker_becomes_metadata() {
        let d = parse_document("a", " date 2022-04 Düsseldorf In Russland steht.\n\nZweiter Absatz.", Format::Text, "UTF-8".into()).unwrap();
        assert_eq!(d.meta.date.as_deref(), Some("2022-04"));
        assert_eq!(d.blocks[0].text, "Düsseldorf In Russland steht.");
        assert_eq!(d.blocks.len(), 2);
    }

    #[test]
    fn text_paragraphs_and_hard_wraps() {
        let t = "Erste Zeile eines langen Absatzes, der hart\numbrochen wurde und weitergeht bis zum Ende\ndes Absatzes, der hier schliesslich aufhoert.\n\nEine Zeile.\nNoch eine Zeile.\n\nDritter.";
        let blocks = text_blocks(t);
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, vec![
            "Erste Zeile eines langen Absatzes, der hart umbrochen wurde und weitergeht bis zum Ende des Absatzes, der hier schliesslich aufhoert.",
            "Eine Zeile.",
            "Noch eine Zeile.",
            "Dritter.",
        ]);
        assert_eq!(blocks[0].separator, "\n\n");
        assert_eq!(blocks[1].separator, "\n");
        assert_eq!(blocks[2].separator, "\n\n");
        // repeated caption lines are never joined as a wrap
        let cap = "Ein Bild mit einer Unterschrift, die lang genug ist\nEin Bild mit einer Unterschrift, die lang genug ist\nBildquelle: Agentur";
        assert_eq!(text_blocks(cap).len(), 3);
    }

    #[test]
    fn a_headline_above_wrapped_text_stays_its_own_paragraph() {
        // seed 004's subheading, hard-wrapped with the paragraph under it
        let t = "Russia needs more internet access, not less\nAxing its services in Russia \"would do little to harm\nthe Russian government,\" and would instead limit access\nto outside news, Prince continued.";
        let texts: Vec<String> = text_blocks(t).into_iter().map(|b| b.text).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert_eq!(texts[0], "Russia needs more internet access, not less");
        assert!(texts[1].starts_with("Axing its services"));
        let md: Vec<String> = markdown_blocks("Keine Zensur von Inhalten\nScheuer und Seifert sprechen auch über das Geschäftsmodell des Konzerns.").into_iter().map(|b| b.text).collect();
        assert_eq!(md, vec!["Keine Zensur von Inhalten", "Scheuer und Seifert sprechen auch über das Geschäftsmodell des Konzerns."]);
        // hard-wrapped prose whose lines break before a capitalised noun is not cut
        let prose = "Die Bundesregierung hat am Dienstag in Berlin neue\nRegeln für die Förderung von Elektroautos beschlossen,\ndie ab dem kommenden Jahr gelten sollen, sagte er.";
        assert_eq!(text_blocks(prose).len(), 1);
    }

    #[test]
    fn markdown_keeps_block_structure() {
        let md = "# Titel\n\nEin Absatz\nüber zwei Zeilen.\n\n- eins\n- zwei\n\n> Zitat\n\n## Teil 2\n\nEnde.";
        let d = parse_document("a.md", md, Format::Markdown, "UTF-8".into()).unwrap();
        let kinds: Vec<&BlockKind> = d.blocks.iter().map(|b| &b.kind).collect();
        assert_eq!(kinds, vec![
            &BlockKind::Heading { level: 1 },
            &BlockKind::Paragraph,
            &BlockKind::ListItem { marker: "-".into() },
            &BlockKind::ListItem { marker: "-".into() },
            &BlockKind::Quote,
            &BlockKind::Heading { level: 2 },
            &BlockKind::Paragraph,
        ]);
        assert_eq!(d.blocks[1].text, "Ein Absatz über zwei Zeilen.");
        assert_eq!(d.meta.title.as_deref(), Some("Titel"));
    }

    #[test]
    fn boilerplate_is_dropped_and_recorded() {
        let t = "This article is more than 1 year old\n\nTitle here\n\nBody one.\n\nBody two.\n\nBody three.\n\nBody four.\n\nMore about\n\n\nSend us news\n\nOther stories you might like";
        let d = parse_document("a", t, Format::Text, "UTF-8".into()).unwrap();
        let texts: Vec<&str> = d.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, vec!["Title here", "Body one.", "Body two.", "Body three.", "Body four."]);
        assert_eq!(d.dropped.len(), 4);
        assert_eq!(d.dropped[0].reason, "page notice");
    }
}
