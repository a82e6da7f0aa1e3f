//! The cross-article briefing: points grouped by theme, each citing its sources as `[n]`, a Sources
//! list, and a faithfulness check of every number, date and name against the cited articles.
use super::factcheck::{fact_items, unsupported_items};
use super::segment::SentenceSplitter;
use super::summarize::{PromptTemplate, Summarizer};
use crate::error::Result;

pub const PROMPT_BRIEFING: &str = include_str!("../../prompts/briefing.txt");

#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceInfo {
    /// The citation number, from 1.
    pub number: usize,
    pub file: String,
    pub title: Option<String>,
    pub language: String,
    pub date: Option<String>,
    pub summary: String,
    /// Numbers, dates and names in the summary that its article does not contain.
    pub unsupported: Vec<String>,
    /// The text checked against (the English translation, or the original when English or `--direct`).
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BriefingPoint {
    pub theme: String,
    pub text: String,
    pub citations: Vec<usize>,
    /// Cited numbers that are not a source (removed from `citations`).
    pub invalid_citations: Vec<usize>,
    /// True when the writer gave no valid citation and vertolk attributed the point to the source whose
    /// summary it matches (most of its content words).
    #[serde(default)]
    pub citations_inferred: bool,
    /// Numbers, dates and names found in none of the cited articles.
    pub unsupported: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Briefing {
    /// Identity of the inputs and writer; an unchanged key means the briefing need not be rewritten.
    pub key: String,
    pub method: BriefingMethod,
    pub writer: String,
    pub points: Vec<BriefingPoint>,
    pub sources: Vec<SourceInfo>,
    /// Notes about how it was made (fallbacks, dropped lines).
    pub notes: Vec<String>,
}

/// Who wrote the briefing's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BriefingMethod {
    /// An LLM's draft, checked.
    Llm,
    /// No model wrote it (or the model's draft had no valid citations): cited summary sentences.
    Extractive,
}

impl std::fmt::Display for BriefingMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BriefingMethod::Llm => "llm",
            BriefingMethod::Extractive => "extractive",
        })
    }
}

fn parse_citations(line: &str) -> (String, Vec<usize>) {
    let mut cites = Vec::new();
    let mut clean = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find(']') else { break };
        let inner = &rest[open + 1..open + close_rel];
        let nums: Vec<usize> = inner.split([',', ' ', ';']).filter(|x| !x.is_empty()).filter_map(|x| x.trim().parse().ok()).collect();
        if !nums.is_empty() && inner.chars().all(|c| c.is_ascii_digit() || ", ;".contains(c)) {
            cites.extend(nums);
            clean.push_str(&rest[..open]);
        } else {
            clean.push_str(&rest[..open + close_rel + 1]);
        }
        rest = &rest[open + close_rel + 1..];
    }
    clean.push_str(rest);
    cites.dedup();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ").replace(" .", ".").replace(" ,", ",");
    (clean.trim().to_string(), cites)
}

/// Parse an LLM's Markdown draft into themed, cited points.
pub fn parse_draft(draft: &str, n_sources: usize) -> Vec<BriefingPoint> {
    let mut theme = "Briefing".to_string();
    let mut points = Vec::new();
    for line in draft.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(h) = line.strip_prefix('#') {
            theme = h.trim_start_matches('#').trim().trim_matches('*').to_string();
            continue;
        }
        let body = line.trim_start_matches(['-', '*', '•']).trim();
        let body = body.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start_matches(['.', ')']).trim();
        if body.is_empty() {
            continue;
        }
        let (text, cites) = parse_citations(body);
        let (valid, invalid): (Vec<usize>, Vec<usize>) = cites.into_iter().partition(|&c| c >= 1 && c <= n_sources);
        points.push(BriefingPoint { theme: theme.clone(), text, citations: valid, invalid_citations: invalid, citations_inferred: false, unsupported: vec![] });
    }
    points
}

/// Small models often drop the `[n]` markers. A point whose content words mostly (≥ 60%) come from one
/// source's summary is attributed to that source, and marked as inferred. Returns how many were.
fn infer_citations(points: &mut [BriefingPoint], sources: &[SourceInfo]) -> usize {
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() > 3).map(str::to_lowercase).collect()
    };
    let summaries: Vec<Vec<String>> = sources.iter().map(|s| words(&s.summary)).collect();
    let mut n = 0;
    for p in points.iter_mut().filter(|p| p.citations.is_empty()) {
        let w = words(&p.text);
        if w.len() < 3 {
            continue;
        }
        let best = summaries
            .iter()
            .enumerate()
            .map(|(i, s)| (i, w.iter().filter(|x| s.contains(x)).count()))
            .max_by_key(|&(i, c)| (c, std::cmp::Reverse(i)));
        if let Some((i, c)) = best {
            if c * 10 >= w.len() * 6 {
                p.citations = vec![sources[i].number];
                p.citations_inferred = true;
                n += 1;
            }
        }
    }
    n
}

