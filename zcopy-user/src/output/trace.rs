//! The summary as a table for the terminal (written to stderr, like
//! `perf stat` and `strace -c`, so it does not mix with the command's output).

use std::fmt::Write as _;

use crate::{
    model::{Summary, Target},
    probes::{
        plan,
        table::{self, Group},
    },
};

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

fn describe_target(t: &Target) -> String {
    let how = match (t.exit_code, t.exit_signal) {
        (Some(code), _) => format!("exited with code {code}"),
        (_, Some(sig)) => format!("was killed by signal {sig}"),
        _ => t.ended_by.describe().to_owned(),
    };
    format!("{} {how}", t.describe())
}

/// Renders the summary: what ran, then each section.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "zcopy trace: {} after {:.3} s\n", describe_target(&s.target), s.wall_s);

    let sections: [fn(&mut String, &Summary); 9] =
        [syscalls, figures, profile, flows, copies, zero_copy, accounting, processes, problems];
    for section in sections {
        section(&mut out, s);
    }
    out
}

/// The tracked syscalls that were called.
fn syscalls(out: &mut String, s: &Summary) {
    let called: Vec<_> = s.syscalls.iter().filter(|(_, f)| f.calls > 0).collect();
    if !s.syscalls.is_empty() {
        let _ = writeln!(out, "  {:<18} {:>12} {:>16} {:>8}", "syscall", "calls", "bytes", "errors");
        for (name, f) in &called {
            let _ = writeln!(out, "  {:<18} {:>12} {:>16} {:>8}", name, f.calls, opt(f.bytes), f.errors);
        }
        let idle = s.syscalls.len() - called.len();
        if idle > 0 {
            let _ = writeln!(out, "  ({idle} other tracked syscalls: 0 calls)");
        }
        let _ = writeln!(out);
    }
}

/// Every figure with the probe it came from.
fn figures(out: &mut String, s: &Summary) {
    let line = |out: &mut String, label: &str, value: String, source: &str| {
        let _ = writeln!(out, "  {label:<22} {value:>22}   {source}");
    };
    let src = |group: Group| source(s, group);
    line(out, "syscalls", opt(s.syscalls_total), &src(Group::Syscalls));
    line(out, "mode transitions", opt(s.mode_transitions), "inferred: 2 per syscall (enter + return)");
    line(out, "page faults", opt(s.faults.total), &src(Group::FaultsPerf));
    line(
        out,
        "  user / kernel mode",
        format!("{} / {}", opt(s.faults.user), opt(s.faults.kernel)),
        &src(Group::FaultsByMode),
    );
    line(out, "  minor / major", format!("{} / {}", opt(s.faults.minor), opt(s.faults.major)), &src(Group::FaultsPerf));
    line(
        out,
        "context switches",
        format!("{} vol / {} invol", opt(s.switches.voluntary), opt(s.switches.involuntary)),
        &src(Group::Switches),
    );

    let d = &s.data;
    line(out, "received by CPU copy", opt(d.recv_copy_bytes), &src(Group::RecvCopy));
    line(
        out,
        "block I/O read / write",
        format!("{} / {}", opt(d.block_read_bytes), opt(d.block_write_bytes)),
        &src(Group::BlockIo),
    );
    line(out, "page cache added", opt(d.pagecache_added_bytes), &src(Group::PageCache));
    let copied = match (d.copied_to_user_bytes, d.copied_from_user_bytes, d.copied_in_kernel_bytes) {
        (Some(to), Some(from), Some(kernel)) => format!("{to} / {from} / {kernel}"),
        _ => "-".to_owned(),
    };
    line(out, "CPU copies (routines)", copied, &src(Group::CopyRoutines));
    if let Some(n) = &s.net_transmit {
        if n.devices.is_empty() {
            line(out, "device transmit", "0".into(), &format!("{}, machine-wide (bytes)", src(Group::NetDevice)));
        }
        for d in &n.devices {
            line(
                out,
                &format!("transmit {}", d.name),
                d.bytes.to_string(),
                &format!("{}, machine-wide (bytes; {})", src(Group::NetDevice), d.kind.name()),
            );
        }
    }
}

