//! The processes zcopy traces: a command it starts, or a running process.
//!
//! A command is forked and held before `execve` until it has been made a
//! target, so the first thing counted is its `execve` (the same window
//! `strace` and `perf stat` see). The program path is resolved here, not by
//! `execvp` in the child, whose failed PATH lookups would be counted.

use std::{
    ffi::{OsStr, OsString},
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
};

use crate::{
    error::ZcopyError,
    system::{c_string, procfs},
};

/// How a traced command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The exit code zcopy itself should use (128 + signal, as shells do).
    pub fn as_exit_code(self) -> i32 {
        match self {
            Self::Code(code) => code,
            Self::Signal(sig) => 128 + sig,
        }
    }
}

/// Finds `program` the way a shell would: a name with a slash is a path,
/// otherwise the first executable file of that name in `PATH`.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, ZcopyError> {
    let not_found = || ZcopyError::CommandNotFound(program.to_string_lossy().into_owned());
    if program.is_empty() {
        return Err(not_found());
    }
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return if path.is_file() { Ok(path) } else { Err(ZcopyError::NoSuchFile(path.display().to_string())) };
    }
    let path_var = path_var.unwrap_or_else(|| OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A forked command waiting before its `execve`. Dropping it without
/// [`HeldCommand::release`] kills and reaps the child.
pub struct HeldCommand {
    pid: u32,
    go: Option<OwnedFd>,
    exec_error: OwnedFd,
    path: PathBuf,
    released: bool,
}

impl HeldCommand {
    /// Forks `argv` (argv[0] resolved through PATH) and holds it before exec.
    pub fn spawn(argv: &[OsString]) -> Result<Self, anyhow::Error> {
        let first = argv.first().ok_or_else(|| ZcopyError::CommandNotFound(String::new()))?;
        let path = resolve_program(first, std::env::var_os("PATH").as_deref())?;
        let c_path = c_string(path.as_os_str())?;
        let c_args = argv.iter().map(|a| c_string(a)).collect::<io::Result<Vec<_>>>()?;
        let c_env = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                c_string(&kv)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut arg_ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        arg_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());

        let (go_read, go_write) = crate::workload::sys::pipe()?;
        let (err_read, err_write) = crate::workload::sys::pipe()?;
        // SAFETY: the child only makes async-signal-safe calls (read, execve,
        // write, _exit) on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error().into());
        }
        if pid == 0 {
            // SAFETY: see above; the child never returns from this block.
            unsafe {
                let mut byte = 0u8;
                if libc::read(go_read.as_raw_fd(), (&raw mut byte).cast(), 1) != 1 {
                    libc::_exit(127);
                }
                libc::execve(c_path.as_ptr(), arg_ptrs.as_ptr(), env_ptrs.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(err_write.as_raw_fd(), (&raw const errno).cast(), size_of::<i32>());
                libc::_exit(127);
            }
        }
        drop(go_read);
        drop(err_write);
        let pid = u32::try_from(pid).map_err(|_| io::Error::other("fork returned a negative pid"))?;
        Ok(Self { pid, go: Some(go_write), exec_error: err_read, path, released: false })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets the command run its `execve`; fails if the exec failed.
    pub fn release(mut self) -> Result<u32, anyhow::Error> {
        let go = self.go.take().ok_or_else(|| io::Error::other("command already released"))?;
        let byte = 1u8;
        // SAFETY: valid fd and buffer.
        if unsafe { libc::write(go.as_raw_fd(), (&raw const byte).cast(), 1) } != 1 {
            return Err(io::Error::last_os_error().into());
        }
        drop(go);
        let mut errno = 0i32;
        // SAFETY: valid fd and buffer; blocks until exec succeeds (EOF) or fails.
        let n = unsafe { libc::read(self.exec_error.as_raw_fd(), (&raw mut errno).cast(), size_of::<i32>()) };
        if n == size_of::<i32>() as isize {
            let path = self.path.display().to_string();
            return Err(ZcopyError::CannotExecute { path, reason: io::Error::from_raw_os_error(errno) }.into());
        }
        self.released = true;
        Ok(self.pid)
    }
}

impl Drop for HeldCommand {
    fn drop(&mut self) {
        if !self.released {
            let pid = self.pid as libc::pid_t;
            // SAFETY: pid is our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Checks that `pid` is a running process (not a thread of one).
pub fn check_process(pid: u32) -> Result<(), ZcopyError> {
    match procfs::tgid_of(pid) {
        Err(_) => Err(ZcopyError::NoSuchProcess(pid)),
        Ok(Some(tgid)) if tgid != pid => Err(ZcopyError::ThreadNotProcess { tid: pid, tgid }),
        Ok(_) => Ok(()),
    }
}

/// A pidfd, readable once the process has exited.
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Opens a pidfd for process `pid`; a thread id is refused with the
    /// process id to use instead.
    pub fn open(pid: u32) -> Result<Self, anyhow::Error> {
        check_process(pid)?;
        // SAFETY: pidfd_open takes a pid and flags.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::ESRCH) {
                ZcopyError::NoSuchProcess(pid).into()
            } else {
                anyhow::Error::new(err).context(format!("pidfd_open({pid})"))
            });
        }
        let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
        // SAFETY: a new descriptor we own.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Waits until the process exits.
    pub async fn exited(self) -> io::Result<()> {
        // SAFETY: the OwnedFd stays open, and the same, for the AsyncFd's lifetime.
        let fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(self.0, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?;
        let _guard = fd.readable().await?;
        Ok(())
    }
}

/// Reaps child `pid` (which has exited) and returns its status and rusage.
pub fn reap(pid: u32) -> io::Result<(ExitStatus, libc::rusage)> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to our locals.
        let rc = unsafe { libc::wait4(pid as libc::pid_t, &raw mut status, 0, &raw mut usage) };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let exit = if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status))
    } else {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    };
    Ok((exit, usage))
}

/// Sends `signal` to process `pid`, ignoring a process that is already gone.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory arguments.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_through_path_like_a_shell() {
        let path = resolve_program(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))).unwrap();
        assert_eq!(path, PathBuf::from("/bin/sh"));
        assert!(resolve_program(OsStr::new("/bin/sh"), None).is_ok());
    }

    #[test]
    fn unknown_commands_are_named() {
        let err = resolve_program(OsStr::new("no-such-cmd-zcopy"), Some(OsStr::new("/bin"))).unwrap_err();
        assert!(err.to_string().contains("command not found: no-such-cmd-zcopy"), "{err}");
        assert!(resolve_program(OsStr::new("./missing/x"), None).is_err());
        assert!(resolve_program(OsStr::new(""), None).is_err());
    }

    #[test]
    fn signals_map_to_shell_exit_codes() {
        assert_eq!(ExitStatus::Signal(9).as_exit_code(), 137);
        assert_eq!(ExitStatus::Code(3).as_exit_code(), 3);
    }
}
