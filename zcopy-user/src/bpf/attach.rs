//! Attaching the probe table's ways: for each probe, the first way whose
//! hooks all attach. A way that attaches part-way is detached again, so two
//! ways never count the same bytes.

use std::sync::OnceLock;

use anyhow::{Context as _, anyhow};
use aya::{
    Btf, Ebpf, Endianness,
    programs::{
        FExit, KProbe, PerfEvent, RawTracePoint, TracePoint,
        fexit::FExitLinkId,
        kprobe::KProbeLinkId,
        perf_event::{self, PerfEventLinkId},
        raw_trace_point::RawTracePointLinkId,
        trace_point::TracePointLinkId,
    },
};

use super::{layout::KernelLayout, permission_or};
use crate::{
    error::{chain, is_permission},
    model::coverage::HookMask,
    probes::{
        features::Mechanism,
        hooks::{Attach, Hook},
        plan::Outcome,
        table::{PROBES, Probe},
    },
};

/// The kernel's BTF as aya needs it for fexit: parsed on first use only
/// (most kernels' first fexit attempt decides whether any is tried again).
pub struct LazyBtf<'a> {
    bytes: Option<&'a [u8]>,
    parsed: OnceLock<Option<Btf>>,
}

impl<'a> LazyBtf<'a> {
    pub fn new(bytes: Option<&'a [u8]>) -> Self {
        Self { bytes, parsed: OnceLock::new() }
    }

    fn get(&self) -> Option<&Btf> {
        self.parsed.get_or_init(|| Btf::parse(self.bytes?, Endianness::default()).ok()).as_ref()
    }
}

/// One attachment of a loaded program, kept so that it can be detached
/// while the program stays loaded (`zcopy bench`'s untraced runs) and
/// attached again without a second verification.
pub(crate) struct Link {
    /// The program's name in the object.
    pub program: &'static str,
    id: LinkId,
}

enum LinkId {
    Tracepoint(TracePointLinkId),
    Raw(RawTracePointLinkId),
    Fexit(FExitLinkId),
    Kprobe(KProbeLinkId),
    Perf(PerfEventLinkId),
}

impl Link {
    fn new(program: &'static str, id: LinkId) -> Self {
        Self { program, id }
    }

    /// Detaches it from `program`, its program, which stays loaded.
    pub(crate) fn detach(self, program: &mut aya::programs::Program) -> anyhow::Result<()> {
        match self.id {
            LinkId::Tracepoint(id) => <&mut TracePoint>::try_from(program)?.detach(id)?,
            LinkId::Raw(id) => <&mut RawTracePoint>::try_from(program)?.detach(id)?,
            LinkId::Fexit(id) => <&mut FExit>::try_from(program)?.detach(id)?,
            LinkId::Kprobe(id) => <&mut KProbe>::try_from(program)?.detach(id)?,
            LinkId::Perf(id) => <&mut PerfEvent>::try_from(program)?.detach(id)?,
        }
        Ok(())
    }
}

/// Attaches every probe; a permission error on a probe that is not optional
/// is fatal (the user lacks a capability), any other failure is an outcome.
/// Also returns the links of the ways that attached.
pub fn attach_all(
    ebpf: &mut Ebpf,
    layout: &KernelLayout,
    btf: &LazyBtf<'_>,
    sample_hz: u64,
) -> anyhow::Result<(Vec<Outcome>, Vec<Link>)> {
    let skipped = skipped_mechanisms()?;
    let mut links = Vec::new();
    let mut outcomes = Vec::with_capacity(PROBES.len());
    for probe in PROBES {
        outcomes.push(attach_probe(ebpf, probe, layout, btf, sample_hz, &skipped, &mut links)?);
    }
    Ok((outcomes, links))
}

/// The environment variable naming mechanisms not to use.
pub const SKIP_MECHANISMS: &str = "ZCOPY_SKIP_MECHANISMS";

/// The mechanisms `ZCOPY_SKIP_MECHANISMS` names (comma-separated, e.g.
/// `raw_tracepoint`): their ways are not tried, and the next way of each
/// probe is. For running the fallback ways on a kernel where the preferred
/// ones load (zcopy's tests do), or for working around a way that
/// misbehaves on some kernel.
fn skipped_mechanisms() -> anyhow::Result<Vec<Mechanism>> {
    let Some(text) = std::env::var_os(SKIP_MECHANISMS) else {
        return Ok(Vec::new());
    };
    let text = text.to_string_lossy();
    text.split(',')
        .filter(|n| !n.trim().is_empty())
        .map(|name| {
            Mechanism::ALL.into_iter().find(|m| m.name() == name.trim()).ok_or_else(|| {
                let known: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
                anyhow!("{SKIP_MECHANISMS}: {name:?} is no mechanism zcopy uses; name some of: {}", known.join(", "))
            })
        })
        .collect()
}

