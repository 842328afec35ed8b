//! Where the traced processes' CPU time goes: a perf_event program on the
//! software cpu-clock event, one per CPU at the frequency the loader sets,
//! counts each sample of a target by (process, kernel stack) in the kernel.
//! Nothing is sent to user space per sample; the loader reads `STACKS` and
//! symbolizes the addresses once, at the end.

use aya_ebpf::{
    EbpfContext as _,
    helpers::generated::bpf_get_stack,
    macros::{map, perf_event},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::PerfEventContext,
};
use zcopy_common::{MAX_STACK_DEPTH, MAX_STACKS, StackKey, drop_reason};

use crate::{count_drop, current_ids, is_target};

/// Samples per (process, kernel stack), per CPU (summed by the loader).
/// Preallocated: perf_event programs run in NMI-like context, where
/// allocating map entries is refused.
#[map]
static STACKS: PerCpuHashMap<StackKey, u64> = PerCpuHashMap::with_max_entries(MAX_STACKS, 0);

/// The key being built (too large for the BPF stack's 512 bytes).
#[map]
static STACK_SCRATCH: PerCpuArray<StackKey> = PerCpuArray::with_max_entries(1, 0);

/// bpf_get_stack's flags: 0 = the kernel stack, innermost first.
const KERNEL_STACK: u64 = 0;

/// The cpu-clock sample: the interrupted task, if a target, and its kernel
/// stack (none if the CPU was in user mode: the code segment's privilege
/// level, x86-64 pt_regs.cs & 3, is 3).
#[perf_event]
pub fn cpu_sample(ctx: PerfEventContext) -> u32 {
    let (tgid, _) = current_ids();
    if tgid == 0 || !is_target(tgid) {
        return 0;
    }
    let Some(key) = STACK_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: the ctx is the kernel's bpf_perf_event_data; the scratch slot
    // is this CPU's, and this program cannot be preempted on it.
    unsafe {
        let user = (*ctx.ctx).regs.cs & 3 == 3;
        (*key).tgid = tgid;
        (*key).user = u16::from(user);
        if user {
            (*key).depth = 0;
            (*key).ips = [0; MAX_STACK_DEPTH];
        } else {
            let size = (MAX_STACK_DEPTH * 8) as u32;
            // Fills the frames and zeroes the rest of the buffer.
            let got = bpf_get_stack(ctx.as_ptr(), (*key).ips.as_mut_ptr().cast(), size, KERNEL_STACK);
            if got < 0 {
                count_drop(drop_reason::STACK_UNREADABLE);
                return 0;
            }
            (*key).depth = (got as u64 / 8) as u16;
        }
        if let Some(count) = STACKS.get_ptr_mut(&*key) {
            *count += 1;
        } else if STACKS.insert(&*key, &1, 0).is_err() {
            count_drop(drop_reason::STACKS_FULL);
        }
    }
    0
}
