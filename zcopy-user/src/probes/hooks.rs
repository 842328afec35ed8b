//! The table of every place zcopy's counting programs attach, and what each
//! feeds. When an optional hook cannot attach, the figures it feeds become
//! `null` in the summary, with the reason in its warnings.

use aya::programs::perf_event::SoftwareEvent;

use crate::model::Coverage;

/// How a program is attached.
#[derive(Debug, Clone, Copy)]
pub enum Attach {
    /// A classic tracepoint (needs tracefs for its id).
    Tracepoint { category: &'static str, name: &'static str },
    /// A perf software event on every online CPU, sample period 1.
    PerfSoftware(SoftwareEvent),
    /// A raw tracepoint (no tracefs; its own recursion guard per program).
    RawTracepoint { name: &'static str },
    /// fexit on a kernel function (needs BTF and BPF trampolines).
    Fexit { function: &'static str },
    /// A kprobe at a kernel function's entry (needs CONFIG_KPROBES).
    Kprobe { function: &'static str },
}

/// Which group of figures a hook feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feeds {
    Syscalls,
    FaultsByMode,
    FaultsPerf,
    Switches,
    Children,
    RecvCopy,
    BlockIo,
    PageCache,
    NetDevice,
    IoUring,
    CopyRoutines,
}

/// One attachment.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// Program name in the eBPF object.
    pub program: &'static str,
    pub attach: Attach,
    pub feeds: Feeds,
    /// What to attach instead when this cannot be.
    pub fallback: Option<&'static Hook>,
}

impl Hook {
    /// Human name of the attach point, as reports print it.
    pub fn point(&self) -> String {
        match self.attach {
            Attach::Tracepoint { category, name } => format!("tracepoint {category}:{name}"),
            Attach::PerfSoftware(event) => format!("perf software event {}", software_event_name(event)),
            Attach::RawTracepoint { name } => format!("raw tracepoint {name}"),
            Attach::Fexit { function } => format!("fexit {function}"),
            Attach::Kprobe { function } => format!("kprobe {function}"),
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
        _ => "software event",
    }
}

const fn tp(program: &'static str, category: &'static str, name: &'static str, feeds: Feeds) -> Hook {
    Hook { program, attach: Attach::Tracepoint { category, name }, feeds, fallback: None }
}

const fn perf(program: &'static str, event: SoftwareEvent) -> Hook {
    Hook { program, attach: Attach::PerfSoftware(event), feeds: Feeds::FaultsPerf, fallback: None }
}

/// The classic net_dev_xmit tracepoint, used where the raw one cannot be
/// (no BTF for the net_device.name offset, or no raw tracepoints). It is
/// skipped, and the kernel counts a miss, when the transmit runs in a softirq
/// that interrupted another tracepoint program.
const NET_DEV_XMIT_TP: Hook = tp("net_dev_xmit", "net", "net_dev_xmit", Feeds::NetDevice);

/// The program that needs `net_device.name`'s offset from BTF.
pub const NET_DEV_XMIT_RAW: &str = "net_dev_xmit_raw";

const fn copy_routine(program: &'static str, function: &'static str, fallback: &'static Hook) -> Hook {
    Hook { program, attach: Attach::Fexit { function }, feeds: Feeds::CopyRoutines, fallback: Some(fallback) }
}

const fn copy_kprobe(program: &'static str, function: &'static str) -> Hook {
    Hook { program, attach: Attach::Kprobe { function }, feeds: Feeds::CopyRoutines, fallback: None }
}

const COPY_TO_ITER_KPROBE: Hook = copy_kprobe("copy_to_iter_entry", "_copy_to_iter");
const COPY_FROM_ITER_KPROBE: Hook = copy_kprobe("copy_from_iter_entry", "_copy_from_iter");
const COPY_FROM_ITER_NOCACHE_KPROBE: Hook = copy_kprobe("copy_from_iter_entry", "_copy_from_iter_nocache");
const COPY_FOLIO_KPROBE: Hook = copy_kprobe("copy_folio_from_iter_entry", "copy_folio_from_iter_atomic");

/// Every hook of `zcopy trace`.
pub const HOOKS: &[Hook] = &[
    tp("sys_enter", "raw_syscalls", "sys_enter", Feeds::Syscalls),
    tp("sys_exit", "raw_syscalls", "sys_exit", Feeds::Syscalls),
    tp("page_fault_user", "exceptions", "page_fault_user", Feeds::FaultsByMode),
    tp("page_fault_kernel", "exceptions", "page_fault_kernel", Feeds::FaultsByMode),
    perf("perf_page_faults", SoftwareEvent::PageFaults),
    perf("perf_minor_faults", SoftwareEvent::PageFaultsMin),
    perf("perf_major_faults", SoftwareEvent::PageFaultsMaj),
    tp("sched_switch", "sched", "sched_switch", Feeds::Switches),
    tp("sched_process_fork", "sched", "sched_process_fork", Feeds::Children),
    tp("sched_process_exec", "sched", "sched_process_exec", Feeds::Children),
    tp("sched_process_exit", "sched", "sched_process_exit", Feeds::Children),
    tp("skb_copy_datagram_iovec", "skb", "skb_copy_datagram_iovec", Feeds::RecvCopy),
    tp("block_bio_queue", "block", "block_bio_queue", Feeds::BlockIo),
    tp("mm_filemap_add_to_page_cache", "filemap", "mm_filemap_add_to_page_cache", Feeds::PageCache),
    tp("io_uring_complete", "io_uring", "io_uring_complete", Feeds::IoUring),
    Hook {
        program: NET_DEV_XMIT_RAW,
        attach: Attach::RawTracepoint { name: "net_dev_xmit" },
        feeds: Feeds::NetDevice,
        fallback: Some(&NET_DEV_XMIT_TP),
    },
    copy_routine("copy_to_iter_exit", "_copy_to_iter", &COPY_TO_ITER_KPROBE),
    copy_routine("copy_from_iter_exit", "_copy_from_iter", &COPY_FROM_ITER_KPROBE),
    copy_routine("copy_from_iter_nocache_exit", "_copy_from_iter_nocache", &COPY_FROM_ITER_NOCACHE_KPROBE),
    copy_routine("copy_folio_from_iter_exit", "copy_folio_from_iter_atomic", &COPY_FOLIO_KPROBE),
];

/// Every program a hook or its fallback may use.
pub fn all_programs() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&'static str> =
        HOOKS.iter().flat_map(|h| std::iter::once(h.program).chain(h.fallback.map(|f| f.program))).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter()
}

/// Which figure groups are complete, given which hooks attached: a group is
/// covered only when every hook feeding it attached.
pub fn coverage(attached: &[(Feeds, bool)]) -> Coverage {
    let all = |feeds: Feeds| attached.iter().filter(|(f, _)| *f == feeds).all(|(_, ok)| *ok);
    Coverage {
        syscalls: all(Feeds::Syscalls),
        faults_by_mode: all(Feeds::FaultsByMode),
        faults_perf: all(Feeds::FaultsPerf),
        switches: all(Feeds::Switches),
        children: all(Feeds::Children),
        recv_copy: all(Feeds::RecvCopy),
        block_io: all(Feeds::BlockIo),
        page_cache: all(Feeds::PageCache),
        net_device: all(Feeds::NetDevice),
        net_device_raw: false,
        fd_kinds: false,
        io_uring_ops: all(Feeds::IoUring),
        copy_routines: crate::model::CopyProbes::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_missing_hook_uncovers_only_its_group() {
        let attached: Vec<(Feeds, bool)> = HOOKS.iter().map(|h| (h.feeds, h.program != "page_fault_kernel")).collect();
        let c = coverage(&attached);
        assert!(!c.faults_by_mode);
        assert!(c.syscalls && c.faults_perf && c.switches && c.children);
    }

    #[test]
    fn every_hook_named_once() {
        let mut names: Vec<_> = HOOKS.iter().map(|h| h.program).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HOOKS.len());
        assert_eq!(HOOKS[0].point(), "tracepoint raw_syscalls:sys_enter");
        assert_eq!(HOOKS[4].point(), "perf software event page-faults");
    }
}
