//! Sentence splitting for German, Dutch and English, and packing sentences into translation segments
//! that fit the model (never truncating: an over-long sentence is split at clause boundaries and the
//! split is recorded).
//!
//! The splitter prefers missing a boundary to inventing one: two sentences translated together still
//! come out right, a sentence cut in half does not. It knows abbreviations (z. B., u. a., bzw., ca.,
//! Nr., Dr., inkl., d. h., o.a., m.a.w., e.g., U.S. …), initials, ordinals and dates ("am 3. Oktober",
//! "der 3. Platz"), numbers and times ("1.000", "12.20 Uhr"), quotes („…“, »…«, "…"), ellipses and URLs.
use std::collections::HashSet;

const ABBREV_DE: &[&str] = &[
    "z", "b", "zb", "z.b", "u", "a", "u.a", "bzw", "ca", "nr", "dr", "prof", "inkl", "exkl", "d", "h", "d.h", "o", "o.ä",
    "u.ä", "usw", "vgl", "evtl", "ggf", "etc", "sog", "bspw", "st", "str", "tel", "mio", "mrd", "jh", "jhd", "chr",
    "abs", "art", "bd", "hr", "fr", "frl", "min", "max", "ggü", "gem", "lt", "mind", "rd", "zzgl", "dt", "engl", "jan", "feb",
    "mär", "apr", "jun", "jul", "aug", "sep", "sept", "okt", "nov", "dez", "geb", "gest", "bzgl", "ebd", "ff", "uvm", "z.t",
    "u.u", "v.a", "i.d.r", "s.o", "s.u", "m.e", "dipl", "ing", "mag", "verf", "hrsg", "nachf", "co", "vs",
];
const ABBREV_NL: &[&str] = &[
    "m.a.w", "o.a", "d.w.z", "bijv", "bv", "blz", "dhr", "mevr", "mr", "drs", "ir", "ing", "prof", "dr", "nr", "ca", "enz",
    "etc", "jl", "a.s", "i.p.v", "t.o.v", "m.b.t", "incl", "excl", "resp", "vnl", "evt", "mln", "mld", "mrd", "jan", "feb",
    "mrt", "apr", "aug", "sept", "okt", "nov", "dec", "o.l.v", "n.a.v", "e.d", "e.a", "z.g.a.n", "m.i", "i.v.m", "pag",
    "vs", "wo", "zo",
];
const ABBREV_EN: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co", "corp", "no", "approx",
    "dept", "est", "fig", "gen", "gov", "lt", "mt", "sgt", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "a.m", "p.m", "cf", "al", "vol", "ed", "rev", "col", "capt", "cmdr", "sen", "rep",
];
const MONTHS: &[&str] = &[
    "januar", "jänner", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober", "november",
    "dezember", "januari", "februari", "maart", "mei", "augustus", "juli", "juni", "oktober", "december",
];
/// Words after which "3." is an ordinal, not a sentence end ("der 3. Platz", "am 3. Oktober").
const ORDINAL_CONTEXT: &[&str] = &[
    "der", "die", "das", "den", "dem", "des", "am", "im", "vom", "zum", "zur", "beim", "bis", "ab", "seit", "ihr", "ihre",
    "sein", "seine", "seinem", "seinen", "ihrem", "ihren", "jeder", "jede", "jedes", "dieser", "diese", "dieses", "zum",
];
const CLOSERS: &[char] = &['"', '\'', '”', '“', '’', '‘', '»', '«', '›', '‹', ')', ']'];
const OPENERS: &[char] = &['"', '\'', '„', '“', '‚', '‘', '»', '«', '›', '‹', '(', '[', '–', '—', '-'];

pub struct SentenceSplitter {
    abbrevs: HashSet<&'static str>,
}

impl SentenceSplitter {
    /// A splitter for `lang` ("de", "nl", "en"); other values use all three abbreviation lists.
    pub fn new(lang: &str) -> Self {
        let lists: Vec<&[&'static str]> = match lang {
            "de" => vec![ABBREV_DE],
            "nl" => vec![ABBREV_NL],
            "en" => vec![ABBREV_EN],
            _ => vec![ABBREV_DE, ABBREV_NL, ABBREV_EN],
        };
        Self { abbrevs: lists.into_iter().flatten().copied().collect() }
    }

