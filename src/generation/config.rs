//! The generation settings `generate()` would use, read from a model folder's `generation_config.json`
//! or the generation fields of its `config.json`, with `transformers`' defaults.
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EarlyStopping {
    True,
    False,
    Never,
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(EarlyStopping::True),
            serde_json::Value::Bool(false) | serde_json::Value::Null => Ok(EarlyStopping::False),
            serde_json::Value::String(s) if s == "never" => Ok(EarlyStopping::Never),
            other => Err(serde::de::Error::custom(format!("early_stopping must be true, false or \"never\", got {other}"))),
        }
    }
}

/// `eos_token_id` may be one id or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The generation settings `generate()` would use: `generation_config.json` when the repo has one,
/// otherwise the generation fields of `config.json`; missing fields take `GenerationConfig`'s defaults.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenerationConfig {
    pub num_beams: usize,
    pub max_length: usize,
    pub max_new_tokens: Option<usize>,
    pub min_length: usize,
    pub length_penalty: f32,
    pub early_stopping: EarlyStopping,
    pub bad_words_ids: Vec<Vec<u32>>,
    pub forced_eos_token_id: Option<u32>,
    /// Token forced as the first generated one (BART: `<s>` after the `</s>` decoder start).
    pub forced_bos_token_id: Option<u32>,
    pub decoder_start_token_id: u32,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: u32,
    pub no_repeat_ngram_size: usize,
    pub repetition_penalty: f32,
}

#[derive(Debug, Default, Deserialize)]
struct RawGeneration {
    num_beams: Option<usize>,
    max_length: Option<usize>,
    max_new_tokens: Option<usize>,
    min_length: Option<usize>,
    length_penalty: Option<f32>,
    early_stopping: Option<EarlyStopping>,
    bad_words_ids: Option<Vec<Vec<u32>>>,
    #[serde(default, deserialize_with = "some_or_null")]
    forced_eos_token_id: Option<Option<u32>>,
    forced_bos_token_id: Option<u32>,
    decoder_start_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
    pad_token_id: Option<u32>,
    no_repeat_ngram_size: Option<usize>,
    repetition_penalty: Option<f32>,
}

/// Distinguish a field that is absent (outer None) from one set to null (Some(None)).
fn some_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<u32>>, D::Error> {
    Ok(Some(Option::<u32>::deserialize(d)?))
}

impl GenerationConfig {
    /// Build from the JSON text of `generation_config.json` (if any) and of `config.json`.
    /// `model_forced_eos_default` is the model class's own default for `forced_eos_token_id` when
    /// `config.json` omits it (Marian: `Some(0)`), which `GenerationConfig.from_model_config` inherits.
    pub fn from_json(
        generation_json: Option<&str>,
        config_json: &str,
        model_forced_eos_default: Option<u32>,
    ) -> std::result::Result<Self, String> {
        let model: RawGeneration = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        let (raw, from_generation_file) = match generation_json {
            Some(g) => (serde_json::from_str(g).map_err(|e| format!("generation_config.json: {e}"))?, true),
            None => (serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?, false),
        };
        let raw: RawGeneration = raw;
        let forced_eos_token_id = match raw.forced_eos_token_id {
            Some(v) => v,
            None if from_generation_file => None,
            None => model_forced_eos_default,
        };
        let eos_token_ids = match raw.eos_token_id.or(model.eos_token_id) {
            Some(OneOrMany::One(e)) => vec![e],
            Some(OneOrMany::Many(v)) => v,
            None => return Err("no eos_token_id in generation_config.json or config.json".into()),
        };
        let pad_token_id = raw.pad_token_id.or(model.pad_token_id).ok_or("no pad_token_id in config")?;
        let decoder_start_token_id = raw
            .decoder_start_token_id
            .or(model.decoder_start_token_id)
            .ok_or("no decoder_start_token_id in config")?;
        let cfg = Self {
            num_beams: raw.num_beams.unwrap_or(1).max(1),
            max_length: raw.max_length.unwrap_or(20),
            max_new_tokens: raw.max_new_tokens,
            min_length: raw.min_length.unwrap_or(0),
            length_penalty: raw.length_penalty.unwrap_or(1.0),
            early_stopping: raw.early_stopping.unwrap_or(EarlyStopping::False),
            bad_words_ids: raw.bad_words_ids.unwrap_or_default(),
            forced_eos_token_id,
            forced_bos_token_id: raw.forced_bos_token_id,
            decoder_start_token_id,
            eos_token_ids,
            pad_token_id,
            no_repeat_ngram_size: raw.no_repeat_ngram_size.unwrap_or(0),
            repetition_penalty: raw.repetition_penalty.unwrap_or(1.0),
        };
        Ok(cfg)
    }

    /// Reject settings no model with `vocab` target tokens can generate with: every token id in the
    /// vocabulary (an out-of-range `eos_token_id` never ends a hypothesis, so every translation ran to
    /// the length limit and came out empty), and room for at least one generated token.
    pub fn validate(&self, vocab: usize) -> std::result::Result<(), String> {
        let mut ids: Vec<(&str, u32)> = vec![("decoder_start_token_id", self.decoder_start_token_id), ("pad_token_id", self.pad_token_id)];
        ids.extend(self.eos_token_ids.iter().map(|&e| ("eos_token_id", e)));
        ids.extend(self.forced_eos_token_id.map(|e| ("forced_eos_token_id", e)));
        ids.extend(self.forced_bos_token_id.map(|e| ("forced_bos_token_id", e)));
        ids.extend(self.bad_words_ids.iter().flatten().map(|&e| ("bad_words_ids", e)));
        if let Some((name, id)) = ids.into_iter().find(|(_, id)| *id as usize >= vocab) {
            return Err(format!("{name} {id} is outside the vocabulary of {vocab}"));
        }
        if self.eos_token_ids.is_empty() {
            return Err("eos_token_id is an empty list".into());
        }
        if self.effective_max_length() < 2 {
            return Err(format!("max_length {} leaves no room to generate (the start token takes one)", self.effective_max_length()));
        }
        Ok(())
    }

    /// Total decoder length, start token included, as `generate()` computes it.
    pub fn effective_max_length(&self) -> usize {
        match self.max_new_tokens {
            Some(n) => n + 1,
            None => self.max_length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_config_falls_back_to_model_config() {
        let cfg = r#"{"eos_token_id":0,"pad_token_id":9,"decoder_start_token_id":9,"num_beams":6,"max_length":512,"bad_words_ids":[[9]]}"#;
        let g = GenerationConfig::from_json(None, cfg, Some(0)).unwrap();
        assert_eq!((g.num_beams, g.max_length, g.forced_eos_token_id), (6, 512, Some(0)));
        assert_eq!(g.bad_words_ids, vec![vec![9]]);
        // a generation_config.json wins, and its missing forced_eos stays missing
        let gen = r#"{"num_beams":4,"max_length":64}"#;
        let g = GenerationConfig::from_json(Some(gen), cfg, Some(0)).unwrap();
        assert_eq!((g.num_beams, g.max_length, g.forced_eos_token_id), (4, 64, None));
        assert!(g.bad_words_ids.is_empty());
        assert_eq!(g.eos_token_ids, vec![0]);
    }
}
