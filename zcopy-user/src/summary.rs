//! The result of a trace: one serde structure that feeds the terminal table
//! and every exporter. The JSON schema is documented in docs/json-schema.md;
//! change `SCHEMA` when a field changes meaning or goes away.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zcopy_common::{Evidence, ProcStats, SyscallStats};

use crate::syscalls::{self, Bytes};

/// Name and version of the JSON schema.
pub const SCHEMA: &str = "zcopy.trace/1";

/// Counters of one process as read from the kernel maps (summed over CPUs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawProcess {
    pub comm: Option<String>,
    pub stats: ProcStats,
    pub evidence: Evidence,
    /// Per (syscall slot, source fd kind, destination fd kind).
    pub flows: BTreeMap<(u32, u8, u8), SyscallStats>,
    /// Per tracked-syscall slot.
    pub syscalls: BTreeMap<u32, SyscallStats>,
}

/// Everything read from the kernel maps, per process id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCounters {
    pub processes: BTreeMap<u32, RawProcess>,
    /// Events that could not be counted, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Machine-wide device transmits during the trace.
    pub net: Option<NetTransmit>,
    /// Recursion misses by program.
    pub missed: BTreeMap<String, u64>,
}

impl RawCounters {
    /// Per-flow counters summed over every process.
    pub fn flows(&self) -> BTreeMap<(u32, u8, u8), SyscallStats> {
        let mut all: BTreeMap<(u32, u8, u8), SyscallStats> = BTreeMap::new();
        for p in self.processes.values() {
            for (key, s) in &p.flows {
                add_syscall_stats(all.entry(*key).or_default(), s);
            }
        }
        all
    }
}

/// Which counter sources were attached; a missing one makes its figures `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub syscalls: bool,
    pub faults_by_mode: bool,
    pub faults_perf: bool,
    pub switches: bool,
    pub children: bool,
    pub recv_copy: bool,
    pub block_io: bool,
    pub page_cache: bool,
    pub net_device: bool,
    /// net_device is counted by the raw tracepoint (no recursion misses
    /// against zcopy's other programs), not the classic one.
    #[serde(default)]
    pub net_device_raw: bool,
    /// fd kinds are resolved at syscall entry (kernel BTF has the offsets).
    #[serde(default)]
    pub fd_kinds: bool,
    /// io_uring operations are counted per completion with their file's kind
    /// (io_uring:io_uring_complete attached and BTF has io_kiocb's offsets).
    #[serde(default)]
    pub io_uring_ops: bool,
    /// How the kernel's copy routines are counted, if at all.
    #[serde(default)]
    pub copy_routines: CopyProbes,
}

/// The mechanism counting the kernel's copy routines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyProbes {
    /// Neither fexit nor kprobes attached: copies are only inferred.
    #[default]
    None,
    /// fexit on every routine: the bytes each call copied (its return value).
    Fexit,
    /// kprobes on at least one routine: the bytes asked for at entry (an
    /// upper bound when a copy faults part-way).
    Kprobe,
}

impl CopyProbes {
    pub fn attached(self) -> bool {
        self != Self::None
    }
}

impl Coverage {
    pub const FULL: Self = Self {
        syscalls: true,
        faults_by_mode: true,
        faults_perf: true,
        switches: true,
        children: true,
        recv_copy: true,
        block_io: true,
        page_cache: true,
        net_device: true,
        net_device_raw: true,
        fd_kinds: true,
        io_uring_ops: true,
        copy_routines: CopyProbes::Fexit,
    };
}

/// Where a process's data went, from tracepoints that fire in its own
/// context; `null` where the tracepoint was not available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataMovement {
    /// Bytes the CPU copied from socket buffers into the process's memory (receive).
    pub recv_copy_bytes: Option<u64>,
    /// Bytes the process had devices read (block I/O it submitted: device DMA).
    pub block_read_bytes: Option<u64>,
    /// Bytes the process had devices write.
    pub block_write_bytes: Option<u64>,
    /// Bytes of page-cache folios inserted on the process's behalf.
    pub pagecache_added_bytes: Option<u64>,
    /// Bytes the kernel's copy routines copied into the process's memory
    /// (fexit/kprobe; `null` where neither loads, as on kernels that refuse both).
    #[serde(default)]
    pub copied_to_user_bytes: Option<u64>,
    /// Bytes the copy routines copied out of the process's memory.
    #[serde(default)]
    pub copied_from_user_bytes: Option<u64>,
    /// Bytes the copy routines copied between kernel buffers for the process.
    #[serde(default)]
    pub copied_in_kernel_bytes: Option<u64>,
}

