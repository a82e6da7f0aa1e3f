//! Names in an English sentence (people, organisations, products, places, weekdays and months) and
//! whether a source, in English, German or Dutch, names them: as whole words ("EU" is not in "Europe"),
//! possessives and genitives folded ("Cloudflare's", "Trumps"), umlauts transliterated ("Stoeckel" =
//! "Stöckel"), and the English name of a German or Dutch one ("Russia" = "Russland"/"Rusland",
//! "Tuesday" = "Dienstag"/"dinsdag", "Chinese" = "chinesischen").

/// Words that start sentences or clauses with a capital but name nothing.
const NOT_NAMES: &[&str] = &[
    "The", "A", "An", "In", "On", "At", "It", "Its", "It's", "This", "That", "These", "Those", "He", "She", "They", "We", "I", "You",
    "But", "And", "Or", "So", "Yet", "As", "For", "With", "By", "From", "To", "Of", "After", "Before", "While", "When", "Where",
    "However", "Meanwhile", "Although", "Though", "According", "Both", "Some", "Many", "Most", "All", "There", "Their", "His",
    "Her", "Our", "Also", "Despite", "Since", "If", "Other", "Such", "Several", "Each", "Every", "Another", "Not", "No",
    "Instead", "Moreover", "Furthermore", "Additionally", "Overall", "Still", "Even", "Only", "Then", "Now", "Today",
    "Recently", "Previously", "Finally", "First", "Here", "What", "Why", "How", "Who", "Which", "Because", "Due", "Thus",
    "Therefore", "Until", "Unlike", "Like", "Among", "Against", "Without", "Under", "Over", "During", "Through", "Following",
    "Amid", "Last", "Next", "One", "Two", "Three", "Mr", "Mrs", "Ms", "Dr", "Prof", "Sources", "Source", "Many", "Few",
    "More", "Less", "Its", "Was", "Is", "Are", "Has", "Have", "Had", "Will", "Would", "Can", "Could", "Should", "May", "Might",
    "Yes", "PM", "AM", "Experts", "Companies", "Users", "People", "Customers", "Critics", "Analysts", "Officials",
];

/// English names and the forms German and Dutch write them in (lower case; a trailing `*` is a prefix).
const ALIASES: &[(&[&str], &[&str])] = &[
    (&["russia", "russian", "russians"], &["russ*", "rusland", "russisch*"]),
    (&["ukraine", "ukrainian", "ukrainians"], &["ukrain*", "oekraïne", "oekraïens*", "oekraine"]),
    (&["china", "chinese"], &["china", "chines*", "chinees", "chinese*"]),
    (&["germany", "german", "germans"], &["deutsch*", "duitsland", "duits*"]),
    (&["us", "usa", "u.s.", "america", "american", "americans", "united"], &["us", "usa", "amerika*", "vs", "verenigde"]),
    (&["states"], &["staaten", "staten", "vs", "usa"]),
    (&["europe", "european", "europeans"], &["europ*"]),
    (&["eu"], &["eu"]),
    (&["netherlands", "dutch"], &["niederländ*", "nederland*"]),
    (&["britain", "british", "uk", "england", "english"], &["großbritannien", "britisch*", "groot-brittannië", "brits*", "engels*", "englisch*", "uk"]),
    (&["france", "french"], &["frankreich", "französisch*", "frankrijk", "frans*"]),
    (&["japan", "japanese"], &["japan*"]),
    (&["austria", "austrian"], &["österreich*", "oostenrijk*"]),
    (&["switzerland", "swiss"], &["schweiz*", "zwitser*"]),
    (&["belgium", "belgian"], &["belgi*"]),
    (&["beijing"], &["peking", "beijing"]),
    (&["moscow"], &["moskau", "moskou"]),
    (&["kyiv", "kiev"], &["kiew", "kiev", "kyjiw"]),
    (&["munich"], &["münchen"]),
    (&["cologne"], &["köln"]),
    (&["vienna"], &["wien"]),
    (&["brussels"], &["brüssel", "brussel"]),
    (&["hague"], &["haag"]),
    (&["monday"], &["montag*", "maandag*"]),
    (&["tuesday"], &["dienstag*", "dinsdag*"]),
    (&["wednesday"], &["mittwoch*", "woensdag*"]),
    (&["thursday"], &["donnerstag*", "donderdag*"]),
    (&["friday"], &["freitag*", "vrijdag*"]),
    (&["saturday"], &["samstag*", "sonnabend*", "zaterdag*"]),
    (&["sunday"], &["sonntag*", "zondag*"]),
    (&["january"], &["januar*", "jänner"]),
    (&["february"], &["februar*"]),
    (&["march"], &["märz", "maart"]),
    (&["april"], &["april"]),
    (&["may"], &["mai", "mei"]),
    (&["june"], &["juni"]),
    (&["july"], &["juli"]),
    (&["august"], &["august*"]),
    (&["september"], &["september"]),
    (&["october"], &["oktober"]),
    (&["november"], &["november"]),
    (&["december"], &["dezember", "december"]),
    (&["ceo"], &["chef", "konzernchef", "vorstandschef", "firmenchef", "ceo", "topman", "directeur", "gründer"]),
    (&["cfo"], &["finanzchef", "finanzvorstand", "cfo", "financieel"]),
    (&["stock", "exchange"], &["börse*", "beurs*", "aktien*", "aandel*"]),
    (&["internet"], &["internet*", "netz"]),
    (&["great"], &["groß*", "grote", "grot*"]),
    (&["ai"], &["ki"]),
    (&["ecb"], &["ezb"]),
    (&["un"], &["uno", "vn"]),
    (&["nato"], &["nav"]),
];

