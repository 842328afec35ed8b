//! `zcopy agent`: attaches once and serves per-cgroup copy and zero-copy
//! counters at `/metrics` for Prometheus, until SIGINT, SIGTERM or SIGHUP
//! (which detach everything and exit 0).
//!
//! ```text
//! kernel (per-cgroup maps) -> series (top N + other, monotonic) -> families (OpenMetrics) -> http
//! ```

mod cgroups;
pub mod families;
mod http;
pub mod kernel;
mod series;
pub mod stats;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use anyhow::Context as _;
use prometheus_client::registry::Unit;
use tokio::net::TcpListener;

use self::{
    families::{Labels, Own, Scrape},
    kernel::{AgentKernel, Profile},
    series::Ledger,
    stats::{Stats, StatsMode},
};
use crate::{cli::AgentArgs, probes::hooks::Hook, system::signals::Interrupts};

/// The port `zcopy agent` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9477;

/// `zcopy agent`.
pub fn command(args: &AgentArgs) -> anyhow::Result<i32> {
    // The page-cache tracepoint needs tracefs; if it is not mounted, it is
    // mounted in a private mount namespace (before any thread starts).
    let mounts = crate::system::mounts::ensure(crate::system::mounts::Needs { tracefs: true, securityfs: false });
    log::info!("tracefs: {}", mounts.tracefs.describe());
    crate::runtime()?.block_on(run(args))
}

async fn run(args: &AgentArgs) -> anyhow::Result<i32> {
    let mut interrupts = Interrupts::watch()?;
    let cgroup_root = cgroup_root(args)?;
    let listener = TcpListener::bind(args.listen).await.map_err(|err| listen_error(args, &err))?;
    let mut profiles = vec![Profile::Default];
    profiles.extend(args.zero_copy.then_some(Profile::ZeroCopy));
    profiles.extend(args.packets.then_some(Profile::Packets));
    profiles.extend(args.syscalls.then_some(Profile::Syscalls));
    let kernel = AgentKernel::load(&profiles)?;
    for (probe, outcome) in &kernel.outcomes {
        if let Err(why) = outcome {
            eprintln!("zcopy agent: warning: {} not attached, its families are left out: {why}", probe.hook.program);
        }
    }
    let agent = Agent::new(kernel, usize::from(args.top), cgroup_root, Stats::new(args.bpf_stats));
    let agent = Arc::new(Mutex::new(agent));
    refresh(&agent)?;
    eprintln!(
        "zcopy agent: serving http://{}/metrics ({} programs attached; top {} cgroups, the rest as cgroup=\"other\")",
        listener.local_addr().unwrap_or(args.listen),
        agent.lock().map(|a| a.kernel.outcomes.iter().filter(|(_, o)| o.is_ok()).count()).unwrap_or(0),
        args.top,
    );
    let reaper = {
        let agent = Arc::clone(&agent);
        let period = args.interval;
        async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = refresh(&agent) {
                    log::warn!("refreshing the counters failed: {err:#}");
                }
            }
        }
    };
    let sampler = sample_stats(Arc::clone(&agent));
    tokio::select! {
        () = sampler => {}
        served = http::serve(listener, Arc::clone(&agent)) => {
            served.context("accepting connections")?;
        }
        () = reaper => {}
        signal = interrupts.recv() => {
            eprintln!("zcopy agent: {signal}: detaching and exiting");
        }
    }
    Ok(0)
}

/// The cgroup v2 mount: `--cgroup-root`, checked, or the one mounted.
fn cgroup_root(args: &AgentArgs) -> anyhow::Result<PathBuf> {
    let Some(root) = args.cgroup_root.clone().or_else(crate::system::mounts::find_cgroup2) else {
        anyhow::bail!(
            "no cgroup v2 hierarchy is mounted: the agent counts per cgroup v2 id; mount one (mount -t cgroup2 none /sys/fs/cgroup) or give it with --cgroup-root"
        );
    };
    let is_v2 = crate::system::procfs::is_cgroup2(&root)
        .with_context(|| format!("reading --cgroup-root {}", root.display()))?;
    if !is_v2 {
        anyhow::bail!(
            "{} is not a cgroup v2 mount: the agent counts per cgroup v2 id; give the cgroup2 mount with --cgroup-root (`findmnt -t cgroup2` shows it)",
            root.display()
        );
    }
    Ok(root)
}

