//! The zero-copy literature's table as data (`claims_for`: the rows the
//! articles repeat, e.g. read + write: 4 copies, 4 context switches), and its
//! cells compared with what a bench run measured, per chunk.
//!
//! Every figure says how it was obtained (`model::How`): measured (a probe
//! counted it: the kernel's copy routines where fexit or kprobes attach),
//! inferred (a rule applied to measured syscalls and bytes, where they do
//! not), or not available (its probe did not attach: no verdict then).

use crate::model::{
    CaseResult, Cell, Claim, Comparison, CopyKind, Figure, SideRun, SideSummary, SinkKind, Strategy, Verdict,
    ZeroCopyStats, copies::Via,
};

/// The rows that speak about `strategy`.
pub fn claims_for(strategy: Strategy) -> Vec<Claim> {
    let row = |row, syscalls, mode_transitions, cpu_copies, dma_copies| Claim {
        row,
        syscalls,
        mode_transitions,
        cpu_copies,
        dma_copies,
    };
    match strategy {
        Strategy::ReadWrite => vec![row("read + write", 2.0, 4.0, 2.0, 2.0)],
        Strategy::MmapWrite | Strategy::MmapPopulateWrite => vec![row("mmap + write", 2.0, 4.0, 1.0, 2.0)],
        Strategy::Sendfile => vec![row("sendfile", 1.0, 2.0, 1.0, 2.0), row("sendfile + SG-DMA", 1.0, 2.0, 0.0, 2.0)],
        _ => Vec::new(),
    }
}

/// What the sender's copies were, per chunk, and how that is known.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyModel {
    pub cpu_copies: Figure,
    pub reason: String,
}

fn calls_bytes(side: &SideRun, names: &[&str]) -> u64 {
    names.iter().filter_map(|n| side.syscalls.get(*n)).filter_map(|f| f.bytes).sum()
}

/// The sender's CPU copies per chunk: counted at the kernel's copy routines
/// where fexit or kprobes attach (measured, with the rules' figure beside
/// it), else from the rules below.
pub fn sender_copies(strategy: Strategy, sink: SinkKind, side: &SideRun, chunk_bytes: f64, chunks: f64) -> CopyModel {
    if side.syscalls_total.is_none() {
        return CopyModel {
            cpu_copies: Figure::not_available(
                "the raw_syscalls tracepoints were not attached, and the rules need the sender's syscalls",
            ),
            reason: "no syscall figures in this run".into(),
        };
    }
    let rules = inferred_sender_copies(strategy, sink, side, chunk_bytes, chunks);
    let d = &side.data;
    let (Some(to_user), Some(from_user), Some(in_kernel)) =
        (d.copied_to_user_bytes, d.copied_from_user_bytes, d.copied_in_kernel_bytes)
    else {
        return rules;
    };
    let per_chunk = |bytes: u64| bytes as f64 / chunk_bytes / chunks.max(1.0);
    let measured = per_chunk(to_user + from_user + in_kernel);
    // The measured figure wins; where the rules disagree with it, say which rule was wrong.
    let verdict = match rules.cpu_copies.value {
        Some(inferred) if verdict(measured, Some(inferred)) == Verdict::Differs => format!(
            "the rule was WRONG here: it infers {inferred:.2} ({}), the probes measured {measured:.2}",
            rules.cpu_copies.from
        ),
        Some(inferred) => format!("the rules agree: they infer {inferred:.2} ({})", rules.reason),
        None => "the rules have no figure here".to_owned(),
    };
    CopyModel {
        cpu_copies: Figure::measured(
            measured,
            "the kernel's copy probes in the sender (which ones: sources, data.copied_bytes)",
        ),
        reason: format!(
            "kernel -> user {:.2}, user -> kernel {:.2}, kernel -> kernel {:.2} per chunk; {verdict}",
            per_chunk(to_user),
            per_chunk(from_user),
            per_chunk(in_kernel),
        ),
    }
}

