//! A seq2seq model folder in hub layout (`config.json`, optional `generation_config.json`, weights), read
//! the same way for every architecture: Marian translators and BART summarizers.
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::error::{Error, Result};
use crate::generation::GenerationConfig;
use super::weights;

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Where in `text` a parse error is (serde names the type, not the field): ` (near `…`)`, the 40
/// characters before its position, which hold the field's name.
fn near(text: &str, line: usize, column: usize) -> String {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else { return String::new() };
    let upto: Vec<char> = l.chars().take(column).collect();
    let from = upto.len().saturating_sub(40);
    let s: String = upto[from..].iter().collect();
    if s.trim().is_empty() {
        String::new()
    } else {
        format!(" (near `{}`)", s.trim())
    }
}

/// `config.json` parsed as `C` and checked with `validate`; also its text, which the generation settings
/// fall back to. `what` names the config in errors ("Marian config").
pub fn read_config<C: serde::de::DeserializeOwned>(
    dir: &Path,
    what: &'static str,
    validate: impl Fn(&C) -> std::result::Result<(), String>,
) -> Result<(C, String)> {
    let path = dir.join("config.json");
    let text = read_text(&path)?;
    let invalid = |reason: String| Error::InvalidConfig { what, path: path.clone(), reason };
    let config: C = serde_json::from_str(&text).map_err(|e| invalid(format!("{e}{}", near(&text, e.line(), e.column()))))?;
    validate(&config).map_err(invalid)?;
    Ok((config, text))
}

/// The settings `generate()` would use: `generation_config.json` when the folder has one, else the
/// generation fields of `config.json` (see [`GenerationConfig::from_json`]).
pub fn read_generation_config(dir: &Path, config_text: &str, model_forced_eos_default: Option<u32>) -> Result<GenerationConfig> {
    let gen_path = dir.join("generation_config.json");
    let gen_text = if gen_path.is_file() { Some(read_text(&gen_path)?) } else { None };
    GenerationConfig::from_json(gen_text.as_deref(), config_text, model_forced_eos_default)
        .map_err(|reason| Error::InvalidConfig { what: "generation config", path: dir.join("config.json"), reason })
}

/// The folder's weights (safetensors or either torch format) as a `VarBuilder` rooted at the checkpoint's
/// top level, and the file they came from.
pub fn load_weights(dir: &Path, dtype: DType, device: &Device) -> Result<(VarBuilder<'static>, PathBuf)> {
    let path = weights::find_weights(dir).ok_or_else(|| {
        Error::ModelUnavailable(format!("model folder {} has no weights (expected one of {})", dir.display(), weights::WEIGHT_FILES.join(", ")))
    })?;
    let tensors = weights::normalize_seq2seq_names(weights::load_tensors(&path, dtype, device)?);
    Ok((VarBuilder::from_tensors(tensors, dtype, device), path))
}