/// Traffic by source and sink, and what another strategy would save.
fn flows(out: &mut String, s: &Summary) {
    if !s.flows.is_empty() {
        let _ =
            writeln!(out, "\n  flows (source -> sink; inferred from the fd kinds of the calls that moved the bytes):");
        for f in s.flows.iter().take(6) {
            let _ = writeln!(out, "    {:<34} {:>16} bytes", f.flow, f.bytes);
            for st in &f.strategies {
                let _ = writeln!(out, "      {:>5.1}%  {} ({} calls)", 100.0 * st.share, st.strategy, st.calls);
            }
            if let Some(pass) = &f.pass_through {
                let _ =
                    writeln!(out, "      passed on: {} (per-thread relay counters at syscall exit)", pass.evidence());
            }
            for sv in &f.savings {
                let _ = writeln!(
                    out,
                    "      {} instead of {} would save {} bytes of CPU copies and {} syscalls, if {}",
                    sv.use_, sv.instead_of, sv.cpu_copy_bytes_saved, sv.syscalls_saved, sv.assumptions
                );
            }
        }
    }
}

/// What the syscalls did with the bytes.
fn copies(out: &mut String, s: &Summary) {
    if !s.copies.is_empty() {
        let _ = writeln!(
            out,
            "\n  what the syscalls did with the bytes (inferred from the kinds of their fds, unless marked measured):"
        );
        for (kind, bytes) in &s.copies_by_kind {
            let _ = writeln!(out, "    {:<42} {:>16}", kind.label(), bytes);
        }
        for f in s.copies.iter().take(8) {
            let _ = writeln!(
                out,
                "      {} {} -> {}: {} calls, {} bytes, {} ({})",
                f.syscall, f.from, f.to, f.calls, f.bytes, f.how, f.rule
            );
        }
    }
}

/// Where a group's figures came from: the probe that attached (from the
/// probe table), or, for results saved before coverage was, the saved sources.
fn source(s: &Summary, group: Group) -> String {
    match s.coverage {
        Some(c) => plan::label(group, c),
        None => table::probe(group)
            .fields()
            .next()
            .and_then(|f| s.sources.get(f))
            .map_or_else(|| "-".to_owned(), |t| t.trim_start_matches("measured: ").to_owned()),
    }
}

/// Where the kernel's CPU time went, sampled.
fn profile(out: &mut String, s: &Summary) {
    if let Some(p) = &s.profile {
        out.push_str(&super::profile::render(p));
    }
}

/// Bytes asked to move without a CPU copy, and what became of them.
fn zero_copy(out: &mut String, s: &Summary) {
    let Some(z) = &s.zero_copy else {
        return;
    };
    let asked: Vec<String> = z.asked.iter().map(|(call, bytes)| format!("{call} {bytes}")).collect();
    let _ = writeln!(out, "\n  zero-copy ledger (bytes asked to move without a CPU copy):");
    let _ = writeln!(out, "    {:<28} {:>16}  measured: {}", "asked", z.asked_bytes, asked.join(", "));
    match z.copied_anyway_bytes {
        Some(bytes) => {
            let _ = writeln!(
                out,
                "    {:<28} {:>16}  measured: {}",
                "copied anyway",
                bytes,
                source(s, Group::ZeroCopyFate)
            );
            for c in &z.copied_anyway {
                let _ = writeln!(out, "      {:<26} {:>16}  {}", "", c.bytes, c.why);
            }
        }
        None => {
            let _ = writeln!(out, "    {:<28} {:>16}  {}", "copied anyway", "n/a", source(s, Group::ZeroCopyFate));
        }
    }
    if let Some(bytes) = z.without_copy_bytes {
        let _ = writeln!(out, "    {:<28} {:>16}  inferred: asked less copied anyway", "without a copy", bytes);
    }
}

/// The kernel's own counters, for comparison.
fn accounting(out: &mut String, s: &Summary) {
    if let Some(k) = &s.kernel_accounting {
        let secs = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3} s"));
        let _ = writeln!(
            out,
            "\n  kernel's own counters: minflt {}, majflt {}, voluntary {}, involuntary {}, user {}, sys {}\n    ({})",
            k.minflt,
            k.majflt,
            opt(k.nvcsw),
            opt(k.nivcsw),
            secs(k.utime_s),
            secs(k.stime_s),
            k.source
        );
    }
}

