//! The cross-article briefing, built from the articles' checked summary points rather than written
//! freely, so that every bullet is true to the articles it cites:
//!
//! 1. the points of all summaries are grouped into stories by how alike they are ([`embed`]: sentence
//!    embeddings, or shared words without a model);
//! 2. within a story, points of different articles that state the same fact become one bullet citing
//!    every article whose own sentences pass the fact check of that bullet (`[1][5]`); two points that
//!    state one fact in different words (one quoting its source) are joined by the model into the
//!    sentence both back, kept only when it passes the fact check against each article's sentences;
//! 3. where articles of one story give different figures for the same kind of quantity, a bullet says
//!    so and cites both;
//! 4. each article whose lead point is in no bullet is listed under "Also reported" with it;
//! 5. stories get a heading (the LLM's, checked, or the names the story's points share).
//!
//! No bullet is longer than [`MAX_BULLET_WORDS`] words; no bullet cites a source it was not checked
//! against.
pub mod embed;

use embed::{cosine, Similarity};

use super::factcheck::names::names;
use super::factcheck::quantities::{quantities, supports, Kind, Unit};
use super::factcheck::{check_point, not_english, unsupported_items, unsupported_names, Check, CheckKind, Evidence};
use super::summarize::points::LineGrammar;
use super::summarize::prompts::PROMPT_JOINT;
use super::summarize::{PointStatus, PromptTemplate, Summarizer, SummaryPoint};
use crate::error::Result;

pub const PROMPT_THEME: &str = include_str!("../../../prompts/theme.txt");

/// Bullets longer than this are left out (a quoted sentence can be long; its article keeps it).
pub const MAX_BULLET_WORDS: usize = 40;
/// Facts per story, and stories, at most.
const MAX_FACTS_PER_STORY: usize = 4;
const MAX_STORIES: usize = 8;
/// Pairs of facts per story that the model is asked to join (one generation each), most alike first.
const MAX_JOINS_PER_STORY: usize = 3;
/// Words a joined fact may have.
const JOINT_WORDS: usize = 25;

#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceInfo {
    /// The citation number, from 1.
    pub number: usize,
    pub file: String,
    pub title: Option<String>,
    /// The title in the article's language, when `title` is its translation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_title: Option<String>,
    pub language: String,
    pub date: Option<String>,
    pub summary: String,
    /// Problems its summary's checks found (failed checks of unverified points).
    pub unsupported: Vec<String>,
    /// The summary's points (with the sentence ids they cite).
    #[serde(skip)]
    pub points: Vec<SummaryPoint>,
    /// The article's numbered sentences the points cite.
    #[serde(skip)]
    pub sentences: Vec<String>,
    /// The text checked against (the English translation, or the original when English or `--direct`).
    #[serde(skip)]
    pub text: String,
    /// Language of `text`.
    #[serde(skip)]
    pub text_language: String,
}

/// What a bullet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BulletKind {
    /// A fact one or more articles state.
    Fact,
    /// Articles of one story give different figures.
    Disagreement,
    /// An article's lead fact that no bullet of the stories holds.
    AlsoReported,
}

/// Where a bullet's claim is in one source.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Provenance {
    pub source: usize,
    /// Ids of the source's sentences that back it.
    pub sentences: Vec<usize>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BriefingPoint {
    pub theme: String,
    pub kind: BulletKind,
    pub text: String,
    /// Source numbers, from 1.
    pub citations: Vec<usize>,
    /// For each cited source, the sentences the bullet rests on.
    pub provenance: Vec<Provenance>,
    /// Numbers, dates and names found in none of the cited sources' sentences (empty when checked).
    pub unsupported: Vec<String>,
    /// The checks of the bullet against each further source it cites (its own source checked it
    /// when its summary was written); for a joined fact, against every source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// For a fact the model joined from two articles' points: those points.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<String>,
}

/// How the stories were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BriefingMethod {
    /// Points grouped by sentence embeddings.
    Embeddings,
    /// Points grouped by shared words (no embedding model).
    Lexical,
}

impl std::fmt::Display for BriefingMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BriefingMethod::Embeddings => "stories by sentence embeddings",
            BriefingMethod::Lexical => "stories by shared words",
        })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Briefing {
    /// Identity of the inputs and writer; an unchanged key means the briefing need not be rewritten.
    pub key: String,
    pub method: BriefingMethod,
    /// What grouped the points and who labelled the stories.
    pub writer: String,
    pub points: Vec<BriefingPoint>,
    pub sources: Vec<SourceInfo>,
    /// Notes about how it was made.
    pub notes: Vec<String>,
}

/// One summary point of one source, as the briefing handles it.
#[derive(Debug, Clone)]
struct Item {
    source: usize,
    /// Position in its summary (0: the lead point).
    rank: usize,
    text: String,
    sentences: Vec<usize>,
}

