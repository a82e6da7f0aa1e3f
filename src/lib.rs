//! vertolk: foreign-language news in, English briefings out.
//!
//! Data flows one way: input → segment → translate → summarize → brief → write. This crate holds the
//! library that does the work; `main.rs` only drives [`cli`].
pub mod bench;
pub mod bart_summarizer;
pub mod brief;
pub mod catalog;
pub mod cli;
pub mod detect;
pub mod device;
pub mod document;
pub mod error;
pub mod fastmath;
pub mod generation;
pub mod host_f32;
pub mod input;
pub mod model_dir;
pub mod models;
pub mod pipeline;
pub mod progress;
pub mod runner;
pub mod segment;
pub mod store;
pub mod summarize;
pub mod tokenizer;
pub mod translate;
pub mod weights;

pub use error::{Error, Result};