pub struct BriefingWriter {
    pub template: PromptTemplate,
    pub max_new_tokens: usize,
}

impl Default for BriefingWriter {
    fn default() -> Self {
        Self { template: PromptTemplate::parse(PROMPT_BRIEFING), max_new_tokens: 600 }
    }
}

impl BriefingWriter {
    /// Write the briefing. With an LLM the points are its draft, checked; without one (or when its draft
    /// cites nothing valid) each article's summary sentences become cited points, labelled extractive.
    pub fn write(&self, mut sources: Vec<SourceInfo>, summarizer: Option<&mut dyn Summarizer>) -> Result<Briefing> {
        for s in sources.iter_mut() {
            s.unsupported = unsupported_items(&s.summary, &[&s.text]);
        }
        let mut notes = Vec::new();
        let mut method = BriefingMethod::Extractive;
        let mut writer = "vertolk (one cited point per summary sentence)".to_string();
        let mut points = Vec::new();
        if let Some(llm) = summarizer.and_then(|s| s.writer()) {
            let list = sources
                .iter()
                .map(|s| {
                    format!(
                        "[{}] {} ({}, {}): {}",
                        s.number,
                        s.title.clone().unwrap_or_else(|| s.file.clone()),
                        s.language,
                        s.date.clone().unwrap_or_else(|| "date unknown".into()),
                        s.summary
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let (system, user) = self.template.fill(&[("sources", &list)]);
            let g = llm.write(&system, &user, self.max_new_tokens)?;
            tracing::debug!(prompt_tokens = g.prompt_tokens, generated = g.generated_tokens, draft = %g.text, "briefing draft");
            let mut draft = parse_draft(&g.text, sources.len());
            let inferred = infer_citations(&mut draft, &sources);
            if inferred > 0 {
                notes.push(format!("{inferred} point(s) carried no valid citation; each was attributed to the source whose summary holds most of its words"));
            }
            let cited = draft.iter().filter(|p| !p.citations.is_empty()).count();
            if cited == 0 {
                notes.push(format!("the model's draft ({} lines) cited no valid source; fell back to extractive points", draft.len()));
            } else {
                let uncited = draft.len() - cited;
                if uncited > 0 {
                    notes.push(format!("{uncited} point(s) of the model's draft cite no valid source and are marked"));
                }
                method = BriefingMethod::Llm;
                writer = llm.describe();
                points = draft;
                // a briefing covers every article: sources the writer left out get their lead sentence
                let missing: Vec<&SourceInfo> = sources.iter().filter(|s| !points.iter().any(|p| p.citations.contains(&s.number))).collect();
                for s in &missing {
                    if let Some(lead) = SentenceSplitter::new("en").split(&s.summary).first() {
                        points.push(BriefingPoint { theme: "Also reported".into(), text: lead.to_string(), citations: vec![s.number], invalid_citations: vec![], citations_inferred: false, unsupported: vec![] });
                    }
                }
                if !missing.is_empty() {
                    notes.push(format!("{} source(s) were not covered by the writer; their summary's lead sentence is listed under \"Also reported\"", missing.len()));
                }
            }
        }
        if points.is_empty() {
            for s in &sources {
                let theme = s.title.clone().unwrap_or_else(|| s.file.clone());
                for sent in SentenceSplitter::new("en").split(&s.summary) {
                    points.push(BriefingPoint { theme: theme.clone(), text: sent.to_string(), citations: vec![s.number], invalid_citations: vec![], citations_inferred: false, unsupported: vec![] });
                }
            }
        }
        for p in points.iter_mut() {
            let texts: Vec<&str> = p.citations.iter().filter_map(|c| sources.get(c - 1)).map(|s| s.text.as_str()).collect();
            p.unsupported = if texts.is_empty() { fact_items(&p.text) } else { unsupported_items(&p.text, &texts) };
        }
        Ok(Briefing { key: String::new(), method, writer, points, sources, notes })
    }
}

impl Briefing {
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("# Briefing\n\n");
        if self.method == BriefingMethod::Extractive {
            s.push_str("_Extractive briefing: sentences taken from the article summaries, no model wrote it._\n\n");
        }
        let mut theme: Option<&str> = None;
        for p in &self.points {
            if theme != Some(p.theme.as_str()) {
                s.push_str(&format!("## {}\n\n", p.theme));
                theme = Some(&p.theme);
            }
            let mut cites: String = p.citations.iter().map(|c| format!("[{c}]")).collect();
            if p.citations_inferred {
                cites.push_str("⁺");
            }
            s.push_str(&format!("- {}", p.text));
            if !cites.is_empty() {
                s.push(' ');
                s.push_str(&cites);
            } else {
                s.push_str(" **[no valid source]**");
            }
            if !p.unsupported.is_empty() {
                s.push_str(&format!(" ⚠ _not found in the cited articles: {}_", p.unsupported.join(", ")));
            }
            s.push('\n');
        }
        s.push_str("\n## Sources\n\n");
        for src in &self.sources {
            s.push_str(&format!(
                "{}. {} — `{}` ({}, {})\n",
                src.number,
                src.title.clone().unwrap_or_else(|| "(untitled)".into()),
                src.file,
                src.language,
                src.date.clone().unwrap_or_else(|| "date unknown".into())
            ));
        }
        if self.points.iter().any(|p| p.citations_inferred) {
            s.push_str("\n⁺ citation attributed by vertolk: the writer gave none; the point matches that source's summary.\n");
        }
        if !self.notes.is_empty() {
            s.push_str("\n---\n");
            for n in &self.notes {
                s.push_str(&format!("_{n}_\n"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_parsing_validates_citations() {
        let d = "## Russia\n- Cloudflare stays in Russia [1][2].\n- Akamai too [3, 9]\n\n## Money\n1. Revenue rose [2]\nNo citation here.";
        let p = parse_draft(d, 3);
        assert_eq!(p.len(), 4);
        assert_eq!((p[0].theme.as_str(), p[0].text.as_str(), p[0].citations.clone()), ("Russia", "Cloudflare stays in Russia.", vec![1, 2]));
        assert_eq!((p[1].citations.clone(), p[1].invalid_citations.clone()), (vec![3], vec![9]));
        assert_eq!((p[2].theme.as_str(), p[2].text.as_str()), ("Money", "Revenue rose"));
        assert!(p[3].citations.is_empty());
    }

    #[test]
    fn uncited_points_are_attributed_by_their_words() {
        let src = |n: usize, summary: &str| SourceInfo { number: n, file: String::new(), title: None, language: "en".into(), date: None, summary: summary.into(), unsupported: vec![], text: String::new() };
        let sources = vec![src(1, "Cloudflare stays in Russia despite pressure from Ukraine."), src(2, "Akamai suspended sales in Belarus.")];
        let mut pts = parse_draft("- Cloudflare stays in Russia despite pressure\n- Weather report for tomorrow morning", 2);
        assert_eq!(infer_citations(&mut pts, &sources), 1);
        assert_eq!((pts[0].citations.clone(), pts[0].citations_inferred), (vec![1], true));
        assert!(pts[1].citations.is_empty());
    }

    #[test]
    fn extractive_briefing_cites_every_point() {
        let src = |n: usize, summary: &str, text: &str| SourceInfo {
            number: n,
            file: format!("{n}.txt"),
            title: Some(format!("T{n}")),
            language: "en".into(),
            date: None,
            summary: summary.into(),
            unsupported: vec![],
            text: text.into(),
        };
        let b = BriefingWriter::default()
            .write(vec![src(1, "Cloudflare stays. Akamai leaves.", "Cloudflare stays in Russia."), src(2, "Prices rose 5%.", "Prices rose 5% in May.")], None)
            .unwrap();
        assert_eq!(b.method, BriefingMethod::Extractive);
        assert_eq!(b.points.len(), 3);
        assert!(b.points.iter().all(|p| p.citations.len() == 1));
        assert_eq!(b.points[1].unsupported, vec!["Akamai"]);
        assert_eq!(b.sources[0].unsupported, vec!["Akamai"]);
        let md = b.to_markdown();
        assert!(md.contains("- Cloudflare stays. [1]") && md.contains("⚠ _not found in the cited articles: Akamai_") && md.contains("## Sources"));
    }
}
