//! The comparison as a table for the terminal.

use std::fmt::Write as _;

use crate::model::{BenchReport, CaseResult, SideSummary, Status, size::format_size};

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn side_cells(s: Option<&SideSummary>) -> [String; 4] {
    match s {
        None => ["-".into(), "-".into(), "-".into(), "-".into()],
        Some(s) => [
            f(s.syscalls_per_chunk, 2),
            f(s.faults_per_run, 0),
            format!("{}/{}", f(s.switches_voluntary_per_run, 0), f(s.switches_involuntary_per_run, 0)),
            format!("{:.0}/{:.0}", 1e3 * s.user_s.mean, 1e3 * s.sys_s.mean),
        ],
    }
}

/// The untraced median MiB/s and the tracing cost of a case ("-": none),
/// for the terminal table and the Markdown export alike.
pub(crate) fn untraced_cells(c: &CaseResult) -> [String; 2] {
    [
        c.untraced_throughput_mib_s.map_or_else(|| "-".to_owned(), |u| format!("{:.0}", u.median)),
        c.tracing_cost().map_or_else(|| "-".to_owned(), |f| format!("{:.1}%", f * 100.0)),
    ]
}

/// Renders the report.
pub fn render(r: &BenchReport) -> String {
    let o = &r.options;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "zcopy bench: {} file -> {} sink, {} measured run(s) + {} warmup per case, kernel {}\n",
        format_size(o.size),
        o.sink,
        o.runs,
        o.warmup,
        r.kernel
    );
    let header = [
        "strategy",
        "chunk",
        "cache",
        "MiB/s mean",
        "± σ",
        "median",
        "min",
        "max",
        "untraced",
        "cost",
        "snd sys/chunk",
        "snd faults",
        "snd cs v/i",
        "snd usr/sys ms",
        "rcv sys/chunk",
        "rcv faults",
        "rcv cs v/i",
        "rcv usr/sys ms",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for c in &r.cases {
        let mut row = vec![c.strategy.to_string(), format_size(c.chunk), c.cache.name().to_owned()];
        match (&c.status, &c.throughput_mib_s) {
            (Status::Ok, Some(t)) => {
                row.extend([t.mean, t.stddev, t.median, t.min, t.max].map(|v| format!("{v:.0}")));
                row.extend(untraced_cells(c));
            }
            (status, _) => {
                let word = match status {
                    Status::Skipped => "skipped",
                    Status::Failed => "FAILED",
                    Status::Ok => "no runs",
                };
                row.extend([word.to_owned()]);
                row.extend(std::iter::repeat_n(String::new(), 6));
            }
        }
        row.extend(side_cells(c.sender.as_ref()));
        row.extend(side_cells(c.receiver.as_ref()));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| if i < 3 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  "));
        if n == 0 {
            let _ = writeln!(out, "  {}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
    let _ = writeln!(
        out,
        "\n  MiB/s: the traced runs; untraced: median MiB/s of as many runs with zcopy's programs detached, alternating\n  \
         with them; cost: the share of it the traced median lacks (measured; within the spread, it is noise).\n  \
         sys/chunk: syscalls per chunk (syscall tracepoints: the sources say which); mode transitions are 2 per syscall (inferred).\n  \
         faults: perf page-faults per run; cs v/i: voluntary/involuntary context switches per run (sched_switch);\n  \
         usr/sys: CPU ms per run (getrusage). snd = sender process, rcv = receiver process, counted apart."
    );
    for c in &r.cases {
        if let Some(note) = c.zerocopy_note() {
            let _ = writeln!(out, "  {note}");
        }
        if c.status != Status::Ok {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                c.strategy,
                if c.status == Status::Skipped { "skipped" } else { "FAILED" },
                c.reason.as_deref().unwrap_or("?")
            );
        }
    }
    out.push_str(&crate::output::claims::render(&r.cases, false));
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}
