//! Connection limits: the budget arithmetic ([`budget`]) and the preflight that reads
//! this machine's limits and explains, before anything connects, what bounds the run
//! and what loadgen does about it ([`preflight`]).

pub mod budget;
pub mod port_time;
pub mod preflight;
pub mod sources;
