//! Where each figure of a bench run comes from, by JSON field path (a
//! trace's come from the probe table: `plan::sources`).

use std::collections::BTreeMap;

use crate::model::Coverage;

/// Provenance of the bench figures; `coverage` says which probes were used.
pub fn bench(coverage: Coverage) -> BTreeMap<String, String> {
    let net = format!(
        "measured: {}, machine-wide from go to the workers' stop; loopback does no DMA",
        super::plan::label(super::table::Group::NetDevice, coverage)
    );
    [
        ("throughput_mib_s", "measured: file size / (last byte - sender's go), CLOCK_MONOTONIC in the workers"),
        ("syscalls", "measured: tracepoints raw_syscalls:sys_enter + sys_exit, per worker process, in the window from go to the worker's SIGSTOP; the one kill(2) that stops it is not counted"),
        ("mode_transitions_per_chunk", "inferred: 2 per syscall"),
        ("faults", "measured: perf software events page-faults / minor-faults / major-faults, per worker process"),
        ("switches", "measured: tracepoint sched:sched_switch, per worker process"),
        ("faults_own_counters", "the kernel's own per-process counters (/proc/PID/stat minflt + majflt) over the same window; they include faults taken by get_user_pages, which raise no exception and no perf event"),
        ("user_s, sys_s", "measured: getrusage(RUSAGE_SELF) of each worker, before go and after the window"),
        ("resident_before", "measured: mincore(2) on the source file right before go"),
        ("data.recv_copy_bytes", "measured: tracepoint skb:skb_copy_datagram_iovec in the worker's context (CPU copy kernel -> user)"),
        ("data.block_read_bytes, data.block_write_bytes", "measured: tracepoint block:block_bio_queue in the worker's context (device DMA)"),
        ("data.pagecache_added_bytes", "measured: tracepoint filemap:mm_filemap_add_to_page_cache in the worker's context"),
        ("net_transmit", net.as_str()),
        ("zerocopy", "reported by the kernel: MSG_ZEROCOPY error-queue completions / io_uring SEND_ZC notifications"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
