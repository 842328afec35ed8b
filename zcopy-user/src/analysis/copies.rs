//! What each syscall did with the bytes it moved, from the kinds of its fds
//! (resolved in the kernel at syscall entry). No probe on this kernel sees the
//! copy itself (fentry and kprobes are refused, see `zcopy doctor`), so these
//! are rules applied to measured calls and bytes: every figure is "inferred".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zcopy_common::{SyscallStats, fd_kind};

use crate::syscalls;

/// What happened to the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyKind {
    /// The CPU copied them from kernel memory into the process's memory.
    CpuKernelToUser,
    /// The CPU copied them from the process's memory into kernel memory.
    CpuUserToKernel,
    /// The CPU copied them inside the kernel (e.g. page cache to page cache).
    CpuKernelToKernel,
    /// Pages were passed by reference: no copy (splice, sendfile to a socket).
    ByReference,
    /// A device transferred them to or from user memory (O_DIRECT).
    DeviceDma,
    /// A character device's driver decides (e.g. /dev/zero, /dev/null).
    DeviceSpecific,
    /// The fd kinds do not tell.
    Unclassified,
}

impl CopyKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::CpuKernelToUser => "CPU copy kernel -> user",
            Self::CpuUserToKernel => "CPU copy user -> kernel",
            Self::CpuKernelToKernel => "CPU copy kernel -> kernel",
            Self::ByReference => "moved by reference (no copy)",
            Self::DeviceDma => "device DMA to/from user memory",
            Self::DeviceSpecific => "character device (driver-specific)",
            Self::Unclassified => "unclassified",
        }
    }
}

pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        fd_kind::REGULAR => "file",
        fd_kind::REGULAR_DIRECT => "file (O_DIRECT)",
        fd_kind::SOCKET => "socket",
        fd_kind::PIPE => "pipe",
        fd_kind::CHAR_DEVICE => "char device",
        fd_kind::OTHER => "other",
        fd_kind::NONE => "-",
        _ => "unknown",
    }
}

const READS: &[&str] = &["read", "pread64", "readv", "preadv", "preadv2", "recvfrom", "recvmsg"];
const WRITES: &[&str] = &["write", "pwrite64", "writev", "pwritev", "pwritev2", "sendto", "sendmsg"];

/// The rule for `syscall` moving bytes from an fd of kind `src` to one of
/// kind `dst`; `None` for calls that move no data (mmap maps, it does not copy).
pub fn classify(syscall: &str, src: u8, dst: u8) -> Option<(CopyKind, &'static str)> {
    use CopyKind::*;
    use fd_kind::*;
    Some(if READS.contains(&syscall) {
        match src {
            REGULAR => (CpuKernelToUser, "reading a cached file copies page cache -> user buffer"),
            REGULAR_DIRECT => (DeviceDma, "an O_DIRECT read has the device write into user memory"),
            SOCKET => (CpuKernelToUser, "receiving copies socket buffers -> user buffer"),
            PIPE => (CpuKernelToUser, "reading a pipe copies its buffers -> user buffer"),
            CHAR_DEVICE => (DeviceSpecific, "a character device's driver fills the buffer its own way"),
            _ => (Unclassified, "the fd kind does not tell"),
        }
    } else if WRITES.contains(&syscall) {
        match dst {
            REGULAR => (CpuUserToKernel, "writing a file copies user buffer -> page cache"),
            REGULAR_DIRECT => (DeviceDma, "an O_DIRECT write has the device read user memory"),
            SOCKET => (CpuUserToKernel, "sending copies user buffer -> socket buffers (MSG_ZEROCOPY aside)"),
            PIPE => (CpuUserToKernel, "writing a pipe copies user buffer -> pipe buffers"),
            CHAR_DEVICE => {
                (DeviceSpecific, "a character device's driver takes the data its own way (/dev/null discards it)")
            }
            _ => (Unclassified, "the fd kind does not tell"),
        }
    } else {
        match (syscall, dst) {
            ("copy_file_range", _) => {
                (CpuKernelToKernel, "copy_file_range copies in the kernel (unless the filesystem shares extents)")
            }
            ("vmsplice", _) => (ByReference, "vmsplice hands references to user pages to the pipe"),
            ("tee", _) => (ByReference, "tee duplicates pipe buffer references"),
            ("sendfile" | "splice", SOCKET | PIPE) => {
                (ByReference, "splice/sendfile pass page references to a socket or pipe")
            }
            ("sendfile" | "splice", REGULAR) => (CpuKernelToKernel, "splicing into a file copies into its page cache"),
            ("sendfile" | "splice", CHAR_DEVICE) => {
                (DeviceSpecific, "a character device's driver takes the data its own way")
            }
            ("sendfile" | "splice", _) => (Unclassified, "the fd kinds do not tell"),
            _ => return None,
        }
    })
}

