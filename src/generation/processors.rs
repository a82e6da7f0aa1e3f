//! Logits processors in `transformers`' order, applied to one row of scores.
use super::config::GenerationConfig;

pub(crate) struct Processors<'a> {
    pub cfg: &'a GenerationConfig,
    pub max_length: usize,
}

impl Processors<'_> {
    /// `seq` is the row's decoder input so far (start token included); `cur_len == seq.len()`.
    pub fn apply(&self, seq: &[u32], scores: &mut [f32]) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
