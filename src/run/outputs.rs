//! The readable outputs of `--out`: per article `<stem>.en.md` and `<stem>.summary.md`, and the briefing
//! (`briefing.md`, `briefing.json`), each written atomically from the records.
use std::path::Path;

use super::fs::write_atomic;
use super::record::ArticleRecord;
use crate::error::{Error, Result};
use crate::pipeline::briefing::{Briefing, BriefingWriter, SourceInfo};
use crate::pipeline::summarize::{Summarizer, Summary};

/// A summary as Markdown: the article's title (or its source) as heading, the summary, how it was made,
/// and the facts not found in the article.
pub fn summary_markdown(title: Option<&str>, source: &str, s: &Summary, unsupported: &[String]) -> String {
    let mut md = format!("## {}\n\n{}\n\n_{} summary by {}_\n", title.unwrap_or(source), s.text, s.method, s.summarizer);
    if !unsupported.is_empty() {
        md.push_str(&format!("\n⚠ _not found in the article: {}_\n", unsupported.join(", ")));
    }
    md
}

pub fn write_article_outputs(out: &Path, r: &ArticleRecord) -> Result<()> {
    let en = out.join(format!("{}.en.md", r.stem));
    write_atomic(&en, r.translation_md.as_bytes()).map_err(|e| Error::io(&en, e))?;
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

/// The briefing over finished records.
pub fn write_briefing(out: &Path, records: &[ArticleRecord], key: &str, summarizer: Option<&mut dyn Summarizer>) -> Result<Briefing> {
    let sources: Vec<SourceInfo> = records
        .iter()
        .enumerate()
        .map(|(i, r)| SourceInfo {
            number: i + 1,
            file: r.source.clone(),
            title: r.title.clone(),
            language: r.language.clone(),
            date: r.date.clone(),
            summary: r.summary.as_ref().map(|s| s.text.clone()).unwrap_or_default(),
            unsupported: vec![],
            text: r.text.clone(),
        })
        .collect();
    let mut b = BriefingWriter::default().write(sources, summarizer)?;
    b.key = key.to_string();
    let md = out.join("briefing.md");
    write_atomic(&md, b.to_markdown().as_bytes()).map_err(|e| Error::io(&md, e))?;
    let js = out.join("briefing.json");
    let json = serde_json::to_string_pretty(&b).map_err(|e| Error::Internal(format!("serializing the briefing: {e}")))?;
    write_atomic(&js, json.as_bytes()).map_err(|e| Error::io(&js, e))?;
    Ok(b)
}