/// Lower case with umlauts and accents folded (`ä` → `a`; both spellings of German are compared).
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'á' | 'à' | 'â' => out.push('a'),
            'ö' | 'ó' | 'ò' | 'ô' => out.push('o'),
            'ü' | 'ú' | 'ù' | 'û' => out.push('u'),
            'ë' | 'é' | 'è' | 'ê' => out.push('e'),
            'ï' | 'í' | 'ì' | 'î' => out.push('i'),
            'ß' => out.push_str("ss"),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            '’' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

/// `Stoeckel` → `stockel`: German transliterations folded like umlauts.
fn fold_transliterated(s: &str) -> String {
    fold(s).replace("ae", "a").replace("oe", "o").replace("ue", "u")
}

/// The words of a text for name lookups: split at everything but letters, digits and `&`/`.` inside
/// a word, so "US-Regierung" gives "us" and "regierung", "Cloudflare's" gives "cloudflare's".
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '&'))
        .map(|w| w.trim_matches(|c: char| c == '\'' || c == '’' || c == '&'))
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect()
}

/// Forms a word may take: as written, without a possessive or genitive/plural ending.
fn stems(w: &str) -> Vec<String> {
    let mut v = vec![w.to_string()];
    for suffix in ["'s", "s'", "'", "s", "es", "n", "en"] {
        if let Some(s) = w.strip_suffix(suffix) {
            if s.chars().count() >= 2 {
                v.push(s.to_string());
            }
        }
    }
    v
}

/// An index of a source's words for whole-word lookups.
pub struct NameIndex {
    words: std::collections::HashSet<String>,
    transliterated: std::collections::HashSet<String>,
}

impl NameIndex {
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut words = std::collections::HashSet::new();
        for t in texts {
            for w in self::words(t) {
                for s in stems(&w) {
                    words.insert(s);
                }
            }
        }
        let transliterated = words.iter().map(|w| fold_transliterated(w)).collect();
        Self { words, transliterated }
    }

    fn has_word(&self, w: &str) -> bool {
        stems(w).iter().any(|s| self.words.contains(s) || self.transliterated.contains(&fold_transliterated(s)))
    }

    fn has_alias(&self, pattern: &str) -> bool {
        let pattern = fold(pattern);
        match pattern.strip_suffix('*') {
            Some(prefix) => self.words.iter().any(|w| w.starts_with(prefix)),
            None => self.has_word(&pattern),
        }
    }

    /// Does the text hold `word` as a whole word (case, umlauts, transliteration and genitive or
    /// plural endings folded)? No aliases: "Russland" is not "Russia" here (see [`english_forms`]).
    pub fn has(&self, word: &str) -> bool {
        self.has_word(&fold(word))
    }

    /// Does the source name `name` (one word of a name, as extracted by [`names`])?
    pub fn names(&self, name: &str) -> bool {
        let w = fold(name);
        let w = w.trim_end_matches("'s").trim_end_matches('\'');
        if self.has_word(w) {
            return true;
        }
        ALIASES.iter().filter(|(en, _)| en.contains(&w) || stems(w).iter().any(|s| en.contains(&s.as_str()))).any(|(en, other)| {
            en.iter().any(|e| self.has_word(e)) || other.iter().any(|p| self.has_alias(p))
        })
    }
}

