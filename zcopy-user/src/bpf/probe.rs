//! Trying each attach mechanism for real: load and attach a small program of
//! each type from zcopy's own object, then detach it (on drop).

use aya::{
    Btf, Ebpf, EbpfLoader,
    programs::{BtfTracePoint, FEntry, KProbe, PerfEvent, RawTracePoint, TracePoint, perf_event},
};
use serde::Serialize;

use crate::{
    error::{chain, os_error},
    probes::features::Mechanism,
};

/// What happened when a mechanism was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// Loaded and attached.
    Works,
    /// The kernel said no (EPERM/EACCES): lockdown, LSM policy or capabilities.
    Refused(String),
    /// The kernel lacks it (no such function, config option or file).
    Unsupported(String),
    /// Something else went wrong.
    Failed(String),
}

impl Outcome {
    pub fn works(&self) -> bool {
        matches!(self, Self::Works)
    }

    fn from_result(result: anyhow::Result<()>) -> Self {
        match result {
            Ok(()) => Self::Works,
            Err(err) => {
                let text = chain(err.as_ref());
                match os_error(err.as_ref()) {
                    Some(libc::EPERM | libc::EACCES) => Self::Refused(text),
                    Some(libc::ENOENT | libc::EOPNOTSUPP | libc::EINVAL | libc::ENODEV) => Self::Unsupported(text),
                    _ => Self::Failed(text),
                }
            }
        }
    }
}

/// Tries every mechanism; `btf` is the kernel's BTF if it could be read.
pub fn probe_all(object: &[u8], btf: Option<&Btf>) -> Vec<(Mechanism, Outcome)> {
    Mechanism::ALL
        .into_iter()
        .map(|m| {
            let outcome = match EbpfLoader::new().load(object) {
                Ok(mut ebpf) => Outcome::from_result(try_mechanism(&mut ebpf, m, btf)),
                Err(err) => Outcome::from_result(Err(err.into())),
            };
            (m, outcome)
        })
        .collect()
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let prog = ebpf.program_mut(name).ok_or_else(|| anyhow::anyhow!("no program {name} in the object"))?;
    Ok(prog.try_into()?)
}

fn need_btf(btf: Option<&Btf>) -> anyhow::Result<&Btf> {
    btf.ok_or_else(|| {
        anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOENT)).context("kernel BTF is not available")
    })
}

fn try_mechanism(ebpf: &mut Ebpf, mechanism: Mechanism, btf: Option<&Btf>) -> anyhow::Result<()> {
    match mechanism {
        Mechanism::Tracepoint => {
            let p: &mut TracePoint = program(ebpf, "sched_process_exec")?;
            p.load()?;
            p.attach("sched", "sched_process_exec")?;
        }
        Mechanism::RawTracepoint => {
            let p: &mut RawTracePoint = program(ebpf, "probe_raw_tracepoint")?;
            p.load()?;
            p.attach("sys_enter")?;
        }
        Mechanism::TpBtf => {
            let btf = need_btf(btf)?;
            let p: &mut BtfTracePoint = program(ebpf, "probe_tp_btf")?;
            p.load("sched_switch", btf)?;
            p.attach()?;
        }
        Mechanism::PerfEvent => {
            let p: &mut PerfEvent = program(ebpf, "perf_page_faults")?;
            p.load()?;
            p.attach(
                perf_event::PerfEventConfig::Software(perf_event::SoftwareEvent::PageFaults),
                perf_event::PerfEventScope::AllProcessesOneCpu { cpu: 0 },
                perf_event::SamplePolicy::Period(1),
                false,
            )?;
        }
        Mechanism::Fentry => {
            let btf = need_btf(btf)?;
            let p: &mut FEntry = program(ebpf, "probe_fentry")?;
            p.load("vfs_read", btf)?;
            p.attach()?;
        }
        Mechanism::Kprobe => {
            let p: &mut KProbe = program(ebpf, "probe_kprobe")?;
            p.load()?;
            p.attach("vfs_read", 0)?;
        }
    }
    Ok(())
}
