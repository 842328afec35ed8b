//! What the kernel maps held at one moment, summed over CPUs: the producer
//! side's output (`bpf` reads it), before any figure is derived from it.

use std::collections::BTreeMap;

use zcopy_common::{Evidence, ProcStats, SyscallStats};

use super::NetTransmit;

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
    /// cpu-clock samples per kernel stack (return addresses, innermost
    /// first; empty: the CPU was in user mode).
    pub stacks: BTreeMap<Vec<u64>, u64>,
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
    acc.zc_copied_received_bytes += e.zc_copied_received_bytes;
    acc.zc_copied_no_sg_bytes += e.zc_copied_no_sg_bytes;
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
