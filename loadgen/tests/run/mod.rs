//! Tests of one load-generator run.
