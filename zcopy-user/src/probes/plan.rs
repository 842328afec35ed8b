//! What attached, as plain data, and everything derived from it: coverage,
//! the sources of each figure, the terminal's labels and `zcopy doctor`'s
//! plan. `zcopy trace`, `zcopy bench` and `zcopy doctor` all get their
//! outcomes from the same attach step (`bpf::Tracer::load`), so they cannot
//! disagree about a probe.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    features::Mechanism,
    table::{Group, PROBES, Probe, Way, probe},
};
use crate::model::{
    CopyProbes, Coverage,
    coverage::{HookMask, WayChoices},
};

/// What happened to one probe when zcopy attached its programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub group: Group,
    /// The index of the way that attached, if one did.
    #[serde(skip)]
    pub way: Option<usize>,
    /// Its mechanism.
    pub uses: Option<Mechanism>,
    /// Why each way tried before it (or every way) did not attach, and why
    /// each of its optional hooks that did not attach did not.
    pub refused: Vec<String>,
    /// The used way's optional hooks that did not attach.
    #[serde(skip)]
    pub missing: HookMask,
}

impl Outcome {
    pub fn attached(&self) -> bool {
        self.way.is_some()
    }

    pub fn used_way(&self) -> Option<&'static Way> {
        self.way.and_then(|i| probe(self.group).ways.get(i))
    }
}

/// Kernel layout facts that decide figure groups beyond attaching.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// fd -> file -> inode offsets are known: fd kinds are resolved.
    pub fd_kinds: bool,
    /// io_kiocb's opcode and file offsets are known.
    pub io_kiocb: bool,
}

/// Which figure groups are complete, given the outcomes.
pub fn coverage(outcomes: &[Outcome], layout: Layout) -> Coverage {
    let way = |group: Group| outcomes.iter().find(|o| o.group == group).and_then(|o| o.way);
    let has = |group: Group| way(group).is_some();
    let syscalls = has(Group::Syscalls);
    let mut ways = WayChoices::default();
    for (index, p) in PROBES.iter().enumerate() {
        ways.set(index, way(p.group).unwrap_or(0));
    }
    Coverage {
        syscalls,
        faults_by_mode: has(Group::FaultsByMode),
        faults_perf: has(Group::FaultsPerf),
        switches: has(Group::Switches),
        children: has(Group::Children),
        recv_copy: has(Group::RecvCopy),
        block_io: has(Group::BlockIo),
        page_cache: has(Group::PageCache),
        net_device: has(Group::NetDevice),
        ways,
        fd_kinds: layout.fd_kinds && syscalls,
        io_uring_ops: has(Group::IoUring) && layout.fd_kinds && layout.io_kiocb,
        copy_routines: match way(Group::CopyRoutines) {
            Some(0) => CopyProbes::Fexit,
            Some(1) => CopyProbes::Kprobe,
            Some(_) => CopyProbes::Sites,
            None => CopyProbes::None,
        },
        copy_sites_missing: outcomes
            .iter()
            .find(|o| o.group == Group::CopyRoutines)
            .map(|o| o.missing)
            .unwrap_or_default(),
        samples: has(Group::Samples),
        // Its sockets are registered by the syscall programs, too.
        zero_copy_fate: has(Group::ZeroCopyFate) && syscalls,
    }
}

/// The way `coverage` says was used for `probe`: the inverse of [`coverage`].
pub fn used_way(probe: &Probe, c: Coverage) -> Option<&'static Way> {
    let attached = match probe.group {
        Group::Syscalls => c.syscalls,
        Group::FaultsByMode => c.faults_by_mode,
        Group::FaultsPerf => c.faults_perf,
        Group::Switches => c.switches,
        Group::Children => c.children,
        Group::RecvCopy => c.recv_copy,
        Group::BlockIo => c.block_io,
        Group::PageCache => c.page_cache,
        Group::IoUring => c.io_uring_ops,
        Group::NetDevice => c.net_device,
        Group::CopyRoutines => c.copy_routines.attached(),
        Group::ZeroCopyFate => c.zero_copy_fate,
        Group::Samples => c.samples,
    };
    let index = PROBES.iter().position(|p| p.group == probe.group)?;
    attached.then(|| probe.ways.get(c.ways.get(index))).flatten()
}

/// The used way's hooks that did not attach, for `probe` (only the copy
/// sites are optional).
fn missing_of(probe: &Probe, c: Coverage) -> HookMask {
    if probe.group == Group::CopyRoutines { c.copy_sites_missing } else { HookMask::default() }
}

/// The functions of `way`'s hooks in `missing`: "anon_pipe_read / pipe_read".
pub fn missing_sites(way: &Way, missing: HookMask) -> Vec<String> {
    way.hooks.iter().enumerate().filter(|(i, _)| missing.contains(*i)).map(|(_, h)| h.functions()).collect()
}

