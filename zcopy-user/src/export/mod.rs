//! Writing results to a file or stdout ('-'): JSON, CSV, Markdown. One
//! [`Exporter`] per format, each over every kind of result (a bench
//! comparison, a trace), as hyperfine's `src/export/`.

pub mod csv;
pub mod markdown;

use std::{
    io::{self, Write},
    path::Path,
};

use anyhow::Context as _;
use serde::Serialize;

use crate::model::{BenchReport, Summary};

/// The export formats, as `--export-json/--export-csv/--export-markdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
}

impl Format {
    /// The exporter of this format.
    pub fn exporter(self) -> &'static dyn Exporter {
        match self {
            Self::Json => &Json,
            Self::Csv => &csv::Csv,
            Self::Markdown => &markdown::Markdown,
        }
    }
}

/// One format, over every kind of result.
pub trait Exporter {
    fn bench(&self, report: &BenchReport) -> anyhow::Result<String>;
    fn trace(&self, summary: &Summary) -> anyhow::Result<String>;
}

/// A result to export.
#[derive(Debug, Clone, Copy)]
pub enum Exported<'a> {
    Bench(&'a BenchReport),
    Trace(&'a Summary),
}

impl Format {
    /// The option that asks for it.
    pub fn option(self) -> &'static str {
        match self {
            Self::Json => "--export-json",
            Self::Csv => "--export-csv",
            Self::Markdown => "--export-markdown",
        }
    }
}

/// Whether the caller may write `path` (access(2) W_OK: says EROFS on a
/// read-only file system, also to root).
fn writable(path: &Path) -> bool {
    crate::system::c_string(path.as_os_str())
        // SAFETY: a NUL-terminated path; access has no other arguments.
        .is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
}

/// Checks, before any work, that every output can be written: the exports'
/// folders exist and are writable (or are the report folder, which is made
/// before the exports), the report folder's parent exists (zcopy creates the
/// folder, never its parents), and at most one output is stdout.
pub fn check_outputs(
    exports: &[(Format, std::path::PathBuf)],
    json_stdout: bool,
    report: Option<&Path>,
) -> anyhow::Result<()> {
    let to_stdout: Vec<&str> = exports
        .iter()
        .filter(|(_, p)| p.as_os_str() == "-")
        .map(|(f, _)| f.option())
        .chain(json_stdout.then_some("--json"))
        .collect();
    if to_stdout.len() > 1 {
        let all = if to_stdout.len() == 2 { "both" } else { "all" };
        anyhow::bail!("{} {all} write to stdout: give a file to all but one", to_stdout.join(" and "));
    }
    let check = |what: &str, path: &Path, folder: bool| -> anyhow::Result<()> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // An export into the report folder: that folder is made first.
        if !folder && report.is_some_and(|r| r == parent) {
            return Ok(());
        }
        if path.exists() {
            if path.is_dir() != folder {
                let want = if folder { "a folder" } else { "a file" };
                anyhow::bail!("{what} {}: it exists and is not {want}: choose another path", path.display());
            }
            if !writable(path) {
                anyhow::bail!(
                    "{what} {}: not writable (permissions or a read-only file system): choose another path",
                    path.display()
                );
            }
        } else if !parent.is_dir() {
            anyhow::bail!(
                "{what} {}: the folder {} does not exist: create it first, or choose another path",
                path.display(),
                parent.display()
            );
        } else if !writable(parent) {
            anyhow::bail!(
                "{what} {}: cannot write in {} (permissions or a read-only file system): choose another path",
                path.display(),
                parent.display()
            );
        }
        Ok(())
    };
    for (format, path) in exports.iter().filter(|(_, p)| p.as_os_str() != "-") {
        check(format.option(), path, false)?;
    }
    if let Some(dir) = report {
        check("--report", dir, true)?;
    }
    Ok(())
}

/// Writes `results` in `format` to `path` ('-' for stdout).
pub fn export(results: Exported<'_>, format: Format, path: &Path) -> anyhow::Result<()> {
    let exporter = format.exporter();
    let text = match results {
        Exported::Bench(r) => exporter.bench(r)?,
        Exported::Trace(s) => exporter.trace(s)?,
    };
    write_text(&text, path)
}

/// Pretty JSON, the schema of docs/json-schema.md.
struct Json;

impl Exporter for Json {
    fn bench(&self, report: &BenchReport) -> anyhow::Result<String> {
        json_text(report)
    }

    fn trace(&self, summary: &Summary) -> anyhow::Result<String> {
        json_text(summary)
    }
}

/// Writes `text` to `path`, or to stdout when `path` is "-".
pub fn write_text(text: &str, path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes()).context("writing to stdout")?;
        return out.flush().context("writing to stdout");
    }
    std::fs::write(path, text)
        .with_context(|| format!("cannot write {}: check the folder exists and is writable", path.display()))
}

/// Writes `value` as pretty JSON to `path`, or to stdout when `path` is "-".
pub fn write_json<T: Serialize>(value: &T, path: &Path) -> anyhow::Result<()> {
    write_text(&json_text(value)?, path)
}

