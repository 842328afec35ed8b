//! Command-line interface.

use std::{ffi::OsString, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::{
    export::Format,
    model::{BenchOptions, CacheState, SinkKind, Strategy, size::parse_size},
};

#[derive(Debug, Parser)]
#[command(
    name = "zcopy",
    version,
    about = "Measure what the kernel really does when a program moves data: syscalls, copies, page faults, context switches",
    after_help = "Needs root, or CAP_BPF + CAP_PERFMON. `zcopy doctor` shows what this kernel allows."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace a command (and its children) or a running process, and print what it did in the kernel.
    Trace(TraceArgs),
    /// Compare transfer strategies: the same file moved by each, in fresh traced processes.
    Bench(BenchArgs),
    /// Show the path of the data through the kernel for one strategy, from a fresh traced run.
    Explain(ExplainArgs),
    /// Show what this kernel and these privileges allow, and what zcopy does about what is missing.
    Doctor(DoctorArgs),
    /// Draw the report folder (charts, index.md, index.html) again from saved results; needs no privileges.
    Report(RenderArgs),
    /// Serve per-cgroup copy and zero-copy counters at /metrics for Prometheus, until stopped.
    Agent(AgentArgs),
    /// Classify the kernel stacks of a `perf script` (from `perf record -g -e cpu-clock`) by zcopy's activity table; needs no privileges.
    Activities(ActivitiesArgs),
    /// Internal: one sender or receiver of `zcopy bench` (SPEC is JSON).
    #[command(hide = true)]
    Worker { spec: String },
}

impl Cli {
    /// Sets up logging on stderr: `-v` info, `-vv` debug; `--bpf-log` lets
    /// the eBPF programs' aya-log records through; ZCOPY_LOG overrides.
    pub fn init_logging(&self) {
        let level = match self.verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            _ => log::LevelFilter::Debug,
        };
        let mut logger = env_logger::Builder::new();
        logger.filter_level(level);
        if matches!(&self.command, Command::Trace(t) if t.bpf_log) {
            // aya-log records carry the eBPF crate's module path (zcopy::...).
            logger.filter_module("zcopy", log::LevelFilter::Trace);
        }
        logger.parse_env("ZCOPY_LOG").init();
    }
}

/// A comma-separated list of strategies, or `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyList(pub Vec<Strategy>);

fn parse_strategies(text: &str) -> Result<StrategyList, String> {
    if text == "all" {
        return Ok(StrategyList(Strategy::ALL.to_vec()));
    }
    if text == "mmap-scenarios" {
        return Ok(StrategyList(Strategy::SCENARIOS.to_vec()));
    }
    let mut list = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let s = Strategy::parse(name)?;
        if !list.contains(&s) {
            list.push(s);
        }
    }
    if list.is_empty() {
        return Err("give at least one strategy, or `all`".into());
    }
    Ok(StrategyList(list))
}

/// A comma-separated list of chunk sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkList(pub Vec<u64>);

fn parse_chunks(text: &str) -> Result<ChunkList, String> {
    text.split(',').map(|c| parse_size(c.trim())).collect::<Result<_, _>>().map(ChunkList)
}

/// Cache states: warm, cold or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheList(pub Vec<CacheState>);

