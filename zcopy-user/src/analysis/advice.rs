//! Traffic grouped into flows (source kind -> sink kind), the strategy the
//! process uses for each, and what another strategy would save. Built from
//! the classified copies (measured calls and bytes, fd kinds resolved in the
//! kernel), so every figure is inferred from those, and says so.
//!
//! Bytes read into user memory and written out are a relay only where the
//! process measurably passes them on: the kernel counts, per thread, the
//! bytes each write takes from what that thread just read (`PassThrough`).
//! Only relays get copy-saving advice; a server that reads requests and
//! writes different replies is named for that, and gets none.

use std::collections::BTreeMap;

use crate::model::{CopyFlow, CopyKind, Endpoint, Flow, How, Saving, StrategyShare, flows::PassThrough};

const SOURCES: [Endpoint; 4] = [Endpoint::File, Endpoint::Socket, Endpoint::Pipe, Endpoint::CharDevice];

/// Bytes, calls and syscall names of the reads from one kind of source into user memory.
#[derive(Debug, Default)]
struct Reads {
    bytes: u64,
    calls: u64,
    names: Vec<String>,
}

/// Bytes, calls and syscall names of the writes to one kind of sink, and
/// whether any of them was a zero-copy send.
#[derive(Debug, Default)]
struct Writes {
    bytes: u64,
    calls: u64,
    names: Vec<String>,
    zero_copy: bool,
}

/// Syscall names, each once.
fn names<'a>(copies: impl Iterator<Item = &'a CopyFlow>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in copies {
        if !names.contains(&c.syscall) {
            names.push(c.syscall.clone());
        }
    }
    names
}

/// The reads into user memory, per kind of source.
fn reads_by_source(copies: &[CopyFlow]) -> Vec<(Endpoint, Reads)> {
    SOURCES
        .iter()
        .map(|&src| {
            let rs: Vec<&CopyFlow> =
                copies.iter().filter(|c| c.to == Endpoint::UserMemory && c.from.base() == src).collect();
            // A syscall can read both plain and O_DIRECT files: name it once.
            let reads = Reads {
                bytes: rs.iter().map(|c| c.bytes).sum(),
                calls: rs.iter().map(|c| c.calls).sum(),
                names: names(rs.iter().copied()),
            };
            (src, reads)
        })
        .collect()
}

/// The writes from user memory, per kind of sink.
fn writes_by_sink(copies: &[CopyFlow]) -> BTreeMap<Endpoint, Writes> {
    let mut sinks: BTreeMap<Endpoint, Writes> = BTreeMap::new();
    for c in copies.iter().filter(|c| c.from == Endpoint::UserMemory && c.to != Endpoint::UserMemory) {
        let w = sinks.entry(c.to.base()).or_default();
        w.bytes += c.bytes;
        w.calls += c.calls;
        if !w.names.contains(&c.syscall) {
            w.names.push(c.syscall.clone());
        }
        w.zero_copy |= matches!(c.kind, CopyKind::ZeroCopySend | CopyKind::ZeroCopyCopied);
    }
    sinks
}

/// Flows as they are found: strategies per flow name, the pass-through
/// evidence of read+write pairings, and the relays that may be advised.
#[derive(Default)]
struct Builder {
    strategies: BTreeMap<String, Vec<StrategyShare>>,
    evidence: BTreeMap<String, PassThrough>,
    /// (flow, bytes passed on, read calls) of read+write relays.
    relays: Vec<(String, u64, u64)>,
}

impl Builder {
    fn add(&mut self, flow: String, strategy: String, bytes: u64, calls: u64) {
        self.strategies.entry(flow).or_default().push(StrategyShare { strategy, bytes, share: 0.0, calls });
    }

    /// In-kernel transfers name their source and sink directly.
    fn direct(&mut self, copies: &[CopyFlow]) {
        for c in copies.iter().filter(|c| c.from != Endpoint::UserMemory && c.to != Endpoint::UserMemory) {
            let strategy = match c.kind {
                CopyKind::CpuKernelToKernel => format!("{} (copied in the kernel)", c.syscall),
                _ => c.syscall.clone(),
            };
            self.add(format!("{} -> {}", c.from.base(), c.to.base()), strategy, c.bytes, c.calls);
        }
    }

