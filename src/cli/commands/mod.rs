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
use crate::pipeline::input::{collect_inputs, Source};
use crate::pipeline::summarize::SummarizerOptions;
use crate::pipeline::translate::{Glossary, TranslationPipeline};

/// The inputs named on the command line, each file once and nothing from `out` (an output folder inside
/// an input folder is not read back in); none found is a usage error. The notes (duplicates, loops,
/// renamed outputs) are printed unless `quiet`, and returned.
fn sources(inputs: &[String], out: Option<&std::path::Path>, quiet: bool) -> anyhow::Result<(Vec<Source>, Vec<String>)> {
    let exclude: Vec<std::path::PathBuf> = out.map(|o| o.to_path_buf()).into_iter().collect();
    let found = collect_inputs(inputs, &exclude);
    if !quiet {
        for n in &found.notes {
            eprintln!("note: {n}");
        }
    }
    if found.sources.is_empty() {
        anyhow::bail!(Error::Usage("no input files found (looked for .txt, .md and .html)".into()));
    }
    Ok((found.sources, found.notes))
}

fn summarizer_options(a: &SummarizerArgs, g: &GlobalArgs) -> SummarizerOptions {
    SummarizerOptions {
        spec: a.summarizer.clone(),
        max_words: a.max_words,
        direct: a.direct,
        force_direct: a.force_direct,
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
