//! The one probe table: every figure group zcopy counts, the ways to count
//! it (best first), what each way needs from the kernel, where its figures
//! come from, and what zcopy does when no way works. The attach plan
//! (`bpf`), coverage, `zcopy doctor`'s plan, the JSON `sources` and the
//! terminal's source column all derive from it.

use aya::programs::perf_event::SoftwareEvent;
use serde::Serialize;

use super::{
    features::Mechanism,
    hooks::{Hook, fexit, kprobe, perf, raw_tp, sampled, site, tp},
};

/// A group of figures fed by one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Syscalls,
    FaultsByMode,
    FaultsPerf,
    Switches,
    Children,
    RecvCopy,
    BlockIo,
    PageCache,
    IoUring,
    NetDevice,
    CopyRoutines,
    ZeroCopyFate,
    Samples,
}

impl Group {
    /// How its figures are known: counted (every event), or sampled.
    pub fn provenance(self) -> &'static str {
        if self == Self::Samples { "sampled" } else { "measured" }
    }
}

/// Kernel struct layout a way needs, read from BTF at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requires {
    /// `net_device.name`'s offset.
    NetDeviceName,
    /// `iov_iter.iter_type`'s offset and the ITER_UBUF/ITER_IOVEC values.
    IovIterType,
    /// `pt_regs` offsets of the syscall arguments and number (x86-64).
    PtRegs,
    /// `task_struct.pid`'s offset.
    TaskPid,
    /// `bio.bi_opf` and `bio.bi_iter.bi_size` offsets.
    Bio,
    /// Linux 5.18+, where prev_state is sched_switch's fourth argument.
    SchedSwitchPrevState,
    /// The iov_iter type (as for the copy routines), msghdr's msg_flags and
    /// msg_iter, and sk_buff.data_len.
    CopySites,
    /// What the zero-copy programs read (layout::ZERO_COPY_OFFSETS), with
    /// sk_buff.data_len and the fd offsets.
    ZeroCopySkb,
    /// What `zcopy agent` reads to charge a packet to its socket's cgroup
    /// (layout::socket_cgroup_offsets), with the zero-copy offsets and
    /// net_device.name.
    SocketCgroup,
}

impl Requires {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NetDeviceName => "the offset of net_device.name from kernel BTF",
            Self::IovIterType => "iov_iter.iter_type and the ITER_UBUF/ITER_IOVEC values from kernel BTF",
            Self::PtRegs => "pt_regs offsets of the syscall arguments from kernel BTF (x86-64)",
            Self::TaskPid => "the offset of task_struct.pid from kernel BTF",
            Self::Bio => "the offsets of bio.bi_opf and bio.bi_iter.bi_size from kernel BTF",
            Self::SchedSwitchPrevState => "Linux 5.18 or later (prev_state as the fourth argument)",
            Self::CopySites => {
                "iov_iter.iter_type, msghdr's msg_flags and msg_iter, and sk_buff.data_len from kernel BTF"
            }
            Self::SocketCgroup => {
                "the offsets of sock.sk_cgrp_data, cgroup.kn, kernfs_node.id, sk_buff.len and net_device.name (with the zero-copy offsets) from kernel BTF"
            }
            Self::ZeroCopySkb => {
                "the offsets of sk_buff's sk/head/end/data_len, skb_shared_info's flags/destructor_arg, net_device.features, file.private_data, socket.sk, the fd table and pt_regs from kernel BTF"
            }
        }
    }
}

/// One way of counting a group: hooks that must all attach.
#[derive(Debug)]
pub struct Way {
    pub mechanism: Mechanism,
    pub hooks: &'static [Hook],
    pub requires: Option<Requires>,
    /// The terminal's source column.
    pub label: &'static str,
    /// Provenance of each JSON field it measures (field path, how).
    pub fields: &'static [(&'static str, &'static str)],
}

/// A figure group and its ways.
#[derive(Debug)]
pub struct Probe {
    pub group: Group,
    /// What it measures, for `zcopy doctor`.
    pub what: &'static str,
    pub ways: &'static [Way],
    /// What zcopy does when no way works.
    pub fallback: &'static str,
    /// Many kernels refuse every way (fexit and kprobes): not having it is
    /// normal, said in the sources, not warned about.
    pub optional: bool,
}

impl Probe {
    /// Every JSON field the group feeds (the first way's list; all ways feed the same).
    pub fn fields(&self) -> impl Iterator<Item = &'static str> {
        self.ways.first().into_iter().flat_map(|w| w.fields.iter().map(|(f, _)| *f))
    }
}

