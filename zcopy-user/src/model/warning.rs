//! Warnings that give advice (hyperfine's `output/warnings.rs`): each kind is
//! a variant whose Display says what happened and what to do about it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something the reader of a result should know.
#[derive(Debug, Clone)]
pub enum Warning {
    /// A hook could not be attached; the figures it feeds are `null`.
    HookUnavailable { point: String, error: String },
    /// The kernel's BTF could not be read, or lacks the members needed to
    /// tell fd kinds apart.
    NoFdKinds { btf_error: Option<String> },
    /// tracefs was not mounted; zcopy mounted it privately.
    TracefsMountedPrivately { how: String },
    /// A case's throughput varied by more than 10% between runs.
    ThroughputVaries { case: String, percent: f64 },
    /// zcopy's programs missed events while another BPF program ran.
    MissedEvents { case: String, by_program: String, runs: usize },
    /// A warm-cache run found part of the file evicted.
    NotWarm { case: String, run: usize, percent: f64 },
    /// A cold-cache run found part of the file still cached.
    NotCold { case: String, run: usize, percent: f64 },
    /// The kernel's sched_process_exit has no group_dead (before 6.16): a
    /// target's PID reused by another process after it exits is not told apart.
    PidReuseUnguarded,
    /// tracefs is not available: the probes that only have a classic
    /// tracepoint (page-cache insertions, io_uring completions) did not attach.
    NoTracefs { why: String },
    /// A warning read back from saved results (its text as written).
    Saved(String),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HookUnavailable { point, error } => {
                write!(f, "{point} is not available ({error}): its figures are reported as null")
            }
            Self::NoFdKinds { btf_error: Some(e) } => {
                write!(f, "the kernel's BTF could not be read ({e}): copy kinds are not classified")
            }
            Self::NoFdKinds { btf_error: None } => f.write_str(
                "kernel BTF lacks the struct members zcopy needs to tell file kinds apart: copy kinds are not classified",
            ),
            Self::TracefsMountedPrivately { how } => write!(f, "tracefs {how}"),
            Self::NoTracefs { why } => write!(
                f,
                "tracefs {why}; without it only the probes on classic tracepoints are lost (page-cache insertions, io_uring completions: null); raw tracepoints, perf events and fexit need no tracefs"
            ),
            Self::ThroughputVaries { case, percent } => write!(
                f,
                "{case}: throughput varies by {percent:.0}% between runs; close other programs, or use more --runs"
            ),
            Self::MissedEvents { case, by_program, runs } => write!(
                f,
                "{case}: zcopy's programs missed events while another BPF program ran on the CPU ({by_program} over {runs} runs); the figures they feed are low by that much"
            ),
            Self::NotWarm { case, run, percent } => write!(
                f,
                "{case} run {run}: only {percent:.1}% of the file was in the page cache (asked for warm): the kernel reclaimed some of it; those reads went to the device"
            ),
            Self::NotCold { case, run, percent } => {
                write!(f, "{case} run {run}: {percent:.1}% of the file was still in the page cache (asked for cold)")
            }
            Self::PidReuseUnguarded => f.write_str(
                "this kernel's sched_process_exit has no group_dead (Linux 6.16+): if a traced process exits and another takes its PID during the trace, that one is counted too; keep attached traces short, or trace a command instead",
            ),
            Self::Saved(text) => f.write_str(text),
        }
    }
}

/// Two warnings are the same when they say the same (a saved warning equals
/// the one it was written from).
impl PartialEq for Warning {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Saved as its text: the JSON schema has warnings as strings.
impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Warning {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::Saved)
    }
}
