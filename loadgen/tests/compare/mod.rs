//! Tests of `loadgen compare`: fixtures are RunResult values built in code and
//! written to a fresh temporary folder; the verdicts are read from the structured
//! comparison, the exit codes and formats from the binary.

mod cli;
mod family;
pub(crate) mod fixtures;
mod inputs;
mod machines;
mod pairs;
mod verdicts;
