//! Grounded summaries by an instruct LLM (one GGUF file). The model sees the article as numbered
//! sentences and writes points under [`PointGrammar`], each citing the sentences it rests on; every
//! point is then checked against those sentences ([`check_point`], and the model's own support verdict
//! when a judge threshold is set). A point that fails is rewritten once with the failure named; if the
//! rewrite fails too it is replaced by the sentences it cites (English text) or dropped (another
//! language: a German quote is no English summary), and the summary records which. An amount in the
//! article's lead that no point states is then asked for in a point of its own
//! ([`unstated_lead_amounts`]), checked the same way.
//!
//! Articles longer than the working context are cut into runs of sentences that fit; each run gets its
//! share of the points (ids stay the article's), so nothing is truncated.
//!
//! A group of articles is summarized together ([`Summarizer::prepare`]): their drafts are decoded in
//! the same steps, then each summary runs as a future ([`LlmSummarizer::summarize_in`]) that waits on
//! its model replies, so that the rewrites and asked-for points of every article in the group are
//! decoded together too. Each reply is the one it gets alone, token for token, so no summary depends
//! on the others.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::points::{parse_points, DraftPoint, LineGrammar, PointGrammar};
use super::prompts::{PromptTemplate, PROMPT_POINTS, PROMPT_POINTS_DIRECT, PROMPT_POINT_AMOUNT, PROMPT_POINT_RETRY, PROMPT_TITLE};
use super::verify::support_log_odds;
use super::{language_name, Article, DroppedPoint, PointStatus, Summarizer, Summary, SummaryMethod, SummaryPoint, TextWriter};
use crate::error::{Error, Result};
use crate::generation::constraint::Constraint;
use crate::models::llm::{ChatRequest, Generated, GgufLlm, SamplingParams};
use crate::pipeline::factcheck::quantities::{quantities, supports, Kind, Quantity, Unit};
use crate::pipeline::factcheck::{align, check_point, incomplete, not_english, Check, CheckKind, Evidence};
use crate::pipeline::segment::body_sentences;

/// Tokens and bytes an article's headline in English may take.
const TITLE_TOKENS: usize = 48;
const TITLE_BYTES: usize = 160;

/// Words a point is asked to have at most.
pub const POINT_WORDS: usize = 30;
/// Words the grammar lets a point have: more than asked, so that a model running over rarely has to be
/// stopped mid-sentence (stopped exactly at 30, the 1.5B ran its last words together: "as well
/// asotherbsites."), and still within a briefing bullet's 40.
pub const POINT_WORDS_HARD: usize = 38;

pub struct LlmSummarizer {
    /// Borrowed between two awaits of a summary ([`Exchange`]), so that a group's summaries can share it.
    pub model: RefCell<GgufLlm>,
    pub params: SamplingParams,
    /// Working context in tokens (≤ the model's): longer articles are split into runs of sentences.
    pub context: usize,
    /// The points prompt for English text, and for text in another language (`--direct`).
    pub prompt: PromptTemplate,
    pub direct_prompt: PromptTemplate,
    pub retry_prompt: PromptTemplate,
    pub amount_prompt: PromptTemplate,
    pub title_prompt: PromptTemplate,
    /// Log-odds of "yes" below which the model's support verdict fails a point; `None`: no verdict.
    pub judge_threshold: Option<f32>,
    pub point_words: usize,
    /// Drafts written ahead for [`Summarizer::prepare`]'s articles, by prompt.
    prepared: RefCell<HashMap<PreparedKey, Generated>>,
    /// Summaries [`Summarizer::prepare`] wrote for its group, by article.
    summaries: HashMap<ArticleKey, Result<Summary>>,
    /// Replies written in [`Self::run_summaries`]' shared steps, so far.
    replies_together: Cell<usize>,
}

/// What identifies an article summarized ahead: its title, date, language, text and the words asked for.
type ArticleKey = (Option<String>, Option<String>, String, String, usize);

fn article_key(a: &Article, max_words: usize) -> ArticleKey {
    (a.title.clone(), a.date.clone(), a.language.clone(), a.text.clone(), max_words)
}

/// One line of the numbered article the model reads: a sentence id and its text (a sentence too long
/// for one prompt is shown in parts under its id).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub id: usize,
    pub text: String,
}

