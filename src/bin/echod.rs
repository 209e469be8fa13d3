//! The `echod` binary: parses [`Flags`] and runs the program
//! ([`echod::server::program`]: flags -> validated config -> server, or the
//! `--processes` supervisor -> stats). All logic lives in the library.

use std::process::ExitCode;

use echod::server::{program, Flags};

fn main() -> ExitCode {
    let flags: Flags = common::cli::parse_or_exit("echod");
    match program::run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            common::cli::report_error_with("echod", &e.into(), code)
        }
    }
}