/// The sender's CPU copies per chunk, from its syscalls and the strategy's
/// design (inferred), or from the kernel's zero-copy reports (measured).
fn inferred_sender_copies(
    strategy: Strategy,
    sink: SinkKind,
    side: &SideRun,
    chunk_bytes: f64,
    chunks: f64,
) -> CopyModel {
    // Preferred: the fd kinds the kernel resolved for each syscall (and for
    // each io_uring completion). Not for zero-copy sends: the kernel's
    // completion reports say what happened to those.
    fd_kind_copies(strategy, side, chunk_bytes, chunks)
        .unwrap_or_else(|| design_copies(strategy, sink, side, chunk_bytes, chunks))
}

/// The sender's CPU copies per chunk from its classified flows (fd kinds
/// resolved in the kernel), where there are flows and they apply. A
/// zero-copy sender's flows count the sends its completion reports say the
/// kernel copied anyway; without those reports they do not apply.
fn fd_kind_copies(strategy: Strategy, side: &SideRun, chunk_bytes: f64, chunks: f64) -> Option<CopyModel> {
    let zero_copy = matches!(strategy, Strategy::MsgZerocopy | Strategy::IoUringSendZc);
    let io_uring_seen = side.copies.iter().any(|f| f.via == Via::IoUring);
    if (zero_copy && side.zerocopy.is_none())
        || side.copies.is_empty()
        || (strategy == Strategy::IoUring && !io_uring_seen)
    {
        return None;
    }
    let cpu: u64 = side.copies.iter().filter(|f| f.kind.is_cpu_copy()).map(|f| f.bytes).sum();
    let flows: Vec<String> =
        side.copies.iter().map(|f| format!("{} {} -> {}: {}", f.syscall, f.from, f.to, f.kind.label())).collect();
    let rule = if io_uring_seen {
        "a rule per io_uring operation and the kind of its file, which the kernel resolved at completion (bytes from io_uring:io_uring_complete)"
    } else {
        "a rule per syscall and the kinds of its fds, which the kernel resolved at syscall entry (bytes from raw_syscalls)"
    };
    let from = match side.zerocopy {
        Some(_) if zero_copy => format!("{rule}; zero-copy sends copied anyway: {}", ZeroCopyStats::SOURCE),
        _ => rule.to_owned(),
    };
    Some(CopyModel {
        cpu_copies: Figure::inferred(cpu as f64 / chunk_bytes / chunks.max(1.0), from),
        reason: flows.join("; "),
    })
}

