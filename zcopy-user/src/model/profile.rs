//! Where the kernel's CPU time went, from cpu-clock samples of kernel
//! stacks: every figure here is sampled (a count of samples, a share with a
//! 95% interval, and CPU time estimated from the sampling frequency).

use serde::{Deserialize, Serialize};

/// What the CPU was doing in a sample, from its kernel stack
/// (`analysis::profile::ACTIVITIES` says by which frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    CopyToUserFileRead,
    CopyToUserSocketReceive,
    CopyToUserPipe,
    CopyToUserOther,
    CopyFromUserSocketSend,
    CopyFromUserFileWrite,
    CopyFromUserPipe,
    CopyFromUserOther,
    /// A copy routine whose direction and caller the stack does not show.
    CopyOther,
    PageReferenceMoves,
    PageCacheLookup,
    PageCacheInsertion,
    PageCacheReadahead,
    PageCacheWriteback,
    TcpIpStack,
    DeviceTransmit,
    LoopbackTransmit,
    MemoryAllocation,
    PageFaults,
    Scheduling,
    SyscallEntryExit,
    BpfPrograms,
    OtherKernel,
    UserSpace,
}

impl Activity {
    pub const ALL: [Self; 24] = [
        Self::CopyToUserFileRead,
        Self::CopyToUserSocketReceive,
        Self::CopyToUserPipe,
        Self::CopyToUserOther,
        Self::CopyFromUserSocketSend,
        Self::CopyFromUserFileWrite,
        Self::CopyFromUserPipe,
        Self::CopyFromUserOther,
        Self::CopyOther,
        Self::PageReferenceMoves,
        Self::PageCacheLookup,
        Self::PageCacheInsertion,
        Self::PageCacheReadahead,
        Self::PageCacheWriteback,
        Self::TcpIpStack,
        Self::DeviceTransmit,
        Self::LoopbackTransmit,
        Self::MemoryAllocation,
        Self::PageFaults,
        Self::Scheduling,
        Self::SyscallEntryExit,
        Self::BpfPrograms,
        Self::OtherKernel,
        Self::UserSpace,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::CopyToUserFileRead => "CPU copy kernel -> user: file read",
            Self::CopyToUserSocketReceive => "CPU copy kernel -> user: socket receive",
            Self::CopyToUserPipe => "CPU copy kernel -> user: pipe read",
            Self::CopyToUserOther => "CPU copy kernel -> user: other",
            Self::CopyFromUserSocketSend => "CPU copy user -> kernel: socket send",
            Self::CopyFromUserFileWrite => "CPU copy user -> kernel: file write",
            Self::CopyFromUserPipe => "CPU copy user -> kernel: pipe write",
            Self::CopyFromUserOther => "CPU copy user -> kernel: other",
            Self::CopyOther => "CPU copy, direction not on the stack",
            Self::PageReferenceMoves => "page-reference moves (splice, sendfile)",
            Self::PageCacheLookup => "page cache: lookup",
            Self::PageCacheInsertion => "page cache: insertion",
            Self::PageCacheReadahead => "page cache: readahead",
            Self::PageCacheWriteback => "page cache: writeback",
            Self::TcpIpStack => "TCP/IP and socket stack",
            Self::DeviceTransmit => "device transmit",
            Self::LoopbackTransmit => "loopback transmit",
            Self::MemoryAllocation => "memory allocation and freeing (skb, pages, slab)",
            Self::PageFaults => "page faults",
            Self::Scheduling => "scheduling and wakeups",
            Self::SyscallEntryExit => "syscall entry, exit and dispatch",
            Self::BpfPrograms => "BPF programs",
            Self::OtherKernel => "other kernel",
            Self::UserSpace => "user space",
        }
    }

    /// A CPU copy between user and kernel memory.
    pub fn is_copy(self) -> bool {
        matches!(
            self,
            Self::CopyToUserFileRead
                | Self::CopyToUserSocketReceive
                | Self::CopyToUserPipe
                | Self::CopyToUserOther
                | Self::CopyFromUserSocketSend
                | Self::CopyFromUserFileWrite
                | Self::CopyFromUserPipe
                | Self::CopyFromUserOther
                | Self::CopyOther
        )
    }
}

/// A share of the samples with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub samples: u64,
    /// Of `total` samples.
    pub total: u64,
    pub share: f64,
    pub low: f64,
    pub high: f64,
}

impl Share {
    /// `samples` of `total`, with the Wilson interval at 95% (z = 1.96):
    /// unlike the normal approximation it stays inside [0, 1] and is
    /// sensible for shares near 0 or 1 and small counts.
    pub fn of(samples: u64, total: u64) -> Self {
        if total == 0 {
            return Self { samples, total, share: 0.0, low: 0.0, high: 1.0 };
        }
        let (k, n, z) = (samples as f64, total as f64, 1.96_f64);
        let p = k / n;
        let denominator = 1.0 + z * z / n;
        let center = (p + z * z / (2.0 * n)) / denominator;
        let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
        Self { samples, total, share: p, low: (center - half).max(0.0), high: (center + half).min(1.0) }
    }
}

/// One activity's (or, for BPF programs and other kernel, one program's or
/// leaf function's) samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRow {
    pub activity: Activity,
    /// The BPF program, or the leaf function of an "other kernel" stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(flatten)]
    pub share: Share,
    /// Estimated CPU time: samples / frequency.
    pub cpu_ms: f64,
}

/// Whether kernel addresses could be named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "why", rename_all = "snake_case")]
pub enum Symbols {
    /// From /proc/kallsyms (runtime addresses: KASLR is already applied).
    Kallsyms,
    /// Addresses could not be named: the activity table is not available.
    Unavailable(String),
}

/// The sampled profile of a trace, or of one side of a bench run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Samples per second and CPU.
    pub hz: u64,
    /// Samples of the traced processes, kernel and user mode.
    pub samples: u64,
    /// Of which in user mode.
    pub user_samples: u64,
    /// Samples lost: the stack map was full, or a stack could not be read.
    pub lost: u64,
    /// Samples whose stack was deeper than the frames kept (their
    /// outermost callers are cut; the activity comes from the innermost).
    pub truncated: u64,
    pub symbols: Symbols,
    /// By activity (and detail), most samples first; empty if symbols are unavailable.
    pub activities: Vec<ActivityRow>,
    /// Collapsed stacks (outermost first, `;`-separated, process name at
    /// the root) and their samples, for flame graphs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded: Vec<(String, u64)>,
}

impl Profile {
    /// Samples of one activity, all details together.
    pub fn samples_of(&self, activity: Activity) -> u64 {
        self.activities.iter().filter(|r| r.activity == activity).map(|r| r.share.samples).sum()
    }

    /// Estimated CPU milliseconds in copies between user and kernel memory.
    pub fn copy_ms(&self) -> f64 {
        self.activities.iter().filter(|r| r.activity.is_copy()).map(|r| r.cpu_ms).sum()
    }
}
