//! Where each figure comes from, by JSON field path, given what attached.

use std::collections::BTreeMap;

use crate::model::{CopyProbes, Coverage};

/// Provenance of each figure of a trace, by JSON field path.
pub fn trace(coverage: Coverage) -> BTreeMap<String, String> {
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

/// Provenance of the bench figures; `coverage` says which probes were used.
pub fn bench(coverage: Coverage) -> BTreeMap<String, String> {
    let xmit = if coverage.net_device_raw { "raw tracepoint net_dev_xmit" } else { "tracepoint net:net_dev_xmit" };
    let net = format!("measured: {xmit}, machine-wide from go to the workers' stop; loopback does no DMA");
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
