//! Numbers as a reader takes them: value, scale and unit, in English, German and Dutch conventions.
//! "$35 billion", "35 Milliarden Dollar" and "35 miljard dollar" are the same amount; "3,5 miljard" is
//! 3.5 × 10⁹, never "$3.5 million"; "12.20 Uhr", "12:20" and "12:20 PM" are the same clock time; "3.000"
//! is 3000 in German and 3 in English, so it keeps both readings.

/// What a number counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    None,
    /// ISO-like code: USD, EUR, GBP, CNY, CHF.
    Currency(&'static str),
    Percent,
}

/// A clock time, a year, or an amount.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Minutes after midnight.
    Time(u32),
    Year(u32),
    Amount,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// The text as written (number with its scale and unit words).
    pub text: String,
    pub kind: Kind,
    /// The values the digits can mean before scaling (two for "3.000": 3000 and 3).
    pub base: Vec<f64>,
    /// Multiplier from a scale word (thousand, Millionen, mld.): 1 when none.
    pub scale: f64,
    /// True when a scale word was written (so the scaled value is what is claimed).
    pub scaled: bool,
    pub unit: Unit,
}

impl Quantity {
    /// The values claimed, scale applied.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.base.iter().map(move |b| b * self.scale)
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// Does `source` state what `q` (from a summary) claims? Same clock time; same year; amounts equal
/// after scaling, with the same unit when both name one (a unitless source number may carry any unit
/// the article puts elsewhere in the sentence, e.g. "35 Milliarden Dollar schweren"). A claim written
/// without a scale word may also match the source's digits before scaling ("70" for "70 Milliarden").
pub fn supports(source: &Quantity, q: &Quantity) -> bool {
    match (&q.kind, &source.kind) {
        (Kind::Time(a), Kind::Time(b)) => return a == b,
        (Kind::Time(_), _) => return false,
        (Kind::Year(a), Kind::Year(b)) => return a == b,
        (Kind::Year(a), Kind::Amount) => return source.base.iter().any(|v| close(*v, *a as f64)) && !source.scaled,
        (Kind::Amount | Kind::Year(_), Kind::Time(_)) => return false,
        (Kind::Amount, Kind::Year(y)) => return !q.scaled && q.unit == Unit::None && q.base.iter().any(|v| close(*v, *y as f64)),
        (Kind::Amount, Kind::Amount) => {}
    }
    let unit_ok = match (&q.unit, &source.unit) {
        (Unit::None, _) | (_, Unit::None) => true,
        (a, b) => a == b,
    };
    if !unit_ok {
        return false;
    }
    if q.values().any(|v| source.values().any(|s| close(v, s))) {
        return true;
    }
    // "70" (no scale word) for "70 Milliarden": the digits are the same, and nothing wrong is claimed
    !q.scaled && q.base.iter().any(|v| source.base.iter().any(|s| close(*v, *s)))
}

const SCALES: &[(&str, f64)] = &[
    ("thousand", 1e3), ("thousands", 1e3), ("tausend", 1e3), ("tsd", 1e3), ("duizend", 1e3), ("k", 1e3),
    ("million", 1e6), ("millions", 1e6), ("mio", 1e6), ("millionen", 1e6), ("million.", 1e6), ("miljoen", 1e6), ("mln", 1e6),
    ("miljoenen", 1e6), ("m", 1e6), ("mn", 1e6),
    ("billion", 1e9), ("billions", 1e9), ("bn", 1e9), ("milliarde", 1e9), ("milliarden", 1e9), ("mrd", 1e9), ("miljard", 1e9),
    ("miljarden", 1e9), ("mld", 1e9), ("md", 1e9),
    ("trillion", 1e12), ("trillions", 1e12), ("billionen", 1e12), ("biljoen", 1e12),
];

/// A scale word; German "Billion" is 10¹², English "billion" 10⁹, so the language decides.
fn scale_of(word: &str, lang: &str) -> Option<f64> {
    let w = word.trim_end_matches('.').to_lowercase();
    if w == "billion" && lang == "de" {
        return Some(1e12);
    }
    SCALES.iter().find(|(s, _)| *s == w).map(|&(_, v)| v)
}

fn currency_word(word: &str) -> Option<&'static str> {
    let w = word.trim_end_matches(['.', ',', ';', ':', ')']).to_lowercase();
    match w.as_str() {
        "dollar" | "dollars" | "us-dollar" | "usd" | "us$" | "$" | "dollarn" => Some("USD"),
        "euro" | "euros" | "eur" | "€" => Some("EUR"),
        "pound" | "pounds" | "pfund" | "gbp" | "£" | "pond" => Some("GBP"),
        "yuan" | "renminbi" | "cny" => Some("CNY"),
        "franken" | "francs" | "chf" => Some("CHF"),
        _ => None,
    }
}

