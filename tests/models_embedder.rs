//! The sentence embedder (all-MiniLM-L6-v2 on candle) against reference embeddings of the same files
//! (scripts/record_embedding_goldens.py: an independent NumPy BertModel + mean pooling + L2 norm, as
//! sentence-transformers computes them). `#[ignore]`d: the weights come from VERTOLK_LLM_DIR, which
//! .ci/run fills (scripts/fetch_embedder.sh).
use crate::common;

use candle_core::Device;
use vertolk::models::sentence_embedder::SentenceEmbedder;

fn model_dir() -> std::path::PathBuf {
    let d = std::path::PathBuf::from(std::env::var("VERTOLK_LLM_DIR").expect("VERTOLK_LLM_DIR must point at the fetched weights; .ci/run sets it")).join("all-MiniLM-L6-v2");
    assert!(d.join("model.safetensors").is_file(), "{} lacks the embedding model", d.display());
    d
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2 (VERTOLK_LLM_DIR); .ci/run fetches it"]
fn embeddings_match_the_reference() {
    let golden = common::golden("embeddings_minilm.json");
    let sentences: Vec<&str> = golden["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let want: Vec<Vec<f32>> = golden["embeddings"].as_array().unwrap().iter().map(|e| e.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect();
    let e = SentenceEmbedder::load(&model_dir(), &Device::Cpu).unwrap();
    // one batch (padded to the longest sentence) and one sentence at a time give the same vectors
    let batched = e.embed(&sentences).unwrap();
    for (i, s) in sentences.iter().enumerate() {
        let single = e.embed(&[s]).unwrap().remove(0);
        for (got, label) in [(&batched[i], "batched"), (&single, "single")] {
            assert_eq!(got.len(), 384);
            let max_diff = got.iter().zip(&want[i]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let cos: f32 = got.iter().zip(&want[i]).map(|(a, b)| a * b).sum();
            assert!(max_diff < 2e-4 && cos > 0.9999, "{label} {s:?}: max |diff| {max_diff}, cosine {cos}");
        }
    }
}
