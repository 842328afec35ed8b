//! The result of a trace: one serde structure that feeds the terminal table
//! and every exporter. The JSON schema is documented in docs/json-schema.md;
//! change `SCHEMA` when a field changes meaning or goes away.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CopyFlow, CopyKind, Flow, Warning};

/// Name and version of the JSON schema.
pub const SCHEMA: &str = "zcopy.trace/1";

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
    /// Bytes of the process's zero-copy sends the kernel copied anyway: its
    /// zero-copy skbs received by this host's stack, or given to a device
    /// without scatter-gather (`null` where those probes did not attach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_copy_copied_bytes: Option<u64>,
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
    /// As a metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Hardware => "hardware",
            Self::Virtual => "virtual",
            Self::Gone => "gone",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback, no DMA",
            Self::Hardware => "hardware, DMA",
            Self::Virtual => "virtual, no DMA",
            Self::Gone => "removed during the run",
        }
    }
}

/// How the traced processes were chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetMode {
    /// zcopy started the command.
    #[default]
    #[serde(rename = "command")]
    Command,
    /// zcopy attached to running processes (`--pid`, `--comm`, `--cgroup`).
    #[serde(rename = "pid")]
    Attach,
}

/// Why a trace ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The command, or every `--pid` given, exited.
    #[default]
    Exited,
    /// `--duration` elapsed.
    Duration,
    /// Ctrl-C (SIGINT).
    Interrupted,
}

impl EndedBy {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Exited => "exited",
            Self::Duration => "traced for the requested duration",
            Self::Interrupted => "trace interrupted (Ctrl-C)",
        }
    }
}

/// What was traced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub mode: TargetMode,
    /// The command line, in command mode.
    pub command: Option<Vec<String>>,
    /// The command's PID, or the first `--pid`; `null` when only `--comm` or `--cgroup` chose the processes.
    pub pid: Option<u32>,
    /// Exit status of the command (command mode), if it exited normally.
    pub exit_code: Option<i32>,
    /// Signal that ended the command, if one did.
    pub exit_signal: Option<i32>,
    pub ended_by: EndedBy,
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

impl Target {
    /// What was traced, for people: the command, or the PIDs, names and cgroup attached to.
    pub fn describe(&self) -> String {
        if let Some(argv) = &self.command {
            return match self.pid {
                Some(pid) => format!("`{}` (pid {pid})", argv.join(" ")),
                None => format!("`{}`", argv.join(" ")),
            };
        }
        let mut what: Vec<String> = self.pids.iter().map(|p| format!("pid {p}")).collect();
        what.extend(self.comms.iter().map(|c| format!("every `{c}`")));
        what.extend(self.cgroup.iter().map(|c| format!("cgroup {c}")));
        if what.is_empty() {
            what.extend(self.pid.map(|p| format!("pid {p}")));
        }
        what.join(", ")
    }
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
    /// Bytes this process asked to move without a CPU copy, and what became of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_copy: Option<super::ZeroCopyLedger>,
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
    pub copies: Vec<CopyFlow>,
    /// Bytes per copy kind (inferred).
    #[serde(default)]
    pub copies_by_kind: BTreeMap<CopyKind, u64>,
    /// Bytes asked to move without a CPU copy (zero-copy sends, sendfile,
    /// splice), and what became of them, over every traced process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_copy: Option<super::ZeroCopyLedger>,
    pub processes: Vec<ProcessSummary>,
    pub kernel_accounting: Option<KernelAccounting>,
    /// Where each figure comes from, by field path.
    pub sources: BTreeMap<String, String>,
    /// Which probes attached (and how): the terminal's source column derives from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<super::Coverage>,
    /// Events the kernel side could not count, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Events each program missed because another BPF program was running on
    /// that CPU (kernel recursion-miss counters), by program.
    pub missed_events: BTreeMap<String, u64>,
    pub warnings: Vec<Warning>,
    /// Traffic by source and sink kind, the strategy used for each, and what
    /// another would save (inferred from `copies`).
    #[serde(default)]
    pub flows: Vec<Flow>,
    /// Cumulative totals sampled during the trace (rates are the differences).
    #[serde(default)]
    pub timeline: Vec<Sample>,
    /// What the tracing cost zcopy itself.
    #[serde(default)]
    pub tracer: Option<TracerCost>,
    /// Where the kernel's CPU time went (sampled); None where sampling was off or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<super::profile::Profile>,
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
    /// Bytes written to character devices (e.g. /dev/null), from fd kinds.
    #[serde(default)]
    pub to_char_device_bytes: u64,
    /// Calls per tracked syscall (for the interval lines; not saved).
    #[serde(skip)]
    pub calls: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attached_target_names_what_was_given_never_pid_0() {
        let comm = Target { mode: TargetMode::Attach, comms: vec!["nginx".into()], ..Target::default() };
        assert_eq!(comm.describe(), "every `nginx`");
        let cgroup = Target { mode: TargetMode::Attach, cgroup: Some("/sys/fs/cgroup/x".into()), ..Target::default() };
        assert_eq!(cgroup.describe(), "cgroup /sys/fs/cgroup/x");
        let both = Target { pid: Some(7), pids: vec![7, 9], comms: vec!["a".into()], ..comm.clone() };
        assert_eq!(both.describe(), "pid 7, pid 9, every `a`");
        let json = serde_json::to_value(&comm).unwrap();
        assert_eq!((json["mode"].as_str(), json["pid"].is_null()), (Some("pid"), true));
    }
}
