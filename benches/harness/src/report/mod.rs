//! The suite's report, built from the suite index and the result files: Markdown
//! with SVG charts ([`crate::plot`]), one file per part.
//!
//! # Layout
//!
//! - [`markdown`]: `report.md` in order: the machine, then each section below; the
//!   four-tuple experiment and the steps that failed.
//! - `rows`: one representative run per scenario and the figures derived from it.
//! - `pairs`: a ratio between two servers with its 95% interval over the repeats.
//! - [`builds`]: base vs new (a `--base` run).
//! - `scaling`: connection scaling, every server on one chart, latency histograms.
//! - `servers`: workers, models, how SO_REUSEPORT spread connections, peers.
//! - `udp`: UDP beside TCP, and loss against offered rate.
//! - `churn`: connections that come and go: the accept path by server.
//! - [`tools`]: the measuring tools: clients side by side, the latency floor, idle
//!   memory.
//! - [`soak`]: the long run at 50,000 connections.
//! - [`series`]: every run second by second.
//! - [`html`]: `report.html`, the same report as one self-contained page.
//! - [`tracking`]: the results for benchmark trackers (Bencher's BMF,
//!   github-action-benchmark).

pub mod builds;
mod churn;
pub mod html;
pub mod markdown;
mod pairs;
mod rows;
mod scaling;
pub mod series;
mod servers;
pub mod soak;
pub mod tools;
pub mod tracking;
mod udp;

pub use markdown::write;
