//! Sentence splitting against our gold set (tests/fixtures/text/sentences.txt): German, Dutch and
//! English paragraphs with abbreviations, ordinals, dates, numbers, quotes, ellipses, initials and URLs.
use vertolk::pipeline::segment::SentenceSplitter;

struct Block {
    lang: String,
    sentences: Vec<String>,
}

fn gold() -> Vec<Block> {
    let text = include_str!("fixtures/text/sentences.txt");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
        if let Some(first) = lines.first() {
            if let Some(lang) = first.strip_prefix("lang: ") {
                out.push(Block { lang: lang.trim().into(), sentences: lines[1..].iter().map(|s| s.to_string()).collect() });
            }
        }
    }
    out
}

/// Boundaries as byte offsets into the joined paragraph.
fn boundaries(sentences: &[&str]) -> Vec<usize> {
    let mut pos = 0;
    let mut b = Vec::new();
    for s in &sentences[..sentences.len().saturating_sub(1)] {
        pos += s.len() + 1;
        b.push(pos);
    }
    b
}

#[test]
fn gold_set_precision_and_recall() {
    let blocks = gold();
    assert!(blocks.len() >= 25, "gold set has {} blocks", blocks.len());
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for b in &blocks {
        let para = b.sentences.join(" ");
        let got = SentenceSplitter::new(&b.lang).split(&para);
        // nothing lost, nothing reordered
        assert_eq!(got.join(" "), para);
        let want: Vec<&str> = b.sentences.iter().map(String::as_str).collect();
        let (gb, wb) = (boundaries(&got), boundaries(&want));
        tp += gb.iter().filter(|x| wb.contains(x)).count();
        fp += gb.iter().filter(|x| !wb.contains(x)).count();
        fneg += wb.iter().filter(|x| !gb.contains(x)).count();
        if got != want {
            misses.push(format!("{}: {:?}", b.lang, got));
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fneg).max(1) as f64;
    println!("sentence boundaries: precision {precision:.3} recall {recall:.3} (tp {tp}, fp {fp}, fn {fneg})");
    for m in &misses {
        println!("  miss {m}");
    }
    assert_eq!(fp, 0, "invented boundaries: {misses:#?}");
    assert!(recall >= 0.95, "recall {recall:.3}: {misses:#?}");
}

#[test]
fn seeds_split_without_losing_text() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for para in text.lines().filter(|l| !l.trim().is_empty()) {
            let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
            let got = SentenceSplitter::new("de").split(&para);
            assert_eq!(got.join(" "), para);
        }
    }
}
