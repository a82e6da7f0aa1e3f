//! `vertolk models`: list the catalogue, pull, locate and verify (and repair) models.
use crate::cli::args::ModelsCommand;
use crate::error::{batch_exit_code, exit_code};
use crate::hub::verify::{verify_dir, verify_file, FileCheck};
use crate::hub::{Catalog, FileSet, ModelSpec, ModelStore, Task};

pub fn run(cmd: ModelsCommand, store: &ModelStore, catalog: &Catalog) -> anyhow::Result<i32> {
    match cmd {
        ModelsCommand::List => {
            let mut rows = vec![["NAME", "TASK", "LANGS", "REPO @ REVISION", "CACHED"].map(String::from)];
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
                rows.push([
                    m.name.clone(),
                    task.to_string(),
                    m.languages.join(","),
                    format!("{} @ {}", m.repo, m.revision),
                    (if cached { "yes" } else { "no" }).to_string(),
                ]);
            }
            // each column as wide as its longest cell (a pinned sha makes the repo column 69 wide)
            let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
            for r in &rows {
                let cells: Vec<String> = (0..4).map(|c| format!("{:<w$}", r[c], w = widths[c])).collect();
                println!("{}  {}", cells.join("  "), r[4]);
            }
            println!("\ncache: {}", store.cache_dir.display());
            Ok(exit_code::OK)
        }
        ModelsCommand::Pull { models } => {
            let mut failed = 0;
            for name in &models {
                let spec = ModelSpec::parse(name, catalog)?;
                let files = FileSet::for_spec(&spec);
                match pull(store, &spec, &files) {
                    Ok(path) => println!("{}\t{}", spec.label(), path.display()),
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
        ModelsCommand::Verify { model, repair } => {
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
                if let ModelSpec::Gguf(p) = &spec {
                    let c = verify_file(p, &p.display().to_string());
                    println!("{}", spec.label());
                    print_check(&c);
                    if !c.ok {
                        eprintln!("error: {} failed its check: replace the file (it is not in the hub cache)", p.display());
                        bad = true;
                    }
                    continue;
                }
                println!("{}", spec.label());
                let Some(dir) = cached_dir(&offline, &spec) else {
                    println!("  FAIL not in the cache ({})", store.cache_dir.display());
                    eprintln!("error: {} is not in the cache: `vertolk models pull {}` downloads it", spec.label(), spec.label());
                    bad = true;
                    continue;
                };
                let checks = verify_dir(&dir, &files);
                checks.iter().for_each(print_check);
                let failing: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| c.file.clone()).collect();
                if failing.is_empty() {
                    continue;
                }
                if !repair {
                    eprintln!("error: {}: {} failed; {}", spec.label(), failing.join(", "), fix_hint(&spec));
                    bad = true;
                    continue;
                }
                match store.repair(&spec, &files, &failing) {
                    Ok(r) => {
                        let again = verify_dir(&r.path, &files);
                        println!("  repaired: downloaded {} again", failing.join(", "));
                        again.iter().for_each(print_check);
                        if again.iter().any(|c| !c.ok) {
                            eprintln!("error: {}: still failing after a new download: the hub's copy itself fails the check", spec.label());
                            bad = true;
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        bad = true;
                    }
                }
            }
            Ok(if bad { exit_code::MODEL_UNAVAILABLE } else { exit_code::OK })
        }
    }
}

fn print_check(c: &FileCheck) {
    println!("  {} {} ({} bytes) {}", if c.ok { "ok  " } else { "FAIL" }, c.file, c.size, c.detail);
}

/// The snapshot (or local folder) a spec names, without downloading.
fn cached_dir(offline: &ModelStore, spec: &ModelSpec) -> Option<std::path::PathBuf> {
    match spec {
        ModelSpec::Catalog(e) => offline.snapshot_dir(&e.repo, &e.revision).map(|(d, _)| d),
        ModelSpec::Hub { repo, revision } => offline.snapshot_dir(repo, revision).map(|(d, _)| d),
        ModelSpec::LocalDir(d) => Some(d.clone()),
        ModelSpec::Gguf(p) => Some(p.clone()),
    }
}

/// What fixes a failed check.
fn fix_hint(spec: &ModelSpec) -> String {
    match spec {
        ModelSpec::Catalog(_) | ModelSpec::Hub { .. } => format!(
            "`vertolk models verify --repair {l}` (or `vertolk models pull {l}`) downloads the bad files again",
            l = spec.label()
        ),
        _ => "replace the bad files (this folder is not in the hub cache)".into(),
    }
}

/// `models pull`: resolve (download what is missing), then check the files; a cached file that fails
/// (a blob cut short or altered before vertolk verified downloads) is downloaded again.
fn pull(store: &ModelStore, spec: &ModelSpec, files: &FileSet) -> crate::Result<std::path::PathBuf> {
    let r = store.resolve(spec, files)?;
    if !matches!(spec, ModelSpec::Catalog(_) | ModelSpec::Hub { .. }) {
        return Ok(r.path);
    }
    let failing: Vec<String> = verify_dir(&r.path, files).into_iter().filter(|c| !c.ok).map(|c| c.file).collect();
    if failing.is_empty() {
        return Ok(r.path);
    }
    if store.notices {
        eprintln!("note: {}: {} failed verification; downloading again", spec.label(), failing.join(", "));
    }
    let r = store.repair(spec, files, &failing)?;
    let still: Vec<FileCheck> = verify_dir(&r.path, files).into_iter().filter(|c| !c.ok).collect();
    match still.first() {
        None => Ok(r.path),
        Some(c) => Err(crate::Error::InvalidModelFile { path: r.path.join(&c.file), reason: format!("fails its check after a new download: {}", c.detail) }),
    }
}
