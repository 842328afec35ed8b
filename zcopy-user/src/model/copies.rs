//! What a syscall or io_uring operation did with its bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::How;

/// Where bytes came from or went to: the process's memory, or an fd of a kind
/// the kernel resolved (fd -> file -> inode mode and O_DIRECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    #[serde(rename = "user memory")]
    UserMemory,
    #[serde(rename = "file")]
    File,
    #[serde(rename = "file (O_DIRECT)")]
    FileDirect,
    #[serde(rename = "socket")]
    Socket,
    #[serde(rename = "pipe")]
    Pipe,
    #[serde(rename = "char device")]
    CharDevice,
    #[serde(rename = "other")]
    Other,
    /// The input of an io_uring splice/tee (its kind is not recorded).
    #[serde(rename = "splice input")]
    SpliceInput,
    /// No fd in that position.
    #[serde(rename = "-")]
    NoFd,
    #[serde(rename = "unknown")]
    Unknown,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Self::UserMemory => "user memory",
            Self::File => "file",
            Self::FileDirect => "file (O_DIRECT)",
            Self::Socket => "socket",
            Self::Pipe => "pipe",
            Self::CharDevice => "char device",
            Self::Other => "other",
            Self::SpliceInput => "splice input",
            Self::NoFd => "-",
            Self::Unknown => "unknown",
        }
    }

    /// The kind without its access mode: an O_DIRECT file is a file.
    pub fn base(self) -> Self {
        if self == Self::FileDirect { Self::File } else { self }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    /// Sent zero-copy from pinned user pages (MSG_ZEROCOPY, io_uring SEND_ZC),
    /// and not reported or measured copied afterwards.
    ZeroCopySend,
    /// Asked to go zero-copy, but the kernel copied the pinned user pages
    /// after all (loopback or another local receiver, a device without
    /// scatter-gather): a CPU copy, deferred.
    ZeroCopyCopied,
    /// A character device's driver decides (e.g. /dev/zero, /dev/null).
    DeviceSpecific,
    /// The fd kinds do not tell.
    Unclassified,
}

impl CopyKind {
    /// Whether the CPU copied the bytes (the three `Cpu*` kinds, and
    /// zero-copy sends the kernel copied anyway).
    pub fn is_cpu_copy(self) -> bool {
        matches!(self, Self::CpuKernelToUser | Self::CpuUserToKernel | Self::CpuKernelToKernel | Self::ZeroCopyCopied)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::CpuKernelToUser => "CPU copy kernel -> user",
            Self::CpuUserToKernel => "CPU copy user -> kernel",
            Self::CpuKernelToKernel => "CPU copy kernel -> kernel",
            Self::ByReference => "moved by reference (no copy)",
            Self::DeviceDma => "device DMA to/from user memory",
            Self::ZeroCopySend => "sent zero-copy from pinned user pages",
            Self::ZeroCopyCopied => "zero-copy send, copied anyway (CPU copy)",
            Self::DeviceSpecific => "character device (driver-specific)",
            Self::Unclassified => "unclassified",
        }
    }
}

/// What carried a flow's bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A system call (raw_syscalls:sys_enter/sys_exit).
    #[default]
    Syscall,
    /// An io_uring operation's completion (io_uring:io_uring_complete).
    IoUring,
}

/// One classified flow: a syscall (or io_uring operation) between two fd kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyFlow {
    pub kind: CopyKind,
    /// The syscall's name, or "io_uring OP" for an io_uring operation.
    pub syscall: String,
    #[serde(default)]
    pub via: Via,
    pub from: Endpoint,
    pub to: Endpoint,
    pub calls: u64,
    pub bytes: u64,
    /// Always inferred: the rule, applied to measured calls and bytes.
    pub how: How,
    pub rule: String,
}
