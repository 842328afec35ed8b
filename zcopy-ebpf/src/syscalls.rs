//! System calls: every call (mode transitions), and calls, bytes and errors of
//! the tracked data-transfer syscalls.
//!
//! The raw tracepoint `sys_exit` alone covers every syscall that returns: it
//! gets the saved registers, so the number, arguments and return value are
//! all there at the exit, and a syscall costs one program run, not an entry
//! and an exit program (on this 6.18 VM, a 1-byte read took 110 ns untraced,
//! 220 ns under one bpftrace counter at the entry, 315 ns under counters at
//! the entry and the exit, 155 ns under one at the exit). The classic
//! tracepoints (where raw ones do not load) keep an entry and an exit
//! program: their exit record has no arguments. The per-syscall tracepoints
//! (`syscalls:sys_enter_read`, ...) would add a program run on each tracked
//! call, and they need CONFIG_FTRACE_SYSCALLS, which `raw_syscalls` does
//! not. The loader maps syscall numbers to slots (`SLOTS`), so the programs
//! are architecture-neutral.
//!
//! Formats (include/trace/events/syscalls.h,
//! https://github.com/torvalds/linux/blob/v6.18/include/trace/events/syscalls.h):
//! - sys_enter: `long id` @8, `unsigned long args[6]` @16
//! - sys_exit:  `long id` @8, `long ret` @16

use aya_ebpf::{
    EbpfContext, Global,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_comm, bpf_get_current_task_btf,
        bpf_task_pt_regs,
    },
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use aya_log_ebpf::debug;
use zcopy_common::{
    FlowKey, Inflight, MAX_INFLIGHT, MAX_SYSCALL_NR, MSG_ZEROCOPY, RELAY_SLOT, RELAY_WINDOW_NS, Relay,
    SLOT_BYTES_FROM_LEN_ARG, SLOT_CHILD_RETURNS_ZERO, SLOT_DST_FD_SHIFT, SLOT_FD_MASK, SLOT_MSG_FLAGS_SHIFT,
    SLOT_NEVER_RETURNS, SLOT_READS_INTO_USER, SLOT_SRC_FD_SHIFT, SLOT_TRACKED, SLOT_WRITES_FROM_USER, SlotConfig,
    SyscallStats, TARGET_CGROUP, TARGET_HELD, UNTRACKED_SLOT, drop_reason, fd_kind,
};

use crate::{
    COMMS, FLOWS, INFLIGHT, RELAYS, SLOTS, TARGETS, WANTED_CGROUP, count_drop, current_ids, field, is_target,
    target_flags, upsert,
};

const ID: usize = 8;
const ARGS: usize = 16;
const RET: usize = 16;

/// Largest errno a syscall returns as `-errno` (include/linux/err.h MAX_ERRNO).
const MAX_ERRNO: i64 = 4095;

/// Offsets in `struct pt_regs` of the syscall arguments 0-4 and of
/// `orig_ax` (the syscall number), from the kernel's BTF (x86-64: di, si,
/// dx, r10, r8), for the raw tracepoints, which get the registers.
#[unsafe(no_mangle)]
pub(crate) static OFF_REGS_ARG0: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub(crate) static OFF_REGS_ARG1: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub(crate) static OFF_REGS_ARG2: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub(crate) static OFF_REGS_ARG3: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub(crate) static OFF_REGS_ARG4: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub(crate) static OFF_REGS_ORIG_AX: Global<u32> = Global::new(0);

/// raw_syscalls:sys_enter (the classic way, where raw tracepoints do not
/// load): counts every syscall of a target, and remembers the tracked ones
/// until their exit (the classic sys_exit record has no arguments).
#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) && !joined_wanted_cgroup(tgid) {
        return 0;
    }
    // SAFETY: offset from the sys_enter format.
    let nr: i64 = unsafe { field(&ctx, ID) };
    let Some(config) = config_of(nr).filter(|c| c.flags & SLOT_TRACKED != 0) else {
        count_untracked(tgid);
        return 0;
    };
    remember(tracked_call(tgid, tid, config, &Args::record(&ctx)));
    debug!(&ctx, "call pid={} tid={} nr={}", tgid, tid, nr);
    0
}

/// A process found inside the `--cgroup` or a cgroup below it (its cgroup's
/// ancestor at the wanted level is the wanted cgroup) becomes a target at
/// that syscall: members that join during the trace are followed in the
/// kernel, from their first syscall there.
#[inline(always)]
fn joined_wanted_cgroup(tgid: u32) -> bool {
    let (Some(&wanted), Some(&level)) = (WANTED_CGROUP.get(0), WANTED_CGROUP.get(1)) else {
        return false;
    };
    // SAFETY: the helper reads the current task's cgroup; 0 above its depth.
    if wanted == 0 || unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) } != wanted {
        return false;
    }
    // Overwrites the entry of an exited target whose PID this process reuses.
    if TARGETS.insert(tgid, TARGET_CGROUP, 0).is_err() {
        count_drop(drop_reason::TARGETS_FULL);
        return false;
    }
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(tgid, comm, 0);
    }
    true
}

