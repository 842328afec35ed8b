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

/// Whether a process passes the bytes it reads from a source on to a sink,
/// or reads one thing and writes another (requests in, replies out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassThrough {
    /// Bytes read from the source kind into user memory (raw_syscalls, fd kinds).
    pub bytes_in: u64,
    /// Bytes written from user memory to the sink kind.
    pub bytes_out: u64,
    /// Bytes written by a thread that had read them from the source just
    /// before: measured in the kernel per thread at syscall exit (each write
    /// passes on at most what its thread read and has not written yet,
    /// within 1 s of that read or of its previous write).
    pub passed_on: u64,
    /// passed_on / max(bytes_in, bytes_out).
    pub ratio: f64,
    /// `ratio` >= [`PassThrough::RELAY_RATIO`]: the process relays these bytes.
    pub relay: bool,
}

impl PassThrough {
    /// Of the larger of bytes in and bytes out, the share that must have been
    /// passed on for the traffic to count as a relay.
    pub const RELAY_RATIO: f64 = 0.75;

    pub fn new(bytes_in: u64, bytes_out: u64, passed_on: u64) -> Self {
        let larger = bytes_in.max(bytes_out);
        let ratio = if larger == 0 { 0.0 } else { passed_on as f64 / larger as f64 };
        Self { bytes_in, bytes_out, passed_on, ratio, relay: ratio >= Self::RELAY_RATIO }
    }

    /// The rule and its evidence, in words.
    pub fn evidence(&self) -> String {
        format!(
            "{} bytes in, {} bytes out, {} passed on by the thread that read them ({:.0}% of the larger; a relay needs {:.0}%)",
            self.bytes_in,
            self.bytes_out,
            self.passed_on,
            100.0 * self.ratio,
            100.0 * Self::RELAY_RATIO
        )
    }
}

/// Bytes from one kind of source to one kind of sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// "file -> socket", "socket -> socket", ...
    pub flow: String,
    pub bytes: u64,
    pub strategies: Vec<StrategyShare>,
    pub savings: Vec<Saving>,
    /// For bytes read into user memory and written out: whether the process
    /// passes them on (the evidence a saving rests on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_through: Option<PassThrough>,
    /// Always inferred: from fd kinds and measured calls and bytes.
    pub how: How,
}
