//! Results as Markdown, with the provenance of each figure: a comparison as
//! a table of cases and the claims; a trace as its summary.

use std::fmt::Write as _;

use crate::model::{BenchReport, SideSummary, Status, Summary, size::format_size};

/// The Markdown exporter.
pub struct Markdown;

impl super::Exporter for Markdown {
    fn bench(&self, report: &BenchReport) -> anyhow::Result<String> {
        Ok(render(report))
    }

    fn trace(&self, summary: &Summary) -> anyhow::Result<String> {
        Ok(render_trace(summary))
    }
}

/// A trace: what ran, the summary as the terminal shows it, and the sources.
pub fn render_trace(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# zcopy trace: {}\n", s.target.describe());
    let _ = writeln!(out, "```\n{}```", crate::output::trace::render(s));
    sources(&mut out, &s.sources);
    out
}

fn sources(out: &mut String, sources: &std::collections::BTreeMap<String, String>) {
    let _ = writeln!(out, "\n## Where the numbers come from\n");
    for (k, v) in sources {
        let _ = writeln!(out, "- **{k}**: {v}");
    }
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn side(s: Option<&SideSummary>) -> String {
    match s {
        None => "- | - | - | -".to_owned(),
        Some(s) => format!(
            "{} | {} | {}/{} | {:.1}/{:.1}",
            f(s.syscalls_per_chunk, 2),
            f(s.faults_per_run, 0),
            f(s.switches_voluntary_per_run, 0),
            f(s.switches_involuntary_per_run, 0),
            1e3 * s.user_s.mean,
            1e3 * s.sys_s.mean
        ),
    }
}

pub fn render(r: &BenchReport) -> String {
    let o = &r.options;
    let mut out = String::new();
    let _ = writeln!(out, "# zcopy bench: {} file -> {} sink\n", format_size(o.size), o.sink);
    let _ = writeln!(out, "Kernel {}, {} measured run(s) and {} warmup per case.\n", r.kernel, o.runs, o.warmup);
    let _ = writeln!(
        out,
        "| strategy | chunk | cache | MiB/s (mean ± σ) | median | min … max | untraced MiB/s (median) | tracing cost | sender syscalls/chunk | sender faults | sender cs vol/invol | sender CPU ms usr/sys | receiver syscalls/chunk | receiver faults | receiver cs vol/invol | receiver CPU ms usr/sys |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &r.cases {
        let perf = match (&c.status, c.throughput_mib_s) {
            (Status::Ok, Some(t)) => {
                let [untraced, cost] = crate::output::bench::untraced_cells(c);
                format!(
                    "{:.0} ± {:.0} | {:.0} | {:.0} … {:.0} | {untraced} | {cost}",
                    t.mean, t.stddev, t.median, t.min, t.max
                )
            }
            (Status::Skipped, _) => "skipped | | | | ".to_owned(),
            _ => "failed | | | | ".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {perf} | {} | {} |",
            c.strategy,
            format_size(c.chunk),
            c.cache.name(),
            side(c.sender.as_ref()),
            side(c.receiver.as_ref())
        );
    }
    let notes: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.status != Status::Ok)
        .map(|c| {
            format!(
                "- {} ({}): {}",
                c.strategy,
                if c.status == Status::Skipped { "skipped" } else { "failed" },
                c.reason.as_deref().unwrap_or("?")
            )
        })
        .chain(r.cases.iter().filter_map(|c| Some(format!("- {}", c.zerocopy_note()?))))
        .chain(r.warnings.iter().map(|w| format!("- warning: {w}")))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{}", notes.join("\n"));
    }
    out.push_str(&crate::output::claims::render(&r.cases, true));
    sources(&mut out, &r.sources);
    out
}
