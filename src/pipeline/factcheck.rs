//! Facts a reader would act on (numbers, dates, capitalised names), and whether a text supports them.
/// Numbers, dates and capitalised names in a text: the facts a reader would act on.
pub fn fact_items(text: &str) -> Vec<String> {
    const SKIP: &[&str] = &[
        "The", "A", "An", "In", "On", "At", "It", "Its", "This", "That", "These", "Those", "He", "She", "They", "We", "I", "But",
        "And", "Or", "As", "For", "With", "By", "From", "To", "Of", "After", "Before", "While", "When", "Where", "However",
        "Meanwhile", "Although", "Though", "According", "Both", "Some", "Many", "Most", "All", "There", "Their", "His", "Her",
        "Our", "Also", "Despite", "Since", "If", "Other", "Its", "Mr", "Mrs", "Ms", "Dr", "CEO", "Sources", "Source",
    ];
    let mut items = Vec::new();
    for raw in text.split_whitespace().flat_map(|w| w.split(['/', '—'])) {
        let w = raw.trim_matches(|c: char| !c.is_alphanumeric());
        if w.is_empty() {
            continue;
        }
        if w.chars().any(|c| c.is_ascii_digit()) {
            // citations like [1] are not facts
            if !raw.starts_with('[') {
                items.push(w.to_string());
            }
        } else if w.chars().next().map(char::is_uppercase).unwrap_or(false) && w.chars().count() > 1 && !SKIP.contains(&w) {
            items.push(w.to_string());
        }
    }
    items.sort();
    items.dedup();
    items
}

/// The values a written number can mean: "3.000" is 3000 in German and 3 in English, "1,2" only 1.2.
fn number_readings(token: &str) -> Vec<String> {
    let num: String = token.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').collect();
    let num = num.trim_end_matches(['.', ',']);
    if num.is_empty() {
        return vec![];
    }
    let mut out = Vec::new();
    for (thousands, decimal) in [(',', '.'), ('.', ',')] {
        let parts: Vec<&str> = num.split(thousands).collect();
        // thousands groups are exactly three digits (the decimal part may follow the last one)
        let valid = parts.iter().skip(1).all(|p| p.split(decimal).next().map(|g| g.len() == 3).unwrap_or(false));
        if !valid || num.matches(decimal).count() > 1 {
            continue;
        }
        let joined = parts.concat().replace(decimal, ".");
        let canon = if joined.contains('.') { joined.trim_end_matches('0').trim_end_matches('.').to_string() } else { joined };
        let canon = canon.trim_start_matches('0').to_string();
        let canon = if canon.is_empty() || canon.starts_with('.') { format!("0{canon}") } else { canon };
        if !out.contains(&canon) {
            out.push(canon);
        }
    }
    out
}

/// Is `item` in `text`? Names case-insensitively, possessives and plurals tolerated; numbers by value
/// in either convention, so "3,000", "3.000" and "3000" match but "12" and "1,2" do not.
pub fn supported(item: &str, text: &str) -> bool {
    if item.chars().any(|c| c.is_ascii_digit()) {
        let want = number_readings(item);
        return text
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
            .any(|t| number_readings(t).iter().any(|r| want.contains(r)));
    }
    let lower = text.to_lowercase();
    let it = item.to_lowercase();
    let stem = it.trim_end_matches("'s").trim_end_matches('’');
    // the stem without its last letter (a plural or case ending); by characters, not bytes: "bogotá"
    // ends in a two-byte letter, and a byte slice there panicked
    let shorter = stem.char_indices().last().map(|(i, _)| &stem[..i]).unwrap_or(stem);
    lower.contains(stem) || (stem.len() > 4 && lower.contains(shorter))
}

pub fn unsupported_items(text: &str, sources: &[&str]) -> Vec<String> {
    fact_items(text).into_iter().filter(|i| !sources.iter().any(|s| supported(i, s))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_and_support() {
        let items = fact_items("Cloudflare said on March 6 that 3,000 staff in Russia stay [1].");
        assert_eq!(items, vec!["3,000", "6", "Cloudflare", "March", "Russia"]);
        assert!(supported("3,000", "rund 3.000 Mitarbeiter"));
        assert!(supported("Cloudflare's", "Cloudflare hat"));
        assert!(!supported("Akamai", "Cloudflare hat"));
        assert!(!supported("12", "1,2 Milliarden"));
        assert!(supported("1.2", "1,2 Milliarden") && supported("4.5%", "4,5 Prozent") && supported("3000", "3.000"));
        assert!(supported("2022", "im Jahr 2022.") && !supported("2021", "2022"));
        assert_eq!(unsupported_items("Akamai and Cloudflare had 4 sites.", &["Cloudflare has 4 sites"]), vec!["Akamai"]);
    }
}