/// The article's sentences (ids from 1) in runs that each fit `room` tokens (by `count`, plus a few
/// for the `[id] ` prefix): every word once, in order; a sentence longer than a run is shown in parts
/// under its id ([`split_to_fit`]), so one giant token with no spaces is cut too, and this always ends.
pub fn sentence_runs(sentences: &[String], room: usize, count: &dyn Fn(&str) -> usize) -> Vec<Vec<Line>> {
    let cost = |t: &str| count(t) + 4;
    let mut runs: Vec<Vec<Line>> = Vec::new();
    let mut current: Vec<Line> = Vec::new();
    let mut used = 0;
    for (i, s) in sentences.iter().enumerate() {
        for piece in split_to_fit(s, room, &cost) {
            let n = cost(&piece);
            if used + n > room && !current.is_empty() {
                runs.push(std::mem::take(&mut current));
                used = 0;
            }
            used += n;
            current.push(Line { id: i + 1, text: piece });
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

impl LlmSummarizer {
    pub fn new(model: GgufLlm, context: usize) -> Self {
        let context = context.min(model.context_length).max(512);
        Self {
            model: RefCell::new(model),
            params: SamplingParams::default(),
            context,
            prompt: PromptTemplate::parse(PROMPT_POINTS),
            direct_prompt: PromptTemplate::parse(PROMPT_POINTS_DIRECT),
            retry_prompt: PromptTemplate::parse(PROMPT_POINT_RETRY),
            amount_prompt: PromptTemplate::parse(PROMPT_POINT_AMOUNT),
            title_prompt: PromptTemplate::parse(PROMPT_TITLE),
            judge_threshold: None,
            point_words: POINT_WORDS,
            prepared: RefCell::new(HashMap::new()),
            summaries: HashMap::new(),
            replies_together: Cell::new(0),
        }
    }

    /// Drafts written by [`Summarizer::prepare`] and not yet taken by a summary.
    pub fn prepared_drafts(&self) -> usize {
        self.prepared.borrow().len()
    }

    /// Summaries written by [`Summarizer::prepare`] and not yet taken (failures included).
    pub fn prepared_summaries(&self) -> usize {
        self.summaries.len()
    }

    /// Replies decoded in steps shared with another summary's once the group's drafts were written
    /// (rewrites, asked-for points, and any draft not written ahead).
    pub fn replies_written_together(&self) -> usize {
        self.replies_together.get()
    }

    /// Tokens a list of `points` points may take: each line's words (≈ 1.5 tokens a word in English,
    /// more in names and numbers), its dash, citations and newline.
    fn budget_tokens(&self, points: usize) -> usize {
        points * (POINT_WORDS_HARD * 2 + 14) + 8
    }

    fn params(&self, max_new: usize) -> SamplingParams {
        SamplingParams { max_new_tokens: max_new, ..self.params.clone() }
    }

    /// Cut the article's lines into runs whose prompt fits the context with `points_budget` tokens to
    /// write in; a sentence longer than one run is shown in parts (at spaces, or anywhere in a word
    /// that has none), so every word reaches the model once.
    fn runs(&self, sentences: &[String], overhead: usize, points_budget: usize) -> Vec<Vec<Line>> {
        let room = self.context.saturating_sub(overhead + points_budget).max(64);
        let model = self.model.borrow();
        sentence_runs(sentences, room, &|t: &str| model.count_tokens(t).unwrap_or(t.len()))
    }

    /// The checks of a point against the sentences it cites, and the model's verdict when asked for.
    fn check(&self, text: &str, citations: &[usize], sentences: &[String], article: &Article, earlier: &[&str], judge: bool) -> Result<Vec<Check>> {
        let cited: Vec<&str> = citations.iter().filter_map(|&c| sentences.get(c - 1)).map(String::as_str).collect();
        let evidence = Evidence { sentences: cited.clone(), language: &article.language, title: article.title.as_deref() };
        let mut checks = check_point(text, &evidence, earlier, POINT_WORDS_HARD);
        if cited.is_empty() {
            checks.push(Check { check: CheckKind::Citation, ok: false, detail: "cites no sentence of the article".into() });
        }
        if let (true, Some(threshold)) = (judge && checks.iter().all(|c| c.ok), self.judge_threshold) {
            let odds = support_log_odds(&mut self.model.borrow_mut(), text, &cited, &article.language)?;
            let ok = odds >= threshold;
            let detail = if ok { format!("log-odds {odds:.2}") } else { format!("the model finds the cited sentences do not say this (log-odds {odds:.2} < {threshold:.2})") };
            checks.push(Check { check: CheckKind::Support, ok, detail });
        }
        Ok(checks)
    }

    /// A rewrite of a failed point, told what failed; `None` when the model wrote no valid point.
    async fn rewrite(&self, ex: &Exchange, draft: &DraftPoint, failed: &[&Check], sentences: &[String], article: &Article) -> Result<(Option<DraftPoint>, Generated)> {
        let shown: String = draft.citations.iter().filter_map(|&c| sentences.get(c - 1).map(|s| format!("[{c}] {s}\n"))).collect();
        let problem: Vec<String> = failed.iter().map(|c| c.detail.clone()).collect();
        let in_language = if article.language == "en" { String::new() } else { format!(" (in {})", language_name(&article.language)) };
        let mw = self.point_words.to_string();
        let (system, user) =
            self.retry_prompt.fill(&[("in_language", &in_language), ("sentences", shown.trim_end()), ("point", &draft.text), ("problem", &problem.join("; ")), ("max_words", &mw)]);
        let (lo, hi) = (draft.citations.iter().copied().min().unwrap_or(1), draft.citations.iter().copied().max().unwrap_or(1));
        let grammar = PointGrammar::with_range(lo, hi, 1, POINT_WORDS_HARD);
        let g = ex.reply(Turn { system, user, params: self.params(self.budget_tokens(1)), constraint: Box::new(grammar) }).await?;
        Ok((parse_points(&g.text, sentences.len()).into_iter().next(), g))
    }

    /// A point on sentence `id`, asked for because it gives `amounts` no point states; the sentence
    /// before it is shown too (it is often what "the company" refers to). `None`: no valid point.
    async fn point_for(&self, ex: &Exchange, id: usize, amounts: &[String], sentences: &[String], article: &Article) -> Result<(Option<DraftPoint>, Generated)> {
        let first = id.saturating_sub(1).max(1);
        let shown: String = (first..=id).filter_map(|c| sentences.get(c - 1).map(|s| format!("[{c}] {s}\n"))).collect();
        let in_language = if article.language == "en" { String::new() } else { format!(" (in {})", language_name(&article.language)) };
        let (mw, ids) = (self.point_words.to_string(), id.to_string());
        let (system, user) =
            self.amount_prompt.fill(&[("in_language", &in_language), ("sentences", shown.trim_end()), ("id", &ids), ("amounts", &amounts.join(", ")), ("max_words", &mw)]);
        let grammar = PointGrammar::with_range(first, id, 1, POINT_WORDS_HARD);
        let g = ex.reply(Turn { system, user, params: self.params(self.budget_tokens(1)), constraint: Box::new(grammar) }).await?;
        Ok((parse_points(&g.text, sentences.len()).into_iter().next(), g))
    }
}

/// The points prompts of an article: one per run of sentences that fits the context.
struct DraftPlan {
    sentences: Vec<String>,
    n_points: usize,
    runs: Vec<DraftRun>,
}

/// One run's points prompt: the sentences `first..=last` shown, `points` asked for.
struct DraftRun {
    system: String,
    user: String,
    first: usize,
    last: usize,
    points: usize,
}

/// What identifies a reply written ahead: its prompt, the tokens it may take and its grammar (a
/// `--prompt` file need not show the sentence range or the number of points that the grammar holds).
fn prepared_key(system: &str, user: &str, max_new: usize, grammar: &str) -> PreparedKey {
    (system.to_string(), user.to_string(), max_new, grammar.to_string())
}

type PreparedKey = (String, String, usize, String);

impl DraftRun {
    fn grammar(&self) -> PointGrammar {
        PointGrammar::with_range(self.first, self.last, self.points, POINT_WORDS_HARD)
    }

    fn grammar_key(&self) -> String {
        format!("points [{}]..[{}], {} of at most {POINT_WORDS_HARD} words", self.first, self.last, self.points)
    }
}

/// The headline grammar's key (see [`prepared_key`]).
const TITLE_GRAMMAR: &str = "one line";

impl LlmSummarizer {
    /// The headline prompt (system, user) for `title` in `language`.
    fn title_turn(&self, title: &str, language: &str) -> (String, String) {
        self.title_prompt.fill(&[("language_name", language_name(language)), ("title", title)])
    }

    fn draft_plan(&self, article: &Article, max_words: usize) -> Result<DraftPlan> {
        let sentences = body_sentences(&article.text, &article.language);
        if sentences.is_empty() {
            return Err(Error::Input { path: article.title.clone().unwrap_or_default(), reason: "no sentences to summarize".into() });
        }
        // about one point per 20 words asked for
        let n_points = (max_words / 20).clamp(2, 8);
        let template = if article.language == "en" { &self.prompt } else { &self.direct_prompt };
        let title = article.title.clone().unwrap_or_else(|| "(none)".into());
        let date = article.date.clone().unwrap_or_else(|| "(unknown)".into());
        let mw = self.point_words.to_string();
        let fill = |lines: &str, points: usize| {
            let p = points.to_string();
            template.fill(&[("title", &title), ("date", &date), ("language_name", language_name(&article.language)), ("sentences", lines), ("points", &p), ("max_words", &mw)])
        };
        let (s0, u0) = fill("", n_points);
        let overhead = {
            let model = self.model.borrow();
            model.count_tokens(&model.chat.render(&s0, &u0))?
        };
        let runs = self.runs(&sentences, overhead, self.budget_tokens(n_points));
        let total_lines: usize = runs.iter().map(Vec::len).sum();
        let runs = runs
            .iter()
            .map(|run| {
                // each run its share of the points, at least one
                let k = if runs.len() == 1 { n_points } else { ((n_points * run.len()) as f64 / total_lines as f64).round().max(1.0) as usize };
                let lines: String = run.iter().map(|l| format!("[{}] {}\n", l.id, l.text)).collect();
                let (system, user) = fill(lines.trim_end(), k);
                DraftRun { system, user, first: run.first().map_or(1, |l| l.id), last: run.last().map_or(1, |l| l.id), points: k }
            })
            .collect();
        Ok(DraftPlan { sentences, n_points, runs })
    }
}

/// Sentences of the article's first third (at least its first 3) that give an amount (money, a
/// percentage, a number scaled by million/Mrd./miljard) which no point states, with those amounts, in
/// article order. A news article puts its key figures in its lead; the 1.5B in `--direct` left 002's
/// valuation ("3,5 miljard dollar", sentence 6) out of every point, and nothing else caught it.
fn unstated_lead_amounts(points: &[SummaryPoint], sentences: &[String], lang: &str) -> Vec<(usize, Vec<Quantity>)> {
    let stated: Vec<Quantity> = points.iter().flat_map(|p| quantities(&p.text, "en")).collect();
    let lead = (sentences.len() / 3).max(3).min(sentences.len());
    (1..=lead)
        .filter_map(|id| {
            let missing: Vec<Quantity> = quantities(&sentences[id - 1], lang)
                .into_iter()
                .filter(|q| is_key_amount(q) && !stated.iter().any(|h| states(q, h)))
                .collect();
            (!missing.is_empty()).then_some((id, missing))
        })
        .collect()
}

/// An amount a summary should carry: money, a percentage, a number with a scale word (not a bare count).
fn is_key_amount(q: &Quantity) -> bool {
    q.kind == Kind::Amount && (q.scaled || q.unit != Unit::None)
}

/// Does `claim` state the amount `source` gives, its scale included? Stricter than [`supports`], which
/// lets "3.5 dollars" pass for "3,5 miljard dollar" (nothing wrong is claimed there, but the amount is
/// not stated either).
fn states(source: &Quantity, claim: &Quantity) -> bool {
    supports(source, claim) && (claim.scaled || !source.scaled)
}

/// The ids (from 1, in article order) of the `k` sentences `text` most likely rests on
/// ([`align`]: shared numbers, names and character 4-grams).
fn closest_sentences(text: &str, sentences: &[String], k: usize) -> Vec<usize> {
    let all: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let mut ids: Vec<usize> = align(text, &all, k).into_iter().map(|i| i + 1).collect();
    ids.sort_unstable();
    ids
}

/// Amounts (money, percentages, scaled numbers) of the cited sentences that `text` does not state.
fn omitted_amounts(text: &str, citations: &[usize], sentences: &[String], lang: &str) -> Vec<String> {
    let have = quantities(text, "en");
    citations
        .iter()
        .filter_map(|&c| sentences.get(c - 1))
        .flat_map(|s| quantities(s, lang))
        .filter(is_key_amount)
        .filter(|q| !have.iter().any(|h| supports(q, h)))
        .map(|q| q.text)
        .collect()
}

/// A point asked for on sentence `id` because it gives the `missing` amounts, with its `checks`: kept
/// when it cites that sentence, passes every check and states one of them; else dropped, saying why.
fn asked_point(d: DraftPoint, id: usize, missing: &[Quantity], mut checks: Vec<Check>) -> std::result::Result<SummaryPoint, DroppedPoint> {
    let amounts: Vec<&str> = missing.iter().map(|q| q.text.as_str()).collect();
    let stated = quantities(&d.text, "en");
    let mut why: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| c.detail.clone()).collect();
    if !d.citations.contains(&id) {
        why.push(format!("asked for sentence {id}, it cites {:?}", d.citations));
    }
    if !missing.iter().any(|q| stated.iter().any(|h| states(q, h))) {
        why.push(format!("asked for sentence {id}'s {}, it does not state them", amounts.join(", ")));
    }
    if !why.is_empty() {
        return Err(DroppedPoint { text: d.text, citations: d.citations, reason: why.join("; ") });
    }
    checks.push(Check { check: CheckKind::Numbers, ok: true, detail: format!("asked for: sentence {id} gives {}, which no point stated", amounts.join(", ")) });
    Ok(SummaryPoint { text: d.text, citations: d.citations, status: PointStatus::Verified, checks, draft: None })
}

/// Pieces of `text` of at most `budget` (by `count`), cut at spaces where possible, in order, and
/// together all of `text`.
pub fn split_to_fit(text: &str, budget: usize, count: &dyn Fn(&str) -> usize) -> Vec<String> {
    if count(text) <= budget {
        return vec![text.to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if count(&candidate) <= budget {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if count(word) <= budget {
            current = word.to_string();
        } else {
            // one word over the budget (a URL, a run of symbols): cut by characters
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if count(&piece) > budget && piece.chars().count() > 1 {
                    let last = piece.pop().unwrap_or(c);
                    out.push(std::mem::take(&mut piece));
                    piece.push(last);
                }
            }
            current = piece;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A summary being written ([`LlmSummarizer::summarize_in`]).
type SummaryFuture<'a> = Pin<Box<dyn Future<Output = Result<Summary>> + 'a>>;

/// A model reply a summary waits for.
struct Turn {
    system: String,
    user: String,
    params: SamplingParams,
    constraint: Box<dyn Constraint>,
}

/// Where summaries being written ask for replies and get them: [`LlmSummarizer::run_summaries`] polls
/// each summary until it waits on a [`Reply`], then writes every reply asked for (together, where the
/// model can) and polls again. Single-threaded: nothing here is shared across threads, and no borrow of
/// the model lives across an await, so the `RefCell`s never clash.
#[derive(Default)]
struct Exchange {
    asked: RefCell<Vec<(usize, usize, Turn)>>,
    replies: RefCell<HashMap<usize, Result<Generated>>>,
    next_id: Cell<usize>,
    /// The summary being polled, which owns the replies it asks for.
    polling: Cell<usize>,
}

impl Exchange {
    fn reply(&self, turn: Turn) -> Reply<'_> {
        Reply { ex: self, turn: Some(turn), id: 0 }
    }
}

/// The future of one reply: asks on its first poll, is ready once the reply is in.
struct Reply<'e> {
    ex: &'e Exchange,
    turn: Option<Turn>,
    id: usize,
}

impl Future for Reply<'_> {
    type Output = Result<Generated>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let ex = self.ex;
        if let Some(turn) = self.turn.take() {
            self.id = ex.next_id.get();
            ex.next_id.set(self.id + 1);
            ex.asked.borrow_mut().push((self.id, ex.polling.get(), turn));
            return Poll::Pending;
        }
        match ex.replies.borrow_mut().remove(&self.id) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl LlmSummarizer {
    /// Runs `summaries` to their ends, in their order. Each is polled until it waits for a reply; the
    /// replies asked for are then written, with [`GgufLlm::chat_batch`] when `together` (each reply the
    /// one it gets alone, token for token, so no summary depends on the others), else one by one. A
    /// summary's `seconds` is the time spent polling it plus its replies' prompt and decoding shares.
    fn run_summaries(&self, ex: &Exchange, mut summaries: Vec<SummaryFuture<'_>>, together: bool) -> Vec<Result<Summary>> {
        let mut done: Vec<Option<Result<Summary>>> = summaries.iter().map(|_| None).collect();
        let mut spent = vec![0f64; summaries.len()];
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            for (i, f) in summaries.iter_mut().enumerate() {
                if done[i].is_some() {
                    continue;
                }
                ex.polling.set(i);
                let t = Instant::now();
                let polled = f.as_mut().poll(&mut cx);
                spent[i] += t.elapsed().as_secs_f64();
                if let Poll::Ready(r) = polled {
                    done[i] = Some(r);
                }
            }
            let mut asked = std::mem::take(&mut *ex.asked.borrow_mut());
            if asked.is_empty() {
                break;
            }
            let model = &mut *self.model.borrow_mut();
            let mut replies: Vec<Result<Generated>> = if together && asked.len() > 1 {
                self.replies_together.set(self.replies_together.get() + asked.len());
                let requests = asked
                    .iter_mut()
                    .map(|(_, _, t)| ChatRequest { system: t.system.clone(), user: t.user.clone(), params: t.params.clone(), constraint: Some(t.constraint.as_mut()) })
                    .collect();
                match model.chat_batch(requests) {
                    Ok(r) => r,
                    Err(e) => asked.iter().map(|_| Err(e.clone())).collect(),
                }
            } else {
                asked.iter_mut().map(|(_, _, t)| model.chat_constrained(&t.system, &t.user, &t.params, t.constraint.as_mut())).collect()
            };
            // one reply per turn asked (chat_batch's contract); were one missing, its summary fails saying so
            replies.resize_with(asked.len(), || Err(Error::Usage("the model gave no reply to a turn".into())));
            let mut in_ = ex.replies.borrow_mut();
            for ((id, owner, _), r) in asked.iter().zip(replies) {
                if let Ok(g) = &r {
                    spent[*owner] += g.prompt_seconds + g.generation_seconds;
                }
                in_.insert(*id, r);
            }
        }
        done.into_iter()
            .zip(spent)
            .map(|(r, t)| match r {
                Some(Ok(mut s)) => {
                    s.seconds += t;
                    Ok(s)
                }
                Some(Err(e)) => Err(e),
                // a summary waits only on replies, and every reply asked for was given
                None => Err(Error::Usage("a summary was left waiting for a model reply".into())),
            })
            .collect()
    }
}

impl Summarizer for LlmSummarizer {
    fn prompt_counts(&self) -> Option<crate::models::llm::PromptCounts> {
        Some(self.model.borrow().prompt_counts())
    }

    fn describe(&self) -> String {
        self.model.borrow().label.clone()
    }

    fn writer(&mut self) -> Option<&mut dyn TextWriter> {
        Some(self)
    }

    fn english_title(&mut self, title: &str, language: &str) -> Result<Option<String>> {
        if language == "en" || title.trim().is_empty() {
            return Ok(None);
        }
        let (system, user) = self.title_turn(title, language);
        let g = match self.prepared.get_mut().remove(&prepared_key(&system, &user, TITLE_TOKENS, TITLE_GRAMMAR)) {
            Some(g) => g,
            None => {
                let params = self.params(TITLE_TOKENS);
                self.model.get_mut().chat_constrained(&system, &user, &params, &mut LineGrammar::new(TITLE_BYTES))?
            }
        };
        let t = g.text.trim().trim_matches(['"', '„', '“', '”', '\'']).trim().to_string();
        let same = t.to_lowercase() == title.to_lowercase();
        Ok((!t.is_empty() && !same && not_english(&t).is_none()).then_some(t))
    }

    /// The drafts of a group of articles, and their headlines in English, written together
    /// ([`GgufLlm::chat_batch`]: one decoding step reads the weights once for all of them) and kept for
    /// [`summarize`](Summarizer::summarize) and [`english_title`](Summarizer::english_title), which take
    /// a kept reply for a prompt they would send, instead of generating it: the same reply, token for
    /// token. Best effort: an article whose drafts could not be written here is drafted again
    /// there, and its error reported with it. Where the model decodes together, the group's summaries
    /// are then written here too ([`Self::run_summaries`]) and kept, failures included, for
    /// [`summarize`](Summarizer::summarize) to hand out.
    fn prepare(&mut self, articles: &[Article], max_words: usize, headlines: &[(String, String)]) {
        self.prepared.get_mut().clear();
        self.summaries.clear();
        // (system, user, tokens, grammar and its key) of each draft, then of each headline asked for
        let mut turns: Vec<(String, String, usize, Box<dyn Constraint>, String)> = Vec::new();
        for plan in articles.iter().filter_map(|a| self.draft_plan(a, max_words).ok()) {
            for r in plan.runs {
                let (grammar, key) = (Box::new(r.grammar()), r.grammar_key());
                turns.push((r.system, r.user, self.budget_tokens(r.points), grammar, key));
            }
        }
        for (title, language) in headlines.iter().filter(|(t, l)| l != "en" && !t.trim().is_empty()) {
            let (system, user) = self.title_turn(title, language);
            turns.push((system, user, TITLE_TOKENS, Box::new(LineGrammar::new(TITLE_BYTES)), TITLE_GRAMMAR.into()));
        }
        let requests: Vec<ChatRequest<'_>> = turns
            .iter_mut()
            .map(|(system, user, max_new, g, _)| ChatRequest { system: system.clone(), user: user.clone(), params: self.params(*max_new), constraint: Some(g.as_mut()) })
            .collect();
        match self.model.get_mut().chat_batch(requests) {
            Ok(replies) => {
                for ((system, user, max_new, _, key), g) in turns.iter().zip(replies) {
                    if let Ok(g) = g {
                        self.prepared.get_mut().insert(prepared_key(system, user, *max_new, key), g);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "drafting a group of articles together failed; each is drafted alone"),
        }
        // Then the summaries themselves, together: each article's checks run until it waits for a
        // reply (a rewrite, an amount asked for), and the replies all wait for are written together.
        // Session 18 (AMD EPYC, 2 cores): one by one, the seeds brief's 9 later replies took ~16 s of 109; together they are 3 shared rounds and 1 alone.
        if articles.len() > 1 && self.model.get_mut().decodes_together() {
            let ex = Exchange::default();
            let all: Vec<SummaryFuture<'_>> = articles.iter().map(|a| Box::pin(self.summarize_in(&ex, a, max_words)) as SummaryFuture<'_>).collect();
            let done = self.run_summaries(&ex, all, true);
            self.summaries = articles.iter().map(|a| article_key(a, max_words)).zip(done).collect();
        }
    }

    fn summarize(&mut self, article: &Article, max_words: usize) -> Result<Summary> {
        if let Some(done) = self.summaries.remove(&article_key(article, max_words)) {
            return done;
        }
        let ex = Exchange::default();
        let one: Vec<SummaryFuture<'_>> = vec![Box::pin(self.summarize_in(&ex, article, max_words))];
        let mut done = self.run_summaries(&ex, one, false);
        done.pop().unwrap_or_else(|| Err(Error::Usage("no summary was written".into())))
    }
}

impl LlmSummarizer {
    /// One article's summary: its drafts (written ahead by [`Summarizer::prepare`], or asked for
    /// here), every point checked, rewritten or quoted, the lead's amounts asked for. Every model reply
    /// is awaited through `ex`, so that [`Self::run_summaries`] can write the replies of several
    /// articles' summaries together; the checks between run at once.
    async fn summarize_in(&self, ex: &Exchange, article: &Article, max_words: usize) -> Result<Summary> {
        let DraftPlan { sentences, n_points, runs } = self.draft_plan(article, max_words)?;
        let (mut prompt_tokens, mut generated_tokens) = (0, 0);
        let mut drafts: Vec<DraftPoint> = Vec::new();
        let mut drafted_before = 0.0;
        for run in &runs {
            let max_new = self.budget_tokens(run.points);
            // taken out before the match: no borrow of the kept drafts may live across an await
            let kept = self.prepared.borrow_mut().remove(&prepared_key(&run.system, &run.user, max_new, &run.grammar_key()));
            let g = match kept {
                Some(g) => {
                    // its prompt, and its share of the steps it was decoded in
                    drafted_before += g.prompt_seconds + g.generation_seconds;
                    g
                }
                None => ex.reply(Turn { system: run.system.clone(), user: run.user.clone(), params: self.params(max_new), constraint: Box::new(run.grammar()) }).await?,
            };
            tracing::debug!(points = %g.text, "drafted points");
            prompt_tokens += g.prompt_tokens;
            generated_tokens += g.generated_tokens;
            drafts.extend(parse_points(&g.text, sentences.len()));
        }
        let mut points: Vec<SummaryPoint> = Vec::new();
        let mut dropped: Vec<DroppedPoint> = Vec::new();
        for d in drafts {
            let earlier: Vec<String> = points.iter().map(|p| p.text.clone()).collect();
            let earlier: Vec<&str> = earlier.iter().map(String::as_str).collect();
            let checks = self.check(&d.text, &d.citations, &sentences, article, &earlier, true)?;
            let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
            if failed.is_empty() {
                // a lead point that leaves out the amounts its sentences give is written once more with them
                let omitted = omitted_amounts(&d.text, &d.citations, &sentences, &article.language);
                if points.len() < 3 && !omitted.is_empty() {
                    let note = Check { check: CheckKind::Numbers, ok: false, detail: format!("it leaves out the amounts its sentences give: {}", omitted.join(", ")) };
                    let (rewrite, g) = self.rewrite(ex, &d, &[&note], &sentences, article).await?;
                    prompt_tokens += g.prompt_tokens;
                    generated_tokens += g.generated_tokens;
                    if let Some(r) = rewrite {
                        let checks2 = self.check(&r.text, &r.citations, &sentences, article, &earlier, true)?;
                        if checks2.iter().all(|c| c.ok) && omitted_amounts(&r.text, &r.citations, &sentences, &article.language).len() < omitted.len() {
                            points.push(SummaryPoint { text: r.text, citations: r.citations, status: PointStatus::Regenerated, checks: checks2, draft: Some(d.text) });
                            continue;
                        }
                    }
                }
                points.push(SummaryPoint { text: d.text, citations: d.citations, status: PointStatus::Verified, checks, draft: None });
                continue;
            }
            if failed.iter().any(|c| c.check == CheckKind::Duplicate) {
                dropped.push(DroppedPoint { text: d.text, citations: d.citations, reason: "repeats an earlier point".into() });
                continue;
            }
            // a small model often cites the wrong lines (0.5B on seed 004: 3 of 8 drafts quote words of a
            // sentence they do not cite; the 1.5B in --direct on seed 003 cited [4] for the time and name
            // of [3]); the sentences the draft's words come from (names, numbers and character 4-grams,
            // which cross languages) are checked instead
            let better = closest_sentences(&d.text, &sentences, 2);
            if !better.is_empty() && better != d.citations {
                let mut checks2 = self.check(&d.text, &better, &sentences, article, &earlier, true)?;
                if checks2.iter().all(|c| c.ok) {
                    checks2.push(Check { check: CheckKind::Citation, ok: true, detail: format!("cited {:?}; its words are in {:?}, checked against those", d.citations, better) });
                    points.push(SummaryPoint { text: d.text, citations: better, status: PointStatus::Verified, checks: checks2, draft: None });
                    continue;
                }
            }
            let (rewrite, g) = self.rewrite(ex, &d, &failed, &sentences, article).await?;
            prompt_tokens += g.prompt_tokens;
            generated_tokens += g.generated_tokens;
            if let Some(r) = rewrite {
                let checks2 = self.check(&r.text, &r.citations, &sentences, article, &earlier, true)?;
                if checks2.iter().all(|c| c.ok) {
                    points.push(SummaryPoint { text: r.text, citations: r.citations, status: PointStatus::Regenerated, checks: checks2, draft: Some(d.text) });
                    continue;
                }
            }
            let why: Vec<String> = failed.iter().map(|c| c.detail.clone()).collect();
            if article.language == "en" {
                // the cited sentence closest to the draft, quoted: true to the article by construction, and
                // one sentence, not all it cites (quoting every cited sentence made 004's summary longer
                // than a third of the article)
                let ids: Vec<usize> = d.citations.iter().copied().filter(|&c| (1..=sentences.len()).contains(&c)).collect();
                let cited: Vec<&str> = ids.iter().map(|&c| sentences[c - 1].as_str()).collect();
                let Some(&best) = align(&d.text, &cited, 1).first() else {
                    dropped.push(DroppedPoint { text: d.text, citations: d.citations, reason: why.join("; ") });
                    continue;
                };
                let citation = ids[best];
                let text = sentences[citation - 1].clone();
                if points.iter().any(|p| p.text.contains(&text)) {
                    dropped.push(DroppedPoint { text: d.text, citations: d.citations, reason: format!("{}; its quote is already a point", why.join("; ")) });
                    continue;
                }
                let checks = vec![Check { check: CheckKind::Support, ok: true, detail: format!("quoted: the draft failed ({})", why.join("; ")) }];
                points.push(SummaryPoint { text, citations: vec![citation], status: PointStatus::Quoted, checks, draft: Some(d.text) });
            } else {
                dropped.push(DroppedPoint { text: d.text, citations: d.citations, reason: why.join("; ") });
            }
        }
        // Key figures of the lead that no point states get a point of their own, while the summary has
        // room (at most the points asked for); kept only if it passes every check and states them.
        let asked: Vec<usize> = unstated_lead_amounts(&points, &sentences, &article.language).into_iter().map(|(id, _)| id).collect();
        for id in asked {
            if points.len() >= n_points {
                break;
            }
            // a point kept for an earlier sentence may state this one's amounts too
            let Some((_, missing)) = unstated_lead_amounts(&points, &sentences, &article.language).into_iter().find(|(i, _)| *i == id) else { continue };
            let amounts: Vec<String> = missing.iter().map(|q| q.text.clone()).collect();
            let (draft, g) = self.point_for(ex, id, &amounts, &sentences, article).await?;
            prompt_tokens += g.prompt_tokens;
            generated_tokens += g.generated_tokens;
            let Some(d) = draft else {
                tracing::debug!(sentence = id, reply = %g.text, "asked for a lead amount's point, got no valid point");
                continue;
            };
            let earlier: Vec<String> = points.iter().map(|p| p.text.clone()).collect();
            let earlier: Vec<&str> = earlier.iter().map(String::as_str).collect();
            let checks = self.check(&d.text, &d.citations, &sentences, article, &earlier, true)?;
            match asked_point(d, id, &missing, checks) {
                Ok(p) => {
                    // in article order among the points after the first (the first says what it is about)
                    let first = p.citations.iter().copied().min().unwrap_or(id);
                    let at = points.iter().skip(1).position(|q| q.citations.iter().min().is_some_and(|&c| c > first)).map_or(points.len(), |i| i + 1);
                    points.insert(at, p);
                }
                Err(d) => dropped.push(d),
            }
        }
        // A news article's first body sentence is its main fact; when no point rests on it, it is
        // quoted as the first point (English text only; a `--direct` summary cannot quote its source).
        // The 1.5B left 000's lead ($35 billion, the download charts) out of every point.
        if article.language == "en" && !points.is_empty() && !points.iter().any(|p| p.citations.contains(&1)) {
            let lead = &sentences[0];
            let words = lead.split_whitespace().count();
            if words <= POINT_WORDS_HARD && incomplete(lead).is_none() {
                let checks = vec![Check { check: CheckKind::Support, ok: true, detail: "quoted: the article's lead sentence, which no point covered".into() }];
                points.insert(0, SummaryPoint { text: lead.clone(), citations: vec![1], status: PointStatus::Quoted, checks, draft: None });
            }
        }
        if points.is_empty() {
            if article.language != "en" {
                return Err(Error::Input {
                    path: article.title.clone().unwrap_or_default(),
                    reason: format!("the model wrote no point that passed the checks ({} written, all dropped: {})", dropped.len(), dropped.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>().join("; ")),
                });
            }
            // nothing the model wrote held: the article's central sentences, quoted
            for i in super::extractive::ExtractiveSummarizer::choose(&sentences, max_words) {
                let checks = vec![Check { check: CheckKind::Support, ok: true, detail: "quoted: no point the model wrote passed its checks".into() }];
                points.push(SummaryPoint { text: sentences[i].clone(), citations: vec![i + 1], status: PointStatus::Quoted, checks, draft: None });
            }
        }
        Ok(Summary {
            text: points.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" "),
            method: if runs.len() == 1 { SummaryMethod::Llm } else { SummaryMethod::LlmMapReduce },
            summarizer: Summarizer::describe(self),
            chunks: runs.len(),
            prompt_tokens,
            generated_tokens,
            // the time this article took itself is added by `run_summaries`
            seconds: drafted_before,
            sentences,
            points,
            dropped,
        })
    }
}

impl TextWriter for LlmSummarizer {
    fn describe(&self) -> String {
        Summarizer::describe(self)
    }

    fn write(&mut self, system: &str, user: &str, max_new_tokens: usize) -> Result<Generated> {
        let params = self.params(max_new_tokens);
        self.model.get_mut().chat(system, user, &params)
    }

    fn write_constrained(&mut self, system: &str, user: &str, constraint: &mut dyn Constraint, max_new_tokens: usize) -> Result<Generated> {
        let params = self.params(max_new_tokens);
        self.model.get_mut().chat_constrained(system, user, &params, constraint)
    }

    fn supports(&mut self, claim: &str, evidence: &[&str], language: &str) -> Result<Option<bool>> {
        match self.judge_threshold {
            Some(t) => Ok(Some(support_log_odds(self.model.get_mut(), claim, evidence, language)? >= t)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_amounts_no_point_states_are_found() {
        let sentences: Vec<String> = [
            "Cloudflare maakt zich klaar voor een beursgang.",
            "Het heeft 200 datacenters.",
            "Cloudflare zou ongeveer 3,5 miljard dollar waard zijn.",
            "Het bedrijf werd tien jaar geleden opgericht.",
            "De beursgang moet Cloudflare een financiële injectie geven.",
            "Een klant betaalde 5 miljoen euro.",
        ]
        .map(String::from)
        .to_vec();
        let point = |t: &str| SummaryPoint { text: t.into(), citations: vec![1], status: PointStatus::Verified, checks: vec![], draft: None };
        let ids = |found: Vec<(usize, Vec<Quantity>)>| found.iter().map(|(id, q)| (*id, q.len())).collect::<Vec<_>>();
        // only amounts with a unit or a scale (not the bare 200 of sentence 2), and only in the first
        // third, at least 3 sentences (not the 5 million euros of sentence 6)
        assert_eq!(ids(unstated_lead_amounts(&[point("Cloudflare is preparing an IPO.")], &sentences, "nl")), vec![(3, 1)]);
        // stated by any point, whatever it cites, it is not asked for again; stated wrongly, or without
        // its scale, it still is
        assert!(unstated_lead_amounts(&[point("Cloudflare is worth about 3.5 billion dollars.")], &sentences, "nl").is_empty());
        assert_eq!(unstated_lead_amounts(&[point("Cloudflare is worth about 3.5 million dollars.")], &sentences, "nl").len(), 1);
        assert_eq!(unstated_lead_amounts(&[point("Cloudflare is worth about 3.5 dollars.")], &sentences, "nl").len(), 1);
        // a third of 12 sentences is 4: sentence 4's amount counts; an article of one sentence is its lead
        let twelve: Vec<String> = (1..=12).map(|i| if i == 4 { "Het kost 12 procent meer.".to_string() } else { format!("Zin {i} zonder bedrag.") }).collect();
        assert_eq!(ids(unstated_lead_amounts(&[], &twelve, "nl")), vec![(4, 1)]);
        assert_eq!(ids(unstated_lead_amounts(&[], &sentences[2..3], "nl")), vec![(1, 1)]);
    }

    #[test]
    fn an_asked_for_point_is_kept_only_when_it_states_the_amount_of_its_sentence() {
        let missing = quantities("Cloudflare zou ongeveer 3,5 miljard dollar waard zijn.", "nl");
        let ok = || vec![Check { check: CheckKind::Names, ok: true, detail: String::new() }];
        let draft = |t: &str, c: Vec<usize>| DraftPoint { text: t.into(), citations: c };
        let kept = asked_point(draft("Cloudflare is said to be worth about 3.5 billion dollars.", vec![6]), 6, &missing, ok()).unwrap();
        assert!(kept.checks.iter().any(|c| c.detail.starts_with("asked for: sentence 6 gives 3,5 miljard dollar")), "{kept:?}");
        // the trap (millions), another sentence, a failed check: dropped, with the reason
        let wrong = asked_point(draft("Cloudflare is worth about 3.5 million dollars.", vec![6]), 6, &missing, ok()).unwrap_err();
        assert!(wrong.reason.contains("does not state them"), "{wrong:?}");
        let unscaled = asked_point(draft("Cloudflare is worth about 3.5 dollars.", vec![6]), 6, &missing, ok()).unwrap_err();
        assert!(unscaled.reason.contains("does not state them"), "{unscaled:?}");
        let elsewhere = asked_point(draft("Cloudflare is worth about 3.5 billion dollars.", vec![5]), 6, &missing, ok()).unwrap_err();
        assert!(elsewhere.reason.contains("it cites [5]"), "{elsewhere:?}");
        let failed = vec![Check { check: CheckKind::Names, ok: false, detail: "not named in the cited sentences: SEC".into() }];
        let named = asked_point(draft("The SEC values Cloudflare at 3.5 billion dollars.", vec![6]), 6, &missing, failed).unwrap_err();
        assert_eq!(named.reason, "not named in the cited sentences: SEC");
    }

    #[test]
    fn long_sentences_are_shown_whole_in_parts() {
        let count = |t: &str| t.split(' ').count();
        let s = "one two three four five six seven";
        let parts = split_to_fit(s, 3, &count);
        assert_eq!(parts, vec!["one two three", "four five six", "seven"]);
        assert_eq!(parts.join(" "), s);
        // a single giant word (no spaces) is cut by characters, and the cutting ends
        let count = |t: &str| t.chars().count();
        let giant = "x".repeat(1000);
        let parts = split_to_fit(&giant, 64, &count);
        assert_eq!(parts.concat(), giant);
        assert!(parts.iter().all(|p| p.chars().count() <= 64));
    }
}