/// `value` as pretty JSON with a final newline: the one JSON form zcopy writes.
fn json_text<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value).context("encoding as JSON")? + "\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::model::{
        BenchOptions, BenchReport, CacheState, CaseResult, DataMovement, DeviceKind, DeviceTransmit, Faults,
        NetTransmit, RunResult, SideRun, SideSummary, SinkKind, Stats, Status, Strategy, Switches, SyscallFigures,
        ZeroCopyStats,
    };

    #[test]
    fn outputs_are_checked_before_the_work() {
        use super::{Format, check_outputs};
        let missing = std::path::PathBuf::from("/no/such/folder/x.json");
        let err = check_outputs(&[(Format::Json, missing)], false, None).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        // Into the report folder, which zcopy makes first (the demo does this).
        let report = std::env::temp_dir().join(format!("zcopy-unit-report-{}", std::process::id()));
        let csv = report.join("bench.csv");
        assert!(check_outputs(&[(Format::Csv, csv)], false, Some(&report)).is_ok());
        let stdout = std::path::PathBuf::from("-");
        let err = check_outputs(&[(Format::Csv, stdout)], true, None).unwrap_err().to_string();
        assert!(err.contains("--export-csv and --json both write to stdout"), "{err}");
    }

    fn side(pid: u32, name: &str, calls: u64, zerocopy: Option<ZeroCopyStats>) -> SideRun {
        SideRun {
            pid,
            syscalls: BTreeMap::from([(name.to_owned(), SyscallFigures { calls, bytes: Some(64 << 20), errors: 0 })]),
            syscalls_total: Some(calls + 1),
            faults: Faults { total: Some(3), user: Some(2), kernel: Some(1), minor: Some(3), major: Some(0) },
            switches: Switches { voluntary: Some(5), involuntary: Some(1) },
            data: DataMovement {
                recv_copy_bytes: Some(if name == "read" { 64 << 20 } else { 0 }),
                block_read_bytes: Some(0),
                block_write_bytes: Some(0),
                pagecache_added_bytes: Some(0),
                ..Default::default()
            },
            copies: Vec::new(),
            faults_own_counters: Some(3),
            user_s: 0.001,
            sys_s: 0.05,
            bytes: 64 << 20,
            zerocopy,
            cpu_copies_per_chunk: None,
            profile: None,
        }
    }

    /// A fixed report: one measured case with a receiver, one skipped, one failed.
    fn sample() -> BenchReport {
        let chunks = 1024;
        let run = |mib_s: f64, zc| RunResult {
            wall_s: 64.0 / mib_s,
            throughput_mib_s: mib_s,
            resident_before: 1.0,
            net_transmit: Some(NetTransmit::from_devices(vec![DeviceTransmit {
                name: "lo".into(),
                kind: DeviceKind::Loopback,
                bytes: 68_000_000,
                packets: 1100,
            }])),
            missed_events: BTreeMap::from([("net_dev_xmit".to_owned(), 3)]),
            sender: side(100, "sendto", chunks, zc),
            receiver: Some(side(101, "read", 70, None)),
            verified: "bytes and CRC-32 match".into(),
        };
        let runs = vec![
            run(
                1000.0,
                Some(ZeroCopyStats {
                    sends: 1024,
                    completions: 1024,
                    copied: 1024,
                    bytes: 64 << 20,
                    completed_bytes: 64 << 20,
                    copied_bytes: 64 << 20,
                    retransmitted_bytes: 0,
                }),
            ),
            run(1200.0, None),
        ];
        let senders: Vec<_> = runs.iter().map(|r| &r.sender).collect();
        let receivers: Vec<_> = runs.iter().filter_map(|r| r.receiver.as_ref()).collect();
        let base = |strategy: Strategy, status, reason: Option<&str>| {
            CaseResult::empty(
                strategy,
                SinkKind::Tcp,
                64 << 10,
                CacheState::Warm,
                64 << 20,
                status,
                reason.map(str::to_owned),
            )
        };
        let measured = CaseResult {
            throughput_mib_s: Stats::of(&[1000.0, 1200.0]),
            untraced_throughput_mib_s: Stats::of(&[1150.0, 1210.0]),
            wall_s: Stats::of(&[0.064, 0.0533]),
            sender: SideSummary::of(&senders, chunks, 64 << 20),
            receiver: SideSummary::of(&receivers, chunks, 64 << 20),
            runs: runs.clone(),
            ..base(Strategy::MsgZerocopy, Status::Ok, None)
        };
        let mut cases = vec![
            measured,
            base(Strategy::CopyFileRange, Status::Skipped, Some("copy-file-range needs a file sink")),
            base(Strategy::IoUring, Status::Failed, Some("io_uring send: 10 of 65536 bytes, \"short\"")),
        ];
        let warnings = cases.iter().flat_map(crate::bench::warnings::warnings).collect();
        cases[0].runs.truncate(2);
        BenchReport {
            schema: crate::model::bench::SCHEMA.into(),
            kernel: "6.18.0-test".into(),
            machine: "2 CPUs (test), 24 GiB RAM".into(),
            created: "2026-11-22 06:30 UTC".into(),
            command: "zcopy bench -s msg-zerocopy,copy-file-range,io-uring --size 64M --runs 2".into(),
            options: BenchOptions {
                strategies: vec![Strategy::MsgZerocopy, Strategy::CopyFileRange, Strategy::IoUring],
                sink: SinkKind::Tcp,
                size: 64 << 20,
                chunks: vec![64 << 10],
                caches: vec![CacheState::Warm],
                runs: 2,
                warmup: 1,
                untraced: true,
                verify: true,
                dir: "/tmp".into(),
                sample_hz: 0,
            },
            cases,
            sources: crate::probes::sources::bench(crate::model::Coverage::FULL),
            warnings,
        }
    }

    #[test]
    fn csv() {
        insta::assert_snapshot!(super::csv::render(&sample()));
    }

    #[test]
    fn markdown() {
        insta::assert_snapshot!(super::markdown::render(&sample()));
    }

    #[test]
    fn json() {
        insta::assert_json_snapshot!(sample());
    }

    #[test]
    fn terminal_table() {
        insta::assert_snapshot!(crate::output::bench::render(&sample()));
    }

    #[test]
    fn json_round_trips() {
        let report = sample();
        let text = serde_json::to_string(&report).unwrap();
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}