fn parse_caches(text: &str) -> Result<CacheList, String> {
    CacheState::parse_list(text).map(CacheList)
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Strategies to compare, comma-separated, `all` (every transfer strategy), or
    /// `mmap-scenarios` (the mmap claims: mmap-touch, mmap-populate-touch, mmap-shared-write, mmap-private-write; --sink null).
    #[arg(short, long, value_name = "LIST", default_value = "all", value_parser = parse_strategies)]
    pub strategies: StrategyList,

    /// Where the bytes go: tcp (127.0.0.1), unix, pipe, file, null. Sockets and pipes have a receiver process.
    #[arg(long, default_value = "tcp", value_parser = SinkKind::parse)]
    pub sink: SinkKind,

    /// Size of the source file (K, M, G are powers of 1024).
    #[arg(long, default_value = "512M", value_parser = parse_size)]
    pub size: u64,

    /// Chunk size per call; a comma-separated list sweeps several (e.g. 4K,64K,1M).
    #[arg(long, value_name = "LIST", default_value = "64K", value_parser = parse_chunks)]
    pub chunk: ChunkList,

    /// Page-cache state of the source before each run: warm, cold or both.
    #[arg(long, default_value = "warm", value_parser = parse_caches)]
    pub cache: CacheList,

    /// Measured runs per case.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,

    /// Unmeasured runs before them.
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,

    /// Check the received bytes' CRC-32 too (costs receiver CPU).
    #[arg(long)]
    pub verify: bool,

    /// Skip the untraced runs: by default each traced run is paired with
    /// one with zcopy's programs detached, and the report gives the
    /// untraced throughput and what tracing cost (this halves the time).
    #[arg(long)]
    pub no_untraced: bool,

    /// Folder for the source file (default: the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// cpu-clock samples of the workers' kernel stacks per second and CPU,
    /// for the kernel's time by activity (0: off). The default gives a
    /// 512 MiB run's side about a thousand samples: a share known to
    /// about +-3 points (95%) per run, at under 1% of a CPU.
    #[arg(long, value_name = "HZ", default_value_t = crate::analysis::profile::BENCH_HZ, value_parser = parse_hz)]
    pub sample_hz: u64,

    #[command(flatten)]
    pub export: ExportArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// A sampling frequency: 0 (off) up to the most perf allows anyone (100000 Hz).
fn parse_hz(text: &str) -> Result<u64, String> {
    let hz: u64 =
        text.parse().map_err(|_| format!("{text:?} is not a whole number of samples per second (e.g. 999)"))?;
    if hz > crate::analysis::profile::MAX_HZ {
        return Err(format!("{hz} Hz is above perf's limit of {} Hz: choose fewer", crate::analysis::profile::MAX_HZ));
    }
    Ok(hz)
}

/// `--export-json/--export-csv/--export-markdown FILE`, for bench and trace alike.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the results as JSON to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,

    /// Write the results as CSV to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,

    /// Write the results as Markdown to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
}

impl ExportArgs {
    /// Every export asked for, in a fixed order.
    pub fn requests(&self) -> Vec<(Format, PathBuf)> {
        [(Format::Json, &self.export_json), (Format::Csv, &self.export_csv), (Format::Markdown, &self.export_markdown)]
            .into_iter()
            .filter_map(|(format, path)| Some((format, path.clone()?)))
            .collect()
    }
}

/// Where the report folder goes.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the report folder (results.json, PNG charts, index.md, index.html) to DIR
    /// [default: ./zcopy-report-KIND-DATE-TIME].
    #[arg(long, value_name = "DIR", conflicts_with = "no_report")]
    pub report: Option<PathBuf>,

    /// Do not write a report folder.
    #[arg(long)]
    pub no_report: bool,
}

impl ReportArgs {
    /// The folder to write, if any; `kind` is "bench" or "trace".
    pub fn folder(&self, kind: &str) -> Option<PathBuf> {
        if self.no_report {
            return None;
        }
        Some(
            self.report
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("zcopy-report-{kind}-{}", crate::system::machine::stamp()))),
        )
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Saved results: the JSON of `zcopy bench` or `zcopy trace` (--export-json, or a report folder's results.json).
    #[arg(value_name = "RESULTS.json")]
    pub results: PathBuf,

    /// Folder to write [default: the folder holding RESULTS.json when it is a report's, else RESULTS-report].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl RenderArgs {
    pub fn out_dir(&self) -> PathBuf {
        if let Some(out) = &self.out {
            return out.clone();
        }
        if self.results.is_dir() {
            return self.results.clone();
        }
        let parent = self.results.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        if self.results.file_name().is_some_and(|n| n == crate::model::RESULTS_FILE) {
            return if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent };
        }
        let stem = self.results.file_stem().map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
        parent.join(format!("{stem}-report"))
    }
}

impl BenchArgs {
    pub fn options(&self) -> BenchOptions {
        BenchOptions {
            strategies: self.strategies.0.clone(),
            sink: self.sink,
            size: self.size,
            chunks: self.chunk.0.clone(),
            caches: self.cache.0.clone(),
            runs: self.runs,
            warmup: self.warmup,
            untraced: !self.no_untraced,
            verify: self.verify,
            dir: self.dir.clone().unwrap_or_else(std::env::temp_dir),
            sample_hz: self.sample_hz,
        }
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["pid", "comm", "cgroup", "command"])))]
pub struct TraceArgs {
    /// Attach to this running process: all its threads, the children it has, and those it forks while traced
    /// (repeat for several).
    #[arg(short, long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Vec<u32>,

    /// Trace every process with this command name, running now or started later (repeat for several).
    #[arg(long, value_name = "NAME")]
    pub comm: Vec<String>,

    /// Trace every process in this cgroup v2 (a systemd service or a container), e.g. system.slice/nginx.service.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,