/// Attaches again the hooks of the ways `outcomes` used (their programs are
/// still loaded), after their links were detached.
pub(crate) fn reattach(
    ebpf: &mut Ebpf,
    outcomes: &[Outcome],
    layout: &KernelLayout,
    btf: &LazyBtf<'_>,
    sample_hz: u64,
) -> anyhow::Result<Vec<Link>> {
    let mut links = Vec::new();
    for outcome in outcomes {
        let Some(way) = outcome.way.and_then(|i| crate::probes::table::probe(outcome.group).ways.get(i)) else {
            continue;
        };
        for (_, hook) in way.hooks.iter().enumerate().filter(|(i, _)| !outcome.missing.contains(*i)) {
            links.extend(
                attach_hook(ebpf, hook, layout, btf, sample_hz)
                    .with_context(|| format!("attaching {} again", hook.point()))?,
            );
        }
    }
    Ok(links)
}

fn attach_probe(
    ebpf: &mut Ebpf,
    probe: &Probe,
    layout: &KernelLayout,
    btf: &LazyBtf<'_>,
    sample_hz: u64,
    skipped: &[Mechanism],
    links: &mut Vec<Link>,
) -> anyhow::Result<Outcome> {
    let mut refused = Vec::new();
    // A mechanism the kernel refused (EPERM/EACCES: lockdown, LSM, no
    // trampolines for us) is not tried again for a later way.
    let mut denied: Vec<Mechanism> = Vec::new();
    for (i, way) in probe.ways.iter().enumerate() {
        if let Some(requires) = way.requires.filter(|r| !layout.has(*r)) {
            refused.push(format!("{}: needs {}", way.label, requires.describe()));
            continue;
        }
        if skipped.contains(&way.mechanism) {
            refused.push(format!("{}: not tried ({SKIP_MECHANISMS})", way.label));
            continue;
        }
        if denied.contains(&way.mechanism) {
            refused.push(format!("{}: not tried, {} was refused above", way.label, way.mechanism.name()));
            continue;
        }
        let mut attached: Vec<&Hook> = Vec::new();
        let mut way_links = Vec::new();
        let mut missing = HookMask::default();
        let mut failed = None;
        for (index, hook) in way.hooks.iter().enumerate() {
            match attach_hook(ebpf, hook, layout, btf, sample_hz) {
                Ok(new) => {
                    attached.push(hook);
                    way_links.extend(new);
                }
                // A copy site this kernel lacks or cannot trace: the others still count.
                Err(err) if hook.optional && !is_permission(err.as_ref()) => {
                    log::info!("{} unavailable: {}", hook.point(), chain(err.as_ref()));
                    refused.push(format!(
                        "{}: {} (not measured; the other sites are)",
                        hook.point(),
                        chain(err.as_ref())
                    ));
                    missing = missing.with(index);
                }
                Err(err) => {
                    failed = Some((hook, err));
                    break;
                }
            }
        }
        if failed.is_none() && attached.is_empty() {
            refused.push(format!("{}: none of its hooks attached", way.label));
            continue;
        }
        let Some((hook, err)) = failed else {
            links.extend(way_links);
            return Ok(Outcome { group: probe.group, way: Some(i), uses: Some(way.mechanism), refused, missing });
        };
        if !probe.optional && is_permission(err.as_ref()) {
            return Err(permission_or(err, &format!("attach to {}", hook.point())));
        }
        if is_permission(err.as_ref()) {
            denied.push(way.mechanism);
        }
        log::info!("{} unavailable: {}", hook.point(), chain(err.as_ref()));
        refused.push(format!("{}: {}", hook.point(), chain(err.as_ref())));
        for done in attached {
            super::unload_named(ebpf, done.program);
        }
    }
    Ok(Outcome { group: probe.group, way: None, uses: None, refused, missing: HookMask::default() })
}

/// The first of a function's names (newest first) this kernel has.
fn resolve(functions: &[&'static str], btf: &Btf) -> anyhow::Result<&'static str> {
    functions.iter().copied().find(|f| btf.id_by_type_name_kind(f, aya_obj::btf::BtfKind::Func).is_ok()).ok_or_else(
        || {
            anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOENT))
                .context(format!("this kernel has no function {} (kernel BTF)", functions.join(" nor ")))
        },
    )
}

