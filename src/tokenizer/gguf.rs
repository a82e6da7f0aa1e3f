//! A `tokenizers` tokenizer rebuilt from a GGUF file's metadata, so that a single `.gguf` is enough.
//!
//! Supports the byte-level BPE (`tokenizer.ggml.model = "gpt2"`) used by Qwen2/Qwen2.5/Qwen3, SmolLM2 and
//! Llama 3, with the pre-tokenizer named by `tokenizer.ggml.pre`. Control and user-defined tokens become
//! special added tokens (so `<|im_start|>` in a prompt is one token).
use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{Error, Result};

const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn bad(reason: impl Into<String>) -> Error {
    Error::Tokenizer(format!("GGUF tokenizer: {}", reason.into()))
}

fn strings(v: &Value) -> Result<Vec<String>> {
    v.to_vec()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .map(|x| x.to_string().map(Clone::clone).map_err(|e| bad(e.to_string())))
        .collect()
}

pub fn metadata_str<'a>(content: &'a Content, key: &str) -> Option<&'a String> {
    content.metadata.get(key).and_then(|v| v.to_string().ok())
}

pub fn metadata_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok().or_else(|| v.to_u64().ok().map(|x| x as u32)).or_else(|| v.to_i32().ok().map(|x| x as u32)))
}

pub fn tokenizer_from_gguf(content: &Content) -> Result<Tokenizer> {
    let model = metadata_str(content, "tokenizer.ggml.model").ok_or_else(|| bad("no tokenizer.ggml.model"))?;
    if model != "gpt2" {
        return Err(bad(format!("tokenizer model '{model}' is not supported (only byte-level BPE, 'gpt2'); put the repo's tokenizer.json next to the .gguf")));
    }
    let tokens = strings(content.metadata.get("tokenizer.ggml.tokens").ok_or_else(|| bad("no tokens"))?)?;
    let merges = strings(content.metadata.get("tokenizer.ggml.merges").ok_or_else(|| bad("no merges"))?)?;
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v.to_vec().map_err(|e| bad(e.to_string()))?.iter().map(|x| x.to_i32().unwrap_or(1)).collect(),
        None => vec![1; tokens.len()],
    };
    let vocab: tokenizers::models::bpe::Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect();
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| bad(e.to_string()))?;
    let mut tok = Tokenizer::new(bpe);
    let pre = metadata_str(content, "tokenizer.ggml.pre").map(String::as_str).unwrap_or("default");
    let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
        Ok(Split::new(SplitPattern::Regex(pattern.to_string()), SplitDelimiterBehavior::Isolated, false).map_err(|e| bad(e.to_string()))?.into())
    };
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        "qwen2" | "deepseek-llm" => Sequence::new(vec![split(QWEN2_PATTERN)?, ByteLevel::new(false, false, false).into()]).into(),
        "llama-bpe" | "llama3" | "smaug-bpe" => Sequence::new(vec![split(LLAMA3_PATTERN)?, ByteLevel::new(false, false, false).into()]).into(),
        "smollm" | "starcoder" => Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]).into(),
        _ => ByteLevel::new(false, true, true).into(),
    };
    tok.with_pre_tokenizer(Some(pre_tokenizer));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    // control (3) and user-defined (4) tokens are matched whole
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter().chain(std::iter::repeat(&1)))
        .filter(|(_, &t)| t == 3 || t == 4)
        .map(|(s, _)| AddedToken::from(s.clone(), true))
        .collect();
    tok.add_special_tokens(specials).map_err(|e| bad(e.to_string()))?;
    Ok(tok)
}
