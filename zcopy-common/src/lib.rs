//! Types shared by zcopy's eBPF programs and its userspace loader.
//!
//! Every type here crosses the kernel/user boundary through a BPF map, so it
//! is `#[repr(C)]`, `Copy`, ordered by size and free of implicit padding (no
//! `bool`; flags are integers). With the `user` feature the types implement
//! [`aya::Pod`] so the loader can read and write them.
#![no_std]

/// Size of the syscall-number -> slot table ([`SlotConfig`] array). Every
/// syscall number on the supported architectures is below this.
pub const MAX_SYSCALL_NR: u32 = 1024;

/// How many syscalls can be tracked individually (slots are `0..MAX_SLOTS`).
pub const MAX_SLOTS: u32 = 64;

/// Maximum number of processes that can be targets at once.
pub const MAX_TARGETS: u32 = 16_384;

/// Maximum number of threads that can be inside a tracked syscall at once.
/// In-flight syscall records: an array indexed by `tid % MAX_INFLIGHT`
/// (a power of two), each record naming its thread.
pub const MAX_INFLIGHT: u32 = 65_536;

/// [`SlotConfig::flags`]: the syscall is tracked (has a slot).
pub const SLOT_TRACKED: u32 = 1;
/// [`SlotConfig::flags`]: the bytes of a successful call are its length
/// argument (`args[1]`: mmap, munmap, msync, madvise), not its return value.
pub const SLOT_BYTES_FROM_LEN_ARG: u32 = 2;

/// [`SlotConfig::flags`]: the call copies bytes from its source fd into user
/// memory (read, recvfrom, ...), or from user memory to its destination fd
/// (write, sendto, ...): the two halves of a relay (see [`Relay`]).
pub const SLOT_READS_INTO_USER: u32 = 4;
pub const SLOT_WRITES_FROM_USER: u32 = 8;

/// [`SlotConfig::flags`]: bits 8..11 hold 1 + the index of the argument that
/// is the source fd (0: none); bits 12..15 the same for the destination fd.
pub const SLOT_SRC_FD_SHIFT: u32 = 8;
pub const SLOT_DST_FD_SHIFT: u32 = 12;
pub const SLOT_FD_MASK: u32 = 0xf;
/// [`SlotConfig::flags`]: bits 16..19 hold 1 + the index of a send's `flags`
/// argument (sendto, sendmsg), 0 for none: MSG_ZEROCOPY there marks the
/// destination as `fd_kind::SOCKET_ZEROCOPY`.
pub const SLOT_MSG_FLAGS_SHIFT: u32 = 16;
/// [`SlotConfig::flags`] of an untracked syscall: it never returns (exit,
/// exit_group), so it has no sys_exit; counted when its thread exits.
pub const SLOT_NEVER_RETURNS: u32 = 1 << 20;
/// [`SlotConfig::flags`] of an untracked syscall: it creates a task, which
/// returns from it with 0 (clone, clone3, fork, vfork); the new task's
/// return is not a call of its own (the creator's is counted).
pub const SLOT_CHILD_RETURNS_ZERO: u32 = 1 << 21;
/// MSG_ZEROCOPY (include/linux/socket.h).
pub const MSG_ZEROCOPY: u64 = 0x400_0000;

/// What kind of file an fd is (`FdKind` values), resolved at syscall entry.
pub mod fd_kind {
    pub const NONE: u8 = 0;
    pub const UNKNOWN: u8 = 1;
    pub const REGULAR: u8 = 2;
    /// A regular file opened with O_DIRECT.
    pub const REGULAR_DIRECT: u8 = 3;
    pub const SOCKET: u8 = 4;
    pub const PIPE: u8 = 5;
    pub const CHAR_DEVICE: u8 = 6;
    pub const OTHER: u8 = 7;
    /// A socket written with MSG_ZEROCOPY in the call's flags.
    pub const SOCKET_ZEROCOPY: u8 = 8;
}

/// Key of the per-process counters by syscall and fd kinds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub tgid: u32,
    /// A syscall slot, or `IO_URING_SLOT_BASE + opcode` for an io_uring operation.
    pub slot: u16,
    /// `fd_kind` of the source and destination fds (for io_uring
    /// operations: `src` is the kind of the request's file, `dst` is NONE).
    pub src: u8,
    pub dst: u8,
}

/// The flow slot of the syscalls that are not tracked one by one: their
/// calls alone (kinds `fd_kind::NONE`). With the tracked slots, every
/// syscall is counted in exactly one flow counter; a process's syscall total
/// is their sum (one hash update per syscall).
pub const UNTRACKED_SLOT: u16 = 0xfe;