/// The processes traced.
fn processes(out: &mut String, s: &Summary) {
    let names: Vec<String> =
        s.processes.iter().take(8).map(|p| format!("{} {}", p.pid, p.comm.as_deref().unwrap_or("?"))).collect();
    let more = s.processes.len().saturating_sub(names.len());
    let _ = write!(out, "\n  processes: {} ({}", s.processes.len(), names.join(", "));
    let _ = writeln!(out, "{})", if more > 0 { format!(", +{more} more") } else { String::new() });
}

/// Missed events, drops and warnings, with advice.
fn problems(out: &mut String, s: &Summary) {
    let missed: Vec<String> =
        s.missed_events.iter().filter(|(_, n)| **n > 0).map(|(p, n)| format!("{p} {n}")).collect();
    if !missed.is_empty() {
        let _ = writeln!(
            out,
            "  WARNING: events missed because another BPF program was running on the CPU: {} (their figures are low by that much)",
            missed.join(", ")
        );
    }
    for (reason, n) in s.drops.iter().filter(|(_, n)| **n > 0) {
        let _ = writeln!(out, "  WARNING: {n} events could not be counted ({reason}): {}", drop_advice(reason));
    }
    for w in &s.warnings {
        let _ = writeln!(out, "  note: {w}");
    }
}

/// What a full kernel map means, its limit, and what to do.
fn drop_advice(reason: &str) -> String {
    use zcopy_common::{MAX_INFLIGHT, MAX_TARGETS, netdev};
    match reason {
        "targets_map_full" | "process_map_full" => format!(
            "more than {MAX_TARGETS} traced processes and threads at once; trace fewer (one --pid rather than a --comm or --cgroup that matches many)"
        ),
        "syscall_map_full" => format!(
            "the per-syscall and per-flow counters hold {} entries; trace fewer processes at once",
            MAX_TARGETS * 8
        ),
        "inflight_collision" => format!(
            "two threads whose ids are equal modulo {MAX_INFLIGHT} were in syscalls at once; one call was not counted"
        ),
        "netdev_map_full" => format!("more than {} network devices transmitted", netdev::MAX_DEVICES),
        _ => "see docs/json-schema.md".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn full_maps_name_the_limit_and_the_fix() {
        let a = super::drop_advice("targets_map_full");
        assert!(a.contains("16384") && a.contains("--pid"), "{a}");
        assert!(super::drop_advice("inflight_collision").contains("65536"));
    }

    use super::*;
    use crate::model::{Coverage, RawCounters, RawProcess, Summary, Target};
    use zcopy_common::{ProcStats, SyscallStats};

    #[test]
    fn renders_called_syscalls_sources_and_warnings() {
        let mut raw = RawCounters::default();
        let mut p = RawProcess {
            comm: Some("dd".into()),
            stats: ProcStats {
                syscalls: 7,
                faults_total: 3,
                faults_user: 2,
                faults_kernel: 1,
                faults_minor: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        p.syscalls.insert(0, SyscallStats { calls: 3, bytes: 12288, errors: 0 });
        raw.processes.insert(42, p);
        let target = Target {
            mode: crate::model::TargetMode::Command,
            command: Some(vec!["dd".into(), "count=3".into()]),
            pid: Some(42),
            exit_code: Some(0),
            exit_signal: None,
            ended_by: crate::model::EndedBy::Exited,
            ..Default::default()
        };
        let s = Summary::build(
            target,
            0.25,
            &raw,
            Coverage { switches: false, ..Coverage::FULL },
            None,
            vec![crate::model::Warning::Saved("x is missing".into())],
        );
        let text = render(&s);
        assert!(text.starts_with("zcopy trace: `dd count=3` (pid 42) exited with code 0 after 0.250 s"), "{text}");
        assert!(text.contains("  read                          3            12288        0"), "{text}");
        assert!(text.contains("mode transitions"));
        assert!(text.contains("14   inferred: 2 per syscall"), "{text}");
        assert!(text.contains("n/a vol / n/a invol"), "{text}");
        assert!(text.contains("note: x is missing"));
        assert!(text.contains("processes: 1 (42 dd)"));
    }
}
