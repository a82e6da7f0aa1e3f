//! German and Dutch words left in an English text: frequent German/Dutch words that English does not
//! use (`data/lexicon/de_nl_not_en.txt`, built by `scripts/build_lexicon.py` from wordfreq), and the
//! German and Dutch names of countries and cities, which English writes otherwise.
use std::collections::HashSet;
use std::sync::OnceLock;

const LEXICON: &str = include_str!("../../../data/lexicon/de_nl_not_en.txt");
const EN_COMMON: &str = include_str!("../../../data/lexicon/en_common.txt");
const VOCAB: &str = include_str!("../../../data/lexicon/de_nl_vocab.txt");
const EN_WORDS: &str = include_str!("../../../data/lexicon/en_words.txt");

/// German/Dutch exonyms: place names an English text never uses.
const EXONYMS: &[&str] = &[
    "russland", "rusland", "deutschland", "duitsland", "oekraïne", "frankreich", "frankrijk", "moskau", "moskou", "kiew",
    "niederlande", "nederland", "österreich", "oostenrijk", "schweiz", "zwitserland", "großbritannien", "groot-brittannië",
    "amerika", "vereinigte", "verenigde", "belgien", "belgië", "brüssel", "münchen", "köln", "wien",
];

fn lexicon() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| LEXICON.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).chain(EXONYMS.iter().copied()).collect())
}

/// Is `word` (any case) German or Dutch vocabulary: one of the ~98,000 words at least 30× more
/// frequent in German or Dutch than in English (`data/lexicon/de_nl_vocab.txt`: "Firma", "Netz",
/// "Jahren", "kort"), where names used in English texts too ("Seifert", "Cloudflare", "Google") are
/// not?
pub fn is_german_or_dutch(word: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| VOCAB.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()).contains(word.to_lowercase().as_str())
        || lexicon().contains(word.to_lowercase().as_str())
}

/// Is `word` (any case) one of the ~7,000 most common English words? At the start of a sentence such a
/// word is capitalised without being a name ("Revenue rose", "Demand grew").
pub fn is_common_english(word: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| EN_COMMON.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()).contains(word.to_lowercase().as_str())
}

/// Is `word` (any case) English: one of the common words, or one of the ~116,000 English words of six
/// letters or more that occur at least once per 30 million words (`data/lexicon/en_words.txt`), as
/// written or with an inflection or a common prefix taken off ("rerouted", "unblocking")?
pub fn is_english_word(word: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| EN_WORDS.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect());
    let known = |w: &str| set.contains(w) || is_common_english(w);
    let w = word.to_lowercase();
    const SUFFIXES: &[&str] = &["s", "es", "ed", "d", "ing", "ly", "er", "ers", "est", "ness", "ment", "ments", "ally"];
    const PREFIXES: &[&str] = &["un", "re", "non", "pre", "co", "mis", "sub", "over", "under", "cyber", "multi", "anti", "inter"];
    let inflected = |w: &str| known(w) || SUFFIXES.iter().any(|s| w.strip_suffix(s).is_some_and(|r| r.len() >= 3 && (known(r) || known(&format!("{r}e")))));
    inflected(&w) || PREFIXES.iter().any(|p| w.strip_prefix(p).is_some_and(|r| r.len() >= 4 && inflected(r)))
}

/// The words of an English `text` that are German or Dutch (as written, in order; hyphenated words
/// are checked part by part: "US-Konzern" gives "Konzern").
pub fn untranslated_words(text: &str) -> Vec<String> {
    let set = lexicon();
    let mut out = Vec::new();
    for raw in text.split(|c: char| !(c.is_alphabetic() || c == '-')) {
        for part in raw.split('-').filter(|p| p.chars().count() >= 3) {
            let lower = part.to_lowercase();
            if set.contains(lower.as_str()) && !out.iter().any(|w: &String| w == part) {
                out.push(part.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_and_dutch_words_in_english_are_found() {
        assert_eq!(untranslated_words("The US-Konzern Cloudflare stays in Russland and the beurs."), vec!["Konzern", "Russland", "beurs"]);
        assert_eq!(untranslated_words("The US government says Thomas Seifert of Cloudflare spoke to Handelsblatt Disrupt."), Vec::<String>::new());
        assert_eq!(untranslated_words("Prince worked as a lawyer and chef of an online magazine."), Vec::<String>::new());
    }

    #[test]
    fn english_words_with_inflections_and_prefixes() {
        for w in ["cyberattacks", "firewall", "Reinstated", "misconfigured", "rerouted", "unblocking", "datacenters", "geopolitical"] {
            assert!(is_english_word(w), "{w}");
        }
        for w in ["profitifies", "hyperscalers", "atthesame"] {
            assert!(!is_english_word(w), "{w}");
        }
    }
}
