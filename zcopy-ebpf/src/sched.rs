//! Scheduler events: context switches, and following a target's children.
//!
//! Formats (include/trace/events/sched.h,
//! https://github.com/torvalds/linux/blob/v6.18/include/trace/events/sched.h):
//! - sched_switch: `long prev_state` @32. The kernel reports a preempted task
//!   as TASK_REPORT_MAX (0x100, the "+" in the print format) and a task that
//!   blocked with its sleep state (S, D, ...), see
//!   `__trace_sched_switch_state()`; this mirrors how `__schedule()` picks
//!   between `nvcsw` and `nivcsw` (/proc/PID/status voluntary_ctxt_switches).
//! - sched_process_fork: `pid_t parent_pid` @12, `pid_t child_pid` @20.
//! - sched_process_exec: `pid_t pid` @12.
//! - sched_process_exit: `pid_t pid` @24 (a thread id), `bool group_dead` @32 (6.16+).

use aya_ebpf::{
    Global,
    helpers::{bpf_get_current_comm, bpf_probe_read_kernel},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use zcopy_common::{TARGET_CHILD, TARGET_COMM, TARGET_EXITED, TARGET_HELD, drop_reason};

use crate::{COMMS, TARGETS, WANTED_COMMS, count_drop, current_ids, field, is_target, with_proc_stats};

/// 1 when sched_process_exit has `bool group_dead` at offset 32 (Linux
/// 6.16+; the loader checks the tracepoint's format), else 0.
#[unsafe(no_mangle)]
static EXIT_GROUP_DEAD: Global<u8> = Global::new(0);

const EXIT_GROUP_DEAD_OFFSET: usize = 32;

const PREV_STATE: usize = 32;
const FORK_CHILD_PID: usize = 20;
const EXIT_PID: usize = 24;

/// TASK_REPORT_MAX: the state sched_switch reports for a preempted task.
const TASK_REPORT_MAX: i64 = 0x100;
/// Sleep states a task can block in (TASK_REPORT).
const TASK_REPORT: i64 = TASK_REPORT_MAX - 1;

/// BPF_NOEXIST: insert only if the key is absent.
const BPF_NOEXIST: u64 = 1;

/// sched:sched_switch, counted for the task switched away from (current).
#[tracepoint(category = "sched", name = "sched_switch")]
pub fn sched_switch(ctx: TracePointContext) -> u32 {
    let (tgid, _) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    // SAFETY: offset from the sched_switch format.
    let state: i64 = unsafe { field(&ctx, PREV_STATE) };
    count_switch(tgid, state & TASK_REPORT_MAX == 0 && state & TASK_REPORT != 0);
    0
}

/// sched_switch as a raw tracepoint (5.18+, when prev_state became the last
/// argument): TP_PROTO(bool preempt, struct task_struct *prev, struct
/// task_struct *next, unsigned int prev_state). `__schedule()` counts a
/// switch in `nvcsw` exactly when it was not a preemption and the task was
/// not running (prev_state != 0), and in `nivcsw` otherwise.
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch_raw(ctx: RawTracePointContext) -> i32 {
    let (tgid, _) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    count_switch(tgid, voluntary(&ctx));
    0
}

/// Whether the raw sched_switch in `ctx` is a voluntary switch (see above).
#[inline(always)]
pub(crate) fn voluntary(ctx: &RawTracePointContext) -> bool {
    let preempt: u64 = ctx.arg(0);
    let prev_state: u64 = ctx.arg(3);
    preempt & 0xff == 0 && prev_state & 0xffff_ffff != 0
}

#[inline(always)]
fn count_switch(tgid: u32, voluntary: bool) {
    with_proc_stats(tgid, |s| {
        if voluntary {
            s.switches_voluntary += 1;
        } else {
            s.switches_involuntary += 1;
        }
    });
}

/// sched:sched_process_fork: a child (process or thread) of a target becomes
/// a target. Thread entries are removed again when the thread exits.
#[tracepoint(category = "sched", name = "sched_process_fork")]
pub fn sched_process_fork(ctx: TracePointContext) -> u32 {
    let (tgid, _) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    // SAFETY: offset from the sched_process_fork format.
    let child: i32 = unsafe { field(&ctx, FORK_CHILD_PID) };
    follow_child(child as u32);
    0
}

/// Offset of `pid` in `struct task_struct`, from the kernel's BTF.
#[unsafe(no_mangle)]
static OFF_TASK_PID: Global<u32> = Global::new(0);

/// sched_process_fork as a raw tracepoint: TP_PROTO(struct task_struct
/// *parent, struct task_struct *child); the child's id is child->pid.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork_raw(ctx: RawTracePointContext) -> i32 {
    let (tgid, _) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    let task: *const u8 = ctx.arg(1);
    // SAFETY: a read of the child's task_struct through the probe-read helper.
    if let Ok(child) = unsafe { bpf_probe_read_kernel(task.wrapping_add(OFF_TASK_PID.load() as usize).cast::<i32>()) } {
        follow_child(child as u32);
    }
    0
}

