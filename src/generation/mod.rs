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
pub mod config;
pub mod constraint;
mod processors;

use candle_core::{Device, Result, Tensor};

pub use config::{EarlyStopping, GenerationConfig};
use crate::kernels::fastmath::{argmax, log_sum_exp, log_sum_exp_given_max};
use crate::kernels::host_f32::with_host_f32;
use processors::Processors;

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
}