    /// With --pid/--comm/--cgroup: stop after this many seconds (default: until the processes exit, or Ctrl-C).
    #[arg(short, long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Print a line of rates every SECS seconds while tracing (like pidstat/vmstat).
    #[arg(short, long, value_name = "SECS", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Print the summary as one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub export: ExportArgs,

    /// Forward the eBPF programs' debug log (aya-log) to stderr; slows tracing down.
    #[arg(long)]
    pub bpf_log: bool,

    /// cpu-clock samples of the traced processes' kernel stacks per second
    /// and CPU, for the kernel's time by activity (0: off). The default is
    /// perf's odd-number habit (no lockstep with timer ticks) at a cost of
    /// about 0.2% of a CPU: a second of busy CPU gives about a thousand
    /// samples, a share to about +-3 points (95%).
    #[arg(long, value_name = "HZ", default_value_t = crate::analysis::profile::TRACE_HZ, value_parser = parse_hz)]
    pub sample_hz: u64,

    #[command(flatten)]
    pub report: ReportArgs,

    /// The command to run and trace, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

impl TraceArgs {
    /// Checks what clap cannot express (a `last` positional defeats `requires`).
    pub fn validate(&self) -> Result<(), String> {
        let attach = !self.pid.is_empty() || !self.comm.is_empty() || self.cgroup.is_some();
        if attach && !self.command.is_empty() {
            return Err("give either a command (after --) or --pid/--comm/--cgroup, not both".into());
        }
        if self.duration.is_some() && !attach {
            return Err("--duration only applies to --pid/--comm/--cgroup: a command is traced until it exits".into());
        }
        if let Some(long) = self.comm.iter().find(|c| c.len() > 15) {
            return Err(crate::error::ZcopyError::CommTooLong(long.clone()).to_string());
        }
        if self.comm.iter().any(String::is_empty) {
            return Err("--comm needs a command name".into());
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The strategy to explain.
    #[arg(value_parser = Strategy::parse)]
    pub strategy: Strategy,

    /// Where the bytes go: tcp, unix, pipe, file, null.
    #[arg(long, default_value = "tcp", value_parser = SinkKind::parse)]
    pub sink: SinkKind,

    /// Size of the file moved.
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub size: u64,

    /// Chunk size per call.
    #[arg(long, default_value = "64K", value_parser = parse_size)]
    pub chunk: u64,

    /// Page-cache state before the run: warm or cold (one run is explained).
    #[arg(long, default_value = "warm", value_parser = parse_one_cache)]
    pub cache: CacheState,

    /// Folder for the source file.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Print the steps and the claims as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ExplainArgs {
    pub fn options(&self) -> BenchOptions {
        BenchOptions {
            strategies: vec![self.strategy],
            sink: self.sink,
            size: self.size,
            chunks: vec![self.chunk],
            caches: vec![self.cache],
            runs: 1,
            warmup: 0,
            untraced: false,
            verify: true,
            dir: self.dir.clone().unwrap_or_else(std::env::temp_dir),
            sample_hz: crate::analysis::profile::BENCH_HZ,
        }
    }
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Address to serve /metrics on (HOST:PORT; 0.0.0.0:PORT for every interface).
    #[arg(long, value_name = "ADDR", default_value_t = std::net::SocketAddr::from(([127, 0, 0, 1], crate::agent::DEFAULT_PORT)), value_parser = parse_listen)]
    pub listen: std::net::SocketAddr,
    /// Cgroups with their own series: the N that moved the most bytes; the rest are summed in cgroup="other".
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub top: u16,
    /// How often dead cgroups' kernel entries are removed (scrapes also refresh), in seconds.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_duration)]
    pub interval: Duration,
    /// Also count zero-copy sends (MSG_ZEROCOPY, io_uring SEND_ZC) and the
    /// bytes the kernel copied anyway. A program on every packet sent and
    /// received: a few percent on a busy loopback server (BENCHMARKS.md).
    #[arg(long)]
    pub zero_copy: bool,
    /// Also count bytes and packets per device and cgroup (transmit; loopback
    /// apart). Costly on busy servers: a map update for every packet.
    #[arg(long)]
    pub packets: bool,
    /// Also count syscalls by name per cgroup. Costly: any program on the
    /// syscall tracepoints puts every task of the machine on the syscall
    /// slow path (see BENCHMARKS.md).
    #[arg(long)]
    pub syscalls: bool,
    /// When the kernel's BPF run-time statistics (the agent's own cost) are on: they add two clock reads to every BPF program run on the machine, so by default only 10 s of every 60 s.
    #[arg(long, value_name = "WHEN", value_enum, default_value = "sampled")]
    pub bpf_stats: crate::agent::stats::StatsMode,
    /// The cgroup v2 mount [default: the first cgroup2 mount in /proc/self/mountinfo].
    #[arg(long, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,
}

/// Parses `--listen`: an IP address and a port.
fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "`{text}` is not an address to listen on: give IP:PORT, e.g. 127.0.0.1:{0} or [::1]:{0}",
            crate::agent::DEFAULT_PORT
        )
    })
}

