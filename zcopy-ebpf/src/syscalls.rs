//! System calls: every entry (mode transitions), and calls, bytes and errors of
//! the tracked data-transfer syscalls.
//!
//! One pair of programs on `raw_syscalls:sys_enter`/`sys_exit` covers every
//! syscall: the per-syscall tracepoints (`syscalls:sys_enter_read`, ...) would
//! add a second program run on each tracked call, and they need
//! CONFIG_FTRACE_SYSCALLS, which `raw_syscalls` does not. The loader maps
//! syscall numbers to slots (`SLOTS`), so the programs are architecture-neutral.
//!
//! Formats (include/trace/events/syscalls.h,
//! https://github.com/torvalds/linux/blob/v6.18/include/trace/events/syscalls.h):
//! - sys_enter: `long id` @8, `unsigned long args[6]` @16
//! - sys_exit:  `long id` @8, `long ret` @16

use aya_ebpf::{
    EbpfContext, Global,
    helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_comm, bpf_probe_read_kernel},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use aya_log_ebpf::debug;
use zcopy_common::{
    FlowKey, Inflight, MAX_INFLIGHT, MAX_SYSCALL_NR, MSG_ZEROCOPY, RELAY_SLOT, RELAY_WINDOW_NS, Relay,
    SLOT_BYTES_FROM_LEN_ARG, SLOT_DST_FD_SHIFT, SLOT_FD_MASK, SLOT_MSG_FLAGS_SHIFT, SLOT_READS_INTO_USER,
    SLOT_SRC_FD_SHIFT, SLOT_TRACKED, SLOT_WRITES_FROM_USER, SyscallKey, SyscallStats, TARGET_CGROUP, drop_reason, fd_kind,
};

use crate::{
    COMMS, FLOWS, INFLIGHT, RELAYS, SLOTS, SYSCALLS, TARGETS, WANTED_CGROUP, count_drop, current_ids, field, is_target,
    upsert, with_proc_stats,
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

/// raw_syscalls:sys_enter: counts every syscall of a target, and remembers
/// the tracked ones until their exit.
#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets from the sys_enter format.
    let nr = |ctx: &TracePointContext| -> i64 { unsafe { field(ctx, ID) } };
    try_sys_enter(&ctx, nr, Args::read).unwrap_or(0)
}

/// sys_enter as a raw tracepoint, preferred: no perf record is filled per
/// call, and detaching needs no RCU grace period under event_mutex.
/// TP_PROTO(struct pt_regs *regs, long id).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_raw(ctx: RawTracePointContext) -> i32 {
    let nr = |ctx: &RawTracePointContext| -> i64 { ctx.arg(1) };
    let _ = try_sys_enter(&ctx, nr, |ctx: &RawTracePointContext| Args::from_regs(ctx.arg(0)));
    0
}

fn try_sys_enter<C: EbpfContext>(ctx: &C, nr: impl Fn(&C) -> i64, args: impl Fn(&C) -> Args) -> Result<u32, i64> {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) && !joined_wanted_cgroup(tgid) {
        return Ok(0);
    }
    with_proc_stats(tgid, |stats| stats.syscalls += 1);

    let nr = nr(ctx);
    let Some(config) = slot_of(nr) else {
        return Ok(0);
    };
    let args = args(ctx);
    let src = args.fd_kind(config.flags >> SLOT_SRC_FD_SHIFT);
    let mut dst = args.fd_kind(config.flags >> SLOT_DST_FD_SHIFT);
    if dst == fd_kind::SOCKET && args.get(config.flags >> SLOT_MSG_FLAGS_SHIFT).is_some_and(|f| f & MSG_ZEROCOPY != 0) {
        dst = fd_kind::SOCKET_ZEROCOPY;
        if let Some(fd) = args.get(config.flags >> SLOT_DST_FD_SHIFT) {
            crate::zerocopy::register_fd(tgid, fd);
        }
    }
    // A plain array slot (no locked hash update on the hot path), claimed by tid.
    if let Some(record) = INFLIGHT.get_ptr_mut(tid & (MAX_INFLIGHT - 1)) {
        // SAFETY: a pointer to an array value; only threads with this slot write it.
        unsafe {
            if (*record).tid != 0 && (*record).tid != tid {
                count_drop(drop_reason::INFLIGHT_FULL);
            }
            *record = Inflight { len_arg: args.a1, slot: config.slot, flags: config.flags, tid, src, dst, _pad: [0; 2] };
        }
    }
    debug!(ctx, "enter pid={} tid={} nr={}", tgid, tid, nr);
    Ok(0)
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

/// raw_syscalls:sys_exit: counts a tracked call whose entry was seen, its
/// bytes (return value, or length argument for mappings) and errors.
#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    // SAFETY: offsets from the sys_exit format.
    let (nr, ret): (i64, i64) = unsafe { (field(&ctx, ID), field(&ctx, RET)) };
    try_sys_exit(tgid, tid, nr, ret).unwrap_or(0)
}

