//! One load-generator run. (Placeholder: the loadgen issue fills this module.)

/// Flags of a run (`loadgen [OPTIONS]`).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Connections to open.
    #[arg(long, default_value_t = 10)]
    pub conns: u64,
}

/// Runs the load; returns the exit code (0 ok, 1 wrong echoes or missing connections).
pub fn execute(_args: RunArgs, _argv: Vec<String>) -> anyhow::Result<u8> {
    anyhow::bail!("the run is not built yet")
}
