//! The integration tests, one binary (one link on a 2-core machine instead of one per file), with a
//! module per stage or layer. Tests that need `../shared` or real GGUF weights are `#[ignore]`d and run
//! with `--include-ignored` (what `.ci/run` does); a missing folder then fails, never skips.
mod common;

mod adversarial;
mod cli;
mod downloads;
mod fuzz;
mod hub;
mod layers;
mod models_bart;
mod models_embedder;
mod models_marian;
mod models_real_configs;
mod run_brief;
mod segment;
mod summarize_llm;
mod tokenizer;
mod translation_checks;
mod translate;
