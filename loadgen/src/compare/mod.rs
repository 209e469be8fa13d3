//! `loadgen compare BASE NEW`. (Placeholder: the compare issue fills this module.)

/// Flags of `loadgen compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// Base result file or folder.
    pub base: std::path::PathBuf,
    /// New result file or folder.
    pub new: std::path::PathBuf,
}

/// Compares; returns the exit code (0 nothing regressed, 1 a regression).
pub fn execute(_args: CompareArgs) -> anyhow::Result<u8> {
    anyhow::bail!("compare is not built yet")
}
