//! `zcopy trace`: run or attach, count in the kernel, summarise.

use std::{
    ffi::OsString,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{
    bpf::{TargetState, Tracer},
    error::ZcopyError,
    export,
    model::{EndedBy, KernelAccounting, Sample, Summary, Target, TargetMode, Warning},
    output,
    system::signals::Interrupts,
    system::{
        mounts::{Availability, Mounts},
        procfs::{self, ProcCounters},
    },
    target::{self, ExitStatus, HeldCommand, PidFd},
};

/// What to trace.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    Command(Vec<OsString>),
    Attach(AttachSpec),
}

/// Running processes to attach to.
#[derive(Debug, Clone, Default)]
pub struct AttachSpec {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub cgroup: Option<PathBuf>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct TraceOptions {
    pub target: TargetSpec,
    pub json_stdout: bool,
    /// `--export-json/--export-csv/--export-markdown`.
    pub exports: Vec<(crate::export::Format, PathBuf)>,
    pub bpf_log: bool,
    /// cpu-clock samples per second and CPU (0: off).
    pub sample_hz: u64,
    /// The report folder to write, if any.
    pub report: Option<PathBuf>,
    /// Print a line of rates this often.
    pub interval: Option<Duration>,
}

/// The trace's time series: cumulative totals every `every`, thinned to
/// every other sample (and half the rate) when it grows past `MAX_SAMPLES`,
/// so memory stays bounded in a long trace.
struct Timeline {
    samples: Vec<Sample>,
    every: Duration,
    start: Instant,
    /// `--interval`: print a line of rates this often.
    print_every: Option<Duration>,
    printed: Sample,
    /// Lines printed (plain), or the height of the last view (terminal).
    lines: u32,
    /// stderr is a terminal: redraw one view in place instead of adding lines.
    terminal: bool,
}

const FIRST_SAMPLE_EVERY: Duration = Duration::from_millis(100);
const MAX_SAMPLES: usize = 1200;

impl Timeline {
    fn new(start: Instant, print_every: Option<Duration>) -> Self {
        let every = print_every.map_or(FIRST_SAMPLE_EVERY, |p| p.min(FIRST_SAMPLE_EVERY));
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self { samples: Vec::new(), every, start, print_every, printed: Sample::default(), lines: 0, terminal }
    }

