//! Instruct LLMs from a single GGUF file: on the CPU, llama (SmolLM2, Llama) and qwen2 through our own
//! [`super::gguf_llama`] (GGML block kernels, f16 KV cache); on GPUs, and for mixture-of-experts llama,
//! qwen3, gemma3 and phi3, through candle's quantized model files. Tokenizer from a `tokenizer.json`
//! beside the file or rebuilt from the GGUF metadata; chat format from the GGUF's chat template; greedy
//! decoding by default, optional temperature/top-p sampling with a seed; stop tokens; context-length
//! aware.
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::{quantized_gemma3, quantized_llama, quantized_phi3, quantized_qwen2, quantized_qwen3};
use tokenizers::Tokenizer;

use super::gguf_llama;
use crate::kernels::decode_attention::HeadKvCache;
use crate::error::{Error, Result};
use crate::generation::constraint::Constraint;
use crate::tokenizer::gguf::{metadata_str, metadata_u32, tokenizer_from_gguf};

enum Weights {
    LlamaFamily(gguf_llama::ModelWeights),
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
    Phi3(quantized_phi3::ModelWeights),
}

impl Weights {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::LlamaFamily(m) => m.forward(x, pos),
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
            Weights::Qwen3(m) => m.forward(x, pos),
            Weights::Gemma3(m) => m.forward(x, pos),
            Weights::Phi3(m) => m.forward(x, pos),
        }
    }
    /// One decoding step of several sequences (see `gguf_llama::ModelWeights::forward_sequences`);
    /// `None` for decoders whose caches cannot be taken out (candle's).
    fn forward_sequences(&self, tokens: &[u32], positions: &[usize], caches: &mut [Vec<HeadKvCache>]) -> Option<candle_core::Result<Tensor>> {
        match self {
            Weights::LlamaFamily(m) => Some(crate::kernels::ggml_blocks::with_decoding_kernels(|| m.forward_sequences(tokens, positions, caches))),
            _ => None,
        }
    }

    fn decodes_together(&self) -> bool {
        matches!(self, Weights::LlamaFamily(m) if m.rows_are_independent())
    }

    fn reserve(&self, kv: &mut [HeadKvCache], positions: usize) {
        if let Weights::LlamaFamily(m) = self {
            m.reserve_kv_cache(kv, positions);
        }
    }

    /// Keep the first `positions` cached positions (only decoders whose cache can be taken out are
    /// ever cut; see `take_cache`).
    fn truncate(&mut self, positions: usize) {
        if let Weights::LlamaFamily(m) = self {
            m.truncate_kv_cache(positions);
        }
    }

    /// The KV cache taken out, to keep aside; `None` when this decoder's cache cannot be.
    fn take_cache(&mut self) -> Option<Vec<HeadKvCache>> {
        match self {
            Weights::LlamaFamily(m) => Some(m.take_kv_cache()),
            _ => None,
        }
    }

    fn restore_cache(&mut self, kv: Vec<HeadKvCache>) {
        if let Weights::LlamaFamily(m) = self {
            m.restore_kv_cache(kv);
        }
    }

    /// A copy of a kept cache's first `positions` positions.
    fn cache_prefix(&self, kv: &[HeadKvCache], positions: usize) -> Vec<HeadKvCache> {
        match self {
            Weights::LlamaFamily(m) => m.kv_cache_prefix(kv, positions),
            _ => Vec::new(),
        }
    }

    fn clear(&mut self) {
        match self {
            Weights::LlamaFamily(m) => m.clear_kv_cache(),
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
            // gemma3 and phi3 reset their caches when a forward starts at position 0
            Weights::Gemma3(_) | Weights::Phi3(_) => {}
        }
    }
}

/// How a conversation is written for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ChatFormat {
    ChatMl,
    Llama3,
    Gemma,
    Phi3,
}

impl ChatFormat {
    fn from_template(t: &str) -> Option<Self> {
        if t.contains("<|im_start|>") {
            Some(ChatFormat::ChatMl)
        } else if t.contains("<|start_header_id|>") {
            Some(ChatFormat::Llama3)
        } else if t.contains("<start_of_turn>") {
            Some(ChatFormat::Gemma)
        } else if t.contains("<|user|>") {
            Some(ChatFormat::Phi3)
        } else {
            None
        }
    }

