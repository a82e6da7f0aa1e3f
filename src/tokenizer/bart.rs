//! BART's byte-level BPE tokenizer (GPT-2 / RoBERTa vocabulary), as `BartTokenizer` builds it: the repo's
//! `tokenizer.json` when it has one (facebook/bart-large-cnn), otherwise `vocab.json` + `merges.txt`
//! (sshleifer/distilbart-cnn-12-6) with the GPT-2 pre-tokenizer, `<s> … </s>` around each text, and
//! `<s> <pad> </s> <unk> <mask>` matched whole in the input.
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Error, Result};

const SPECIALS: [&str; 5] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];

pub struct BartTokenizer {
    inner: Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
    clean_up_tokenization_spaces: bool,
}

#[derive(serde::Deserialize, Default)]
struct TokenizerConfig {
    clean_up_tokenization_spaces: Option<bool>,
}

impl BartTokenizer {
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let tok_json = dir.join("tokenizer.json");
        let inner = if tok_json.is_file() {
            Tokenizer::from_file(&tok_json)
                .map_err(|e| Error::InvalidModelFile { path: tok_json.clone(), reason: e.to_string() })?
        } else {
            Self::from_vocab_and_merges(dir)?
        };
        let id = |t: &str| {
            inner.token_to_id(t).ok_or_else(|| Error::InvalidModelFile { path: dir.to_path_buf(), reason: format!("the vocabulary has no {t}") })
        };
        let (bos, pad, eos) = (id("<s>")?, id("<pad>")?, id("</s>")?);
        // transformers defaults to no clean-up when tokenizer_config.json does not ask for it
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: TokenizerConfig = match std::fs::read_to_string(&cfg_path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| Error::InvalidConfig { what: "tokenizer config", path: cfg_path.clone(), reason: e.to_string() })?,
            Err(_) => TokenizerConfig::default(),
        };
        Ok(Self { inner, bos, eos, pad, clean_up_tokenization_spaces: cfg.clean_up_tokenization_spaces.unwrap_or(false) })
    }

    fn from_vocab_and_merges(dir: &Path) -> Result<Tokenizer> {
        let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
        for p in [&vocab, &merges] {
            if !p.is_file() {
                return Err(Error::ModelUnavailable(format!("{} is missing (BART needs tokenizer.json or vocab.json + merges.txt)", p.display())));
            }
        }
        let invalid = |e: String| Error::InvalidModelFile { path: dir.to_path_buf(), reason: format!("vocab.json/merges.txt: {e}") };
        let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy()).build().map_err(|e| invalid(e.to_string()))?;
        let mut tok = Tokenizer::new(bpe);
        // GPT-2's regex split, no prefix space: what BartTokenizer / RobertaTokenizer do by default
        tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        tok.with_decoder(Some(ByteLevelDecoder::default()));
        let id = |t: &str| tok.token_to_id(t).ok_or_else(|| invalid(format!("no {t} in vocab.json")));
        let processor = RobertaProcessing::new(("</s>".into(), id("</s>")?), ("<s>".into(), id("<s>")?)).trim_offsets(true).add_prefix_space(false);
        tok.with_post_processor(Some(processor));
        let specials: Vec<AddedToken> = SPECIALS
            .iter()
            .filter(|t| tok.token_to_id(t).is_some())
            // BartTokenizer: "<mask>" swallows the space before it
            .map(|t| AddedToken::from(*t, true).lstrip(*t == "<mask>"))
            .collect();
        tok.add_special_tokens(specials).map_err(|e| invalid(e.to_string()))?;
        Ok(tok)
    }

    /// `<s> … </s>` ids of one text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Number of ids `encode` gives, without the two added tokens.
    pub fn count(&self, text: &str) -> Result<usize> {
        let enc = self.inner.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().len())
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let text = self.inner.decode(ids, skip_special_tokens).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(if self.clean_up_tokenization_spaces { super::marian::clean_up_tokenization(&text) } else { text })
    }

    pub fn bos_id(&self) -> u32 {
        self.bos
    }
    pub fn eos_id(&self) -> u32 {
        self.eos
    }
    pub fn pad_id(&self) -> u32 {
        self.pad
    }
}
