//! `zcopy doctor`: what this kernel and these privileges allow, found by
//! trying, and what zcopy does about what is missing.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

use crate::{
    bpf::{
        self,
        probe::{self, Outcome},
    },
    export,
    probes::{
        features::Mechanism,
        hooks::Attach,
        plan::{self, Decision},
        table::PROBES,
    },
    system::{
        caps::{self, CapSet},
        mounts::{Availability, Mounts},
    },
};

#[derive(Debug, Serialize)]
pub struct TracepointCheck {
    pub name: String,
    pub present: bool,
}

#[derive(Debug, Serialize)]
pub struct MechanismCheck {
    pub mechanism: Mechanism,
    pub needs: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug, Serialize)]
pub struct FeaturePlan {
    pub what: &'static str,
    #[serde(flatten)]
    pub decision: Decision,
}

/// The plan: what `zcopy trace` attaches here, found by loading zcopy's
/// programs and attaching them exactly as a trace does (the same code and
/// the same probe table), then detaching them.
fn plan_here() -> Result<Vec<FeaturePlan>, String> {
    let tracer = bpf::Tracer::load(false, crate::analysis::profile::TRACE_HZ).map_err(|e| format!("{e:#}"))?;
    Ok(plan::decisions(tracer.outcomes()).into_iter().map(|(what, decision)| FeaturePlan { what, decision }).collect())
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kernel: String,
    pub btf: String,
    pub tracefs: String,
    pub lockdown: String,
    pub capabilities: Vec<(String, bool)>,
    pub tracepoints: Vec<TracepointCheck>,
    /// Whether tracefs could be read: without it, `tracepoints` are not known.
    pub tracefs_readable: bool,
    pub mechanisms: Vec<MechanismCheck>,
    pub plan: Vec<FeaturePlan>,
    /// Why the plan is empty: zcopy's programs could not be loaded here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_error: Option<String>,
}

fn kernel_release() -> String {
    crate::system::machine::kernel_release().unwrap_or_else(|e| format!("unknown ({e})"))
}

/// The active lockdown mode: the bracketed word of /sys/kernel/security/lockdown.
pub fn parse_lockdown(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(&text[start..end])
}

fn lockdown(mounts: &Mounts) -> String {
    let Some(dir) = mounts.securityfs.path() else {
        return format!("unknown: securityfs {}", mounts.securityfs.describe());
    };
    match std::fs::read_to_string(dir.join("lockdown")) {
        Ok(text) => parse_lockdown(&text).map_or_else(|| format!("unknown ({})", text.trim()), str::to_owned),
        Err(e) => format!("unknown: {e} (kernel without the lockdown LSM?)"),
    }
}

