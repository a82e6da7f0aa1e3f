//! Language identification for articles and paragraphs: German, Dutch, English, or another language.
//!
//! Two detectors, each for what it measured best at (tests/fixtures/text/lang_short.tsv, 90 short
//! news sentences): `lingua` restricted to de/nl/en decides between those three (89/90 right; `whatlang`
//! got 87/90, confusing short German and Dutch); `whatlang`, which knows 69 languages, tells when a text
//! is in none of them, so that a French article gets "no model for fr" instead of a forced guess.
use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detection {
    /// ISO 639-1 code: "de", "nl", "en", or another language's code (or "und" when nothing is known).
    pub lang: String,
    /// 0..1, how sure the detector is.
    pub confidence: f64,
}

pub struct LanguageDetectorSet {
    lingua: LanguageDetector,
}

impl Default for LanguageDetectorSet {
    fn default() -> Self {
        Self::new()
    }
}

fn code(l: Language) -> &'static str {
    match l {
        Language::German => "de",
        Language::Dutch => "nl",
        _ => "en",
    }
}

impl LanguageDetectorSet {
    pub fn new() -> Self {
        let lingua = LanguageDetectorBuilder::from_languages(&[Language::German, Language::Dutch, Language::English]).build();
        Self { lingua }
    }

    pub fn detect(&self, text: &str) -> Detection {
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        if letters == 0 {
            return Detection { lang: "und".into(), confidence: 0.0 };
        }
        // Another language altogether? Only trust whatlang when it is sure and the text is long enough.
        if let Some(info) = whatlang::detect(text) {
            let other = !matches!(info.lang(), whatlang::Lang::Deu | whatlang::Lang::Nld | whatlang::Lang::Eng);
            if other && info.is_reliable() && letters >= 40 {
                let code = iso639_1(info.lang());
                return Detection { lang: code.into(), confidence: info.confidence() };
            }
        }
        let values = self.lingua.compute_language_confidence_values(text);
        match values.first() {
            Some((lang, conf)) => Detection { lang: code(*lang).into(), confidence: *conf },
            None => Detection { lang: "und".into(), confidence: 0.0 },
        }
    }
}

/// whatlang speaks ISO 639-3; users and the catalogue speak 639-1 where one exists.
fn iso639_1(l: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match l {
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Pol => "pl",
        Swe => "sv",
        Dan => "da",
        Nob => "no",
        Fin => "fi",
        Ces => "cs",
        Slk => "sk",
        Hun => "hu",
        Ron => "ro",
        Rus => "ru",
        Ukr => "uk",
        Tur => "tr",
        Ell => "el",
        Ara => "ar",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Hrv => "hr",
        Slv => "sl",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Bul => "bg",
        Srp => "sr",
        Heb => "he",
        Hin => "hi",
        Deu => "de",
        Nld => "nl",
        Eng => "en",
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_german_dutch_english_accuracy() {
        let set = LanguageDetectorSet::new();
        let data = include_str!("../../tests/fixtures/text/lang_short.tsv");
        let rows: Vec<(&str, &str)> = data.lines().filter_map(|l| l.split_once('\t')).collect();
        let right = rows.iter().filter(|(lang, t)| set.detect(t).lang == *lang).count();
        // measured 89/90 when the detector was chosen; a regression below 87 fails
        assert!(rows.len() == 90 && right >= 87, "{right}/{} right", rows.len());
    }

    #[test]
    fn other_languages_are_named() {
        let set = LanguageDetectorSet::new();
        let fr = set.detect("Le président de la République a annoncé mardi une nouvelle réforme des retraites très contestée.");
        assert_eq!(fr.lang, "fr");
        assert_eq!(set.detect("12 345 —").lang, "und");
    }
}