impl NetTransmit {
    /// Totals by kind from per-device counters (kinds looked up by name in /sys/class/net).
    pub fn from_devices(mut devices: Vec<DeviceTransmit>) -> Self {
        devices.retain(|d| d.packets > 0);
        devices.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        let mut net = Self::default();
        for d in &devices {
            let (bytes, packets) = match d.kind {
                DeviceKind::Loopback => (&mut net.loopback_bytes, &mut net.loopback_packets),
                DeviceKind::Hardware => (&mut net.device_bytes, &mut net.device_packets),
                DeviceKind::Virtual | DeviceKind::Gone => (&mut net.virtual_bytes, &mut net.virtual_packets),
            };
            *bytes += d.bytes;
            *packets += d.packets;
        }
        net.devices = devices;
        net
    }

    /// `self - earlier`, device by device.
    pub fn since(&self, earlier: &Self) -> Self {
        let devices = self
            .devices
            .iter()
            .map(|d| {
                let before = earlier.devices.iter().find(|e| e.name == d.name);
                DeviceTransmit {
                    bytes: d.bytes.saturating_sub(before.map_or(0, |e| e.bytes)),
                    packets: d.packets.saturating_sub(before.map_or(0, |e| e.packets)),
                    ..d.clone()
                }
            })
            .collect();
        Self::from_devices(devices)
    }
}

impl DataMovement {
    pub fn from_raw(e: &Evidence, c: Coverage) -> Self {
        Self {
            recv_copy_bytes: c.recv_copy.then_some(e.recv_copy_bytes),
            block_read_bytes: c.block_io.then_some(e.block_read_bytes),
            block_write_bytes: c.block_io.then_some(e.block_write_bytes),
            pagecache_added_bytes: c.page_cache.then_some(e.pagecache_added_bytes),
            copied_to_user_bytes: c.copy_routines.attached().then_some(e.copy_to_user_bytes),
            copied_from_user_bytes: c.copy_routines.attached().then_some(e.copy_from_user_bytes),
            copied_in_kernel_bytes: c.copy_routines.attached().then_some(e.copy_kernel_bytes),
        }
    }
}

/// Machine-wide device transmits over the traced window (not per process: a
/// loopback transmit can run in another task's softirq).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetTransmit {
    /// The loopback device: it does no DMA; its "transmit" hands the packet to the receive path.
    pub loopback_bytes: u64,
    pub loopback_packets: u64,
    /// Hardware devices (a `device` link in /sys/class/net/NAME): these can DMA from memory to the wire.
    pub device_bytes: u64,
    pub device_packets: u64,
    /// Software devices (veth, bridge, tun, ...; or gone by the end of the run): no DMA of their own.
    #[serde(default)]
    pub virtual_bytes: u64,
    #[serde(default)]
    pub virtual_packets: u64,
    /// Each device that transmitted, most bytes first.
    #[serde(default)]
    pub devices: Vec<DeviceTransmit>,
}

/// One network device's transmits (net:net_dev_xmit with rc 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTransmit {
    pub name: String,
    pub kind: DeviceKind,
    pub bytes: u64,
    pub packets: u64,
}

/// What a network device is, from /sys/class/net/NAME.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// IFF_LOOPBACK set in `flags`.
    Loopback,
    /// Backed by a bus device (`device` link present): can DMA.
    Hardware,
    /// A software device: no bus device behind it.
    Virtual,
    /// No longer in /sys/class/net when read.
    Gone,
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback, no DMA",
            Self::Hardware => "hardware, DMA",
            Self::Virtual => "virtual, no DMA",
            Self::Gone => "removed during the run",
        }
    }
}