/// What a figure measured by `way` says of its source: `how`, and, where
/// some of its sites did not attach, that it covers the others only.
pub fn way_source(way: &Way, how: &str, missing: HookMask) -> String {
    let sites = missing_sites(way, missing);
    if sites.is_empty() {
        how.to_owned()
    } else {
        format!("{how}; covers the sites that attached only, not measured on this kernel: {}", sites.join(", "))
    }
}

/// Provenance of each figure of a trace, by JSON field path: one entry per
/// field of every probe, plus the figures inferred from them.
pub fn sources(c: Coverage) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for p in PROBES {
        let used = used_way(p, c);
        for field in p.fields() {
            let text = match used.and_then(|w| Some((w, w.fields.iter().find(|(f, _)| *f == field)?))) {
                Some((way, (_, how))) => {
                    format!("{}: {}", p.group.provenance(), way_source(way, how, missing_of(p, c)))
                }
                None if p.optional => format!(
                    "not measured here: {} (see `zcopy doctor`); copies are inferred (see copies)",
                    refusal_summary(p)
                ),
                None => format!("unavailable: {} (the warnings give the kernel's error)", refusal_summary(p)),
            };
            map.insert(field.to_owned(), text);
        }
    }
    map.insert(
        "mode_transitions".into(),
        if c.syscalls {
            "inferred: 2 x syscalls_total (each syscall enters the kernel once and returns once)".into()
        } else {
            "unavailable: needs syscalls_total".into()
        },
    );
    map.insert(
        "copies".into(),
        if c.fd_kinds {
            "inferred: a rule per syscall and the kinds of its fds (resolved in the kernel at syscall entry from current->files, offsets from BTF); calls and bytes measured by raw_syscalls".into()
        } else if c.syscalls {
            "unavailable: the kernel's BTF lacks the offsets to tell fd kinds apart".into()
        } else {
            "unavailable: needs the raw_syscalls tracepoints".into()
        },
    );
    map
}

/// "none of X, Y could be attached".
fn refusal_summary(p: &Probe) -> String {
    let points: Vec<String> = p.ways.iter().map(|w| w.label.to_owned()).collect();
    format!("{} could not be attached", points.join(", nor "))
}

/// The terminal's source column for a group: the way used (and the sites
/// it lacks here), or why there is none.
pub fn label(group: Group, c: Coverage) -> String {
    let p = probe(group);
    match used_way(p, c) {
        Some(way) => {
            let sites = missing_sites(way, missing_of(p, c));
            if sites.is_empty() {
                way.label.to_owned()
            } else {
                format!("{} (not measured here: {})", way.label, sites.join(", "))
            }
        }
        None if p.optional => "not measured here (see `zcopy doctor`)".to_owned(),
        None => "not attached".to_owned(),
    }
}

/// What zcopy does for one probe, as `zcopy doctor` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// `sources` is what the trace's JSON `sources` says for each field (after "measured: ").
    Uses {
        mechanism: Mechanism,
        /// How its figures are known: "measured" (counted) or "sampled".
        provenance: &'static str,
        hooks: Vec<String>,
        sources: BTreeMap<&'static str, String>,
        /// Its copy sites this kernel lacks (or cannot trace): not measured.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        not_measured: Vec<String>,
    },
    FallsBack {
        instead: &'static str,
        because: Vec<String>,
        fields: Vec<&'static str>,
    },
}

