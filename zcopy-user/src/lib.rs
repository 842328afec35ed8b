//! zcopy: measure what the kernel really does when a program moves data.
//!
//! The data flows one way, and the folders say so:
//!
//! ```text
//! probes (what can attach, where each figure comes from)
//!   -> bpf (load, attach, read the kernel maps)         producers: bpf, trace, bench, workload
//!   -> model (every result type)
//!   -> analysis (copies, claims, flows, the data's path)
//!   -> output (terminal), export (JSON/CSV/Markdown), report (PNG charts, index)
//! ```
//!
//! `system` (capabilities, mounts, /proc) and `target` (starting or
//! attaching to processes) serve the producers. Each command lives in its
//! module: `trace::command`, `bench::command`, `explain::command`,
//! `doctor::command`, `report::command`, `agent::command` (the always-on
//! per-cgroup exporter: its own probe table, ledger and families, on the
//! same `bpf` loader); this file only dispatches.

pub mod agent;
pub mod analysis;
pub mod bench;
pub mod bpf;
pub mod cli;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod export;
pub mod model;
pub mod output;
pub mod probes;
pub mod report;
pub mod syscalls;
pub mod system;
pub mod target;
pub mod trace;
pub mod workload;

use anyhow::Context as _;

use crate::cli::{Cli, Command};

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    cli.init_logging();
    match cli.command {
        Command::Worker { spec } => Ok(workload::worker_main(&spec)),
        Command::Bench(args) => bench::command(&args),
        Command::Explain(args) => explain::command(&args),
        Command::Report(args) => report::command(&args),
        Command::Doctor(args) => doctor::command(&args),
        Command::Trace(args) => trace::command(args),
        Command::Agent(args) => agent::command(&args),
        Command::Activities(args) => analysis::profile::command(&args),
    }
}

/// The single-threaded async runtime the tracing commands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}
