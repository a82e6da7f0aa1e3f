//! Constrained decoding: a [`Constraint`] says which next tokens keep an output valid, judged on the
//! tokens' bytes, as llama.cpp's grammar sampler judges candidates against a GBNF grammar. The decoder
//! takes the best-scoring token the constraint allows, so the output has the constraint's shape
//! whatever the model prefers (and costs nothing when the model's own choice is allowed).
pub trait Constraint: Send {
    /// Would appending `bytes` (one token's text) keep the output valid, with `remaining` tokens left in
    /// the budget after this one?
    fn allows(&self, bytes: &[u8], remaining: usize) -> bool;
    /// May the output end here (the model's stop token)?
    fn allows_end(&self) -> bool;
    /// Append the chosen token's bytes.
    fn advance(&mut self, bytes: &[u8]);
    /// True when nothing more may follow: the decoder stops as if the model had ended.
    fn is_complete(&self) -> bool;
}
