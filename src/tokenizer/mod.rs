//! Tokenizers built from the hub's own files.
pub mod bart;
pub mod gguf;
pub mod marian;
pub mod spm;

pub use bart::BartTokenizer;
pub use marian::MarianTokenizer;