/// What was traced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// "command" (zcopy started it) or "pid" (attached to a running process).
    pub mode: String,
    /// The command line, in command mode.
    pub command: Option<Vec<String>>,
    pub pid: u32,
    /// Exit status of the command (command mode), if it exited normally.
    pub exit_code: Option<i32>,
    /// Signal that ended the command, if one did.
    pub exit_signal: Option<i32>,
    /// Why the trace ended: "exited", "duration", "interrupted".
    pub ended_by: String,
    /// Every `--pid` given (attach mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
    /// Every `--comm` given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comms: Vec<String>,
    /// The `--cgroup` folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

/// Counters of one syscall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallFigures {
    pub calls: u64,
    /// `null` where the syscall's return value is not a byte count.
    pub bytes: Option<u64>,
    pub errors: u64,
}

/// Page faults; `null` where the source was not available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    pub total: Option<u64>,
    pub user: Option<u64>,
    pub kernel: Option<u64>,
    pub minor: Option<u64>,
    pub major: Option<u64>,
}

/// Scheduler context switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switches {
    pub voluntary: Option<u64>,
    pub involuntary: Option<u64>,
}

/// The counters of one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSummary {
    pub pid: u32,
    pub comm: Option<String>,
    pub syscalls_total: Option<u64>,
    /// Only the syscalls this process made.
    pub syscalls: BTreeMap<String, SyscallFigures>,
    pub faults: Faults,
    pub switches: Switches,
    pub data: DataMovement,
}

/// The kernel's own accounting of the traced processes, independent of BPF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelAccounting {
    /// Where the figures come from.
    pub source: String,
    pub minflt: u64,
    pub majflt: u64,
    pub nvcsw: Option<u64>,
    pub nivcsw: Option<u64>,
    pub utime_s: Option<f64>,
    pub stime_s: Option<f64>,
}

/// The summary of one trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub target: Target,
    pub wall_s: f64,
    /// Every tracked syscall, zero when not called.
    pub syscalls: BTreeMap<String, SyscallFigures>,
    pub syscalls_total: Option<u64>,
    /// Inferred: 2 x syscalls_total.
    pub mode_transitions: Option<u64>,
    pub faults: Faults,
    pub switches: Switches,
    /// Summed over processes.
    pub data: DataMovement,
    /// Machine-wide device transmits during the trace; `null` if unavailable.
    pub net_transmit: Option<NetTransmit>,
    /// What the syscalls did with their bytes (inferred from the fd kinds), by flow.
    #[serde(default)]
    pub copies: Vec<crate::analysis::copies::CopyFlow>,
    /// Bytes per copy kind (inferred).
    #[serde(default)]
    pub copies_by_kind: BTreeMap<crate::analysis::copies::CopyKind, u64>,
    pub processes: Vec<ProcessSummary>,
    pub kernel_accounting: Option<KernelAccounting>,
    /// Where each figure comes from, by field path.
    pub sources: BTreeMap<String, String>,
    /// Events the kernel side could not count, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Events each program missed because another BPF program was running on
    /// that CPU (kernel recursion-miss counters), by program.
    pub missed_events: BTreeMap<String, u64>,
    pub warnings: Vec<String>,
    /// Traffic by source and sink kind, the strategy used for each, and what
    /// another would save (inferred from `copies`).
    #[serde(default)]
    pub flows: Vec<crate::analysis::advice::Flow>,
    /// Cumulative totals sampled during the trace (rates are the differences).
    #[serde(default)]
    pub timeline: Vec<Sample>,
    /// What the tracing cost zcopy itself.
    #[serde(default)]
    pub tracer: Option<TracerCost>,
    /// Kernel release and machine it ran on (for report captions).
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub machine: String,
}

/// zcopy's own cost: loading and attaching its programs, and its peak memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TracerCost {
    /// Wall time to load the programs and attach every hook.
    pub load_s: f64,
    /// zcopy's peak resident memory (VmHWM in /proc/self/status).
    pub peak_rss_kib: u64,
}

