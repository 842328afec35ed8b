//! Attaching the probe table's ways: for each probe, the first way whose
//! hooks all attach. A way that attaches part-way is detached again, so two
//! ways never count the same bytes.

use std::sync::OnceLock;

use anyhow::anyhow;
use aya::{
    Btf, Ebpf, Endianness,
    programs::{FExit, KProbe, PerfEvent, RawTracePoint, TracePoint, perf_event},
};

use super::{layout::KernelLayout, permission_or};
use crate::{
    error::{chain, is_permission},
    probes::{
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

/// Attaches every probe; a permission error on a probe that is not optional
/// is fatal (the user lacks a capability), any other failure is an outcome.
pub fn attach_all(ebpf: &mut Ebpf, layout: &KernelLayout, btf: &LazyBtf<'_>) -> anyhow::Result<Vec<Outcome>> {
    PROBES.iter().map(|p| attach_probe(ebpf, p, layout, btf)).collect()
}

fn attach_probe(ebpf: &mut Ebpf, probe: &Probe, layout: &KernelLayout, btf: &LazyBtf<'_>) -> anyhow::Result<Outcome> {
    let mut refused = Vec::new();
    for (i, way) in probe.ways.iter().enumerate() {
        if let Some(requires) = way.requires.filter(|r| !layout.has(*r)) {
            refused.push(format!("{}: needs {}", way.label, requires.describe()));
            continue;
        }
        let mut attached: Vec<&Hook> = Vec::new();
        let mut failed = None;
        for hook in way.hooks {
            match attach_hook(ebpf, hook, layout, btf) {
                Ok(()) => attached.push(hook),
                Err(err) => {
                    failed = Some((hook, err));
                    break;
                }
            }
        }
        let Some((hook, err)) = failed else {
            return Ok(Outcome { group: probe.group, way: Some(i), uses: Some(way.mechanism), refused });
        };
        if !probe.optional && is_permission(err.as_ref()) {
            return Err(permission_or(err, &format!("attach to {}", hook.point())));
        }
        log::info!("{} unavailable: {}", hook.point(), chain(err.as_ref()));
        refused.push(format!("{}: {}", hook.point(), chain(err.as_ref())));
        for done in attached {
            super::unload_named(ebpf, done.program);
        }
    }
    Ok(Outcome { group: probe.group, way: None, uses: None, refused })
}

/// Loads (once) and attaches one hook.
fn attach_hook(ebpf: &mut Ebpf, hook: &Hook, layout: &KernelLayout, btf: &LazyBtf<'_>) -> anyhow::Result<()> {
    let program =
        ebpf.program_mut(hook.program).ok_or_else(|| anyhow!("the eBPF object has no program {}", hook.program))?;
    match hook.attach {
        Attach::Tracepoint { category, name } => {
            let program: &mut TracePoint = program.try_into()?;
            program.load()?;
            program.attach(category, name)?;
        }
        Attach::RawTracepoint { name } => {
            let program: &mut RawTracePoint = program.try_into()?;
            program.load()?;
            program.attach(name)?;
        }
        Attach::Fexit { function } => {
            let btf = btf.get().ok_or_else(|| {
                anyhow!("no kernel BTF ({}), which fexit needs", layout.btf_error.as_deref().unwrap_or("unparsable"))
            })?;
            let program: &mut FExit = program.try_into()?;
            program.load(function, btf)?;
            program.attach()?;
        }
        Attach::Kprobe { function } => {
            let program: &mut KProbe = program.try_into()?;
            // One kprobe program may serve several functions: load it once.
            if program.fd().is_err() {
                program.load()?;
            }
            program.attach(function, 0)?;
        }
        Attach::PerfSoftware(event) => {
            let program: &mut PerfEvent = program.try_into()?;
            program.load()?;
            let cpus = aya::util::online_cpus()
                .map_err(|(path, err)| anyhow::Error::new(err).context(format!("reading {path}")))?;
            for cpu in cpus {
                program.attach(
                    perf_event::PerfEventConfig::Software(event),
                    perf_event::PerfEventScope::AllProcessesOneCpu { cpu },
                    perf_event::SamplePolicy::Period(1),
                    false,
                )?;
            }
        }
    }
    Ok(())
}