/// Average-linkage clustering: merge the two most alike groups while their mean similarity reaches
/// `threshold`. Returns groups of item indices, each sorted.
fn cluster(sim: &[Vec<f32>], threshold: f32) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = (0..sim.len()).map(|i| vec![i]).collect();
    loop {
        let mut best: Option<(f32, usize, usize)> = None;
        for a in 0..groups.len() {
            for b in a + 1..groups.len() {
                let total: f32 = groups[a].iter().flat_map(|&i| groups[b].iter().map(move |&j| sim[i][j])).sum();
                let mean = total / (groups[a].len() * groups[b].len()) as f32;
                if mean >= threshold && best.map(|(m, _, _)| mean > m).unwrap_or(true) {
                    best = Some((mean, a, b));
                }
            }
        }
        let Some((_, a, b)) = best else { break };
        let merged = groups.remove(b);
        groups[a].extend(merged);
        groups[a].sort();
    }
    groups
}

/// Does `source` back `text` with the sentences `ids`? The deterministic fact check of the text
/// against them: numbers, names, polarity, causes, language.
fn backs(text: &str, source: &SourceInfo, ids: &[usize]) -> (bool, Vec<Check>) {
    let sentences: Vec<&str> = ids.iter().filter_map(|&i| source.sentences.get(i.wrapping_sub(1))).map(String::as_str).collect();
    let evidence = Evidence { sentences, language: &source.text_language, title: None };
    let checks: Vec<Check> = check_point(text, &evidence, &[], usize::MAX)
        .into_iter()
        .filter(|c| matches!(c.check, CheckKind::Numbers | CheckKind::Names | CheckKind::Polarity | CheckKind::Cause | CheckKind::Untranslated | CheckKind::English | CheckKind::Quotes))
        .collect();
    (checks.iter().all(|c| c.ok), checks)
}

