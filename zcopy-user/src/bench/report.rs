//! The result of a comparison: one structure that feeds the terminal table
//! and every exporter (JSON, CSV, Markdown).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    bench::{
        plan::{BenchOptions, CacheState},
        stats::Stats,
    },
    summary::{DataMovement, Faults, NetTransmit, Switches, SyscallFigures},
    workload::{
        strategies::ZeroCopyStats,
        strategy::{SinkKind, Strategy},
    },
};

/// Name and version of the JSON schema.
pub const SCHEMA: &str = "zcopy.bench/1";

/// One side (sender or receiver) of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRun {
    pub pid: u32,
    /// Syscalls made in the measured window (those with calls only).
    pub syscalls: BTreeMap<String, SyscallFigures>,
    /// Every syscall entry in the window, less the one kill(2) that ends it.
    pub syscalls_total: Option<u64>,
    pub faults: Faults,
    pub switches: Switches,
    /// Where the data went (receive copies, device I/O, page cache).
    pub data: DataMovement,
    /// What the worker's syscalls did with their bytes (inferred from the
    /// fd kinds the kernel resolved), by flow; empty without kernel BTF.
    #[serde(default)]
    pub copies: Vec<crate::analysis::copies::CopyFlow>,
    /// The worker's own fault counters over the window (/proc/PID/stat
    /// minflt + majflt, read while it waits for go and while it is stopped),
    /// beside `faults` (perf events) for reconciliation.
    #[serde(default)]
    pub faults_own_counters: Option<u64>,
    /// CPU time in the window (getrusage of the worker).
    pub user_s: f64,
    pub sys_s: f64,
    /// Bytes the worker says it moved.
    pub bytes: u64,
    pub zerocopy: Option<ZeroCopyStats>,
}

/// One measured run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// From the sender's go to the last byte (sender or receiver), CLOCK_MONOTONIC.
    pub wall_s: f64,
    pub throughput_mib_s: f64,
    /// Fraction of the source's pages in the page cache right before the run (mincore).
    pub resident_before: f64,
    pub sender: SideRun,
    pub receiver: Option<SideRun>,
    /// Machine-wide device transmits from go to the workers' stop.
    pub net_transmit: Option<NetTransmit>,
    /// Events zcopy's programs missed during the run (another BPF program
    /// was running on the CPU), by program; only programs that missed some.
    pub missed_events: BTreeMap<String, u64>,
    /// Whether the data arrived intact (bytes, and CRC-32 with --verify).
    pub verified: String,
}

/// Means over the runs of one side, and per-chunk / per-MiB rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideSummary {
    /// Mean calls per run, per syscall.
    pub calls: BTreeMap<String, f64>,
    pub syscalls_per_run: Option<f64>,
    pub syscalls_per_chunk: Option<f64>,
    pub syscalls_per_mib: Option<f64>,
    /// Inferred: 2 per syscall.
    pub mode_transitions_per_chunk: Option<f64>,
    pub faults_per_run: Option<f64>,
    pub faults_minor_per_run: Option<f64>,
    pub faults_major_per_run: Option<f64>,
    pub switches_voluntary_per_run: Option<f64>,
    pub switches_involuntary_per_run: Option<f64>,
    /// Means per run of the data-movement figures.
    pub recv_copy_bytes_per_run: Option<f64>,
    pub block_read_bytes_per_run: Option<f64>,
    pub block_write_bytes_per_run: Option<f64>,
    pub pagecache_added_bytes_per_run: Option<f64>,
    pub user_s: Stats,
    pub sys_s: Stats,
    pub zerocopy: Option<ZeroCopyStats>,
}

/// Status of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Not run: the sink or kernel does not support it (see reason).
    Skipped,
    /// Started and failed (see reason).
    Failed,
}

/// One strategy x chunk x cache combination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub strategy: Strategy,
    pub description: String,
    pub sink: SinkKind,
    pub chunk: u64,
    pub cache: CacheState,
    pub status: Status,
    pub reason: Option<String>,
    pub chunks_per_run: u64,
    pub throughput_mib_s: Option<Stats>,
    pub wall_s: Option<Stats>,
    pub sender: Option<SideSummary>,
    pub receiver: Option<SideSummary>,
    pub runs: Vec<RunResult>,
    /// The literature's claims about this strategy against this case.
    #[serde(default)]
    pub claims: Vec<crate::analysis::claims::Comparison>,
}

