//! The suite's report: Markdown text ([`markdown`]) and SVG plots ([`plot`]) built
//! from the suite index and the result files; [`builds`] is the base-vs-new
//! section of a `--base` run; [`tools`] the sections on the measuring tools
//! (clients, latency floor, idle memory).

pub mod builds;
pub mod markdown;
pub mod plot;
pub mod tools;

pub use markdown::write;