/// Why fexit or a kprobe could not attach to `function`, where the kernel
/// says less than it knows: a function built without ftrace's entry call is
/// not in available_filter_functions, and then fexit cannot patch it (EBUSY)
/// and kprobe events refuse it (EINVAL, unless the kernel has
/// CONFIG_KPROBE_EVENTS_ON_NOTRACE). Debian's 6.1 and 6.12 build lib/
/// (iov_iter.c, usercopy.c) so.
fn why_not_traceable(function: &str, err: anyhow::Error) -> anyhow::Error {
    // Only the two errors a function missing from ftrace's list produces are
    // worth reading that (large, generated on read) list for.
    if !matches!(crate::error::os_error(err.as_ref()), Some(libc::EBUSY | libc::EINVAL)) {
        return err;
    }
    match traceable(function) {
        Some(false) => err.context(format!(
            "{function} is not traceable on this kernel: it is not in ftrace's available_filter_functions (built without ftrace's entry call), which fexit and kprobe events need"
        )),
        _ => err,
    }
}

/// Whether `function` is in tracefs's available_filter_functions (None: unknown).
fn traceable(function: &str) -> Option<bool> {
    let list = crate::system::mounts::find_tracefs()?.join("available_filter_functions");
    let text = std::fs::read_to_string(list).ok()?;
    Some(text.lines().any(|l| l.split_whitespace().next() == Some(function)))
}

/// Loads (once: a program is loaded on its first attach only) and attaches
/// one hook; returns its links.
pub(crate) fn attach_hook(
    ebpf: &mut Ebpf,
    hook: &Hook,
    layout: &KernelLayout,
    btf: &LazyBtf<'_>,
    sample_hz: u64,
) -> anyhow::Result<Vec<Link>> {
    let name = hook.program;
    let program = ebpf.program_mut(name).ok_or_else(|| anyhow!("the eBPF object has no program {name}"))?;
    Ok(match hook.attach {
        Attach::Tracepoint { category, name: point } => {
            let program: &mut TracePoint = program.try_into()?;
            if program.fd().is_err() {
                program.load()?;
            }
            vec![Link::new(name, LinkId::Tracepoint(program.attach(category, point)?))]
        }
        Attach::RawTracepoint { name: point } => {
            let program: &mut RawTracePoint = program.try_into()?;
            if program.fd().is_err() {
                program.load()?;
            }
            vec![Link::new(name, LinkId::Raw(program.attach(point)?))]
        }
        Attach::Fexit { functions } => {
            let btf = btf.get().ok_or_else(|| {
                anyhow!("no kernel BTF ({}), which fexit needs", layout.btf_error.as_deref().unwrap_or("unparsable"))
            })?;
            let function = resolve(functions, btf)?;
            let program: &mut FExit = program.try_into()?;
            if program.fd().is_err() {
                program.load(function, btf)?;
            }
            vec![Link::new(name, LinkId::Fexit(program.attach().map_err(|e| why_not_traceable(function, e.into()))?))]
        }
        Attach::Kprobe { functions } => {
            let function = match btf.get() {
                Some(btf) => resolve(functions, btf)?,
                None => functions.first().copied().unwrap_or_default(),
            };
            let program: &mut KProbe = program.try_into()?;
            // One kprobe program may serve several functions: load it once.
            if program.fd().is_err() {
                program.load()?;
            }
            vec![Link::new(
                name,
                LinkId::Kprobe(program.attach(function, 0).map_err(|e| why_not_traceable(function, e.into()))?),
            )]
        }
        Attach::PerfSoftware(event) => attach_perf(program, name, event, perf_event::SamplePolicy::Period(1))?,
        Attach::PerfSampled(event) => {
            if sample_hz == 0 {
                return Err(anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOENT))
                    .context("sampling is off (--sample-hz 0)"));
            }
            attach_perf(program, name, event, perf_event::SamplePolicy::Frequency(sample_hz))?
        }
    })
}

/// A perf software event on every online CPU, all processes (the programs
/// filter to the targets), with `policy`.
fn attach_perf(
    program: &mut aya::programs::Program,
    name: &'static str,
    event: perf_event::SoftwareEvent,
    policy: perf_event::SamplePolicy,
) -> anyhow::Result<Vec<Link>> {
    let program: &mut PerfEvent = program.try_into()?;
    if program.fd().is_err() {
        program.load()?;
    }
    let cpus =
        aya::util::online_cpus().map_err(|(path, err)| anyhow::Error::new(err).context(format!("reading {path}")))?;
    let mut links = Vec::with_capacity(cpus.len());
    for cpu in cpus {
        let id = program.attach(
            perf_event::PerfEventConfig::Software(event),
            perf_event::PerfEventScope::AllProcessesOneCpu { cpu },
            policy,
            false,
        )?;
        links.push(Link::new(name, LinkId::Perf(id)));
    }
    Ok(links)
}
