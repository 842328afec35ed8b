//! The result of a trace: one serde structure that feeds the terminal table
//! and every exporter. The JSON schema is documented in docs/json-schema.md;
//! change `SCHEMA` when a field changes meaning or goes away.

use std::collections::BTreeMap;

use zcopy_common::{Evidence, ProcStats, SyscallStats, fd_kind};

use crate::{
    analysis::copies,
    model::{
        CopiedAnyway, CopiedWhy, CopyFlow, Coverage, DataMovement, Faults, How, KernelAccounting, ProcessSummary,
        RawCounters, RawProcess, Sample, Summary, Switches, SyscallFigures, Target,
        raw::{add_evidence, add_proc_stats, add_syscall_stats},
        trace::SCHEMA,
    },
    syscalls::{self, Bytes},
};

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
            zero_copy_copied_bytes: c
                .zero_copy_fate
                .then(|| e.zc_copied_received_bytes.saturating_add(e.zc_copied_no_sg_bytes)),
        }
    }
}

/// What the probes saw become of zero-copy sends (`None`: not watched).
fn copied_anyway(e: &Evidence, c: Coverage) -> Option<Vec<CopiedAnyway>> {
    c.zero_copy_fate.then(|| {
        vec![
            CopiedAnyway { why: CopiedWhy::ReceivedLocally, bytes: e.zc_copied_received_bytes, how: How::Measured },
            CopiedAnyway { why: CopiedWhy::NoScatterGather, bytes: e.zc_copied_no_sg_bytes, how: How::Measured },
        ]
    })
}

/// The classified copies of `flows`, with the zero-copy sends the probes
/// saw copied anyway split off as CPU copies (measured); empty without fd kinds.
fn classified(flows: &BTreeMap<(u32, u8, u8), SyscallStats>, e: &Evidence, c: Coverage) -> Vec<CopyFlow> {
    if !c.fd_kinds {
        return Vec::new();
    }
    let mut out = copies::flows(flows);
    if let Some(copied) = copied_anyway(e, c) {
        let bytes = copied.iter().map(|c| c.bytes).sum();
        let source = crate::probes::table::probe(crate::probes::table::Group::ZeroCopyFate).ways[0].label;
        copies::split_zero_copy(&mut out, None, bytes, How::Measured, source);
    }
    out
}

impl Sample {
    /// The totals in `raw` at `t_s`.
    pub fn of(raw: &RawCounters, t_s: f64, coverage: Coverage) -> Self {
        use crate::model::{CopyKind, Endpoint};
        let (stats, evidence, _) = total(raw);
        let all_flows = raw.flows();
        let flows = classified(&all_flows, &evidence, coverage);
        let kinds = copies::totals(&flows);
        let kind = |k: CopyKind| kinds.get(&k).copied().unwrap_or(0);
        let to = |what: Endpoint| flows.iter().filter(|f| f.to.base() == what).map(|f| f.bytes).sum::<u64>();
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
            cpu_copied_bytes: kinds.iter().filter(|(k, _)| k.is_cpu_copy()).map(|(_, b)| b).sum(),
            by_reference_bytes: kind(CopyKind::ByReference),
            zero_copy_bytes: kind(CopyKind::ZeroCopySend),
            faults: stats.faults_total,
            switches: stats.switches_voluntary + stats.switches_involuntary,
            to_socket_bytes: to(Endpoint::Socket),
            to_file_bytes: to(Endpoint::File),
            to_char_device_bytes: to(Endpoint::CharDevice),
            calls,
        }
    }
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
            zero_copy: copies::ledger(
                &classified(&p.flows, &p.evidence, coverage),
                copied_anyway(&p.evidence, coverage),
            ),
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
        warnings: Vec<crate::model::Warning>,
    ) -> Self {
        let (stats, evidence, per_slot) = total(raw);
        let all_flows = raw.flows();
        let copies = classified(&all_flows, &evidence, coverage);
        let copies_by_kind = copies::totals(&copies);
        let zero_copy = copies::ledger(&copies, copied_anyway(&evidence, coverage));
        // Maps of regular files (an anonymous mapping has no fd: its kind is unknown).
        let mmap_slot = syscalls::TRACKED.iter().position(|t| t.name == "mmap").map(|i| i as u32);
        let mmap_calls: u64 = all_flows
            .iter()
            .filter(|((slot, src, _), _)| {
                Some(*slot) == mmap_slot && matches!(*src, fd_kind::REGULAR | fd_kind::REGULAR_DIRECT)
            })
            .map(|(_, s)| s.calls)
            .sum();
        let passed_on = copies::passed_on(&all_flows);
        let flows = crate::analysis::advice::flows(&copies, mmap_calls, &passed_on);
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
            zero_copy,
            processes,
            kernel_accounting,
            sources: crate::probes::plan::sources(coverage),
            coverage: Some(coverage),
            drops: raw.drops.clone(),
            missed_events: raw.missed.clone(),
            warnings,
            flows,
            timeline: Vec::new(),
            kernel: String::new(),
            machine: String::new(),
            tracer: None,
            profile: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
            mode: crate::model::TargetMode::Command,
            command: Some(vec!["dd".into(), "count=5".into()]),
            pid: Some(100),
            exit_code: Some(0),
            exit_signal: None,
            ended_by: crate::model::EndedBy::Exited,
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
