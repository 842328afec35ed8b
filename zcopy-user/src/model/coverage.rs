//! Which figure groups were counted in this run: a missing source makes its
//! figures "not available" (`null`), never zero.

use serde::{Deserialize, Serialize};

/// Which counter sources were attached; a missing one makes its figures `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub syscalls: bool,
    pub faults_by_mode: bool,
    pub faults_perf: bool,
    pub switches: bool,
    pub children: bool,
    pub recv_copy: bool,
    pub block_io: bool,
    pub page_cache: bool,
    pub net_device: bool,
    /// Which way of each probe attached (its index in the probe table's
    /// list of ways, for each probe in table order): 0, the preferred one
    /// (raw tracepoints where there are), everywhere by default.
    #[serde(default)]
    pub ways: WayChoices,
    /// fd kinds are resolved at syscall entry (kernel BTF has the offsets).
    #[serde(default)]
    pub fd_kinds: bool,
    /// io_uring operations are counted per completion with their file's kind
    /// (io_uring:io_uring_complete attached and BTF has io_kiocb's offsets).
    #[serde(default)]
    pub io_uring_ops: bool,
    /// How the kernel's copy routines are counted, if at all.
    #[serde(default)]
    pub copy_routines: CopyProbes,
    /// The copy sites of the used copy way that did not attach on this
    /// kernel (bit i: the way's hook i): its figures cover the others only.
    #[serde(default, skip_serializing_if = "HookMask::is_empty")]
    pub copy_sites_missing: HookMask,
    /// cpu-clock samples of the targets' kernel stacks were taken.
    #[serde(default)]
    pub samples: bool,
    /// A traced sender's zero-copy skbs are followed to where the kernel
    /// copies their pages anyway (net_dev_start_xmit, netif_receive_skb).
    #[serde(default)]
    pub zero_copy_fate: bool,
}

/// A way index (0-3) per probe, 2 bits each, in the probe table's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WayChoices(pub u32);

impl WayChoices {
    /// The way chosen for the probe at `index` in the table.
    pub fn get(self, index: usize) -> usize {
        u32::try_from(index * 2).ok().and_then(|shift| self.0.checked_shr(shift)).map_or(0, |v| (v & 3) as usize)
    }

    /// Records `way` (0-3) for the probe at `index` (below 16).
    pub fn set(&mut self, index: usize, way: usize) {
        if let (Ok(shift), Ok(way)) = (u32::try_from(index * 2), u32::try_from(way & 3))
            && shift < 32
        {
            self.0 = (self.0 & !(3 << shift)) | (way << shift);
        }
    }
}

/// Hooks of a way that did not attach (bit i: the way's hook i).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HookMask(pub u32);

impl HookMask {
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The mask with hook `index` added (an index past 31 has no bit: a
    /// way has far fewer hooks, which the probe table's tests check).
    #[must_use]
    pub fn with(self, index: usize) -> Self {
        match u32::try_from(index).ok().and_then(|i| 1u32.checked_shl(i)) {
            Some(bit) => Self(self.0 | bit),
            None => self,
        }
    }

    pub fn contains(self, index: usize) -> bool {
        u32::try_from(index).ok().and_then(|i| self.0.checked_shr(i)).is_some_and(|v| v & 1 == 1)
    }
}

/// The mechanism counting the kernel's copy routines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyProbes {
    /// Neither fexit nor kprobes attached: copies are only inferred.
    #[default]
    None,
    /// fexit on every routine: the bytes each call copied (its return value).
    Fexit,
    /// kprobes on at least one routine: the bytes asked for at entry (an
    /// upper bound when a copy faults part-way).
    Kprobe,
    /// fexit on the functions that call the copy routines (where the
    /// routines themselves are not traceable): the bytes each moved through
    /// its iov_iter, user or kernel side from the iter's type.
    Sites,
}

impl CopyProbes {
    pub fn attached(self) -> bool {
        self != Self::None
    }
}

impl Coverage {
    pub const FULL: Self = Self {
        syscalls: true,
        faults_by_mode: true,
        faults_perf: true,
        switches: true,
        children: true,
        recv_copy: true,
        block_io: true,
        page_cache: true,
        net_device: true,
        ways: WayChoices(0),
        fd_kinds: true,
        io_uring_ops: true,
        copy_routines: CopyProbes::Fexit,
        copy_sites_missing: HookMask(0),
        samples: true,
        zero_copy_fate: true,
    };
}