    pub fn render(&self, system: &str, user: &str) -> String {
        match self {
            ChatFormat::ChatMl => format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"),
            ChatFormat::Llama3 => format!(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            ),
            ChatFormat::Gemma => format!("<bos><start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n"),
            ChatFormat::Phi3 => format!("<|system|>\n{system}<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SamplingParams {
    pub max_new_tokens: usize,
    /// None or 0 = greedy (deterministic).
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: u64,
    /// Penalty on tokens of the last `repeat_last_n` generated (1.0 = off); small models loop without it.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { max_new_tokens: 256, temperature: None, top_p: None, seed: 299792458, repeat_penalty: 1.1, repeat_last_n: 64 }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub text: String,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prompt_seconds: f64,
    /// Seconds of decoding; a reply decoded with others ([`GgufLlm::chat_batch`]) is charged an equal
    /// share of each step it was in.
    pub generation_seconds: f64,
    /// False when generation stopped at `max_new_tokens` rather than at a stop token.
    pub stopped: bool,
}

pub struct GgufLlm {
    weights: Weights,
    tokenizer: Tokenizer,
    pub chat: ChatFormat,
    stop_ids: Vec<u32>,
    pub context_length: usize,
    pub architecture: String,
    /// `general.name` of the file.
    pub name: String,
    /// A readable label: family, size, instruct, quantization and file name.
    pub label: String,
    /// Parameters (elements of all weight tensors).
    pub parameters: u64,
    pub path: PathBuf,
    device: Device,
    /// The prompt ids whose keys and values the live cache holds (generated tokens' are not counted:
    /// they were computed one row at a time, with other kernels than a prompt's rows).
    cached: Vec<u32>,
    /// Caches of earlier prompts kept aside, oldest first, each with its prompt ids.
    kept: Vec<(Vec<u32>, Vec<HeadKvCache>)>,
    /// Prompt positions computed and taken from kept caches, since loading.
    prompt_counts: PromptCounts,
    /// Each token's bytes (`None` for special tokens), built on the first constrained generation.
    token_bytes: Option<Vec<Option<Vec<u8>>>>,
}

/// candle's GGUF header reader, with a panic inside it (a zero `general.alignment` divided by) turned
/// into an error: a corrupt file must fail its check, not take the process down.
pub fn read_gguf<R: std::io::Read + std::io::Seek>(r: &mut R) -> std::result::Result<gguf_file::Content, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| gguf_file::Content::read(r))) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the GGUF header is corrupt (the reader failed on it)".into()),
    }
}

/// Every tensor of a GGUF header lies inside the file, whole. Returns the number of tensors.
pub fn gguf_layout(content: &gguf_file::Content, file_len: u64) -> std::result::Result<usize, String> {
    let data = file_len.checked_sub(content.tensor_data_offset).ok_or("GGUF tensor data starts past the end of the file")?;
    for (name, t) in &content.tensor_infos {
        let (block, size) = (t.ggml_dtype.block_size() as u64, t.ggml_dtype.type_size() as u64);
        let elems = t.shape.dims().iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).ok_or_else(|| format!("GGUF tensor {name}: shape overflows"))?;
        if block == 0 || elems % block != 0 {
            return Err(format!("GGUF tensor {name}: {elems} values do not fill whole {block}-value blocks"));
        }
        let bytes = (elems / block).checked_mul(size).ok_or_else(|| format!("GGUF tensor {name}: size overflows"))?;
        let end = t.offset.checked_add(bytes).ok_or_else(|| format!("GGUF tensor {name}: offset overflows"))?;
        if end > data {
            return Err(format!("GGUF tensor {name} ends at byte {end} of the data, which has {data} (truncated file)"));
        }
    }
    Ok(content.tensor_infos.len())
}

/// Process prompts in chunks of this many tokens (bounded memory, and a KV cache that grows in steps).
const PROMPT_CHUNK: usize = 512;

/// Caches of earlier prompts kept besides the live one. A brief alternates prompt kinds (an article's
/// points, then verdicts on them, a rewrite, more verdicts) that each share a prefix with an earlier
/// prompt of their kind, not with the one just before. At most 4 prompts of ~1000 positions: 112 MB
/// for the 1.5B (28 layers × 2 K/V heads × 128 × 2 bytes × 2 = 28 KB a position), 48 MB for the 0.5B.
const KEPT_PROMPTS: usize = 3;

/// What speculative decoding did: target passes, tokens the draft proposed and those kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SpeculativeStats {
    pub passes: usize,
    pub drafted: usize,
    pub accepted: usize,
    /// Seconds the draft took to read the prompt (part of `generation_seconds`).
    pub draft_prompt_seconds: f64,
}

/// `VERTOLK_NO_PROMPT_CACHE=1`: every prompt computed from its first position, so that the cache's
/// saving (and that it changes no output) can be measured on one build.
fn prompt_cache_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var("VERTOLK_NO_PROMPT_CACHE").is_ok_and(|v| v == "1"))
}

/// One position's logits (`(vocab,)`) in f32 with the repeat penalty on the last `repeat_last_n`
/// tokens of `out`: what plain and speculative generation both choose from, so that they choose alike.
fn penalized(row: &Tensor, out: &[u32], params: &SamplingParams) -> Result<Tensor> {
    let l = row.to_dtype(candle_core::DType::F32)?;
    if params.repeat_penalty == 1.0 || out.is_empty() {
        return Ok(l);
    }
    let start = out.len().saturating_sub(params.repeat_last_n);
    Ok(candle_transformers::utils::apply_repeat_penalty(&l, params.repeat_penalty, &out[start..])?)
}

/// The sampler `params` ask for, and whether it is greedy.
fn sampler(params: &SamplingParams) -> (LogitsProcessor, bool) {
    let sampling = match params.temperature {
        Some(t) if t > 0.0 => match params.top_p {
            Some(p) => Sampling::TopP { p, temperature: t },
            None => Sampling::All { temperature: t },
        },
        _ => Sampling::ArgMax,
    };
    let greedy = matches!(sampling, Sampling::ArgMax);
    (LogitsProcessor::from_sampling(params.seed, sampling), greedy)
}