/// `zcopy doctor`'s plan: one decision per probe, from the attach outcomes.
pub fn decisions(outcomes: &[Outcome]) -> Vec<(&'static str, Decision)> {
    PROBES
        .iter()
        .map(|p| {
            let outcome = outcomes.iter().find(|o| o.group == p.group);
            let decision = match outcome.and_then(|o| Some((o.used_way()?, o))) {
                Some((way, o)) => Decision::Uses {
                    mechanism: way.mechanism,
                    provenance: p.group.provenance(),
                    hooks: way
                        .hooks
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !o.missing.contains(*i))
                        .map(|(_, h)| h.point())
                        .collect(),
                    sources: way.fields.iter().map(|(f, how)| (*f, way_source(way, how, o.missing))).collect(),
                    not_measured: missing_sites(way, o.missing),
                },
                None => Decision::FallsBack {
                    instead: p.fallback,
                    because: outcome.map(|o| o.refused.clone()).unwrap_or_default(),
                    fields: p.fields().collect(),
                },
            };
            (p.what, decision)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(used: impl Fn(Group) -> Option<usize>) -> Vec<Outcome> {
        PROBES
            .iter()
            .map(|p| {
                let way = used(p.group);
                Outcome {
                    group: p.group,
                    way,
                    uses: way.map(|i| p.ways[i].mechanism),
                    refused: Vec::new(),
                    missing: HookMask::default(),
                }
            })
            .collect()
    }

    #[test]
    fn coverage_and_used_way_are_inverses() {
        let layout = Layout { fd_kinds: true, io_kiocb: true };
        for pick in [
            |_| Some(0),
            |g| (g != Group::CopyRoutines).then_some(0),
            |g| (g == Group::NetDevice || g == Group::CopyRoutines).then_some(1).or(Some(0)),
        ] {
            let o = outcomes(pick);
            let c = coverage(&o, layout);
            for p in PROBES {
                let from_outcome = o.iter().find(|x| x.group == p.group).and_then(Outcome::used_way);
                assert_eq!(used_way(p, c).map(|w| w.label), from_outcome.map(|w| w.label), "{:?}", p.group);
            }
        }
    }

    #[test]
    fn a_missing_probe_makes_its_fields_unavailable_and_says_why() {
        let o = outcomes(|g| (g != Group::FaultsByMode && g != Group::CopyRoutines).then_some(0));
        let c = coverage(&o, Layout { fd_kinds: true, io_kiocb: true });
        assert!(!c.faults_by_mode && c.syscalls && c.faults_perf);
        let s = sources(c);
        assert!(s["faults.user"].starts_with("unavailable: raw tracepoints page_fault_user"), "{}", s["faults.user"]);
        assert!(!s["faults.user"].contains("not on this kernel"), "the error is in the warnings, not guessed");
        assert!(s["faults.total"].starts_with("measured: perf software event page-faults"));
        assert!(s["data.copied_bytes"].starts_with("not measured here"));
        assert!(s["mode_transitions"].starts_with("inferred:"));
        assert_eq!(label(Group::NetDevice, c), "raw tracepoint net_dev_xmit");
    }

    #[test]
    fn doctor_plans_what_the_tracer_attached() {
        // The doctor's plan and the tracer's coverage come from the same outcomes.
        let o = outcomes(|g| match g {
            Group::NetDevice => Some(1),
            Group::CopyRoutines => None,
            _ => Some(0),
        });
        let c = coverage(&o, Layout::default());
        for (what, decision) in decisions(&o) {
            let p = PROBES.iter().find(|p| p.what == what).unwrap();
            match (decision, used_way(p, c)) {
                (Decision::Uses { mechanism, .. }, Some(w)) => assert_eq!(mechanism, w.mechanism, "{what}"),
                (Decision::FallsBack { .. }, None) => {}
                (d, w) if p.group == Group::IoUring => {
                    // io_uring coverage also needs BTF layout; the attach itself is what doctor reports.
                    assert!(matches!(d, Decision::Uses { .. }) && w.is_none());
                }
                (d, w) => panic!("{what}: doctor {d:?}, trace {:?}", w.map(|w| w.label)),
            }
        }
    }

    #[test]
    fn a_missing_copy_site_is_named_and_the_others_still_measure() {
        let sites = probe(Group::CopyRoutines).ways.iter().position(|w| w.hooks.iter().all(|h| h.optional)).unwrap();
        let pipe_read =
            probe(Group::CopyRoutines).ways[sites].hooks.iter().position(|h| h.program == "pipe_read_exit").unwrap();
        let mut o = outcomes(|g| Some(if g == Group::CopyRoutines { sites } else { 0 }));
        o.iter_mut().find(|o| o.group == Group::CopyRoutines).unwrap().missing = HookMask::default().with(pipe_read);
        let c = coverage(&o, Layout { fd_kinds: true, io_kiocb: true });
        assert_eq!(c.copy_routines, CopyProbes::Sites);
        let s = sources(c);
        let text = &s["data.copied_bytes"];
        assert!(text.starts_with("measured: fexit on the functions that call the copy routines"), "{text}");
        assert!(
            text.ends_with(
                "covers the sites that attached only, not measured on this kernel: anon_pipe_read / pipe_read"
            ),
            "{text}"
        );
        assert!(label(Group::CopyRoutines, c).ends_with("(not measured here: anon_pipe_read / pipe_read)"));
        // doctor says the same as the trace's sources, and names the site.
        let (_, d) = decisions(&o).into_iter().find(|(w, _)| *w == probe(Group::CopyRoutines).what).unwrap();
        let Decision::Uses { sources: doctor, not_measured, hooks, .. } = d else { panic!("{d:?}") };
        assert_eq!(format!("measured: {}", doctor["data.copied_bytes"]), *text);
        assert_eq!(not_measured, ["anon_pipe_read / pipe_read"]);
        assert!(!hooks.iter().any(|h| h.contains("pipe_read")), "{hooks:?}");
        // Saved and read back, the coverage still knows.
        let back: Coverage = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(sources(back)["data.copied_bytes"], *text);
    }
}
