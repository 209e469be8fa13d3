//! Scenario names: the key `loadgen compare` matches runs by, written by the suite as
//! `<section tag> <server label> conns=<n>` (e.g. `peers epoll_echo t=1 conns=1000`).
//! The suite builds names here and compare reads them back here, so the format has
//! one definition. A name that does not follow it (a plain run's default scenario,
//! a user's own `--scenario`) is still a valid key: it just cannot be parsed.

/// The parts of a suite scenario name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioName<'a> {
    /// The section tag: `scaling`, `open-loop`, `workers`, `models`, `peers`.
    pub tag: &'a str,
    /// The server's label: `echod reuseport w=1`, `tokio-echo t=1`, `epoll_echo t=1`.
    pub server: &'a str,
    /// Connections.
    pub conns: u64,
}

/// `tag server conns=N`.
pub fn format(tag: &str, server: &str, conns: u64) -> String {
    format!("{tag} {server} conns={conns}")
}

/// Reads a name written by [`format`]; None for any other name.
pub fn parse(name: &str) -> Option<ScenarioName<'_>> {
    let (rest, conns) = name.rsplit_once(" conns=")?;
    let conns = conns.parse().ok()?;
    let (tag, server) = rest.split_once(' ')?;
    (!tag.is_empty() && !server.is_empty()).then_some(ScenarioName { tag, server, conns })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A suite name reads back into its parts; other names do not parse.
    #[test]
    fn round_trip() {
        let name = format("peers", "echod reuseport w=1", 1000);
        assert_eq!(name, "peers echod reuseport w=1 conns=1000");
        let parsed = parse(&name).expect("parses");
        assert_eq!(
            parsed,
            ScenarioName { tag: "peers", server: "echod reuseport w=1", conns: 1000 }
        );
        assert_eq!(parse("conns=1000 size=64 pipeline=1 closed"), None);
        assert_eq!(parse("peers conns=10"), None);
        assert_eq!(parse("peers x conns=ten"), None);
    }
}