fn percent_word(word: &str) -> bool {
    let w = word.trim_end_matches(['.', ',', ';', ':', ')']).to_lowercase();
    matches!(w.as_str(), "percent" | "prozent" | "procent" | "%" | "pct")
}

const NUMBER_WORDS: &[(&str, f64)] = &[
    // "one"/"ein"/"een" are also articles: never read as numbers
    ("two", 2.0), ("three", 3.0), ("four", 4.0), ("five", 5.0), ("six", 6.0), ("seven", 7.0), ("eight", 8.0), ("nine", 9.0),
    ("ten", 10.0), ("eleven", 11.0), ("twelve", 12.0), ("twenty", 20.0), ("hundred", 100.0), ("dozen", 12.0),
    ("zwei", 2.0), ("drei", 3.0), ("vier", 4.0), ("fünf", 5.0), ("sechs", 6.0), ("sieben", 7.0), ("acht", 8.0), ("neun", 9.0),
    ("zehn", 10.0), ("elf", 11.0), ("zwölf", 12.0), ("zwanzig", 20.0), ("hundert", 100.0),
    ("twee", 2.0), ("drie", 3.0), ("vijf", 5.0), ("zes", 6.0), ("zeven", 7.0), ("negen", 9.0), ("tien", 10.0),
    ("twaalf", 12.0), ("twintig", 20.0), ("honderd", 100.0),
];

/// Articles that mean "one" before a scale word.
const ONE_WORDS: &[&str] = &["ein", "eine", "einer", "einen", "einem", "eines", "een", "one", "a", "an"];

/// The values digits with `.`/`,` can mean: thousands groups of exactly three digits in either
/// convention, or a decimal separator. "3.000" → [3000, 3]; "1,2" → [1.2]; "12" → [12].
pub fn readings(num: &str) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    let mut push = |v: f64| {
        if !out.iter().any(|x| close(*x, v)) {
            out.push(v);
        }
    };
    if num.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(v) = num.parse() {
            push(v);
        }
        return out;
    }
    for (thousands, decimal) in [(',', '.'), ('.', ',')] {
        let (int_part, frac) = match num.rsplit_once(decimal) {
            Some((i, f)) if !f.contains(thousands) => (i, Some(f)),
            _ => (num, None),
        };
        let groups: Vec<&str> = int_part.split(thousands).collect();
        let grouped_ok = groups[0].len() <= 3 && !groups[0].is_empty() && groups[1..].iter().all(|g| g.len() == 3);
        if groups.len() > 1 && !grouped_ok || int_part.contains(decimal) {
            continue;
        }
        let digits = groups.concat();
        let text = match frac {
            Some(f) if !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()) => format!("{digits}.{f}"),
            Some(_) => continue,
            None => digits,
        };
        if let Ok(v) = text.parse() {
            push(v);
        }
    }
    out
}

/// Clock times: "12:20", "12.20 Uhr", "12.20 uur", "12:20 PM", "9 a.m.".
fn clock(token: &str, next: Option<&str>) -> Option<u32> {
    let next_l = next.map(|n| n.trim_end_matches([',', ';', ')']).to_lowercase());
    let suffix = next_l.as_deref();
    let (pm, am) = (matches!(suffix, Some("pm" | "p.m." | "p.m")), matches!(suffix, Some("am" | "a.m." | "a.m")));
    let marker = matches!(suffix, Some("uhr" | "uur" | "h")) || pm || am;
    let (h, m) = match token.split_once([':', '.']) {
        Some((h, m)) if h.len() <= 2 && m.len() == 2 && (token.contains(':') || marker) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None if pm || am || matches!(suffix, Some("uhr" | "uur")) => (token.parse::<u32>().ok()?, 0),
        _ => return None,
    };
    if h > 24 || m > 59 {
        return None;
    }
    let h = match (pm, am) {
        (true, _) if h < 12 => h + 12,
        (_, true) if h == 12 => 0,
        _ => h,
    };
    Some(h * 60 + m)
}