/// The sender's CPU copies per chunk from the strategy's design and its
/// syscalls' bytes (where fd kinds are not known), or from the kernel's
/// zero-copy reports.
fn design_copies(strategy: Strategy, sink: SinkKind, side: &SideRun, chunk_bytes: f64, chunks: f64) -> CopyModel {
    let per_chunk = |bytes: u64| bytes as f64 / chunk_bytes / chunks.max(1.0);
    let reads = calls_bytes(side, &["read", "pread64", "readv", "preadv", "preadv2"]);
    let writes = calls_bytes(side, &["write", "writev", "sendto", "sendmsg", "pwrite64"]);
    match strategy {
        Strategy::ReadWrite => CopyModel {
            cpu_copies: Figure::inferred(
                per_chunk(reads) + per_chunk(writes),
                "read(2) of a cached file copies page cache -> user; write(2) copies user -> kernel (bytes from raw_syscalls)",
            ),
            reason: "one copy into the user buffer, one out of it".into(),
        },
        Strategy::MmapWrite | Strategy::MmapPopulateWrite => CopyModel {
            cpu_copies: Figure::inferred(
                per_chunk(writes),
                "write(2) from the mapping copies user -> kernel; the mapping itself is the page cache (no copy in)",
            ),
            reason: "the page cache is mapped, so only write(2) copies".into(),
        },
        Strategy::Sendfile | Strategy::Splice => match sink {
            SinkKind::Tcp | SinkKind::Unix | SinkKind::Pipe => CopyModel {
                cpu_copies: Figure::inferred(
                    0.0,
                    "sendfile/splice to a socket or pipe attach page-cache pages by reference (splice, MSG_SPLICE_PAGES)",
                ),
                reason: "page-cache pages are passed by reference, not copied, on this path".into(),
            },
            SinkKind::File => CopyModel {
                cpu_copies: Figure::inferred(
                    per_chunk(side.bytes),
                    "splicing into a regular file copies page cache -> page cache",
                ),
                reason: "a file sink needs its own page-cache copy".into(),
            },
            SinkKind::Null => CopyModel {
                cpu_copies: Figure::inferred(0.0, "/dev/null discards without touching the data"),
                reason: "nothing is copied".into(),
            },
        },
        Strategy::MsgZerocopy | Strategy::IoUringSendZc => {
            let zc = side.zerocopy.unwrap_or_default();
            // io_uring's reads are completions, not read(2) calls.
            let io_uring_reads: u64 = side
                .copies
                .iter()
                .filter(|f| f.via == Via::IoUring && f.kind == CopyKind::CpuKernelToUser)
                .map(|f| f.bytes)
                .sum();
            CopyModel {
                cpu_copies: Figure::inferred(
                    per_chunk(reads + io_uring_reads) + per_chunk(zc.copied_bytes),
                    format!(
                        "the read copies (read(2), or io_uring READ completions by fd kind), plus the sends copied anyway: {}",
                        ZeroCopyStats::SOURCE
                    ),
                ),
                reason: format!(
                    "{} of {} zero-copy bytes were reported copied by the kernel",
                    zc.copied_bytes, zc.bytes
                ),
            }
        }
        Strategy::IoUring => CopyModel {
            cpu_copies: Figure::inferred(
                2.0 * side.bytes as f64 / chunk_bytes / chunks.max(1.0),
                "io_uring read copies page cache -> user, send copies user -> kernel",
            ),
            reason: "the same two copies as read + write, submitted differently".into(),
        },
        Strategy::CopyFileRange => CopyModel {
            cpu_copies: Figure::inferred(
                per_chunk(side.bytes),
                "copy_file_range without reflink copies page cache -> page cache in the kernel",
            ),
            reason: "one in-kernel copy".into(),
        },
        Strategy::MmapTouch
        | Strategy::MmapPopulateTouch
        | Strategy::MmapSharedWrite
        | Strategy::MmapPrivateWrite
        | Strategy::SmallFilesRead
        | Strategy::SmallFilesMmap => CopyModel {
            cpu_copies: Figure::inferred(0.0, "an mmap scenario moves no data to a sink"),
            reason: "nothing is sent".into(),
        },
        Strategy::DirectRead => CopyModel {
            cpu_copies: Figure::inferred(
                per_chunk(writes),
                "O_DIRECT reads are DMA'd into user memory; write(2) copies user -> kernel",
            ),
            reason: "the read is a device transfer, only the write copies".into(),
        },
    }
}

/// A claim holds when the figure is within 5% of it (or 0.05 of a claimed 0);
/// without a figure there is no verdict.
fn verdict(claimed: f64, measured: Option<f64>) -> Verdict {
    match measured {
        None => Verdict::Unknown,
        Some(m) if (claimed - m).abs() <= 0.05 * claimed.max(1.0) => Verdict::Holds,
        Some(_) => Verdict::Differs,
    }
}

fn cell(what: &str, claimed: f64, measured: Figure, reason: String) -> Cell {
    let verdict = verdict(claimed, measured.value);
    Cell { what: what.into(), claimed, measured, verdict, reason }
}

/// A measured figure, or "not available" naming the probe that did not attach.
fn measured_or(value: Option<f64>, from: &str, missing: &str) -> Figure {
    value.map_or_else(|| Figure::not_available(missing), |v| Figure::measured(v, from))
}