impl CaseResult {
    /// A case with no runs yet (or none at all, when skipped or failed).
    pub fn empty(
        strategy: Strategy,
        sink: SinkKind,
        chunk: u64,
        cache: CacheState,
        size: u64,
        status: Status,
        reason: Option<String>,
    ) -> Self {
        Self {
            strategy,
            description: strategy.describe().to_owned(),
            sink,
            chunk,
            cache,
            status,
            reason,
            chunks_per_run: size.div_ceil(chunk.max(1)),
            throughput_mib_s: None,
            wall_s: None,
            sender: None,
            receiver: None,
            runs: Vec::new(),
            claims: Vec::new(),
        }
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub schema: String,
    pub kernel: String,
    /// CPUs and memory of the machine it ran on.
    #[serde(default)]
    pub machine: String,
    /// When it ran (UTC).
    #[serde(default)]
    pub created: String,
    /// The zcopy command line that produced it.
    #[serde(default)]
    pub command: String,
    pub options: BenchOptions,
    pub cases: Vec<CaseResult>,
    /// Where each kind of figure comes from.
    pub sources: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Option<Vec<f64>> = values.collect();
    v.and_then(|v| Stats::of(&v)).map(|s| s.mean)
}

impl SideSummary {
    /// Summarises one side over `runs`; `chunks` is the chunk count per run.
    pub fn of(sides: &[&SideRun], chunks: u64, size: u64) -> Option<Self> {
        if sides.is_empty() {
            return None;
        }
        let n = sides.len() as f64;
        let mut calls: BTreeMap<String, f64> = BTreeMap::new();
        for side in sides {
            for (name, f) in &side.syscalls {
                *calls.entry(name.clone()).or_default() += f.calls as f64 / n;
            }
        }
        let per_run = mean_of(sides.iter().map(|s| s.syscalls_total.map(|v| v as f64)));
        let mib = size as f64 / f64::from(1 << 20);
        let field = |get: &dyn Fn(&SideRun) -> Option<u64>| mean_of(sides.iter().map(|s| get(s).map(|v| v as f64)));
        let zerocopy = sides.iter().filter_map(|s| s.zerocopy).reduce(|a, b| ZeroCopyStats {
            sends: a.sends + b.sends,
            completions: a.completions + b.completions,
            copied: a.copied + b.copied,
        });
        Some(Self {
            calls,
            syscalls_per_run: per_run,
            syscalls_per_chunk: per_run.map(|v| v / chunks.max(1) as f64),
            syscalls_per_mib: per_run.map(|v| v / mib),
            mode_transitions_per_chunk: per_run.map(|v| 2.0 * v / chunks.max(1) as f64),
            faults_per_run: field(&|s| s.faults.total),
            faults_minor_per_run: field(&|s| s.faults.minor),
            faults_major_per_run: field(&|s| s.faults.major),
            switches_voluntary_per_run: field(&|s| s.switches.voluntary),
            switches_involuntary_per_run: field(&|s| s.switches.involuntary),
            recv_copy_bytes_per_run: field(&|s| s.data.recv_copy_bytes),
            block_read_bytes_per_run: field(&|s| s.data.block_read_bytes),
            block_write_bytes_per_run: field(&|s| s.data.block_write_bytes),
            pagecache_added_bytes_per_run: field(&|s| s.data.pagecache_added_bytes),
            user_s: Stats::of(&sides.iter().map(|s| s.user_s).collect::<Vec<_>>())?,
            sys_s: Stats::of(&sides.iter().map(|s| s.sys_s).collect::<Vec<_>>())?,
            zerocopy,
        })
    }
}

/// Provenance of the bench figures; `coverage` says which probes were used.
pub fn sources(coverage: crate::summary::Coverage) -> BTreeMap<String, String> {
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

/// hyperfine-style warnings that give advice.
pub fn warnings(case: &CaseResult) -> Vec<String> {
    let mut out = Vec::new();
    let label = format!(
        "{} ({} chunks, {} cache)",
        case.strategy,
        crate::bench::plan::format_size(case.chunk),
        case.cache.name()
    );
    if let Some(t) = &case.throughput_mib_s
        && case.runs.len() > 1
        && t.relative_stddev() > 0.10
    {
        out.push(format!(
            "{label}: throughput varies by {:.0}% between runs; close other programs, or use more --runs",
            100.0 * t.relative_stddev()
        ));
    }
    let mut missed: BTreeMap<&str, u64> = BTreeMap::new();
    for run in &case.runs {
        for (program, n) in &run.missed_events {
            *missed.entry(program).or_default() += n;
        }
    }
    if !missed.is_empty() {
        let list: Vec<String> = missed.iter().map(|(p, n)| format!("{p} {n}")).collect();
        out.push(format!(
            "{label}: zcopy's programs missed events while another BPF program ran on the CPU ({} over {} runs); the figures they feed are low by that much",
            list.join(", "),
            case.runs.len()
        ));
    }
    for (i, run) in case.runs.iter().enumerate() {
        let pct = 100.0 * run.resident_before;
        match case.cache {
            CacheState::Warm if run.resident_before < 0.999 => out.push(format!(
                "{label} run {}: only {pct:.1}% of the file was in the page cache (asked for warm): the kernel reclaimed some of it; those reads went to the device",
                i + 1
            )),
            CacheState::Cold if run.resident_before > 0.001 => out.push(format!(
                "{label} run {}: {pct:.1}% of the file was still in the page cache (asked for cold)",
                i + 1
            )),
            _ => {}
        }
    }
    out
}
