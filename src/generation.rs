//! Greedy and beam search reproducing HF `transformers`' `generate()` (4.57, the vectorised beam search)
//! for encoder-decoder models.
//!
//! Semantics kept from `transformers`, on purpose and in detail:
//! - `max_length` counts the decoder start token; `max_new_tokens` overrides it as `1 + max_new_tokens`;
//! - logits processors in HF's order: repetition penalty, no-repeat n-gram, bad words, min length,
//!   forced BOS at the first step (BART), forced EOS at `max_length - 1`; greedy applies them to raw logits, beam search to log-softmax scores;
//! - beam search keeps `2 × num_beams` candidates per step, finishes hypotheses only from the top
//!   `num_beams` ranks, scores finished ones as `sum_logprobs / generated_len ** length_penalty`, and stops
//!   by HF's `early_stopping` rules (`true`, `false` = the heuristic, `"never"`), with the same f32
//!   arithmetic and `-1e9` sentinels, so ties resolve as they do there;
//! - batches are independent: a sentence's result does not depend on what it was batched with.
//!
//! The generator drops finished sentences from the batch (HF keeps computing them); this changes nothing
//! in the results and saves the work.
use crate::fastmath::{argmax, log_sum_exp, log_sum_exp_given_max};
use crate::host_f32::with_host_f32;
use candle_core::{Device, Result, Tensor};
use serde::Deserialize;

/// A model the generator can drive: encoder once, then one decoder step at a time with a cache.
pub trait EncoderDecoder {
    type State: DecoderCache;
    fn device(&self) -> &Device;
    /// `(b, s)` ids and mask -> encoder output.
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor>;
    /// Decoder state for rows selected from the encoder batch (`rows` may repeat rows for beams).
    fn start(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: &Tensor) -> Result<Self::State>;
    /// Feed one token per row; f32 logits `(rows, vocab)`.
    fn step(&self, tokens: &Tensor, state: &mut Self::State) -> Result<Tensor>;
}

pub trait DecoderCache {
    /// Keep/reorder rows (all of the state).
    fn select_rows(&mut self, idx: &Tensor) -> Result<()>;
    /// Reorder the self-attention cache only (beam reordering within each sentence).
    fn reorder_beams(&mut self, idx: &Tensor) -> Result<()>;
}

impl EncoderDecoder for crate::models::marian::MarianMTModel {
    type State = crate::models::marian::DecoderState;
    fn device(&self) -> &Device {
        crate::models::marian::MarianMTModel::device(self)
    }
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        crate::models::marian::MarianMTModel::encode(self, input_ids, attention_mask)
    }
    fn start(&self, encoder_out: &Tensor, attention_mask: &Tensor, rows: &Tensor) -> Result<Self::State> {
        self.start_decoder(encoder_out, attention_mask, Some(rows))
    }
    fn step(&self, tokens: &Tensor, state: &mut Self::State) -> Result<Tensor> {
        self.decode(tokens, state)
    }
}

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

    /// Total decoder length, start token included, as `generate()` computes it.
    pub fn effective_max_length(&self) -> usize {
        match self.max_new_tokens {
            Some(n) => n + 1,
            None => self.max_length,
        }
    }
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hypothesis {
    /// Generated tokens (no decoder start token), ending with EOS unless the length limit stopped them.
    pub tokens: Vec<u32>,
    /// Sum of the log-probabilities of the tokens (after the logits processors).
    pub sum_logprob: f32,
    /// What `generate()` reports as `sequences_scores` for beam search: `sum_logprob / len ** length_penalty`.
    pub score: f32,
    /// True when the sequence ended with EOS rather than at the length limit.
    pub finished: bool,
}

// ---------------------------------------------------------------------------------------------
// Logits processors (HF order), applied to one row.

struct Processors<'a> {
    cfg: &'a GenerationConfig,
    max_length: usize,
}

