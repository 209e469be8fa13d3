//! `loadgen suite`: the benchmark suite (being built).

pub mod plan;
pub mod server;