const _: () = assert!(MAX_SLOTS < UNTRACKED_SLOT as u32 && UNTRACKED_SLOT < RELAY_SLOT);

/// The flow slot of relayed bytes: per process, source kind (of the read)
/// and destination kind (of the write), the writes that passed on bytes
/// the same thread had read (`calls`) and those bytes (`bytes`); see [`Relay`].
pub const RELAY_SLOT: u16 = 0xff;

/// A write passes on the bytes its thread read if it ends within this long
/// of the read (or of the previous write that passed some on): one second,
/// in nanoseconds of bpf_ktime_get_ns, or in jiffies (the kernel's HZ) where
/// the loader knows HZ and the programs read the cheaper bpf_jiffies64.
pub const RELAY_WINDOW_NS: u64 = 1_000_000_000;

/// Per thread (an array indexed by `tid % MAX_INFLIGHT`, like [`Inflight`]):
/// bytes it read from a file, socket or pipe into user memory and has not
/// written out yet. A write of n bytes within [`RELAY_WINDOW_NS`] passes on
/// min(n, pending) of them: counted under [`RELAY_SLOT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relay {
    pub pending: u64,
    /// When the last read or passing write ended (the relay clock's units:
    /// nanoseconds or jiffies, see [`RELAY_WINDOW_NS`]).
    pub at: u64,
    /// The thread the record belongs to (0: free).
    pub tid: u32,
    /// `fd_kind` of the source read.
    pub src: u8,
    pub _pad: [u8; 3],
}

/// Flow slots at and above this are io_uring operations (`slot - base` is the
/// IORING_OP_* opcode), counted per completion by io_uring:io_uring_complete.
pub const IO_URING_SLOT_BASE: u16 = 0x100;

/// One entry of the syscall-number table, written by the loader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotConfig {
    /// Index into the per-syscall counters (valid when `flags & SLOT_TRACKED`).
    pub slot: u32,
    /// `SLOT_*` flags.
    pub flags: u32,
}

/// Per-process, per-syscall counters (one copy per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallStats {
    /// Calls counted (at their exit on the raw way; whose entry and exit
    /// were both seen on the classic way).
    pub calls: u64,
    /// Sum of the return values of successful calls, or of their length
    /// argument for the mapping syscalls (`SLOT_BYTES_FROM_LEN_ARG`).
    pub bytes: u64,
    /// Calls that returned an error (-4095..=-1).
    pub errors: u64,
}

/// A tracked syscall a thread is inside of, stored at entry, consumed at exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inflight {
    /// Length argument (`args[1]`) at entry.
    pub len_arg: u64,
    /// Slot of the syscall.
    pub slot: u32,
    /// `SLOT_*` flags of the syscall.
    pub flags: u32,
    /// The thread the record belongs to (0: free).
    pub tid: u32,
    /// `fd_kind` of the source and destination fds.
    pub src: u8,
    pub dst: u8,
    pub _pad: [u8; 2],
}

/// Per-process counters that are not per syscall (one copy per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// Every syscall: not counted by the programs here but summed by the
    /// loader from the flow counters (`UNTRACKED_SLOT` and the tracked slots).
    pub syscalls: u64,
    /// exceptions:page_fault_user events.
    pub faults_user: u64,
    /// exceptions:page_fault_kernel events.
    pub faults_kernel: u64,
    /// perf software event page-faults (what `perf stat -e page-faults` counts).
    pub faults_total: u64,
    /// perf software event minor-faults.
    pub faults_minor: u64,
    /// perf software event major-faults.
    pub faults_major: u64,
    /// sched:sched_switch away from a task of the process that had blocked.
    pub switches_voluntary: u64,
    /// sched:sched_switch away from a task of the process that was preempted.
    pub switches_involuntary: u64,
}

