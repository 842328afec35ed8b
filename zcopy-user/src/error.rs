//! Errors a user can cause or fix, each with the fix in its message.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ZcopyError {
    #[error(
        "zcopy needs {} to load and attach BPF programs: run it as root (`sudo zcopy ...`) \
         or grant them (`sudo setcap cap_bpf,cap_perfmon+ep /path/to/zcopy`)",
        .missing.join(" and ")
    )]
    NotPrivileged { missing: Vec<&'static str> },

    #[error("the kernel refused to {action} ({reason}): run zcopy as root, and see `zcopy doctor`")]
    PermissionDenied { action: String, reason: std::io::Error },

    #[error(
        "no process with PID {0}: check the id with `ps -p {0}` (for a process in a container, give its host PID: the first number of the NSpid line in /proc/PID/status on the host)"
    )]
    NoSuchProcess(u32),

    #[error(
        "zcopy runs inside a PID namespace ({0}): the kernel's BPF programs see host PIDs, which zcopy cannot name from here; run zcopy on the host and give the host PID"
    )]
    NestedPidNamespace(String),

    #[error(
        "no cgroup folder at {0}: give a path under /sys/fs/cgroup (e.g. system.slice/nginx.service; `systemctl status UNIT` or /proc/PID/cgroup shows it)"
    )]
    NoSuchCgroup(String),

    #[error(
        "{0} is a cgroup v1 folder: zcopy follows cgroup v2 (the unified hierarchy) only; give the service's or container's folder under the cgroup2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems)"
    )]
    CgroupV1(String),

    #[error("--comm {0:?} is longer than the kernel's 15-character command names: give its first 15 characters")]
    CommTooLong(String),

    #[error("{tid} is a thread of process {tgid}, not a process: use `--pid {tgid}`")]
    ThreadNotProcess { tid: u32, tgid: u32 },

    #[error("command not found: {0} (searched PATH; give its path, or install it)")]
    CommandNotFound(String),

    #[error("no such file: {0} (check the path of the command)")]
    NoSuchFile(String),

    #[error("cannot execute {path}: {reason}")]
    CannotExecute { path: String, reason: std::io::Error },

    #[error("none of zcopy's probes could be attached:\n  {}\nsee `zcopy doctor`", .0.join("\n  "))]
    NothingAttached(Vec<String>),

    #[error(
        "this zcopy was built without its eBPF programs (no BPF toolchain at build time): run `cargo xtask setup`, then rebuild (`cargo xtask build --release`)"
    )]
    BuiltWithoutEbpf,

    #[error("interrupted by {signal}: {what}")]
    Interrupted { signal: crate::system::signals::Interrupt, what: &'static str },
}

impl ZcopyError {
    /// The exit code: 128 + n for a command a signal interrupted, 127 and
    /// 126 for a command not found or not runnable (as shells give), 1 for
    /// every other error.
    pub fn exit_code(err: &anyhow::Error) -> i32 {
        match err.downcast_ref::<Self>() {
            Some(Self::Interrupted { signal, .. }) => signal.exit_code(),
            // As a shell: 127 for a command it cannot find, 126 for one it cannot run.
            Some(Self::CommandNotFound(_) | Self::NoSuchFile(_)) => 127,
            Some(Self::CannotExecute { .. }) => 126,
            _ => 1,
        }
    }
}

/// The OS error code behind an error, looking through its source chain.
pub fn os_error(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(code) = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error) {
            return Some(code);
        }
        current = e.source();
    }
    None
}

/// Whether an error means "not allowed" rather than "not there". The
/// verifier rejects programs with EACCES too: that is a load error, not a
/// permission problem, and keeps its verifier log.
pub fn is_permission(err: &(dyn std::error::Error + 'static)) -> bool {
    !is_verifier_rejection(err) && matches!(os_error(err), Some(libc::EPERM | libc::EACCES))
}

/// Whether the verifier rejected a program (a load error with a verifier log).
pub fn is_verifier_rejection(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(aya::programs::ProgramError::LoadError { verifier_log, .. }) = e.downcast_ref() {
            return !verifier_log.to_string().trim().is_empty();
        }
        current = e.source();
    }
    false
}

/// An error and its sources on one line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    // aya appends the verifier's log, which is empty when the kernel refused
    // the program before verifying it (EPERM): say nothing rather than "".
    let tidy = |text: String| text.trim_end().trim_end_matches(". Verifier output:").to_owned();
    let mut parts = vec![tidy(err.to_string())];
    let mut current = err.source();
    while let Some(e) = current {
        let text = tidy(e.to_string());
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Error)]
    #[error("attaching failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn finds_the_os_error_in_the_chain() {
        let err = Outer(std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(os_error(&err), Some(libc::EPERM));
        assert!(is_permission(&err));
        let missing = Outer(std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(!is_permission(&missing));
        assert!(chain(&missing).starts_with("attaching failed: "));
    }

    #[test]
    fn messages_name_the_fix() {
        let msg = ZcopyError::NotPrivileged { missing: vec!["CAP_BPF", "CAP_PERFMON"] }.to_string();
        assert!(msg.contains("CAP_BPF and CAP_PERFMON") && msg.contains("sudo"), "{msg}");
        assert!(ZcopyError::NoSuchProcess(42).to_string().contains("ps -p 42"));
    }
}
