//! The charts of a bench report. Each takes the saved results only, so
//! `zcopy report` redraws them without privileges.

use std::path::Path;

use plotters::prelude::*;

use super::{
    Chart,
    style::{self, Bar, FAMILY},
};
use crate::model::{BenchReport, CaseResult, CopyKind, How, SideRun, Status, Verdict, size::format_size};

const MIB: f64 = (1 << 20) as f64;

/// The cases one set of per-strategy charts shows: measured, at the chunk
/// size closest to 64K and the first cache state (a sweep gets its own chart).
fn primary(report: &BenchReport) -> Vec<&CaseResult> {
    let chunk = report.options.chunks.iter().copied().min_by_key(|c| c.abs_diff(64 << 10)).unwrap_or(64 << 10);
    let cache = report.options.caches.first().copied();
    report
        .cases
        .iter()
        .filter(|c| c.status == Status::Ok && c.chunk == chunk && Some(c.cache) == cache && !c.runs.is_empty())
        .collect()
}

/// The caption line: kernel, machine, sizes, cache, runs.
fn caption(report: &BenchReport, cases: &[&CaseResult]) -> String {
    let o = &report.options;
    // The cases' chunk size when they share one (the per-strategy charts), else every one (a sweep).
    let shared = cases.first().map(|c| c.chunk).filter(|&first| cases.iter().all(|c| c.chunk == first));
    let chunk =
        shared.map_or_else(|| o.chunks.iter().map(|c| format_size(*c)).collect::<Vec<_>>().join(", "), format_size);
    let cache = cases.first().map_or("?", |c| c.cache.name());
    format!(
        "Linux {} · {} · {} file -> {} sink · chunk {} · {} cache · {} runs each (+{} warm-up){}",
        report.kernel,
        if report.machine.is_empty() { "machine not recorded" } else { &report.machine },
        format_size(o.size),
        o.sink.name(),
        chunk,
        cache,
        o.runs,
        o.warmup,
        if report.created.is_empty() { String::new() } else { format!(" · {}", report.created) },
    )
}

