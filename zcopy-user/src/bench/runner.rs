//! One measured run: start the receiver and sender workers, hold them at
//! `ready`, make them targets, let them go, wait until both stopped
//! themselves, read their counters, let them finish.

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, anyhow, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
    signal::unix::Signal,
};

use crate::{
    bench::{plan::Case, source},
    bpf::Tracer,
    model::{CacheState, Coverage, ProcessSummary, RawProcess, RunResult, SideRun, SinkKind},
    system::procfs::ProcCounters,
    workload::{PIPE_FD, SinkTarget, WorkerReport, WorkerSpec},
};

/// How long one run may take before it is abandoned.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a run did not produce a result.
#[derive(Debug)]
pub struct RunFailure {
    pub message: String,
    /// The kernel or filesystem does not support the strategy here.
    pub unsupported: bool,
}

/// What every run of a comparison shares.
pub struct RunContext<'a> {
    pub tracer: &'a mut Tracer,
    pub coverage: Coverage,
    pub exe: PathBuf,
    pub source: PathBuf,
    pub source_crc: u32,
    pub work: PathBuf,
    pub size: u64,
    pub verify: bool,
    pub sigchld: &'a mut Signal,
    pub seq: u32,
    /// The kernel's symbols, read once, for the workers' sampled stacks.
    pub symbols: Result<crate::system::kallsyms::KernelSymbols, String>,
}

/// A worker process; dropped before it was reaped (a failed or interrupted
/// run), it is killed and reaped, so no process is left behind.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pid: u32,
    reaped: bool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.reaped {
            crate::target::signal(self.pid, libc::SIGKILL);
            // SAFETY: pid is our unreaped child.
            unsafe { libc::waitpid(self.pid as libc::pid_t, std::ptr::null_mut(), 0) };
        }
    }
}

