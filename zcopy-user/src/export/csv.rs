//! The comparison as CSV: one row per case.

use std::fmt::Write as _;

use crate::model::{BenchReport, SideSummary, Status};

const HEADER: &str = "strategy,sink,chunk_bytes,cache,status,reason,runs,\
throughput_mib_s_mean,throughput_mib_s_stddev,throughput_mib_s_median,throughput_mib_s_min,throughput_mib_s_max,\
sender_syscalls_per_chunk,sender_syscalls_per_mib,sender_faults,sender_switches_voluntary,sender_switches_involuntary,sender_user_s,sender_sys_s,\
receiver_syscalls_per_chunk,receiver_syscalls_per_mib,receiver_faults,receiver_switches_voluntary,receiver_switches_involuntary,receiver_user_s,receiver_sys_s,\
zerocopy_sends,zerocopy_completions,zerocopy_copied";

fn num(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_owned())
}

/// Quotes a field if it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

fn side(s: Option<&SideSummary>) -> Vec<String> {
    vec![
        num(s.and_then(|s| s.syscalls_per_chunk)),
        num(s.and_then(|s| s.syscalls_per_mib)),
        num(s.and_then(|s| s.faults_per_run)),
        num(s.and_then(|s| s.switches_voluntary_per_run)),
        num(s.and_then(|s| s.switches_involuntary_per_run)),
        num(s.map(|s| s.user_s.mean)),
        num(s.map(|s| s.sys_s.mean)),
    ]
}

pub fn render(r: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    for c in &r.cases {
        let t = c.throughput_mib_s;
        let status = match c.status {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        };
        let mut cells = vec![
            c.strategy.to_string(),
            c.sink.to_string(),
            c.chunk.to_string(),
            c.cache.name().to_owned(),
            status.to_owned(),
            field(c.reason.as_deref().unwrap_or("")),
            c.runs.len().to_string(),
            num(t.map(|t| t.mean)),
            num(t.map(|t| t.stddev)),
            num(t.map(|t| t.median)),
            num(t.map(|t| t.min)),
            num(t.map(|t| t.max)),
        ];
        cells.extend(side(c.sender.as_ref()));
        cells.extend(side(c.receiver.as_ref()));
        let zc = c.sender.as_ref().and_then(|s| s.zerocopy);
        cells.extend(
            [zc.map(|z| z.sends), zc.map(|z| z.completions), zc.map(|z| z.copied)]
                .map(|v| v.map_or_else(String::new, |v| v.to_string())),
        );
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}