#[derive(Debug, Args)]
pub struct ActivitiesArgs {
    /// The output of `perf script` (- for standard input).
    #[arg(value_name = "PERF_SCRIPT")]
    pub input: PathBuf,

    /// Only the samples of processes with this command name (repeat for several; e.g. with `perf record -a`).
    #[arg(long, value_name = "NAME")]
    pub comm: Vec<String>,

    /// The frequency the profile was recorded at (`perf record -F`), for CPU ms.
    #[arg(long, value_name = "HZ", default_value_t = 4000, value_parser = parse_hz)]
    pub hz: u64,

    /// Print the profile as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One cache state: `explain` follows a single run, so `both` is refused.
fn parse_one_cache(text: &str) -> Result<CacheState, String> {
    match CacheState::parse_list(text)?.as_slice() {
        [one] => Ok(*one),
        _ => Err(format!("`{text}`: explain follows one run; give warm or cold (run it twice for both)")),
    }
}

/// Parses a positive, finite number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds (e.g. 5 or 0.5)"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("`{text}`: the duration must be more than 0 seconds"));
    }
    if secs > 1e9 {
        return Err(format!("`{text}` seconds is too long: give at most 1e9 seconds (about 31 years)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("zcopy").chain(args.iter().copied()))
    }

    #[test]
    fn trace_a_command_after_double_dash() {
        let cli = parse(&["trace", "--json", "--", "dd", "if=/dev/zero", "--weird"]).unwrap();
        let Command::Trace(t) = cli.command else { panic!("not trace") };
        assert_eq!(t.command, ["dd", "if=/dev/zero", "--weird"]);
        assert!(t.json && t.pid.is_empty());
    }

    #[test]
    fn trace_a_pid_for_a_while() {
        let cli = parse(&["trace", "--pid", "42", "--duration", "1.5"]).unwrap();
        let Command::Trace(t) = cli.command else { panic!("not trace") };
        assert_eq!(t.pid, vec![42]);
        assert_eq!(t.duration, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn bench_defaults_and_lists() {
        let Command::Bench(b) = parse(&["bench"]).unwrap().command else { panic!("not bench") };
        let o = b.options();
        assert_eq!(o.strategies, Strategy::ALL.to_vec());
        assert_eq!(
            (o.sink, o.chunks.as_slice(), o.caches.as_slice()),
            (SinkKind::Tcp, &[65536u64][..], &[CacheState::Warm][..])
        );
        let Command::Bench(b) =
            parse(&["bench", "-s", "sendfile,splice,sendfile", "--chunk", "4K,1M", "--cache", "both"]).unwrap().command
        else {
            panic!("not bench")
        };
        let o = b.options();
        assert_eq!(o.strategies, vec![Strategy::Sendfile, Strategy::Splice]);
        assert_eq!(o.chunks, vec![4096, 1 << 20]);
        assert_eq!(o.caches.len(), 2);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&["trace"]).is_err(), "needs a pid or a command");
        let trace = |args: &[&str]| {
            let Command::Trace(t) = parse(args).unwrap().command else { panic!("not trace") };
            t.validate()
        };
        assert!(trace(&["trace", "--pid", "1", "--", "ls"]).unwrap_err().contains("not both"));
        assert!(trace(&["trace", "--comm", "a-very-long-command-name"]).unwrap_err().contains("first 15"));
        assert!(trace(&["trace", "--pid", "1", "--pid", "2", "--comm", "nginx", "--interval", "1"]).is_ok());
        let Command::Trace(t) = parse(&["trace", "--duration", "1", "--", "ls"]).unwrap().command else {
            panic!("not trace")
        };
        assert!(t.validate().unwrap_err().contains("--duration only applies to --pid/--comm/--cgroup"));
        assert!(parse(&["trace", "--pid", "0"]).is_err());
        assert!(parse(&["trace", "--pid", "abc"]).is_err());
        assert!(
            parse(&["bench", "--strategies", "sendfile,zerocopy"])
                .unwrap_err()
                .to_string()
                .contains("unknown strategy `zerocopy`")
        );
        assert!(parse(&["bench", "--sink", "udp"]).is_err());
        assert!(parse(&["bench", "--chunk", "4K,x"]).is_err());
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
