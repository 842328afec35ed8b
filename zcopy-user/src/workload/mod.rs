//! The transfer workloads. `zcopy bench` re-executes zcopy as `zcopy worker
//! SPEC` once per sender and receiver, so each runs in a fresh process of its
//! own and the in-kernel counters see exactly that process.
//!
//! Protocol on the worker's stdin/stdout (all of it outside the measured
//! window): the worker sets up (opens files, connects), prints `ready`, and
//! waits for one byte on stdin. It then transfers, stops itself with
//! SIGSTOP (one kill(2): the end of the measured window), and once continued
//! prints one JSON line, [`WorkerReport`], and exits.

pub mod strategies;

pub mod sys;

use std::{
    fs::{File, OpenOptions},
    io::{self, Write as _},
    net::{Ipv4Addr, TcpListener, TcpStream},
    os::{
        fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd},
        linux::net::SocketAddrExt,
        unix::{
            fs::OpenOptionsExt,
            net::{SocketAddr, UnixListener, UnixStream},
        },
    },
    path::PathBuf,
};

use serde::{Deserialize, Serialize};

use strategies::{SendStats, Transfer};

use crate::model::{SinkKind, Strategy, ZeroCopyStats};

/// The fd a pipe sink's end is passed on, in sender and receiver.
pub const PIPE_FD: i32 = 3;
/// The receiver's read size.
pub const RECEIVE_BUFFER: usize = 1 << 20;

/// Where a sender sends to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SinkTarget {
    Tcp { port: u16 },
    Unix { name: String },
    Pipe,
    File { path: PathBuf },
    Null,
}

impl SinkTarget {
    pub fn kind(&self) -> SinkKind {
        match self {
            Self::Tcp { .. } => SinkKind::Tcp,
            Self::Unix { .. } => SinkKind::Unix,
            Self::Pipe => SinkKind::Pipe,
            Self::File { .. } => SinkKind::File,
            Self::Null => SinkKind::Null,
        }
    }
}

/// What one worker process does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum WorkerSpec {
    Sender {
        strategy: Strategy,
        sink: SinkTarget,
        source: PathBuf,
        size: u64,
        chunk: usize,
    },
    /// Receives `expected` bytes on a TCP or Unix socket it listens on
    /// (abstract `unix_name`), or on the pipe at fd 3.
    Receiver {
        sink: SinkKind,
        unix_name: Option<String>,
        expected: u64,
        verify: bool,
    },
}

/// What a worker says when it is done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub bytes: u64,
    pub crc32: Option<u32>,
    /// CLOCK_MONOTONIC at go and at the last byte.
    pub start_ns: u64,
    pub end_ns: u64,
    /// CPU time used from go to the end (getrusage, outside the window).
    pub utime_us: u64,
    pub stime_us: u64,
    pub zerocopy: Option<ZeroCopyStats>,
    pub error: Option<String>,
    /// The error means "not supported here" (kernel, socket or filesystem).
    #[serde(default)]
    pub unsupported: bool,
}

impl WorkerSpec {
    /// Checks a spec like user input: a chunk moves at least one byte and at
    /// most what one call can (the buffers are that size).
    fn validate(&self) -> Result<(), String> {
        if let Self::Sender { chunk, .. } = self {
            let max = crate::model::size::MAX_CALL_BYTES;
            if *chunk == 0 || *chunk as u64 > max {
                return Err(format!("chunk {chunk} is outside 1..={max} bytes"));
            }
        }
        Ok(())
    }
}

/// The environment variable naming the zcopy that started a worker.
pub const PARENT_ENV: &str = "ZCOPY_PARENT";

/// Makes this worker die with the zcopy that started it: the flag set
/// before exec is cleared when zcopy has file capabilities (setcap).
/// False if that zcopy is gone already.
fn die_with_parent() -> bool {
    let Some(parent) = std::env::var(PARENT_ENV).ok().and_then(|p| p.parse::<libc::pid_t>().ok()) else {
        return true;
    };
    // SAFETY: prctl and getppid have no memory arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 && libc::getppid() == parent }
}

/// `zcopy worker SPEC`: returns the process exit code.
pub fn worker_main(spec: &str) -> i32 {
    if !die_with_parent() {
        return 1;
    }
    let parsed = serde_json::from_str::<WorkerSpec>(spec)
        .map_err(|e| e.to_string())
        .and_then(|spec| spec.validate().map(|()| spec));
    let report = match parsed {
        Ok(spec) => run(&spec).unwrap_or_else(|e| WorkerReport {
            error: Some(e.to_string()),
            unsupported: e.kind() == io::ErrorKind::Unsupported,
            ..Default::default()
        }),
        Err(e) => WorkerReport { error: Some(format!("bad worker spec: {e}")), ..Default::default() },
    };
    let failed = report.error.is_some();
    let line = serde_json::to_string(&report).unwrap_or_else(|_| "{\"error\":\"unserialisable report\"}".into());
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    i32::from(failed)
}

fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Waits for the go byte on stdin (one read(2), entered before tracing starts).
fn wait_for_go() -> io::Result<()> {
    let mut byte = [0u8; 1];
    // SAFETY: fd 0 is open for the life of the process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    match sys::read(stdin, &mut byte)? {
        1 => Ok(()),
        _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "zcopy bench went away before go")),
    }
}

