//! `zcopy bench`: the same transfer with every strategy, each run in fresh
//! worker processes traced by zcopy's in-kernel counters.

pub mod plan;
pub mod runner;
pub mod source;
pub mod warnings;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    bpf::Tracer,
    model::{BenchOptions, BenchReport, CaseResult, RunResult, SideSummary, Stats, Status},
    system::mounts::{Availability, Mounts},
};
use plan::Case;

use crate::system::signals::Interrupts;
use runner::{RunContext, RunFailure, Tracing};

/// Runs `zcopy bench`: the comparison, its table, report folder and exports;
/// exits 1 when a case failed.
pub fn command(args: &crate::cli::BenchArgs) -> anyhow::Result<i32> {
    let options = args.options();
    options.validate().map_err(anyhow::Error::msg)?;
    let folder = args.report.folder("bench");
    crate::export::check_outputs(&args.export.requests(), false, folder.as_deref())?;
    crate::system::caps::require_tracing()?;
    let mounts = crate::system::mounts::ensure(crate::system::mounts::Needs { tracefs: true, securityfs: false });
    let report = crate::runtime()?.block_on(run(options, &mounts))?;
    eprint!("{}", crate::output::bench::render(&report));
    if let Some(dir) = folder {
        let page = crate::report::write_folder(&crate::model::Results::Bench(Box::new(report.clone())), &dir)?;
        eprintln!("zcopy bench: report written to {}", page.display());
    }
    for (format, path) in args.export.requests() {
        crate::export::export(crate::export::Exported::Bench(&report), format, &path)?;
    }
    Ok(i32::from(report.cases.iter().any(|c| c.status == Status::Failed)))
}

/// Runs the comparison and returns its report. SIGINT, SIGTERM or SIGHUP
/// at any moment ends it with an `Interrupted` error: the work in progress is
/// dropped, which kills the workers, removes the work folder and detaches
/// the programs.
pub async fn run(options: BenchOptions, mounts: &Mounts) -> anyhow::Result<BenchReport> {
    let mut interrupts = Interrupts::watch()?;
    tokio::select! {
        report = compare(options, mounts) => report,
        signal = interrupts.recv() => Err(crate::error::ZcopyError::Interrupted {
            signal,
            what: "no report written (workers stopped, temporary files removed)",
        }
        .into()),
    }
}

/// The comparison itself.
async fn compare(options: BenchOptions, mounts: &Mounts) -> anyhow::Result<BenchReport> {
    options.validate().map_err(anyhow::Error::msg)?;
    let need = options.disk_needed().map_err(anyhow::Error::msg)?;
    let work = source::WorkDir::create(&options.dir, need)?;
    let mut tracer = Tracer::load(false, options.sample_hz)?;
    let mut warnings = tracer.warnings.clone();
    if let Availability::Missing(why) = &mounts.tracefs {
        warnings.push(crate::model::Warning::NoTracefs { why: why.clone() });
    }
    let coverage = tracer.coverage();

    let source_path = work.path().join("source.bin");
    eprintln!(
        "zcopy bench: writing a {} source file in {}",
        crate::model::size::format_size(options.size),
        work.path().display()
    );
    let source_crc = source::create_source(&source_path, options.size).await?;

    let mut sigchld = signal(SignalKind::child()).context("watching SIGCHLD")?;
    let mut ctx = RunContext {
        tracer: &mut tracer,
        coverage,
        exe: std::env::current_exe().context("finding zcopy's own executable")?,
        source: source_path,
        source_crc,
        work: work.path().to_path_buf(),
        size: options.size,
        verify: options.verify,
        sigchld: &mut sigchld,
        seq: 0,
        symbols: crate::system::kallsyms::KernelSymbols::read(),
    };

    let cases = options.cases();
    let runs_per_case = u64::from(options.runs_per_case().map_err(anyhow::Error::msg)?);
    let total = cases.iter().filter(|c| c.skip.is_none()).count() as u64 * runs_per_case;
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results = Vec::with_capacity(cases.len());
    for case in &cases {
        progress.set_message(format!(
            "{} {} {}",
            case.strategy,
            crate::model::size::format_size(case.chunk),
            case.cache.name()
        ));
        let result = run_case(&mut ctx, &options, case, &progress).await?;
        warnings.extend(warnings::warnings(&result));
        results.push(result);
    }
    progress.finish_and_clear();
    add_cross_case_claims(&mut results);
    drop(ctx);
    drop(tracer);
    Ok(BenchReport {
        schema: crate::model::bench::SCHEMA.to_owned(),
        kernel: crate::system::machine::kernel_release().unwrap_or_else(|e| format!("unknown ({e})")),
        machine: crate::system::machine::describe(),
        created: crate::system::machine::now_utc(),
        command: command_line(),
        options,
        cases: results,
        sources: crate::probes::sources::bench(coverage),
        warnings,
    })
}

