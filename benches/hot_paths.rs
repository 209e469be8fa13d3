//! Criterion micro-benchmarks of the hot paths (filled by the suite issue).
fn main() {}
