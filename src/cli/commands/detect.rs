//! `vertolk detect`: the language of each input, and of each paragraph with `--paragraphs`.
use crate::cli::args::DetectArgs;
use crate::error::batch_exit_code;
use crate::pipeline::input::{collect_sources, DEFAULT_MAX_BYTES};
use crate::pipeline::prepare::Preparer;

pub fn run(a: &DetectArgs) -> anyhow::Result<i32> {
    let preparer = Preparer::new(None, DEFAULT_MAX_BYTES);
    let (mut ok, mut failed) = (0, 0);
    for src in collect_sources(&a.inputs) {
        match preparer.prepare(&src) {
            Ok(article) => {
                let d = &article.language;
                println!("{}\t{}\t{:.3}", article.name, d.lang, d.confidence);
                if a.paragraphs {
                    for (i, b) in article.document.blocks.iter().enumerate() {
                        let d = preparer.detector().detect(&b.text);
                        println!("{}#{}\t{}\t{:.3}", article.name, i + 1, d.lang, d.confidence);
                    }
                }
                ok += 1;
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok(batch_exit_code(ok, failed, false))
}