    /// Takes a sample if one is due; returns how long until the next one.
    fn tick(&mut self, tracer: &Tracer) -> anyhow::Result<Duration> {
        let t = self.start.elapsed();
        let due = self.samples.last().map_or(Duration::ZERO, |s| Duration::from_secs_f64(s.t_s) + self.every);
        if t >= due {
            let raw = tracer.read().context("sampling the kernel counters")?;
            let sample = Sample::of(&raw, t.as_secs_f64(), tracer.coverage());
            if let Some(p) = self.print_every
                && sample.t_s - self.printed.t_s >= p.as_secs_f64() * 0.999
            {
                if self.terminal {
                    let width = output::interval::terminal_width();
                    let (view, height) = output::interval::view(&self.printed, &sample, self.lines as usize, width);
                    eprint!("{view}");
                    self.lines = u32::try_from(height).unwrap_or(0);
                } else {
                    if self.lines.is_multiple_of(20) {
                        eprintln!("{}", output::interval::header());
                    }
                    eprintln!("{}", output::interval::line(&self.printed, &sample));
                    self.lines += 1;
                }
                self.printed = sample.clone();
            }
            self.samples.push(sample);
            if self.samples.len() > MAX_SAMPLES {
                let mut i = 0;
                self.samples.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.every *= 2;
            }
            return Ok(self.every);
        }
        Ok(due - t)
    }
}

/// How the traced window ended.
struct Ended {
    timeline: Vec<Sample>,
    target: Target,
    wall_s: f64,
    accounting: Option<KernelAccounting>,
    exit_code: i32,
    /// What went wrong along the way without ending the trace.
    warnings: Vec<Warning>,
}

/// Runs `zcopy trace`; returns zcopy's exit code (the command's, in command mode).
pub fn command(args: crate::cli::TraceArgs) -> anyhow::Result<i32> {
    args.validate().map_err(anyhow::Error::msg)?;
    // What is to be traced must exist before anything is loaded.
    for &pid in &args.pid {
        crate::target::check_process(pid)?;
    }
    if let Some(path) = &args.cgroup {
        cgroup_dir(path)?;
    }
    if let Some(program) = args.command.first() {
        crate::target::resolve_program(program, std::env::var_os("PATH").as_deref())?;
    }
    let report = args.report.folder("trace");
    crate::export::check_outputs(&args.export.requests(), args.json, report.as_deref())?;
    crate::system::caps::require_tracing()?;
    let target = if args.command.is_empty() {
        TargetSpec::Attach(AttachSpec {
            pids: args.pid,
            comms: args.comm,
            cgroup: args.cgroup,
            duration: args.duration,
        })
    } else {
        TargetSpec::Command(args.command)
    };
    let opts = TraceOptions {
        target,
        json_stdout: args.json,
        exports: args.export.requests(),
        bpf_log: args.bpf_log,
        sample_hz: args.sample_hz,
        report,
        interval: args.interval,
    };
    let mounts = crate::system::mounts::ensure(crate::system::mounts::Needs { tracefs: true, securityfs: false });
    crate::runtime()?.block_on(run(opts, &mounts))
}

/// Runs the trace and prints the summary; returns zcopy's exit code.
pub async fn run(opts: TraceOptions, mounts: &Mounts) -> anyhow::Result<i32> {
    // From here SIGINT, SIGTERM and SIGHUP end the trace (and are passed on
    // to a traced command), and the summary so far is printed.
    let mut interrupts = Interrupts::watch()?;
    let load_start = Instant::now();
    let mut tracer = Tracer::load(opts.bpf_log, opts.sample_hz)?;
    let load_s = load_start.elapsed().as_secs_f64();
    if opts.bpf_log {
        tracer.forward_logs()?;
    }
    let mut warnings = tracer.warnings.clone();
    match &mounts.tracefs {
        Availability::MountedPrivately(_) => {
            warnings.push(crate::model::Warning::TracefsMountedPrivately { how: mounts.tracefs.describe() });
        }
        Availability::Missing(why) => warnings.push(crate::model::Warning::NoTracefs { why: why.clone() }),
        Availability::Mounted(_) => {}
    }

    let net_before = tracer.net_totals()?;
    let ended = match &opts.target {
        TargetSpec::Command(argv) => trace_command(&mut tracer, argv, opts.interval, &mut interrupts).await?,
        TargetSpec::Attach(spec) => trace_attached(&mut tracer, spec, opts.interval, &mut interrupts).await?,
    };
    tracer.flush_logs();
    let mut raw = tracer.read().context("reading the kernel counters")?;
    raw.net = Some(tracer.net_totals()?.since(&net_before));
    raw.missed = tracer.missed_events();
    let coverage = tracer.coverage();
    drop(tracer);

    warnings.extend(ended.warnings);
    let mut summary = Summary::build(ended.target, ended.wall_s, &raw, coverage, ended.accounting, warnings);
    summary.timeline = ended.timeline;
    summary.timeline.push(Sample::of(&raw, ended.wall_s, coverage));
    summary.kernel = crate::system::machine::kernel_release().unwrap_or_else(|e| format!("unknown ({e})"));
    summary.machine = crate::system::machine::describe();
    summary.tracer = Some(crate::model::TracerCost { load_s, peak_rss_kib: peak_rss_kib() });
    summary.profile = crate::analysis::profile::of_counters(&raw, coverage, opts.sample_hz);
    if opts.json_stdout {
        export::write_json(&summary, std::path::Path::new("-"))?;
    } else {
        eprint!("{}", output::trace::render(&summary));
    }
    // The report folder first: an export may go into it.
    if let Some(dir) = &opts.report {
        let page = crate::report::write_folder(&crate::model::Results::Trace(Box::new(summary.clone())), dir)?;
        eprintln!("zcopy trace: report written to {}", page.display());
    }
    for (format, path) in &opts.exports {
        export::export(export::Exported::Trace(&summary), *format, path)?;
    }
    Ok(ended.exit_code)
}

async fn trace_command(
    tracer: &mut Tracer,
    argv: &[OsString],
    interval: Option<Duration>,
    interrupts: &mut Interrupts,
) -> anyhow::Result<Ended> {
    let held = HeldCommand::spawn(argv)?;
    let pid = held.pid();
    // Its read of the go byte must have started, or that read is counted.
    procfs::wait_blocked_in_read(pid, Duration::from_secs(10)).await.context("waiting for the command to be held")?;
    tracer.add_target(pid, TargetState::Held)?;
    let pidfd = PidFd::open(pid)?;
    let start = Instant::now();
    held.release()?;

    let exited = pidfd.exited();
    tokio::pin!(exited);
    let mut interrupted = false;
    let mut timeline = Timeline::new(start, interval);
    let mut next = Duration::ZERO;
    loop {
        tokio::select! {
            done = &mut exited => { done.context("waiting for the command")?; break; }
            () = tokio::time::sleep(next) => next = timeline.tick(tracer)?,
            signal = interrupts.recv() => {
                // Passed on, as a shell's job control would: the terminal
                // sent SIGINT (or SIGHUP) to the command too, `kill` and
                // `timeout` send SIGTERM to zcopy alone. The trace ends when
                // the command does, with its status.
                interrupted = true;
                target::signal(pid, signal.signo());
            }
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    let (status, usage) = target::reap(pid).context("reaping the command")?;
    let timeval = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    let as_u64 = |v: libc::c_long| u64::try_from(v).unwrap_or(0);
    let accounting = KernelAccounting {
        source: "wait4() rusage of the command: the kernel's own counters from fork to exit, \
                 including children it waited for, and faults taken by get_user_pages \
                 (e.g. exec copying the arguments), which no perf event or tracepoint sees"
            .into(),
        minflt: as_u64(usage.ru_minflt),
        majflt: as_u64(usage.ru_majflt),
        nvcsw: Some(as_u64(usage.ru_nvcsw)),
        nivcsw: Some(as_u64(usage.ru_nivcsw)),
        utime_s: Some(timeval(usage.ru_utime)),
        stime_s: Some(timeval(usage.ru_stime)),
    };
    let (exit_code, exit_signal) = match status {
        ExitStatus::Code(c) => (Some(c), None),
        ExitStatus::Signal(s) => (None, Some(s)),
    };
    Ok(Ended {
        timeline: timeline.samples,
        target: Target {
            mode: TargetMode::Command,
            command: Some(argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()),
            pid: Some(pid),
            exit_code,
            exit_signal,
            ended_by: if interrupted { EndedBy::Interrupted } else { EndedBy::Exited },
            ..Default::default()
        },
        wall_s,
        accounting: Some(accounting),
        exit_code: status.as_exit_code(),
        warnings: Vec::new(),
    })
}

/// The cgroup v2 folder for `--cgroup PATH`.
fn cgroup_dir(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    // An absolute path to a folder is taken as given (a cgroup2 hierarchy may
    // be mounted elsewhere); anything else is relative to /sys/fs/cgroup.
    let root = std::path::Path::new("/sys/fs/cgroup");
    let dir = if path.starts_with(root) || (path.is_absolute() && path.is_dir()) {
        path.to_path_buf()
    } else {
        root.join(path.strip_prefix("/").unwrap_or(path))
    };
    if !dir.join("cgroup.procs").exists() {
        return Err(ZcopyError::NoSuchCgroup(dir.display().to_string()).into());
    }
    if !procfs::is_cgroup2(&dir).with_context(|| format!("checking {}", dir.display()))? {
        return Err(ZcopyError::CgroupV1(dir.display().to_string()).into());
    }
    Ok(dir)
}

/// The cgroup v2 id of `dir` and its level below the hierarchy's root (the
/// highest folder still on the cgroup2 file system).
fn cgroup_level_and_id(dir: &std::path::Path) -> anyhow::Result<(u64, u32)> {
    let id = procfs::cgroup_id(dir).with_context(|| format!("reading the cgroup id of {}", dir.display()))?;
    let level = dir.ancestors().skip(1).take_while(|p| procfs::is_cgroup2(p).unwrap_or(false)).count();
    Ok((id, u32::try_from(level).unwrap_or(u32::MAX)))
}

/// Makes every process of `spec` that exists now a target: the PIDs and
/// their descendants, the processes named `comms`, the cgroup's members.
/// Returns the PIDs added.
fn add_existing(
    tracer: &mut Tracer,
    spec: &AttachSpec,
    cgroup: Option<&std::path::Path>,
    known: &mut Vec<u32>,
) -> anyhow::Result<()> {
    let table = procfs::processes();
    let mut pids: Vec<u32> = spec.pids.clone();
    pids.extend(procfs::descendants(&spec.pids, &table));
    pids.extend(table.iter().filter(|(_, _, comm)| spec.comms.iter().any(|c| c == comm)).map(|(pid, _, _)| *pid));
    if let Some(dir) = cgroup {
        let members = procfs::cgroup_processes(dir).with_context(|| format!("reading {}", dir.display()))?;
        pids.extend(procfs::descendants(&members, &table));
        pids.extend(members);
    }
    let me = std::process::id();
    for pid in pids {
        if pid != me && !known.contains(&pid) {
            tracer.add_target(pid, TargetState::Running)?;
            known.push(pid);
        }
    }
    Ok(())
}

async fn trace_attached(
    tracer: &mut Tracer,
    spec: &AttachSpec,
    interval: Option<Duration>,
    interrupts: &mut Interrupts,
) -> anyhow::Result<Ended> {
    let pidfds = spec.pids.iter().map(|pid| PidFd::open(*pid)).collect::<anyhow::Result<Vec<_>>>()?;
    let cgroup = spec.cgroup.as_deref().map(cgroup_dir).transpose()?;
    let single = (spec.pids.len() == 1 && spec.comms.is_empty() && cgroup.is_none()).then(|| spec.pids[0]);
    let before = single.and_then(|pid| ProcCounters::read(pid).ok());
    tracer.want_comms(&spec.comms)?;
    if let Some(dir) = &cgroup {
        let (id, level) = cgroup_level_and_id(dir)?;
        tracer.want_cgroup(id, level)?;
    }
    let mut known = Vec::new();
    add_existing(tracer, spec, cgroup.as_deref(), &mut known)?;
    let mut warnings = Vec::new();
    if !tracer.guards_pid_reuse() {
        warnings.push(Warning::PidReuseUnguarded);
    }
    let start = Instant::now();
    let mut what: Vec<String> = spec
        .pids
        .iter()
        .map(|pid| format!("PID {pid} ({})", procfs::comm_of(*pid).as_deref().unwrap_or("?")))
        .collect();
    what.extend(spec.comms.iter().map(|c| format!("every `{c}`")));
    what.extend(cgroup.iter().map(|c| format!("cgroup {}", c.display())));
    eprintln!(
        "zcopy: tracing {} ({} now){}; Ctrl-C to stop",
        what.join(", "),
        match known.len() {
            1 => "1 process".to_owned(),
            n => format!("{n} processes"),
        },
        spec.duration.map_or_else(String::new, |d| format!(" for {:.1} s", d.as_secs_f64()))
    );
    let sleep = async {
        match spec.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    // With PIDs only, the trace ends when they have all exited; names and
    // cgroups are open-ended (new processes may come).
    let open_ended = !spec.comms.is_empty() || cgroup.is_some();
    let all_exited = async {
        wait_all_exited(pidfds).await?;
        if open_ended { std::future::pending().await } else { anyhow::Ok(()) }
    };
    tokio::pin!(all_exited);
    let mut timeline = Timeline::new(start, interval);
    let mut next = Duration::ZERO;
    let ended_by = loop {
        tokio::select! {
            done = &mut all_exited => { done.context("waiting for the processes")?; break EndedBy::Exited }
            () = &mut sleep => break EndedBy::Duration,
            _ = interrupts.recv() => break EndedBy::Interrupted,
            () = tokio::time::sleep(next) => {
                next = timeline.tick(tracer)?;
            }
        }
    };
    let wall_s = start.elapsed().as_secs_f64();
    let after = single.and_then(|pid| ProcCounters::read(pid).ok());
    let accounting = before.zip(after).zip(single).map(|((b, a), pid)| {
        let d = a.since(&b);
        let ticks = procfs::ticks_per_second();
        KernelAccounting {
            source: format!(
                "/proc/{pid}/stat and /proc/{pid}/status, change over the trace: the process itself \
                 (all threads), not its children"
            ),
            minflt: d.minflt,
            majflt: d.majflt,
            nvcsw: Some(d.nvcsw),
            nivcsw: Some(d.nivcsw),
            utime_s: Some(d.utime_ticks as f64 / ticks),
            stime_s: Some(d.stime_ticks as f64 / ticks),
        }
    });
    Ok(Ended {
        timeline: timeline.samples,
        target: Target {
            mode: TargetMode::Attach,
            command: None,
            pid: spec.pids.first().copied(),
            pids: spec.pids.clone(),
            comms: spec.comms.clone(),
            cgroup: cgroup.map(|c| c.display().to_string()),
            exit_code: None,
            exit_signal: None,
            ended_by,
        },
        wall_s,
        accounting,
        exit_code: 0,
        warnings,
    })
}

/// Waits for every pidfd (in any order).
async fn wait_all_exited(pidfds: Vec<PidFd>) -> std::io::Result<()> {
    for fd in pidfds {
        fd.exited().await?;
    }
    Ok(())
}

/// zcopy's peak resident memory since it started, in KiB: VmHWM of its own
/// memory map (getrusage's ru_maxrss would include the parent's memory
/// before exec).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