    /// Split a paragraph into sentences (trimmed slices of `text`, in order, covering all its words).
    pub fn split<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut out = Vec::new();
        let mut start = 0usize;
        let mut i = 0usize;
        while i < chars.len() {
            let c = chars[i].1;
            if !matches!(c, '.' | '!' | '?' | '…') {
                i += 1;
                continue;
            }
            // the run of terminators ("...", "?!") and the closing quotes/brackets right after it
            let mut j = i;
            while j < chars.len() && matches!(chars[j].1, '.' | '!' | '?' | '…') {
                j += 1;
            }
            let single_period = j == i + 1 && c == '.';
            while j < chars.len() && CLOSERS.contains(&chars[j].1) {
                j += 1;
            }
            // a boundary needs whitespace after it
            let mut k = j;
            while k < chars.len() && chars[k].1.is_whitespace() {
                k += 1;
            }
            if k == j || k == chars.len() {
                i = j.max(i + 1);
                continue;
            }
            if self.is_boundary(text, &chars, i, k, single_period) {
                let end = chars.get(j).map(|x| x.0).unwrap_or(text.len());
                let s = text[start..end].trim();
                if !s.is_empty() {
                    out.push(s);
                }
                start = chars[k].0;
            }
            i = k;
        }
        let s = text[start..].trim();
        if !s.is_empty() {
            out.push(s);
        }
        out
    }

    /// `t` is the terminator's index, `n` the first non-space char after it.
    fn is_boundary(&self, text: &str, chars: &[(usize, char)], t: usize, n: usize, single_period: bool) -> bool {
        let next = chars[n].1;
        let next_word = word_at(text, chars[n].0);
        // what may start a sentence: a capital, a digit, an opening quote or bracket before one, Dutch 's/'t
        let starts_ok = next.is_uppercase()
            || next.is_ascii_digit()
            || (OPENERS.contains(&next)
                && chars.get(n + 1).map(|&(_, c)| c.is_uppercase() || c.is_ascii_digit() || OPENERS.contains(&c)).unwrap_or(false))
            || is_dutch_elision(text, chars[n].0);
        if !starts_ok {
            return false;
        }
        if !single_period {
            return true;
        }
        // the token before the period
        let before = token_before(text, chars[t].0);
        if before.is_empty() {
            return true;
        }
        let lower = before.to_lowercase();
        let bare = lower.trim_matches('.');
        if bare.chars().all(|c| c.is_ascii_digit()) {
            // "am 3. Oktober", "der 3. Platz": ordinals; "im Jahr 2022. Danach": a sentence end
            let month = MONTHS.contains(&next_word.to_lowercase().as_str());
            let ctx = word_before(text, chars[t].0 - before.len()).to_lowercase();
            let ordinal = bare.len() <= 2 && (month || ORDINAL_CONTEXT.contains(&ctx.as_str()));
            return !ordinal;
        }
        if bare.chars().count() == 1 && bare.chars().all(char::is_alphabetic) {
            return false; // an initial, or z./u./d. of "z. B."
        }
        if self.abbrevs.contains(bare) {
            return false;
        }
        // U.S., e.g., z.B.: dotted runs of one- or two-letter parts
        if bare.contains('.') && bare.split('.').all(|p| !p.is_empty() && p.chars().count() <= 2 && p.chars().all(char::is_alphabetic)) {
            return false;
        }
        true
    }
}

/// The whitespace-free token ending right before byte `end` (e.g. "z.B", "Nr", "3", "https://x.de/a").
fn token_before(text: &str, end: usize) -> &str {
    let head = &text[..end];
    let start = head.rfind(char::is_whitespace).map(|p| p + head[p..].chars().next().map(char::len_utf8).unwrap_or(1)).unwrap_or(0);
    let tok = &head[start..];
    // keep only the trailing letters/digits/dots: "(Nr" -> "Nr", "„z.B" -> "z.B"
    let cut = tok.char_indices().rev().take_while(|(_, c)| c.is_alphanumeric() || *c == '.').last().map(|(i, _)| i).unwrap_or(tok.len());
    &tok[cut..]
}

fn word_before(text: &str, end: usize) -> &str {
    let head = text[..end].trim_end();
    let start = head.rfind(|c: char| !c.is_alphanumeric()).map(|p| p + head[p..].chars().next().map(char::len_utf8).unwrap_or(1)).unwrap_or(0);
    &head[start..]
}

fn word_at(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let end = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
    &rest[..end]
}

fn is_dutch_elision(text: &str, at: usize) -> bool {
    let rest = &text[at..];
    ["'s ", "'t ", "’s ", "’t "].iter().any(|p| rest.starts_with(p))
}

/// The sentences of an article's text, in order: each line (paragraph) split by [`SentenceSplitter`]
/// for `lang`. These are what summary points cite, numbered from 1.
pub fn article_sentences(text: &str, lang: &str) -> Vec<String> {
    let splitter = SentenceSplitter::new(lang);
    text.lines().map(str::trim).filter(|l| !l.is_empty()).flat_map(|l| splitter.split(l)).map(String::from).collect()
}

/// The sentences of an article's body: [`article_sentences`] without the lines that end without a full
/// stop (or `!`/`?`, a closing quote after it) — headlines, decks, captions, datelines — unless no
/// sentence ends with one. Summary points cite these, so a point never rests on a headline fragment.
pub fn body_sentences(text: &str, lang: &str) -> Vec<String> {
    let all = article_sentences(text, lang);
    let ends = |s: &String| s.trim_end().trim_end_matches(['"', '\'', '”', '“', '’', '»', '«', ')']).ends_with(['.', '!', '?', '…']);
    if all.iter().any(ends) {
        all.into_iter().filter(ends).collect()
    } else {
        all
    }
}

