//! What a syscall or io_uring operation did with its bytes.

use serde::{Deserialize, Serialize};

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
    /// Sent zero-copy from pinned user pages (MSG_ZEROCOPY, io_uring SEND_ZC);
    /// the kernel's completion reports say whether it had to copy after all.
    ZeroCopySend,
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
            Self::ZeroCopySend => "sent zero-copy from pinned user pages",
            Self::DeviceSpecific => "character device (driver-specific)",
            Self::Unclassified => "unclassified",
        }
    }
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
