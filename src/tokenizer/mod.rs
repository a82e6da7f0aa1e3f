//! Tokenizers built from the hub's own files.
pub mod gguf;
pub mod marian;
pub mod spm;

pub use marian::MarianTokenizer;
