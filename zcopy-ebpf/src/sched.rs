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

use aya_ebpf::{Global, helpers::bpf_get_current_comm, macros::tracepoint, programs::TracePointContext};
use zcopy_common::{TARGET_CHILD, TARGET_COMM, TARGET_EXITED, drop_reason};

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
    let voluntary = state & TASK_REPORT_MAX == 0 && state & TASK_REPORT != 0;
    with_proc_stats(tgid, |s| {
        if voluntary {
            s.switches_voluntary += 1;
        } else {
            s.switches_involuntary += 1;
        }
    });
    0
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
    let child = child as u32;
    // A PID of an exited target may come back as this child: take it over.
    // SAFETY: a pointer to a map value, read once.
    let reused = TARGETS.get_ptr(child).is_some_and(|f| unsafe { *f } & TARGET_EXITED != 0);
    let flags = if reused { 0 } else { BPF_NOEXIST };
    if TARGETS.insert(child, TARGET_CHILD, flags).is_err() && !is_target(child) {
        count_drop(drop_reason::TARGETS_FULL);
        return 0;
    }
    if let Ok(comm) = bpf_get_current_comm() {
        let _ = COMMS.insert(child, comm, 0);
    }
    0
}

/// sched:sched_process_exec: records the target's new command name.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    let (tgid, _) = current_ids();
    let Ok(comm) = bpf_get_current_comm() else { return 0 };
    if is_target(tgid) {
        let _ = COMMS.insert(tgid, comm, 0);
    } else if WANTED_COMMS.get_ptr(comm).is_some() {
        // A process that execs a wanted name becomes a target from here on.
        if TARGETS.insert(tgid, TARGET_COMM, 0).is_err() {
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
    let tid = tid as u32;
    if !is_target(tgid) {
        return 0;
    }
    if tid != tgid {
        let _ = TARGETS.remove(tid);
        let _ = COMMS.remove(tid);
    }
    // SAFETY: offset from the sched_process_exit format (checked by the loader).
    if EXIT_GROUP_DEAD.load() != 0 && unsafe { field::<u8>(&ctx, EXIT_GROUP_DEAD_OFFSET) } != 0 {
        // The whole process is gone: keep its counters, stop matching its PID.
        if let Some(flags) = TARGETS.get_ptr_mut(tgid) {
            // SAFETY: a pointer to a map value.
            unsafe { *flags |= TARGET_EXITED };
        }
    }
    0
}