/// Replies decoded together by [`GgufLlm::chat_batch`], at most: each keeps its own KV cache (a
/// 1000-token prompt's is 29 MB on the 1.5B), and a step of 8 rows already costs about what one
/// costs (decoding reads every weight once per step; 8 rows of arithmetic are a sixth of a step).
pub const BATCH_REPLIES: usize = 8;

/// One chat turn for [`GgufLlm::chat_batch`].
pub struct ChatRequest<'c> {
    pub system: String,
    pub user: String,
    pub params: SamplingParams,
    pub constraint: Option<&'c mut dyn Constraint>,
}

/// A reply being decoded in a batch.
struct Decoding<'c> {
    prompt_tokens: usize,
    params: SamplingParams,
    constraint: Option<&'c mut dyn Constraint>,
    lp: LogitsProcessor,
    greedy: bool,
    logits: Tensor,
    kv: Vec<HeadKvCache>,
    pos: usize,
    out: Vec<u32>,
    stopped: bool,
    done: bool,
    prompt_seconds: f64,
    generation_seconds: f64,
}

/// Prompt positions a model computed and those it took from a cached prefix instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PromptCounts {
    pub computed: u64,
    pub reused: u64,
}

/// The quantization a GGUF's `general.file_type` names (llama.cpp's `llama_ftype`).
fn file_type_name(t: u32) -> Option<&'static str> {
    Some(match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    })
}

/// GPT-2's byte-level alphabet: the character each byte is written as in a byte-level BPE vocabulary.
fn byte_level_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..256u32 {
        let printable = (b'!' as u32..=b'~' as u32).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('?')
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('?')
        };
    }
    table
}

