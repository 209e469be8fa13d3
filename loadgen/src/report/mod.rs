//! The suite's report: Markdown text ([`markdown`]) and SVG plots ([`plot`]) built
//! from the suite index and the result files; [`builds`] is the base-vs-new
//! section of a `--base` run.

pub mod builds;
pub mod markdown;
pub mod plot;

pub use markdown::write;
