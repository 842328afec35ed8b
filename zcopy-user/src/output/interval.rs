//! `zcopy trace --interval`: one line of rates per interval, like pidstat.
//! Bytes by copy kind and destination are inferred from fd kinds (see the
//! summary's sources); counts are measured. On a terminal the view is
//! redrawn in place and every line is cut to the terminal's width (a wrapped
//! line would leave stale lines behind at each redraw).

use crate::model::Sample;

/// The columns of a rates line: heading, width, and the figure (per second).
type Column = (&'static str, usize, fn(&Sample) -> u64, f64);

/// Bytes in MB (1e6), counts as they are.
const MB: f64 = 1e6;
const COLUMNS: [Column; 8] = [
    ("sock MB/s", 9, |s| s.to_socket_bytes, MB),
    ("file MB/s", 9, |s| s.to_file_bytes, MB),
    ("char MB/s", 9, |s| s.to_char_device_bytes, MB),
    ("copy MB/s", 9, |s| s.cpu_copied_bytes, MB),
    ("byref MB/s", 10, |s| s.by_reference_bytes, MB),
    ("zc MB/s", 7, |s| s.zero_copy_bytes, MB),
    ("faults/s", 8, |s| s.faults, 1.0),
    ("cs/s", 7, |s| s.switches, 1.0),
];

pub fn header() -> String {
    let mut out = format!("{:>7}", "time s");
    for (name, width, _, _) in COLUMNS {
        out.push_str(&format!(" {name:>width$}"));
    }
    out.push_str("  syscalls/s (top)");
    out
}

/// The rates between two cumulative samples.
pub fn line(before: &Sample, now: &Sample) -> String {
    let dt = (now.t_s - before.t_s).max(1e-6);
    let per_s = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt;
    let mut calls: Vec<(&str, f64)> = now
        .calls
        .iter()
        .map(|(name, n)| (name.as_str(), per_s(*n, before.calls.get(name).copied().unwrap_or(0))))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    calls.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = calls.iter().take(3).map(|(n, r)| format!("{n} {r:.0}")).collect();
    let mut out = format!("{:>7.1}", now.t_s);
    for (_, width, get, unit) in COLUMNS {
        let rate = per_s(get(now), get(before)) / unit;
        let digits = usize::from(unit > 1.0);
        out.push_str(&format!(" {rate:>width$.digits$}"));
    }
    out.push_str(&format!(
        "  {:.0} ({})",
        per_s(now.syscalls, before.syscalls),
        if top.is_empty() { "-".to_owned() } else { top.join(", ") }
    ));
    out
}

/// The totals so far, in words (not under the per-second headings).
fn totals(now: &Sample) -> String {
    format!(
        "  so far: to sockets {:.1} MB, files {:.1} MB, char devices {:.1} MB; CPU-copied {:.1} MB, by reference {:.1} MB, zero-copy {:.1} MB; {} faults, {} switches, {} syscalls",
        now.to_socket_bytes as f64 / MB,
        now.to_file_bytes as f64 / MB,
        now.to_char_device_bytes as f64 / MB,
        now.cpu_copied_bytes as f64 / MB,
        now.by_reference_bytes as f64 / MB,
        now.zero_copy_bytes as f64 / MB,
        now.faults,
        now.switches,
        now.syscalls
    )
}

/// `line` cut to `width` characters (on a character boundary).
fn fit(line: &str, width: usize) -> String {
    line.chars().take(width).collect()
}

/// The refreshing terminal view: the latest interval, the totals so far and
/// the busiest syscalls, redrawn in place (`lines_before`: the height of the
/// previous view, to move up over it), every line cut to `width` columns.
pub fn view(before: &Sample, now: &Sample, lines_before: usize, width: usize) -> (String, usize) {
    let dt = (now.t_s - before.t_s).max(1e-6);
    let mut calls: Vec<(&str, f64, u64)> = now
        .calls
        .iter()
        .map(|(name, n)| {
            (name.as_str(), n.saturating_sub(before.calls.get(name).copied().unwrap_or(0)) as f64 / dt, *n)
        })
        .filter(|(_, _, total)| *total > 0)
        .collect();
    calls.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)));
    let mut lines = vec![
        format!("zcopy trace: {:.1} s (Ctrl-C to stop; copy kinds inferred from fd kinds)", now.t_s),
        header(),
        line(before, now),
        totals(now),
        format!("  {:<20} {:>12} {:>14}", "syscall", "calls/s", "calls so far"),
    ];
    lines.extend(calls.iter().take(8).map(|(n, r, t)| format!("  {n:<20} {r:>12.0} {t:>14}")));
    // One column short of the width: a line that fills it exactly wraps on some terminals.
    let lines: Vec<String> = lines.iter().map(|l| fit(l, width.saturating_sub(1).max(20))).collect();
    let mut out = String::new();
    if lines_before > 0 {
        // Up over the previous view, and clear from there down.
        out.push_str(&format!("\x1b[{lines_before}A\x1b[J"));
    }
    out.push_str(&lines.join("\n"));
    out.push('\n');
    (out, lines.len())
}

/// The width of the terminal on stderr (TIOCGWINSZ), 80 if it does not say.
pub fn terminal_width() -> usize {
    // SAFETY: zeroed winsize is valid for the ioctl to fill.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize; fd 2 is stderr.
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &raw mut ws) } == 0;
    if ok && ws.ws_col > 0 { usize::from(ws.ws_col) } else { 80 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_over_the_interval() {
        let before = Sample { t_s: 1.0, syscalls: 100, ..Default::default() };
        let mut now = Sample {
            t_s: 3.0,
            syscalls: 300,
            to_socket_bytes: 4_000_000,
            to_char_device_bytes: 8_000_000,
            faults: 10,
            ..Default::default()
        };
        now.calls.insert("sendfile".into(), 50);
        let l = line(&before, &now);
        let cols: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(cols[0], "3.0");
        assert_eq!(cols[1], "2.0", "4 MB over 2 s: {l}");
        assert_eq!(cols[3], "4.0", "8 MB to char devices over 2 s: {l}");
        assert_eq!(cols[7], "5", "10 faults over 2 s: {l}");
        assert!(l.ends_with("100 (sendfile 25)"), "{l}");
        assert_eq!(header().split_whitespace().filter(|w| *w == "MB/s").count(), 6, "{}", header());
        let (first, height) = view(&before, &now, 0, 200);
        assert!(!first.starts_with('\x1b') && first.contains("sendfile"), "{first}");
        assert!(first.contains("so far: to sockets 4.0 MB"), "totals in words: {first}");
        let (again, _) = view(&before, &now, height, 200);
        assert!(again.starts_with(&format!("\x1b[{height}A\x1b[J")), "redrawn in place");
        // At 80 columns no line wraps: each is cut to 79.
        let (narrow, _) = view(&before, &now, 0, 80);
        assert!(narrow.lines().all(|l| l.chars().count() < 80), "{narrow}");
    }
}
