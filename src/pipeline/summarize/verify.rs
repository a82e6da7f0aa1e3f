//! The check of meaning: a model reads the sentences a point cites and answers whether they say what
//! the point says. The deterministic checks ([`crate::pipeline::factcheck`]) catch wrong numbers, names
//! and untranslated words; a reversed claim or an invented event with the article's own names needs
//! reading. The verdict is the model's first reply token: the log-odds of "yes" against "no".
use crate::error::Result;
use crate::models::llm::GgufLlm;
use crate::pipeline::factcheck::{Check, CheckKind};
use crate::pipeline::summarize::language_name;

/// Judges whether evidence supports a claim.
pub trait SupportJudge {
    /// A [`CheckKind::Support`] check of `claim` against `evidence` (sentences in `language`).
    fn judge(&mut self, claim: &str, evidence: &[&str], language: &str) -> Result<Check>;
}

const SYSTEM: &str = "You check summaries of news articles against the article. You answer with one word: yes or no.";

/// The log-odds that `llm` answers "yes" to: do `evidence`'s sentences say what `claim` says?
pub fn support_log_odds(llm: &mut GgufLlm, claim: &str, evidence: &[&str], language: &str) -> Result<f32> {
    let sentences: String = evidence.iter().map(|s| format!("- {s}\n")).collect();
    let lang = if language == "en" { String::new() } else { format!(" (in {})", language_name(language)) };
    let user = format!(
        "Sentences from the article{lang}:\n{sentences}\nClaim: {claim}\n\nDo the sentences state everything the claim says, with the same meaning (nothing added, nothing reversed, the same people and numbers)? Answer yes or no."
    );
    let logits = llm.next_token_logits(SYSTEM, &user)?;
    let score = |words: &[&str]| -> f32 {
        let vals: Vec<f32> = words.iter().filter_map(|w| llm.token_id(w)).filter_map(|id| logits.get(id as usize).copied()).collect();
        let max = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            return max;
        }
        max + vals.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
    };
    Ok(score(&["yes", "Yes", " yes", " Yes", "YES"]) - score(&["no", "No", " no", " No", "NO"]))
}

/// An LLM as judge, flagging claims whose "yes" log-odds fall below `threshold`.
pub struct LlmJudge<'a> {
    pub llm: &'a mut GgufLlm,
    pub threshold: f32,
}

impl SupportJudge for LlmJudge<'_> {
    fn judge(&mut self, claim: &str, evidence: &[&str], language: &str) -> Result<Check> {
        let odds = support_log_odds(self.llm, claim, evidence, language)?;
        Ok(Check {
            check: CheckKind::Support,
            ok: odds >= self.threshold,
            detail: if odds >= self.threshold { format!("log-odds {odds:.2}") } else { format!("the model finds it unsupported (log-odds {odds:.2} < {:.2})", self.threshold) },
        })
    }
}