fn legend_entries(cases: &[&CaseResult]) -> Vec<(String, RGBColor)> {
    let mut seen = Vec::new();
    for c in cases {
        if !seen.iter().any(|(s, _)| s == c.strategy.name()) {
            seen.push((c.strategy.name().to_owned(), style::color(c.strategy)));
        }
    }
    seen
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// CPU-copied bytes per byte moved by one side in one run, by the best
/// evidence: copy routines, else fd-kind rules (for the sender, the claims'
/// model as saved with the run, which also reads the kernel's zero-copy reports).
fn cpu_copies_per_byte(_case: &CaseResult, side: &SideRun, sender: bool) -> Option<f64> {
    if side.bytes == 0 {
        return None;
    }
    if sender {
        // As saved by the bench (results saved before it was kept have none).
        return side.cpu_copies_per_chunk.as_ref().and_then(|f| f.value);
    }
    let d = &side.data;
    if let (Some(a), Some(b), Some(c)) = (d.copied_to_user_bytes, d.copied_from_user_bytes, d.copied_in_kernel_bytes) {
        return Some((a + b + c) as f64 / side.bytes as f64);
    }
    let cpu = side.copies.iter().filter(|f| f.kind.is_cpu_copy()).map(|f| f.bytes).sum::<u64>();
    (!side.copies.is_empty()).then(|| cpu as f64 / side.bytes as f64)
}

/// Bytes of one kind per byte moved (fd-kind rules; io_uring by completion).
fn kind_per_byte(side: &SideRun, kind: CopyKind) -> Option<f64> {
    (side.bytes > 0 && !side.copies.is_empty())
        .then(|| side.copies.iter().filter(|f| f.kind == kind).map(|f| f.bytes).sum::<u64>() as f64 / side.bytes as f64)
}

/// A per-side figure, averaged over the case's runs; sender and receiver bars per strategy.
fn side_groups(
    cases: &[&CaseResult],
    figure: &dyn Fn(&CaseResult, &SideRun, bool) -> Option<f64>,
) -> Vec<(String, Vec<Option<Bar>>)> {
    let side = |sender: bool| -> Vec<Option<Bar>> {
        cases
            .iter()
            .map(|c| {
                let values = c.runs.iter().filter_map(|r| {
                    let s = if sender { Some(&r.sender) } else { r.receiver.as_ref() };
                    s.and_then(|s| figure(c, s, sender))
                });
                let color = if sender { style::color(c.strategy) } else { style::light(style::color(c.strategy)) };
                mean(values).map(|v| Bar::new(v, color))
            })
            .collect()
    };
    let mut groups = vec![("sender".to_owned(), side(true))];
    if cases.iter().any(|c| c.runs.iter().any(|r| r.receiver.is_some())) {
        groups.push(("receiver (lighter)".to_owned(), side(false)));
    }
    groups
}

fn mib(side: &SideRun) -> f64 {
    (side.bytes as f64 / MIB).max(f64::MIN_POSITIVE)
}

/// Per strategy: mode transitions, CPU copies, device bytes, faults and switches.
pub fn per_strategy(report: &BenchReport, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let cases = primary(report);
    if cases.is_empty() {
        return Ok(None);
    }
    let chart = Chart::new("per-strategy.png", "What each strategy costs the kernel, per MiB moved", &cases);
    chart.draw(dir, &caption(report, &cases), |body| {
        let panels = body.split_evenly((2, 3));
        let transitions = |_: &CaseResult, s: &SideRun, _| s.syscalls_total.map(|n| 2.0 * n as f64 / mib(s));
        let device = |_: &CaseResult, s: &SideRun, _| {
            let d = &s.data;
            Some((d.block_read_bytes? + d.block_write_bytes?) as f64 / s.bytes.max(1) as f64)
        };
        let faults = |_: &CaseResult, s: &SideRun, _| s.faults.total.map(|f| f as f64 / mib(s));
        let switches =
            |_: &CaseResult, s: &SideRun, _| Some((s.switches.voluntary? + s.switches.involuntary?) as f64 / mib(s));
        style::bar_panel(
            &panels[0],
            "mode transitions per MiB",
            "2 x syscalls (inferred) / MiB",
            &side_groups(&cases, &transitions),
        )?;
        style::bar_panel(
            &panels[1],
            "CPU-copied bytes per byte moved",
            "bytes / byte (see copies chart)",
            &side_groups(&cases, &cpu_copies_per_byte),
        )?;
        style::bar_panel(
            &panels[2],
            "block device bytes per byte moved",
            "block_bio_queue bytes / byte",
            &side_groups(&cases, &device),
        )?;
        style::bar_panel(&panels[3], "page faults per MiB", "perf page-faults / MiB", &side_groups(&cases, &faults))?;
        style::bar_panel(
            &panels[4],
            "context switches per MiB",
            "sched_switch / MiB",
            &side_groups(&cases, &switches),
        )?;
        style::legend(&panels[5], "strategy (receiver: lighter shade)", &legend_entries(&cases))?;
        Ok(())
    })?;
    Ok(Some(chart))
}

/// Bytes per byte moved by copy kind, sender and receiver apart.
pub fn copies_by_kind(report: &BenchReport, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let cases = primary(report);
    if cases.is_empty() || cases.iter().all(|c| c.runs.iter().all(|r| r.sender.copies.is_empty())) {
        return Ok(None);
    }
    let chart =
        Chart::new("copies-by-kind.png", "What the kernel did with each byte, by kind (bytes per byte moved)", &cases);
    chart.draw(dir, &caption(report, &cases), |body| {
        let panels = body.split_evenly((3, 3));
        let kinds = [
            CopyKind::CpuKernelToUser,
            CopyKind::CpuUserToKernel,
            CopyKind::CpuKernelToKernel,
            CopyKind::ZeroCopyCopied,
            CopyKind::ByReference,
            CopyKind::ZeroCopySend,
        ];
        for (panel, kind) in panels.iter().zip(kinds) {
            let figure = move |_: &CaseResult, s: &SideRun, _| kind_per_byte(s, kind);
            // The copied-anyway bytes come from the kernel's completion reports.
            let unit = if kind == CopyKind::ZeroCopyCopied {
                "bytes / byte (kernel completion reports)"
            } else {
                "bytes / byte (inferred from fd kinds)"
            };
            style::bar_panel(panel, kind.label(), unit, &side_groups(&cases, &figure))?;
        }
        style::legend(&panels[6], "strategy (receiver: lighter shade)", &legend_entries(&cases))?;
        Ok(())
    })?;
    Ok(Some(chart))
}

/// The literature's table against the measurement, one panel per claim row.
pub fn claims(report: &BenchReport, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let cases = primary(report);
    let rows: Vec<(&CaseResult, &crate::model::Comparison)> =
        cases.iter().flat_map(|c| c.claims.iter().map(move |row| (*c, row))).collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let chart = Chart::new("claims.png", "Claimed (grey) against measured (colour), per chunk or per MiB", &cases);
    chart.draw(dir, &caption(report, &cases), |body| {
        let shown = rows.len().min(8);
        let cols = if shown <= 2 {
            shown
        } else if shown <= 6 {
            3
        } else {
            4
        };
        let grid_rows = shown.div_ceil(cols).max(1);
        let panels = body.split_evenly((grid_rows, cols));
        for ((case, row), panel) in rows.iter().take(shown).zip(panels.iter()) {
            let c = style::color(case.strategy);
            let groups: Vec<(String, Vec<Option<Bar>>)> = row
                .cells
                .iter()
                .map(|cell| {
                    let claimed = Bar { outline: Some(c), show_value: true, ..Bar::new(cell.claimed, style::CLAIMED) };
                    // A figure that is not available draws no bar (and no verdict).
                    let measured = cell.measured.value.map(|v| Bar {
                        show_value: true,
                        mark: (cell.verdict == Verdict::Differs).then(|| "differs".into()),
                        ..Bar::new(v, c)
                    });
                    let what = cell.what.replace("mode transitions", "mode trans.").replace(" per chunk", "");
                    let label = if cell.measured.how == How::Inferred { format!("{what}*") } else { what };
                    (label, vec![Some(claimed), measured])
                })
                .collect();
            let title = format!("{}: {}", case.strategy.name(), style::truncate(&row.row, 46));
            style::bar_panel(panel, &title, "", &groups)?;
        }
        if rows.len() > shown {
            body.draw(&Text::new(
                format!("{} more rows in index.md", rows.len() - shown),
                (10, 5),
                (FAMILY, 13).into_font().color(&BLACK),
            ))?;
        }
        body.draw(&Text::new(
            "* inferred from a rule (see index); red \"differs\": measured is not within 5% of claimed",
            (10, (style::SIZE.1 - 48 - 30 - 18) as i32),
            (FAMILY, 13).into_font().color(&RGBColor(80, 80, 80)),
        ))?;
        Ok(())
    })?;
    Ok(Some(chart))
}

/// Throughput with min-max whiskers (traced, and untraced beside it), and
/// CPU time per run by side and mode.
pub fn throughput_cpu(report: &BenchReport, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let cases = primary(report);
    if cases.is_empty() {
        return Ok(None);
    }
    let chart = Chart::new("throughput-cpu.png", "Throughput and CPU time per strategy", &cases);
    chart.draw(dir, &caption(report, &cases), |body| {
        let (left, rest) = body.split_horizontally(470);
        let (middle, legend) = rest.split_horizontally(470);
        let throughput: Vec<Option<Bar>> = cases
            .iter()
            .map(|c| {
                c.throughput_mib_s
                    .map(|s| Bar { whiskers: Some((s.min, s.max)), ..Bar::new(s.mean, style::color(c.strategy)) })
            })
            .collect();
        let mut groups = vec![("traced".to_owned(), throughput)];
        // Beside it, the untraced runs (zcopy's programs detached), lighter.
        if cases.iter().any(|c| c.untraced_throughput_mib_s.is_some()) {
            let untraced = cases
                .iter()
                .map(|c| {
                    c.untraced_throughput_mib_s.map(|s| Bar {
                        whiskers: Some((s.min, s.max)),
                        ..Bar::new(s.mean, style::light(style::color(c.strategy)))
                    })
                })
                .collect();
            groups.push(("untraced".to_owned(), untraced));
        }
        style::bar_panel(&left, "throughput (bars: mean, whiskers: min-max)", "MiB/s", &groups)?;
        let cpu = |sender: bool, sys: bool| -> Vec<Option<Bar>> {
            cases
                .iter()
                .map(|c| {
                    let values: Vec<f64> = c
                        .runs
                        .iter()
                        .filter_map(|r| if sender { Some(&r.sender) } else { r.receiver.as_ref() })
                        .map(|s| 1000.0 * if sys { s.sys_s } else { s.user_s })
                        .collect();
                    let stats = crate::model::stats::Stats::of(&values)?;
                    let color = if sys { style::color(c.strategy) } else { style::light(style::color(c.strategy)) };
                    Some(Bar { whiskers: Some((stats.min, stats.max)), ..Bar::new(stats.mean, color) })
                })
                .collect()
        };
        let mut groups = vec![("sender sys".to_owned(), cpu(true, true)), ("sender user".to_owned(), cpu(true, false))];
        if cases.iter().any(|c| c.runs.iter().any(|r| r.receiver.is_some())) {
            groups.push(("receiver sys".to_owned(), cpu(false, true)));
            groups.push(("receiver user".to_owned(), cpu(false, false)));
        }
        style::bar_panel(&middle, "CPU time per run (getrusage; whiskers: min-max)", "ms", &groups)?;
        style::legend(&legend, "strategy (user time: lighter)", &legend_entries(&cases))?;
        Ok(())
    })?;
    Ok(Some(chart))
}

/// Throughput and syscalls per MiB against chunk size, a line per strategy.
pub fn chunk_sweep(report: &BenchReport, dir: &Path) -> anyhow::Result<Option<Chart>> {
    if report.options.chunks.len() < 2 {
        return Ok(None);
    }
    let cache = report.options.caches.first().copied();
    let cases: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.status == Status::Ok && Some(c.cache) == cache && !c.runs.is_empty())
        .collect();
    if cases.is_empty() {
        return Ok(None);
    }
    let chart = Chart::new("chunk-sweep.png", "Chunk-size sweep: throughput and syscalls per MiB", &cases);
    chart.draw(dir, &caption(report, &cases), |body| {
        let (left, rest) = body.split_horizontally(470);
        let (middle, legend) = rest.split_horizontally(470);
        let strategies = legend_entries(&cases);
        let series = |get: &dyn Fn(&CaseResult) -> Option<f64>| -> Vec<Series> {
            strategies
                .iter()
                .map(|(name, color)| {
                    let mut points: Vec<(f64, f64)> = cases
                        .iter()
                        .filter(|c| c.strategy.name() == name)
                        .filter_map(|c| Some((c.chunk as f64, get(c)?)))
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (name.clone(), *color, points)
                })
                .collect()
        };
        let chunks = (
            report.options.chunks.iter().min().copied().unwrap_or(1) as f64,
            report.options.chunks.iter().max().copied().unwrap_or(2) as f64,
        );
        let ticks = &report.options.chunks;
        line_panel(
            &left,
            "throughput",
            "MiB/s (mean)",
            chunks,
            ticks,
            false,
            &series(&|c| c.throughput_mib_s.map(|s| s.mean)),
        )?;
        line_panel(
            &middle,
            "syscalls per MiB (sender)",
            "syscalls / MiB (log)",
            chunks,
            ticks,
            true,
            &series(&|c| c.sender.as_ref()?.syscalls_per_mib),
        )?;
        style::legend(&legend, "strategy", &strategies)?;
        Ok(())
    })?;
    Ok(Some(chart))
}

