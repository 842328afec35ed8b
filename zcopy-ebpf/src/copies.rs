//! The kernel's copy routines, counted directly where fexit or kprobes load
//! (typical distribution kernels; not every kernel allows them, and zcopy
//! then infers copies from fd kinds instead).
//!
//! lib/iov_iter.c (v6.18): copy_page_to_iter calls _copy_to_iter per page,
//! copy_page_from_iter calls _copy_from_iter; TCP sends copy with
//! _copy_from_iter_nocache; buffered file writes with
//! copy_folio_from_iter_atomic (which copies inline). Attaching these four
//! counts each copied byte once. Whether the other side of the copy is user
//! memory is the iov_iter's type (ITER_UBUF / ITER_IOVEC), read at the offset
//! and with the enum values of the kernel's BTF, set by the loader.

use aya_ebpf::{
    Global,
    helpers::bpf_probe_read_kernel,
    macros::{fexit, kprobe},
    programs::{FExitContext, ProbeContext},
};
use zcopy_common::drop_reason;

use crate::{EVIDENCE, current_ids, is_target, upsert};

#[unsafe(no_mangle)]
static OFF_IOV_ITER_TYPE: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static ITER_UBUF: Global<u8> = Global::new(0);
#[unsafe(no_mangle)]
static ITER_IOVEC: Global<u8> = Global::new(1);

#[inline(always)]
fn count(iter: u64, bytes: u64, into_iter: bool) {
    let (tgid, _) = current_ids();
    if bytes == 0 || !is_target(tgid) {
        return;
    }
    // SAFETY: bpf_probe_read_kernel copes with any address.
    let Ok(kind) = (unsafe { bpf_probe_read_kernel((iter + u64::from(OFF_IOV_ITER_TYPE.load())) as *const u8) }) else {
        return;
    };
    let user = kind == ITER_UBUF.load() || kind == ITER_IOVEC.load();
    upsert(&EVIDENCE, tgid, drop_reason::PROC_MAP_FULL, |e| {
        e.copy_calls += 1;
        match (user, into_iter) {
            (true, true) => e.copy_to_user_bytes += bytes,
            (true, false) => e.copy_from_user_bytes += bytes,
            (false, _) => e.copy_kernel_bytes += bytes,
        }
    });
}

/// size_t _copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i)
#[fexit(function = "_copy_to_iter")]
pub fn copy_to_iter_exit(ctx: FExitContext) -> i32 {
    count(ctx.arg(2), ctx.arg(3), true);
    0
}

/// size_t _copy_from_iter(void *addr, size_t bytes, struct iov_iter *i)
#[fexit(function = "_copy_from_iter")]
pub fn copy_from_iter_exit(ctx: FExitContext) -> i32 {
    count(ctx.arg(2), ctx.arg(3), false);
    0
}

/// size_t _copy_from_iter_nocache(void *addr, size_t bytes, struct iov_iter *i)
#[fexit(function = "_copy_from_iter_nocache")]
pub fn copy_from_iter_nocache_exit(ctx: FExitContext) -> i32 {
    count(ctx.arg(2), ctx.arg(3), false);
    0
}

/// size_t copy_folio_from_iter_atomic(struct folio *, size_t offset, size_t bytes, struct iov_iter *i)
#[fexit(function = "copy_folio_from_iter_atomic")]
pub fn copy_folio_from_iter_exit(ctx: FExitContext) -> i32 {
    count(ctx.arg(3), ctx.arg(4), false);
    0
}

/// kprobe fallback for _copy_to_iter: the bytes asked for at entry.
#[kprobe]
pub fn copy_to_iter_entry(ctx: ProbeContext) -> u32 {
    count(ctx.arg(2).unwrap_or(0), ctx.arg(1).unwrap_or(0), true);
    0
}

/// kprobe fallback for _copy_from_iter and _copy_from_iter_nocache.
#[kprobe]
pub fn copy_from_iter_entry(ctx: ProbeContext) -> u32 {
    count(ctx.arg(2).unwrap_or(0), ctx.arg(1).unwrap_or(0), false);
    0
}

/// kprobe fallback for copy_folio_from_iter_atomic.
#[kprobe]
pub fn copy_folio_from_iter_entry(ctx: ProbeContext) -> u32 {
    count(ctx.arg(3).unwrap_or(0), ctx.arg(2).unwrap_or(0), false);
    0
}
