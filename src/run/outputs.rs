//! The readable outputs of `--out`: per article `<stem>.en.md` and `<stem>.summary.md`, and the briefing
//! (`briefing.md`, `briefing.json`), each written atomically from the records.
use std::path::Path;

use super::fs::write_atomic;
use super::record::ArticleRecord;
use crate::error::{Error, Result};
use crate::pipeline::briefing::embed::Similarity;
use crate::pipeline::briefing::{headline, Briefing, BriefingWriter, SourceInfo};
use crate::pipeline::summarize::{PointStatus, Summarizer, Summary};

/// The heading of an article: its title, or for an article without one (a dateline and a body, no
/// headline) a headline made from its summary's lead point, never a file name.
pub fn display_title(title: Option<&str>, s: &Summary) -> String {
    if let Some(t) = title.filter(|t| !t.trim().is_empty()) {
        return t.trim().to_string();
    }
    let lead = s.points.first().map(|p| p.text.as_str()).unwrap_or(s.text.as_str());
    if lead.trim().is_empty() {
        return "(no title, no summary)".into();
    }
    headline(lead)
}

/// A summary as Markdown: the article's title (or its source) as heading, the summary, how it was made,
/// and the facts not found in the article.
pub fn summary_markdown(title: Option<&str>, source: &str, s: &Summary, unsupported: &[String]) -> String {
    if s.points.is_empty() {
        let mut md = format!("## {}\n\n{}\n\n_{} summary by {}_\n", title.unwrap_or(source), s.text, s.method, s.summarizer);
        if !unsupported.is_empty() {
            md.push_str(&format!("\n⚠ _not found in the article: {}_\n", unsupported.join(", ")));
        }
        return md;
    }
    let mut md = format!("## {}\n\n", display_title(title, s));
    for p in &s.points {
        let ids: Vec<String> = p.citations.iter().map(usize::to_string).collect();
        let cited = format!("sentence{} {}", if ids.len() == 1 { "" } else { "s" }, ids.join(", "));
        match p.status {
            PointStatus::Quoted => md.push_str(&format!("- “{}” _(quoted: {cited})_\n", p.text)),
            PointStatus::Unverified => {
                let failed: Vec<String> = p.checks.iter().filter(|c| !c.ok).map(|c| c.detail.clone()).collect();
                md.push_str(&format!("- ⚠ {} _({cited}; not verified: {})_\n", p.text, failed.join("; ")));
            }
            PointStatus::Verified | PointStatus::Regenerated => md.push_str(&format!("- {} _({cited})_\n", p.text)),
        }
    }
    let count = |st: PointStatus| s.points.iter().filter(|p| p.status == st).count();
    md.push_str(&format!(
        "\n_{} summary by {} of {}: {} points checked against the sentences they cite ({} verified, {} rewritten, {} quoted, {} not verified); {} left out_\n",
        s.method,
        s.summarizer,
        source,
        s.points.len(),
        count(PointStatus::Verified),
        count(PointStatus::Regenerated),
        count(PointStatus::Quoted),
        count(PointStatus::Unverified),
        s.dropped.len()
    ));
    md
}

pub fn write_article_outputs(out: &Path, r: &ArticleRecord) -> Result<()> {
    // `.en.md` is the English text: the translation, or the article itself when it is English; an
    // article summarized --direct from German or Dutch has none
    if r.text_language == "en" {
        let en = out.join(format!("{}.en.md", r.stem));
        write_atomic(&en, r.translation_md.as_bytes()).map_err(|e| Error::io(&en, e))?;
    }
    if let Some(s) = &r.summary {
        let md = summary_markdown(r.title.as_deref(), &r.source, s, &r.summary_unsupported);
        let p = out.join(format!("{}.summary.md", r.stem));
        write_atomic(&p, md.as_bytes()).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// True when `out/briefing.json` was written from exactly these inputs.
pub fn briefing_is_current(out: &Path, key: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("briefing.json")) else { return false };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    v.get("key").and_then(|k| k.as_str()) == Some(key) && out.join("briefing.md").is_file()
}

/// The briefing over finished records; `similarity` groups their points into stories.
pub fn write_briefing(out: &Path, records: &[ArticleRecord], key: &str, similarity: &dyn Similarity, summarizer: Option<&mut dyn Summarizer>) -> Result<Briefing> {
    let sources: Vec<SourceInfo> = records
        .iter()
        .enumerate()
        .map(|(i, r)| SourceInfo {
            number: i + 1,
            file: r.source.clone(),
            title: r.title.clone(),
            original_title: r.original_title.clone(),
            language: r.language.clone(),
            date: r.date.clone(),
            summary: r.summary.as_ref().map(|s| s.text.clone()).unwrap_or_default(),
            unsupported: vec![],
            points: r.summary.as_ref().map(|s| s.points.clone()).unwrap_or_default(),
            sentences: r.summary.as_ref().map(|s| s.sentences.clone()).unwrap_or_default(),
            text: r.text.clone(),
            text_language: r.text_language.clone(),
        })
        .collect();
    let mut b = BriefingWriter::default().write(sources, similarity, summarizer)?;
    b.key = key.to_string();
    let md = out.join("briefing.md");
    write_atomic(&md, b.to_markdown().as_bytes()).map_err(|e| Error::io(&md, e))?;
    let js = out.join("briefing.json");
    let json = serde_json::to_string_pretty(&b).map_err(|e| Error::Internal(format!("serializing the briefing: {e}")))?;
    write_atomic(&js, json.as_bytes()).map_err(|e| Error::io(&js, e))?;
    Ok(b)
}