/// Runs every check.
pub fn examine(mounts: &Mounts) -> Report {
    let btf_path = Path::new("/sys/kernel/btf/vmlinux");
    let btf = aya::Btf::from_sys_fs();
    let btf_text = match &btf {
        Ok(_) => format!("present ({})", btf_path.display()),
        Err(e) => format!("not usable: {e}"),
    };
    let capset = CapSet::current().unwrap_or(CapSet(0));
    let capabilities =
        [("CAP_BPF", caps::CAP_BPF), ("CAP_PERFMON", caps::CAP_PERFMON), ("CAP_SYS_ADMIN", caps::CAP_SYS_ADMIN)]
            .into_iter()
            .map(|(name, cap)| (name.to_owned(), capset.has(cap)))
            .collect();
    let tracepoints = PROBES
        .iter()
        .flat_map(|p| p.ways.iter())
        .flat_map(|w| w.hooks.iter())
        .filter_map(|h| match h.attach {
            Attach::Tracepoint { category, name } => Some((category, name)),
            Attach::PerfSoftware(_)
            | Attach::PerfSampled(_)
            | Attach::RawTracepoint { .. }
            | Attach::Fexit { .. }
            | Attach::Kprobe { .. } => None,
        })
        .map(|(category, name)| TracepointCheck {
            name: format!("{category}:{name}"),
            present: mounts
                .tracefs
                .path()
                .is_some_and(|t| t.join("events").join(category).join(name).join("id").exists()),
        })
        .collect();
    let outcomes = match bpf::object() {
        Ok(object) => probe::probe_all(object, btf.as_ref().ok()),
        Err(e) => Mechanism::ALL.into_iter().map(|m| (m, Outcome::Failed(e.to_string()))).collect(),
    };
    let (plan, plan_error) = match plan_here() {
        Ok(plan) => (plan, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Report {
        kernel: kernel_release(),
        btf: btf_text,
        tracefs: mounts.tracefs.describe(),
        lockdown: lockdown(mounts),
        capabilities,
        tracepoints,
        tracefs_readable: mounts.tracefs.path().is_some(),
        mechanisms: outcomes
            .into_iter()
            .map(|(mechanism, outcome)| MechanismCheck { mechanism, needs: mechanism.needs(), outcome })
            .collect(),
        plan,
        plan_error,
    }
}

/// The report as text.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "kernel       {}", r.kernel);
    let _ = writeln!(out, "BTF          {}", r.btf);
    let _ = writeln!(out, "tracefs      {}", r.tracefs);
    let _ = writeln!(out, "lockdown     {}", r.lockdown);
    let caps: Vec<String> =
        r.capabilities.iter().map(|(n, has)| format!("{n} {}", if *has { "yes" } else { "NO" })).collect();
    let _ = writeln!(out, "capabilities {}", caps.join(", "));
    let _ = writeln!(out, "\ntracepoints zcopy uses:");
    if r.tracefs_readable {
        for t in &r.tracepoints {
            let _ = writeln!(out, "  {:<40} {}", t.name, if t.present { "present" } else { "MISSING" });
        }
    } else {
        // Not knowable without tracefs: say so instead of "missing".
        let names: Vec<&str> = r.tracepoints.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(
            out,
            "  cannot be listed without tracefs (see above): {}\n  (the raw tracepoints below need no tracefs)",
            names.join(", ")
        );
    }
    let _ = writeln!(out, "\nprogram types (loaded and attached for real):");
    for m in &r.mechanisms {
        let status = match &m.outcome {
            Outcome::Works => "works".to_owned(),
            Outcome::Refused(why) => format!("REFUSED: {why}"),
            Outcome::Unsupported(why) => format!("NOT SUPPORTED: {why}"),
            Outcome::Failed(why) => format!("FAILED: {why}"),
        };
        let _ = writeln!(out, "  {:<15} {status}", m.mechanism.name());
        if !m.outcome.works() {
            let _ = writeln!(out, "  {:<15} (needs {})", "", m.needs);
        }
    }
    let _ = writeln!(out, "\nwhat zcopy does here:");
    if let Some(why) = &r.plan_error {
        let _ = writeln!(out, "  nothing: zcopy's programs could not be loaded: {why}");
    }
    for p in &r.plan {
        match &p.decision {
            Decision::Uses { mechanism, not_measured, .. } => {
                let _ = writeln!(out, "  {:<58} uses {}", p.what, mechanism.name());
                if !not_measured.is_empty() {
                    let _ = writeln!(
                        out,
                        "  {:<58}   (not measured on this kernel, the other sites are: {})",
                        "",
                        not_measured.join(", ")
                    );
                }
            }
            Decision::FallsBack { instead, because, .. } => {
                let _ = writeln!(out, "  {:<58} falls back: {instead}", p.what);
                for why in because {
                    let _ = writeln!(out, "  {:<58}   ({why})", "");
                }
            }
        }
    }
    out
}

/// Runs `zcopy doctor`.
pub fn command(args: &crate::cli::DoctorArgs) -> anyhow::Result<i32> {
    // Before any thread exists: may enter a private mount namespace.
    let mounts = crate::system::mounts::ensure(crate::system::mounts::Needs { tracefs: true, securityfs: true });
    let json = args.json;
    let mounts = &mounts;
    let report = examine(mounts);
    if json {
        export::write_json(&report, Path::new("-"))?;
    } else {
        print!("{}", render(&report));
    }
    let usable = !matches!(mounts.tracefs, Availability::Missing(_))
        && report.mechanisms.iter().any(|m| m.mechanism == Mechanism::Tracepoint && m.outcome.works());
    Ok(if usable { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockdown_mode_is_the_bracketed_word() {
        assert_eq!(parse_lockdown("none [integrity] confidentiality\n"), Some("integrity"));
        assert_eq!(parse_lockdown("[none] integrity confidentiality"), Some("none"));
        assert_eq!(parse_lockdown("garbage"), None);
    }
}