/// One line: its strategy's name, colour, and (chunk size, value) points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

/// Lines against chunk size (log x axis, labelled at the measured chunk
/// sizes); `log_y` for a log y axis.
fn line_panel(
    area: &style::Area<'_>,
    title: &str,
    y_label: &str,
    (x_min, x_max): (f64, f64),
    ticks: &[u64],
    log_y: bool,
    series: &[Series],
) -> anyhow::Result<()> {
    let values = series.iter().flat_map(|s| s.2.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let x = ((x_min * 0.8)..(x_max * 1.25)).log_scale();
    let y_range = if log_y { (lo.max(1e-3) * 0.7)..(hi.max(1e-2) * 1.5) } else { 0.0..(hi.max(1e-3) * 1.15) };
    // The two y scales are different types; the drawing is the same.
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_labels(0)
                .x_label_formatter(&|_| String::new())
                .x_desc("chunk size (log)")
                .y_desc(y_label)
                .y_label_formatter(&|v| style::short_number(*v))
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 14))
                .draw()?;
            for (_, color, points) in series {
                chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
                chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
            }
            let base = area.get_base_pixel();
            let y0 = chart.y_range().start;
            for &tick in ticks {
                let (px, py) = chart.backend_coord(&(tick as f64, y0));
                area.draw(&Text::new(
                    format_size(tick),
                    (px - base.0, py - base.1 + 6),
                    (FAMILY, 13).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Top,
                    )),
                ))?;
            }
        }};
    }
    if log_y {
        draw!(
            ChartBuilder::on(area)
                .caption(title, (FAMILY, 18))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(x, y_range.log_scale())?
        );
    } else {
        draw!(
            ChartBuilder::on(area)
                .caption(title, (FAMILY, 18))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(x, y_range)?
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_senders_cpu_copies_are_the_saved_figure_not_the_rules_again() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/report/fixtures/bench.json");
        let mut r: BenchReport = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let case = r.cases.iter_mut().find(|c| !c.runs.is_empty()).unwrap();
        let mut side = case.runs[0].sender.clone();
        side.cpu_copies_per_chunk = Some(crate::model::Figure::inferred(7.25, "saved"));
        assert_eq!(cpu_copies_per_byte(case, &side, true), Some(7.25));
        side.cpu_copies_per_chunk = None;
        assert_eq!(cpu_copies_per_byte(case, &side, true), None, "nothing saved: nothing drawn");
    }
}
