//! The signals that interrupt a command: Ctrl-C (SIGINT), `kill`'s default
//! (SIGTERM) and a closed terminal (SIGHUP). Once watched they no longer kill
//! zcopy outright: the command that watches them stops its work, and
//! everything it made (workers, temporary folders, attached programs) is
//! dropped on the way out. SIGKILL cannot be watched: the next run cleans up
//! after it (`bench::source::WorkDir`), and workers die with their parent
//! (PR_SET_PDEATHSIG).

use std::fmt;

use anyhow::Context as _;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which interrupting signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Int,
    Term,
    Hup,
}

impl Interrupt {
    pub fn signo(self) -> i32 {
        match self {
            Self::Int => libc::SIGINT,
            Self::Term => libc::SIGTERM,
            Self::Hup => libc::SIGHUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Int => "SIGINT",
            Self::Term => "SIGTERM",
            Self::Hup => "SIGHUP",
        }
    }

    /// The exit code a shell gives a process this signal ended: 128 + n.
    pub fn exit_code(self) -> i32 {
        128 + self.signo()
    }
}

impl fmt::Display for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Listeners for the three signals, installed at once for the whole command
/// (a listener made anew each time misses a signal that arrives between two).
pub struct Interrupts {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Interrupts {
    pub fn watch() -> anyhow::Result<Self> {
        let watch = |kind: SignalKind, name: &str| signal(kind).with_context(|| format!("watching {name}"));
        Ok(Self {
            int: watch(SignalKind::interrupt(), "SIGINT")?,
            term: watch(SignalKind::terminate(), "SIGTERM")?,
            hup: watch(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    /// The next interrupting signal.
    pub async fn recv(&mut self) -> Interrupt {
        tokio::select! {
            _ = self.int.recv() => Interrupt::Int,
            _ = self.term.recv() => Interrupt::Term,
            _ = self.hup.recv() => Interrupt::Hup,
        }
    }
}