/// Alias entries that are not names (role words, common nouns): never used to read a German or Dutch
/// word as an English name.
const NOT_NAME_ALIASES: &[&str] = &["ceo", "cfo", "stock", "internet", "great"];

/// The English forms of a German or Dutch name ("Russland" → russia, russian, russians; "Dienstag" →
/// tuesday), from the same alias table [`NameIndex::names`] reads the other way; empty when none.
pub fn english_forms(word: &str) -> Vec<&'static str> {
    let w = fold(word);
    let mut out = Vec::new();
    for (en, other) in ALIASES {
        if en.iter().any(|e| NOT_NAME_ALIASES.contains(e)) {
            continue;
        }
        let hit = other.iter().any(|p| {
            let p = fold(p);
            match p.strip_suffix('*') {
                Some(prefix) => w.starts_with(prefix),
                None => stems(&w).contains(&p),
            }
        });
        if hit {
            out.extend_from_slice(en);
        }
    }
    out
}

/// Whether `word` is a German or Dutch form of an English name by a prefix entry of the alias table
/// ("chinesischen" by "chines*"), the form adjectives take, as opposed to an exact entry ("vs").
pub fn english_forms_by_prefix(word: &str) -> bool {
    let w = fold(word);
    ALIASES.iter().filter(|(en, _)| !en.iter().any(|e| NOT_NAME_ALIASES.contains(e))).any(|(_, other)| {
        other.iter().any(|p| fold(p).strip_suffix('*').is_some_and(|prefix| w.starts_with(prefix)))
    })
}

/// The name words of an English sentence: capitalised words (and words with inner capitals or digits
/// mixed with letters, such as "ChatGPT", "8chan", "COVID-19") that are not sentence-opening function
/// words. Each is one word; multi-word names are checked word by word.
pub fn names(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut sentence_start = true;
    for raw in sentence.split_whitespace() {
        let opens = std::mem::replace(&mut sentence_start, raw.trim_end_matches(['"', '\'', '”', '’', ')']).ends_with(['.', '!', '?', ':']));
        for piece in raw.split(['/', '—', '–']) {
            let w = piece.trim_matches(|c: char| !c.is_alphanumeric());
            // a hyphenated word is a name if one of its parts is ("US-Regierung" → US, Regierung)
            for part in w.split('-') {
                let part = part.trim_end_matches("'s").trim_end_matches("’s");
                let Some(first) = part.chars().next() else { continue };
                let letters = part.chars().any(char::is_alphabetic);
                let inner_capital = part.chars().skip(1).any(char::is_uppercase);
                let mixed_digits = letters && part.chars().any(|c| c.is_ascii_digit());
                let capital = first.is_uppercase();
                if !letters || !(capital || inner_capital || mixed_digits) {
                    continue;
                }
                if capital && (NOT_NAMES.contains(&part) || opens && !inner_capital && super::lexicon::is_common_english(part)) {
                    continue;
                }
                if part.chars().count() < 2 && part != "X" {
                    continue;
                }
                out.push(part.to_string());
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_whole_words_across_languages() {
        let de = NameIndex::new(["Die US-Regierung prüft am Dienstag, ob Cloudflare in Russland bleibt; Marc Stöckel berichtet aus Peking über die chinesischen Partner."]);
        for ok in ["US", "Tuesday", "Cloudflare's", "Russia", "Russian", "Stoeckel", "Stöckel", "Beijing", "Chinese", "Marc"] {
            assert!(de.names(ok), "{ok}");
        }
        for bad in ["EU", "Akamai", "Wednesday", "Eastern", "Finanzblatt", "Moscow"] {
            assert!(!de.names(bad), "{bad}");
        }
        let en = NameIndex::new(["Europe's leaders met Donald Trump."]);
        assert!(!en.names("EU"), "EU is not a substring match of Europe");
        assert!(en.names("Trumps") && en.names("Europe"));
    }

    #[test]
    fn name_extraction_skips_sentence_openers() {
        assert_eq!(names("However, Cloudflare's CEO Matthew Prince met the US-Regierung in 2022."), vec!["Cloudflare", "CEO", "Matthew", "Prince", "US", "Regierung"]);
        assert_eq!(names("Not only has the number of attacks increased."), Vec::<String>::new());
        assert_eq!(names("ChatGPT, 8chan and COVID-19 were named; X too."), vec!["ChatGPT", "8chan", "COVID", "X"]);
    }
}
