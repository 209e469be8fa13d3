//! The suite's report: Markdown text ([`markdown`]) and SVG plots ([`plot`]) built
//! from the suite index and the result files.

pub mod markdown;
pub mod plot;

pub use markdown::{load_result, write};