/// Cumulative totals over every traced process at `t_s` seconds into the trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t_s: f64,
    /// raw_syscalls:sys_enter.
    pub syscalls: u64,
    /// Bytes the CPU copied (kernel <-> user, kernel -> kernel): inferred from fd kinds.
    pub cpu_copied_bytes: u64,
    /// Bytes moved by reference (splice, sendfile to a socket or pipe): inferred.
    pub by_reference_bytes: u64,
    /// Bytes sent zero-copy from pinned user pages: inferred.
    pub zero_copy_bytes: u64,
    /// perf page-faults.
    pub faults: u64,
    /// sched_switch, voluntary + involuntary.
    pub switches: u64,
    /// Bytes written to sockets / to regular files (by syscalls and io_uring, from fd kinds).
    #[serde(default)]
    pub to_socket_bytes: u64,
    #[serde(default)]
    pub to_file_bytes: u64,
    /// Calls per tracked syscall (for the interval lines; not saved).
    #[serde(skip)]
    pub calls: BTreeMap<String, u64>,
}

impl Sample {
    /// The totals in `raw` at `t_s`.
    pub fn of(raw: &RawCounters, t_s: f64) -> Self {
        use crate::analysis::copies::{self, CopyKind};
        let (stats, _, _) = total(raw);
        let all_flows = raw.flows();
        let flows = copies::flows(&all_flows);
        let kinds = copies::totals(&flows);
        let kind = |k: CopyKind| kinds.get(&k).copied().unwrap_or(0);
        let to = |what: &str| flows.iter().filter(|f| f.to.starts_with(what)).map(|f| f.bytes).sum::<u64>();
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        for p in raw.processes.values() {
            for (slot, st) in &p.syscalls {
                if let Some(sc) = syscalls::by_slot(*slot) {
                    *calls.entry(sc.name.to_owned()).or_default() += st.calls;
                }
            }
        }
        Self {
            t_s,
            syscalls: stats.syscalls,
            cpu_copied_bytes: kind(CopyKind::CpuKernelToUser)
                + kind(CopyKind::CpuUserToKernel)
                + kind(CopyKind::CpuKernelToKernel),
            by_reference_bytes: kind(CopyKind::ByReference),
            zero_copy_bytes: kind(CopyKind::ZeroCopySend),
            faults: stats.faults_total,
            switches: stats.switches_voluntary + stats.switches_involuntary,
            to_socket_bytes: to("socket"),
            to_file_bytes: to("file"),
            calls,
        }
    }
}

