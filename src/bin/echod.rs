//! The `echod` binary (placeholder: the echod issue fills it).
fn main() {}
