//! Language-level text facts that several stages compare: numbers by value, scale and unit
//! ([`quantities`]), names as whole words across en/de/nl ([`names`]), and German or Dutch words left in
//! English ([`lexicon`]). Not a stage of its own: it sits before `translate` so that the translation
//! checks and the fact check of summaries (`factcheck`, which re-exports these modules) use one
//! definition of "the same number" and "the same name".
pub mod lexicon;
pub mod names;
pub mod quantities;
