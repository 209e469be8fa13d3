//! loadgen's integration tests: one test binary, real sockets on 127.0.0.1, bounded.

mod common;
mod compare;
mod deploy;
mod exact;
mod full;
mod hostile;
mod links;
mod pid1;
mod ports;
mod report;
mod run;
mod suite;
mod testbed;
mod watch;
mod workflow;
