//! Bring your own server: `loadgen suite --server 'NAME=COMMAND ... {port} ...'`
//! puts a server the user wrote beside echod, tokio-echo and the C server in the
//! peers section of the same run. For each step the suite runs COMMAND through
//! `sh -c` with `{port}` replaced by the step's port, pinned like the other servers;
//! it is ready once the port accepts a connection (it need not print anything), is
//! measured like the others (CPU and memory of its process tree), and is stopped with
//! SIGTERM, then SIGKILL, with every process it started. A command that exits early
//! or never listens fails its step with its last line of stderr; the suite goes on.

/// One `--server NAME=COMMAND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomServer {
    /// Its name in the report (`NAME`).
    pub name: String,
    /// The shell command, with `{port}` where the port goes.
    pub command: String,
}

impl CustomServer {
    /// The command for `port`.
    pub fn command_for(&self, port: u16) -> String {
        self.command.replace("{port}", &port.to_string())
    }
}

/// Parses one `--server` value; the error is one line naming the flag and the fix.
pub fn parse(text: &str) -> Result<CustomServer, String> {
    let usage =
        "use --server 'NAME=COMMAND ... {port} ...', e.g. --server 'myecho=./myecho --port {port}'";
    let Some((name, command)) = text.split_once('=') else {
        return Err(format!("--server '{text}': no NAME= before the command; {usage}"));
    };
    let (name, command) = (name.trim(), command.trim());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(format!(
            "--server '{text}': the name '{name}' must be letters, digits, '-', '_' or '.'; {usage}"
        ));
    }
    if ["echod", "tokio-echo", "epoll_echo"].iter().any(|n| name.starts_with(n)) {
        return Err(format!("--server '{text}': the name '{name}' is one of the suite's own servers: choose another"));
    }
    if !command.contains("{port}") {
        return Err(format!("--server '{text}': the command has no {{port}}, so it cannot listen where the step connects; {usage}"));
    }
    Ok(CustomServer { name: name.to_string(), command: command.to_string() })
}

/// Parses every `--server` value; names must differ.
pub fn parse_all(values: &[String]) -> Result<Vec<CustomServer>, String> {
    let servers = values.iter().map(|v| parse(v)).collect::<Result<Vec<_>, _>>()?;
    for (i, s) in servers.iter().enumerate() {
        if servers[..i].iter().any(|o| o.name == s.name) {
            return Err(format!(
                "--server: the name '{}' is given twice: give each server its own",
                s.name
            ));
        }
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name, an equals sign and a command with {port}; anything else says why.
    #[test]
    fn parses_name_and_command() {
        let s = parse("myecho=./myecho --port {port}").expect("ok");
        assert_eq!(s.name, "myecho");
        assert_eq!(s.command_for(13005), "./myecho --port 13005");
        for (bad, why) in [
            ("./myecho {port}", "no NAME="),
            ("=./x {port}", "must be letters"),
            ("my echo=./x {port}", "must be letters"),
            ("echod2=./x {port}", "one of the suite's own servers"),
            ("mine=./x --port 7", "has no {port}"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why) && err.starts_with("--server '"), "{bad}: {err}");
        }
        let twice = parse_all(&["a=x {port}".into(), "a=y {port}".into()]).unwrap_err();
        assert!(twice.contains("given twice"), "{twice}");
    }
}
