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

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use aya_log_ebpf::debug;
use zcopy_common::{
    Inflight, MAX_SYSCALL_NR, SLOT_BYTES_FROM_LEN_ARG, SLOT_TRACKED, SyscallKey, SyscallStats, drop_reason,
};

use crate::{INFLIGHT, SLOTS, SYSCALLS, count_drop, current_ids, field, is_target, upsert, with_proc_stats};

const ID: usize = 8;
const ARGS: usize = 16;
const RET: usize = 16;

/// Largest errno a syscall returns as `-errno` (include/linux/err.h MAX_ERRNO).
const MAX_ERRNO: i64 = 4095;

/// raw_syscalls:sys_enter: counts every syscall of a target, and remembers
/// the tracked ones until their exit.
#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter(ctx: TracePointContext) -> u32 {
    try_sys_enter(&ctx).unwrap_or(0)
}

fn try_sys_enter(ctx: &TracePointContext) -> Result<u32, i64> {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return Ok(0);
    }
    with_proc_stats(tgid, |stats| stats.syscalls += 1);

    // SAFETY: offsets from the sys_enter format.
    let nr: i64 = unsafe { field(ctx, ID) };
    let Some(config) = slot_of(nr) else {
        return Ok(0);
    };
    // SAFETY: args[1] of the sys_enter format.
    let len_arg: u64 = unsafe { field(ctx, ARGS + 8) };
    let inflight = Inflight { len_arg, slot: config.slot, flags: config.flags };
    if INFLIGHT.insert(tid, inflight, 0).is_err() {
        count_drop(drop_reason::INFLIGHT_FULL);
    }
    debug!(ctx, "enter pid={} tid={} nr={}", tgid, tid, nr);
    Ok(0)
}

/// raw_syscalls:sys_exit: counts a tracked call whose entry was seen, its
/// bytes (return value, or length argument for mappings) and errors.
#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    try_sys_exit(&ctx).unwrap_or(0)
}

fn try_sys_exit(ctx: &TracePointContext) -> Result<u32, i64> {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return Ok(0);
    }
    // SAFETY: offsets from the sys_exit format.
    let nr: i64 = unsafe { field(ctx, ID) };
    if slot_of(nr).is_none() {
        return Ok(0);
    }
    let Some(inflight) = INFLIGHT.get_ptr(tid) else {
        // Entered before tracing started: not counted, like the entry.
        return Ok(0);
    };
    // SAFETY: the pointer comes from a successful lookup.
    let inflight = unsafe { *inflight };
    let _ = INFLIGHT.remove(tid);

    // SAFETY: offsets from the sys_exit format.
    let ret: i64 = unsafe { field(ctx, RET) };
    let failed = (-MAX_ERRNO..0).contains(&ret);
    let bytes = if failed {
        0
    } else if inflight.flags & SLOT_BYTES_FROM_LEN_ARG != 0 {
        inflight.len_arg
    } else {
        ret as u64
    };

    let key = SyscallKey { tgid, slot: inflight.slot };
    upsert(&SYSCALLS, key, drop_reason::SYSCALL_MAP_FULL, |stats: &mut SyscallStats| {
        stats.calls += 1;
        stats.bytes += bytes;
        stats.errors += u64::from(failed);
    });
    Ok(0)
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
