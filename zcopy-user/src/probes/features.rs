//! Attach mechanisms (BPF program types) and what each needs from the kernel.

use serde::Serialize;

/// A way of attaching a BPF program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    Tracepoint,
    RawTracepoint,
    TpBtf,
    PerfEvent,
    Fentry,
    Kprobe,
}

impl Mechanism {
    pub const ALL: [Self; 6] =
        [Self::Tracepoint, Self::RawTracepoint, Self::TpBtf, Self::PerfEvent, Self::Fentry, Self::Kprobe];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tracepoint => "tracepoint",
            Self::RawTracepoint => "raw_tracepoint",
            Self::TpBtf => "tp_btf",
            Self::PerfEvent => "perf_event",
            Self::Fentry => "fentry",
            Self::Kprobe => "kprobe",
        }
    }

    /// What the mechanism needs from the kernel, for messages.
    pub fn needs(self) -> &'static str {
        match self {
            Self::Tracepoint => "tracefs (for event ids), CAP_BPF + CAP_PERFMON",
            Self::RawTracepoint => "CAP_BPF + CAP_PERFMON",
            Self::TpBtf => "kernel BTF (/sys/kernel/btf/vmlinux), CAP_BPF + CAP_PERFMON",
            Self::PerfEvent => "CAP_PERFMON (or perf_event_paranoid allowing it), CAP_BPF",
            Self::Fentry => "kernel BTF, BPF trampolines, and no lockdown/LSM policy refusing tracing programs",
            Self::Kprobe => "CONFIG_KPROBES, and no lockdown/LSM policy refusing kprobes",
        }
    }
}
