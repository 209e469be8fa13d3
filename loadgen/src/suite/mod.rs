//! `loadgen suite`: the benchmark suite (being built).

pub mod server;
