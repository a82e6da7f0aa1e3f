//! The stages, in the order data flows through them; a stage imports only the stages before it:
//!
//! `input` (files → documents) → `detect` (language) → `text` (numbers, names, lexicon: shared by
//! translate and factcheck) → `prepare` (read + detect, once per input) →
//! `segment` (sentences, translation segments) → `translate` (Marian) → `factcheck` (numbers, names) →
//! `summarize` (LLM, seq2seq, extractive) → `briefing` (cited cross-article points).
pub mod input;
pub mod detect;
pub mod text;
pub mod prepare;
pub mod segment;
pub mod translate;
pub mod factcheck;
pub mod summarize;
pub mod briefing;
