//! Traffic grouped by source and sink kind, and what another strategy would save.

use serde::{Deserialize, Serialize};

use super::How;

/// One strategy's part of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyShare {
    /// e.g. "sendfile", "read+write (pread64 + writev)", "splice".
    pub strategy: String,
    pub bytes: u64,
    /// Of the flow's bytes, 0..=1.
    pub share: f64,
    pub calls: u64,
}

/// What another strategy would save on part of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saving {
    /// The strategy the bytes use now, and the one suggested.
    pub instead_of: String,
    pub use_: String,
    /// Bytes the CPU would no longer copy.
    pub cpu_copy_bytes_saved: u64,
    /// System calls that would no longer be made (negative: more calls).
    pub syscalls_saved: i64,
    /// What must hold for the suggestion to apply.
    pub assumptions: String,
}

/// Bytes from one kind of source to one kind of sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// "file -> socket", "socket -> socket", ...
    pub flow: String,
    pub bytes: u64,
    pub strategies: Vec<StrategyShare>,
    pub savings: Vec<Saving>,
    /// Always inferred: from fd kinds and measured calls and bytes.
    pub how: How,
}
