//! `zcopy trace --interval`: one line of rates per interval, like pidstat.
//! Bytes by copy kind and destination are inferred from fd kinds (see the
//! summary's sources); counts are measured.

use crate::model::Sample;

pub fn header() -> String {
    format!(
        "{:>8} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9}  {}",
        "time s",
        "sock MB/s",
        "file MB/s",
        "copy MB/s",
        "byref MB/s",
        "zc MB/s",
        "faults/s",
        "cs/s",
        "syscalls/s (top)"
    )
}

/// The rates between two cumulative samples.
pub fn line(before: &Sample, now: &Sample) -> String {
    let dt = (now.t_s - before.t_s).max(1e-6);
    let mb = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt / 1e6;
    let per_s = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt;
    let mut calls: Vec<(&str, f64)> = now
        .calls
        .iter()
        .map(|(name, n)| (name.as_str(), per_s(*n, before.calls.get(name).copied().unwrap_or(0))))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    calls.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = calls.iter().take(3).map(|(n, r)| format!("{n} {r:.0}")).collect();
    format!(
        "{:>8.1} {:>10.1} {:>10.1} {:>10.1} {:>11.1} {:>11.1} {:>9.0} {:>9.0}  {:.0} ({})",
        now.t_s,
        mb(now.to_socket_bytes, before.to_socket_bytes),
        mb(now.to_file_bytes, before.to_file_bytes),
        mb(now.cpu_copied_bytes, before.cpu_copied_bytes),
        mb(now.by_reference_bytes, before.by_reference_bytes),
        mb(now.zero_copy_bytes, before.zero_copy_bytes),
        per_s(now.faults, before.faults),
        per_s(now.switches, before.switches),
        per_s(now.syscalls, before.syscalls),
        if top.is_empty() { "-".to_owned() } else { top.join(", ") },
    )
}

/// The refreshing terminal view: the latest interval, the totals so far and
/// the busiest syscalls, redrawn in place (`lines_before`: the height of the
/// previous view, to move up over it).
pub fn view(before: &Sample, now: &Sample, lines_before: usize) -> (String, usize) {
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
        format!(
            "{:>8} {:>10.1} {:>10.1} {:>10.1} {:>11.1} {:>11.1} {:>9} {:>9}  {}",
            "total MB",
            now.to_socket_bytes as f64 / 1e6,
            now.to_file_bytes as f64 / 1e6,
            now.cpu_copied_bytes as f64 / 1e6,
            now.by_reference_bytes as f64 / 1e6,
            now.zero_copy_bytes as f64 / 1e6,
            now.faults,
            now.switches,
            now.syscalls
        ),
        format!("  {:<20} {:>12} {:>14}", "syscall", "calls/s", "calls so far"),
    ];
    lines.extend(calls.iter().take(8).map(|(n, r, t)| format!("  {n:<20} {r:>12.0} {t:>14}")));
    let mut out = String::new();
    if lines_before > 0 {
        // Up over the previous view, and clear from there down.
        out.push_str(&format!("\x1b[{lines_before}A\x1b[J"));
    }
    out.push_str(&lines.join("\n"));
    out.push('\n');
    (out, lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_over_the_interval() {
        let before = Sample { t_s: 1.0, syscalls: 100, ..Default::default() };
        let mut now = Sample { t_s: 3.0, syscalls: 300, to_socket_bytes: 4_000_000, faults: 10, ..Default::default() };
        now.calls.insert("sendfile".into(), 50);
        let l = line(&before, &now);
        let cols: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(cols[0], "3.0");
        assert_eq!(cols[1], "2.0", "4 MB over 2 s: {l}");
        assert_eq!(cols[6], "5", "10 faults over 2 s: {l}");
        assert!(l.ends_with("100 (sendfile 25)"), "{l}");
        let (first, height) = view(&before, &now, 0);
        assert!(!first.starts_with('\x1b') && first.contains("sendfile"), "{first}");
        let (again, _) = view(&before, &now, height);
        assert!(again.starts_with(&format!("\x1b[{height}A\x1b[J")), "redrawn in place");
    }
}
