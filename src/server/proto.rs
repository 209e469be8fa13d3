//! Which protocols echod serves (`--proto`): TCP (the default), UDP, or both on the
//! same port number. With UDP every worker also owns one SO_REUSEPORT UDP socket on
//! the port (the kernel picks a socket per datagram by four-tuple hash), served by
//! its own loop (`udp`) pinned to the worker's core.

/// The protocols served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Proto {
    /// TCP only: the listeners and event loops of `--model`.
    #[default]
    Tcp,
    /// UDP only: one SO_REUSEPORT UDP socket and loop per worker.
    Udp,
    /// TCP and UDP on the same port number, each worker's two loops on one core.
    Both,
}

impl Proto {
    /// Every value.
    pub const ALL: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Both];

    /// The name `--proto` takes and the ready line prints.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Both => "both",
        }
    }

    /// Whether TCP is served.
    pub fn tcp(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Both)
    }

    /// Whether UDP is served.
    pub fn udp(self) -> bool {
        matches!(self, Proto::Udp | Proto::Both)
    }
}

/// `--proto NAME` takes [`Proto::name`].
impl clap::ValueEnum for Proto {
    fn value_variants<'a>() -> &'a [Self] {
        &Proto::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One name per value, read back by `--proto`; `both` serves both.
    #[test]
    fn names_and_what_each_serves() {
        use clap::ValueEnum as _;
        for proto in Proto::ALL {
            assert_eq!(Proto::from_str(proto.name(), false), Ok(proto));
        }
        let serves: Vec<(bool, bool)> = Proto::ALL.iter().map(|p| (p.tcp(), p.udp())).collect();
        assert_eq!(serves, [(true, false), (false, true), (true, true)]);
        assert_eq!(Proto::default(), Proto::Tcp);
    }
}
