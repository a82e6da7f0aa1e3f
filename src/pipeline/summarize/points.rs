//! Grounded points: the shape an LLM's summary must have, enforced while it is generated. Each point is
//! one line `- <one English sentence> [i][j]`: at most `max_words` words, ending with a full stop (or
//! `!`/`?`) and then 1–3 ids of existing article sentences, each once. Nothing else can be written: no
//! heading, no preamble, no id past the last sentence, no point cut off mid-word — when the token
//! budget runs low the grammar only lets the point close, and generation stops after `max_points`.
use crate::generation::constraint::Constraint;

/// Where in a point the output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a point's `-`.
    LineStart,
    /// After `-`: a space must follow.
    Dash,
    /// In the sentence.
    Text,
    /// Right after `.`, `!` or `?` (an abbreviation or a decimal may still continue the sentence).
    AfterPunct,
    /// After the sentence's final punctuation and a space.
    AfterPunctSpace,
    /// After `[`.
    CiteOpen,
    /// In an id.
    CiteDigits,
    /// After `]`.
    AfterCite,
    /// After `]` and a space: only `[` may follow.
    AfterCiteSpace,
    /// `max_points` points written.
    Done,
}

/// The grammar of a list of grounded points (see the module docs).
#[derive(Debug, Clone)]
pub struct PointGrammar {
    /// Citable sentence ids, inclusive.
    first: usize,
    last: usize,
    max_points: usize,
    max_words: usize,
    max_cites: usize,
    state: State,
    points: usize,
    /// Words finished in the current point, and whether a word is open (and its length so far).
    words: usize,
    in_word: bool,
    word_chars: usize,
    chars: usize,
    number: usize,
    cites: Vec<usize>,
    /// The previous byte.
    prev: u8,
}

impl PointGrammar {
    /// Points citing sentences `1..=sentences`.
    pub fn new(sentences: usize, max_points: usize, max_words: usize) -> Self {
        Self::with_range(1, sentences, max_points, max_words)
    }

    /// Points citing sentences `first..=last` (a chunk of a long article).
    pub fn with_range(first: usize, last: usize, max_points: usize, max_words: usize) -> Self {
        Self {
            first: first.max(1),
            last,
            max_points: max_points.max(1),
            max_words: max_words.max(3),
            max_cites: 3,
            state: State::LineStart,
            points: 0,
            words: 0,
            in_word: false,
            word_chars: 0,
            chars: 0,
            number: 0,
            cites: Vec::new(),
            prev: b'\n',
        }
    }

    /// Can digits `n` still become an id in `first..=last`?
    fn id_prefix_ok(&self, n: usize) -> bool {
        let mut scale = 1usize;
        loop {
            let (lo, hi) = (n.saturating_mul(scale), n.saturating_mul(scale).saturating_add(scale - 1));
            if lo > self.last {
                return false;
            }
            if hi >= self.first {
                return true;
            }
            scale = scale.saturating_mul(10);
        }
    }

    /// Points finished so far.
    pub fn points(&self) -> usize {
        self.points
    }

    fn finish_point(&mut self) {
        self.points += 1;
        self.words = 0;
        self.in_word = false;
        self.chars = 0;
        self.cites.clear();
        self.state = if self.points >= self.max_points { State::Done } else { State::LineStart };
    }

    /// Bytes that may never appear in a point's sentence.
    fn forbidden(b: u8) -> bool {
        matches!(b, b'\n' | b'\r' | b'\t' | b'[' | b']' | b'#' | b'*' | b'|' | b'<' | b'>' | b'`' | b'_') || b < 0x20
    }