/// Every quantity in `text` (language `lang`: "en", "de" or "nl"; it decides "Billion").
pub fn quantities(text: &str, lang: &str) -> Vec<Quantity> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let raw = words[i];
        // citation markers [3] are not facts
        if raw.starts_with('[') && raw.trim_end_matches(['.', ',']).ends_with(']') {
            i += 1;
            continue;
        }
        let w = raw.trim_matches(|c: char| matches!(c, '(' | ')' | '"' | '\'' | '„' | '“' | '”' | '«' | '»' | '‚' | '‘' | '’' | ',' | ';' | '!' | '?'));
        let lower = w.to_lowercase();
        let mut number_word = NUMBER_WORDS.iter().find(|(n, _)| *n == lower.trim_end_matches('.')).map(|&(_, v)| v);
        // "einer Milliarde Dollar", "een miljard", "a billion": the article is the number one before a scale word
        if number_word.is_none() && ONE_WORDS.contains(&lower.as_str()) && words.get(i + 1).is_some_and(|w| scale_of(w.trim_end_matches([',', ';', ')', '.']), lang).is_some()) {
            number_word = Some(1.0);
        }
        let has_digit = w.chars().any(|c| c.is_ascii_digit());
        if !has_digit && number_word.is_none() {
            i += 1;
            continue;
        }
        // currency and percent signs around the digits; a scale glued on ("35bn", "1.2m")
        let mut unit = Unit::None;
        let mut body = w;
        for (sign, code) in [("US$", "USD"), ("$", "USD"), ("€", "EUR"), ("£", "GBP"), ("¥", "CNY")] {
            if let Some(rest) = body.strip_prefix(sign) {
                unit = Unit::Currency(code);
                body = rest;
            }
            if let Some(rest) = body.strip_suffix(sign) {
                unit = Unit::Currency(code);
                body = rest;
            }
        }
        if let Some(rest) = body.strip_suffix('%') {
            unit = Unit::Percent;
            body = rest;
        }
        let body = body.trim_end_matches('.');
        let digits_end = body.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',' || c == ':')).unwrap_or(body.len());
        let (num, glued) = body.split_at(digits_end);
        let next = words.get(i + 1).copied();
        if has_digit && unit == Unit::None && glued.is_empty() {
            if let Some(minutes) = clock(num, next) {
                let marker = next.map(|n| matches!(n.trim_end_matches([',', ';', ')']).to_lowercase().as_str(), "uhr" | "uur" | "h" | "pm" | "am" | "p.m." | "a.m.")).unwrap_or(false);
                let span = if marker { 2 } else { 1 };
                out.push(Quantity { text: words[i..i + span].join(" "), kind: Kind::Time(minutes), base: vec![minutes as f64], scale: 1.0, scaled: false, unit: Unit::None });
                i += span;
                continue;
            }
        }
        let base = match number_word {
            Some(v) if !has_digit => vec![v],
            _ => readings(num.trim_end_matches([',', ':'])),
        };
        if base.is_empty() {
            i += 1;
            continue;
        }
        let mut scale = 1.0;
        let mut scaled = false;
        if !glued.is_empty() {
            if let Some(s) = scale_of(glued, lang) {
                scale = s;
                scaled = true;
            }
        }
        // words after the number: a scale word, then a currency or percent word
        let mut j = i + 1;
        if !scaled {
            if let Some(s) = words.get(j).and_then(|w| scale_of(w.trim_end_matches([',', ';', ')', '.']), lang)) {
                scale = s;
                scaled = true;
                j += 1;
            }
        }
        if unit == Unit::None {
            if let Some(c) = words.get(j).and_then(|w| currency_word(w)) {
                unit = Unit::Currency(c);
                j += 1;
            } else if words.get(j).map(|w| percent_word(w)).unwrap_or(false) {
                unit = Unit::Percent;
                j += 1;
            }
        }
        let consumed = j - i;
        // a 4-digit number between 1800 and 2100 with no scale or unit is a year
        let year = num.len() == 4 && !scaled && unit == Unit::None && base.len() == 1 && (1800.0..=2100.0).contains(&base[0]) && num.chars().all(|c| c.is_ascii_digit());
        let kind = if year { Kind::Year(base[0] as u32) } else { Kind::Amount };
        out.push(Quantity { text: words[i..i + consumed].join(" "), kind, base, scale, scaled, unit });
        i += consumed;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str, lang: &str) -> Quantity {
        let q = quantities(text, lang);
        assert_eq!(q.len(), 1, "{text}: {q:?}");
        q.into_iter().next().unwrap()
    }

    fn same(a: (&str, &str), b: (&str, &str)) -> bool {
        supports(&one(b.0, b.1), &one(a.0, a.1))
    }

    #[test]
    fn amounts_by_value_scale_and_unit_across_languages() {
        assert!(same(("worth $35 billion", "en"), ("35 Milliarden Dollar schweren", "de")));
        assert!(same(("35 billion dollars", "en"), ("35 miljard dollar", "nl")));
        assert!(same(("3.5 billion dollars", "en"), ("3,5 miljard dollar", "nl")));
        assert!(!same(("$3.5 million", "en"), ("3,5 miljard dollar", "nl")), "million is not miljard");
        assert!(!same(("$1 million", "en"), ("1 Milliarde Dollar", "de")));
        assert!(same(("$100 million", "en"), ("100 Millionen Dollar", "de")));
        assert!(!same(("100 million euros", "en"), ("100 Millionen Dollar", "de")), "currencies differ");
        assert!(same(("10 percent", "en"), ("mehr als 10 Prozent", "de")));
        assert!(same(("10%", "en"), ("10 procent", "nl")));
        assert!(same(("3,000 staff", "en"), ("3.000 Mitarbeiter", "de")));
        assert!(!same(("12", "en"), ("1,2 Milliarden", "de")));
        assert!(same(("70", "en"), ("rund 70 Milliarden Dollar", "de")), "digits without a scale word");
        assert!(!same(("$7", "en"), ("rund 70 Milliarden Dollar", "de")));
        assert!(same(("five years", "en"), ("vor fünf Jahren", "de")));
        assert!(same(("ten years", "en"), ("tien jaar geleden", "nl")));
        assert!(same(("$35bn", "en"), ("35 Milliarden Dollar", "de")));
        assert_eq!(one("1 Billion Euro", "de").values().next(), Some(1e12), "German Billion is 10^12");
        assert_eq!(one("1 billion euros", "en").values().next(), Some(1e9));
        assert!(same(("$1 billion", "en"), ("einen Umsatz von einer Milliarde Dollar", "de")), "an article before a scale word is one");
        assert!(same(("a billion dollars", "en"), ("een miljard dollar", "nl")));
    }

    #[test]
    fn times_and_years() {
        assert!(same(("12:20 PM", "en"), ("ab 12.20 Uhr deutscher Zeit", "de")));
        assert!(same(("12:20", "en"), ("12.20 uur", "nl")));
        assert!(!same(("12:30", "en"), ("12.20 Uhr", "de")));
        assert!(same(("founded in 2009", "en"), ("2009 gegründet", "de")));
        assert!(!same(("since 2019", "en"), ("im Jahr 2022", "de")));
        assert_eq!(one("in 2009", "en").kind, Kind::Year(2009));
    }

    #[test]
    fn readings_of_separators() {
        assert_eq!(readings("3.000"), vec![3.0, 3000.0]);
        assert_eq!(readings("1,2"), vec![1.2]);
        assert_eq!(readings("1.234.567"), vec![1234567.0]);
        assert_eq!(readings("12"), vec![12.0]);
        assert!(readings("1.2.3").is_empty());
    }
}
