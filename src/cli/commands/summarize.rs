//! `vertolk summarize`: each article read, translated unless English (or `--direct`), and summarized.
use anyhow::Context;

use crate::cli::args::{GlobalArgs, OutputFormat, SummarizeArgs};
use crate::cli::ErrorLog;
use crate::error::batch_exit_code;
use crate::hub::{Catalog, ModelStore};
use crate::pipeline::factcheck::unsupported_items;
use crate::pipeline::input::DEFAULT_MAX_BYTES;
use crate::pipeline::prepare::{PreparedArticle, Preparer};
use crate::models::llm::BATCH_REPLIES;
use crate::pipeline::summarize::Article;
use crate::pipeline::translate::ArticleText;
use crate::run::fs::write_atomic;
use crate::run::outputs::summary_markdown;

pub fn run(a: &SummarizeArgs, g: &GlobalArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    }
    let (sources, _) = super::sources(&a.inputs, a.out.as_deref(), g.quiet)?;
    let translation = super::pipeline_translation(&a.translation, None, g, store, catalog)?;
    let options = super::summarizer_options(&a.summarizer, g);
    let preparer = Preparer::new(a.translation.from.code().map(String::from), DEFAULT_MAX_BYTES);
    let prepared: Vec<_> = sources.iter().map(|s| preparer.prepare(s)).collect();
    let ready: Vec<_> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
    let mut texts = translation.translate_articles(&ready, options.direct).into_iter();
    // each input's article (or why there is none), in input order
    let articles: Vec<crate::Result<(&PreparedArticle, ArticleText, Article)>> = prepared
        .iter()
        .map(|p| match p {
            Ok(p) => texts.next().unwrap_or_else(|| Err(crate::Error::Internal("article lost".into()))).map(|text| {
                let article = Article { title: text.title.clone(), date: p.document.meta.date.clone(), language: text.language.clone(), text: text.text.clone() };
                (p, text, article)
            }),
            Err(e) => Err(e.clone()),
        })
        .collect();
    let choice = options.choose(store, catalog)?;
    if let (Some(n), false) = (choice.notice(), g.quiet) {
        eprintln!("note: {n}");
    }
    let mut summarizer = choice.load(&options)?;
    let mut errors = ErrorLog::default();
    let (mut ok, mut failed) = (0, 0);
    // `--format json` on stdout is one JSON document: the summary object for one input, an array for several
    let collect_json = a.out.is_none() && a.format == OutputFormat::Json;
    let mut json: Vec<serde_json::Value> = Vec::new();
    for (i, (src, item)) in sources.iter().zip(&articles).enumerate() {
        if crate::interrupt::requested().is_some() {
            break;
        }
        if i % BATCH_REPLIES == 0 {
            // the next group's drafts, written together (changes no summary, see `Summarizer::prepare`)
            let group: Vec<Article> = articles[i..].iter().take(BATCH_REPLIES).filter_map(|a| a.as_ref().ok()).map(|(_, _, a)| a.clone()).collect();
            if group.len() > 1 {
                summarizer.prepare(&group, options.max_words, &[]);
            }
        }
        let result = match item {
            Ok((p, text, article)) => summarizer.summarize(article, options.max_words).map(|s| (*p, text.clone(), s)),
            Err(e) => Err(e.clone()),
        };
        match result {
            Ok((p, text, s)) => {
                let unsupported = unsupported_items(&s.text, &[&text.text]);
                if collect_json {
                    json.push(serde_json::json!({"source": src.name(), "language": p.language.lang, "title": text.title, "date": p.document.meta.date, "summary": s, "unsupported": unsupported}));
                    ok += 1;
                    continue;
                }
                let rendered = match a.format {
                    OutputFormat::Json | OutputFormat::Jsonl => {
                        let v = serde_json::json!({"source": src.name(), "language": p.language.lang, "title": text.title, "date": p.document.meta.date, "summary": s, "unsupported": unsupported});
                        if a.format == OutputFormat::Json { serde_json::to_string_pretty(&v)? + "\n" } else { serde_json::to_string(&v)? + "\n" }
                    }
                    _ => summary_markdown(text.title.as_deref(), &src.name(), &s, &unsupported),
                };
                match &a.out {
                    Some(dir) => {
                        let ext = if matches!(a.format, OutputFormat::Json | OutputFormat::Jsonl) { "json" } else { "md" };
                        let path = dir.join(format!("{}.summary.{ext}", src.stem()));
                        write_atomic(&path, rendered.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
                    }
                    None => {
                        print!("{rendered}");
                        if a.format != OutputFormat::Jsonl {
                            println!();
                        }
                    }
                }
                ok += 1;
            }
            Err(e) => {
                errors.report(&src.name(), &e.to_string());
                if collect_json {
                    json.push(serde_json::json!({"source": src.name(), "error": e.to_string()}));
                }
                failed += 1;
            }
        }
    }
    if !json.is_empty() {
        let doc = if sources.len() > 1 { serde_json::Value::Array(json) } else { json.remove(0) };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    if let Some(sig) = crate::interrupt::requested() {
        return Ok(crate::error::exit_code::interrupted(sig));
    }
    Ok(batch_exit_code(ok, failed, false))
}