    /// Writes to `sink` through user memory, matched to the sources the
    /// kernel saw them pass bytes on from, in proportion to what each gave;
    /// the rest was made in memory. Sources not passed on are named apart.
    fn through_user(
        &mut self,
        sink: Endpoint,
        w: &Writes,
        reads: &[(Endpoint, Reads)],
        passed_on: &BTreeMap<(Endpoint, Endpoint), u64>,
        exchanges: &BTreeMap<Endpoint, Endpoint>,
        mmap_calls: u64,
    ) {
        let passes: Vec<(Endpoint, &Reads, PassThrough)> = reads
            .iter()
            .filter(|(_, r)| r.bytes > 0)
            .map(|(src, r)| (*src, r, pass_through(*src, r, sink, w, passed_on)))
            .collect();
        // The writes are shared among the sources they pass bytes on from.
        let relay_total: u64 = passes.iter().filter(|(_, _, p)| p.relay).map(|(_, r, _)| r.bytes).sum();
        let (writes, mut assigned) = (w.names.join("/"), 0);
        for (src, r, pass) in passes {
            let reads = r.names.join("/");
            if !pass.relay {
                // Not passed through: the reads are consumed (requests in),
                // and what is written was made in memory (replies out).
                // Named once per source, with its main sink.
                if exchanges.get(&src) != Some(&sink) {
                    continue;
                }
                let what = if src == Endpoint::Socket && sink == Endpoint::Socket {
                    format!("requests in ({reads}), replies out ({writes})")
                } else {
                    format!("{src} read ({reads}), different bytes written to {sink} ({writes})")
                };
                let flow = format!("{src} in, {sink} out");
                self.add(flow.clone(), format!("{what}: not passed through"), r.bytes, r.calls);
                self.evidence.insert(flow, pass);
                continue;
            }
            let part =
                ((u128::from(w.bytes) * u128::from(r.bytes) / u128::from(relay_total.max(1))) as u64).min(r.bytes);
            if part == 0 {
                continue;
            }
            assigned += part;
            let flow = format!("{src} -> {sink}");
            let strategy = if w.zero_copy {
                format!("read + zero-copy send ({reads} + {writes})")
            } else {
                self.relays.push((flow.clone(), pass.passed_on, r.calls));
                format!("read+write ({reads} + {writes})")
            };
            self.add(flow.clone(), strategy, part, r.calls + w.calls * part / w.bytes.max(1));
            self.evidence.insert(flow, pass);
        }
        let rest = w.bytes.saturating_sub(assigned);
        if rest > 0 {
            let (src, strategy) = if mmap_calls > 0 {
                ("mapped file or memory", format!("mmap of a file + write, or data made in memory ({writes})"))
            } else {
                ("memory", format!("data made in memory ({writes})"))
            };
            self.add(format!("{src} -> {sink}"), strategy, rest, w.calls * rest / w.bytes.max(1));
        }
    }

    /// The flows, biggest first, with their shares and the advice that applies.
    fn finish(mut self) -> Vec<Flow> {
        let total: u64 = self.strategies.values().flatten().map(|s| s.bytes).sum();
        let mut flows: Vec<Flow> = std::mem::take(&mut self.strategies)
            .into_iter()
            .map(|(flow, mut strategies)| {
                let bytes: u64 = strategies.iter().map(|s| s.bytes).sum();
                for s in &mut strategies {
                    s.share = if bytes > 0 { s.bytes as f64 / bytes as f64 } else { 0.0 };
                }
                strategies.sort_by_key(|s| std::cmp::Reverse(s.bytes));
                let savings = self
                    .relays
                    .iter()
                    .filter(|(f, b, _)| *f == flow && worth_advice(*b, total))
                    .filter_map(|(_, b, read_calls)| saving(&flow, *b, *read_calls))
                    .collect();
                let pass_through = self.evidence.remove(&flow);
                Flow { flow, bytes, strategies, savings, pass_through, how: How::Inferred }
            })
            .filter(|f| f.bytes > 0)
            .collect();
        flows.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        flows
    }
}

/// What the kernel's relay counters say of reads from `src` and writes to `sink`.
fn pass_through(
    src: Endpoint,
    r: &Reads,
    sink: Endpoint,
    w: &Writes,
    passed_on: &BTreeMap<(Endpoint, Endpoint), u64>,
) -> PassThrough {
    PassThrough::new(r.bytes, w.bytes, passed_on.get(&(src, sink)).copied().unwrap_or(0))
}

