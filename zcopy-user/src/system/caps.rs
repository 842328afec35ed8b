//! Capabilities of the zcopy process, from /proc/self/status `CapEff`.

use std::fs;

/// CAP_SYS_ADMIN (include/uapi/linux/capability.h).
pub const CAP_SYS_ADMIN: u32 = 21;
/// CAP_PERFMON: perf events and tracing (Linux 5.8+).
pub const CAP_PERFMON: u32 = 38;
/// CAP_BPF: loading BPF programs and creating maps (Linux 5.8+).
pub const CAP_BPF: u32 = 39;

/// The effective capability set, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Reads this process's effective set; `None` if /proc is unreadable.
    pub fn current() -> Option<Self> {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        parse_cap_eff(&status).map(Self)
    }

    pub fn has(self, cap: u32) -> bool {
        self.0 & (1 << cap) != 0
    }

    /// The capabilities missing for loading and attaching tracing programs:
    /// CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, which implies both.
    pub fn missing_for_tracing(self) -> Vec<&'static str> {
        if self.has(CAP_SYS_ADMIN) {
            return Vec::new();
        }
        [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
            .into_iter()
            .filter(|(cap, _)| !self.has(*cap))
            .map(|(_, name)| name)
            .collect()
    }
}

/// The `CapEff:` line of a /proc/PID/status text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Refuses, with the fix, what cannot trace: inside a PID namespace (the
/// programs see the kernel's PIDs, zcopy would give its own), or without
/// CAP_BPF + CAP_PERFMON.
pub fn require_tracing() -> anyhow::Result<()> {
    if let Some(ns) = super::procfs::nested_pid_namespace() {
        return Err(crate::error::ZcopyError::NestedPidNamespace(ns).into());
    }
    if let Some(missing) = CapSet::current().map(CapSet::missing_for_tracing).filter(|m| !m.is_empty()) {
        return Err(crate::error::ZcopyError::NotPrivileged { missing }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_needs_nothing() {
        let caps = CapSet(parse_cap_eff("Name:\tx\nCapEff:\t000001fffeffffff\n").unwrap());
        assert!(caps.missing_for_tracing().is_empty());
    }

    #[test]
    fn names_what_is_missing() {
        assert_eq!(CapSet(0).missing_for_tracing(), vec!["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(CapSet(1 << CAP_BPF).missing_for_tracing(), vec!["CAP_PERFMON"]);
        assert!(CapSet((1 << CAP_BPF) | (1 << CAP_PERFMON)).missing_for_tracing().is_empty());
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse_cap_eff("CapEff: zz"), None);
        assert_eq!(parse_cap_eff(""), None);
    }
}