    /// One byte; false when it breaks the grammar.
    fn step(&mut self, b: u8) -> bool {
        use State::*;
        let max_chars = self.max_words * 12;
        let ok = match self.state {
            Done => false,
            LineStart => b == b'-' && {
                self.state = Dash;
                true
            },
            Dash => b == b' ' && {
                self.state = Text;
                true
            },
            Text | AfterPunct | AfterPunctSpace => match b {
                b' ' => match self.state {
                    Text if self.chars == 0 || self.prev == b' ' => false,
                    Text => {
                        if self.in_word {
                            self.words += 1;
                            self.in_word = false;
                        }
                        self.words < self.max_words
                    }
                    AfterPunct => {
                        self.state = AfterPunctSpace;
                        true
                    }
                    _ => false,
                },
                // the citations close a sentence of at least three words
                b'[' => self.state != Text && self.words >= 3 && {
                    self.state = CiteOpen;
                    true
                },
                // no ellipsis: "..." is how a sentence squeezed into the limit trails off
                b'.' | b'!' | b'?' if self.state == Text && self.chars > 0 => {
                    if self.in_word {
                        self.words += 1;
                        self.in_word = false;
                    }
                    self.state = AfterPunct;
                    true
                }
                b'"' | b'\'' | b')' if self.state == AfterPunct => true,
                _ if Self::forbidden(b) || matches!(b, b'.' | b'!' | b'?') => false,
                _ => {
                    let new_word = !self.in_word || self.state == AfterPunctSpace;
                    // the last word may not run on: without the limit on its length a model at the word
                    // limit glued the rest of its sentence into one "word" ("atthesame,andhow…")
                    let last_word_too_long = !new_word && self.words + 1 >= self.max_words && self.word_chars >= 15;
                    if (new_word && self.words >= self.max_words) || self.chars >= max_chars || last_word_too_long {
                        false
                    } else {
                        if new_word {
                            self.word_chars = 0;
                        }
                        self.word_chars += 1;
                        self.state = Text;
                        self.in_word = true;
                        true
                    }
                }
            },
            CiteOpen | CiteDigits if b.is_ascii_digit() => {
                let d = (b - b'0') as usize;
                let n = if self.state == CiteOpen { d } else { self.number * 10 + d };
                self.number = n;
                self.state = CiteDigits;
                n >= 1 && self.id_prefix_ok(n)
            }
            CiteDigits if b == b']' => (self.first..=self.last).contains(&self.number) && !self.cites.contains(&self.number) && {
                self.cites.push(self.number);
                self.state = AfterCite;
                true
            },
            CiteOpen | CiteDigits => false,
            AfterCite => match b {
                b'[' if self.cites.len() < self.max_cites => {
                    self.state = CiteOpen;
                    true
                }
                b' ' if self.cites.len() < self.max_cites => {
                    self.state = AfterCiteSpace;
                    true
                }
                b'\n' => {
                    self.finish_point();
                    true
                }
                _ => false,
            },
            AfterCiteSpace => b == b'[' && {
                self.state = CiteOpen;
                true
            },
        };
        if ok {
            if matches!(self.state, Text | AfterPunct | AfterPunctSpace) {
                self.chars += 1;
            }
            self.prev = b;
        }
        ok
    }

    /// Tokens needed, at the least, to close the current point and end.
    fn tokens_to_finish(&self) -> usize {
        use State::*;
        match self.state {
            Done | AfterCite => 1,
            LineStart if self.points > 0 => 1,
            CiteDigits => 2,
            CiteOpen | AfterCiteSpace => 3,
            AfterPunct | AfterPunctSpace => 4,
            // a sentence still short of three words cannot end at once
            Text => 5 + 3usize.saturating_sub(self.words + self.in_word as usize),
            LineStart | Dash => 10,
        }
    }
}

impl Constraint for PointGrammar {
    fn allows(&self, bytes: &[u8], remaining: usize) -> bool {
        let mut g = self.clone();
        bytes.iter().all(|&b| g.step(b)) && g.tokens_to_finish() <= remaining
    }

    fn allows_end(&self) -> bool {
        matches!(self.state, State::AfterCite | State::Done) || (self.state == State::LineStart && self.points > 0)
    }

    fn advance(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.step(b);
        }
    }

    fn is_complete(&self) -> bool {
        self.state == State::Done
    }
}

/// One line of text (a translated headline, a theme label): no newline, no control characters or
/// Markdown markers, at most `max_bytes` bytes; it may end once it holds a letter.
#[derive(Debug, Clone)]
pub struct LineGrammar {
    max_bytes: usize,
    bytes: usize,
    letters: bool,
}

impl LineGrammar {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, bytes: 0, letters: false }
    }
}

impl Constraint for LineGrammar {
    fn allows(&self, bytes: &[u8], _remaining: usize) -> bool {
        self.bytes + bytes.len() <= self.max_bytes && bytes.iter().all(|&b| b >= 0x20 && !matches!(b, b'#' | b'*' | b'[' | b']' | b'|' | b'`'))
    }

