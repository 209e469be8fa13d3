//! echod's integration tests: one test binary (fewer link steps on small machines),
//! real sockets on 127.0.0.1, port 0, bounded waits, byte-exact asserts.

mod binary;
mod bounds;
mod common;
mod echo;
mod hostile;
mod hostile_places;
mod limits;
mod pid1;
mod processes;
mod sockets;
mod stats_file;
mod threads;
mod udp;
mod udp_safety;
mod uring;