/// Provenance of each figure, by JSON field path.
pub fn sources(coverage: Coverage) -> BTreeMap<String, String> {
    let pick = |available: bool, measured: &str, missing: &str| {
        if available { format!("measured: {measured}") } else { format!("unavailable: {missing}") }
    };
    let mut map = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        map.insert(key.to_owned(), value);
    };
    put(
        "syscalls",
        pick(
            coverage.syscalls,
            "tracepoints raw_syscalls:sys_enter + sys_exit (a call counts when both were seen); \
             bytes = return value, or the length argument for mmap/munmap/msync/madvise",
            "raw_syscalls tracepoints could not be attached",
        ),
    );
    put(
        "syscalls_total",
        pick(coverage.syscalls, "tracepoint raw_syscalls:sys_enter", "raw_syscalls:sys_enter could not be attached"),
    );
    put(
        "mode_transitions",
        if coverage.syscalls {
            "inferred: 2 x syscalls_total (each syscall enters the kernel once and returns once)".to_owned()
        } else {
            "unavailable: needs syscalls_total".to_owned()
        },
    );
    put(
        "faults.total",
        pick(
            coverage.faults_perf,
            "perf software event page-faults (the counter `perf stat -e page-faults` reads)",
            "perf software events could not be attached",
        ),
    );
    put(
        "faults.minor",
        pick(coverage.faults_perf, "perf software event minor-faults", "perf software events could not be attached"),
    );
    put(
        "faults.major",
        pick(coverage.faults_perf, "perf software event major-faults", "perf software events could not be attached"),
    );
    put(
        "faults.user",
        pick(
            coverage.faults_by_mode,
            "tracepoint exceptions:page_fault_user",
            "exceptions:page_fault_user is not on this kernel",
        ),
    );
    put(
        "faults.kernel",
        pick(
            coverage.faults_by_mode,
            "tracepoint exceptions:page_fault_kernel",
            "exceptions:page_fault_kernel is not on this kernel",
        ),
    );
    put(
        "data.recv_copy_bytes",
        pick(
            coverage.recv_copy,
            "tracepoint skb:skb_copy_datagram_iovec (in the receiving task's context): a CPU copy kernel -> user; TCP and unix sockets, not UDP datagrams in one linear buffer (copy_linear_skb bypasses it: see copies for those)",
            "skb:skb_copy_datagram_iovec could not be attached",
        ),
    );
    put(
        "data.block_read_bytes",
        pick(
            coverage.block_io,
            "tracepoint block:block_bio_queue, read ops, in the submitting task's context (device DMA into memory)",
            "block:block_bio_queue could not be attached",
        ),
    );
    put(
        "data.block_write_bytes",
        pick(
            coverage.block_io,
            "tracepoint block:block_bio_queue, write ops, in the submitting task's context",
            "block:block_bio_queue could not be attached",
        ),
    );
    put(
        "data.pagecache_added_bytes",
        pick(
            coverage.page_cache,
            "tracepoint filemap:mm_filemap_add_to_page_cache (folio size), in the inserting task's context",
            "filemap:mm_filemap_add_to_page_cache could not be attached",
        ),
    );
    put(
        "net_transmit",
        pick(
            coverage.net_device,
            &format!(
                "{} (rc 0), machine-wide over the window, per device; kind from /sys/class/net (loopback and virtual devices do no DMA)",
                if coverage.net_device_raw { "raw tracepoint net_dev_xmit" } else { "tracepoint net:net_dev_xmit" }
            ),
            "net:net_dev_xmit could not be attached",
        ),
    );
    put(
        "copies",
        if coverage.fd_kinds {
            "inferred: a rule per syscall and the kinds of its fds (resolved in the kernel at syscall entry from current->files, offsets from BTF); calls and bytes measured by raw_syscalls".to_owned()
        } else {
            "unavailable: the kernel's BTF lacks the offsets to tell fd kinds apart".to_owned()
        },
    );
    put(
        "data.copied_bytes",
        match coverage.copy_routines {
            CopyProbes::Fexit => "measured: fexit on _copy_to_iter, _copy_from_iter, _copy_from_iter_nocache, copy_folio_from_iter_atomic (bytes returned; user or kernel side from the iov_iter type)".to_owned(),
            CopyProbes::Kprobe => "measured: kprobes at entry of _copy_to_iter, _copy_from_iter, _copy_from_iter_nocache, copy_folio_from_iter_atomic (bytes asked for; user or kernel side from the iov_iter type)".to_owned(),
            CopyProbes::None => "not measured here: fexit and kprobes are unavailable (see `zcopy doctor`); copies are inferred (see copies)".to_owned(),
        },
    );
    put(
        "switches",
        pick(
            coverage.switches,
            "tracepoint sched:sched_switch (voluntary: the task blocked; involuntary: it was preempted)",
            "sched:sched_switch could not be attached",
        ),
    );
    map
}

fn figures(slot: u32, stats: &SyscallStats) -> Option<(String, SyscallFigures)> {
    let sc = syscalls::by_slot(slot)?;
    let bytes = (sc.bytes != Bytes::None).then_some(stats.bytes);
    Some((sc.name.to_owned(), SyscallFigures { calls: stats.calls, bytes, errors: stats.errors }))
}

fn faults_of(s: &ProcStats, c: Coverage) -> Faults {
    Faults {
        total: c.faults_perf.then_some(s.faults_total),
        user: c.faults_by_mode.then_some(s.faults_user),
        kernel: c.faults_by_mode.then_some(s.faults_kernel),
        minor: c.faults_perf.then_some(s.faults_minor),
        major: c.faults_perf.then_some(s.faults_major),
    }
}

fn switches_of(s: &ProcStats, c: Coverage) -> Switches {
    Switches {
        voluntary: c.switches.then_some(s.switches_voluntary),
        involuntary: c.switches.then_some(s.switches_involuntary),
    }
}

