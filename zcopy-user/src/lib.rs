//! zcopy: measure what the kernel really does when a program moves data.
//!
//! One home per concern: `bpf` (loading, attaching, probing, reading the
//! kernel counters), `system` (capabilities, mounts, /proc), `target`
//! (starting or attaching to processes), `summary` (the result structure),
//! `output`/`export` (table, JSON), `trace`/`doctor` (the commands).

pub mod analysis;
pub mod bench;
pub mod bpf;
pub mod cli;
pub mod doctor;
pub mod error;
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

use crate::{
    cli::{Cli, Command},
    error::ZcopyError,
    system::{caps::CapSet, mounts},
    trace::{AttachSpec, TargetSpec, TraceOptions},
};

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    let mut logger = env_logger::Builder::new();
    logger.filter_level(level);
    if matches!(&cli.command, Command::Trace(t) if t.bpf_log) {
        // aya-log records carry the eBPF crate's module path (zcopy::...).
        logger.filter_module("zcopy", log::LevelFilter::Trace);
    }
    logger.parse_env("ZCOPY_LOG").init();

    match cli.command {
        Command::Worker { spec } => Ok(workload::worker_main(&spec)),
        Command::Bench(args) => {
            require_tracing_caps()?;
            let options = args.options();
            let mounts = mounts::ensure(mounts::Needs { tracefs: true, securityfs: false });
            let report = runtime()?.block_on(bench::run(options, &mounts))?;
            eprint!("{}", output::bench::render(&report));
            if let Some(dir) = args.report.folder("bench") {
                let page = report::write_folder(&model::Results::Bench(Box::new(report.clone())), &dir)?;
                eprintln!("zcopy bench: report written to {}", page.display());
            }
            if let Some(path) = &args.export_json {
                export::write_json(&report, path)?;
            }
            if let Some(path) = &args.export_csv {
                export::write_text(&export::csv::render(&report), path)?;
            }
            if let Some(path) = &args.export_markdown {
                export::write_text(&export::markdown::render(&report), path)?;
            }
            let failed = report.cases.iter().any(|c| c.status == model::Status::Failed);
            Ok(i32::from(failed))
        }
        Command::Explain(args) => {
            require_tracing_caps()?;
            let mounts = mounts::ensure(mounts::Needs { tracefs: true, securityfs: false });
            let report = runtime()?.block_on(bench::run(args.options(), &mounts))?;
            let case = report.cases.first().context("the run produced no result")?;
            let Some(run) = case.runs.first() else {
                anyhow::bail!(
                    "{} could not run here: {}",
                    case.strategy,
                    case.reason.as_deref().unwrap_or("no measured run")
                );
            };
            let steps = analysis::path::steps(case, run);
            if args.json {
                let value = serde_json::json!({ "case": case, "steps": steps });
                export::write_json(&value, std::path::Path::new("-"))?;
            } else {
                print!("{}", output::explain::render(case, &steps));
                for w in &report.warnings {
                    eprintln!("  warning: {w}");
                }
            }
            Ok(0)
        }
        Command::Report(args) => {
            let results = model::Results::load(&args.results)?;
            let page = report::write_folder(&results, &args.out_dir())?;
            eprintln!("zcopy report: written to {}", page.display());
            Ok(0)
        }
        Command::Doctor(args) => {
            // Before any thread exists: may enter a private mount namespace.
            let mounts = mounts::ensure(mounts::Needs { tracefs: true, securityfs: true });
            doctor::run(args.json, &mounts)
        }
        Command::Trace(args) => {
            args.validate().map_err(anyhow::Error::msg)?;
            let bpf_log = args.bpf_log;
            require_tracing_caps()?;
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
            let report = args.report.folder("trace");
            let opts = TraceOptions {
                target,
                json_stdout: args.json,
                export_json: args.export_json,
                bpf_log,
                report,
                interval: args.interval,
            };
            let mounts = mounts::ensure(mounts::Needs { tracefs: true, securityfs: false });
            runtime()?.block_on(trace::run(opts, &mounts))
        }
    }
}

fn require_tracing_caps() -> anyhow::Result<()> {
    // The programs see the kernel's PIDs; inside a PID namespace zcopy's are others.
    if let Some(ns) = system::procfs::nested_pid_namespace() {
        return Err(ZcopyError::NestedPidNamespace(ns).into());
    }
    if let Some(missing) = CapSet::current().map(CapSet::missing_for_tracing).filter(|m| !m.is_empty()) {
        return Err(ZcopyError::NotPrivileged { missing }.into());
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}
