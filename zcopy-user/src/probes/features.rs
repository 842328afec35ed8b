//! Kernel features: which attach mechanisms work here, and what zcopy does
//! for each measurement given that. Pure decisions, probed elsewhere
//! (`doctor`), so they can be tested without a kernel.

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

/// A measurement and the mechanisms that can provide it, best first.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    pub what: &'static str,
    pub preferred: &'static [Mechanism],
    /// What zcopy does when none of them works.
    pub fallback: &'static str,
}

/// Every measurement zcopy makes, with its alternatives.
pub const FEATURES: &[Feature] = &[
    Feature {
        what: "syscall counts, bytes, errors",
        preferred: &[Mechanism::Tracepoint],
        fallback: "none: syscall figures are reported as null",
    },
    Feature {
        what: "page faults by CPU mode (user/kernel)",
        preferred: &[Mechanism::Tracepoint],
        fallback: "user/kernel split reported as null; totals still come from perf events",
    },
    Feature {
        what: "page faults total, minor, major",
        preferred: &[Mechanism::PerfEvent],
        fallback: "reported as null; the process's own /proc counters are still shown",
    },
    Feature {
        what: "context switches (voluntary/involuntary)",
        preferred: &[Mechanism::Tracepoint],
        fallback: "reported as null; the process's own /proc counters are still shown",
    },
    Feature {
        what: "children of traced processes",
        preferred: &[Mechanism::Tracepoint],
        fallback: "only the named process is traced",
    },
    Feature {
        what: "io_uring operations: bytes and file kinds per completion",
        preferred: &[Mechanism::Tracepoint],
        fallback: "io_uring transfers show only as io_uring_enter calls; their copies use the per-strategy rule",
    },
    Feature {
        what: "device transmits per device (net_dev_xmit)",
        preferred: &[Mechanism::RawTracepoint, Mechanism::Tracepoint],
        fallback: "reported as null",
    },
    Feature {
        what: "bytes copied by the kernel's copy routines",
        preferred: &[Mechanism::Fentry, Mechanism::Kprobe],
        fallback: "inferred from syscall and tracepoint evidence, and labelled inferred",
    },
];

/// What zcopy does for one feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Uses { mechanism: Mechanism },
    FallsBack { instead: &'static str },
}

/// Picks the first working mechanism of `feature`.
pub fn decide(feature: &Feature, works: impl Fn(Mechanism) -> bool) -> Decision {
    feature
        .preferred
        .iter()
        .copied()
        .find(|m| works(*m))
        .map_or(Decision::FallsBack { instead: feature.fallback }, |mechanism| Decision::Uses { mechanism })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copies() -> &'static Feature {
        FEATURES.iter().find(|f| f.what.starts_with("bytes copied")).unwrap()
    }

    #[test]
    fn fentry_preferred_over_kprobe() {
        assert_eq!(decide(copies(), |_| true), Decision::Uses { mechanism: Mechanism::Fentry });
    }

    #[test]
    fn kprobe_when_fentry_is_refused() {
        let d = decide(copies(), |m| m != Mechanism::Fentry);
        assert_eq!(d, Decision::Uses { mechanism: Mechanism::Kprobe });
    }

    #[test]
    fn this_vm_falls_back_to_inference() {
        // Tracepoints and perf events work; fentry and kprobes do not.
        let works = |m| !matches!(m, Mechanism::Fentry | Mechanism::Kprobe);
        match decide(copies(), works) {
            Decision::FallsBack { instead } => assert!(instead.contains("inferred")),
            other => panic!("{other:?}"),
        }
        let syscalls = &FEATURES[0];
        assert_eq!(decide(syscalls, works), Decision::Uses { mechanism: Mechanism::Tracepoint });
        let xmit = FEATURES.iter().find(|f| f.what.starts_with("device transmits")).unwrap();
        assert_eq!(decide(xmit, works), Decision::Uses { mechanism: Mechanism::RawTracepoint });
        assert_eq!(decide(xmit, |m| m == Mechanism::Tracepoint), Decision::Uses { mechanism: Mechanism::Tracepoint });
    }
}