/// Sums the per-process kernel counters.
fn total(raw: &RawCounters) -> (ProcStats, Evidence, BTreeMap<u32, SyscallStats>) {
    let mut stats = ProcStats::default();
    let mut evidence = Evidence::default();
    let mut per_slot: BTreeMap<u32, SyscallStats> = BTreeMap::new();
    for p in raw.processes.values() {
        add_proc_stats(&mut stats, &p.stats);
        add_evidence(&mut evidence, &p.evidence);
        for (slot, s) in &p.syscalls {
            add_syscall_stats(per_slot.entry(*slot).or_default(), s);
        }
    }
    (stats, evidence, per_slot)
}

/// `acc += e`, field by field.
pub fn add_evidence(acc: &mut Evidence, e: &Evidence) {
    acc.recv_copy_bytes += e.recv_copy_bytes;
    acc.recv_copy_calls += e.recv_copy_calls;
    acc.block_read_bytes += e.block_read_bytes;
    acc.block_write_bytes += e.block_write_bytes;
    acc.pagecache_added_bytes += e.pagecache_added_bytes;
    acc.pagecache_added_folios += e.pagecache_added_folios;
    acc.copy_to_user_bytes += e.copy_to_user_bytes;
    acc.copy_from_user_bytes += e.copy_from_user_bytes;
    acc.copy_kernel_bytes += e.copy_kernel_bytes;
    acc.copy_calls += e.copy_calls;
}

/// `acc += s`, field by field.
pub fn add_proc_stats(acc: &mut ProcStats, s: &ProcStats) {
    acc.syscalls += s.syscalls;
    acc.faults_user += s.faults_user;
    acc.faults_kernel += s.faults_kernel;
    acc.faults_total += s.faults_total;
    acc.faults_minor += s.faults_minor;
    acc.faults_major += s.faults_major;
    acc.switches_voluntary += s.switches_voluntary;
    acc.switches_involuntary += s.switches_involuntary;
}

/// `acc += s`, field by field.
pub fn add_syscall_stats(acc: &mut SyscallStats, s: &SyscallStats) {
    acc.calls += s.calls;
    acc.bytes += s.bytes;
    acc.errors += s.errors;
}

impl ProcessSummary {
    /// The figures of one process.
    pub fn from_raw(pid: u32, p: &RawProcess, coverage: Coverage) -> Self {
        Self {
            pid,
            comm: p.comm.clone(),
            syscalls_total: coverage.syscalls.then_some(p.stats.syscalls),
            syscalls: p
                .syscalls
                .iter()
                .filter(|(_, s)| s.calls > 0)
                .filter_map(|(slot, s)| figures(*slot, s))
                .collect(),
            faults: faults_of(&p.stats, coverage),
            switches: switches_of(&p.stats, coverage),
            data: DataMovement::from_raw(&p.evidence, coverage),
        }
    }
}