fn empty_result(case: &Case, options: &BenchOptions, status: Status, reason: Option<String>) -> CaseResult {
    CaseResult::empty(case.strategy, case.sink, case.chunk, case.cache, options.size, status, reason)
}

async fn run_case(
    ctx: &mut RunContext<'_>,
    options: &BenchOptions,
    case: &Case,
    progress: &ProgressBar,
) -> anyhow::Result<CaseResult> {
    if let Some(reason) = &case.skip {
        return Ok(empty_result(case, options, Status::Skipped, Some(reason.clone())));
    }
    let mut result = empty_result(case, options, Status::Ok, None);
    let mut untraced: Vec<f64> = Vec::new();
    for i in 0..options.runs_per_case().map_err(anyhow::Error::msg)? {
        // Traced and untraced runs alternate, each going first every other
        // round, so that drift of the machine hits both alike.
        let order: &[Tracing] = match (options.untraced, i % 2) {
            (false, _) => &[Tracing::On],
            (true, 0) => &[Tracing::On, Tracing::Off],
            (true, _) => &[Tracing::Off, Tracing::On],
        };
        for &tracing in order {
            match run_with(ctx, case, tracing).await? {
                Ok(run) if i < options.warmup => drop(run),
                Ok(run) if tracing == Tracing::On => result.runs.push(run),
                Ok(run) => untraced.push(run.throughput_mib_s),
                Err(RunFailure { message, unsupported }) => {
                    progress.inc(runs_per_case_left(options, i));
                    let status = if unsupported { Status::Skipped } else { Status::Failed };
                    return Ok(CaseResult { status, reason: Some(message), runs: Vec::new(), ..result });
                }
            }
        }
        progress.inc(1);
    }
    result.untraced_throughput_mib_s = Stats::of(&untraced);
    let throughputs: Vec<f64> = result.runs.iter().map(|r| r.throughput_mib_s).collect();
    let walls: Vec<f64> = result.runs.iter().map(|r| r.wall_s).collect();
    result.throughput_mib_s = Stats::of(&throughputs);
    result.wall_s = Stats::of(&walls);
    let senders: Vec<_> = result.runs.iter().map(|r| &r.sender).collect();
    let receivers: Vec<_> = result.runs.iter().filter_map(|r| r.receiver.as_ref()).collect();
    result.sender = SideSummary::of(&senders, result.chunks_per_run, options.size);
    result.receiver = SideSummary::of(&receivers, result.chunks_per_run, options.size);
    for run in &mut result.runs {
        let figure = crate::analysis::claims::sender_copies(
            case.strategy,
            options.sink,
            &run.sender,
            case.chunk as f64,
            result.chunks_per_run as f64,
        );
        run.sender.cpu_copies_per_chunk = Some(figure.cpu_copies);
    }
    result.claims = crate::analysis::claims::compare(&result);
    Ok(result)
}

/// One run, traced or with the tracer paused (and attached again after,
/// whatever the run's outcome).
async fn run_with(
    ctx: &mut RunContext<'_>,
    case: &Case,
    tracing: Tracing,
) -> anyhow::Result<Result<RunResult, RunFailure>> {
    if tracing == Tracing::On {
        return runner::run_once(ctx, case, tracing).await;
    }
    ctx.tracer.pause().context("detaching zcopy's programs for an untraced run")?;
    let run = runner::run_once(ctx, case, tracing).await;
    ctx.tracer.resume().context("attaching zcopy's programs again after an untraced run")?;
    run
}

fn runs_per_case_left(options: &BenchOptions, done: u32) -> u64 {
    u64::from(options.runs_per_case().unwrap_or(u32::MAX).saturating_sub(done))
}

/// Claims that compare two cases: small-files-mmap against small-files-read.
fn add_cross_case_claims(results: &mut [CaseResult]) {
    use crate::model::strategy::Strategy;
    for i in 0..results.len() {
        if results[i].strategy != Strategy::SmallFilesMmap || results[i].status != Status::Ok {
            continue;
        }
        let (chunk, cache) = (results[i].chunk, results[i].cache);
        let read = results.iter().find(|c| {
            c.strategy == Strategy::SmallFilesRead && c.chunk == chunk && c.cache == cache && c.status == Status::Ok
        });
        if let Some(comparison) = read.and_then(|read| crate::analysis::claims::compare_small_files(&results[i], read))
        {
            results[i].claims.push(comparison);
        }
    }
}

/// zcopy's command line as typed, with the program as `zcopy` (not the
/// build's absolute path).
fn command_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "zcopy".into();
    }
    args.join(" ")
}
