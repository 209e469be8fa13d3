//! Command-line conventions shared by echod and loadgen (ripgrep's model):
//! `main -> run() -> exit code`; errors printed once, on one line, as
//! `tool: what is wrong: why`, naming the flag and the fix; exit codes with meaning,
//! the same for every command of both binaries, defined here and nowhere else:
//!
//! | code | meaning |
//! |---|---|
//! | [`EXIT_OK`] 0 | it ran and found nothing wrong |
//! | [`EXIT_FAILED`] 1 | it ran, and the result is wrong or missing: echoes that differ, connections missing (loadgen), a regression or a failed check (compare), a step that failed (suite), stats written to a fallback file, a worker that failed, or a child that kept dying (echod) |
//! | [`EXIT_USAGE`] 2 | bad input, or it could not start (or could not write its result) |
//! | [`EXIT_SIGINT`] 130, [`EXIT_SIGTERM`] 143 | it was interrupted (128 + the signal), with what it measured until then |

use std::process::ExitCode;

/// It ran and found nothing wrong.
pub const EXIT_OK: u8 = 0;

/// It ran, and the result is wrong or missing (see the module doc).
pub const EXIT_FAILED: u8 = 1;

/// Bad input or a failure to start.
pub const EXIT_USAGE: u8 = 2;

/// Interrupted by SIGINT (128 + 2).
pub const EXIT_SIGINT: u8 = 130;

/// Interrupted by SIGTERM (128 + 15).
pub const EXIT_SIGTERM: u8 = 143;

/// Writes `text` to stdout. A closed stdout (`loadgen ... | head`) is not an error:
/// the rest of the text is dropped quietly and the caller goes on (its files are
/// still written, its exit code is still the result's), instead of the panic of
/// `print!` on a broken pipe.
pub fn print(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes one line to stderr, as `eprintln!` does, but a closed or full stderr
/// (`echod ... 2>&1 | head`, a pipe whose reader has gone: EPIPE) is not an
/// error: the line is dropped quietly and the caller goes on, where `eprintln!`
/// would panic (and a panic in a worker stops the server). Use it through
/// [`say!`](crate::say).
pub fn eprint_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: one line to stderr, an error writing it ignored
/// (see [`eprint_line`](crate::cli::eprint_line)).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::eprint_line(format_args!($($arg)*))
    };
}

/// Parses the command line; on a usage error prints one line and exits 2.
/// `--help` and `--version` print as usual and exit 0, and so does `--generate
/// KIND`: a man page or a shell completion script made from the same flag
/// definitions (every tool takes it; it is not one of the tool's own settings).
pub fn parse_or_exit<T: clap::Parser>(tool: &str) -> T {
    let matches = match with_generate(T::command()).try_get_matches() {
        Ok(m) => m,
        Err(e) => exit_on_clap_error(tool, e),
    };
    if let Some(kind) = matches.get_one::<Generate>(GENERATE) {
        print(&String::from_utf8_lossy(&generate(with_generate(T::command()), *kind)));
        std::process::exit(EXIT_OK.into());
    }
    match T::from_arg_matches(&matches) {
        Ok(v) => v,
        Err(e) => exit_on_clap_error(tool, e),
    }
}

/// The id of `--generate`.
const GENERATE: &str = "generate";

/// What `--generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// A man page (roff): `echod --generate man > /usr/local/share/man/man1/echod.1`.
    Man,
    /// A bash completion script.
    CompleteBash,
    /// A zsh completion script.
    CompleteZsh,
    /// A fish completion script.
    CompleteFish,
}

/// `cmd` with `--generate KIND`.
pub fn with_generate(cmd: clap::Command) -> clap::Command {
    cmd.arg(
        clap::Arg::new(GENERATE)
            .long(GENERATE)
            .value_name("KIND")
            .value_parser(clap::value_parser!(Generate))
            .help("Print a man page or a shell completion script (man, complete-bash, complete-zsh, complete-fish) and exit"),
    )
}

/// The man page or completion script of `cmd`.
pub fn generate(mut cmd: clap::Command, kind: Generate) -> Vec<u8> {
    use clap_complete::Shell;
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    let shell = match kind {
        Generate::Man => {
            let _ = clap_mangen::Man::new(cmd).render(&mut out);
            return out;
        }
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

fn exit_on_clap_error(tool: &str, e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            crate::say!("{tool}: {} (see {tool} --help)", one_line(&e));
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
    crate::say!("{tool}: {err:#}");
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