#[inline(always)]
fn follow_child(child: u32) {
    // A PID of an exited target may come back as this child: take it over.
    // SAFETY: a pointer to a map value, read once.
    let reused = TARGETS.get_ptr(child).is_some_and(|f| unsafe { *f } & TARGET_EXITED != 0);
    let flags = if reused { 0 } else { BPF_NOEXIST };
    if TARGETS.insert(child, TARGET_CHILD, flags).is_err() && !is_target(child) {
        count_drop(drop_reason::TARGETS_FULL);
        return;
    }
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(child, comm, 0);
    }
}

/// sched:sched_process_exec: records the target's new command name.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    on_exec()
}

/// sched_process_exec as a raw tracepoint (its arguments are not needed).
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec_raw(_ctx: RawTracePointContext) -> i32 {
    on_exec();
    0
}

#[inline(always)]
fn on_exec() -> u32 {
    let (tgid, _) = current_ids();
    let Ok(comm) = bpf_get_current_comm() else { return 0 };
    if is_target(tgid) {
        let _ = COMMS.insert(tgid, comm, 0);
    } else if WANTED_COMMS.get_ptr(comm).is_some() {
        // A process that execs a wanted name becomes a target from here on.
        if TARGETS.insert(tgid, TARGET_COMM | TARGET_HELD, 0).is_err() {
            count_drop(drop_reason::TARGETS_FULL);
            return 0;
        }
        let _ = COMMS.insert(tgid, comm, 0);
    }
    0
}

/// sched:sched_process_exit: forgets the entries a thread of a target got at
/// its creation (a process keeps its entry so its counters can be named).
#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    let (tgid, _) = current_ids();
    // SAFETY: offset from the sched_process_exit format.
    let tid: i32 = unsafe { field(&ctx, EXIT_PID) };
    // SAFETY: offset from the sched_process_exit format (checked by the loader).
    let group_dead = EXIT_GROUP_DEAD.load() != 0 && unsafe { field::<u8>(&ctx, EXIT_GROUP_DEAD_OFFSET) } != 0;
    on_exit(tgid, tid as u32, group_dead);
    0
}

/// sched_process_exit as a raw tracepoint: TP_PROTO(struct task_struct *p,
/// bool group_dead) on 6.16+ (the loader says so), TP_PROTO(struct
/// task_struct *p) before. `p` is the exiting current task.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit_raw(ctx: RawTracePointContext) -> i32 {
    let (tgid, tid) = current_ids();
    let group_dead = EXIT_GROUP_DEAD.load() != 0 && ctx.arg::<u64>(1) & 0xff != 0;
    on_exit(tgid, tid, group_dead);
    0
}

#[inline(always)]
fn on_exit(tgid: u32, tid: u32, group_dead: bool) {
    if !is_target(tgid) {
        return;
    }
    if tid != tgid {
        let _ = TARGETS.remove(tid);
        let _ = COMMS.remove(tid);
    }
    if group_dead {
        // The whole process is gone: keep its counters, stop matching its PID.
        if let Some(flags) = TARGETS.get_ptr_mut(tgid) {
            // SAFETY: a pointer to a map value.
            unsafe { *flags |= TARGET_EXITED };
        }
    }
}