/// sys_exit as a raw tracepoint. TP_PROTO(struct pt_regs *regs, long ret);
/// the syscall number is the registers' orig_ax.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit_raw(ctx: RawTracePointContext) -> i32 {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    let regs: *const u8 = ctx.arg(0);
    let ret: i64 = ctx.arg(1);
    // SAFETY: a read of the kernel's pt_regs through the probe-read helper.
    let nr = unsafe { bpf_probe_read_kernel(regs.wrapping_add(OFF_REGS_ORIG_AX.load() as usize).cast::<i64>()) };
    let _ = try_sys_exit(tgid, tid, nr.unwrap_or(-1), ret);
    0
}

/// A target's syscall exit (the callers checked `is_target`, once).
fn try_sys_exit(tgid: u32, tid: u32, nr: i64, ret: i64) -> Result<u32, i64> {
    if slot_of(nr).is_none() {
        return Ok(0);
    }
    let Some(record) = INFLIGHT.get_ptr_mut(tid & (MAX_INFLIGHT - 1)) else {
        return Ok(0);
    };
    // SAFETY: a pointer to an array value.
    let inflight = unsafe { *record };
    if inflight.tid != tid {
        // Entered before tracing started: not counted, like the entry.
        return Ok(0);
    }
    // SAFETY: as above; frees the slot.
    unsafe { (*record).tid = 0 };

    let failed = (-MAX_ERRNO..0).contains(&ret);
    let bytes = if failed {
        0
    } else if inflight.flags & SLOT_BYTES_FROM_LEN_ARG != 0 {
        inflight.len_arg
    } else {
        ret as u64
    };

    let key = SyscallKey { tgid, slot: inflight.slot };
    let count = |stats: &mut SyscallStats| {
        stats.calls += 1;
        stats.bytes += bytes;
        stats.errors += u64::from(failed);
    };
    upsert(&SYSCALLS, key, drop_reason::SYSCALL_MAP_FULL, count);
    if inflight.src != fd_kind::NONE || inflight.dst != fd_kind::NONE {
        let flow = FlowKey { tgid, slot: inflight.slot as u16, src: inflight.src, dst: inflight.dst };
        upsert(&FLOWS, flow, drop_reason::SYSCALL_MAP_FULL, count);
    }
    if bytes > 0 && !failed {
        relay(tgid, tid, &inflight, bytes);
    }
    Ok(0)
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

/// The syscall arguments zcopy uses: args[1] (a length for the mapping
/// syscalls), every position an fd can be in (0, 1, 2, 4), and a send's
/// flags (2, 3).
struct Args {
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
}

impl Args {
    /// Reads them once. The verifier allows context reads at constant
    /// offsets only, so they are volatile loads the compiler cannot merge
    /// into one variable-offset load.
    #[inline(always)]
    fn from_regs(regs: *const u8) -> Self {
        let arg = |offset: &Global<u32>| -> u64 {
            // SAFETY: a read of the kernel's pt_regs through the probe-read helper.
            unsafe { bpf_probe_read_kernel(regs.wrapping_add(offset.load() as usize).cast::<u64>()) }.unwrap_or(0)
        };
        Self {
            a0: arg(&OFF_REGS_ARG0),
            a1: arg(&OFF_REGS_ARG1),
            a2: arg(&OFF_REGS_ARG2),
            a3: arg(&OFF_REGS_ARG3),
            a4: arg(&OFF_REGS_ARG4),
        }
    }

    #[inline(always)]
    fn read(ctx: &TracePointContext) -> Self {
        let arg = |offset: usize| -> u64 {
            // SAFETY: args[0..6] of the sys_enter format, constant offsets.
            unsafe { core::ptr::read_volatile(ctx.as_ptr().cast::<u8>().add(offset).cast::<u64>()) }
        };
        Self { a0: arg(ARGS), a1: arg(ARGS + 8), a2: arg(ARGS + 16), a3: arg(ARGS + 24), a4: arg(ARGS + 32) }
    }

    /// The argument `encoded` (1 + index, 0: none) names.
    #[inline(always)]
    fn get(&self, encoded: u32) -> Option<u64> {
        match encoded & SLOT_FD_MASK {
            1 => Some(self.a0),
            2 => Some(self.a1),
            3 => Some(self.a2),
            4 => Some(self.a3),
            5 => Some(self.a4),
            _ => None,
        }
    }

    /// The kind of the fd in the argument `encoded` names.
    #[inline(always)]
    fn fd_kind(&self, encoded: u32) -> u8 {
        self.get(encoded).map_or(fd_kind::NONE, crate::fdkind::of)
    }
}

/// The slot configuration of syscall `nr`, if it is tracked.
#[inline(always)]
fn slot_of(nr: i64) -> Option<zcopy_common::SlotConfig> {
    if !(0..i64::from(MAX_SYSCALL_NR)).contains(&nr) {
        return None;
    }
    let config = *SLOTS.get(nr as u32)?;
    (config.flags & SLOT_TRACKED != 0).then_some(config)
}