/// raw_syscalls:sys_exit (the classic way): counts a tracked call whose
/// entry was seen, its bytes (return value, or length argument for
/// mappings) and errors.
#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    // SAFETY: offsets from the sys_exit format.
    let (nr, ret): (i64, i64) = unsafe { (field(&ctx, ID), field(&ctx, RET)) };
    if config_of(nr).is_none_or(|c| c.flags & SLOT_TRACKED == 0) {
        return 0;
    }
    // None: entered before tracing started, not counted, like the entry.
    if let Some(call) = take(tid) {
        count(tgid, tid, &call, ret);
    }
    0
}

/// Keeps a tracked call's record in its thread's `INFLIGHT` slot (a plain
/// array slot, no locked hash update on the hot path), claimed by tid.
#[inline(always)]
fn remember(call: Inflight) {
    if let Some(record) = INFLIGHT.get_ptr_mut(call.tid & (MAX_INFLIGHT - 1)) {
        // SAFETY: a pointer to an array value; only threads with this slot write it.
        unsafe {
            if (*record).tid != 0 && (*record).tid != call.tid {
                count_drop(drop_reason::INFLIGHT_FULL);
            }
            *record = call;
        }
    }
}

/// Takes thread `tid`'s record back, freeing the slot. Read from the map
/// (volatile), so the verifier sees the fd kinds as values, not as the
/// constants each resolution path ended with: counting them in the same
/// program as the resolution would otherwise verify every combination.
#[inline(always)]
fn take(tid: u32) -> Option<Inflight> {
    let record = INFLIGHT.get_ptr_mut(tid & (MAX_INFLIGHT - 1))?;
    // SAFETY: a pointer to an array value.
    let call = unsafe { core::ptr::read_volatile(record) };
    if call.tid != tid {
        return None;
    }
    // SAFETY: as above; frees the slot.
    unsafe { (*record).tid = 0 };
    Some(call)
}

/// sys_exit as a raw tracepoint, the preferred way: every call is counted at
/// its exit alone, from the registers (TP_PROTO(struct pt_regs *regs, long
/// ret); the syscall number is orig_ax, the arguments are the saved user
/// registers, which the tracked calls leave as they were). One program per
/// syscall instead of an entry and an exit program; the calls that never
/// exit (exit, exit_group) are counted by `syscall_never_returned`.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_raw(ctx: RawTracePointContext) -> i32 {
    let (tgid, tid) = current_ids();
    let flags = match target_flags(tgid) {
        Some(flags) => flags,
        None if joined_wanted_cgroup(tgid) => TARGET_CGROUP,
        None => return 0,
    };
    // The same registers as the tracepoint's first argument, but BTF-typed:
    // read with plain loads, not probe reads.
    let regs = current_regs();
    let ret: i64 = ctx.arg(1);
    let config = config_of(read_reg(regs, &OFF_REGS_ORIG_AX) as i64);
    if ret == 0 && config.is_some_and(|c| c.flags & SLOT_CHILD_RETURNS_ZERO != 0) {
        // A new task's return from the call that made it.
        return 0;
    }
    if flags & TARGET_HELD != 0 {
        // The held call's exit, not counted; the process runs on.
        if let Some(flags) = TARGETS.get_ptr_mut(tgid) {
            // SAFETY: a pointer to a map value.
            unsafe { *flags &= !TARGET_HELD };
        }
        return 0;
    }
    let Some(config) = config.filter(|c| c.flags & SLOT_TRACKED != 0) else {
        count_untracked(tgid);
        return 0;
    };
    debug!(&ctx, "call pid={} tid={} slot={}", tgid, tid, config.slot);
    remember(tracked_call(tgid, tid, config, &Args::Regs(regs)));
    if let Some(call) = take(tid) {
        count(tgid, tid, &call, ret);
    }
    0
}

/// sched_process_exit as a raw tracepoint, on the raw way's side: a thread
/// that exits inside exit or exit_group made that call, which has no
/// sys_exit; counted here, so totals equal the entries strace and perf count.
/// (A thread killed by a signal exits after its last call's sys_exit, with
/// that call's number in orig_ax, or -1 outside a call.)
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn syscall_never_returned(_ctx: RawTracePointContext) -> i32 {
    let (tgid, _) = current_ids();
    // The process's entry stays when its last thread exits (TARGET_EXITED may be set already).
    if TARGETS.get_ptr(tgid).is_none() {
        return 0;
    }
    let config = config_of(read_reg(current_regs(), &OFF_REGS_ORIG_AX) as i64);
    if config.is_some_and(|c| c.flags & SLOT_NEVER_RETURNS != 0) {
        count_untracked(tgid);
    }
    0
}