/// A listen failure, with what to do about it.
fn listen_error(args: &AgentArgs, err: &std::io::Error) -> anyhow::Error {
    let hint = match err.raw_os_error() {
        Some(libc::EADDRINUSE) => "another program listens there: choose another port with --listen HOST:PORT",
        Some(libc::EADDRNOTAVAIL) => {
            "no interface of this machine has that address: use 127.0.0.1, 0.0.0.0 or one `ip addr` lists"
        }
        Some(libc::EACCES) => "ports below 1024 need CAP_NET_BIND_SERVICE: choose a port above 1023",
        _ => "check the address given to --listen",
    };
    anyhow::anyhow!("cannot listen on {}: {err}; {hint}", args.listen)
}

/// Turns the BPF statistics on and off as their mode says.
async fn sample_stats(agent: Arc<Mutex<Agent>>) {
    let set = |on: bool| {
        if let Ok(mut a) = agent.lock() {
            if on { a.stats.turn_on() } else { a.stats.turn_off() }
        }
    };
    let mode = agent.lock().map(|a| a.stats.mode).unwrap_or(StatsMode::Off);
    match mode {
        StatsMode::Always => set(true),
        StatsMode::Off => {}
        StatsMode::Sampled => loop {
            set(true);
            tokio::time::sleep(stats::WINDOW).await;
            set(false);
            tokio::time::sleep(stats::PERIOD.saturating_sub(stats::WINDOW)).await;
        },
    }
    std::future::pending::<()>().await;
}

fn refresh(agent: &Mutex<Agent>) -> anyhow::Result<()> {
    agent.lock().map_err(|_| anyhow::anyhow!("the agent's state is poisoned"))?.refresh()
}

/// The running agent.
pub struct Agent {
    kernel: AgentKernel,
    ledger: Ledger,
    cgroup_root: PathBuf,
    /// The kernel's BPF run-time statistics, on as `--bpf-stats` says.
    stats: Stats,
}

impl Agent {
    fn new(kernel: AgentKernel, top: usize, cgroup_root: PathBuf, stats: Stats) -> Self {
        Self { kernel, ledger: Ledger::new(top), cgroup_root, stats }
    }

    /// Reads the kernel's counters into the series and removes dead cgroups'
    /// entries (the cgroups are scanned after the read: a cgroup with
    /// counters that is not found is gone).
    fn refresh(&mut self) -> anyhow::Result<()> {
        let observed = self.kernel.read()?;
        let paths = cgroups::scan(&self.cgroup_root)
            .with_context(|| format!("listing the cgroups under {}", self.cgroup_root.display()))?;
        let dead = self.ledger.update(&observed, &paths);
        self.kernel.remove(&dead)
    }

    /// Refreshes, then renders every family.
    pub fn scrape(&mut self) -> anyhow::Result<String> {
        self.refresh()?;
        let attached: Vec<(&'static str, String)> = self
            .kernel
            .outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(p, _)| (p.hook.program, p.hook.point()))
            .collect();
        let series = self.ledger.series().map(|(s, v)| (families::series_labels(&s), v.clone())).collect();
        let own = self.own_metrics()?;
        let scrape = Scrape { attached, series, own };
        scrape.render().context("encoding the metrics")
    }

