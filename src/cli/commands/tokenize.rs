//! `vertolk tokenize`: token ids of each input line, for debugging and parity checks.
use std::io::{BufRead, Write};

use anyhow::Context;

use crate::cli::args::TokenizeArgs;
use crate::error::exit_code;
use crate::hub::{Catalog, FileSet, ModelSpec, ModelStore};
use crate::tokenizer::MarianTokenizer;

pub fn run(a: &TokenizeArgs, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    let spec = ModelSpec::parse(&a.model, catalog)?;
    // Only the tokenizer files are needed, not the weights.
    let mut files = FileSet::for_spec(&spec);
    files.required.retain(|f| f != "config.json");
    files.weights.clear();
    let resolved = store.resolve(&spec, &files)?;
    let tok = MarianTokenizer::from_dir(&resolved.path).with_context(|| format!("loading tokenizer of {}", spec.label()))?;
    let reader: Box<dyn BufRead> = match a.file.as_deref() {
        None | Some("-") => Box::new(std::io::BufReader::new(std::io::stdin())),
        Some(f) => Box::new(std::io::BufReader::new(std::fs::File::open(f).with_context(|| format!("opening {f}"))?)),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {} (is the input UTF-8 text?)", n + 1))?;
        let ids = if a.target { tok.encode_target(&line)? } else { tok.encode_source(&line)? };
        let s: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "{}", s.join(" ")).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(exit_code::OK)
}
