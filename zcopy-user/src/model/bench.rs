//! The result of a comparison: one structure that feeds the terminal table
//! and every exporter (JSON, CSV, Markdown).

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    Comparison, CopyFlow, DataMovement, Faults, NetTransmit, SinkKind, Stats, Strategy, Switches, SyscallFigures,
    Warning, ZeroCopyStats,
};

/// Page-cache state before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheState {
    /// The whole file is in the page cache (read through first, checked with mincore).
    Warm,
    /// None of it is (posix_fadvise DONTNEED after fsync, checked with mincore).
    Cold,
}

impl CacheState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warm => "warm",
            Self::Cold => "cold",
        }
    }

    /// Parses `warm`, `cold` or `both`.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        match text {
            "warm" => Ok(vec![Self::Warm]),
            "cold" => Ok(vec![Self::Cold]),
            "both" => Ok(vec![Self::Warm, Self::Cold]),
            other => Err(format!("unknown cache state `{other}`: use warm, cold or both")),
        }
    }
}

/// Validated options of `zcopy bench`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchOptions {
    pub strategies: Vec<Strategy>,
    pub sink: SinkKind,
    pub size: u64,
    pub chunks: Vec<u64>,
    pub caches: Vec<CacheState>,
    pub runs: u32,
    pub warmup: u32,
    /// Whether each traced run is paired with an untraced one.
    #[serde(default)]
    pub untraced: bool,
    pub verify: bool,
    pub dir: PathBuf,
    /// cpu-clock samples per second and CPU (0: off).
    #[serde(default)]
    pub sample_hz: u64,
}

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
    pub copies: Vec<CopyFlow>,
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
    /// The sender's CPU copies per chunk as the claims computed them when
    /// the run was made (the copy routines where they attach, else the
    /// rules); `null` for the receiver, and in results saved before it was
    /// kept. Reports draw this, never today's rules applied again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_copies_per_chunk: Option<super::Figure>,
    /// Where the worker's kernel time went (sampled; no collapsed stacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<super::profile::Profile>,
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
    /// CPU time by activity over every run, per MiB moved (sampled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_time: Option<KernelTime>,
}

/// A side's sampled CPU time by activity, over all its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelTime {
    /// Samples per second and CPU.
    pub hz: u64,
    /// Samples over all runs, and of those lost in the kernel.
    pub samples: u64,
    pub lost: u64,
    /// By activity, most first: samples, share with its 95% interval, and
    /// estimated CPU ms per MiB moved.
    pub activities: Vec<ActivityCost>,
    /// Estimated CPU ms per MiB in copies between user and kernel memory,
    /// with the 95% interval of their share turned into ms.
    pub copy_ms_per_mib: f64,
    pub copy_ms_per_mib_low: f64,
    pub copy_ms_per_mib_high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityCost {
    pub activity: super::profile::Activity,
    #[serde(flatten)]
    pub share: super::profile::Share,
    pub ms_per_mib: f64,
}

impl KernelTime {
    /// Adds up the runs' profiles; None if none was sampled or named.
    pub fn of(profiles: &[&super::profile::Profile], mib_per_run: f64) -> Option<Self> {
        use super::profile::{Share, Symbols};
        let first = profiles.first()?;
        if profiles.iter().any(|p| p.symbols != Symbols::Kallsyms) || first.hz == 0 {
            return None;
        }
        let samples: u64 = profiles.iter().map(|p| p.samples).sum();
        let lost = profiles.iter().map(|p| p.lost).sum();
        let mut by: BTreeMap<super::profile::Activity, u64> = BTreeMap::new();
        for p in profiles {
            for r in &p.activities {
                *by.entry(r.activity).or_default() += r.share.samples;
            }
        }
        let mib = mib_per_run * profiles.len() as f64;
        let ms_per_sample = 1000.0 / first.hz as f64;
        let ms_per_mib = |n: f64| if mib > 0.0 { n * ms_per_sample / mib } else { 0.0 };
        let mut activities: Vec<ActivityCost> = by
            .into_iter()
            .map(|(activity, n)| ActivityCost {
                activity,
                share: Share::of(n, samples),
                ms_per_mib: ms_per_mib(n as f64),
            })
            .collect();
        activities.sort_by_key(|a| std::cmp::Reverse(a.share.samples));
        let copies: u64 = activities.iter().filter(|a| a.activity.is_copy()).map(|a| a.share.samples).sum();
        let copy = Share::of(copies, samples);
        Some(Self {
            hz: first.hz,
            samples,
            lost,
            activities,
            copy_ms_per_mib: ms_per_mib(copies as f64),
            copy_ms_per_mib_low: ms_per_mib(copy.low * samples as f64),
            copy_ms_per_mib_high: ms_per_mib(copy.high * samples as f64),
        })
    }
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
    /// Of the traced runs (the runs below).
    pub throughput_mib_s: Option<Stats>,
    /// Of as many runs with zcopy's programs detached, alternating with the
    /// traced ones (none with --no-untraced).
    #[serde(default)]
    pub untraced_throughput_mib_s: Option<Stats>,
    pub wall_s: Option<Stats>,
    pub sender: Option<SideSummary>,
    pub receiver: Option<SideSummary>,
    pub runs: Vec<RunResult>,
    /// The literature's claims about this strategy against this case.
    #[serde(default)]
    pub claims: Vec<Comparison>,
}

impl CaseResult {
    /// What tracing cost the transfer: the share of the untraced median
    /// throughput the traced median lacks (negative: traced runs were
    /// faster, i.e. within the noise). Measured from the two medians.
    pub fn tracing_cost(&self) -> Option<f64> {
        let (traced, untraced) = (self.throughput_mib_s.as_ref()?, self.untraced_throughput_mib_s.as_ref()?);
        (untraced.median > 0.0).then(|| 1.0 - traced.median / untraced.median)
    }

    /// The sender's zero-copy accounting over all runs, as one line.
    pub fn zerocopy_note(&self) -> Option<String> {
        let zc = self.sender.as_ref()?.zerocopy?;
        Some(format!("{} (all {} runs): {zc}", self.strategy, self.runs.len()))
    }

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
            untraced_throughput_mib_s: None,
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
    pub warnings: Vec<Warning>,
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
        let zerocopy = sides.iter().filter_map(|s| s.zerocopy).reduce(ZeroCopyStats::plus);
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
            kernel_time: KernelTime::of(&sides.iter().filter_map(|s| s.profile.as_ref()).collect::<Vec<_>>(), mib),
        })
    }
}
