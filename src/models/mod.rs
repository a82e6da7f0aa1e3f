//! Model files, one per architecture, in candle-transformers' shape: a serde `Config` read from the
//! hub's `config.json` (or a GGUF's metadata), `load(vb, &cfg)`, `forward`/`encode`/`decode`. Each
//! encoder-decoder implements [`crate::generation::EncoderDecoder`] in its own file; nothing here knows
//! about the pipeline or the command line.
pub mod bart;
pub mod gguf_llama;
pub mod llm;
pub mod marian;
pub mod sentence_embedder;
pub mod transformer;