/// The literature's mmap claims against an mmap scenario, per MiB mapped.
fn compare_scenario(case: &CaseResult, sender: &SideSummary) -> Vec<Comparison> {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096) as f64;
    let mib = case.runs.first().map_or(1.0, |r| r.sender.bytes as f64) / f64::from(1 << 20);
    let pages_per_mib = f64::from(1 << 20) / page;
    let faults = sender.faults_minor_per_run.zip(sender.faults_major_per_run).map(|(minor, major)| minor + major);
    let perf = "perf minor-faults + major-faults in the worker";
    let no_perf = "the perf software events page-faults/minor-faults/major-faults could not be attached";
    let faults_per_mib = measured_or(faults.map(|f| f / mib), perf, no_perf);
    let pages_per_fault = faults_per_mib
        .value
        .map_or_else(|| "n/a".to_owned(), |f| format!("{:.1}", pages_per_mib / f.max(f64::MIN_POSITIVE)));
    let own = mean_own_faults(case) / mib;
    let written = sender.block_write_bytes_per_run.map(|b| b / f64::from(1 << 20) / mib);
    let no_block = "the tracepoint block:block_bio_queue could not be attached";
    let row = |row: &str, cells| Comparison { row: row.into(), cells };
    match case.strategy {
        Strategy::MmapTouch => vec![row(
            "mmap: the first touch of each page raises a page fault",
            vec![cell(
                "faults per MiB",
                pages_per_mib,
                faults_per_mib,
                format!(
                    "{pages_per_fault} pages mapped per fault: fault-around maps neighbouring cached pages, and large folios map more at once"
                ),
            )],
        )],
        Strategy::MmapPopulateTouch => vec![row(
            "mmap: MAP_POPULATE pre-faults the whole mapping",
            vec![cell(
                "faults per MiB while touching",
                0.0,
                faults_per_mib.clone(),
                format!(
                    "the process's own counters show {own:.1} faults per MiB: taken by get_user_pages inside mmap(), which raise no exception and no perf event"
                ),
            )],
        )],
        Strategy::MmapSharedWrite => vec![row(
            "mmap: dirty MAP_SHARED pages reach the file through msync",
            vec![cell(
                "MiB written to the device per MiB dirtied",
                1.0,
                measured_or(
                    written,
                    "block:block_bio_queue writes in the worker (msync writes back in the caller's context)",
                    no_block,
                ),
                "pages the kernel's flusher threads wrote back first are charged to them, not to this process".into(),
            )],
        )],
        Strategy::MmapPrivateWrite => vec![row(
            "mmap: MAP_PRIVATE is copy-on-write and never reaches the file",
            vec![
                cell(
                    "MiB written to the device per MiB dirtied",
                    0.0,
                    measured_or(written, "block:block_bio_queue writes in the worker", no_block),
                    "msync has nothing to write for a private mapping".into(),
                ),
                cell(
                    "faults per MiB (each write copies a page)",
                    pages_per_mib,
                    faults_per_mib.clone(),
                    "write faults on a private mapping copy one page each: no fault-around for them".into(),
                ),
            ],
        )],
        _ => Vec::new(),
    }
}