/// For each source whose reads no sink passes on: the sink it is named with
/// ("socket in, socket out"), the one written the most.
fn exchanges(
    reads: &[(Endpoint, Reads)],
    sinks: &BTreeMap<Endpoint, Writes>,
    passed_on: &BTreeMap<(Endpoint, Endpoint), u64>,
) -> BTreeMap<Endpoint, Endpoint> {
    reads
        .iter()
        .filter(|(_, r)| r.bytes > 0)
        .filter(|(src, r)| !sinks.iter().any(|(sink, w)| pass_through(*src, r, *sink, w, passed_on).relay))
        .filter_map(|(src, _)| Some((*src, *sinks.iter().max_by_key(|(_, w)| w.bytes)?.0)))
        .collect()
}

/// Groups `copies` (one process or all) into flows, biggest first;
/// `passed_on` holds the kernel's relay counters by (source, sink) kind.
pub fn flows(copies: &[CopyFlow], mmap_calls: u64, passed_on: &BTreeMap<(Endpoint, Endpoint), u64>) -> Vec<Flow> {
    let mut b = Builder::default();
    b.direct(copies);
    let reads = reads_by_source(copies);
    let sinks = writes_by_sink(copies);
    let exchanges = exchanges(&reads, &sinks, passed_on);
    for (sink, w) in &sinks {
        b.through_user(*sink, w, &reads, passed_on, &exchanges, mmap_calls);
    }
    b.finish()
}

/// Advice only for relays that matter: at least 64 KiB and 1% of the bytes moved.
fn worth_advice(bytes: u64, total: u64) -> bool {
    bytes >= 64 << 10 && bytes * 100 >= total
}

