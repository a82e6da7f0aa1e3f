//! `vertolk bench`: throughput and peak memory of the translator and the LLM, as Markdown rows or JSON.
use anyhow::Context;

use crate::bench;
use crate::cli::args::{BenchCommand, GlobalArgs};
use crate::device::select_device;
use crate::error::exit_code;
use crate::models::llm::{ChatRequest, GgufLlm, SamplingParams};
use crate::pipeline::translate::{CallOverrides, MarianTranslator, TranslatorOptions};
use crate::run::fs::write_atomic;

pub fn run(cmd: BenchCommand, g: &GlobalArgs) -> anyhow::Result<i32> {
    let device = select_device(g.device.into())?;
    match cmd {
        BenchCommand::Marian { config, batch, src_len, steps, beams, repeat } => {
            let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
            let cfg: crate::models::marian::Config = serde_json::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
            println!("{}", bench::bench_marian(&cfg, &text, batch, src_len, steps, beams, repeat, &device)?);
        }
        BenchCommand::Translate { model, input, beams, max_length, max_batch, quantize, out, length_cap } => {
            let text = std::fs::read_to_string(&input).with_context(|| format!("reading {}", input.display()))?;
            let sentences: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let opts = TranslatorOptions { num_beams: Some(beams), max_length: Some(max_length), max_batch, batch_tokens: usize::MAX / 2, quantize: quantize.into(), ..Default::default() };
            let t0 = std::time::Instant::now();
            let tr = MarianTranslator::load(&model, &device, opts)?;
            let load_s = t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            let overrides = CallOverrides { length_cap: length_cap.map(|r| (r, 0)), ..Default::default() };
            let res = tr.translate_with(&sentences, &overrides)?;
            let secs = t1.elapsed().as_secs_f64();
            let generated: usize = res.iter().map(|r| r.tokens.len()).sum();
            if let Some(path) = out {
                let lines: String = res.iter().map(|r| serde_json::to_string(&r.tokens).map(|l| l + "\n")).collect::<Result<_, _>>()?;
                write_atomic(&path, lines.as_bytes())?;
            }
            let report = serde_json::json!({
                "engine": "vertolk", "quantize": clap::ValueEnum::to_possible_value(&quantize).map(|v| v.get_name().to_owned()), "beams": beams,
                "sentences": sentences.len(), "generated_tokens": generated, "seconds": secs, "load_seconds": load_s,
                "tokens_per_s": generated as f64 / secs, "sentences_per_s": sentences.len() as f64 / secs,
                "peak_rss_mb": bench::peak_rss_mb(),
            });
            println!("{report}");
        }
        BenchCommand::Llm { gguf, prompt, gen, draft, draft_tokens, together, json } => {
            let text = std::fs::read_to_string(&prompt).with_context(|| format!("reading {}", prompt.display()))?;
            let mut m = GgufLlm::load(&gguf, &device)?;
            let params = SamplingParams { max_new_tokens: gen, ..Default::default() };
            let (system, user) = ("You are a helpful assistant.", format!("Summarize this article:\n\n{text}"));
            let r = m.chat(system, &user, &params)?;
            if let Some(draft) = draft {
                let mut d = GgufLlm::load(&draft, &device)?;
                let prompt = m.chat.render(system, &user);
                let (s, stats) = m.generate_speculative(&mut d, &prompt, &params, draft_tokens as usize)?;
                let report = serde_json::json!({
                    "generated": r.generated_tokens, "gen_tok_s": r.generated_tokens as f64 / r.generation_seconds.max(1e-9),
                    "speculative_generated": s.generated_tokens,
                    "speculative_gen_tok_s": s.generated_tokens as f64 / s.generation_seconds.max(1e-9),
                    "speculative_gen_tok_s_without_draft_prompt": s.generated_tokens as f64 / (s.generation_seconds - stats.draft_prompt_seconds).max(1e-9),
                    "draft_tokens": draft_tokens, "stats": stats, "identical": s.text == r.text,
                    "peak_rss_mb": bench::peak_rss_mb(),
                });
                println!("{report}");
                return Ok(if s.text == r.text { exit_code::OK } else { exit_code::FAILURE });
            }
            if let Some(n) = together {
                let requests: Vec<ChatRequest<'_>> = (0..n)
                    .map(|i| {
                        let user = if i == 0 { user.clone() } else { format!("{user}\n\nAlso name {} of the people it mentions.", i + 1) };
                        ChatRequest { system: system.into(), user, params: params.clone(), constraint: None }
                    })
                    .collect();
                let t = std::time::Instant::now();
                let replies = m.chat_batch(requests)?.into_iter().collect::<crate::error::Result<Vec<_>>>()?;
                let seconds = t.elapsed().as_secs_f64();
                let generated: usize = replies.iter().map(|g| g.generated_tokens).sum();
                // each reply is charged its share of every step it was in: together, the decoding's time
                let decoding: f64 = replies.iter().map(|g| g.generation_seconds).sum();
                let identical = replies[0].text == r.text;
                let report = serde_json::json!({
                    "prompt_tokens": r.prompt_tokens, "prompt_tok_s": r.prompt_tokens as f64 / r.prompt_seconds.max(1e-9),
                    "generated": r.generated_tokens, "gen_tok_s": r.generated_tokens as f64 / r.generation_seconds.max(1e-9),
                    "together": n, "together_generated": generated, "together_gen_tok_s": generated as f64 / decoding.max(1e-9),
                    "together_seconds": seconds, "identical": identical,
                    "peak_rss_mb": bench::peak_rss_mb(),
                });
                println!("{report}");
                return Ok(if identical { exit_code::OK } else { exit_code::FAILURE });
            }
            if json {
                let report = serde_json::json!({
                    "prompt_tokens": r.prompt_tokens, "prompt_tok_s": r.prompt_tokens as f64 / r.prompt_seconds.max(1e-9),
                    "generated": r.generated_tokens, "gen_tok_s": r.generated_tokens as f64 / r.generation_seconds.max(1e-9),
                    "peak_rss_mb": bench::peak_rss_mb(),
                });
                println!("{report}");
                return Ok(exit_code::OK);
            }
            println!(
                "| {} | prompt {} tok: {:.1} tok/s | generated {} tok: {:.1} tok/s | {} |",
                m.name,
                r.prompt_tokens,
                r.prompt_tokens as f64 / r.prompt_seconds.max(1e-9),
                r.generated_tokens,
                r.generated_tokens as f64 / r.generation_seconds.max(1e-9),
                bench::peak_rss_mb().map(|m| format!("{m:.0} MB peak RSS")).unwrap_or_else(|| "peak RSS n/a".into())
            );
        }
    }
    Ok(exit_code::OK)
}
