//! zcopy's kernel side: counters aggregated in the kernel, per process.
//!
//! Nothing is sent to user space per event; the loader reads the maps. The
//! loader chooses the targets (the `TARGETS` map) and the syscalls to count
//! individually (the `SLOTS` table), so nothing here is rebuilt per run.
//!
//! Every program checks that the current process is a target first: that is
//! one hash lookup for every event of every other process on the machine.
#![no_std]
#![no_main]

mod agent;
mod copies;
mod evidence;
mod faults;
mod fdkind;
mod iouring;
mod probes;
mod samples;
mod sched;
mod syscalls;
mod zerocopy;

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use zcopy_common::{
    Comm, Evidence, FlowKey, Inflight, MAX_INFLIGHT, Relay, MAX_SLOTS, MAX_SYSCALL_NR, MAX_TARGETS, MAX_WANTED_COMMS, ProcStats, SlotConfig,
    SyscallStats, TARGET_EXITED, TargetFlags, Transmit, drop_reason, netdev,
};

/// Processes (thread-group ids) being traced. Written by the loader for the
/// processes it names, and by `sched_process_fork` for their children.
#[map]
static TARGETS: HashMap<u32, TargetFlags> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// Command names (`--comm`) whose processes become targets when they exec.
#[map]
static WANTED_COMMS: HashMap<Comm, u8> = HashMap::with_max_entries(MAX_WANTED_COMMS, 0);

/// `--cgroup`: [its cgroup v2 id (0: none), its level below the root]. A
/// process that makes a syscall inside it, or in a cgroup below it, becomes
/// a target there (syscalls::joined_wanted_cgroup).
#[map]
static WANTED_CGROUP: Array<u64> = Array::with_max_entries(2, 0);

/// Syscall number -> slot, written by the loader (numbers are per architecture).
#[map]
static SLOTS: Array<SlotConfig> = Array::with_max_entries(MAX_SYSCALL_NR, 0);

/// BPF_F_NO_PREALLOC (include/uapi/linux/bpf.h): entries are allocated when
/// first inserted, not all at map creation. For the two 131072-entry per-CPU
/// maps, preallocation took 80 ms of every start (and their teardown); each
/// key is inserted once per process, so the hot path (an update) is the same.
/// Only syscall programs use them (perf_event programs need preallocation).
const BPF_F_NO_PREALLOC: u32 = 1;

/// Per process: syscalls, faults, context switches.
#[map]
static PROCS: PerCpuHashMap<u32, ProcStats> = PerCpuHashMap::with_max_entries(MAX_TARGETS, 0);

/// Thread id -> the tracked syscall it is inside of.
#[map]
static INFLIGHT: Array<Inflight> = Array::with_max_entries(MAX_INFLIGHT, 0);

/// Thread id -> bytes it read and has not passed on yet (relay detection).
#[map]
static RELAYS: Array<Relay> = Array::with_max_entries(MAX_INFLIGHT, 0);

/// Process -> command name, written at fork and exec.
#[map]
static COMMS: HashMap<u32, Comm> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// Per process: where data went (receive copies, block I/O, page cache).
#[map]
static EVIDENCE: PerCpuHashMap<u32, Evidence> = PerCpuHashMap::with_max_entries(MAX_TARGETS, 0);

/// Per process, tracked syscall and fd kinds (`fd_kind::NONE` for an
/// argument that is no fd): calls, bytes, errors. The per-syscall figures
/// are its sums; the copy rules read it by kinds. Also the relayed bytes
/// (`RELAY_SLOT`) and io_uring operations.
#[map]
static FLOWS: PerCpuHashMap<FlowKey, SyscallStats> =
    PerCpuHashMap::with_max_entries(MAX_TARGETS * 16, BPF_F_NO_PREALLOC);

/// Machine-wide device transmits, by device name.
#[map]
static NETDEV: PerCpuHashMap<netdev::Name, Transmit> = PerCpuHashMap::with_max_entries(netdev::MAX_DEVICES, 0);

/// Events that could not be counted, by `drop_reason`.
#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(drop_reason::COUNT, 0);

const _: () = assert!(MAX_SLOTS <= MAX_SYSCALL_NR);

/// The current task's (thread-group id, thread id).
#[inline(always)]
fn current_ids() -> (u32, u32) {
    let id = bpf_get_current_pid_tgid();
    ((id >> 32) as u32, id as u32)
}

/// The flags of `tgid` if it is being traced.
#[inline(always)]
fn target_flags(tgid: u32) -> Option<TargetFlags> {
    // SAFETY: a pointer to a map value, read once.
    TARGETS.get_ptr(tgid).map(|flags| unsafe { *flags }).filter(|flags| flags & TARGET_EXITED == 0)
}

/// Whether `tgid` is being traced.
#[inline(always)]
fn is_target(tgid: u32) -> bool {
    target_flags(tgid).is_some()
}

/// Counts one event that could not be counted.
#[inline(always)]
fn count_drop(reason: u32) {
    if let Some(counter) = DROPS.get_ptr_mut(reason) {
        // SAFETY: per-CPU value, this program cannot be preempted on this CPU.
        unsafe { *counter += 1 };
    }
}

/// Applies `update` to this CPU's value of `key` in `map`, creating it if
/// needed; counts a drop for `reason` if the map is full.
#[inline(always)]
fn upsert<K, V: Default>(map: &PerCpuHashMap<K, V>, key: K, reason: u32, update: impl FnOnce(&mut V)) {
    let ptr = match map.get_ptr_mut(&key) {
        Some(ptr) => ptr,
        None => {
            if map.insert(&key, V::default(), 0).is_err() {
                count_drop(reason);
                return;
            }
            match map.get_ptr_mut(&key) {
                Some(ptr) => ptr,
                None => return,
            }
        }
    };
    // SAFETY: per-CPU value, this program cannot be preempted on this CPU.
    update(unsafe { &mut *ptr });
}

/// Applies `update` to this CPU's counters of `tgid`, creating them if needed.
#[inline(always)]
fn with_proc_stats(tgid: u32, update: impl FnOnce(&mut ProcStats)) {
    upsert(&PROCS, tgid, drop_reason::PROC_MAP_FULL, update);
}

/// Reads a field of a classic tracepoint's record at `offset` (from its
/// `/sys/kernel/tracing/events/*/*/format`).
///
/// # Safety
/// `offset` must be inside the record and `T` must be the field's type.
#[inline(always)]
unsafe fn field<T: Copy>(ctx: &aya_ebpf::programs::TracePointContext, offset: usize) -> T {
    use aya_ebpf::EbpfContext;
    // SAFETY: tracepoint records can be read directly by the program.
    unsafe { core::ptr::read(ctx.as_ptr().cast::<u8>().add(offset).cast::<T>()) }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