/// Does `source` back `text` on its sentences `ids`: the fact check ([`backs`]), then the writer's
/// verdict, or, with no writer or one that does not judge, most of the words ([`covers`]).
fn backed(text: &str, source: &SourceInfo, ids: &[usize], writer: Option<&mut (dyn super::summarize::TextWriter + '_)>) -> Result<(bool, Vec<Check>)> {
    let (ok, checks) = backs(text, source, ids);
    if !ok {
        return Ok((false, checks));
    }
    let evidence: Vec<&str> = ids.iter().filter_map(|&k| source.sentences.get(k.wrapping_sub(1))).map(String::as_str).collect();
    let verdict = match writer {
        Some(w) => w.supports(text, &evidence, &source.text_language)?.unwrap_or_else(|| covers(&evidence, text)),
        None => covers(&evidence, text),
    };
    Ok((verdict, checks))
}

/// The item a single-cited fact bullet was made from.
fn item_of(items: &[Item], sources: &[SourceInfo], fact: &BriefingPoint) -> Option<usize> {
    items.iter().position(|it| sources[it.source].number == fact.citations[0] && it.text == fact.text)
}

/// Name words in the points of at least three sources and of more than half of them.
fn ubiquitous_names(items: &[Item], sources: usize) -> Vec<String> {
    let mut by_name: Vec<(String, Vec<usize>)> = Vec::new();
    for it in items {
        for n in names(&it.text) {
            let n = n.to_lowercase();
            match by_name.iter_mut().find(|(m, _)| *m == n) {
                Some((_, s)) if !s.contains(&it.source) => s.push(it.source),
                Some(_) => {}
                None => by_name.push((n, vec![it.source])),
            }
        }
    }
    by_name.into_iter().filter(|(_, s)| s.len() >= 3 && s.len() * 2 > sources).map(|(n, _)| n).collect()
}

/// `text` with the given name words (lower case) replaced by "it".
fn mask_names(text: &str, shared: &[String]) -> String {
    if shared.is_empty() {
        return text.to_string();
    }
    text.split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric()).trim_end_matches("'s").trim_end_matches("’s").to_lowercase();
            if shared.contains(&core) {
                "it"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Without a model to judge: do `evidence`'s sentences hold most (60 %) of `claim`'s content words?
fn covers(evidence: &[&str], claim: &str) -> bool {
    use super::factcheck::names::words;
    let stem = |w: String| w.trim_end_matches('s').to_string();
    let have: std::collections::HashSet<String> = evidence.iter().flat_map(|e| words(e)).map(stem).collect();
    let want: Vec<String> = words(claim).into_iter().filter(|w| w.chars().count() > 3).map(stem).collect();
    !want.is_empty() && want.iter().filter(|w| have.contains(*w)).count() * 10 >= want.len() * 6
}

/// Quantities of a text that a disagreement can be about: amounts with a currency or a percent sign,
/// and clock times.
fn comparable(text: &str) -> Vec<(String, Unit, bool, super::factcheck::quantities::Quantity)> {
    quantities(text, "en")
        .into_iter()
        .filter(|q| matches!(q.kind, Kind::Time(_)) || matches!(q.unit, Unit::Currency(_) | Unit::Percent))
        .map(|q| (q.text.clone(), q.unit.clone(), matches!(q.kind, Kind::Time(_)), q))
        .collect()
}

pub struct BriefingWriter {
    pub theme_prompt: PromptTemplate,
    pub joint_prompt: PromptTemplate,
}

impl Default for BriefingWriter {
    fn default() -> Self {
        Self { theme_prompt: PromptTemplate::parse(PROMPT_THEME), joint_prompt: PromptTemplate::parse(PROMPT_JOINT) }
    }
}

impl BriefingWriter {
    /// The briefing over the sources' summaries; `similarity` groups points, `summarizer` (when it can
    /// write) labels the stories.
    pub fn write(&self, mut sources: Vec<SourceInfo>, similarity: &dyn Similarity, summarizer: Option<&mut dyn Summarizer>) -> Result<Briefing> {
        let mut notes = Vec::new();
        for s in sources.iter_mut() {
            s.unsupported = s.points.iter().filter(|p| p.status == PointStatus::Unverified).flat_map(|p| p.checks.iter().filter(|c| !c.ok).map(|c| c.detail.clone())).collect();
            if s.points.is_empty() {
                s.unsupported = unsupported_items(&s.summary, &[&s.text]);
            }
        }
        let mut items: Vec<Item> = Vec::new();
        let mut too_long = 0;
        for (si, s) in sources.iter().enumerate() {
            for (rank, p) in s.points.iter().enumerate() {
                if p.text.split_whitespace().count() > MAX_BULLET_WORDS {
                    too_long += 1;
                    continue;
                }
                items.push(Item { source: si, rank, text: p.text.clone(), sentences: p.citations.clone() });
            }
        }
        if too_long > 0 {
            notes.push(format!("{too_long} point(s) over {MAX_BULLET_WORDS} words (quoted sentences) are in their article's summary only"));
        }
        // names that nearly every source shares (the company a folder is about) say nothing about which
        // story a point tells: left out of the texts compared (measured on the seeds, all about
        // Cloudflare: with the name, points of different stories scored 0.55-0.62 with MiniLM, as high
        // as points of one story; without it, 0.28-0.46 apart from true shared facts)
        let shared = ubiquitous_names(&items, sources.len());
        let masked: Vec<String> = items.iter().map(|i| mask_names(&i.text, &shared)).collect();
        let texts: Vec<&str> = masked.iter().map(String::as_str).collect();
        let vectors = similarity.vectors(&texts)?;
        let sim: Vec<Vec<f32>> = vectors.iter().map(|a| vectors.iter().map(|b| cosine(a, b)).collect()).collect();
        let stories = cluster(&sim, similarity.story_threshold());
        // an article's points that joined no other article's form one story, not several
        let mut merged: Vec<Vec<usize>> = Vec::new();
        for g in stories {
            let mut srcs: Vec<usize> = g.iter().map(|&i| items[i].source).collect();
            srcs.dedup();
            let alone = srcs.len() == 1 && srcs.iter().all(|s| g.iter().all(|&i| items[i].source == *s));
            match merged.iter_mut().find(|m| alone && m.iter().all(|&i| items[i].source == srcs[0])) {
                Some(m) => {
                    m.extend(g);
                    m.sort();
                }
                None => merged.push(g),
            }
        }
        let mut stories = merged;
        // stories told by more articles first, then by how early their points come
        stories.sort_by_key(|g| {
            let mut srcs: Vec<usize> = g.iter().map(|&i| items[i].source).collect();
            srcs.dedup();
            (std::cmp::Reverse(srcs.len()), g.iter().map(|&i| items[i].rank).min().unwrap_or(0), g[0])
        });
        let mut bullets: Vec<BriefingPoint> = Vec::new();
        let mut used = vec![false; items.len()];
        let mut writer = summarizer.and_then(|s| s.writer());
        let labeller = writer.as_ref().map(|w| w.describe()).unwrap_or_else(|| "the articles' titles".into());
        for story in stories.iter().take(MAX_STORIES) {
            let mut story_sources: Vec<usize> = story.iter().map(|&i| items[i].source).collect();
            story_sources.sort();
            story_sources.dedup();
            // one article's story is headed by its title; a shared story by a heading that one of its
            // facts backs whole (a heading may not join two facts into a claim neither makes)
            let theme = match &story_sources[..] {
                [s] => sources[*s].title.clone().unwrap_or_else(|| headline(&items[story[0]].text)),
                _ => {
                    // failing a heading the facts back: the title of the article with most points here
                    let most = story_sources.iter().copied().max_by_key(|&s| (story.iter().filter(|&&i| items[i].source == s).count(), std::cmp::Reverse(s)));
                    let fallback = most.and_then(|s| sources[s].title.clone()).unwrap_or_else(|| headline(&items[story[0]].text));
                    self.theme(story.iter().map(|&i| items[i].text.as_str()).collect(), fallback, &mut writer)?
                }
            };
            let mut facts: Vec<BriefingPoint> = Vec::new();
            let mut in_story: Vec<usize> = story.clone();
            in_story.sort_by_key(|&i| (items[i].rank, items[i].source));
            for &i in &in_story {
                if used[i] {
                    continue;
                }
                used[i] = true;
                let it = &items[i];
                let mut citations = vec![sources[it.source].number];
                let mut provenance = vec![Provenance { source: sources[it.source].number, sentences: it.sentences.clone() }];
                let mut checks = Vec::new();
                // the same fact in other articles of the story: cite them when their sentences back it
                for &j in &in_story {
                    let other = &items[j];
                    if used[j] || other.source == it.source || citations.contains(&sources[other.source].number) || sim[i][j] < similarity.same_fact_threshold() {
                        continue;
                    }
                    let (ok, c) = backed(&it.text, &sources[other.source], &other.sentences, writer.as_deref_mut())?;
                    if ok {
                        used[j] = true;
                        citations.push(sources[other.source].number);
                        provenance.push(Provenance { source: sources[other.source].number, sentences: other.sentences.clone() });
                        checks.extend(c);
                    }
                }
                facts.push(BriefingPoint { theme: theme.clone(), kind: BulletKind::Fact, text: it.text.clone(), citations, provenance, unsupported: vec![], checks, joined: vec![] });
            }
            // different figures for the same kind of quantity in one story
            for a in 0..in_story.len() {
                for b in a + 1..in_story.len() {
                    let (x, y) = (&items[in_story[a]], &items[in_story[b]]);
                    // figures differ only where two articles speak of the same thing
                    if x.source == y.source || sim[in_story[a]][in_story[b]] < similarity.same_fact_threshold() {
                        continue;
                    }
                    for (qa_text, qa_unit, qa_time, qa) in comparable(&x.text) {
                        for (qb_text, qb_unit, qb_time, qb) in comparable(&y.text) {
                            if qa_unit == qb_unit && qa_time == qb_time && !supports(&qa, &qb) && !supports(&qb, &qa) {
                                let (sa, sb) = (&sources[x.source], &sources[y.source]);
                                let when = |s: &SourceInfo| s.date.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                                let text = format!("Sources give different figures: {qa_text} in [{}]{}, {qb_text} in [{}]{}.", sa.number, when(sa), sb.number, when(sb));
                                if !facts.iter().any(|f| f.kind == BulletKind::Disagreement && f.citations == vec![sa.number, sb.number]) {
                                    facts.push(BriefingPoint {
                                        theme: theme.clone(),
                                        kind: BulletKind::Disagreement,
                                        text,
                                        citations: vec![sa.number, sb.number],
                                        provenance: vec![Provenance { source: sa.number, sentences: x.sentences.clone() }, Provenance { source: sb.number, sentences: y.sentences.clone() }],
                                        unsupported: vec![],
                                        checks: vec![],
                                        joined: vec![],
                                    });
                                }
                            }
                        }
                    }
                }
            }
            // in a story of several articles, each article's facts are checked against the others'
            // sentences: every article that backs one (fact check and the model's verdict) is cited too
            if story_sources.len() >= 2 {
                if let Some(w) = writer.as_deref_mut() {
                    for f in facts.iter_mut().filter(|f| f.kind == BulletKind::Fact && f.citations.len() == 1) {
                        let Some(it) = item_of(&items, &sources, f).map(|i| &items[i]) else { continue };
                        for (p, c) in self.also_backed_by(it, &story_sources, &sources, w)? {
                            f.citations.push(p.source);
                            f.provenance.push(p);
                            f.checks.extend(c);
                        }
                    }
                }
            }
            if story_sources.len() >= 2 {
                if let Some(w) = writer.as_deref_mut() {
                    let alike = |a: &BriefingPoint, b: &BriefingPoint| match (item_of(&items, &sources, a), item_of(&items, &sources, b)) {
                        (Some(i), Some(j)) => sim[i][j],
                        _ => 0.0,
                    };
                    self.join_facts(&mut facts, &sources, &alike, similarity.story_threshold(), w)?;
                }
            }
            facts.sort_by_key(|f| (f.kind == BulletKind::Disagreement, std::cmp::Reverse(f.citations.len())));
            let keep: Vec<BriefingPoint> = facts.into_iter().take(MAX_FACTS_PER_STORY).collect();
            bullets.extend(keep);
        }
        // stories under one heading (a shared story that fell back to an article's title, and that
        // article's own story) are shown together, in the order their heading first comes
        let mut firsts: Vec<String> = Vec::new();
        for b in &bullets {
            if !firsts.contains(&b.theme) {
                firsts.push(b.theme.clone());
            }
        }
        bullets.sort_by_key(|b| firsts.iter().position(|t| *t == b.theme));
        // every article's lead fact is in the briefing: under its story, or under "Also reported"
        let mut also = 0;
        for (si, s) in sources.iter().enumerate() {
            let Some(lead) = items.iter().find(|it| it.source == si && it.rank == 0) else { continue };
            let covered = bullets.iter().any(|b| b.kind == BulletKind::Fact && b.provenance.iter().any(|p| p.source == s.number && p.sentences == lead.sentences) && b.citations.contains(&s.number));
            if !covered {
                also += 1;
                bullets.push(BriefingPoint {
                    theme: "Also reported".into(),
                    kind: BulletKind::AlsoReported,
                    text: lead.text.clone(),
                    citations: vec![s.number],
                    provenance: vec![Provenance { source: s.number, sentences: lead.sentences.clone() }],
                    unsupported: vec![],
                    checks: vec![],
                    joined: vec![],
                });
            }
        }
        if also > 0 {
            notes.push(format!("{also} source(s) whose lead fact no story bullet holds are listed under \"Also reported\""));
        }
        // the last word on faithfulness: every number and name of a bullet is in the cited sentences
        for b in bullets.iter_mut().filter(|b| b.kind != BulletKind::Disagreement) {
            let cited: Vec<&str> = b
                .provenance
                .iter()
                .flat_map(|p| p.sentences.iter().filter_map(|&i| sources.get(p.source - 1).and_then(|s| s.sentences.get(i.wrapping_sub(1)))))
                .map(String::as_str)
                .collect();
            b.unsupported = unsupported_items(&b.text, &cited);
        }
        let method = if similarity.describe().starts_with("sentence embeddings") { BriefingMethod::Embeddings } else { BriefingMethod::Lexical };
        Ok(Briefing { key: String::new(), method, writer: format!("{}; headings by {labeller}", similarity.describe()), points: bullets, sources, notes })
    }

    /// The articles of a shared story that back a fact one of them states: each other article of the story
    /// is checked on its sentences that the fact aligns with, by the fact check and the model's verdict.
    /// Returns the further sources (numbers) that pass, with the sentences they pass on.
    fn also_backed_by(&self, it: &Item, story_sources: &[usize], sources: &[SourceInfo], w: &mut dyn super::summarize::TextWriter) -> Result<Vec<(Provenance, Vec<Check>)>> {
        let mut out = Vec::new();
        for &si in story_sources.iter().filter(|&&si| si != it.source) {
            let all: Vec<&str> = sources[si].sentences.iter().map(String::as_str).collect();
            let ids: Vec<usize> = super::factcheck::align(&it.text, &all, 3).into_iter().map(|i| i + 1).collect();
            if ids.is_empty() {
                continue;
            }
            let (ok, c) = backs(&it.text, &sources[si], &ids);
            let evidence: Vec<&str> = ids.iter().filter_map(|&k| all.get(k - 1).copied()).collect();
            let verdict = if ok { w.supports(&it.text, &evidence, &sources[si].text_language)? } else { None };
            tracing::debug!(fact = %it.text, source = sources[si].number, checks_pass = ok, ?verdict, "also backed by");
            if ok && verdict.unwrap_or(false) {
                out.push((Provenance { source: sources[si].number, sentences: ids }, c));
            }
        }
        Ok(out)
    }

    /// Facts of one story from two articles that say one thing in different words, joined: the
    /// writer states what both say in one sentence, which replaces the two when it passes the fact
    /// check (numbers, names, polarity, quotes) against each article's cited sentences and the
    /// writer's verdict on each (or, from a writer that does not judge, most of its words are there).
    /// The seeds' one shared story shows why a fact is not just cited twice: 000 has "keep access to
    /// the internet open" in quotes, 004 "Russia needs more internet access, not less"; a quote is
    /// its source's own words, so neither point can cite the other article.
    fn join_facts(&self, facts: &mut Vec<BriefingPoint>, sources: &[SourceInfo], alike: &dyn Fn(&BriefingPoint, &BriefingPoint) -> f32, threshold: f32, w: &mut dyn super::summarize::TextWriter) -> Result<()> {
        let single = |f: &BriefingPoint| f.kind == BulletKind::Fact && f.citations.len() == 1 && f.joined.is_empty();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for a in 0..facts.len() {
            for b in a + 1..facts.len() {
                if single(&facts[a]) && single(&facts[b]) && facts[a].citations != facts[b].citations {
                    let s = alike(&facts[a], &facts[b]);
                    if s >= threshold {
                        pairs.push((s, a, b));
                    }
                }
            }
        }
        pairs.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(std::cmp::Ordering::Equal));
        let mut taken = vec![false; facts.len()];
        let mut kept: Vec<usize> = Vec::new();
        let mut joints: Vec<BriefingPoint> = Vec::new();
        for &(_, a, b) in pairs.iter().take(MAX_JOINS_PER_STORY) {
            if taken[a] || taken[b] {
                continue;
            }
            let mw = JOINT_WORDS.to_string();
            let (system, user) = self.joint_prompt.fill(&[("a", &facts[a].text), ("b", &facts[b].text), ("max_words", &mw)]);
            let mut grammar = LineGrammar::new(JOINT_WORDS * 8);
            let g = w.write_constrained(&system, &user, &mut grammar, JOINT_WORDS * 2 + 8)?;
            // asked to start "Both say that": a model told to state the shared fact copied A (the 1.5B
            // on the seeds' one shared story, whose A and B say it in different words)
            let reply = g.text.trim().trim_matches(['"', '\'']).trim();
            let Some(fact) = reply.strip_prefix("Both say that ").map(str::trim) else {
                tracing::debug!(a = %facts[a].text, b = %facts[b].text, reply, "not joined: no shared fact written");
                continue;
            };
            let mut chars = fact.chars();
            let text: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
            let words = text.split_whitespace().count();
            if text.to_uppercase().contains("NONE") || words > JOINT_WORDS + 5 || super::factcheck::incomplete(&text).is_some() {
                tracing::debug!(a = %facts[a].text, b = %facts[b].text, joint = %text, "not joined: no fact written");
                continue;
            }
            let mut checks = Vec::new();
            let mut both_back = true;
            let mut provenance = Vec::new();
            for f in [&facts[a], &facts[b]] {
                let p = &f.provenance[0];
                let source = &sources[p.source - 1];
                // the sentences of the fact it joins, and the two of its article it is most like
                let all: Vec<&str> = source.sentences.iter().map(String::as_str).collect();
                let mut ids = p.sentences.clone();
                ids.extend(super::factcheck::align(&text, &all, 2).into_iter().map(|i| i + 1));
                ids.sort_unstable();
                ids.dedup();
                let (ok, c) = backed(&text, source, &ids, Some(&mut *w))?;
                tracing::debug!(joint = %text, source = p.source, backed = ok, "joined fact checked");
                checks.extend(c);
                if ok {
                    checks.push(Check { check: CheckKind::Support, ok: true, detail: format!("[{}] backs it", p.source) });
                    provenance.push(Provenance { source: p.source, sentences: ids });
                } else {
                    both_back = false;
                    break;
                }
            }
            if !both_back {
                continue;
            }
            taken[a] = true;
            taken[b] = true;
            // a joined fact that says what one of the two says stands in for it; the other stays, with
            // what only it says (on the seeds the 1.5B's joined fact repeated 000's point, and 004's
            // point on why it stays would have been lost)
            for i in [a, b] {
                if !super::factcheck::is_duplicate(&text, &facts[i].text) {
                    kept.push(i);
                }
            }
            provenance.sort_by_key(|p| p.source);
            joints.push(BriefingPoint {
                theme: facts[a].theme.clone(),
                kind: BulletKind::Fact,
                text,
                citations: provenance.iter().map(|p| p.source).collect(),
                provenance,
                unsupported: vec![],
                checks,
                joined: vec![facts[a].text.clone(), facts[b].text.clone()],
            });
        }
        let mut i = 0;
        facts.retain(|_| {
            i += 1;
            !taken[i - 1] || kept.contains(&(i - 1))
        });
        facts.extend(joints);
        Ok(())
    }

    /// A story's heading: the writer's, when it is English and names nothing the facts do not; else
    /// `fallback` (an article's title). The names most facts share made headings like "Russian, Axing"
    /// (a sentence-initial word taken for a name) on the seeds.
    fn theme(&self, facts: Vec<&str>, fallback: String, writer: &mut Option<&mut dyn super::summarize::TextWriter>) -> Result<String> {
        if let Some(w) = writer.as_deref_mut() {
            let list: String = facts.iter().take(6).map(|f| format!("- {f}\n")).collect();
            let (system, user) = self.theme_prompt.fill(&[("facts", list.trim_end())]);
            let mut grammar = LineGrammar::new(60);
            let g = w.write_constrained(&system, &user, &mut grammar, 24)?;
            let t = g.text.trim().trim_matches(['"', '\'', '.', ':']).trim().to_string();
            let words = t.split_whitespace().count();
            let within_one_fact = facts.iter().any(|f| covers(&[f], &t) && unsupported_names(&t, &[f]).is_empty());
            if (2..=8).contains(&words) && not_english(&t).is_none() && within_one_fact {
                return Ok(t);
            }
        }
        Ok(fallback)
    }
}

impl Briefing {
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# Briefing\n\n_Built from the articles' checked summary points; {}._\n\n", self.writer);
        let mut theme: Option<&str> = None;
        for p in &self.points {
            if theme != Some(p.theme.as_str()) {
                if theme.is_some() {
                    s.push('\n');
                }
                s.push_str(&format!("## {}\n\n", p.theme));
                theme = Some(&p.theme);
            }
            let cites: String = p.citations.iter().map(|c| format!("[{c}]")).collect();
            s.push_str(&format!("- {} {cites}", p.text));
            if !p.unsupported.is_empty() {
                s.push_str(&format!(" ⚠ _not found in the cited sentences: {}_", p.unsupported.join(", ")));
            }
            s.push('\n');
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                s.push_str(&format!("_{n}_\n"));
            }
        }
        s.push_str("\n## Sources\n\n");
        for src in &self.sources {
            let title = src.title.clone().unwrap_or_else(|| {
                src.points.first().map(|p| crate::pipeline::briefing::headline(&p.text)).unwrap_or_else(|| "(no title)".into())
            });
            let original = src.original_title.as_deref().map(|t| format!(" (“{t}”)")).unwrap_or_default();
            let file = src.file.replace(['\n', '\r'], " ");
            s.push_str(&format!("{}. {title}{original} — `{file}` ({}, {})\n", src.number, src.language, src.date.clone().unwrap_or_else(|| "date unknown".into())));
        }
        s
    }
}