/// What replacing a read+write relay of `bytes` on `flow` would save.
fn saving(flow: &str, bytes: u64, read_calls: u64) -> Option<Saving> {
    let relay = "read+write".to_owned();
    let unchanged = "the process passes the bytes on unchanged (no TLS in user space, compression or templating; \
                     kernel TLS still allows it)";
    Some(match flow {
        "file -> socket" => Saving {
            instead_of: relay,
            use_: "sendfile".into(),
            cpu_copy_bytes_saved: 2 * bytes,
            syscalls_saved: read_calls as i64,
            assumptions: format!(
                "the source is a regular file and {unchanged}; sendfile attaches page-cache pages to the socket \
                 (measured here: no CPU copy on the sender), one call per chunk instead of a read and a write"
            ),
        },
        "file -> pipe" | "socket -> pipe" => Saving {
            instead_of: relay,
            use_: "splice".into(),
            cpu_copy_bytes_saved: 2 * bytes,
            syscalls_saved: read_calls as i64,
            assumptions: format!("{unchanged}; splice moves page references into the pipe"),
        },
        "socket -> socket" | "pipe -> socket" => Saving {
            instead_of: relay,
            use_: "splice through a pipe".into(),
            cpu_copy_bytes_saved: 2 * bytes,
            syscalls_saved: 0,
            assumptions: format!(
                "{unchanged}; two splice calls (source -> pipe -> socket) replace the read and the write"
            ),
        },
        "file -> file" => Saving {
            instead_of: relay,
            use_: "copy_file_range".into(),
            cpu_copy_bytes_saved: bytes,
            syscalls_saved: read_calls as i64,
            assumptions: format!(
                "{unchanged}; the kernel still copies page cache -> page cache once, unless the filesystem shares extents (reflink)"
            ),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(kind: CopyKind, syscall: &str, from: &str, to: &str, calls: u64, bytes: u64) -> CopyFlow {
        let endpoint = |name: &str| serde_json::from_value(serde_json::Value::from(name)).unwrap();
        CopyFlow {
            kind,
            syscall: syscall.into(),
            via: crate::model::copies::Via::Syscall,
            from: endpoint(from),
            to: endpoint(to),
            calls,
            bytes,
            how: How::Inferred,
            rule: String::new(),
        }
    }

    #[test]
    fn a_sendfile_server_is_named_and_needs_no_advice() {
        let copies = vec![
            flow(CopyKind::ByReference, "sendfile", "file", "socket", 10, 10_000_000),
            flow(CopyKind::CpuUserToKernel, "writev", "user memory", "socket", 10, 2_000),
        ];
        let f = flows(&copies, 0, &BTreeMap::new());
        assert_eq!(f[0].flow, "file -> socket");
        assert_eq!(f[0].strategies[0].strategy, "sendfile");
        assert_eq!(f[0].bytes, 10_000_000);
        assert!(f[0].savings.is_empty());
        // The headers written from memory are a flow of their own.
        assert_eq!(f[1].flow, "memory -> socket");
    }

    fn passed(src: Endpoint, sink: Endpoint, bytes: u64) -> BTreeMap<(Endpoint, Endpoint), u64> {
        BTreeMap::from([((src, sink), bytes)])
    }

    #[test]
    fn a_read_write_server_gets_sendfile_advice_with_the_numbers() {
        let copies = vec![
            flow(CopyKind::CpuKernelToUser, "pread64", "file", "user memory", 320, 10_000_000),
            flow(CopyKind::CpuUserToKernel, "writev", "user memory", "socket", 330, 10_002_000),
        ];
        let relayed = passed(Endpoint::File, Endpoint::Socket, 10_000_000);
        let f = flows(&copies, 0, &relayed);
        let fs = f.iter().find(|f| f.flow == "file -> socket").unwrap();
        assert_eq!(fs.strategies[0].strategy, "read+write (pread64 + writev)");

        // Plain and O_DIRECT reads by the same syscall name it once.
        let mut mixed = copies.clone();
        mixed.insert(0, flow(CopyKind::CpuKernelToUser, "read", "file", "user memory", 1, 10));
        mixed.push(flow(CopyKind::DeviceDma, "read", "file (O_DIRECT)", "user memory", 1, 10));
        let mixed_flows = flows(&mixed, 0, &relayed);
        let top = &mixed_flows.iter().find(|f| f.flow == "file -> socket").unwrap().strategies[0].strategy;
        assert_eq!(top, "read+write (read/pread64 + writev)");
        assert_eq!(fs.bytes, 10_000_000);
        let s = &fs.savings[0];
        assert_eq!((s.use_.as_str(), s.cpu_copy_bytes_saved, s.syscalls_saved), ("sendfile", 20_000_000, 320));
        assert!(s.assumptions.contains("TLS"));
        assert_eq!(f.iter().find(|f| f.flow == "memory -> socket").unwrap().bytes, 2_000);
        let pass = fs.pass_through.as_ref().unwrap();
        assert!(pass.relay && pass.evidence().contains("10000000 bytes in, 10002000 bytes out"), "{pass:?}");

        // The same calls and bytes, but the writes did not pass on what was
        // read (a small file read, then replies made in memory): no advice.
        let f = flows(&copies, 0, &passed(Endpoint::File, Endpoint::Socket, 4096));
        assert!(f.iter().all(|f| f.savings.is_empty()), "{f:?}");
        let named = f.iter().find(|f| f.flow == "file in, socket out").unwrap();
        assert!(!named.pass_through.as_ref().unwrap().relay);
        assert!(named.strategies[0].strategy.contains("not passed through"), "{named:?}");
    }

    #[test]
    fn a_request_response_server_is_named_and_gets_no_advice() {
        // 1000 requests of 100 bytes in, 1000 replies of 4 KiB out: each
        // reply passes on at most its request's 100 bytes.
        let copies = vec![
            flow(CopyKind::CpuKernelToUser, "recvfrom", "socket", "user memory", 1000, 100_000),
            flow(CopyKind::CpuUserToKernel, "sendto", "user memory", "socket", 1000, 4_096_000),
        ];
        let f = flows(&copies, 0, &passed(Endpoint::Socket, Endpoint::Socket, 100_000));
        assert!(f.iter().all(|f| f.savings.is_empty()), "{f:?}");
        let exchange = f.iter().find(|f| f.flow == "socket in, socket out").unwrap();
        assert!(
            exchange.strategies[0].strategy.starts_with("requests in (recvfrom), replies out (sendto)"),
            "{exchange:?}"
        );
        assert_eq!(exchange.bytes, 100_000, "the requests, consumed");
        let replies = f.iter().find(|f| f.flow == "memory -> socket").unwrap();
        assert_eq!(replies.bytes, 4_096_000, "every reply was made in memory");
        let pass = exchange.pass_through.as_ref().unwrap();
        assert_eq!((pass.bytes_in, pass.bytes_out, pass.passed_on), (100_000, 4_096_000, 100_000));
        // A proxy forwarding the same bytes is a relay, and gets the advice.
        let proxy = vec![
            flow(CopyKind::CpuKernelToUser, "read", "socket", "user memory", 100, 6_553_600),
            flow(CopyKind::CpuUserToKernel, "write", "user memory", "socket", 100, 6_553_600),
        ];
        let f = flows(&proxy, 0, &passed(Endpoint::Socket, Endpoint::Socket, 6_553_600));
        assert_eq!(f[0].flow, "socket -> socket");
        assert_eq!(f[0].savings[0].use_, "splice through a pipe");
    }
}