impl Worker {
    fn spawn(exe: &Path, spec: &WorkerSpec, pipe_end: Option<RawFd>) -> anyhow::Result<Self> {
        let mut cmd = Command::new(exe);
        cmd.arg("worker")
            .arg(serde_json::to_string(spec)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // SAFETY: the closure makes async-signal-safe calls only (getpid is
        // read before the fork: the parent's).
        let parent = unsafe { libc::getpid() };
        cmd.env(crate::workload::PARENT_ENV, parent.to_string());
        unsafe {
            cmd.pre_exec(move || {
                // Its own process group: the terminal's Ctrl-C goes to zcopy,
                // which stops the workers itself (kill_on_drop).
                if libc::setpgid(0, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                // Dies with zcopy, even after SIGKILL, stopped or not; if
                // zcopy died before this line, it is gone already.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 || libc::getppid() != parent {
                    return Err(io::Error::other("zcopy exited while starting a worker"));
                }
                if let Some(fd) = pipe_end
                    && libc::dup2(fd, PIPE_FD) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("starting worker {}", exe.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("worker exited at once"))?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("worker has no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("worker has no stdout"))?;
        Ok(Self { child, stdin, lines: BufReader::new(stdout).lines(), pid, reaped: false })
    }

    /// The next protocol line; a JSON line means the worker failed.
    async fn expect(&mut self, prefix: &str) -> anyhow::Result<Result<String, RunFailure>> {
        let line = self.lines.next_line().await?.unwrap_or_default();
        if line.starts_with(prefix) {
            return Ok(Ok(line));
        }
        Ok(Err(failure_of(&line)))
    }

    async fn reap(&mut self) {
        let _ = self.child.wait().await;
        self.reaped = true;
    }

    async fn go(&mut self) -> anyhow::Result<()> {
        self.stdin.write_all(b"g").await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn report(&mut self) -> anyhow::Result<WorkerReport> {
        let line = self.lines.next_line().await?.unwrap_or_default();
        serde_json::from_str(&line).with_context(|| format!("worker {} said {line:?}", self.pid))
    }
}

fn failure_of(line: &str) -> RunFailure {
    match serde_json::from_str::<WorkerReport>(line) {
        Ok(WorkerReport { error: Some(message), unsupported, .. }) => RunFailure { message, unsupported },
        _ if line.is_empty() => RunFailure { message: "the worker exited without a word".into(), unsupported: false },
        _ => RunFailure { message: format!("unexpected worker output: {line}"), unsupported: false },
    }
}

enum ChildState {
    Running,
    Stopped,
    Exited,
}

/// Peeks at a child's state without reaping it.
fn peek(pid: u32) -> io::Result<ChildState> {
    // SAFETY: zeroed siginfo is valid for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WSTOPPED | libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: valid pointer; pid is our child.
    if unsafe { libc::waitid(libc::P_PID, pid, &raw mut info, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled info (si_pid is 0 when nothing changed).
    if unsafe { info.si_pid() } == 0 {
        return Ok(ChildState::Running);
    }
    Ok(match info.si_code {
        libc::CLD_STOPPED => ChildState::Stopped,
        libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED => ChildState::Exited,
        _ => ChildState::Running,
    })
}

/// Waits until every worker has stopped itself; `Err(pid)` if one exited.
async fn wait_stopped(pids: &[u32], sigchld: &mut Signal) -> anyhow::Result<Result<(), u32>> {
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    loop {
        let mut all_stopped = true;
        for &pid in pids {
            match peek(pid)? {
                ChildState::Stopped => {}
                ChildState::Exited => return Ok(Err(pid)),
                ChildState::Running => all_stopped = false,
            }
        }
        if all_stopped {
            return Ok(Ok(()));
        }
        tokio::select! {
            _ = sigchld.recv() => {}
            () = tokio::time::sleep_until(deadline) => bail!("a run took longer than {} s", RUN_TIMEOUT.as_secs()),
        }
    }
}

fn side(ctx: &RunContext<'_>, pid: u32, raw: &RawProcess, report: &WorkerReport, own_faults: Option<u64>) -> SideRun {
    let coverage = ctx.coverage;
    let figures = ProcessSummary::from_raw(pid, raw, coverage);
    let mut copies = if coverage.fd_kinds { crate::analysis::copies::flows(&raw.flows) } else { Vec::new() };
    if let Some(zc) = report.zerocopy {
        crate::analysis::copies::split_reported(&mut copies, zc);
    }
    SideRun {
        pid,
        syscalls: figures.syscalls,
        // The kill(2) that ends the window was entered while still a target.
        syscalls_total: figures.syscalls_total.map(|n| n.saturating_sub(1)),
        faults: figures.faults,
        switches: figures.switches,
        data: figures.data,
        copies,
        faults_own_counters: own_faults,
        user_s: report.utime_us as f64 / 1e6,
        sys_s: report.stime_us as f64 / 1e6,
        bytes: report.bytes,
        zerocopy: report.zerocopy,
        cpu_copies_per_chunk: None,
        profile: (coverage.samples && ctx.tracer.sample_hz() > 0).then(|| {
            let mut p = crate::analysis::profile::build(
                [(raw.comm.as_deref().unwrap_or("worker"), &raw.stacks)],
                ctx.tracer.sample_hz(),
                0,
                &ctx.symbols,
            );
            p.folded.clear();
            p
        }),
    }
}

/// Prepares the page cache as asked, and says how resident the file is.
fn prepare_cache(path: &Path, cache: CacheState) -> anyhow::Result<f64> {
    match cache {
        CacheState::Warm => source::warm(path),
        CacheState::Cold => source::evict(path),
    }
    .with_context(|| format!("preparing a {} cache for {}", cache.name(), path.display()))?;
    source::resident_fraction(path).context("checking page-cache residency with mincore")
}

/// Whether a run is traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracing {
    /// The workers are targets: the run's counters are read.
    On,
    /// Every zcopy program detached (the tracer paused): the run measures
    /// the machine's throughput alone, against which the traced runs' cost
    /// is told. Its counters are empty.
    Off,
}

/// Runs `case` once.
pub async fn run_once(
    ctx: &mut RunContext<'_>,
    case: &Case,
    tracing: Tracing,
) -> anyhow::Result<Result<RunResult, RunFailure>> {
    ctx.seq += 1;
    let sink_file = ctx.work.join("sink.bin");
    let mut workers = match spawn(ctx, case, &sink_file).await? {
        Ok(workers) => workers,
        Err(f) => return Ok(Err(f)),
    };
    let window = match window(ctx, case, &mut workers, tracing).await? {
        Ok(window) => window,
        Err(f) => return Ok(Err(f)),
    };
    collect(ctx, case, workers, window, &sink_file).await
}

/// The sender and, for sinks that have one, the receiver of one run.
struct Workers {
    sender: Worker,
    receiver: Option<Worker>,
}

impl Workers {
    fn pids(&self) -> Vec<u32> {
        std::iter::once(self.sender.pid).chain(self.receiver.as_ref().map(|r| r.pid)).collect()
    }
}

/// What the measured window gave: counters read while the workers were stopped.
struct Window {
    resident_before: f64,
    net_transmit: Option<crate::model::NetTransmit>,
    missed_events: std::collections::BTreeMap<String, u64>,
    /// Per worker (sender first): its kernel counters, and its own fault counters' change.
    raw: Vec<RawProcess>,
    own_faults: Vec<Option<u64>>,
}

/// Starts the workers (receiver first, for its address) and waits until both are ready.
async fn spawn(ctx: &RunContext<'_>, case: &Case, sink_file: &Path) -> anyhow::Result<Result<Workers, RunFailure>> {
    let (pipe_r, pipe_w) = if case.sink == SinkKind::Pipe {
        let (r, w) = crate::workload::sys::pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let mut receiver = None;
    let mut port = 0u16;
    let unix_name = format!("zcopy-bench-{}-{}", std::process::id(), ctx.seq);
    if case.sink.has_receiver() {
        let spec = WorkerSpec::Receiver {
            sink: case.sink,
            unix_name: (case.sink == SinkKind::Unix).then(|| unix_name.clone()),
            expected: ctx.size,
            verify: ctx.verify,
        };
        let mut w = Worker::spawn(&ctx.exe, &spec, pipe_r.as_ref().map(AsRawFd::as_raw_fd))?;
        if case.sink.is_socket() {
            match w.expect("listening ").await? {
                Ok(line) => {
                    let text = line.trim_start_matches("listening ").trim();
                    port = text.parse().map_err(|e| {
                        anyhow!("the receiver said it listens on port {text:?}, which is not a port ({e}): a zcopy bug, please report it")
                    })?;
                }
                Err(f) => return Ok(Err(f)),
            }
        }
        receiver = Some(w);
    }
    let target = match case.sink {
        SinkKind::Tcp => SinkTarget::Tcp { port },
        SinkKind::Unix => SinkTarget::Unix { name: unix_name },
        SinkKind::Pipe => SinkTarget::Pipe,
        SinkKind::File => SinkTarget::File { path: sink_file.to_path_buf() },
        SinkKind::Null => SinkTarget::Null,
    };
    let spec = WorkerSpec::Sender {
        strategy: case.strategy,
        sink: target,
        source: ctx.source.clone(),
        size: ctx.size,
        chunk: usize::try_from(case.chunk)?,
    };
    let mut sender = Worker::spawn(&ctx.exe, &spec, pipe_w.as_ref().map(AsRawFd::as_raw_fd))?;
    drop((pipe_r, pipe_w));
    if let Err(f) = sender.expect("ready").await? {
        return Ok(Err(f));
    }
    if let Some(r) = receiver.as_mut()
        && let Err(f) = r.expect("ready").await?
    {
        return Ok(Err(f));
    }
    Ok(Ok(Workers { sender, receiver }))
}

/// The measured window: targets added while the workers wait for go, go,
/// and the counters read once both stopped themselves (then forgotten).
async fn window(
    ctx: &mut RunContext<'_>,
    case: &Case,
    workers: &mut Workers,
    tracing: Tracing,
) -> anyhow::Result<Result<Window, RunFailure>> {
    let traced = tracing == Tracing::On;
    let resident_before = prepare_cache(&ctx.source, case.cache)?;
    let pids = workers.pids();
    for &pid in &pids {
        // Its read of the go byte must have started: that call is not counted.
        crate::system::procfs::wait_blocked_in_read(pid, Duration::from_secs(10))
            .await
            .with_context(|| format!("waiting for worker {pid} to wait for go"))?;
        if traced {
            ctx.tracer.add_target(pid, crate::bpf::TargetState::Held)?;
        }
    }
    let net_before = if traced { Some(ctx.tracer.net_totals()?) } else { None };
    let missed_before = ctx.tracer.missed_events();
    // The workers' own fault counters at the window's edges: now (blocked
    // before go) and once they stopped themselves.
    let own_before: Vec<Option<ProcCounters>> = pids.iter().map(|&pid| ProcCounters::read(pid).ok()).collect();
    if let Some(r) = workers.receiver.as_mut() {
        r.go().await?;
    }
    workers.sender.go().await?;
    let stopped = wait_stopped(&pids, ctx.sigchld).await;
    let own_faults: Vec<Option<u64>> = pids
        .iter()
        .zip(&own_before)
        .map(|(&pid, before)| {
            let after = ProcCounters::read(pid).ok()?;
            let d = after.since(before.as_ref()?);
            Some(d.minflt + d.majflt)
        })
        .collect();
    let net_transmit = match net_before {
        Some(before) if ctx.coverage.net_device => Some(ctx.tracer.net_totals()?.since(&before)),
        _ => None,
    };
    let missed_events = ctx
        .tracer
        .missed_events()
        .into_iter()
        .map(|(p, n)| (p.clone(), n.saturating_sub(missed_before.get(&p).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect();

    // Read the counters while the workers are stopped, then forget them.
    let mut raw = Vec::with_capacity(pids.len());
    for &pid in &pids {
        if traced {
            raw.push(ctx.tracer.snapshot(pid)?);
            ctx.tracer.forget(pid)?;
        } else {
            raw.push(RawProcess::default());
        }
    }
    if let Err(exited) = stopped? {
        let who = if exited == workers.sender.pid {
            &mut workers.sender
        } else {
            workers.receiver.as_mut().unwrap_or(&mut workers.sender)
        };
        let line = who.lines.next_line().await?.unwrap_or_default();
        return Ok(Err(failure_of(&line)));
    }
    Ok(Ok(Window { resident_before, net_transmit, missed_events, raw, own_faults }))
}

/// Lets the workers finish, reads their reports, checks the data arrived,
/// and puts the run together.
async fn collect(
    ctx: &RunContext<'_>,
    case: &Case,
    mut workers: Workers,
    window: Window,
    sink_file: &Path,
) -> anyhow::Result<Result<RunResult, RunFailure>> {
    for pid in workers.pids() {
        crate::target::signal(pid, libc::SIGCONT);
    }
    let sender_report = workers.sender.report().await?;
    let receiver_report = match workers.receiver.as_mut() {
        Some(r) => Some(r.report().await?),
        None => None,
    };
    for report in std::iter::once(&sender_report).chain(receiver_report.as_ref()) {
        if let Some(message) = &report.error {
            return Ok(Err(RunFailure { message: message.clone(), unsupported: report.unsupported }));
        }
    }
    workers.sender.reap().await;
    if let Some(r) = workers.receiver.as_mut() {
        r.reap().await;
    }

    let verified = verify(ctx, case, sink_file, &sender_report, receiver_report.as_ref())?;
    let _ = std::fs::remove_file(sink_file);
    if let Err(message) = verified {
        return Ok(Err(RunFailure { message, unsupported: false }));
    }
    let end_ns = sender_report.end_ns.max(receiver_report.as_ref().map_or(0, |r| r.end_ns));
    let wall_s = end_ns.saturating_sub(sender_report.start_ns) as f64 / 1e9;
    let Window { resident_before, net_transmit, missed_events, raw, own_faults } = window;
    Ok(Ok(RunResult {
        wall_s,
        throughput_mib_s: if wall_s > 0.0 { ctx.size as f64 / f64::from(1 << 20) / wall_s } else { 0.0 },
        resident_before,
        net_transmit,
        missed_events,
        sender: side(ctx, workers.sender.pid, &raw[0], &sender_report, own_faults[0]),
        receiver: match (workers.receiver.as_ref(), receiver_report.as_ref(), raw.get(1)) {
            (Some(r), Some(report), Some(raw)) => {
                Some(side(ctx, r.pid, raw, report, own_faults.get(1).copied().flatten()))
            }
            _ => None,
        },
        verified: verified.unwrap_or_default(),
    }))
}

/// Checks the bytes arrived, and their CRC-32 with --verify.
fn verify(
    ctx: &RunContext<'_>,
    case: &Case,
    sink_file: &Path,
    sender: &WorkerReport,
    receiver: Option<&WorkerReport>,
) -> anyhow::Result<Result<String, String>> {
    if sender.bytes != ctx.size {
        return Ok(Err(format!("the sender moved {} of {} bytes", sender.bytes, ctx.size)));
    }
    let (bytes, crc) = match (case.sink, receiver) {
        (SinkKind::File, _) => {
            let len = std::fs::metadata(sink_file).map(|m| m.len()).unwrap_or(0);
            (len, if ctx.verify { Some(source::crc_of(sink_file)?) } else { None })
        }
        (_, Some(r)) => (r.bytes, r.crc32),
        (_, None) => return Ok(Ok("bytes sent (the sink keeps nothing to check)".into())),
    };
    if bytes != ctx.size {
        return Ok(Err(format!("the sink got {bytes} of {} bytes", ctx.size)));
    }
    match crc {
        Some(crc) if crc != ctx.source_crc => {
            Ok(Err(format!("CRC-32 mismatch: sent {:08x}, got {crc:08x}", ctx.source_crc)))
        }
        Some(_) => Ok(Ok("bytes and CRC-32 match".into())),
        None => Ok(Ok("byte count matches".into())),
    }
}
