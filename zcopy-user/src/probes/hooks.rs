//! One attachment: a program of zcopy's eBPF object and where it goes.

use aya::programs::perf_event::SoftwareEvent;

use super::features::Mechanism;

/// How a program is attached.
#[derive(Debug, Clone, Copy)]
pub enum Attach {
    /// A classic tracepoint (needs tracefs for its id).
    Tracepoint { category: &'static str, name: &'static str },
    /// A perf software event on every online CPU, sample period 1.
    PerfSoftware(SoftwareEvent),
    /// A perf software event on every online CPU, sampled at the
    /// frequency the user chose (`--sample-hz`).
    PerfSampled(SoftwareEvent),
    /// A raw tracepoint (no tracefs; its own recursion guard per program).
    RawTracepoint { name: &'static str },
    /// fexit on a kernel function (needs BTF, BPF trampolines, and the
    /// function in ftrace's list). `functions` are the names it has had
    /// across kernel versions, newest first: the first this kernel has is used.
    Fexit { functions: &'static [&'static str] },
    /// A kprobe at a kernel function's entry (needs CONFIG_KPROBES and,
    /// unless CONFIG_KPROBE_EVENTS_ON_NOTRACE, the function in ftrace's list).
    Kprobe { functions: &'static [&'static str] },
}

/// One attachment.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// Program name in the eBPF object.
    pub program: &'static str,
    pub attach: Attach,
    /// A copy site its way can do without: where this kernel lacks it (or
    /// cannot trace it), the way's other hooks still attach, and its figures
    /// are labelled as covering the sites that did, this one named as not
    /// measured.
    pub optional: bool,
}

impl Hook {
    /// Human name of the attach point, as reports print it.
    pub fn point(&self) -> String {
        match self.attach {
            Attach::Tracepoint { category, name } => format!("tracepoint {category}:{name}"),
            Attach::PerfSoftware(event) => format!("perf software event {}", software_event_name(event)),
            Attach::PerfSampled(event) => format!("perf software event {} (sampled)", software_event_name(event)),
            Attach::RawTracepoint { name } => format!("raw tracepoint {name}"),
            Attach::Fexit { functions } => format!("fexit {}", functions.join(" / ")),
            Attach::Kprobe { functions } => format!("kprobe {}", functions.join(" / ")),
        }
    }

    /// The program type (attach mechanism) the hook needs.
    pub fn mechanism(&self) -> Mechanism {
        match self.attach {
            Attach::Tracepoint { .. } => Mechanism::Tracepoint,
            Attach::PerfSoftware(_) | Attach::PerfSampled(_) => Mechanism::PerfEvent,
            Attach::RawTracepoint { .. } => Mechanism::RawTracepoint,
            Attach::Fexit { .. } => Mechanism::Fentry,
            Attach::Kprobe { .. } => Mechanism::Kprobe,
        }
    }
}

/// The name `perf` uses for a software event.
pub fn software_event_name(event: SoftwareEvent) -> &'static str {
    match event {
        SoftwareEvent::PageFaults => "page-faults",
        SoftwareEvent::PageFaultsMin => "minor-faults",
        SoftwareEvent::PageFaultsMaj => "major-faults",
        SoftwareEvent::ContextSwitches => "context-switches",
        SoftwareEvent::CpuClock => "cpu-clock",
        _ => "software event",
    }
}

pub(crate) const fn tp(program: &'static str, category: &'static str, name: &'static str) -> Hook {
    Hook { program, attach: Attach::Tracepoint { category, name }, optional: false }
}

pub(crate) const fn perf(program: &'static str, event: SoftwareEvent) -> Hook {
    Hook { program, attach: Attach::PerfSoftware(event), optional: false }
}

pub(crate) const fn sampled(program: &'static str, event: SoftwareEvent) -> Hook {
    Hook { program, attach: Attach::PerfSampled(event), optional: false }
}

pub(crate) const fn raw_tp(program: &'static str, name: &'static str) -> Hook {
    Hook { program, attach: Attach::RawTracepoint { name }, optional: false }
}

pub(crate) const fn fexit(program: &'static str, functions: &'static [&'static str]) -> Hook {
    Hook { program, attach: Attach::Fexit { functions }, optional: false }
}

pub(crate) const fn kprobe(program: &'static str, functions: &'static [&'static str]) -> Hook {
    Hook { program, attach: Attach::Kprobe { functions }, optional: false }
}

/// fexit on a copy site (see [`Hook::optional`]).
pub(crate) const fn site(program: &'static str, functions: &'static [&'static str]) -> Hook {
    Hook { program, attach: Attach::Fexit { functions }, optional: true }
}

impl Hook {
    /// The names of its function(s), for "not measured: ..." ("pipe_read / anon_pipe_read").
    pub fn functions(&self) -> String {
        match self.attach {
            Attach::Fexit { functions } | Attach::Kprobe { functions } => functions.join(" / "),
            _ => self.point(),
        }
    }
}
