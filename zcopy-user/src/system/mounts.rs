//! tracefs (and securityfs, for the lockdown mode) when they are not mounted.
//!
//! zcopy never changes the system's mounts. When a filesystem it needs is
//! missing, it moves itself into a private mount namespace (a copy of the
//! current one, with propagation turned off) and mounts it there. The mount
//! disappears with the last process in that namespace, even if zcopy is
//! killed, so nothing is left behind. Commands zcopy starts run in that
//! namespace too; they see the same files, plus the extra mount.
//!
//! This must run while the process has one thread (before the tokio runtime
//! starts): unshare(CLONE_NEWNS) fails with EINVAL in a threaded process.

use std::{
    ffi::CString,
    io,
    path::{Path, PathBuf},
};

use crate::system::caps::{CAP_SYS_ADMIN, CapSet};

/// Where aya looks for tracefs, in its order.
pub const TRACEFS_PATHS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
/// Where the kernel's lockdown mode is published.
pub const SECURITYFS: &str = "/sys/kernel/security";

/// How a filesystem came to be available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// It was already mounted (at this path).
    Mounted(PathBuf),
    /// zcopy mounted it at this path in its private mount namespace.
    MountedPrivately(PathBuf),
    /// Not mounted, and zcopy could not mount it (why).
    Missing(String),
}

impl Availability {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Mounted(p) | Self::MountedPrivately(p) => Some(p),
            Self::Missing(_) => None,
        }
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Mounted(p) => format!("mounted at {}", p.display()),
            Self::MountedPrivately(p) => format!(
                "was not mounted; zcopy mounted it at {} in its own private mount namespace \
                 (the system's mounts are unchanged)",
                p.display()
            ),
            Self::Missing(why) => format!("not available: {why}"),
        }
    }
}

/// A non-empty directory (an empty one is a mount point with nothing mounted).
fn is_populated(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
}

/// Where tracefs is mounted, if it is (and this user can read it).
pub fn find_tracefs() -> Option<PathBuf> {
    TRACEFS_PATHS.iter().map(PathBuf::from).find(|p| is_populated(p))
}

/// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid systems), if it is.
pub fn find_cgroup2() -> Option<PathBuf> {
    mounted_at("cgroup2")
}

/// A mount point of `fstype` (from /proc/self/mountinfo), readable or not.
fn mounted_at(fstype: &str) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let point = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next() == Some(fstype)).then(|| PathBuf::from(point))
    })
}

/// Why a filesystem zcopy needs is not there, and what to do about it.
fn missing(fstype: &str, path: &str, why: &str) -> Availability {
    if let Some(at) = mounted_at(fstype) {
        return Availability::Missing(format!(
            "mounted at {} but not readable by this user ({fstype} is root's unless mounted otherwise): run as root, \
             or let a group read it (`sudo mount -o remount,gid=GROUP,mode=0750 {}`)",
            at.display(),
            at.display()
        ));
    }
    Availability::Missing(format!(
        "not mounted, and {why} (run as root, or mount it: `sudo mount -t {fstype} nodev {path}`)"
    ))
}

/// The format file of tracepoint `category:name`, if tracefs is mounted.
pub fn tracepoint_format(category: &str, name: &str) -> Option<String> {
    let root = find_tracefs()?;
    std::fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()
}

/// The filesystems a command needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub tracefs: bool,
    pub securityfs: bool,
}

/// What [`ensure`] found or did.
#[derive(Debug, Clone)]
pub struct Mounts {
    pub tracefs: Availability,
    pub securityfs: Availability,
    /// Whether zcopy is in a private mount namespace of its own.
    pub private_namespace: bool,
}

/// Makes the needed filesystems available, mounting them privately if needed.
/// Call before any thread is started.
pub fn ensure(needs: Needs) -> Mounts {
    let tracefs_found = find_tracefs();
    let securityfs_found = Path::new(SECURITYFS).join("lockdown").exists();
    let must_mount_tracefs = needs.tracefs && tracefs_found.is_none();
    let must_mount_securityfs = needs.securityfs && !securityfs_found;

    let mut mounts = Mounts {
        tracefs: tracefs_found.map_or_else(|| Availability::Missing("not mounted".into()), Availability::Mounted),
        securityfs: if securityfs_found {
            Availability::Mounted(SECURITYFS.into())
        } else {
            Availability::Missing("not mounted".into())
        },
        private_namespace: false,
    };
    if !must_mount_tracefs && !must_mount_securityfs {
        return mounts;
    }
    if let Err(why) = enter_private_namespace() {
        let why = format!("zcopy could not mount it privately: {why}");
        if must_mount_tracefs {
            mounts.tracefs = missing("tracefs", TRACEFS_PATHS[0], &why);
        }
        if must_mount_securityfs {
            mounts.securityfs = missing("securityfs", SECURITYFS, &why);
        }
        return mounts;
    }
    mounts.private_namespace = true;
    if must_mount_tracefs {
        let target = PathBuf::from(TRACEFS_PATHS[0]);
        mounts.tracefs = match mount_fs("tracefs", &target) {
            Ok(()) => Availability::MountedPrivately(target),
            Err(e) => Availability::Missing(format!("mounting tracefs at {} failed: {e}", target.display())),
        };
    }
    if must_mount_securityfs {
        let target = PathBuf::from(SECURITYFS);
        mounts.securityfs = match mount_fs("securityfs", &target) {
            Ok(()) => Availability::MountedPrivately(target),
            Err(e) => Availability::Missing(format!("mounting securityfs failed: {e}")),
        };
    }
    mounts
}

fn enter_private_namespace() -> Result<(), String> {
    if CapSet::current().is_some_and(|c| !c.has(CAP_SYS_ADMIN)) {
        return Err("that needs CAP_SYS_ADMIN".into());
    }
    // SAFETY: plain syscalls with valid arguments.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!("unshare(CLONE_NEWNS): {}", io::Error::last_os_error()));
    }
    // Stop mount events from propagating back to the parent namespace.
    let root = c"/";
    // SAFETY: valid C strings; null source, type and data are allowed for MS_PRIVATE.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!("making / private: {}", io::Error::last_os_error()));
    }
    Ok(())
}

fn mount_fs(fstype: &str, target: &Path) -> io::Result<()> {
    let fstype = CString::new(fstype).map_err(io::Error::other)?;
    let target = super::c_string(target.as_os_str())?;
    // SAFETY: valid C strings.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