/// Every probe of `zcopy trace` and `zcopy bench`. Where a group has a raw
/// tracepoint, it comes first: no perf record is filled per event, and
/// detaching it needs no RCU grace period under event_mutex (a classic
/// tracepoint's perf event takes about 37 ms to tear down, one after another).
pub const PROBES: &[Probe] = &[
    Probe {
        group: Group::Syscalls,
        what: "syscall counts, bytes, errors",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[raw_tp("sys_exit_raw", "sys_exit"), raw_tp("syscall_never_returned", "sched_process_exit")],
                requires: Some(Requires::PtRegs),
                label: "raw tracepoint sys_exit (+ exit/exit_group at sched_process_exit)",
                fields: &[
                    (
                        "syscalls",
                        "raw tracepoint sys_exit: number, arguments and fd kinds from the saved registers at the call's exit (a call in progress when its process became a target is counted if it returns; a held command's or worker's wait for go is not); bytes = return value, or the length argument for mmap/munmap/msync/madvise",
                    ),
                    (
                        "syscalls_total",
                        "raw tracepoint sys_exit (a new task's return from clone/fork is not a call), and exit/exit_group at raw tracepoint sched_process_exit (a thread exiting inside them)",
                    ),
                ],
            },
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[tp("sys_enter", "raw_syscalls", "sys_enter"), tp("sys_exit", "raw_syscalls", "sys_exit")],
                requires: None,
                label: "raw_syscalls:sys_enter + sys_exit",
                fields: &[
                    (
                        "syscalls",
                        "tracepoints raw_syscalls:sys_enter + sys_exit (a call counts when both were seen); bytes = return value, or the length argument for mmap/munmap/msync/madvise",
                    ),
                    ("syscalls_total", "tracepoint raw_syscalls:sys_enter"),
                ],
            },
        ],
        fallback: "none: syscall figures are reported as null",
        optional: false,
    },
    Probe {
        group: Group::FaultsByMode,
        what: "page faults by CPU mode (user/kernel)",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[
                    raw_tp("page_fault_user_raw", "page_fault_user"),
                    raw_tp("page_fault_kernel_raw", "page_fault_kernel"),
                ],
                requires: None,
                label: "raw tracepoints page_fault_user / _kernel",
                fields: &[
                    ("faults.user", "raw tracepoint page_fault_user"),
                    ("faults.kernel", "raw tracepoint page_fault_kernel"),
                ],
            },
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[
                    tp("page_fault_user", "exceptions", "page_fault_user"),
                    tp("page_fault_kernel", "exceptions", "page_fault_kernel"),
                ],
                requires: None,
                label: "exceptions:page_fault_user / _kernel",
                fields: &[
                    ("faults.user", "tracepoint exceptions:page_fault_user"),
                    ("faults.kernel", "tracepoint exceptions:page_fault_kernel"),
                ],
            },
        ],
        fallback: "user/kernel split reported as null; totals still come from perf events",
        optional: false,
    },
    Probe {
        group: Group::FaultsPerf,
        what: "page faults total, minor, major",
        ways: &[Way {
            mechanism: Mechanism::PerfEvent,
            hooks: &[
                perf("perf_page_faults", SoftwareEvent::PageFaults),
                perf("perf_minor_faults", SoftwareEvent::PageFaultsMin),
                perf("perf_major_faults", SoftwareEvent::PageFaultsMaj),
            ],
            requires: None,
            label: "perf page-faults, minor-faults / major-faults",
            fields: &[
                ("faults.total", "perf software event page-faults (the counter `perf stat -e page-faults` reads)"),
                ("faults.minor", "perf software event minor-faults"),
                ("faults.major", "perf software event major-faults"),
            ],
        }],
        fallback: "reported as null; the process's own /proc counters are still shown",
        optional: false,
    },
    Probe {
        group: Group::Switches,
        what: "context switches (voluntary/involuntary)",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[raw_tp("sched_switch_raw", "sched_switch")],
                requires: Some(Requires::SchedSwitchPrevState),
                label: "raw tracepoint sched_switch",
                fields: &[(
                    "switches",
                    "raw tracepoint sched_switch (voluntary: not preempted and not running, as __schedule() counts nvcsw; involuntary: the rest)",
                )],
            },
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[tp("sched_switch", "sched", "sched_switch")],
                requires: None,
                label: "sched:sched_switch",
                fields: &[(
                    "switches",
                    "tracepoint sched:sched_switch (voluntary: the task blocked; involuntary: it was preempted)",
                )],
            },
        ],
        fallback: "reported as null; the process's own /proc counters are still shown",
        optional: false,
    },
    Probe {
        group: Group::Children,
        what: "children of traced processes",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[
                    raw_tp("sched_process_fork_raw", "sched_process_fork"),
                    raw_tp("sched_process_exec_raw", "sched_process_exec"),
                    raw_tp("sched_process_exit_raw", "sched_process_exit"),
                ],
                requires: Some(Requires::TaskPid),
                label: "raw tracepoints sched_process_fork/exec/exit",
                fields: &[],
            },
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[
                    tp("sched_process_fork", "sched", "sched_process_fork"),
                    tp("sched_process_exec", "sched", "sched_process_exec"),
                    tp("sched_process_exit", "sched", "sched_process_exit"),
                ],
                requires: None,
                label: "sched:sched_process_fork/exec/exit",
                fields: &[],
            },
        ],
        fallback: "only the named process is traced",
        optional: false,
    },
    Probe {
        group: Group::RecvCopy,
        what: "socket receive copies (kernel -> user)",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[raw_tp("skb_copy_datagram_iovec_raw", "skb_copy_datagram_iovec")],
                requires: None,
                label: "raw tracepoint skb_copy_datagram_iovec (bytes, kernel -> user)",
                fields: &[(
                    "data.recv_copy_bytes",
                    "raw tracepoint skb_copy_datagram_iovec (in the receiving task's context): a CPU copy kernel -> user; TCP and unix sockets, not UDP datagrams in one linear buffer (copy_linear_skb bypasses it: see copies for those)",
                )],
            },
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[tp("skb_copy_datagram_iovec", "skb", "skb_copy_datagram_iovec")],
                requires: None,
                label: "skb:skb_copy_datagram_iovec (bytes, kernel -> user)",
                fields: &[(
                    "data.recv_copy_bytes",
                    "tracepoint skb:skb_copy_datagram_iovec (in the receiving task's context): a CPU copy kernel -> user; TCP and unix sockets, not UDP datagrams in one linear buffer (copy_linear_skb bypasses it: see copies for those)",
                )],
            },
        ],
        fallback: "reported as null",
        optional: false,
    },
    Probe {
        group: Group::BlockIo,
        what: "block I/O submitted (device DMA)",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[raw_tp("block_bio_queue_raw", "block_bio_queue")],
                requires: Some(Requires::Bio),
                label: "raw tracepoint block_bio_queue (bytes, device DMA)",
                fields: &[
                    (
                        "data.block_read_bytes",
                        "raw tracepoint block_bio_queue, REQ_OP_READ bios, in the submitting task's context (device DMA into memory)",
                    ),
                    (
                        "data.block_write_bytes",
                        "raw tracepoint block_bio_queue, REQ_OP_WRITE bios, in the submitting task's context",
                    ),
                ],
            },
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[tp("block_bio_queue", "block", "block_bio_queue")],
                requires: None,
                label: "block:block_bio_queue (bytes, device DMA)",
                fields: &[
                    (
                        "data.block_read_bytes",
                        "tracepoint block:block_bio_queue, read ops, in the submitting task's context (device DMA into memory)",
                    ),
                    (
                        "data.block_write_bytes",
                        "tracepoint block:block_bio_queue, write ops, in the submitting task's context",
                    ),
                ],
            },
        ],
        fallback: "reported as null",
        optional: false,
    },
    Probe {
        group: Group::PageCache,
        what: "page-cache insertions",
        // Classic only: the folio's order moved between struct members
        // across versions; the tracepoint's record has it as a field.
        ways: &[Way {
            mechanism: Mechanism::Tracepoint,
            hooks: &[tp("mm_filemap_add_to_page_cache", "filemap", "mm_filemap_add_to_page_cache")],
            requires: None,
            label: "filemap:mm_filemap_add_to_page_cache (bytes)",
            fields: &[(
                "data.pagecache_added_bytes",
                "tracepoint filemap:mm_filemap_add_to_page_cache (folio size), in the inserting task's context",
            )],
        }],
        fallback: "reported as null",
        optional: false,
    },
    Probe {
        group: Group::IoUring,
        what: "io_uring operations: bytes and file kinds per completion",
        // Classic only: the raw arguments changed in 6.3 (a cqe pointer).
        ways: &[Way {
            mechanism: Mechanism::Tracepoint,
            hooks: &[tp("io_uring_complete", "io_uring", "io_uring_complete")],
            requires: None,
            label: "io_uring:io_uring_complete",
            fields: &[],
        }],
        fallback: "io_uring transfers show only as io_uring_enter calls; their copies use the per-strategy rule",
        optional: false,
    },
    Probe {
        group: Group::NetDevice,
        what: "device transmits per device (net_dev_xmit)",
        ways: &[
            Way {
                mechanism: Mechanism::RawTracepoint,
                hooks: &[raw_tp("net_dev_xmit_raw", "net_dev_xmit")],
                requires: Some(Requires::NetDeviceName),
                label: "raw tracepoint net_dev_xmit",
                fields: &[(
                    "net_transmit",
                    "raw tracepoint net_dev_xmit (rc 0), machine-wide over the window, per device; kind from /sys/class/net (loopback and virtual devices do no DMA)",
                )],
            },
            // Skipped, with a recursion miss, when the transmit runs in a
            // softirq that interrupted another of zcopy's tracepoint programs.
            Way {
                mechanism: Mechanism::Tracepoint,
                hooks: &[tp("net_dev_xmit", "net", "net_dev_xmit")],
                requires: None,
                label: "tracepoint net:net_dev_xmit",
                fields: &[(
                    "net_transmit",
                    "tracepoint net:net_dev_xmit (rc 0), machine-wide over the window, per device; kind from /sys/class/net (loopback and virtual devices do no DMA)",
                )],
            },
        ],
        fallback: "reported as null",
        optional: false,
    },
    Probe {
        group: Group::CopyRoutines,
        what: "bytes copied by the kernel's copy routines",
        ways: &[
            Way {
                mechanism: Mechanism::Fentry,
                hooks: &[
                    fexit("copy_to_iter_exit", &["_copy_to_iter"]),
                    fexit("copy_from_iter_exit", &["_copy_from_iter"]),
                    fexit("copy_from_iter_nocache_exit", &["_copy_from_iter_nocache"]),
                    fexit("copy_folio_from_iter_exit", &["copy_folio_from_iter_atomic", "copy_page_from_iter_atomic"]),
                ],
                requires: Some(Requires::IovIterType),
                label: "fexit on the kernel's copy routines",
                fields: &[(
                    "data.copied_bytes",
                    "fexit on _copy_to_iter, _copy_from_iter, _copy_from_iter_nocache, copy_folio_from_iter_atomic (bytes returned; user or kernel side from the iov_iter type)",
                )],
            },
            Way {
                mechanism: Mechanism::Kprobe,
                hooks: &[
                    kprobe("copy_to_iter_entry", &["_copy_to_iter"]),
                    kprobe("copy_from_iter_entry", &["_copy_from_iter"]),
                    kprobe("copy_from_iter_entry", &["_copy_from_iter_nocache"]),
                    kprobe(
                        "copy_folio_from_iter_entry",
                        &["copy_folio_from_iter_atomic", "copy_page_from_iter_atomic"],
                    ),
                ],
                requires: Some(Requires::IovIterType),
                label: "kprobes on the kernel's copy routines",
                fields: &[(
                    "data.copied_bytes",
                    "kprobes at entry of _copy_to_iter, _copy_from_iter, _copy_from_iter_nocache, copy_folio_from_iter_atomic (bytes asked for; user or kernel side from the iov_iter type)",
                )],
            },
            // Where the routines are not traceable (Debian's 6.1 and 6.12
            // build lib/ without ftrace's entry call), the functions that call
            // them are: each returns the bytes it moved through its iov_iter.
            Way {
                mechanism: Mechanism::Fentry,
                hooks: &[
                    site("filemap_read_exit", &["filemap_read"]),
                    site("shmem_file_read_iter_exit", &["shmem_file_read_iter"]),
                    site("generic_perform_write_exit", &["generic_perform_write"]),
                    // 6.15 split the pipe's file operations: anonymous pipes
                    // read and write in anon_pipe_*, which fifo_pipe_* call.
                    site("pipe_read_exit", &["anon_pipe_read", "pipe_read"]),
                    site("pipe_write_exit", &["anon_pipe_write", "pipe_write"]),
                    site("tcp_sendmsg_locked_exit", &["tcp_sendmsg_locked"]),
                    site("unix_stream_sendmsg_exit", &["unix_stream_sendmsg"]),
                    site("skb_copy_datagram_iter_exit", &["skb_copy_datagram_iter"]),
                    site("udp_sendmsg_exit", &["udp_sendmsg"]),
                    site("udpv6_sendmsg_exit", &["udpv6_sendmsg"]),
                    site("skb_copy_ubufs_exit", &["skb_copy_ubufs"]),
                ],
                requires: Some(Requires::CopySites),
                label: "fexit on the functions that copy (copy sites)",
                fields: &[(
                    "data.copied_bytes",
                    "fexit on the functions that call the copy routines: filemap_read, shmem_file_read_iter, generic_perform_write, pipe_read and pipe_write (anon_pipe_read and anon_pipe_write from 6.15), tcp_sendmsg_locked, unix_stream_sendmsg, udp_sendmsg and udpv6_sendmsg (not with MSG_ZEROCOPY or MSG_SPLICE_PAGES), skb_copy_datagram_iter (bytes each moved through its iov_iter; user or kernel side from the iter's type, a pipe iter taking page references is no copy); skb_copy_ubufs (a zero-copy send's pages copied after all: kernel -> kernel, in the task that delivered it). Paths through other functions are not counted",
                )],
            },
        ],
        fallback: "inferred from syscall and tracepoint evidence, and labelled inferred",
        optional: true,
    },
    Probe {
        group: Group::ZeroCopyFate,
        what: "zero-copy sends copied anyway (the pinned pages copied by this host's receive path, or for a device without scatter-gather)",
        ways: &[Way {
            mechanism: Mechanism::RawTracepoint,
            // zc_start_xmit reads the sender's registers (its MSG_ZEROCOPY
            // send), so ZeroCopySkb includes the pt_regs offsets.
            hooks: &[
                raw_tp("zc_start_xmit", "net_dev_start_xmit"),
                raw_tp("zc_netif_receive_skb", "netif_receive_skb"),
                raw_tp("zc_io_uring_file_get", "io_uring_file_get"),
            ],
            requires: Some(Requires::ZeroCopySkb),
            label: "raw tracepoints net_dev_start_xmit + netif_receive_skb (zero-copy skbs)",
            fields: &[(
                "data.zero_copy_copied_bytes",
                "raw tracepoints net_dev_start_xmit (a traced process's zero-copy skb: its ubuf_info, and a device without NETIF_F_SG) and netif_receive_skb (that skb received by this host's stack, which copies the pinned pages before delivery): the skb's paged bytes; sockets are the process's from its MSG_ZEROCOPY sends and io_uring_file_get",
            )],
        }],
        fallback: "reported as null: a traced sender's zero-copy sends are then counted as zero-copy (the bench has the kernel's completion reports)",
        optional: true,
    },
    Probe {
        group: Group::Samples,
        what: "where the kernel's CPU time goes (cpu-clock samples of kernel stacks)",
        ways: &[Way {
            mechanism: Mechanism::PerfEvent,
            hooks: &[sampled("cpu_sample", SoftwareEvent::CpuClock)],
            requires: None,
            label: "perf software event cpu-clock, kernel stacks (sampled)",
            fields: &[(
                "profile",
                "perf software event cpu-clock on every CPU at --sample-hz, a target's samples counted in the kernel by (process, kernel stack); stacks from bpf_get_stack, names from /proc/kallsyms; each activity's share with a 95% Wilson interval",
            )],
        }],
        fallback: "no time by activity: the report has counts only",
        optional: true,
    },
];

