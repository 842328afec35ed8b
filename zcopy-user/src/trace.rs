//! `zcopy trace`: run or attach, count in the kernel, summarise.

use std::{
    ffi::OsString,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{
    bpf::Tracer,
    error::ZcopyError,
    export, output,
    summary::{KernelAccounting, Sample, Summary, Target},
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
    Pid { pid: u32, duration: Option<Duration> },
}

#[derive(Debug, Clone)]
pub struct TraceOptions {
    pub target: TargetSpec,
    pub json_stdout: bool,
    pub export_json: Option<PathBuf>,
    pub bpf_log: bool,
    /// The report folder to write, if any.
    pub report: Option<PathBuf>,
}

/// The trace's time series: cumulative totals every `every`, thinned to
/// every other sample (and half the rate) when it grows past `MAX_SAMPLES`,
/// so memory stays bounded in a long trace.
struct Timeline {
    samples: Vec<Sample>,
    every: Duration,
    start: Instant,
}

const FIRST_SAMPLE_EVERY: Duration = Duration::from_millis(100);
const MAX_SAMPLES: usize = 1200;

impl Timeline {
    fn new(start: Instant) -> Self {
        Self { samples: Vec::new(), every: FIRST_SAMPLE_EVERY, start }
    }

    /// Takes a sample if one is due; returns how long until the next one.
    fn tick(&mut self, tracer: &Tracer) -> anyhow::Result<Duration> {
        let t = self.start.elapsed();
        let due = self.samples.last().map_or(Duration::ZERO, |s| Duration::from_secs_f64(s.t_s) + self.every);
        if t >= due {
            let raw = tracer.read().context("sampling the kernel counters")?;
            self.samples.push(Sample::of(&raw, t.as_secs_f64()));
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
}

/// Runs the trace and prints the summary; returns zcopy's exit code.
pub async fn run(opts: TraceOptions, mounts: &Mounts) -> anyhow::Result<i32> {
    if let Availability::Missing(why) = &mounts.tracefs {
        return Err(ZcopyError::NoTracefs(why.clone()).into());
    }
    let mut tracer = Tracer::load(opts.bpf_log)?;
    if opts.bpf_log {
        tracer.forward_logs()?;
    }
    let mut warnings = tracer.warnings.clone();
    if let Availability::MountedPrivately(_) = mounts.tracefs {
        warnings.push(format!("tracefs {}", mounts.tracefs.describe()));
    }

    let net_before = tracer.net_totals()?;
    let ended = match &opts.target {
        TargetSpec::Command(argv) => trace_command(&mut tracer, argv).await?,
        TargetSpec::Pid { pid, duration } => trace_pid(&mut tracer, *pid, *duration).await?,
    };
    tracer.flush_logs();
    let mut raw = tracer.read().context("reading the kernel counters")?;
    raw.net = Some(tracer.net_totals()?.since(&net_before));
    raw.missed = tracer.missed_events();
    let coverage = tracer.coverage();
    drop(tracer);

    let mut summary = Summary::build(ended.target, ended.wall_s, &raw, coverage, ended.accounting, warnings);
    summary.timeline = ended.timeline;
    summary.timeline.push(Sample::of(&raw, ended.wall_s));
    summary.kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    summary.machine = crate::system::machine::describe();
    if opts.json_stdout {
        export::write_json(&summary, std::path::Path::new("-"))?;
    } else {
        eprint!("{}", output::trace::render(&summary));
    }
    if let Some(path) = &opts.export_json {
        export::write_json(&summary, path)?;
    }
    if let Some(dir) = &opts.report {
        let page = crate::report::write_folder(&crate::report::Results::Trace(Box::new(summary)), dir)?;
        eprintln!("zcopy trace: report written to {}", page.display());
    }
    Ok(ended.exit_code)
}

async fn trace_command(tracer: &mut Tracer, argv: &[OsString]) -> anyhow::Result<Ended> {
    let held = HeldCommand::spawn(argv)?;
    let pid = held.pid();
    // Its read of the go byte must have started, or that read is counted.
    procfs::wait_blocked_in_read(pid, Duration::from_secs(10)).context("waiting for the command to be held")?;
    tracer.add_target(pid)?;
    let pidfd = PidFd::open(pid)?;
    let start = Instant::now();
    held.release()?;

    let exited = pidfd.exited();
    tokio::pin!(exited);
    let mut interrupted = false;
    let mut timeline = Timeline::new(start);
    let mut next = Duration::ZERO;
    loop {
        tokio::select! {
            done = &mut exited => { done.context("waiting for the command")?; break; }
            () = tokio::time::sleep(next) => next = timeline.tick(tracer)?,
            _ = tokio::signal::ctrl_c() => {
                // The terminal sent SIGINT to the command too; make sure it has it.
                interrupted = true;
                target::signal(pid, libc::SIGINT);
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
            mode: "command".into(),
            command: Some(argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()),
            pid,
            exit_code,
            exit_signal,
            ended_by: if interrupted { "interrupted" } else { "exited" }.into(),
        },
        wall_s,
        accounting: Some(accounting),
        exit_code: status.as_exit_code(),
    })
}

async fn trace_pid(tracer: &mut Tracer, pid: u32, duration: Option<Duration>) -> anyhow::Result<Ended> {
    let pidfd = PidFd::open(pid)?;
    let comm = procfs::comm_of(pid);
    let before = ProcCounters::read(pid).ok();
    tracer.add_target(pid)?;
    let start = Instant::now();
    eprintln!(
        "zcopy: tracing PID {pid} ({}){}; Ctrl-C to stop",
        comm.as_deref().unwrap_or("?"),
        duration.map_or_else(String::new, |d| format!(" for {:.1} s", d.as_secs_f64()))
    );
    let sleep = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let exited = pidfd.exited();
    tokio::pin!(exited);
    let mut timeline = Timeline::new(start);
    let mut next = Duration::ZERO;
    let ended_by = loop {
        tokio::select! {
            done = &mut exited => { done.context("waiting for the process")?; break "exited" }
            () = &mut sleep => break "duration",
            _ = tokio::signal::ctrl_c() => break "interrupted",
            () = tokio::time::sleep(next) => next = timeline.tick(tracer)?,
        }
    };
    let wall_s = start.elapsed().as_secs_f64();
    let after = ProcCounters::read(pid).ok();
    let accounting = before.zip(after).map(|(b, a)| {
        let d = a.since(&b);
        let ticks = procfs::ticks_per_second();
        KernelAccounting {
            source: format!(
                "/proc/{pid}/stat and /proc/{pid}/status, change over the trace: the process itself \
                 (all threads), not children forked while traced"
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
            mode: "pid".into(),
            command: None,
            pid,
            exit_code: None,
            exit_signal: None,
            ended_by: ended_by.into(),
        },
        wall_s,
        accounting,
        exit_code: 0,
    })
}