impl Summary {
    /// Builds the summary from the kernel counters and what is known of the run.
    pub fn build(
        target: Target,
        wall_s: f64,
        raw: &RawCounters,
        coverage: Coverage,
        kernel_accounting: Option<KernelAccounting>,
        warnings: Vec<String>,
    ) -> Self {
        let (stats, evidence, per_slot) = total(raw);
        let all_flows = raw.flows();
        let copies = if coverage.fd_kinds { crate::analysis::copies::flows(&all_flows) } else { Vec::new() };
        let copies_by_kind = crate::analysis::copies::totals(&copies);
        let mmap_slot = syscalls::TRACKED.iter().position(|t| t.name == "mmap").map(|i| i as u32);
        let mmap_calls = mmap_slot.and_then(|slot| per_slot.get(&slot)).map_or(0, |s| s.calls);
        let flows = crate::analysis::advice::flows(&copies, mmap_calls);
        let mut all: BTreeMap<String, SyscallFigures> =
            (0u32..).zip(syscalls::TRACKED).filter_map(|(slot, _)| figures(slot, &SyscallStats::default())).collect();
        all.extend(per_slot.iter().filter_map(|(slot, s)| figures(*slot, s)));
        let syscalls_total = coverage.syscalls.then_some(stats.syscalls);
        let processes = raw.processes.iter().map(|(pid, p)| ProcessSummary::from_raw(*pid, p, coverage)).collect();
        Self {
            schema: SCHEMA.to_owned(),
            target,
            wall_s,
            syscalls: if coverage.syscalls { all } else { BTreeMap::new() },
            syscalls_total,
            mode_transitions: syscalls_total.map(|n| 2 * n),
            faults: faults_of(&stats, coverage),
            switches: switches_of(&stats, coverage),
            data: DataMovement::from_raw(&evidence, coverage),
            net_transmit: raw.net.clone().filter(|_| coverage.net_device),
            copies,
            copies_by_kind,
            processes,
            kernel_accounting,
            sources: sources(coverage),
            drops: raw.drops.clone(),
            missed_events: raw.missed.clone(),
            warnings,
            flows,
            timeline: Vec::new(),
            kernel: String::new(),
            machine: String::new(),
            tracer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_raw() -> RawCounters {
        let mut raw = RawCounters::default();
        let read_slot = 0; // syscalls::TRACKED[0] is read
        let mmap_slot = syscalls::TRACKED.iter().position(|s| s.name == "mmap").unwrap() as u32;
        let mut p = RawProcess {
            comm: Some("dd".into()),
            stats: ProcStats {
                syscalls: 10,
                faults_user: 3,
                faults_kernel: 1,
                faults_total: 4,
                faults_minor: 4,
                switches_voluntary: 2,
                switches_involuntary: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        p.syscalls.insert(read_slot, SyscallStats { calls: 5, bytes: 500, errors: 1 });
        p.syscalls.insert(mmap_slot, SyscallStats { calls: 1, bytes: 4096, errors: 0 });
        raw.processes.insert(100, p.clone());
        raw.processes.insert(101, p);
        raw.drops.insert("inflight_full".into(), 0);
        raw
    }

    pub(crate) fn sample_target() -> Target {
        Target {
            mode: "command".into(),
            command: Some(vec!["dd".into(), "count=5".into()]),
            pid: 100,
            exit_code: Some(0),
            exit_signal: None,
            ended_by: "exited".into(),
            ..Default::default()
        }
    }

    #[test]
    fn totals_add_up_over_processes() {
        let s = Summary::build(sample_target(), 1.5, &sample_raw(), Coverage::FULL, None, vec![]);
        assert_eq!(s.syscalls_total, Some(20));
        assert_eq!(s.mode_transitions, Some(40));
        assert_eq!(s.syscalls["read"], SyscallFigures { calls: 10, bytes: Some(1000), errors: 2 });
        assert_eq!(s.syscalls["mmap"].bytes, Some(8192));
        assert_eq!(s.syscalls["write"], SyscallFigures { calls: 0, bytes: Some(0), errors: 0 });
        assert_eq!(s.syscalls["sendmmsg"].bytes, None);
        assert_eq!(s.syscalls.len(), syscalls::TRACKED.len());
        assert_eq!(s.faults, Faults { total: Some(8), user: Some(6), kernel: Some(2), minor: Some(8), major: Some(0) });
        assert_eq!(s.switches, Switches { voluntary: Some(4), involuntary: Some(2) });
        assert_eq!(s.processes.len(), 2);
        assert_eq!(s.processes[0].syscalls.len(), 2, "per process: only what it called");
    }

    #[test]
    fn missing_sources_give_null_and_say_why() {
        let coverage = Coverage { faults_by_mode: false, ..Coverage::FULL };
        let s = Summary::build(sample_target(), 1.0, &sample_raw(), coverage, None, vec![]);
        assert_eq!(s.faults.user, None);
        assert_eq!(s.faults.kernel, None);
        assert_eq!(s.faults.total, Some(8));
        assert!(s.sources["faults.user"].starts_with("unavailable:"));
        assert!(s.sources["mode_transitions"].starts_with("inferred:"));
        assert!(s.sources["faults.total"].starts_with("measured:"));
    }
}