/// Evidence of where data went, per process (one copy per CPU). Each field is
/// counted by a tracepoint that fires in the context of the task that caused
/// the work, so it can be charged to that process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// skb:skb_copy_datagram_iovec: bytes the CPU copied from socket buffers
    /// into user memory (receive path).
    pub recv_copy_bytes: u64,
    pub recv_copy_calls: u64,
    /// block:block_bio_queue with a read op: bytes the process asked devices to read.
    pub block_read_bytes: u64,
    /// block:block_bio_queue with a write op.
    pub block_write_bytes: u64,
    /// filemap:mm_filemap_add_to_page_cache: bytes of folios inserted into the page cache.
    pub pagecache_added_bytes: u64,
    pub pagecache_added_folios: u64,
    /// Kernel copy routines (fexit, or kprobe at entry), where they load:
    /// bytes copied into user memory (_copy_to_iter with a user-backed iter).
    pub copy_to_user_bytes: u64,
    /// Bytes copied from user memory (_copy_from_iter[_nocache],
    /// copy_folio_from_iter_atomic with a user-backed iter).
    pub copy_from_user_bytes: u64,
    /// Bytes the same routines copied between kernel buffers (kvec/bvec/folioq iters).
    pub copy_kernel_bytes: u64,
    /// Calls of the copy routines counted.
    pub copy_calls: u64,
    /// Zero-copy sends of this process copied anyway: paged bytes of its
    /// zero-copy skbs received by this host's stack (net:netif_receive_skb),
    /// whose receive path copies the pinned pages before delivery.
    pub zc_copied_received_bytes: u64,
    /// Paged bytes of its zero-copy skbs given to a device without
    /// scatter-gather (net:net_dev_start_xmit), which needs them copied.
    pub zc_copied_no_sg_bytes: u64,
}

/// Machine-wide device transmits (`NETDEV` per-CPU hash map).
pub mod netdev {
    /// Key: the device's name (`IFNAMSIZ` bytes, NUL-padded).
    pub type Name = [u8; 16];
    /// Most devices counted; further ones count a `drop_reason::NETDEV_MAP_FULL`.
    pub const MAX_DEVICES: u32 = 256;
}

/// Bytes and packets a device transmitted (net:net_dev_xmit with rc 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transmit {
    pub bytes: u64,
    pub packets: u64,
}

/// Indices into the `DROPS` per-CPU array: events that could not be counted.
pub mod drop_reason {
    /// The per-process counters map was full.
    pub const PROC_MAP_FULL: u32 = 0;
    /// The per-syscall counters map was full.
    pub const SYSCALL_MAP_FULL: u32 = 1;
    /// A thread's in-flight record overwrote another live thread's (their
    /// ids are equal modulo `MAX_INFLIGHT`): that other call is not counted.
    pub const INFLIGHT_FULL: u32 = 2;
    /// A child of a target could not be added to the targets map.
    pub const TARGETS_FULL: u32 = 3;
    /// The device transmit map was full (more than `netdev::MAX_DEVICES` devices).
    pub const NETDEV_MAP_FULL: u32 = 4;
    /// `zcopy agent`: its per-cgroup counters map was full.
    pub const AGENT_CGROUPS_FULL: u32 = 5;
    /// `zcopy agent`: its per-cgroup device transmit map was full.
    pub const AGENT_DEVICES_FULL: u32 = 6;
    /// `zcopy agent`: its per-cgroup syscall map was full.
    pub const AGENT_SYSCALLS_FULL: u32 = 7;
    /// A kernel-stack sample could not be counted: the stack map was full
    /// (more distinct stacks than [`super::MAX_STACKS`]).
    pub const STACKS_FULL: u32 = 8;
    /// A kernel-stack sample could not be counted: bpf_get_stack failed.
    pub const STACK_UNREADABLE: u32 = 9;
    /// Number of reasons.
    pub const COUNT: u32 = 10;
}

/// [`TargetFlags`] value: the process was named by the user.
pub const TARGET_ROOT: u32 = 1;
/// [`TargetFlags`] value: the process was forked by a target.
pub const TARGET_CHILD: u32 = 2;
/// [`TargetFlags`] bit: the process has exited (its last thread); its PID may
/// be reused by an unrelated process, which must not be counted.
pub const TARGET_EXITED: u32 = 4;
/// [`TargetFlags`] value: the process matched a `--comm` name at exec.
pub const TARGET_COMM: u32 = 8;
/// [`TargetFlags`] value: the process made a syscall inside the `--cgroup`.
pub const TARGET_CGROUP: u32 = 16;
/// [`TargetFlags`] bit: the process is inside one syscall it entered before
/// it became a target (a command or worker held on its go byte, a `--comm`
/// process in its execve); where calls are counted at their exit, that exit
/// is not counted, as its entry was not seen. Cleared at that exit.
pub const TARGET_HELD: u32 = 32;
/// Most `--comm` names (`WANTED_COMMS` entries).
pub const MAX_WANTED_COMMS: u32 = 16;

/// Value of the targets map.
pub type TargetFlags = u32;

/// Task command name, as in the kernel (`TASK_COMM_LEN`).
pub type Comm = [u8; 16];