/// The probe of `group`.
pub fn probe(group: Group) -> &'static Probe {
    // Every group has exactly one entry (tested).
    PROBES.iter().find(|p| p.group == group).unwrap_or(&PROBES[0])
}

/// Every program a way may use, once each.
pub fn all_programs() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&'static str> =
        PROBES.iter().flat_map(|p| p.ways.iter()).flat_map(|w| w.hooks.iter().map(|h| h.program)).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_one_probe_and_every_way_feeds_the_same_fields() {
        let mut groups: Vec<Group> = PROBES.iter().map(|p| p.group).collect();
        groups.sort_unstable();
        groups.dedup();
        assert_eq!(groups.len(), PROBES.len());
        for p in PROBES {
            assert!(!p.ways.is_empty(), "{:?}", p.group);
            let first: Vec<&str> = p.fields().collect();
            for w in p.ways {
                assert!(w.hooks.iter().all(|h| h.mechanism() == w.mechanism), "{:?}: one mechanism per way", p.group);
                assert_eq!(w.fields.iter().map(|(f, _)| *f).collect::<Vec<_>>(), first, "{:?}", p.group);
            }
        }
        assert_eq!(probe(Group::NetDevice).ways[0].hooks[0].point(), "raw tracepoint net_dev_xmit");
        assert_eq!(PROBES[0].ways[1].hooks[0].point(), "tracepoint raw_syscalls:sys_enter");
        assert!(PROBES.len() <= 16, "WayChoices holds 16 probes");
        assert!(PROBES.iter().all(|p| p.ways.len() <= 4), "WayChoices holds 4 ways");
        assert!(PROBES.iter().flat_map(|p| p.ways).all(|w| w.hooks.len() <= 32), "HookMask holds 32 hooks");
    }
}