fn mean_own_faults(case: &CaseResult) -> f64 {
    let v: Vec<f64> = case.runs.iter().filter_map(|r| r.sender.faults_own_counters).map(|f| f as f64).collect();
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// Compares `case` (a measured bench case) with every claim about its strategy.
pub fn compare(case: &CaseResult) -> Vec<Comparison> {
    let Some(run) = case.runs.first() else { return Vec::new() };
    let Some(sender) = &case.sender else { return Vec::new() };
    if case.strategy.is_scenario() {
        return compare_scenario(case, sender);
    }
    let chunks = case.chunks_per_run as f64;
    let chunk_bytes = case.chunk as f64;
    let syscalls = sender.syscalls_per_chunk;
    let no_syscalls = "the raw_syscalls tracepoints could not be attached";
    let copies = sender_copies(case.strategy, case.sink, &run.sender, chunk_bytes, chunks);
    let per_chunk = |bytes: f64| bytes / chunk_bytes / chunks;
    let disk = sender.block_read_bytes_per_run.map(per_chunk);
    let runs = case.runs.len().max(1) as f64;
    // Device transmits are counted in every run or in none (net_dev_xmit attached or not).
    let mean_net = |get: fn(&crate::model::NetTransmit) -> u64| -> Option<f64> {
        let per_run: Option<Vec<f64>> =
            case.runs.iter().map(|r| r.net_transmit.as_ref().map(|n| get(n) as f64)).collect();
        per_run.map(|v| per_chunk(v.iter().sum::<f64>() / runs))
    };
    let nic = mean_net(|n| n.device_bytes);
    let lo = mean_net(|n| n.loopback_bytes).unwrap_or(0.0);
    let virt = mean_net(|n| n.virtual_bytes).unwrap_or(0.0);
    let dma = match (disk, nic) {
        (Some(disk), Some(nic)) => {
            Figure::measured(disk + nic, "block:block_bio_queue + net_dev_xmit (non-loopback devices)")
        }
        (None, _) => Figure::not_available("the tracepoint block:block_bio_queue could not be attached"),
        (_, None) => Figure::not_available("net_dev_xmit (raw or classic tracepoint) could not be attached"),
    };
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"));
    let dma_reason = format!(
        "disk -> page cache {}/chunk ({} cache; block:block_bio_queue), NIC {}/chunk (net_dev_xmit on hardware devices){}{}",
        show(disk),
        case.cache.name(),
        show(nic),
        if lo > 0.0 { format!("; loopback carried {lo:.2}/chunk but does no DMA") } else { String::new() },
        if virt > 0.0 {
            format!("; virtual devices carried {virt:.2}/chunk, no DMA of their own")
        } else {
            String::new()
        }
    );
    let receive_note = case
        .receiver
        .as_ref()
        .and_then(|r| r.recv_copy_bytes_per_run)
        .filter(|b| *b > 0.0)
        .map(|b| {
            format!(
                "; the receiver copied {:.2}/chunk kernel -> user (skb:skb_copy_datagram_iovec), not part of the claim",
                b / chunk_bytes / chunks
            )
        })
        .unwrap_or_default();
    claims_for(case.strategy)
        .into_iter()
        .map(|claim| {
            let cells = vec![
                cell(
                    "syscalls",
                    claim.syscalls,
                    measured_or(syscalls, "tracepoints raw_syscalls, sender process, per chunk", no_syscalls),
                    if matches!(case.strategy, Strategy::MmapWrite | Strategy::MmapPopulateWrite) {
                        "mmap and munmap happen once per file, so per chunk there is one write".into()
                    } else {
                        format!("{} per chunk", show(syscalls))
                    },
                ),
                cell(
                    "mode transitions",
                    claim.mode_transitions,
                    syscalls.map_or_else(
                        || Figure::not_available(no_syscalls),
                        |s| Figure::inferred(2.0 * s, "2 per measured syscall"),
                    ),
                    "each syscall enters and leaves the kernel once".into(),
                ),
                cell(
                    "CPU copies",
                    claim.cpu_copies,
                    copies.cpu_copies.clone(),
                    format!("{}{receive_note}", copies.reason),
                ),
                cell("DMA copies", claim.dma_copies, dma.clone(), dma_reason.clone()),
                copy_time(claim.cpu_copies, sender),
            ];
            Comparison { row: claim.row.into(), cells }
        })
        .collect()
}

/// The claim's copies against what the sender's copies cost: a time, not
/// a count, so no verdict; sampled, with its interval and sample count.
fn copy_time(claimed: f64, sender: &SideSummary) -> Cell {
    let what = "CPU time in copies per MiB (ms, sampled)";
    let (measured, reason) = match &sender.kernel_time {
        Some(t) => (
            Figure::sampled(
                t.copy_ms_per_mib,
                format!("perf cpu-clock samples of the sender's kernel stacks at {} Hz, classified by activity", t.hz),
            ),
            format!(
                "{:.3} ms per MiB (95% {:.3}-{:.3}) from {} samples over the runs, for the {claimed} copies the claim counts",
                t.copy_ms_per_mib, t.copy_ms_per_mib_low, t.copy_ms_per_mib_high, t.samples
            ),
        ),
        None => (
            Figure::not_available(
                "no samples: --sample-hz 0, the cpu-clock program did not attach, or kernel addresses could not be named",
            ),
            "the claim's copies have no measured cost here".to_owned(),
        ),
    };
    Cell { what: what.into(), claimed, measured, verdict: Verdict::Unknown, reason }
}

/// "Small files (under about 16 KiB) are cheaper with read() than with mmap":
/// compares a small-files-mmap case with the small-files-read case of the
/// same chunk and cache, by wall time per file (the window's
/// CLOCK_MONOTONIC: CPU-time accounting is too coarse at this scale).
pub fn compare_small_files(mmap: &CaseResult, read: &CaseResult) -> Option<Comparison> {
    let per_file = |c: &CaseResult| c.wall_s.map(|w| 1e6 * w.mean / c.chunks_per_run.max(1) as f64);
    let (m, r) = (per_file(mmap)?, per_file(read)?);
    let calls = |c: &CaseResult| c.sender.as_ref().and_then(|s| s.syscalls_per_chunk).unwrap_or(0.0);
    let faults = |c: &CaseResult| {
        c.sender.as_ref().and_then(|s| s.faults_per_run).unwrap_or(0.0) / c.chunks_per_run.max(1) as f64
    };
    let ratio = m / r.max(f64::MIN_POSITIVE);
    let small = mmap.chunk <= 16 << 10;
    let holds = if small { ratio > 1.0 } else { ratio <= 1.0 };
    Some(Comparison {
        row: format!(
            "small files ({}): read() is cheaper than mmap{}",
            crate::model::size::format_size(mmap.chunk),
            if small { "" } else { " only under about 16 KiB" }
        ),
        cells: vec![Cell {
            what: format!("time per file, mmap / read (claim: {} 1)", if small { "above" } else { "at most" }),
            claimed: 1.0,
            measured: Figure::measured(ratio, "wall time of the window per file (CLOCK_MONOTONIC), means over runs"),
            verdict: if holds { Verdict::Holds } else { Verdict::Differs },
            reason: format!(
                "mmap {m:.2} us per file ({:.1} syscalls, {:.2} faults), read {r:.2} us ({:.1} syscalls, {:.2} faults)",
                calls(mmap),
                faults(mmap),
                calls(read),
                faults(read)
            ),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::How;

    #[test]
    fn the_table_is_encoded_as_the_articles_give_it() {
        let sendfile = claims_for(Strategy::Sendfile);
        assert_eq!(sendfile.len(), 2);
        assert_eq!((sendfile[1].cpu_copies, sendfile[1].dma_copies), (0.0, 2.0));
        let rw = claims_for(Strategy::ReadWrite)[0];
        assert_eq!((rw.syscalls, rw.mode_transitions, rw.cpu_copies, rw.dma_copies), (2.0, 4.0, 2.0, 2.0));
        assert!(claims_for(Strategy::Splice).is_empty(), "the articles do not cover splice");
    }

    #[test]
    fn verdicts_allow_five_percent() {
        assert_eq!(verdict(2.0, Some(2.01)), Verdict::Holds);
        assert_eq!(verdict(4.0, Some(2.0)), Verdict::Differs);
        assert_eq!(verdict(0.0, Some(0.0)), Verdict::Holds);
        assert_eq!(verdict(0.0, Some(1.0)), Verdict::Differs);
        assert_eq!(verdict(0.0, None), Verdict::Unknown, "no figure, no verdict");
    }

    #[test]
    fn zero_copy_sends_the_kernel_copied_anyway_are_cpu_copies() {
        let side = SideRun {
            pid: 1,
            syscalls: Default::default(),
            syscalls_total: Some(1),
            faults: Default::default(),
            switches: Default::default(),
            data: Default::default(),
            copies: Vec::new(),
            faults_own_counters: None,
            user_s: 0.0,
            sys_s: 0.0,
            bytes: 1 << 20,
            zerocopy: Some(ZeroCopyStats {
                sends: 16,
                completions: 16,
                copied: 16,
                bytes: 1 << 20,
                completed_bytes: 1 << 20,
                copied_bytes: 1 << 20,
                retransmitted_bytes: 0,
            }),
            cpu_copies_per_chunk: None,
            profile: None,
        };
        // Without fd kinds: the design's read copies (none here) and the reported copies.
        let m = sender_copies(Strategy::MsgZerocopy, SinkKind::Tcp, &side, 65536.0, 16.0);
        assert_eq!((m.cpu_copies.how, m.cpu_copies.value), (How::Inferred, Some(1.0)));
        assert!(m.cpu_copies.from.contains("SO_EE_CODE_ZEROCOPY_COPIED"), "{}", m.cpu_copies.from);
        // With fd kinds: the flows, split by the reports, give the same figure.
        let mut flows = vec![crate::model::CopyFlow {
            kind: CopyKind::ZeroCopySend,
            syscall: "sendto".into(),
            via: Via::Syscall,
            from: crate::model::Endpoint::UserMemory,
            to: crate::model::Endpoint::Socket,
            calls: 16,
            bytes: 1 << 20,
            how: How::Inferred,
            rule: String::new(),
        }];
        crate::analysis::copies::split_reported(&mut flows, side.zerocopy.unwrap());
        let with_flows = SideRun { copies: flows, ..side.clone() };
        let m = sender_copies(Strategy::MsgZerocopy, SinkKind::Tcp, &with_flows, 65536.0, 16.0);
        assert_eq!(m.cpu_copies.value, Some(1.0), "{}", m.reason);
        assert!(m.reason.contains("copied anyway"), "{}", m.reason);
        // Half reported copied: half a copy per chunk.
        let half = ZeroCopyStats { copied: 8, copied_bytes: 1 << 19, ..side.zerocopy.unwrap() };
        let m = sender_copies(
            Strategy::MsgZerocopy,
            SinkKind::Tcp,
            &SideRun { zerocopy: Some(half), ..side.clone() },
            65536.0,
            16.0,
        );
        assert_eq!(m.cpu_copies.value, Some(0.5));
        let m = sender_copies(Strategy::Sendfile, SinkKind::Tcp, &side, 65536.0, 16.0);
        assert_eq!((m.cpu_copies.how, m.cpu_copies.value), (How::Inferred, Some(0.0)));

        // Where the copy routines are counted, they are the figure, and the rules' is shown beside it.
        let mut side = side;
        side.data.copied_to_user_bytes = Some(1 << 20);
        side.data.copied_from_user_bytes = Some(1 << 20);
        side.data.copied_in_kernel_bytes = Some(0);
        let m = sender_copies(Strategy::ReadWrite, SinkKind::Tcp, &side, 65536.0, 16.0);
        assert_eq!((m.cpu_copies.how, m.cpu_copies.value), (How::Measured, Some(2.0)));
        assert!(m.reason.contains("kernel -> user 1.00, user -> kernel 1.00"), "{}", m.reason);
        assert!(
            m.reason.contains("the rule was WRONG here: it infers 0.00"),
            "no read/write syscalls in this side, so the rules say 0 and the probes 2: {}",
            m.reason
        );
        // Where they agree, the reason says so.
        side.syscalls
            .insert("read".into(), crate::model::SyscallFigures { calls: 16, bytes: Some(1 << 20), errors: 0 });
        side.syscalls
            .insert("write".into(), crate::model::SyscallFigures { calls: 16, bytes: Some(1 << 20), errors: 0 });
        let m = sender_copies(Strategy::ReadWrite, SinkKind::Tcp, &side, 65536.0, 16.0);
        assert!(m.reason.contains("the rules agree: they infer 2.00"), "{}", m.reason);
    }
}
