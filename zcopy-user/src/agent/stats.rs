//! The kernel's BPF run-time statistics (run time and run count per
//! program), which the agent reports as its own cost. They cost every BPF
//! program on the machine two clock reads per run while on, so by default
//! they are on for a window of each period (`sampled`). They are held on by
//! a file descriptor (BPF_ENABLE_STATS): closing it, or the agent's death by
//! any signal, turns them back to the machine's own setting.

use std::{
    os::fd::OwnedFd,
    time::{Duration, Instant},
};

/// When the statistics are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsMode {
    /// On for the agent's whole run.
    Always,
    /// On for 10 s of every 60 s.
    Sampled,
    /// Never turned on by the agent.
    Off,
}

/// The sampled mode's window and period.
pub const WINDOW: Duration = Duration::from_secs(10);
pub const PERIOD: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Stats {
    pub mode: StatsMode,
    fd: Option<OwnedFd>,
    on_since: Option<Instant>,
    on_before: Duration,
    /// kernel.bpf_stats_enabled was already 1: always on, whatever the agent does.
    machine_on: Option<Instant>,
    /// Why they could not be turned on (said once).
    refused: Option<String>,
}

impl Stats {
    pub fn new(mode: StatsMode) -> Self {
        let machine_on = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
            .is_ok_and(|v| v.trim() == "1")
            .then(Instant::now);
        Self { mode, fd: None, on_since: None, on_before: Duration::ZERO, machine_on, refused: None }
    }

    /// Turns the statistics on (a failure is logged: the figures stay 0).
    pub fn turn_on(&mut self) {
        if self.fd.is_some() || self.mode == StatsMode::Off || self.refused.is_some() {
            return;
        }
        match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
            Ok(fd) => {
                self.fd = Some(fd);
                self.on_since = Some(Instant::now());
            }
            Err(e) => {
                let why = format!("{e}");
                eprintln!(
                    "zcopy agent: warning: the kernel's BPF run-time statistics are unavailable ({why}; BPF_ENABLE_STATS needs CAP_SYS_ADMIN): zcopy_agent_bpf_run_time_seconds_total and zcopy_agent_bpf_runs_total stay 0"
                );
                self.refused = Some(why);
            }
        }
    }

    pub fn turn_off(&mut self) {
        if let Some(since) = self.on_since.take() {
            self.on_before += since.elapsed();
        }
        self.fd = None;
    }

    /// Seconds the statistics have been on since the agent started.
    pub fn seconds_on(&self) -> f64 {
        match self.machine_on {
            Some(start) => start.elapsed(),
            None => self.on_before + self.on_since.map_or(Duration::ZERO, |s| s.elapsed()),
        }
        .as_secs_f64()
    }

    /// Whether they are on now.
    pub fn is_on(&self) -> bool {
        self.machine_on.is_some() || self.fd.is_some()
    }
}
