//! The time series of a trace: per-interval rates of syscalls, bytes
//! copied against moved by reference, faults and context switches.

use std::path::Path;

use plotters::prelude::*;

use super::{Chart, style, style::FAMILY};
use crate::model::{Sample, Summary, ZeroCopyLedger};

/// Rates between consecutive samples, at the end of each interval.
fn rates(samples: &[Sample], get: fn(&Sample) -> u64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(samples.len());
    let mut previous = Sample::default();
    for s in samples {
        let dt = s.t_s - previous.t_s;
        if dt > 1e-6 {
            out.push((s.t_s, get(s).saturating_sub(get(&previous)) as f64 / dt));
            previous = s.clone();
        }
    }
    out
}

const SERIES: [RGBColor; 3] = [RGBColor(213, 94, 0), RGBColor(0, 114, 178), RGBColor(0, 158, 115)];

fn panel(
    area: &style::Area<'_>,
    title: &str,
    y_label: &str,
    x_max: f64,
    lines: &[(&str, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    let y_max = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)).fold(0.0f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max.max(1e-3), 0.0..(y_max * 1.15).max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("seconds into the trace")
        .y_desc(y_label)
        .y_label_formatter(&|v| style::short_number(*v))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    for ((name, points), color) in lines.iter().zip(SERIES) {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        if points.len() < 60 {
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
    }
    if lines.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FAMILY, 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

pub fn timeline(s: &Summary, dir: &Path) -> anyhow::Result<Option<Chart>> {
    if s.timeline.is_empty() {
        return Ok(None);
    }
    let what = s.target.describe();
    let chart = Chart {
        file: "timeline.png".into(),
        title: format!("zcopy trace: {}", style::truncate(&what, 70)),
        legend: vec!["CPU-copied".into(), "by reference".into(), "zero-copy sent".into()],
    };
    let caption = format!(
        "Linux {} · {} · {:.2} s traced, {} processes · {} samples, rates per interval · copies inferred from fd kinds",
        if s.kernel.is_empty() { "?" } else { &s.kernel },
        if s.machine.is_empty() { "machine not recorded" } else { &s.machine },
        s.wall_s,
        s.processes.len(),
        s.timeline.len(),
    );
    chart.draw(dir, &caption, |body| {
        let panels = body.split_evenly((2, 2));
        let x_max = s.timeline.last().map_or(1.0, |l| l.t_s);
        let t = &s.timeline;
        panel(&panels[0], "system calls", "syscalls / s", x_max, &[("syscalls", rates(t, |s| s.syscalls))])?;
        panel(
            &panels[1],
            "bytes: copied by the CPU vs moved without a copy",
            "bytes / s",
            x_max,
            &[
                ("CPU-copied", rates(t, |s| s.cpu_copied_bytes)),
                ("by reference", rates(t, |s| s.by_reference_bytes)),
                ("zero-copy sent", rates(t, |s| s.zero_copy_bytes)),
            ],
        )?;
        panel(&panels[2], "page faults", "faults / s", x_max, &[("faults", rates(t, |s| s.faults))])?;
        panel(&panels[3], "context switches", "switches / s", x_max, &[("switches", rates(t, |s| s.switches))])?;
        Ok(())
    })?;
    Ok(Some(chart))
}

/// The zero-copy ledger: per traced process that asked to move bytes without
/// a CPU copy, what it asked, what the kernel copied anyway, and the rest.
pub fn zero_copy(s: &Summary, dir: &Path) -> anyhow::Result<Option<Chart>> {
    let ledgers: Vec<(String, &ZeroCopyLedger)> = s
        .processes
        .iter()
        .filter_map(|p| Some((format!("{} {}", p.comm.as_deref().unwrap_or("?"), p.pid), p.zero_copy.as_ref()?)))
        .take(8)
        .collect();
    if ledgers.is_empty() {
        return Ok(None);
    }
    const ASKED: RGBColor = RGBColor(150, 150, 150);
    const COPIED: RGBColor = style::DIFFERS;
    const WITHOUT: RGBColor = RGBColor(0, 158, 115);
    let legend =
        [("asked (measured)", ASKED), ("copied anyway (measured)", COPIED), ("without a copy (inferred)", WITHOUT)];
    let chart = Chart {
        file: "zero-copy.png".into(),
        title: format!("Zero-copy ledger: {}", style::truncate(&s.target.describe(), 60)),
        legend: legend.iter().map(|(l, _)| (*l).to_owned()).collect(),
    };
    let caption = format!(
        "Linux {} · asked: syscall bytes · copied anyway: {} · without a copy: asked less copied anyway",
        if s.kernel.is_empty() { "?" } else { &s.kernel },
        crate::probes::table::probe(crate::probes::table::Group::ZeroCopyFate).ways[0].label,
    );
    chart.draw(dir, &caption, |body| {
        let (bars, key) = body.split_horizontally(body.dim_in_pixel().0 * 3 / 4);
        let groups: Vec<(String, Vec<Option<style::Bar>>)> = ledgers
            .iter()
            .map(|(name, z)| {
                let bar =
                    |v: Option<u64>, c| v.map(|v| style::Bar { show_value: true, ..style::Bar::new(v as f64, c) });
                (
                    name.clone(),
                    vec![
                        bar(Some(z.asked_bytes), ASKED),
                        bar(z.copied_anyway_bytes, COPIED),
                        bar(z.without_copy_bytes, WITHOUT),
                    ],
                )
            })
            .collect();
        style::bar_panel(&bars, "bytes asked to move without a CPU copy, and what became of them", "bytes", &groups)?;
        style::legend(&key, "per traced process", &legend.map(|(l, c)| (l.to_owned(), c)))?;
        Ok(())
    })?;
    Ok(Some(chart))
}
