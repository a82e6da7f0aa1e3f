//! vertolk: foreign-language news in, English briefings out.
//!
//! Data flows one way, and the folders say so; each layer imports only the layers below it:
//!
//! - [`cli`]: flags and one thin driver per command;
//! - [`run`]: the folder job (resume, records, report, shards), [`eval`] (quality against references)
//!   and [`bench`];
//! - [`pipeline`]: the stages, input → detect → text → prepare → segment → translate → factcheck → summarize → briefing;
//! - [`hub`]: models from the hub or local files (catalogue, cache, downloads, verification, weights);
//! - [`models`]: one file per architecture (Marian, BART, llama-family GGUF), candle-transformers' shape;
//! - [`generation`] (search over any encoder-decoder) and [`tokenizer`];
//! - [`kernels`]: CPU kernels, slices in and slices out;
//! - [`error`], [`device`], [`progress`], [`hash`], [`interrupt`]: shared by all.
//!
//! `main.rs` only calls [`cli::main`].
pub mod bench;
pub mod cli;
pub mod device;
pub mod error;
pub mod eval;
pub mod generation;
pub mod hash;
pub mod hub;
pub mod interrupt;
pub mod kernels;
pub mod models;
pub mod pipeline;
pub mod progress;
pub mod run;
pub mod tokenizer;

pub use error::{Error, Result};