/// Ends the measured window: one kill(2) that stops this process until the
/// parent has read the counters and continued it.
fn stop_self(pid: libc::pid_t) {
    // SAFETY: kill has no memory arguments.
    unsafe { libc::syscall(libc::SYS_kill, pid, libc::SIGSTOP) };
}

/// Runs the window: `work` between go and the stop.
fn measured(work: impl FnOnce() -> io::Result<(SendStats, Option<u32>)>) -> io::Result<WorkerReport> {
    let pid = libc::pid_t::try_from(std::process::id()).map_err(io::Error::other)?;
    let before = sys::Usage::now();
    wait_for_go()?;
    let start_ns = sys::now_ns();
    let outcome = work();
    let end_ns = sys::now_ns();
    stop_self(pid);
    let after = sys::Usage::now();
    let (stats, crc32) = outcome?;
    Ok(WorkerReport {
        bytes: stats.bytes,
        crc32,
        start_ns,
        end_ns,
        utime_us: after.user_us.saturating_sub(before.user_us),
        stime_us: after.sys_us.saturating_sub(before.sys_us),
        zerocopy: stats.zerocopy,
        error: None,
        unsupported: false,
    })
}

fn run(spec: &WorkerSpec) -> io::Result<WorkerReport> {
    match spec {
        WorkerSpec::Sender { strategy, sink, source, size, chunk } => {
            let mut open = OpenOptions::new();
            // A shared writable mapping needs the file open for writing.
            open.read(true).write(*strategy == Strategy::MmapSharedWrite);
            if *strategy == Strategy::DirectRead {
                open.custom_flags(libc::O_DIRECT);
            }
            let src = open.open(source).map_err(|e| {
                let kind = if *strategy == Strategy::DirectRead && e.raw_os_error() == Some(libc::EINVAL) {
                    io::ErrorKind::Unsupported
                } else {
                    e.kind()
                };
                io::Error::new(
                    kind,
                    format!(
                        "opening {}{}: {e}",
                        source.display(),
                        if *strategy == Strategy::DirectRead {
                            " with O_DIRECT (the filesystem may not support it: try another --dir)"
                        } else {
                            ""
                        }
                    ),
                )
            })?;
            let sink_fd = open_sink(sink)?;
            say("ready")?;
            measured(|| {
                let t =
                    Transfer { src: &src, sink: sink_fd.as_fd(), sink_kind: sink.kind(), size: *size, chunk: *chunk };
                Ok((strategies::run(*strategy, &t)?, None))
            })
        }
        WorkerSpec::Receiver { sink, unix_name, expected, verify } => {
            let conn = accept(*sink, unix_name.as_deref())?;
            say("ready")?;
            measured(|| receive(conn.as_fd(), *expected, *verify))
        }
    }
}

fn open_sink(sink: &SinkTarget) -> io::Result<OwnedFd> {
    Ok(match sink {
        SinkTarget::Tcp { port } => TcpStream::connect((Ipv4Addr::LOCALHOST, *port))?.into(),
        SinkTarget::Unix { name } => {
            UnixStream::connect_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?.into()
        }
        // SAFETY: zcopy bench passes the pipe's write end as fd 3.
        SinkTarget::Pipe => unsafe { OwnedFd::from_raw_fd(PIPE_FD) },
        SinkTarget::File { path } => File::create(path)?.into(),
        SinkTarget::Null => OpenOptions::new().write(true).open("/dev/null")?.into(),
    })
}

/// Listens (announcing the port or name), and returns the accepted connection.
fn accept(sink: SinkKind, unix_name: Option<&str>) -> io::Result<OwnedFd> {
    match sink {
        SinkKind::Tcp => {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            say(&format!("listening {}", listener.local_addr()?.port()))?;
            Ok(listener.accept()?.0.into())
        }
        SinkKind::Unix => {
            let name = unix_name.ok_or_else(|| io::Error::other("a unix receiver needs a socket name"))?;
            let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?;
            say("listening 0")?;
            Ok(listener.accept()?.0.into())
        }
        // SAFETY: zcopy bench passes the pipe's read end as fd 3.
        SinkKind::Pipe => Ok(unsafe { OwnedFd::from_raw_fd(PIPE_FD) }),
        SinkKind::File | SinkKind::Null => Err(io::Error::other("file and null sinks have no receiver")),
    }
}

/// Reads until `expected` bytes arrived (read(2), a copy into user memory).
fn receive(fd: BorrowedFd<'_>, expected: u64, verify: bool) -> io::Result<(SendStats, Option<u32>)> {
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    let mut hasher = verify.then(crc32fast::Hasher::new);
    let mut total = 0u64;
    while total < expected {
        let want = usize::try_from((expected - total).min(RECEIVE_BUFFER as u64)).unwrap_or(RECEIVE_BUFFER);
        let n = sys::read(fd, &mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("sender closed after {total} of {expected} bytes"),
            ));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        total += n as u64;
    }
    Ok((SendStats { bytes: total, zerocopy: None }, hasher.map(crc32fast::Hasher::finalize)))
}
