//! What to start: a [`Spec`] (program, arguments, environment, folder, cores, and
//! where each stream goes), built step by step and turned into the one `Command`
//! every child is started with: pinned through `taskset` when cores are given, and
//! always dying with the thread that spawns it (`PR_SET_PDEATHSIG`).

use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[cfg(doc)]
use super::Child;

/// Where one of a child's output streams goes.
#[derive(Debug)]
pub enum Out {
    /// Read line by line: [`Child::next_line`], [`Child::wait_for_line`].
    Lines,
    /// To this process's own stream.
    Inherit,
    /// Discarded.
    Null,
    /// Into a file.
    File(File),
}

/// What to start.
#[derive(Debug)]
pub struct Spec {
    /// For messages: `echod`, `loadgen child 2`, ...
    name: String,
    /// The program to run.
    program: PathBuf,
    /// Its arguments.
    args: Vec<OsString>,
    /// Variables added to its environment.
    env: Vec<(OsString, OsString)>,
    /// Its working folder (None: this process's).
    dir: Option<PathBuf>,
    /// Cores to pin to with `taskset -c` (empty: not pinned).
    cores: Vec<usize>,
    /// A pipe the parent keeps (true) or nothing (false).
    stdin: bool,
    /// Where its stdout goes.
    stdout: Out,
    /// Where its stderr goes.
    stderr: Out,
    /// A process group of its own (stopping it stops everything it started).
    own_group: bool,
}

impl Spec {
    /// `program` with no arguments, stdin empty, output read as lines.
    pub fn new(program: impl Into<PathBuf>) -> Spec {
        let program = program.into();
        let name = program.file_name().map_or("child".into(), |n| n.to_string_lossy().into());
        Spec {
            name,
            program,
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            cores: Vec::new(),
            stdin: false,
            stdout: Out::Lines,
            stderr: Out::Lines,
            own_group: false,
        }
    }

    /// The name messages use.
    pub fn name(mut self, name: impl Into<String>) -> Spec {
        self.name = name.into();
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the child in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Spec {
        self.dir = Some(dir.into());
        self
    }

    /// Pins the child to `cores` with `taskset -c` (nothing when empty).
    pub fn pinned(mut self, cores: &[usize]) -> Spec {
        self.cores = cores.to_vec();
        self
    }

    /// Starts the child in a process group of its own, so stopping it stops
    /// everything it started (a user's shell command and its children).
    pub fn own_group(mut self) -> Spec {
        self.own_group = true;
        self
    }

    /// Whether it asked for a group of its own.
    pub(super) fn has_own_group(&self) -> bool {
        self.own_group
    }

    /// Gives the child a stdin pipe the parent holds ([`Child::stdin`]).
    pub fn stdin_pipe(mut self) -> Spec {
        self.stdin = true;
        self
    }

    /// Where stdout goes.
    pub fn stdout(mut self, out: Out) -> Spec {
        self.stdout = out;
        self
    }

    /// Where stderr goes.
    pub fn stderr(mut self, out: Out) -> Spec {
        self.stderr = out;
        self
    }

    /// The command that starts it (through `taskset` when pinned, dying with the
    /// thread that spawns it), and its name.
    pub(super) fn command(self) -> (String, Command) {
        let Spec { name, program, args, env, dir, cores, stdin, stdout, stderr, own_group } = self;
        let mut command = if cores.is_empty() {
            Command::new(&program)
        } else {
            let list: Vec<String> = cores.iter().map(ToString::to_string).collect();
            let mut c = Command::new("taskset");
            c.arg("-c").arg(list.join(",")).arg(&program);
            c
        };
        command.args(&args).envs(env);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        command.stdout(stdout.stdio()).stderr(stderr.stdio());
        crate::sys::die_with_parent(&mut command, libc::SIGTERM);
        if own_group {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        (name, command)
    }
}

impl Out {
    /// The std end of it: a pipe for [`Out::Lines`].
    fn stdio(self) -> Stdio {
        match self {
            Out::Lines => Stdio::piped(),
            Out::Inherit => Stdio::inherit(),
            Out::Null => Stdio::null(),
            Out::File(f) => Stdio::from(f),
        }
    }
}
