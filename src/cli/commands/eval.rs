//! `vertolk eval`: quality measured against references (see [`crate::eval`]).
use crate::cli::args::{EvalCommand, GlobalArgs};
use crate::device::select_device;
use crate::error::exit_code;
use crate::eval::{check_labelled, checker_markdown, evaluate_output, output_markdown, read_facts, read_labels};
use crate::models::llm::GgufLlm;
use crate::pipeline::summarize::verify::{LlmJudge, SupportJudge};

pub fn run(cmd: EvalCommand, g: &GlobalArgs) -> anyhow::Result<i32> {
    match cmd {
        EvalCommand::Checker { labels, seeds, judge, threshold, json } => {
            let labels = read_labels(&labels)?;
            let mut llm = match &judge {
                Some(p) => Some(GgufLlm::load(p, &select_device(g.device.into())?)?),
                None => None,
            };
            let mut j = llm.as_mut().map(|llm| LlmJudge { llm, threshold });
            let (rows, score) = check_labelled(&labels, &seeds, j.as_mut().map(|j| j as &mut dyn SupportJudge))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"score": score, "sentences": rows}))?);
            } else {
                print!("{}", checker_markdown(&rows, &score));
            }
        }
        EvalCommand::Output { out, facts, json } => {
            let facts = read_facts(&facts)?;
            let (articles, briefing) = evaluate_output(&out, &facts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"articles": articles, "briefing": briefing}))?);
            } else {
                print!("{}", output_markdown(&articles, &briefing));
            }
        }
    }
    Ok(exit_code::OK)
}
