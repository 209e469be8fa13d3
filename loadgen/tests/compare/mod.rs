//! Tests of `loadgen compare`.
