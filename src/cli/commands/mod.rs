//! One driver per command: command-line arguments → the library's options → one library call →
//! output on stdout or in files, and the exit code.
pub mod bench;
pub mod brief;
pub mod detect;
pub mod eval;
pub mod models;
pub mod summarize;
pub mod tokenize;
pub mod translate;

use crate::cli::args::{GlobalArgs, PipelineTranslationArgs, SummarizerArgs, TranslationCheckArgs};
use crate::error::Error;
use crate::hub::{Catalog, ModelStore};
use crate::pipeline::input::{collect_sources, Source};
use crate::pipeline::summarize::SummarizerOptions;
use crate::pipeline::translate::{Glossary, TranslationPipeline};

/// The inputs named on the command line; none found is a usage error.
fn sources(inputs: &[String]) -> anyhow::Result<Vec<Source>> {
    let sources = collect_sources(inputs);
    if sources.is_empty() {
        anyhow::bail!(Error::Usage("no input files found (looked for .txt, .md and .html)".into()));
    }
    Ok(sources)
}

fn summarizer_options(a: &SummarizerArgs, g: &GlobalArgs) -> SummarizerOptions {
    SummarizerOptions {
        spec: a.summarizer.clone(),
        max_words: a.max_words,
        direct: a.direct,
        prompt: a.prompt.clone(),
        context: a.context,
        temperature: a.temperature,
        top_p: a.top_p,
        seed: a.seed,
        judge_threshold: (!a.no_judge).then_some(a.judge_threshold),
        device: g.device.into(),
    }
}

/// How `summarize` and `brief` translate: their translation flags over the library's defaults.
fn pipeline_translation<'a>(
    a: &PipelineTranslationArgs,
    beams: Option<usize>,
    g: &GlobalArgs,
    store: &'a ModelStore,
    catalog: &'a Catalog,
) -> crate::Result<TranslationPipeline<'a>> {
    TranslationPipeline::builder(store, catalog)
        .model(a.model.clone())
        .from_language(a.from.code().map(String::from))
        .beams(beams)
        .quantize(a.quantize.into())
        .glossary(glossary(&a.checks)?)
        .min_confidence(a.checks.min_confidence)
        .device(g.device.into())
        .build()
}

/// The `--glossary` file, read and parsed; none is an empty glossary.
fn glossary(a: &TranslationCheckArgs) -> crate::Result<Glossary> {
    match &a.glossary {
        Some(p) => Glossary::load(p),
        None => Ok(Glossary::default()),
    }
}
