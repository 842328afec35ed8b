//! Page faults, from two independent sources.
//!
//! - `exceptions:page_fault_user` / `page_fault_kernel` fire on every page
//!   fault exception, split by the mode the CPU was in (a write() from an
//!   mmap'd buffer faults inside the kernel). x86 only
//!   (arch/x86/include/asm/trace/exceptions.h,
//!   https://github.com/torvalds/linux/blob/v6.18/arch/x86/include/asm/trace/exceptions.h).
//!   Format: `unsigned long address` @8, `ip` @16, `error_code` @24 (unused).
//! - perf software events `page-faults`, `minor-faults`, `major-faults`
//!   (mm/memory.c mm_account_fault, arch/x86/mm/fault.c do_user_addr_fault):
//!   the same counters `perf stat` reads, and the only source that tells
//!   minor from major. Faults taken by get_user_pages (MAP_POPULATE, pinning
//!   for zero-copy sends) raise neither: they show up only in the process's own
//!   counters (/proc/PID/stat), which the loader reports next to these.

use aya_ebpf::{
    macros::{perf_event, raw_tracepoint, tracepoint},
    programs::{PerfEventContext, RawTracePointContext, TracePointContext},
};

use crate::{current_ids, is_target, with_proc_stats};

#[inline(always)]
fn count(update: impl FnOnce(&mut zcopy_common::ProcStats)) -> u32 {
    let (tgid, _) = current_ids();
    if is_target(tgid) {
        with_proc_stats(tgid, update);
    }
    0
}

/// exceptions:page_fault_user: a fault taken while running in user mode.
#[tracepoint(category = "exceptions", name = "page_fault_user")]
pub fn page_fault_user(_ctx: TracePointContext) -> u32 {
    count(|s| s.faults_user += 1)
}

/// exceptions:page_fault_kernel: a fault taken while running in kernel mode
/// (e.g. copy_from_user touching a not-yet-mapped page).
#[tracepoint(category = "exceptions", name = "page_fault_kernel")]
pub fn page_fault_kernel(_ctx: TracePointContext) -> u32 {
    count(|s| s.faults_kernel += 1)
}

/// page_fault_user as a raw tracepoint (preferred: no perf record is
/// filled, and detaching needs no RCU grace period under event_mutex).
/// TP_PROTO(unsigned long address, struct pt_regs *regs, unsigned long error_code): unused.
#[raw_tracepoint(tracepoint = "page_fault_user")]
pub fn page_fault_user_raw(_ctx: RawTracePointContext) -> i32 {
    count(|s| s.faults_user += 1);
    0
}

/// page_fault_kernel as a raw tracepoint (same prototype).
#[raw_tracepoint(tracepoint = "page_fault_kernel")]
pub fn page_fault_kernel_raw(_ctx: RawTracePointContext) -> i32 {
    count(|s| s.faults_kernel += 1);
    0
}

/// perf software event PERF_COUNT_SW_PAGE_FAULTS, sample period 1.
#[perf_event]
pub fn perf_page_faults(_ctx: PerfEventContext) -> u32 {
    count(|s| s.faults_total += 1)
}

/// perf software event PERF_COUNT_SW_PAGE_FAULTS_MIN, sample period 1.
#[perf_event]
pub fn perf_minor_faults(_ctx: PerfEventContext) -> u32 {
    count(|s| s.faults_minor += 1)
}

/// perf software event PERF_COUNT_SW_PAGE_FAULTS_MAJ, sample period 1.
#[perf_event]
pub fn perf_major_faults(_ctx: PerfEventContext) -> u32 {
    count(|s| s.faults_major += 1)
}
