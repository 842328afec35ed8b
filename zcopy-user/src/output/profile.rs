//! The sampled profile as a table: "where the kernel's time went".

use std::fmt::Write as _;

use crate::model::profile::{Profile, Symbols};

/// Rows shown; the rest are summed in one line.
const ROWS: usize = 14;

/// A name from outside (a BPF program's, a kernel function's) made safe for a terminal.
fn printable(name: &str) -> String {
    name.chars().take(48).map(|c| if c.is_control() { '?' } else { c }).collect()
}

pub fn render(p: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n  where the kernel's time went (sampled: {} samples of cpu-clock at {} Hz per CPU, {} in user mode; CPU ms estimated as samples / Hz; 95% Wilson intervals):",
        p.samples, p.hz, p.user_samples
    );
    if let Symbols::Unavailable(why) = &p.symbols {
        let _ = writeln!(out, "    by activity: not available: {why}");
        return out;
    }
    if p.samples == 0 {
        let _ = writeln!(out, "    no samples: the traced processes used less CPU than one sampling interval");
        return out;
    }
    let _ =
        writeln!(out, "    {:<56} {:>8} {:>7} {:>15} {:>10}", "activity", "samples", "share", "95% interval", "CPU ms");
    for row in p.activities.iter().take(ROWS) {
        let name = match &row.detail {
            Some(d) => format!("{}: {}", row.activity.label(), printable(d)),
            None => row.activity.label().to_owned(),
        };
        let _ = writeln!(
            out,
            "    {:<56} {:>8} {:>6.1}% {:>6.1}-{:>5.1}% {:>10.1}",
            name,
            row.share.samples,
            row.share.share * 100.0,
            row.share.low * 100.0,
            row.share.high * 100.0,
            row.cpu_ms
        );
    }
    if p.activities.len() > ROWS {
        let rest = &p.activities[ROWS..];
        let (n, ms): (u64, f64) = rest.iter().fold((0, 0.0), |(n, ms), r| (n + r.share.samples, ms + r.cpu_ms));
        let _ = writeln!(
            out,
            "    {:<56} {:>8} {:>6.1}% {:>15} {:>10.1}",
            format!("({} more)", rest.len()),
            n,
            n as f64 * 100.0 / p.samples as f64,
            "",
            ms
        );
    }
    if p.lost > 0 || p.truncated > 0 {
        let _ = writeln!(
            out,
            "    lost in the kernel: {} samples (stack map full or stack unreadable); stacks cut at {} frames: {}",
            p.lost,
            zcopy_common::MAX_STACK_DEPTH,
            p.truncated
        );
    }
    out
}