/// A headline from a sentence: itself when short, else its first ten words and an ellipsis.
pub fn headline(sentence: &str) -> String {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    if words.len() <= 12 {
        return sentence.trim().trim_end_matches(['.', '!']).to_string();
    }
    format!("{} …", words[..10].join(" ").trim_end_matches([',', ';', ':']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::factcheck::Check;

    fn point(text: &str, cites: &[usize]) -> SummaryPoint {
        SummaryPoint { text: text.into(), citations: cites.to_vec(), status: PointStatus::Verified, checks: vec![Check { check: CheckKind::Names, ok: true, detail: String::new() }], draft: None }
    }

    fn source(n: usize, sentences: &[&str], points: Vec<SummaryPoint>) -> SourceInfo {
        SourceInfo {
            number: n,
            file: format!("{n}.txt"),
            title: Some(format!("T{n}")),
            original_title: None,
            language: "en".into(),
            date: Some(format!("2022-0{n}")),
            summary: points.iter().map(|p| p.text.clone()).collect::<Vec<_>>().join(" "),
            unsupported: vec![],
            points,
            sentences: sentences.iter().map(|s| s.to_string()).collect(),
            text: sentences.join(" "),
            text_language: "en".into(),
        }
    }

    #[test]
    fn shared_facts_cite_every_article_that_backs_them() {
        let a = source(1, &["Cloudflare is staying in Russia.", "Its revenue reached $1 billion."], vec![point("Cloudflare is staying in Russia.", &[1]), point("Its revenue reached $1 billion.", &[2])]);
        let b = source(2, &["Cloudflare is staying in Russia, its chief said.", "The company is worth $35 billion."], vec![point("Cloudflare is staying in Russia, its chief said.", &[1]), point("The company is worth $35 billion.", &[2])]);
        let c = source(3, &["Akamai sells security services."], vec![point("Akamai sells security services.", &[1])]);
        let bf = BriefingWriter::default().write(vec![a, b, c], &embed::Lexical, None).unwrap();
        let shared = bf.points.iter().find(|p| p.citations.len() == 2).expect("a bullet citing both articles");
        assert!(shared.text.contains("staying in Russia"), "{shared:?}");
        assert_eq!(shared.citations, vec![1, 2]);
        assert!(bf.points.iter().all(|p| p.text.split_whitespace().count() <= MAX_BULLET_WORDS));
        // every source is cited, and the one of its own story has its lead fact in
        for n in 1..=3 {
            assert!(bf.points.iter().any(|p| p.citations.contains(&n)), "source {n} never cited: {:#?}", bf.points);
        }
        let md = bf.to_markdown();
        assert!(md.contains("[1][2]") && md.contains("## Sources"), "{md}");
    }

    #[test]
    fn a_fact_is_not_cited_to_an_article_that_lacks_its_numbers() {
        let a = source(1, &["Cloudflare is worth $35 billion."], vec![point("Cloudflare is worth $35 billion.", &[1])]);
        let b = source(2, &["Cloudflare is worth about $70 billion."], vec![point("Cloudflare is worth about $70 billion.", &[1])]);
        let bf = BriefingWriter::default().write(vec![a, b], &embed::Lexical, None).unwrap();
        assert!(bf.points.iter().filter(|p| p.kind == BulletKind::Fact).all(|p| p.citations.len() == 1), "{:#?}", bf.points);
        let d = bf.points.iter().find(|p| p.kind == BulletKind::Disagreement).expect("the figures differ");
        assert!(d.text.contains("$35 billion") && d.text.contains("$70 billion") && d.citations == vec![1, 2], "{d:?}");
    }

    /// A writer that answers every prompt with `reply` and judges support by word overlap.
    struct Scripted {
        reply: String,
        prompts: Vec<String>,
    }

    impl crate::pipeline::summarize::TextWriter for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn write(&mut self, _system: &str, user: &str, _max: usize) -> Result<crate::models::llm::Generated> {
            self.prompts.push(user.to_string());
            Ok(crate::models::llm::Generated { text: self.reply.clone(), prompt_tokens: 0, generated_tokens: 0, prompt_seconds: 0.0, generation_seconds: 0.0, stopped: true })
        }
        fn write_constrained(&mut self, system: &str, user: &str, _c: &mut dyn crate::generation::constraint::Constraint, max: usize) -> Result<crate::models::llm::Generated> {
            self.write(system, user, max)
        }
        fn supports(&mut self, claim: &str, evidence: &[&str], _language: &str) -> Result<Option<bool>> {
            Ok(Some(covers(evidence, claim)))
        }
    }

    impl Summarizer for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn summarize(&mut self, _article: &crate::pipeline::summarize::Article, _max_words: usize) -> Result<crate::pipeline::summarize::Summary> {
            Err(crate::error::Error::Input { path: String::new(), reason: "a scripted writer does not summarize".into() })
        }
        fn writer(&mut self) -> Option<&mut dyn crate::pipeline::summarize::TextWriter> {
            Some(self)
        }
    }

    struct Fixed(f32);
    impl Similarity for Fixed {
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn vectors(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(texts.iter().map(|_| vec![1.0]).collect())
        }
        fn story_threshold(&self) -> f32 {
            self.0
        }
        fn same_fact_threshold(&self) -> f32 {
            2.0
        }
    }

    fn russia_sources() -> Vec<SourceInfo> {
        let a = source(1, &["It is important to keep access to the internet open for Russians, he says."], vec![point("It is important to \"keep access to the internet open\" for Russians, he says.", &[1])]);
        let b = source(2, &["Prince concluded: \"Russians need more internet access, not less.\""], vec![point("Prince concluded: \"Russians need more internet access, not less.\"", &[1])]);
        vec![a, b]
    }

    #[test]
    fn facts_told_in_different_words_are_joined_when_both_back_the_joint() {
        let mut w = Scripted { reply: "Both say that Russians need access to the internet.".into(), prompts: vec![] };
        let bf = BriefingWriter::default().write(russia_sources(), &Fixed(0.5), Some(&mut w as &mut dyn Summarizer)).unwrap();
        let joint = bf.points.iter().find(|p| p.citations == vec![1, 2]).unwrap_or_else(|| panic!("a bullet citing both: {:#?}", bf.points));
        assert_eq!(joint.text, "Russians need access to the internet.");
        assert_eq!(joint.joined.len(), 2);
        assert!(joint.checks.iter().filter(|c| c.check == CheckKind::Support).count() == 2 && joint.checks.iter().all(|c| c.ok), "{joint:?}");
        assert!(w.prompts.iter().any(|p| p.contains("A: It is important") && p.contains("B: Prince concluded")), "{:?}", w.prompts);
        // neither point repeats the joint, so both stay
        assert_eq!(bf.points.iter().filter(|p| p.kind == BulletKind::Fact).count(), 3, "{:#?}", bf.points);
    }

    #[test]
    fn a_joint_that_one_article_does_not_back_is_not_kept() {
        for reply in ["Both say that 40 million Russians need access to the internet.", "Both say that Akamai wants Russians to keep the internet.", "Russians need the internet.", "NONE"] {
            let mut w = Scripted { reply: reply.into(), prompts: vec![] };
            let bf = BriefingWriter::default().write(russia_sources(), &Fixed(0.5), Some(&mut w as &mut dyn Summarizer)).unwrap();
            assert!(bf.points.iter().all(|p| p.citations.len() == 1 && p.joined.is_empty()), "{reply}: {:#?}", bf.points);
        }
    }

    #[test]
    fn average_linkage_clusters() {
        let sim = vec![vec![1.0, 0.9, 0.1], vec![0.9, 1.0, 0.2], vec![0.1, 0.2, 1.0]];
        assert_eq!(cluster(&sim, 0.5), vec![vec![0, 1], vec![2]]);
    }
}
