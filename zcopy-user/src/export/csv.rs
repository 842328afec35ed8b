//! Results as CSV (RFC 4180): a comparison, one row per case; a trace, one
//! row for all processes and one per process. An empty cell is a figure
//! that is not available (null in JSON).

use std::fmt::Write as _;

use crate::model::{BenchReport, ProcessSummary, SideSummary, Status, Summary};

/// The CSV exporter.
pub struct Csv;

impl super::Exporter for Csv {
    fn bench(&self, report: &BenchReport) -> anyhow::Result<String> {
        Ok(render(report))
    }

    fn trace(&self, summary: &Summary) -> anyhow::Result<String> {
        Ok(render_trace(summary))
    }
}

const TRACE_HEADER: &str = "pid,comm,syscalls,faults,faults_user,faults_kernel,faults_minor,faults_major,\
switches_voluntary,switches_involuntary,recv_copy_bytes,block_read_bytes,block_write_bytes,pagecache_added_bytes,\
copied_to_user_bytes,copied_from_user_bytes,copied_in_kernel_bytes,\
zero_copy_asked_bytes,zero_copy_copied_anyway_bytes,zero_copy_without_copy_bytes";

fn int(v: Option<u64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// A trace: the first row is every traced process together (pid "all").
pub fn render_trace(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{TRACE_HEADER}");
    let all = ProcessSummary {
        pid: 0,
        comm: None,
        syscalls_total: s.syscalls_total,
        syscalls: Default::default(),
        faults: s.faults,
        switches: s.switches,
        data: s.data,
        zero_copy: s.zero_copy.clone(),
    };
    for (i, p) in std::iter::once(&all).chain(&s.processes).enumerate() {
        let d = &p.data;
        let row = [
            if i == 0 { "all".to_owned() } else { p.pid.to_string() },
            field(p.comm.as_deref().unwrap_or("")),
            int(p.syscalls_total),
            int(p.faults.total),
            int(p.faults.user),
            int(p.faults.kernel),
            int(p.faults.minor),
            int(p.faults.major),
            int(p.switches.voluntary),
            int(p.switches.involuntary),
            int(d.recv_copy_bytes),
            int(d.block_read_bytes),
            int(d.block_write_bytes),
            int(d.pagecache_added_bytes),
            int(d.copied_to_user_bytes),
            int(d.copied_from_user_bytes),
            int(d.copied_in_kernel_bytes),
            int(p.zero_copy.as_ref().map(|z| z.asked_bytes)),
            int(p.zero_copy.as_ref().and_then(|z| z.copied_anyway_bytes)),
            int(p.zero_copy.as_ref().and_then(|z| z.without_copy_bytes)),
        ];
        let _ = writeln!(out, "{}", row.join(","));
    }
    out
}

const HEADER: &str = "strategy,sink,chunk_bytes,cache,status,reason,runs,\
throughput_mib_s_mean,throughput_mib_s_stddev,throughput_mib_s_median,throughput_mib_s_min,throughput_mib_s_max,\
untraced_throughput_mib_s_median,tracing_cost,\
sender_syscalls_per_chunk,sender_syscalls_per_mib,sender_faults,sender_switches_voluntary,sender_switches_involuntary,sender_user_s,sender_sys_s,\
receiver_syscalls_per_chunk,receiver_syscalls_per_mib,receiver_faults,receiver_switches_voluntary,receiver_switches_involuntary,receiver_user_s,receiver_sys_s,\
zerocopy_sends,zerocopy_completions,zerocopy_copied,zerocopy_bytes,zerocopy_copied_bytes";

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
            num(c.untraced_throughput_mib_s.map(|u| u.median)),
            num(c.tracing_cost()),
        ];
        cells.extend(side(c.sender.as_ref()));
        cells.extend(side(c.receiver.as_ref()));
        let zc = c.sender.as_ref().and_then(|s| s.zerocopy);
        cells.extend(
            [
                zc.map(|z| z.sends),
                zc.map(|z| z.completions),
                zc.map(|z| z.copied),
                zc.map(|z| z.bytes),
                zc.map(|z| z.copied_bytes),
            ]
            .map(|v| v.map_or_else(String::new, |v| v.to_string())),
        );
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{
        analysis::summary::tests::{sample_raw, sample_target},
        export::{Exported, Format},
        model::{Coverage, Summary},
    };

    #[test]
    fn a_trace_is_one_row_for_all_then_one_per_process_and_null_is_empty() {
        let coverage = Coverage { faults_by_mode: false, ..Coverage::FULL };
        let s = Summary::build(sample_target(), 1.5, &sample_raw(), coverage, None, vec![]);
        let text = Format::Csv.exporter().trace(&s).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 1 + 1 + 2, "header, all, two processes");
        assert!(rows[0].starts_with("pid,comm,syscalls,faults,faults_user"));
        assert_eq!(rows[1].split(',').take(6).collect::<Vec<_>>(), ["all", "", "20", "8", "", ""]);
        assert_eq!(rows[2].split(',').take(4).collect::<Vec<_>>(), ["100", "dd", "10", "4"]);
        let _ = Exported::Trace(&s);
    }

    #[test]
    fn a_trace_in_markdown_names_every_source() {
        let s = Summary::build(sample_target(), 1.5, &sample_raw(), Coverage::FULL, None, vec![]);
        let text = Format::Markdown.exporter().trace(&s).unwrap();
        assert!(text.starts_with("# zcopy trace: `dd count=5` (pid 100)"));
        for key in s.sources.keys() {
            assert!(text.contains(&format!("- **{key}**: ")), "{key} missing");
        }
    }
}
