//! Where each figure of a bench run comes from, by JSON field path (a
//! trace's come from the probe table: `plan::sources`).

use std::collections::BTreeMap;

use super::{
    plan::{label, used_way},
    table::{Group, probe},
};
use crate::model::Coverage;

/// Provenance of the bench figures; `coverage` says which probes were used.
pub fn bench(coverage: Coverage) -> BTreeMap<String, String> {
    // "measured: <the probe that attached>, <what the bench adds>", or why not.
    let from = |group: Group, scope: &str| match used_way(probe(group), coverage) {
        Some(_) => format!("measured: {}, {scope}", label(group, coverage)),
        None => format!("unavailable: {}", label(group, coverage)),
    };
    let fixed = [
        ("throughput_mib_s", "measured: file size / (last byte - sender's go), CLOCK_MONOTONIC in the workers"),
        ("mode_transitions_per_chunk", "inferred: 2 per syscall"),
        (
            "faults_own_counters",
            "the kernel's own per-process counters (/proc/PID/stat minflt + majflt) over the same window; they include faults taken by get_user_pages, which raise no exception and no perf event",
        ),
        ("user_s, sys_s", "measured: getrusage(RUSAGE_SELF) of each worker, before go and after the window"),
        ("resident_before", "measured: mincore(2) on the source file right before go"),
    ];
    let probed = [
        (
            "syscalls",
            from(
                Group::Syscalls,
                "per worker process, in the window from go to the worker's SIGSTOP; the one kill(2) that stops it is not counted",
            ),
        ),
        ("faults", from(Group::FaultsPerf, "per worker process")),
        ("switches", from(Group::Switches, "per worker process")),
        ("data.recv_copy_bytes", from(Group::RecvCopy, "in the worker's context")),
        ("data.block_read_bytes, data.block_write_bytes", from(Group::BlockIo, "in the worker's context")),
        ("data.pagecache_added_bytes", from(Group::PageCache, "in the worker's context")),
        ("net_transmit", from(Group::NetDevice, "machine-wide from go to the workers' stop; loopback does no DMA")),
        ("data.copied_bytes", from(Group::CopyRoutines, "in the worker's context")),
        (
            "zerocopy, copies (zero_copy_copied)",
            format!(
                "reported: {}; each send's bytes are the count its call returned",
                crate::model::ZeroCopyStats::SOURCE
            ),
        ),
    ];
    fixed
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(probed.into_iter().map(|(k, v)| (k.to_owned(), v)))
        .collect()
}
