//! The path of the data through the kernel in one measured run, step by
//! step, each with its bytes, how they are known, and the evidence.

use crate::{
    analysis::claims::sender_copies,
    model::{CaseResult, DeviceKind, How, RunResult, SinkKind, Step},
};

fn step(what: impl Into<String>, bytes: Option<u64>, how: How, evidence: impl Into<String>) -> Step {
    Step { what: what.into(), bytes, how, evidence: evidence.into() }
}

/// The steps of `run` of `case`.
pub fn steps(case: &CaseResult, run: &RunResult) -> Vec<Step> {
    let mut out = Vec::new();
    for part in [source_steps, sender_steps, transmit_steps, receiver_steps, check_steps] {
        part(case, run, &mut out);
    }
    out
}

/// Where the sender's data came from: the device and the page cache.
fn source_steps(_case: &CaseResult, run: &RunResult, out: &mut Vec<Step>) {
    let s = &run.sender;
    let block = s.data.block_read_bytes.unwrap_or(0);
    out.push(step(
        "disk -> page cache (device DMA)",
        s.data.block_read_bytes,
        How::Measured,
        format!(
            "block:block_bio_queue in the sender; {:.1}% of the file was cached before the run (mincore)",
            100.0 * run.resident_before
        ),
    ));
    if let Some(added) = s.data.pagecache_added_bytes.filter(|b| *b > 0 || block > 0) {
        out.push(step(
            "folios added to the page cache",
            Some(added),
            How::Measured,
            "filemap:mm_filemap_add_to_page_cache in the sender",
        ));
    }
}

/// What the sender did: its syscalls, its CPU copies, its zero-copy sends.
fn sender_steps(case: &CaseResult, run: &RunResult, out: &mut Vec<Step>) {
    let s = &run.sender;
    let calls: Vec<String> = s.syscalls.iter().map(|(n, f)| format!("{} x {n}", f.calls)).collect();
    out.push(step(
        format!("sender syscalls: {}", calls.join(", ")),
        Some(s.bytes),
        How::Measured,
        format!("tracepoints raw_syscalls in the sender; {} syscalls in all", s.syscalls_total.unwrap_or(0)),
    ));
    let model = sender_copies(case.strategy, case.sink, s, case.chunk as f64, case.chunks_per_run as f64);
    let copied = model.cpu_copies.value.map(|v| (v * case.chunk as f64 * case.chunks_per_run as f64).round() as u64);
    let per_chunk = model.cpu_copies.value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"));
    out.push(step(
        format!("CPU copies in the sender ({per_chunk} per chunk): {}", model.reason),
        copied,
        model.cpu_copies.how,
        model.cpu_copies.from,
    ));
    if let Some(zc) = s.zerocopy {
        out.push(step(
            format!("zero-copy sends: {zc}"),
            Some(zc.copied_bytes),
            How::Reported,
            crate::model::ZeroCopyStats::SOURCE,
        ));
        if let Some(copied) = s.data.zero_copy_copied_bytes {
            out.push(step(
                format!(
                    "the kernel copying those pinned pages, seen by the probes ({} bytes the socket retransmitted are copied again: TCP_INFO)",
                    zc.retransmitted_bytes
                ),
                Some(copied),
                How::Measured,
                crate::probes::table::probe(crate::probes::table::Group::ZeroCopyFate).ways[0].label,
            ));
        }
    }
}

/// The devices that transmitted during the run.
fn transmit_steps(case: &CaseResult, run: &RunResult, out: &mut Vec<Step>) {
    if let Some(n) = &run.net_transmit
        && (case.sink.is_socket() || !n.devices.is_empty())
    {
        for d in &n.devices {
            let what = match d.kind {
                DeviceKind::Loopback => {
                    format!("{} \"transmit\" (loopback, no DMA: the packet is handed to the receive path)", d.name)
                }
                DeviceKind::Hardware => format!("{} transmit (hardware device: DMA to the wire)", d.name),
                DeviceKind::Virtual | DeviceKind::Gone => format!("{} transmit ({})", d.name, d.kind.name()),
            };
            out.push(step(
                what,
                Some(d.bytes),
                How::Measured,
                format!("net_dev_xmit, machine-wide during the run, {} packets; headers included", d.packets),
            ));
        }
    }
}

/// How the data reached the receiver (or the sink file).
fn receiver_steps(case: &CaseResult, run: &RunResult, out: &mut Vec<Step>) {
    let s = &run.sender;
    match (&run.receiver, case.sink) {
        (Some(r), SinkKind::Tcp | SinkKind::Unix) => out.push(step(
            "socket buffers -> receiver memory (CPU copy, kernel -> user)",
            r.data.recv_copy_bytes,
            How::Measured,
            "skb:skb_copy_datagram_iovec in the receiver",
        )),
        (Some(r), _) => out.push(step(
            "pipe -> receiver memory (CPU copy, kernel -> user)",
            Some(r.bytes),
            How::Inferred,
            "read(2) from a pipe copies (no tracepoint marks it); bytes from raw_syscalls",
        )),
        (None, SinkKind::File) => out.push(step(
            "written to the sink file's page cache",
            Some(s.bytes),
            How::Inferred,
            "the file sink keeps its own copy; written back to disk later by the kernel (not counted)",
        )),
        (None, _) => {}
    }
}

/// The fault counters against each other, and events the programs missed.
fn check_steps(_case: &CaseResult, run: &RunResult, out: &mut Vec<Step>) {
    let s = &run.sender;
    if let (Some(minor), Some(major), Some(own)) = (s.faults.minor, s.faults.major, s.faults_own_counters) {
        let seen = minor + major;
        let what = if own == seen {
            format!("page faults in the sender: {seen}, the same as its own counters")
        } else {
            format!(
                "page faults in the sender: perf events {seen}, its own counters {own}: {} {} no exception or perf event shows \
                 (faults taken by get_user_pages, e.g. MAP_POPULATE or pinning pages)",
                own.abs_diff(seen),
                if own > seen { "more that" } else { "fewer: counters" }
            )
        };
        out.push(step(
            what,
            None,
            How::Measured,
            "perf minor-faults + major-faults, and /proc/PID/stat of the sender over the same window",
        ));
    }
    if !run.missed_events.is_empty() {
        out.push(step(
            format!("events zcopy's programs missed (another BPF program was running): {:?}", run.missed_events),
            None,
            How::Measured,
            "bpf_prog_info.recursion_misses",
        ));
    }
}