/// One classified flow: a syscall between two fd kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyFlow {
    pub kind: CopyKind,
    pub syscall: String,
    pub from: String,
    pub to: String,
    pub calls: u64,
    pub bytes: u64,
    /// Always "inferred": the rule, applied to measured calls and bytes.
    pub how: String,
    pub rule: String,
}

/// Classifies per-flow counters (summed over processes), biggest first.
pub fn flows(raw: &BTreeMap<(u32, u8, u8), SyscallStats>) -> Vec<CopyFlow> {
    let mut out: Vec<CopyFlow> = raw
        .iter()
        .filter_map(|(&(slot, src, dst), s)| {
            let sc = syscalls::by_slot(slot)?;
            if sc.bytes != syscalls::Bytes::Returned || s.bytes == 0 {
                return None;
            }
            let (kind, rule) = classify(sc.name, src, dst)?;
            Some(CopyFlow {
                kind,
                syscall: sc.name.to_owned(),
                from: if sc.src_fd.is_some() { kind_name(src) } else { "user memory" }.to_owned(),
                to: if sc.dst_fd.is_some() { kind_name(dst) } else { "user memory" }.to_owned(),
                calls: s.calls,
                bytes: s.bytes,
                how: "inferred".into(),
                rule: rule.into(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.syscall.cmp(&b.syscall)));
    out
}

/// Bytes per copy kind.
pub fn totals(flows: &[CopyFlow]) -> BTreeMap<CopyKind, u64> {
    let mut out = BTreeMap::new();
    for f in flows {
        *out.entry(f.kind).or_default() += f.bytes;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_fd_kinds() {
        use fd_kind::*;
        assert_eq!(classify("read", REGULAR, NONE).map(|c| c.0), Some(CopyKind::CpuKernelToUser));
        assert_eq!(classify("read", REGULAR_DIRECT, NONE).map(|c| c.0), Some(CopyKind::DeviceDma));
        assert_eq!(classify("write", NONE, SOCKET).map(|c| c.0), Some(CopyKind::CpuUserToKernel));
        assert_eq!(classify("write", NONE, CHAR_DEVICE).map(|c| c.0), Some(CopyKind::DeviceSpecific));
        assert_eq!(classify("sendfile", REGULAR, SOCKET).map(|c| c.0), Some(CopyKind::ByReference));
        assert_eq!(classify("sendfile", REGULAR, REGULAR).map(|c| c.0), Some(CopyKind::CpuKernelToKernel));
        assert_eq!(classify("copy_file_range", REGULAR, REGULAR).map(|c| c.0), Some(CopyKind::CpuKernelToKernel));
        assert_eq!(classify("mmap", REGULAR, NONE), None, "mapping is not copying");
        assert_eq!(classify("read", UNKNOWN, NONE).map(|c| c.0), Some(CopyKind::Unclassified));
    }

    #[test]
    fn flows_sum_by_kind_and_say_inferred() {
        let read = syscalls::TRACKED.iter().position(|s| s.name == "read").unwrap() as u32;
        let write = syscalls::TRACKED.iter().position(|s| s.name == "write").unwrap() as u32;
        let mut raw = BTreeMap::new();
        raw.insert((read, fd_kind::REGULAR, fd_kind::NONE), SyscallStats { calls: 2, bytes: 8192, errors: 0 });
        raw.insert((write, fd_kind::NONE, fd_kind::PIPE), SyscallStats { calls: 2, bytes: 8192, errors: 0 });
        let f = flows(&raw);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.how == "inferred"));
        assert_eq!(
            f.iter().find(|f| f.syscall == "read").map(|f| (f.from.as_str(), f.to.as_str())),
            Some(("file", "user memory"))
        );
        let t = totals(&f);
        assert_eq!(t[&CopyKind::CpuKernelToUser], 8192);
        assert_eq!(t[&CopyKind::CpuUserToKernel], 8192);
    }
}