/// Map names, shared so the loader and the programs agree.
pub mod maps {
    pub const TARGETS: &str = "TARGETS";
    pub const SLOTS: &str = "SLOTS";
    pub const PROCS: &str = "PROCS";
    pub const INFLIGHT: &str = "INFLIGHT";
    pub const COMMS: &str = "COMMS";
    pub const DROPS: &str = "DROPS";
    pub const EVIDENCE: &str = "EVIDENCE";
    pub const NETDEV: &str = "NETDEV";
    pub const FLOWS: &str = "FLOWS";
    pub const WANTED_COMMS: &str = "WANTED_COMMS";
    pub const WANTED_CGROUP: &str = "WANTED_CGROUP";
    pub const AGENT_CGROUPS: &str = "AGENT_CGROUPS";
    pub const AGENT_SLOTS: &str = "AGENT_SLOTS";
    pub const AGENT_DEVICES: &str = "AGENT_DEVICES";
    pub const AGENT_SYSCALLS: &str = "AGENT_SYSCALLS";
    pub const AGENT_ZC_UARGS: &str = "AGENT_ZC_UARGS";
    pub const RELAYS: &str = "RELAYS";
    pub const ZC_SOCKS: &str = "ZC_SOCKS";
    pub const ZC_UARGS: &str = "ZC_UARGS";
    pub const STACKS: &str = "STACKS";
    pub const STACK_SCRATCH: &str = "STACK_SCRATCH";

    /// The maps only `zcopy agent`'s programs use.
    pub const AGENT_ONLY: [&str; 5] = [AGENT_SLOTS, AGENT_CGROUPS, AGENT_DEVICES, AGENT_SYSCALLS, AGENT_ZC_UARGS];
    /// The large maps only the tracing programs (trace, bench) use.
    pub const TRACER_ONLY: [&str; 11] =
        [TARGETS, PROCS, INFLIGHT, RELAYS, COMMS, EVIDENCE, FLOWS, NETDEV, ZC_SOCKS, ZC_UARGS, STACKS];
}

/// Kernel frames kept per cpu-clock sample, innermost first. The data path's
/// deepest stacks (a TCP send through loopback into the receiver's softirq)
/// are about 40 deep; the activity is decided by the innermost frames, so a
/// deeper stack loses only its outermost callers (the flame graph's root).
pub const MAX_STACK_DEPTH: usize = 48;

/// Distinct (process, kernel stack) keys counted at once.
pub const MAX_STACKS: u32 = 16_384;

/// A cpu-clock sample's key: the process and its kernel stack itself (not a
/// stack id: ids of a stack-trace map collide and cannot be freed, which is
/// why bpftrace moved to keying by the stack). `depth` 0 with `user` 1: the
/// CPU was running the process's user code.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackKey {
    pub tgid: u32,
    /// Frames in `ips`.
    pub depth: u16,
    /// 1: the sample interrupted user mode (no kernel frames).
    pub user: u16,
    /// Return addresses, innermost first; zero past `depth`.
    pub ips: [u64; MAX_STACK_DEPTH],
}