    /// The agent's own cost and state.
    fn own_metrics(&self) -> anyhow::Result<Vec<Own>> {
        let by = |label: &str, value: &str| -> Labels { vec![(label.to_owned(), value.to_owned())] };
        let programs = self.kernel.program_stats();
        let per_program = |name, help, unit, pick: fn(&(&str, u64, u64, u64)) -> f64| Own {
            name,
            help,
            unit,
            counter: true,
            samples: programs.iter().map(|p| (by("program", p.0), pick(p))).collect(),
        };
        let maps = self.kernel.map_entries()?;
        let (named, other) = self.ledger.population();
        let me = std::process::id();
        let cpu = crate::system::procfs::ProcCounters::read(me)
            .map(|c| (c.utime_ticks + c.stime_ticks) as f64 / crate::system::procfs::ticks_per_second())
            .unwrap_or(0.0);
        let rss = crate::system::procfs::resident_bytes(me).unwrap_or(0) as f64;
        let probes = self.kernel.outcomes.iter().map(|(p, _)| {
            let hook = self.kernel.attached(p.hook.program);
            let point = hook.map_or_else(|| "none".to_owned(), Hook::point);
            (
                vec![("program".into(), p.hook.program.into()), ("hook".into(), point)],
                f64::from(u8::from(hook.is_some())),
            )
        });
        Ok(vec![
            per_program(
                "zcopy_agent_bpf_run_time",
                "Time the agent's programs ran while the kernel's BPF run-time statistics were on (see zcopy_agent_bpf_stats_seconds_total).",
                Some(Unit::Seconds),
                |p| p.1 as f64 / 1e9,
            ),
            per_program(
                "zcopy_agent_bpf_runs",
                "Times the agent's programs ran while the kernel's BPF run-time statistics were on.",
                None,
                |p| p.2 as f64,
            ),
            per_program(
                "zcopy_agent_bpf_recursion_misses",
                "Events a program missed because another BPF program was running on that CPU (bpf_prog_info.recursion_misses).",
                None,
                |p| p.3 as f64,
            ),
            Own {
                name: "zcopy_agent_map_entries",
                help: "Entries in each of the agent's kernel maps.",
                unit: None,
                counter: false,
                samples: maps.iter().map(|m| (by("map", m.0), m.2 as f64)).collect(),
            },
            Own {
                name: "zcopy_agent_map_capacity_entries",
                help: "Capacity of each of the agent's kernel maps.",
                unit: None,
                counter: false,
                samples: maps.iter().map(|m| (by("map", m.0), f64::from(m.1))).collect(),
            },
            Own {
                name: "zcopy_agent_dropped_events",
                help: "Events not counted because the map was full.",
                unit: None,
                counter: true,
                samples: self.kernel.drops()?.into_iter().map(|(m, n)| (by("map", m), n as f64)).collect(),
            },
            Own {
                name: "zcopy_agent_cgroups",
                help: "Live cgroups with counters: with their own series (named) or counted in cgroup=\"other\".",
                unit: None,
                counter: false,
                samples: vec![(by("series", "named"), named as f64), (by("series", "other"), other as f64)],
            },
            Own {
                name: "zcopy_agent_probe_attached",
                help: "Per program of the chosen profiles: 1 if attached (to the hook labelled; its families are served), 0 if not (the agent's start-up warning says why).",
                unit: None,
                counter: false,
                samples: probes.collect(),
            },
            Own {
                name: "zcopy_agent_bpf_stats_enabled",
                help: "1 while the kernel's BPF run-time statistics are on (--bpf-stats: always, or sampled 10 s of every 60 s).",
                unit: None,
                counter: false,
                samples: vec![(Vec::new(), f64::from(u8::from(self.stats.is_on())))],
            },
            Own {
                name: "zcopy_agent_bpf_stats",
                help: "Seconds the kernel's BPF run-time statistics were on: zcopy_agent_bpf_run_time_seconds_total over this is the share of one CPU the agent's programs take.",
                unit: Some(Unit::Seconds),
                counter: true,
                samples: vec![(Vec::new(), self.stats.seconds_on())],
            },
            Own {
                name: "process_cpu",
                help: "CPU time of the agent process, user and system (/proc/self/stat).",
                unit: Some(Unit::Seconds),
                counter: true,
                samples: vec![(Vec::new(), cpu)],
            },
            Own {
                name: "process_resident_memory",
                help: "Resident memory of the agent process (/proc/self/status VmRSS).",
                unit: Some(Unit::Bytes),
                counter: false,
                samples: vec![(Vec::new(), rss)],
            },
        ])
    }
}