impl GgufLlm {
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModelFile { path: path.to_path_buf(), reason };
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let content = read_gguf(&mut file).map_err(|e| invalid(format!("GGUF: {e}")))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // tensors past the end of a truncated file: refused here, before any is read
        gguf_layout(&content, file_len).map_err(invalid)?;
        let arch = metadata_str(&content, "general.architecture").cloned().ok_or_else(|| invalid("no general.architecture".into()))?;
        let name = metadata_str(&content, "general.name").cloned().unwrap_or_else(|| arch.clone());
        let parameters: u64 = content.tensor_infos.values().map(|t| t.shape.elem_count() as u64).sum();
        let label = {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let base = metadata_str(&content, "general.basename").cloned().unwrap_or_else(|| name.clone());
            let size = metadata_str(&content, "general.size_label").cloned().unwrap_or_default();
            let instruct = [file.to_lowercase(), metadata_str(&content, "general.finetune").cloned().unwrap_or_default().to_lowercase()].iter().any(|s| s.contains("instruct"));
            let quant = metadata_u32(&content, "general.file_type").and_then(file_type_name).unwrap_or("");
            let parts: Vec<&str> = [base.as_str(), size.as_str(), if instruct { "Instruct" } else { "" }, quant].into_iter().filter(|p| !p.is_empty()).collect();
            format!("{} ({file})", parts.join(" "))
        };
        let context_length = metadata_u32(&content, &format!("{arch}.context_length")).unwrap_or(2048) as usize;
        let tokenizer = match path.parent().map(|p| p.join("tokenizer.json")).filter(|p| p.is_file()) {
            Some(tj) => Tokenizer::from_file(&tj).map_err(|e| Error::Tokenizer(format!("{}: {e}", tj.display())))?,
            None => tokenizer_from_gguf(&content)?,
        };
        let template = metadata_str(&content, "tokenizer.chat_template").cloned().unwrap_or_default();
        let chat = ChatFormat::from_template(&template).unwrap_or(match arch.as_str() {
            "gemma3" => ChatFormat::Gemma,
            "phi3" => ChatFormat::Phi3,
            _ => ChatFormat::ChatMl,
        });
        let mut stop_ids: Vec<u32> = Vec::new();
        if let Some(e) = metadata_u32(&content, "tokenizer.ggml.eos_token_id") {
            stop_ids.push(e);
        }
        for s in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"] {
            if let Some(id) = tokenizer.token_to_id(s) {
                stop_ids.push(id);
            }
        }
        let weights = match arch.as_str() {
            a if device.is_cpu() && gguf_llama::Config::implements(&content, a) => {
                Weights::LlamaFamily(gguf_llama::ModelWeights::from_gguf_mapped(content, &mut file, device).map_err(|e| invalid(e.to_string()))?)
            }
            "llama" => Weights::Llama(quantized_llama::ModelWeights::from_gguf(content, &mut file, device).map_err(|e| invalid(e.to_string()))?),
            "qwen2" => Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(content, &mut file, device).map_err(|e| invalid(e.to_string()))?),
            "qwen3" => Weights::Qwen3(quantized_qwen3::ModelWeights::from_gguf(content, &mut file, device).map_err(|e| invalid(e.to_string()))?),
            "gemma3" => Weights::Gemma3(quantized_gemma3::ModelWeights::from_gguf(content, &mut file, device).map_err(|e| invalid(e.to_string()))?),
            "phi3" => Weights::Phi3(quantized_phi3::ModelWeights::from_gguf(false, content, &mut file, device).map_err(|e| invalid(e.to_string()))?),
            other => return Err(invalid(format!("architecture '{other}' is not supported (llama, qwen2, qwen3, gemma3, phi3)"))),
        };
        Ok(Self {
            weights,
            tokenizer,
            chat,
            stop_ids,
            context_length,
            architecture: arch,
            name,
            label,
            parameters,
            path: path.to_path_buf(),
            device: device.clone(),
            cached: Vec::new(),
            kept: Vec::new(),
            prompt_counts: PromptCounts::default(),
            token_bytes: None,
        })
    }

    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.tokenizer.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?.len())
    }

    /// Run one chat turn: system + user message in, the assistant's reply out.
    pub fn chat(&mut self, system: &str, user: &str, params: &SamplingParams) -> Result<Generated> {
        let prompt = self.chat.render(system, user);
        self.generate(&prompt, params)
    }

    /// Generate from a fully formatted prompt.
    pub fn generate(&mut self, prompt: &str, params: &SamplingParams) -> Result<Generated> {
        self.generate_constrained(prompt, params, None)
    }

    /// One chat turn whose reply must satisfy `constraint` (see [`Constraint`]).
    pub fn chat_constrained(&mut self, system: &str, user: &str, params: &SamplingParams, constraint: &mut dyn Constraint) -> Result<Generated> {
        let prompt = self.chat.render(system, user);
        self.generate_constrained(&prompt, params, Some(constraint))
    }

    /// Whether [`chat_batch`](Self::chat_batch) decodes its turns together here (vertolk's decoder with
    /// every layer on its block kernels), rather than one after another.
    pub fn decodes_together(&self) -> bool {
        self.weights.decodes_together()
    }

    /// Several chat turns, each reply the one [`chat_constrained`](Self::chat_constrained) (or
    /// [`chat`](Self::chat)) gives it alone, token for token, in the order asked. Their prompts are read
    /// one after another as usual (continuing from cached prefixes); then the replies are decoded
    /// together, one row per unfinished reply in each step, so that a step reads the weights once for
    /// all of them ([`BATCH_REPLIES`] at a time). Every row runs the one-row kernels
    /// (`with_decoding_kernels`) and attends to its own cache, which is what keeps each reply its own.
    /// Decoders whose caches cannot be taken out (candle's, on GPUs), or with layers left to candle
    /// ([`decodes_together`](Self::decodes_together)), answer them one after another. A turn that fails
    /// (one that does not fit the context) gets its error and the others go on; an interruption ends
    /// them all.
    pub fn chat_batch(&mut self, requests: Vec<ChatRequest<'_>>) -> Result<Vec<Result<Generated>>> {
        let mut results = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let wave: Vec<ChatRequest<'_>> = requests.by_ref().take(BATCH_REPLIES).collect();
            results.extend(self.decode_together(wave)?);
        }
        Ok(results)
    }

    fn decode_together(&mut self, wave: Vec<ChatRequest<'_>>) -> Result<Vec<Result<Generated>>> {
        if wave.iter().any(|r| r.constraint.is_some()) && self.token_bytes.is_none() {
            self.token_bytes = Some(self.build_token_bytes());
        }
        if !self.weights.decodes_together() {
            let mut out = Vec::with_capacity(wave.len());
            for r in wave {
                crate::interrupt::check()?;
                out.push(match r.constraint {
                    Some(c) => self.chat_constrained(&r.system, &r.user, &r.params, c),
                    None => self.chat(&r.system, &r.user, &r.params),
                });
            }
            return Ok(out);
        }
        rayon::scope(|_| -> Result<Vec<Result<Generated>>> {
            // the prompts, one after another; each reply's cache is a copy, the live cache stays for the next prompt
            let mut slots: Vec<std::result::Result<Decoding<'_>, Error>> = Vec::with_capacity(wave.len());
            for r in wave {
                crate::interrupt::check()?;
                slots.push(self.start_decoding(r));
            }
            loop {
                crate::interrupt::check()?;
                let step = Instant::now();
                let mut tokens = Vec::new();
                let mut rows = Vec::new();
                for (i, slot) in slots.iter_mut().enumerate() {
                    let Ok(d) = slot else { continue };
                    if d.done {
                        continue;
                    }
                    if d.out.len() >= d.params.max_new_tokens {
                        d.done = true;
                    } else {
                        match self.choose_next(&d.logits, &d.out, &d.params, d.constraint.as_deref(), &mut d.lp, d.greedy) {
                            Err(e) => {
                                *slot = Err(e);
                                continue;
                            }
                            Ok(None) => d.done = true,
                            Ok(Some(next)) if self.stop_ids.contains(&next) => (d.stopped, d.done) = (true, true),
                            Ok(Some(next)) => {
                                if self.advance(next, &mut d.out, d.constraint.as_deref_mut()) {
                                    (d.stopped, d.done) = (true, true);
                                } else {
                                    tokens.push(next);
                                    rows.push(i);
                                }
                            }
                        }
                    }
                    if d.done {
                        d.kv = Vec::new();
                    }
                }
                if rows.is_empty() {
                    break;
                }
                let mut caches: Vec<Vec<HeadKvCache>> = Vec::with_capacity(rows.len());
                let mut positions = Vec::with_capacity(rows.len());
                for &i in &rows {
                    if let Ok(d) = &mut slots[i] {
                        caches.push(std::mem::take(&mut d.kv));
                        positions.push(d.pos);
                    }
                }
                let logits = match self.weights.forward_sequences(&tokens, &positions, &mut caches) {
                    Some(Ok(l)) => Ok(l),
                    Some(Err(e)) => Err(Error::from(e)),
                    None => Err(Error::Internal("batched decoding on a decoder without it".into())),
                };
                // each row is charged an equal share of its step
                let share = step.elapsed().as_secs_f64() / rows.len() as f64;
                for ((j, &i), kv) in rows.iter().enumerate().zip(caches) {
                    let row = logits.as_ref().map_err(Clone::clone).and_then(|l| Ok(l.get(j)?));
                    match (&mut slots[i], row) {
                        (Ok(d), Ok(row)) => {
                            d.logits = row;
                            d.kv = kv;
                            d.pos += 1;
                            d.generation_seconds += share;
                        }
                        (slot, Err(e)) => *slot = Err(e),
                        (Err(_), Ok(_)) => {} // rows are only those of replies still going
                    }
                }
            }
            slots
                .into_iter()
                .map(|d| {
                    let d = match d {
                        Ok(d) => d,
                        Err(e) => return Ok(Err(e)),
                    };
                    let text = match self.tokenizer.decode(&d.out, true) {
                        Ok(t) => t,
                        Err(e) => return Ok(Err(Error::Tokenizer(e.to_string()))),
                    };
                    tracing::info!(prompt_tokens = d.prompt_tokens, generated = d.out.len(), seconds = format!("{:.1}", d.generation_seconds), "llm generate, batched");
                    Ok(Ok(Generated { text: text.trim().to_string(), prompt_tokens: d.prompt_tokens, generated_tokens: d.out.len(), prompt_seconds: d.prompt_seconds, generation_seconds: d.generation_seconds, stopped: d.stopped }))
                })
                .collect()
        })
    }

    /// A reply's prompt read and its cache copied out, ready to decode ([`decode_together`](Self::decode_together)).
    fn start_decoding<'c>(&mut self, r: ChatRequest<'c>) -> Result<Decoding<'c>> {
        let ids = self.encode(&self.chat.render(&r.system, &r.user))?;
        self.check_fits(&ids, &r.params)?;
        let t0 = Instant::now();
        let logits = self.process_prompt(&ids)?.squeeze(0)?;
        let kv = self.weights.take_cache().ok_or_else(|| Error::Internal("no cache to decode from".into()))?;
        let mut copy = self.weights.cache_prefix(&kv, ids.len());
        self.weights.restore_cache(kv);
        self.weights.reserve(&mut copy, r.params.max_new_tokens);
        let (lp, greedy) = sampler(&r.params);
        Ok(Decoding {
            prompt_tokens: ids.len(),
            params: r.params,
            constraint: r.constraint,
            lp,
            greedy,
            logits,
            kv: copy,
            pos: ids.len(),
            out: Vec::new(),
            stopped: false,
            done: false,
            prompt_seconds: t0.elapsed().as_secs_f64(),
            generation_seconds: 0.0,
        })
    }

    /// The logits of the token after a chat turn's prompt (the reply's first token), for scoring a
    /// fixed set of answers (a yes/no verdict) without generating.
    pub fn next_token_logits(&mut self, system: &str, user: &str) -> Result<Vec<f32>> {
        let ids = self.encode(&self.chat.render(system, user))?;
        rayon::scope(|_| -> Result<Vec<f32>> {
            let logits = self.process_prompt(&ids)?;
            Ok(logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?)
        })
    }

    /// The id of a token written exactly as `text`, if the vocabulary has one.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        let ids = self.tokenizer.encode(text, false).ok()?;
        match ids.get_ids() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Generate from a fully formatted prompt, constrained when a constraint is given.
    pub fn generate_constrained(&mut self, prompt: &str, params: &SamplingParams, constraint: Option<&mut dyn Constraint>) -> Result<Generated> {
        let ids = self.encode(prompt)?;
        if constraint.is_some() && self.token_bytes.is_none() {
            self.token_bytes = Some(self.build_token_bytes());
        }
        let (out, stopped, prompt_seconds, generation_seconds) = rayon::scope(|_| self.generate_ids_in_pool(&ids, params, constraint))?;
        tracing::info!(
            prompt_tokens = ids.len(),
            prompt_tok_s = format!("{:.1}", ids.len() as f64 / prompt_seconds.max(1e-9)),
            generated = out.len(),
            gen_tok_s = format!("{:.1}", out.len() as f64 / generation_seconds.max(1e-9)),
            "llm generate"
        );
        let text = self.tokenizer.decode(&out, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(Generated { text: text.trim().to_string(), prompt_tokens: ids.len(), generated_tokens: out.len(), prompt_seconds, generation_seconds, stopped })
    }

    /// The prompt's token ids, as [`generate`](Self::generate) encodes them.
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(prompt, false).map_err(|e| Error::Tokenizer(e.to_string()))?.get_ids().to_vec())
    }

    /// Each token's bytes: byte-level BPE pieces mapped back through GPT-2's alphabet, SentencePiece
    /// pieces with `▁` as a space and `<0xNN>` as a byte; `None` for added (special) tokens.
    fn build_token_bytes(&self) -> Vec<Option<Vec<u8>>> {
        let alphabet = byte_level_chars();
        let mut byte_of = std::collections::HashMap::new();
        for (b, c) in alphabet.iter().enumerate() {
            byte_of.insert(*c, b as u8);
        }
        let added: std::collections::HashSet<u32> = self.tokenizer.get_added_tokens_decoder().keys().copied().collect();
        let n = self.tokenizer.get_vocab_size(true) as u32;
        (0..n)
            .map(|id| {
                if added.contains(&id) {
                    return None;
                }
                let piece = self.tokenizer.id_to_token(id)?;
                if let Some(hex) = piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')) {
                    return u8::from_str_radix(hex, 16).ok().map(|b| vec![b]);
                }
                match piece.chars().map(|c| byte_of.get(&c).copied()).collect::<Option<Vec<u8>>>() {
                    Some(bytes) if !piece.contains('▁') => Some(bytes),
                    _ => Some(piece.replace('▁', " ").into_bytes()),
                }
            })
            .collect()
    }

    /// Greedy generation from `prompt` with `draft` (a smaller model with the same tokenizer) proposing
    /// up to `k` tokens at a time, which this model checks in one pass (speculative decoding). The
    /// output is [`generate`](Self::generate)'s greedy output token for token: the checking pass runs
    /// the decoding kernels (`kernels::ggml_blocks::with_decoding_kernels`), and attention computes
    /// each row as it would alone, so each checked row's logits are those of a one-token step.
    /// `generation_seconds` includes the draft's reading of the prompt.
    pub fn generate_speculative(&mut self, draft: &mut GgufLlm, prompt: &str, params: &SamplingParams, k: usize) -> Result<(Generated, SpeculativeStats)> {
        let unsupported = |why: &str| Error::Input { path: "speculative decoding".into(), reason: why.into() };
        if params.temperature.is_some_and(|t| t > 0.0) {
            return Err(unsupported("greedy decoding only"));
        }
        if !matches!(self.weights, Weights::LlamaFamily(_)) || !matches!(draft.weights, Weights::LlamaFamily(_)) {
            return Err(unsupported("both models must run on vertolk's llama-family decoder"));
        }
        let ids = self.encode(prompt)?;
        if draft.encode(prompt)? != ids || draft.tokenizer.get_vocab_size(true) != self.tokenizer.get_vocab_size(true) {
            return Err(unsupported("the draft model's tokenizer differs"));
        }
        if ids.len() + params.max_new_tokens + k + 1 > self.context_length.min(draft.context_length) {
            return Err(unsupported("prompt and generation exceed a model's context"));
        }
        let (out, stopped, prompt_seconds, generation_seconds, stats) = rayon::scope(|_| -> Result<_> {
            let mut lp = LogitsProcessor::from_sampling(params.seed, Sampling::ArgMax);
            let mut choose = |row: &Tensor, out: &[u32]| -> Result<u32> { Ok(lp.sample(&penalized(row, out, params)?)?) };
            let t0 = Instant::now();
            let first = self.process_prompt(&ids)?.squeeze(0)?;
            let prompt_seconds = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            draft.process_prompt(&ids)?;
            let mut stats = SpeculativeStats { draft_prompt_seconds: t1.elapsed().as_secs_f64(), ..Default::default() };
            let (mut out, mut stopped) = (Vec::new(), false);
            let mut pending = choose(&first, &out)?;
            // the draft has read the prompt and out[..draft_seen]
            let mut draft_seen = 0;
            let (Weights::LlamaFamily(target), Weights::LlamaFamily(small)) = (&mut self.weights, &mut draft.weights) else {
                return Err(unsupported("both models must run on vertolk's llama-family decoder"));
            };
            loop {
                if self.stop_ids.contains(&pending) {
                    stopped = true;
                    break;
                }
                out.push(pending);
                if out.len() >= params.max_new_tokens {
                    break;
                }
                crate::interrupt::check()?;
                // the draft's guesses after `out`
                let unseen = Tensor::new(&out[draft_seen..], &self.device)?.unsqueeze(0)?;
                let mut draft_logits = small.forward(&unseen, ids.len() + draft_seen)?.squeeze(0)?;
                draft_seen = out.len();
                let mut guesses: Vec<u32> = Vec::with_capacity(k);
                let room = k.min(params.max_new_tokens - out.len());
                while guesses.len() < room {
                    let seen: Vec<u32> = out.iter().chain(&guesses).copied().collect();
                    let g = choose(&draft_logits, &seen)?;
                    guesses.push(g);
                    if self.stop_ids.contains(&g) || guesses.len() == room {
                        break;
                    }
                    draft_logits = small.forward(&Tensor::new(&[g], &self.device)?.unsqueeze(0)?, ids.len() + out.len() + guesses.len() - 1)?.squeeze(0)?;
                }
                // one pass of the target over the pending token and the guesses
                let rows: Vec<u32> = std::iter::once(pending).chain(guesses.iter().copied()).collect();
                let at = ids.len() + out.len() - 1;
                let logits = crate::kernels::ggml_blocks::with_decoding_kernels(|| target.forward_all(&Tensor::new(rows.as_slice(), &self.device)?.unsqueeze(0)?, at))?;
                stats.passes += 1;
                stats.drafted += guesses.len();
                let mut accepted = 0;
                pending = loop {
                    let c = choose(&logits.get(accepted)?, &out)?;
                    if accepted < guesses.len() && c == guesses[accepted] && !self.stop_ids.contains(&c) && out.len() < params.max_new_tokens {
                        out.push(c);
                        accepted += 1;
                    } else {
                        break c;
                    }
                };
                stats.accepted += accepted;
                target.truncate_kv_cache(ids.len() + out.len());
                // the draft read every guess but the last; those kept are now part of `out`
                draft_seen += accepted.min(guesses.len().saturating_sub(1));
                small.truncate_kv_cache(ids.len() + draft_seen);
                if out.len() >= params.max_new_tokens {
                    break;
                }
            }
            Ok((out, stopped, prompt_seconds, t1.elapsed().as_secs_f64(), stats))
        })?;
        let text = self.tokenizer.decode(&out, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let generated = Generated { text: text.trim().to_string(), prompt_tokens: ids.len(), generated_tokens: out.len(), prompt_seconds, generation_seconds, stopped };
        Ok((generated, stats))
    }

    /// Prompt positions computed and reused since the model was loaded.
    pub fn prompt_counts(&self) -> PromptCounts {
        self.prompt_counts
    }

    /// Feed a prompt, continuing from the longest prefix it shares with the live cache or a kept one;
    /// the logits of its last position.
    ///
    /// Continuing gives the logits of a fresh run bit for bit: every prompt row's arithmetic is its
    /// own (the block kernels and the attention never mix rows, see `kernels::ggml_blocks` and
    /// `kernels::decode_attention`), and at least 2 rows are always computed, since a call with one
    /// row runs the decoding kernels. A cache that the new prompt would cut short is kept aside, not
    /// cut: the prompt continues on a copy of the shared prefix.
    fn process_prompt(&mut self, ids: &[u32]) -> Result<Tensor> {
        if ids.is_empty() {
            return Err(Error::Input { path: "prompt".into(), reason: "empty prompt".into() });
        }
        let start = self.continue_from_cached_prefix(ids);
        let mut logits = None;
        let mut pos = start;
        while pos < ids.len() {
            let mut end = (pos + PROMPT_CHUNK).min(ids.len());
            if ids.len() - end == 1 {
                end -= 1; // never leave a last chunk of one row (see above)
            }
            let chunk = &ids[pos..end];
            let x = Tensor::new(chunk, &self.device)?.unsqueeze(0)?;
            logits = Some(self.weights.forward(&x, pos)?);
            self.cached.extend_from_slice(chunk);
            pos = end;
        }
        self.prompt_counts.computed += (ids.len() - start) as u64;
        self.prompt_counts.reused += start as u64;
        tracing::debug!(prompt = ids.len(), reused = start, kept = self.kept.len(), "prompt processed");
        logits.ok_or_else(|| Error::Internal("no prompt logits".into()))
    }

    /// Make the live cache hold the longest usable prefix of `ids` found in the live or a kept cache;
    /// the number of positions it then holds (`self.cached` is those ids).
    fn continue_from_cached_prefix(&mut self, ids: &[u32]) -> usize {
        // at least the last 2 positions are computed (one-row calls use other kernels)
        let usable = |c: &[u32]| -> usize { c.iter().zip(ids).take_while(|(a, b)| a == b).count().min(ids.len().saturating_sub(2)) };
        let live = usable(&self.cached);
        let best_kept = self.kept.iter().enumerate().map(|(i, (k, _))| (usable(k), i)).max();
        let kv = if prompt_cache_off() { None } else { self.weights.take_cache() };
        let Some(kv) = kv else {
            // a decoder whose cache cannot be kept or cut starts over
            self.weights.clear();
            self.cached.clear();
            return 0;
        };
        let old_ids = std::mem::take(&mut self.cached);
        let (from_kept, n) = match best_kept {
            Some((n, i)) if n > live => (Some(i), n),
            _ => (None, live),
        };
        // the live cache is kept aside unless the new prompt only extends it
        let (next, live_kv) = if from_kept.is_none() && n == old_ids.len() {
            (kv, None)
        } else {
            let copy = match from_kept {
                Some(i) => self.weights.cache_prefix(&self.kept[i].1, n),
                None => self.weights.cache_prefix(&kv, n),
            };
            (copy, Some(kv))
        };
        if let Some(i) = from_kept {
            // most recently used last
            let entry = self.kept.remove(i);
            self.kept.push(entry);
        }
        if let Some(kv) = live_kv.filter(|_| !old_ids.is_empty()) {
            // a kept prompt that the live one extends is covered by it
            self.kept.retain(|(k, _)| !old_ids.starts_with(k));
            self.kept.push((old_ids, kv));
            if self.kept.len() > KEPT_PROMPTS {
                self.kept.remove(0);
            }
        }
        self.weights.restore_cache(next);
        self.weights.truncate(n);
        self.cached = ids[..n].to_vec();
        n
    }

    /// The best token the constraint allows (by the logits as processed), with the model's own
    /// choice tried first; the stop token counts when the constraint may end.
    fn constrained_choice(&self, logits: &[f32], constraint: &dyn Constraint, remaining: usize) -> Option<u32> {
        let bytes = self.token_bytes.as_deref()?;
        let allowed = |id: usize| -> bool {
            if self.stop_ids.contains(&(id as u32)) {
                return constraint.allows_end();
            }
            match bytes.get(id) {
                Some(Some(b)) if !b.is_empty() => constraint.allows(b, remaining),
                _ => false,
            }
        };
        // the model's own choice is almost always allowed: one pass, no sort
        let best = crate::kernels::fastmath::argmax(logits);
        if allowed(best) {
            return Some(best as u32);
        }
        let mut order: Vec<usize> = (0..logits.len()).collect();
        // the top 64 first (almost always enough), the full order only when none of them is allowed
        let k = 64.min(order.len());
        order.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| logits[b].total_cmp(&logits[a]));
        let (top, rest) = order.split_at_mut(k);
        top.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if let Some(&id) = top.iter().find(|&&id| allowed(id)) {
            return Some(id as u32);
        }
        rest.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        rest.iter().find(|&&id| allowed(id)).map(|&id| id as u32)
    }

    /// A prompt of `ids` and the tokens `params` let it generate must fit the model's context.
    fn check_fits(&self, ids: &[u32], params: &SamplingParams) -> Result<()> {
        if ids.len() + params.max_new_tokens > self.context_length {
            return Err(Error::Input {
                path: "prompt".into(),
                reason: format!("{} prompt tokens + {} to generate exceed the model's context of {}", ids.len(), params.max_new_tokens, self.context_length),
            });
        }
        Ok(())
    }

    /// The next token from one position's logits `row` (`(vocab,)`), `out` generated so far: greedy or
    /// sampled, with the repeat penalty, among the tokens `constraint` allows; `None` when it allows
    /// none. Plain and batched generation both choose here, so that they choose alike.
    fn choose_next(&self, row: &Tensor, out: &[u32], params: &SamplingParams, constraint: Option<&dyn Constraint>, lp: &mut LogitsProcessor, greedy: bool) -> Result<Option<u32>> {
        let l = penalized(row, out, params)?;
        let Some(c) = constraint else { return Ok(Some(lp.sample(&l)?)) };
        let remaining = params.max_new_tokens - out.len() - 1;
        let mut v = l.to_vec1::<f32>()?;
        let Some(best) = self.constrained_choice(&v, c, remaining) else { return Ok(None) };
        if greedy {
            return Ok(Some(best));
        }
        // sample among allowed tokens: everything the constraint refuses gets −∞
        let bytes = self.token_bytes.as_deref().unwrap_or_default();
        for (id, x) in v.iter_mut().enumerate() {
            let ok = if self.stop_ids.contains(&(id as u32)) { c.allows_end() } else { matches!(bytes.get(id), Some(Some(b)) if !b.is_empty() && c.allows(b, remaining)) };
            if !ok {
                *x = f32::NEG_INFINITY;
            }
        }
        Ok(Some(lp.sample(&Tensor::new(v.as_slice(), &self.device)?)?))
    }

    /// Take `next` (not a stop token) into `out` and the constraint; true when the constraint is then complete.
    fn advance(&self, next: u32, out: &mut Vec<u32>, constraint: Option<&mut (dyn Constraint + '_)>) -> bool {
        let bytes = self.token_bytes.as_ref().and_then(|t| t.get(next as usize));
        let complete = match (constraint, bytes) {
            (Some(c), Some(Some(b))) => {
                c.advance(b);
                c.is_complete()
            }
            (Some(c), _) => c.is_complete(),
            (None, _) => false,
        };
        out.push(next);
        complete
    }

    /// Continue a prompt: the generated ids (stop token excluded), whether a stop token (or a complete
    /// constraint) ended them, and the seconds spent on the prompt and on generation. Called on a worker
    /// of the rayon pool: the kernels' parallel loops then start on this thread and hand the rest to the
    /// other worker, rather than this thread handing all of it over and sleeping until it is done (a
    /// wake-up less per layer; SmolLM2 decoding 68.8 → 72–75 tok/s).
    fn generate_ids_in_pool(&mut self, ids: &[u32], params: &SamplingParams, mut constraint: Option<&mut dyn Constraint>) -> Result<(Vec<u32>, bool, f64, f64)> {
        self.check_fits(ids, params)?;
        let (mut lp, greedy) = sampler(params);
        let t0 = Instant::now();
        let mut logits = self.process_prompt(ids)?;
        let mut pos = ids.len();
        let prompt_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut out: Vec<u32> = Vec::new();
        let mut stopped = false;
        while out.len() < params.max_new_tokens {
            crate::interrupt::check()?;
            let Some(next) = self.choose_next(&logits.squeeze(0)?, &out, params, constraint.as_deref(), &mut lp, greedy)? else { break };
            if self.stop_ids.contains(&next) {
                stopped = true;
                break;
            }
            if self.advance(next, &mut out, constraint.as_deref_mut()) {
                stopped = true;
                break;
            }
            let x = Tensor::new(&[next], &self.device)?.unsqueeze(0)?;
            logits = self.weights.forward(&x, pos)?;
            pos += 1;
        }
        let generation_seconds = t1.elapsed().as_secs_f64();
        Ok((out, stopped, prompt_seconds, generation_seconds))
    }
}
