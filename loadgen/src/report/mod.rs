//! The suite's report: Markdown text ([`markdown`]) and SVG plots ([`crate::plot`]) built
//! from the suite index and the result files; [`builds`] is the base-vs-new
//! section of a `--base` run; [`html`] the same report as one self-contained page; [`tools`] the sections on the measuring tools
//! (clients, latency floor, idle memory); [`soak`] the long run at 50,000 connections;
//! [`tracking`] the same results for benchmark trackers (Bencher's BMF,
//! github-action-benchmark).

pub mod builds;
pub mod html;
pub mod markdown;
pub mod series;
pub mod soak;
pub mod tools;
pub mod tracking;

pub use markdown::write;
