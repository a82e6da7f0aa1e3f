//! `vertolk models`: list the catalogue, pull, locate and verify models.
use crate::error::{batch_exit_code, exit_code};
use crate::cli::args::ModelsCommand;
use crate::hub::verify::{verify_dir, verify_file};
use crate::hub::{Catalog, FileSet, ModelSpec, ModelStore, Task};

pub fn run(cmd: ModelsCommand, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    match cmd {
        ModelsCommand::List => {
            println!("{:<16} {:<14} {:<8} {:<58} cached", "NAME", "TASK", "LANGS", "REPO @ REVISION");
            for m in &catalog.models {
                let cached = store
                    .snapshot_dir(&m.repo, &m.revision)
                    .map(|(d, _)| FileSet::of_entry(m).missing_in(&d).is_empty())
                    .unwrap_or(false);
                let task = match m.task {
                    Task::Translation => "translation",
                    Task::Summarization => "summarization",
                    Task::Embedding => "embedding",
                };
                println!(
                    "{:<16} {:<14} {:<8} {:<58} {}",
                    m.name,
                    task,
                    m.languages.join(","),
                    format!("{} @ {}", m.repo, m.revision),
                    if cached { "yes" } else { "no" }
                );
            }
            println!("\ncache: {}", store.cache_dir.display());
            Ok(exit_code::OK)
        }
        ModelsCommand::Pull { models } => {
            let mut failed = 0;
            for name in &models {
                let spec = ModelSpec::parse(name, catalog)?;
                let files = FileSet::for_spec(&spec);
                match store.resolve(&spec, &files) {
                    Ok(r) => println!("{}\t{}", spec.label(), r.path.display()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed += 1;
                    }
                }
            }
            // none pulled: the models are unavailable (4); some: a partial batch (3)
            let pulled = models.len() - failed;
            Ok(batch_exit_code(pulled, failed, pulled == 0))
        }
        ModelsCommand::Path { model } => {
            let spec = ModelSpec::parse(&model, catalog)?;
            let files = FileSet::for_spec(&spec);
            let offline = store.offline_view();
            let r = offline.resolve(&spec, &files)?;
            println!("{}", r.path.display());
            Ok(exit_code::OK)
        }
        ModelsCommand::Verify { model } => {
            let offline = store.offline_view();
            let targets: Vec<ModelSpec> = match model {
                Some(m) => vec![ModelSpec::parse(&m, catalog)?],
                None => catalog
                    .models
                    .iter()
                    .filter(|m| offline.snapshot_dir(&m.repo, &m.revision).is_some())
                    .map(|m| ModelSpec::Catalog(m.clone()))
                    .collect(),
            };
            if targets.is_empty() {
                println!("no catalogue model is in the cache ({}); nothing to verify", store.cache_dir.display());
                return Ok(exit_code::OK);
            }
            let mut bad = false;
            for spec in targets {
                let files = FileSet::for_spec(&spec);
                let dir = match &spec {
                    ModelSpec::Catalog(e) => offline.snapshot_dir(&e.repo, &e.revision).map(|(d, _)| d),
                    ModelSpec::Hub { repo, revision } => offline.snapshot_dir(repo, revision).map(|(d, _)| d),
                    ModelSpec::LocalDir(d) => Some(d.clone()),
                    ModelSpec::Gguf(p) => {
                        let c = verify_file(p, &p.display().to_string());
                        println!("{}\n  {} {} ({} bytes) {}", spec.label(), if c.ok { "ok  " } else { "FAIL" }, c.file, c.size, c.detail);
                        bad |= !c.ok;
                        continue;
                    }
                };
                println!("{}", spec.label());
                let Some(dir) = dir else {
                    println!("  FAIL not in the cache ({})", store.cache_dir.display());
                    bad = true;
                    continue;
                };
                for c in verify_dir(&dir, &files) {
                    println!("  {} {} ({} bytes) {}", if c.ok { "ok  " } else { "FAIL" }, c.file, c.size, c.detail);
                    bad |= !c.ok;
                }
            }
            Ok(if bad { exit_code::MODEL_UNAVAILABLE } else { exit_code::OK })
        }
    }
}
