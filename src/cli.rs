//! Command-line conventions shared by echod and loadgen (ripgrep's model):
//! `main -> run() -> exit code`; errors printed once, on one line, as
//! `tool: what is wrong: why`, naming the flag and the fix; exit codes with meaning:
//! 0 ok, 1 "ran, but the result is wrong" (loadgen) or "ran, then failed" (echod: its
//! stats went to a fallback file, or `--processes` gave up restarting a child), 2 bad
//! input or failure to start.

use std::process::ExitCode;

/// Exit code for bad input or a failure to start.
pub const EXIT_USAGE: u8 = 2;

/// Exit code for a run that went wrong after it started.
pub const EXIT_FAILED: u8 = 1;

/// Parses the command line; on a usage error prints one line and exits 2.
/// `--help` and `--version` print as usual and exit 0.
pub fn parse_or_exit<T: clap::Parser>(tool: &str) -> T {
    match T::try_parse() {
        Ok(v) => v,
        Err(e) => exit_on_clap_error(tool, e),
    }
}

/// The same for an explicit argument list (tests and sub-processes).
pub fn parse_from_or_exit<T: clap::Parser, I, S>(tool: &str, args: I) -> T
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    match T::try_parse_from(args) {
        Ok(v) => v,
        Err(e) => exit_on_clap_error(tool, e),
    }
}

fn exit_on_clap_error(tool: &str, e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            eprintln!("{tool}: {} (see {tool} --help)", one_line(&e));
            std::process::exit(EXIT_USAGE.into())
        }
    }
}

/// clap's first line without its `error: ` prefix, with the values it would have
/// taken (`[possible values: ...]`) and its `tip:` when it gives them.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let mut line = first.trim_start_matches("error: ").to_string();
    for extra in lines.filter(|l| l.starts_with("[possible values:") || l.starts_with("tip:")) {
        line.push(' ');
        line.push_str(extra);
    }
    line
}

/// Prints an error chain once, as `tool: cause: cause`, and returns exit code 2.
pub fn report_error(tool: &str, err: &anyhow::Error) -> ExitCode {
    report_error_with(tool, err, EXIT_USAGE)
}

/// Prints an error chain once, as `tool: cause: cause`, and returns `code`.
pub fn report_error_with(tool: &str, err: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!("{tool}: {err:#}");
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Flags {
        #[arg(long, value_enum, default_value_t = Model::Reuseport)]
        model: Model,
    }

    #[derive(Clone, Copy, Debug, clap::ValueEnum)]
    enum Model {
        Reuseport,
        Shared,
    }

    /// A wrong value keeps one line and names the values that would do.
    #[test]
    fn one_line_names_the_possible_values() {
        let e = Flags::try_parse_from(["t", "--model", "share"]).unwrap_err();
        let line = super::one_line(&e);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("invalid value 'share' for '--model <MODEL>'"), "{line}");
        assert!(line.contains("[possible values: reuseport, shared]"), "{line}");
    }
}