impl Processors<'_> {
    /// `seq` is the row's decoder input so far (start token included); `cur_len == seq.len()`.
    fn apply(&self, seq: &[u32], scores: &mut [f32]) {
        let cfg = self.cfg;
        let cur_len = seq.len();
        if cfg.repetition_penalty != 1.0 {
            let mut seen = std::collections::HashSet::new();
            for &t in seq {
                if seen.insert(t) {
                    if let Some(s) = scores.get_mut(t as usize) {
                        *s = if *s < 0.0 { *s * cfg.repetition_penalty } else { *s / cfg.repetition_penalty };
                    }
                }
            }
        }
        let n = cfg.no_repeat_ngram_size;
        if n > 0 && cur_len + 1 >= n {
            // ban tokens that complete an n-gram already present in `seq`
            let prefix = &seq[cur_len + 1 - n..];
            for w in seq.windows(n) {
                if w[..n - 1] == *prefix {
                    if let Some(s) = scores.get_mut(w[n - 1] as usize) {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
        }
        for bad in &cfg.bad_words_ids {
            // HF drops bad words equal to an EOS token
            if bad.len() == 1 && cfg.eos_token_ids.contains(&bad[0]) {
                continue;
            }
            if let Some((&last, prefix)) = bad.split_last() {
                if prefix.is_empty() || seq.ends_with(prefix) {
                    if let Some(s) = scores.get_mut(last as usize) {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
        }
        if cfg.min_length > 0 && cur_len < cfg.min_length {
            for &e in &cfg.eos_token_ids {
                if let Some(s) = scores.get_mut(e as usize) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
        if let Some(bos) = cfg.forced_bos_token_id {
            if cur_len == 1 {
                scores.iter_mut().for_each(|s| *s = f32::NEG_INFINITY);
                if let Some(s) = scores.get_mut(bos as usize) {
                    *s = 0.0;
                }
            }
        }
        if let Some(eos) = cfg.forced_eos_token_id {
            if cur_len == self.max_length - 1 {
                scores.iter_mut().for_each(|s| *s = f32::NEG_INFINITY);
                if let Some(s) = scores.get_mut(eos as usize) {
                    *s = 0.0;
                }
            }
        }
    }
}

/// Indices of the `k` largest values, largest first; ties go to the lower index.
fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(values.len());
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let cmp = |a: &usize, b: &usize| {
        values[*b].partial_cmp(&values[*a]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(b))
    };
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

/// [`top_k`] in one pass with a small sorted buffer: for k ≪ len (beam candidates over a vocabulary).
#[cfg(test)]
fn top_k_scan(values: &[f32], k: usize) -> Vec<usize> {
    top_k_scan_by(values.len(), k, |i| values[i]).into_iter().map(|(_, i)| i).collect()
}

/// The `k` largest of `value(0..len)` with their indices, largest first, ties to the lower index
/// (`top_k`'s order); values are computed once each, on the fly.
fn top_k_scan_by(len: usize, k: usize, value: impl Fn(usize) -> f32) -> Vec<(f32, usize)> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return best;
    }
    for i in 0..len {
        let v = value(i);
        // equal values keep the earlier (lower) index ahead, as top_k's order does
        if best.len() == k && v <= best[k - 1].0 {
            continue;
        }
        let pos = best.iter().position(|&(b, _)| v > b).unwrap_or(best.len());
        best.insert(pos, (v, i));
        best.truncate(k);
    }
    best
}

fn u32_tensor(v: &[u32], device: &Device) -> Result<Tensor> {
    Tensor::from_slice(v, v.len(), device)
}

/// Pad source id rows to one `(b, s)` batch with its mask.
pub fn pad_batch(rows: &[Vec<u32>], pad_id: u32, device: &Device) -> Result<(Tensor, Tensor)> {
    let s = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let b = rows.len();
    let mut ids = vec![pad_id; b * s];
    let mut mask = vec![0u8; b * s];
    for (i, r) in rows.iter().enumerate() {
        ids[i * s..i * s + r.len()].copy_from_slice(r);
        mask[i * s..i * s + r.len()].iter_mut().for_each(|m| *m = 1);
    }
    Ok((Tensor::from_vec(ids, (b, s), device)?, Tensor::from_vec(mask, (b, s), device)?))
}

/// Generate for a batch of source id rows. One hypothesis (the best) per row, in input order.
pub fn generate<M: EncoderDecoder>(model: &M, sources: &[Vec<u32>], cfg: &GenerationConfig, max_positions: usize) -> Result<Vec<Hypothesis>> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    // Positions 0..max_length-2 are fed to the decoder; never run past the model's table.
    let max_length = cfg.effective_max_length().min(max_positions + 1).max(2);
    let device = model.device().clone();
    let (ids, mask) = pad_batch(sources, cfg.pad_token_id, &device)?;
    let enc = model.encode(&ids, &mask)?;
    if cfg.num_beams <= 1 {
        greedy(model, &enc, &mask, sources.len(), cfg, max_length)
    } else {
        beam_search(model, &enc, &mask, sources.len(), cfg, max_length)
    }
}

fn greedy<M: EncoderDecoder>(model: &M, enc: &Tensor, mask: &Tensor, batch: usize, cfg: &GenerationConfig, max_length: usize) -> Result<Vec<Hypothesis>> {
    let device = model.device().clone();
    let procs = Processors { cfg, max_length };
    let rows: Vec<u32> = (0..batch as u32).collect();
    let mut state = model.start(enc, mask, &u32_tensor(&rows, &device)?)?;
    let mut seqs: Vec<Vec<u32>> = vec![vec![cfg.decoder_start_token_id]; batch];
    let mut sum_lp = vec![0f32; batch];
    let mut finished = vec![false; batch];
    let mut active: Vec<usize> = (0..batch).collect();
    let mut cur_len = 1;
    while !active.is_empty() && cur_len < max_length {
        let last: Vec<u32> = active.iter().map(|&i| *seqs[i].last().unwrap_or(&cfg.decoder_start_token_id)).collect();
        let tokens = Tensor::from_vec(last, (active.len(), 1), &device)?;
        let logits_t = model.step(&tokens, &mut state)?;
        let vocab = logits_t.dim(1)?;
        let mut keep = Vec::with_capacity(active.len());
        // Rows are independent: pick each row's token on the thread pool (the main thread alone left the
        // second core idle for this part of every step), then update the sequences in order.
        let picks: Vec<(u32, f32)> = with_host_f32(&logits_t, |logits| {
            use rayon::prelude::*;
            active
                .par_iter()
                .enumerate()
                .map_init(Vec::new, |scores: &mut Vec<f32>, (row, &i)| {
                    scores.clear();
                    scores.extend_from_slice(&logits[row * vocab..(row + 1) * vocab]);
                    procs.apply(&seqs[i], scores);
                    // argmax, first index on ties (torch.argmax); its value is the row's maximum, so the
                    // log-sum-exp below needs no max pass of its own
                    let best = argmax(scores);
                    let max = scores.get(best).copied().unwrap_or(f32::NEG_INFINITY);
                    // the chosen token's log-probability (log-softmax of the processed logits)
                    let lse = log_sum_exp_given_max(scores, max);
                    (best as u32, if lse == f32::NEG_INFINITY { max } else { max - lse })
                })
                .collect()
        })?;
        for (row, (&i, &(best, lp))) in active.iter().zip(&picks).enumerate() {
            sum_lp[i] += lp;
            seqs[i].push(best);
            if cfg.eos_token_ids.contains(&best) {
                finished[i] = true;
            } else {
                keep.push(row as u32);
            }
        }
        cur_len += 1;
        if keep.len() < active.len() && !keep.is_empty() {
            state.select_rows(&u32_tensor(&keep, &device)?)?;
        }
        active = keep.iter().map(|&r| active[r as usize]).collect();
    }
    Ok((0..batch)
        .map(|i| {
            let tokens = seqs[i][1..].to_vec();
            let len = tokens.len().max(1) as f32;
            Hypothesis { score: sum_lp[i] / len, sum_logprob: sum_lp[i], tokens, finished: finished[i] }
        })
        .collect())
}

const NEG: f32 = -1.0e9;

struct BeamItem {
    running: Vec<Vec<u32>>,   // num_beams sequences (start token included)
    running_scores: Vec<f32>, // accumulated log-probs
    finished: Vec<Vec<u32>>,  // num_beams slots
    finished_scores: Vec<f32>,
    finished_sum: Vec<f32>,
    finished_flag: Vec<bool>,
    heuristic_unsatisfied: bool,
    done: bool,
}

fn beam_search<M: EncoderDecoder>(model: &M, enc: &Tensor, mask: &Tensor, batch: usize, cfg: &GenerationConfig, max_length: usize) -> Result<Vec<Hypothesis>> {
    let device = model.device().clone();
    let nb = cfg.num_beams;
    let procs = Processors { cfg, max_length };
    let keep_k = 2usize.max(1 + cfg.eos_token_ids.len()) * nb;
    let lp = cfg.length_penalty;
    let rows: Vec<u32> = (0..batch).flat_map(|b| std::iter::repeat(b as u32).take(nb)).collect();
    let mut state = model.start(enc, mask, &u32_tensor(&rows, &device)?)?;
    let mut items: Vec<BeamItem> = (0..batch)
        .map(|_| BeamItem {
            running: vec![vec![cfg.decoder_start_token_id]; nb],
            running_scores: (0..nb).map(|j| if j == 0 { 0.0 } else { NEG }).collect(),
            finished: vec![Vec::new(); nb],
            finished_scores: vec![NEG; nb],
            finished_sum: vec![0.0; nb],
            finished_flag: vec![false; nb],
            heuristic_unsatisfied: true,
            done: false,
        })
        .collect();
    // items whose beams are rows of the decoder state, in row order
    let mut active: Vec<usize> = (0..batch).collect();
    let mut cur_len = 1usize;
    loop {
        let last: Vec<u32> = active
            .iter()
            .flat_map(|&b| items[b].running.iter().map(|s| *s.last().unwrap_or(&cfg.decoder_start_token_id)))
            .collect();
        let tokens = Tensor::from_vec(last, (active.len() * nb, 1), &device)?;
        let logits_t = model.step(&tokens, &mut state)?;
        let vocab = logits_t.dim(1)?;
        let mut reorder: Vec<u32> = Vec::with_capacity(active.len() * nb);
        let mut all_hit = true;
        // HF takes the top 2×num_beams of the accumulated log-probs over num_beams × vocab. Each of those is
        // among the top 2×num_beams of its own beam's row under the same order (value, then flat index),
        // so a one-pass selection per row and a merge of the few survivors give the same candidates
        // without materialising and sorting num_beams × vocab values. The rows are independent and run
        // on the thread pool.
        let row_candidates: Vec<Vec<(f32, usize)>> = with_host_f32(&logits_t, |logits| {
            use rayon::prelude::*;
            (0..active.len() * nb)
                .into_par_iter()
                .map_init(Vec::new, |row: &mut Vec<f32>, r| {
                    let (item, j) = (&items[active[r / nb]], r % nb);
                    let raw = &logits[r * vocab..(r + 1) * vocab];
                    // log-softmax (HF applies the processors to log-probabilities in beam search)
                    let lse = log_sum_exp(raw);
                    row.clear();
                    if lse == f32::NEG_INFINITY {
                        row.extend_from_slice(raw);
                    } else {
                        row.extend(raw.iter().map(|&x| x - lse));
                    }
                    procs.apply(&item.running[j], row);
                    let base = item.running_scores[j];
                    top_k_scan_by(vocab, keep_k, |t| row[t] + base).into_iter().map(|(v, t)| (v, j * vocab + t)).collect()
                })
                .collect()
        })?;
        for (slot, &b) in active.iter().enumerate() {
            let item = &mut items[b];
            let mut pool: Vec<(f32, usize)> = row_candidates[slot * nb..(slot + 1) * nb].concat();
            pool.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
            pool.truncate(keep_k);
            let cand: Vec<(usize, u32, f32)> = pool.iter().map(|&(v, ix)| (ix / vocab, (ix % vocab) as u32, v)).collect();
            let hits: Vec<bool> = cand
                .iter()
                .map(|&(_, tok, _)| cfg.eos_token_ids.contains(&tok) || cur_len + 1 >= max_length)
                .collect();
            all_hit &= hits.iter().all(|&h| h);

            // next running beams: best non-finished candidates
            let run_vals: Vec<f32> = cand.iter().zip(&hits).map(|(c, &h)| if h { c.2 + NEG } else { c.2 }).collect();
            let next = top_k(&run_vals, nb);
            let new_running: Vec<Vec<u32>> = next
                .iter()
                .map(|&k| {
                    let mut s = item.running[cand[k].0].clone();
                    s.push(cand[k].1);
                    s
                })
                .collect();
            let new_scores: Vec<f32> = next.iter().map(|&k| run_vals[k]).collect();
            reorder.extend(next.iter().map(|&k| (slot * nb + cand[k].0) as u32));

            // finished hypotheses: merge the old slots with candidates that just finished in the top nb ranks
            let denom = ((cur_len + 1 - 1) as f64).powf(lp as f64) as f32;
            let full = item.finished_flag.iter().all(|&f| f) && cfg.early_stopping == EarlyStopping::True;
            let mut merged_scores = item.finished_scores.clone();
            let mut just = Vec::with_capacity(cand.len());
            for (k, c) in cand.iter().enumerate() {
                let just_finished = hits[k] && k < nb;
                let mut v = c.2 / denom;
                if full {
                    v += NEG;
                }
                if !item.heuristic_unsatisfied {
                    v += NEG;
                }
                if !just_finished {
                    v += NEG;
                }
                merged_scores.push(v);
                just.push(just_finished);
            }
            let pick = top_k(&merged_scores, nb);
            let mut fin = Vec::with_capacity(nb);
            let mut fin_scores = Vec::with_capacity(nb);
            let mut fin_sum = Vec::with_capacity(nb);
            let mut fin_flag = Vec::with_capacity(nb);
            for &m in &pick {
                if m < nb {
                    fin.push(item.finished[m].clone());
                    fin_sum.push(item.finished_sum[m]);
                    fin_flag.push(item.finished_flag[m]);
                } else {
                    let k = m - nb;
                    let mut s = item.running[cand[k].0].clone();
                    s.push(cand[k].1);
                    fin.push(s);
                    fin_sum.push(cand[k].2);
                    fin_flag.push(just[k]);
                }
                fin_scores.push(merged_scores[m]);
            }
            item.finished = fin;
            item.finished_scores = fin_scores;
            item.finished_sum = fin_sum;
            item.finished_flag = fin_flag;
            item.running = new_running;
            item.running_scores = new_scores;
        }
        state.reorder_beams(&u32_tensor(&reorder, &device)?)?;
        cur_len += 1;

        // early-stop heuristic and per-sentence completion
        for &b in &active {
            let item = &mut items[b];
            let best_len = if cfg.early_stopping == EarlyStopping::Never && lp > 0.0 { max_length - 1 } else { cur_len - 1 };
            let best_possible = item.running_scores[0] / (best_len as f64).powf(lp as f64) as f32;
            let min_fin = item.finished_scores.iter().copied().fold(f32::INFINITY, f32::min);
            let improvable = item.finished_flag.iter().any(|&f| best_possible > if f { min_fin } else { NEG });
            item.heuristic_unsatisfied &= improvable;
            let full = item.finished_flag.iter().all(|&f| f) && cfg.early_stopping == EarlyStopping::True;
            item.done = !item.heuristic_unsatisfied || full;
        }
        if all_hit || active.iter().all(|&b| items[b].done) || cur_len >= max_length {
            break;
        }
        // drop finished sentences from the decoder batch
        let keep_items: Vec<usize> = active.iter().copied().filter(|&b| !items[b].done).collect();
        if keep_items.len() < active.len() {
            let pos: std::collections::HashMap<usize, usize> = active.iter().enumerate().map(|(i, &b)| (b, i)).collect();
            let rows: Vec<u32> = keep_items.iter().flat_map(|b| { let p = pos[b]; (0..nb).map(move |j| (p * nb + j) as u32) }).collect();
            state.select_rows(&u32_tensor(&rows, &device)?)?;
            active = keep_items;
        }
    }
    Ok(items
        .into_iter()
        .map(|item| {
            let tokens = item.finished[0].get(1..).map(<[u32]>::to_vec).unwrap_or_default();
            let ended = tokens.last().map(|t| cfg.eos_token_ids.contains(t)).unwrap_or(false);
            Hypothesis { tokens, sum_logprob: item.finished_sum[0], score: item.finished_scores[0], finished: ended }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_sorted_and_stable() {
        let v = [1.0, 3.0, 3.0, -1.0, 2.0];
        assert_eq!(top_k(&v, 3), vec![1, 2, 4]);
        assert_eq!(top_k(&v, 10), vec![1, 2, 4, 0, 3]);
    }

    #[test]
    fn top_k_scan_equals_top_k() {
        let v = [1.0, 3.0, 3.0, -1.0, 2.0, f32::NEG_INFINITY, 3.0, f32::NEG_INFINITY];
        for k in 0..=v.len() {
            assert_eq!(top_k_scan(&v, k), top_k(&v, k), "k={k}");
        }
        let w: Vec<f32> = (0..500).map(|i| ((i * 7919) % 97) as f32 / 7.0).collect();
        assert_eq!(top_k_scan(&w, 8), top_k(&w, 8));
    }

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

    #[test]
    fn forced_eos_and_bad_words() {
        let cfg = GenerationConfig::from_json(None, r#"{"eos_token_id":0,"pad_token_id":3,"decoder_start_token_id":3,"bad_words_ids":[[3]],"max_length":4}"#, Some(0)).unwrap();
        let p = Processors { cfg: &cfg, max_length: 4 };
        let mut s = vec![0.5, 1.0, 2.0, 9.0];
        p.apply(&[3, 1], &mut s);
        assert_eq!(s, vec![0.5, 1.0, 2.0, f32::NEG_INFINITY]);
        let mut s = vec![0.5, 1.0, 2.0, 9.0];
        p.apply(&[3, 1, 2], &mut s);
        assert_eq!(s, vec![0.0, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY]);
    }
}