/// A unit handed to the translator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    pub text: String,
    /// Indices of the paragraph's sentences this segment holds.
    pub sentences: Vec<usize>,
    /// True when this is a piece of a sentence too long for the model, cut at a clause boundary.
    pub split: bool,
}

/// Sentences → segments within a token budget.
pub struct Segmenter {
    splitter: SentenceSplitter,
    /// Most source tokens in one segment (`</s>` included).
    pub max_tokens: usize,
    /// Pack several short sentences into one segment up to the budget. Off by default: OPUS-MT is
    /// trained on single sentences and drops sentences from long multi-sentence inputs.
    pub pack: bool,
}

impl Segmenter {
    pub fn new(lang: &str, max_tokens: usize, pack: bool) -> Self {
        Self { splitter: SentenceSplitter::new(lang), max_tokens: max_tokens.max(8), pack }
    }

    pub fn sentences<'a>(&self, paragraph: &'a str) -> Vec<&'a str> {
        self.splitter.split(paragraph)
    }

    /// Segment one paragraph; `count` gives a text's source token count.
    pub fn segment(&self, paragraph: &str, count: &dyn Fn(&str) -> usize) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for (i, s) in self.splitter.split(paragraph).into_iter().enumerate() {
            let n = count(s);
            if n > self.max_tokens {
                for piece in split_long(s, self.max_tokens, count) {
                    out.push(Segment { text: piece, sentences: vec![i], split: true });
                }
                continue;
            }
            if self.pack {
                if let Some(last) = out.last_mut() {
                    if !last.split && count(&format!("{} {s}", last.text)) <= self.max_tokens {
                        last.text.push(' ');
                        last.text.push_str(s);
                        last.sentences.push(i);
                        continue;
                    }
                }
            }
            out.push(Segment { text: s.to_string(), sentences: vec![i], split: false });
        }
        out
    }
}

/// Cut a sentence into pieces within `budget` tokens: at the clause boundary (", ", "; ", ": ", " – ")
/// nearest the middle, else at the space nearest the middle, else mid-word; recursively.
pub fn split_long(s: &str, budget: usize, count: &dyn Fn(&str) -> usize) -> Vec<String> {
    if count(s) <= budget || s.chars().count() < 2 {
        return vec![s.to_string()];
    }
    let mid = s.len() / 2;
    let nearest = |cands: Vec<usize>| cands.into_iter().filter(|&p| p > 0 && p < s.len()).min_by_key(|&p| p.abs_diff(mid));
    let clause: Vec<usize> = s
        .match_indices([',', ';', ':'])
        .map(|(p, m)| p + m.len())
        .chain(s.match_indices(" – ").map(|(p, _)| p))
        .chain(s.match_indices(" - ").map(|(p, _)| p))
        .filter(|&p| s[p..].starts_with(' '))
        .collect();
    let spaces: Vec<usize> = s.match_indices(' ').map(|(p, _)| p).collect();
    let cut = nearest(clause)
        .filter(|&p| p > s.len() / 5 && p < s.len() * 4 / 5)
        .or_else(|| nearest(spaces))
        .unwrap_or_else(|| {
            let mut m = mid;
            while !s.is_char_boundary(m) {
                m += 1;
            }
            m
        });
    let (a, b) = (s[..cut].trim(), s[cut..].trim());
    if a.is_empty() || b.is_empty() {
        return vec![s.to_string()];
    }
    let mut out = split_long(a, budget, count);
    out.extend(split_long(b, budget, count));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sentence_is_split_at_a_clause_and_nothing_is_lost() {
        let s = "Der Konzern, der im Jahr 2009 gegründet wurde und heute weltweit Rechenzentren betreibt, wächst weiter, obwohl die Konkurrenz groß ist";
        let words = |t: &str| t.split_whitespace().count();
        let pieces = split_long(s, 12, &|t: &str| words(t) + 1);
        assert!(pieces.len() >= 2);
        assert!(pieces.iter().all(|p| words(p) + 1 <= 12), "{pieces:?}");
        assert_eq!(pieces.join(" "), s);
        assert!(pieces.iter().any(|p| p.ends_with(',')), "cuts at clause boundaries first: {pieces:?}");
    }

    #[test]
    fn packing_respects_the_budget() {
        let seg = Segmenter::new("de", 8, true);
        let p = "Das ist eins. Das ist zwei. Das ist drei. Das ist vier.";
        let segs = seg.segment(p, &|t: &str| t.split_whitespace().count() + 1);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].sentences, vec![0, 1]);
        let unpacked = Segmenter::new("de", 8, false).segment(p, &|t: &str| t.split_whitespace().count() + 1);
        assert_eq!(unpacked.len(), 4);
    }
}
