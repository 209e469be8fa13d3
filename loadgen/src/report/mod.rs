//! The suite's report: Markdown text and SVG plots built from result files.

pub mod plot;