/// A tracked call, as counted: its slot, flags, length argument and fd
/// kinds (the classic way keeps it from entry to exit in `INFLIGHT`).
#[inline(always)]
fn tracked_call(tgid: u32, tid: u32, config: SlotConfig, args: &Args) -> Inflight {
    let src = args.fd_kind(config.flags >> SLOT_SRC_FD_SHIFT);
    let mut dst = args.fd_kind(config.flags >> SLOT_DST_FD_SHIFT);
    if dst == fd_kind::SOCKET && args.get(config.flags >> SLOT_MSG_FLAGS_SHIFT).is_some_and(|f| f & MSG_ZEROCOPY != 0) {
        dst = fd_kind::SOCKET_ZEROCOPY;
        if let Some(fd) = args.get(config.flags >> SLOT_DST_FD_SHIFT) {
            crate::zerocopy::register_fd(tgid, fd);
        }
    }
    let len_arg = if config.flags & SLOT_BYTES_FROM_LEN_ARG != 0 { args.get(LEN_ARG).unwrap_or(0) } else { 0 };
    Inflight { len_arg, slot: config.slot, flags: config.flags, tid, src, dst, _pad: [0; 2] }
}

/// Counts a target's call of a syscall that is not tracked one by one.
#[inline(always)]
fn count_untracked(tgid: u32) {
    let key = FlowKey { tgid, slot: UNTRACKED_SLOT, src: fd_kind::NONE, dst: fd_kind::NONE };
    upsert(&FLOWS, key, drop_reason::SYSCALL_MAP_FULL, |stats: &mut SyscallStats| stats.calls += 1);
}

/// Counts a target's tracked call that returned `ret`.
#[inline(always)]
fn count(tgid: u32, tid: u32, call: &Inflight, ret: i64) {
    let failed = (-MAX_ERRNO..0).contains(&ret);
    let bytes = if failed {
        0
    } else if call.flags & SLOT_BYTES_FROM_LEN_ARG != 0 {
        call.len_arg
    } else {
        ret as u64
    };

    // One counter per (process, syscall, fd kinds): the per-syscall figures
    // are its sums over the kinds, made by the loader.
    let flow = FlowKey { tgid, slot: call.slot as u16, src: call.src, dst: call.dst };
    upsert(&FLOWS, flow, drop_reason::SYSCALL_MAP_FULL, |stats: &mut SyscallStats| {
        stats.calls += 1;
        stats.bytes += bytes;
        stats.errors += u64::from(failed);
    });
    if bytes > 0 && !failed {
        relay(tgid, tid, call, bytes);
    }
}

/// The relay clock, set by the loader: 1 reads bpf_jiffies64 (a memory
/// read) and `RELAY_WINDOW` is HZ jiffies; 0 reads bpf_ktime_get_ns (a
/// clocksource read: tens of ns in a VM, on every tracked read and write)
/// and the window is `RELAY_WINDOW_NS`.
#[unsafe(no_mangle)]
static RELAY_JIFFIES: Global<u8> = Global::new(0);
#[unsafe(no_mangle)]
static RELAY_WINDOW: Global<u64> = Global::new(RELAY_WINDOW_NS);

/// Relay detection: a read into user memory from a file, socket, pipe or character device
/// leaves `bytes` pending for its thread; a write from user memory to one
/// of those within one second (`RELAY_WINDOW`) passes on min(written, pending).
#[inline(always)]
fn relay(tgid: u32, tid: u32, call: &Inflight, bytes: u64) {
    let passable = |kind: u8| matches!(kind, fd_kind::REGULAR | fd_kind::SOCKET | fd_kind::PIPE | fd_kind::CHAR_DEVICE);
    let reads = call.flags & SLOT_READS_INTO_USER != 0 && passable(call.src);
    let writes = call.flags & SLOT_WRITES_FROM_USER != 0 && passable(call.dst);
    if !reads && !writes {
        return;
    }
    let Some(state) = RELAYS.get_ptr_mut(tid & (MAX_INFLIGHT - 1)) else {
        return;
    };
    // SAFETY: the current time; no arguments.
    let now = unsafe {
        if RELAY_JIFFIES.load() != 0 { aya_ebpf::helpers::bpf_jiffies64() } else { aya_ebpf::helpers::bpf_ktime_get_ns() }
    };
    // SAFETY: a pointer to an array value; only the thread named in it writes it.
    let last = unsafe { *state };
    let fresh = last.tid == tid && now.saturating_sub(last.at) <= RELAY_WINDOW.load();
    if reads {
        let pending = if fresh && last.src == call.src { last.pending.saturating_add(bytes) } else { bytes };
        // SAFETY: as above.
        unsafe { *state = Relay { pending, at: now, tid, src: call.src, _pad: [0; 3] } };
        return;
    }
    if !fresh || last.pending == 0 {
        return;
    }
    let passed = last.pending.min(bytes);
    // SAFETY: as above.
    unsafe {
        (*state).pending = last.pending - passed;
        (*state).at = now;
    }
    let key = FlowKey { tgid, slot: RELAY_SLOT, src: last.src, dst: call.dst };
    upsert(&FLOWS, key, drop_reason::SYSCALL_MAP_FULL, |s: &mut SyscallStats| {
        s.calls += 1;
        s.bytes += passed;
    });
}

