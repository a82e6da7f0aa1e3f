//! Model files, one per architecture, in candle-transformers' shape (`Config` + `load(vb, &cfg)`).
pub mod bart;
pub mod gguf_linear;
pub mod gguf_llama;
pub mod kv_cache;
pub mod llm;
pub mod marian;
pub mod packed_int8;
pub mod packed_linear;
pub mod step_attention;
pub mod transformer;