    fn allows_end(&self) -> bool {
        self.letters
    }

    fn advance(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
        self.letters |= bytes.iter().any(|b| b.is_ascii_alphabetic() || *b >= 0x80);
    }

    fn is_complete(&self) -> bool {
        self.bytes >= self.max_bytes
    }
}

/// A point as written: its sentence and the ids it cites.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftPoint {
    pub text: String,
    pub citations: Vec<usize>,
}

/// The complete points of a generated list (`- text [i][j]` lines); anything else is ignored.
pub fn parse_points(output: &str, sentences: usize) -> Vec<DraftPoint> {
    let mut out = Vec::new();
    for line in output.lines() {
        let Some(body) = line.trim().strip_prefix("- ") else { continue };
        let Some(open) = body.find('[') else { continue };
        let (text, cites) = body.split_at(open);
        let ids: Option<Vec<usize>> = cites.split(['[', ']', ' ']).filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect();
        let Some(ids) = ids else { continue };
        let text = text.trim().to_string();
        if ids.is_empty() || ids.iter().any(|&i| i == 0 || i > sentences) || !text.ends_with(['.', '!', '?', '"', '\'', ')']) || !cites.trim_end().ends_with(']') {
            continue;
        }
        out.push(DraftPoint { text, citations: ids });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(g: &mut PointGrammar, s: &str) -> bool {
        s.bytes().all(|b| {
            let ok = g.allows(&[b], 100);
            if ok {
                g.advance(&[b]);
            }
            ok
        })
    }

    #[test]
    fn accepts_cited_points_and_nothing_else() {
        let mut g = PointGrammar::new(12, 3, 30);
        assert!(feed(&mut g, "- Cloudflare keeps its Russian business. [3][12]\n"));
        assert!(g.allows_end());
        assert!(feed(&mut g, "- Revenue rose to $1 billion, up from 3.5 million. [5]\n- The U.S. firm stays. [1] [2]"));
        assert!(g.allows_end() && !g.is_complete());
        assert!(feed(&mut g, "\n"));
        assert!(g.is_complete());
        for bad in ["Summary:", "- cut off [1]\n", "- No full stop here [1]\n", "- Too far. [13]\n", "- Twice cited. [2][2]\n", "- Zero. [0]\n", "-  Two spaces. [1]\n", "- # Heading. [1]\n", "- Two words. [1]\n"] {
            let mut g = PointGrammar::new(12, 3, 30);
            assert!(!feed(&mut g, bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn ids_stay_in_the_chunk() {
        let g = PointGrammar::with_range(20, 25, 3, 30);
        let mut h = g.clone();
        assert!(feed(&mut h, "- A fact about it. [2"));
        assert!(!h.allows(b"6]", 100) && h.allows(b"5]", 100) && h.allows(b"0]", 100) && !h.allows(b"]", 100));
        let mut h = g.clone();
        assert!(feed(&mut h, "- A fact about it. ["));
        assert!(!h.allows(b"4", 100) && h.allows(b"2", 100) && !h.allows(b"3", 100) && !h.allows(b"26]", 100));
    }

    #[test]
    fn length_and_budget_force_a_clean_end() {
        let mut g = PointGrammar::new(5, 4, 5);
        assert!(feed(&mut g, "- one two three four five"));
        assert!(!g.allows(b" six", 100), "a sixth word is refused");
        assert!(g.allows(b".", 100));
        assert!(!g.allows(b"andsixandseven", 100), "the last word cannot swallow the rest of the sentence");
        // with 3 tokens left, text may not go on: only the end of the sentence
        let mut g = PointGrammar::new(5, 4, 30);
        assert!(feed(&mut g, "- One two three"));
        assert!(!g.allows(b" four", 3));
        assert!(g.allows(b".", 4));
        assert!(!g.allows_end(), "an open point cannot end the output");
    }

    #[test]
    fn parse_keeps_complete_points() {
        let out = "- Cloudflare stays in Russia. [1][3]\n- Cut off mid\n- No cite.\n- Bad id. [9]\n- Fine! [2]";
        let p = parse_points(out, 5);
        assert_eq!(p, vec![DraftPoint { text: "Cloudflare stays in Russia.".into(), citations: vec![1, 3] }, DraftPoint { text: "Fine!".into(), citations: vec![2] }]);
    }
}