/// Where a call's arguments are read from: the saved registers (raw
/// tracepoints; `current_regs`), each only when it is needed (a read(2)
/// needs its fd alone), or the classic sys_enter record's args[0..5].
enum Args {
    Regs(*const u8),
    Record([u64; 5]),
}

impl Args {
    /// The classic record's arguments. The verifier allows context reads at
    /// constant offsets only, so they are five volatile loads the compiler
    /// cannot merge into one variable-offset load.
    #[inline(always)]
    fn record(ctx: &TracePointContext) -> Self {
        let arg = |offset: usize| -> u64 {
            // SAFETY: args[0..6] of the sys_enter format, constant offsets.
            unsafe { core::ptr::read_volatile(ctx.as_ptr().cast::<u8>().add(offset).cast::<u64>()) }
        };
        Self::Record([arg(ARGS), arg(ARGS + 8), arg(ARGS + 16), arg(ARGS + 24), arg(ARGS + 32)])
    }

    /// The argument `encoded` (1 + index, 0: none) names: one of args[1]
    /// (a length for the mapping syscalls), every position an fd can be in
    /// (0, 1, 2, 4), and a send's flags (2, 3).
    #[inline(always)]
    fn get(&self, encoded: u32) -> Option<u64> {
        let index = match encoded & SLOT_FD_MASK {
            n @ 1..=5 => n - 1,
            _ => return None,
        };
        Some(match self {
            Self::Regs(regs) => {
                let offset = match index {
                    0 => &OFF_REGS_ARG0,
                    1 => &OFF_REGS_ARG1,
                    2 => &OFF_REGS_ARG2,
                    3 => &OFF_REGS_ARG3,
                    _ => &OFF_REGS_ARG4,
                };
                read_reg(*regs, offset)
            }
            Self::Record([a0, a1, a2, a3, a4]) => match index {
                0 => *a0,
                1 => *a1,
                2 => *a2,
                3 => *a3,
                _ => *a4,
            },
        })
    }

    /// The kind of the fd in the argument `encoded` names.
    #[inline(always)]
    fn fd_kind(&self, encoded: u32) -> u8 {
        self.get(encoded).map_or(fd_kind::NONE, crate::fdkind::of)
    }
}

/// `Args::get`'s encoding of args[1], the mapping syscalls' length.
const LEN_ARG: u32 = 2;

/// The destination fd of the MSG_ZEROCOPY send the current task is inside
/// of, if it is in one (its saved registers: number, flags and fd).
#[inline(always)]
pub(crate) fn current_zero_copy_send_fd() -> Option<u64> {
    let regs = current_regs();
    let config = config_of(read_reg(regs, &OFF_REGS_ORIG_AX) as i64)?;
    let args = Args::Regs(regs);
    let flags = args.get(config.flags >> SLOT_MSG_FLAGS_SHIFT)?;
    if flags & MSG_ZEROCOPY == 0 {
        return None;
    }
    args.get(config.flags >> SLOT_DST_FD_SHIFT)
}

/// The slot configuration of syscall `nr`, if the loader wrote one (a
/// tracked syscall, or one with an exit rule).
#[inline(always)]
fn config_of(nr: i64) -> Option<SlotConfig> {
    if !(0..i64::from(MAX_SYSCALL_NR)).contains(&nr) {
        return None;
    }
    SLOTS.get(nr as u32).copied().filter(|c| c.flags != 0)
}

/// The current task's saved user registers, a BTF-typed `struct pt_regs *`.
#[inline(always)]
pub(crate) fn current_regs() -> *const u8 {
    // SAFETY: helpers with no preconditions.
    unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) as *const u8 }
}

/// The saved user register at `offset` in `regs` (from `current_regs`).
#[inline(always)]
pub(crate) fn read_reg(regs: *const u8, offset: &Global<u32>) -> u64 {
    // SAFETY: regs is BTF-typed and the offsets are pt_regs members (from BTF).
    unsafe { crate::fdkind::load::<u64>(regs, offset.load()) }
}