/// `zcopy agent`: counters per cgroup v2 id, machine-wide.
pub mod agent {
    /// What each slot of [`Counters`] counts; the programs and the loader
    /// both index by this enum.
    #[repr(usize)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum Counter {
        /// Sent by write, writev, send, sendto, sendmsg, sendmmsg: copied
        /// from user memory by the CPU.
        SocketSentCpuCopyBytes = 0,
        /// Sent by sendfile or splice: pages passed by reference.
        SocketSentByReferenceBytes,
        /// Sent by send*, with MSG_ZEROCOPY.
        SocketSentZeroCopyBytes,
        /// Sent from anywhere else (io_uring, the kernel): not classified.
        SocketSentOtherBytes,
        SocketSends,
        SocketReceivedBytes,
        SocketReceives,
        ZeroCopySentBytes,
        ZeroCopyCopiedReceivedBytes,
        ZeroCopyCopiedNoSgBytes,
        PageCacheAddedBytes,
        BlockReadBytes,
        BlockWriteBytes,
        FaultsUser,
        FaultsKernel,
        FaultsMinor,
        FaultsMajor,
        SwitchesVoluntary,
        SwitchesInvoluntary,
    }

    /// Number of [`Counter`]s.
    pub const COUNTERS: usize = Counter::SwitchesInvoluntary as usize + 1;

    impl Counter {
        /// Every counter, in slot order.
        pub const ALL: [Counter; COUNTERS] = [
            Counter::SocketSentCpuCopyBytes,
            Counter::SocketSentByReferenceBytes,
            Counter::SocketSentZeroCopyBytes,
            Counter::SocketSentOtherBytes,
            Counter::SocketSends,
            Counter::SocketReceivedBytes,
            Counter::SocketReceives,
            Counter::ZeroCopySentBytes,
            Counter::ZeroCopyCopiedReceivedBytes,
            Counter::ZeroCopyCopiedNoSgBytes,
            Counter::PageCacheAddedBytes,
            Counter::BlockReadBytes,
            Counter::BlockWriteBytes,
            Counter::FaultsUser,
            Counter::FaultsKernel,
            Counter::FaultsMinor,
            Counter::FaultsMajor,
            Counter::SwitchesVoluntary,
            Counter::SwitchesInvoluntary,
        ];

        /// Whether it counts bytes a cgroup moved (what cgroups are ranked by;
        /// the copies-anyway are part of the zero-copy bytes sent).
        pub const fn is_bytes_moved(self) -> bool {
            matches!(
                self,
                Counter::SocketSentCpuCopyBytes
                    | Counter::SocketSentByReferenceBytes
                    | Counter::SocketSentZeroCopyBytes
                    | Counter::SocketSentOtherBytes
                    | Counter::SocketReceivedBytes
                    | Counter::ZeroCopySentBytes
                    | Counter::PageCacheAddedBytes
                    | Counter::BlockReadBytes
                    | Counter::BlockWriteBytes
            )
        }
    }

    /// Cgroups counted at once; events of further ones count a
    /// `drop_reason::AGENT_CGROUPS_FULL` (the loader removes dead cgroups).
    pub const MAX_CGROUPS: u32 = 8192;
    /// Direct-mapped per-CPU slots (`AGENT_SLOTS`), the fast path: cgroup
    /// id modulo this (a power of two); a slot another cgroup holds sends
    /// the event to `AGENT_CGROUPS`.
    pub const SLOTS: u32 = 4096;
    /// [`Slot::tag`]: the cgroup id with this bit set (0: a free slot; the
    /// bit keeps id 0, packets without a socket, apart from free).
    pub const SLOT_TAG: u64 = 1 << 63;

    /// One per-CPU slot: its cgroup (tagged) and that cgroup's counters.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Slot {
        pub tag: u64,
        pub counters: Counters,
    }

    /// (cgroup, device) pairs counted at once.
    pub const MAX_DEVICES: u32 = 4096;
    /// (cgroup, syscall) pairs counted at once.
    pub const MAX_SYSCALLS: u32 = 32_768;

    /// One cgroup's counters, indexed by [`Counter`].
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Counters {
        pub v: [u64; COUNTERS],
    }

    impl Default for Counters {
        fn default() -> Self {
            Self { v: [0; COUNTERS] }
        }
    }

    /// A cgroup's transmits on one device (by name).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct DeviceKey {
        pub cgroup: u64,
        pub name: super::netdev::Name,
    }

    /// A cgroup's calls of one syscall (by number).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct SyscallKey {
        pub cgroup: u64,
        pub nr: u32,
        pub pad: u32,
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are #[repr(C)], Copy, and have no padding.
    unsafe impl aya::Pod for super::SlotConfig {}
    unsafe impl aya::Pod for super::SyscallStats {}
    unsafe impl aya::Pod for super::Inflight {}
    unsafe impl aya::Pod for super::ProcStats {}
    unsafe impl aya::Pod for super::Evidence {}
    unsafe impl aya::Pod for super::Transmit {}
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::StackKey {}
    unsafe impl aya::Pod for super::agent::Counters {}
    unsafe impl aya::Pod for super::agent::Slot {}
    unsafe impl aya::Pod for super::agent::DeviceKey {}
    unsafe impl aya::Pod for super::agent::SyscallKey {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn no_implicit_padding() {
        assert_eq!(size_of::<SlotConfig>(), 8);
        assert_eq!(size_of::<SyscallStats>(), 24);
        assert_eq!(size_of::<Inflight>(), 24);
        assert_eq!(size_of::<FlowKey>(), 8);
        assert_eq!(size_of::<ProcStats>(), 8 * 8);
        assert_eq!(size_of::<Evidence>(), 12 * 8);
        assert_eq!(size_of::<Relay>(), 24);
        assert_eq!(size_of::<Transmit>(), 16);
        assert_eq!(size_of::<agent::Counters>(), agent::COUNTERS * 8);
        assert_eq!(size_of::<agent::DeviceKey>(), 24);
        assert_eq!(size_of::<agent::Slot>(), 8 + agent::COUNTERS * 8);
        for (i, c) in agent::Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "Counter::ALL is in slot order");
        }
        assert!(agent::SLOTS.is_power_of_two());
        assert_eq!(size_of::<agent::SyscallKey>(), 16);
    }
}
