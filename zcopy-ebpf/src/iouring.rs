//! io_uring operations: they move data without read/write syscalls, so
//! they are counted per completion, with the kind of the request's file.
//!
//! io_uring:io_uring_complete (include/trace/events/io_uring.h, v6.18):
//! `void *req` @16, `int res` @32, `unsigned cflags` @36. It fires where the
//! completion is posted: the submitting task, or one of its io-wq / SQPOLL
//! threads (same thread group). `req` is a `struct io_kiocb`: its `opcode`
//! and `file` offsets come from the kernel's BTF, set by the loader
//! (`OFF_IOKIOCB_OPCODE` 0xffff: unknown, nothing is counted).

use aya_ebpf::{Global, helpers::bpf_probe_read_kernel, macros::tracepoint, programs::TracePointContext};
use zcopy_common::{FlowKey, IO_URING_SLOT_BASE, SyscallStats, drop_reason, fd_kind};

use crate::{FLOWS, current_ids, fdkind, field, is_target, upsert};

#[unsafe(no_mangle)]
static OFF_IOKIOCB_OPCODE: Global<u32> = Global::new(0xffff);
#[unsafe(no_mangle)]
static OFF_IOKIOCB_FILE: Global<u32> = Global::new(0);

/// IORING_CQE_F_NOTIF: a zero-copy send's "buffer released" notice, not a transfer.
const CQE_F_NOTIF: u32 = 1 << 3;

#[tracepoint(category = "io_uring", name = "io_uring_complete")]
pub fn io_uring_complete(ctx: TracePointContext) -> u32 {
    let (tgid, _) = current_ids();
    let opcode_offset = OFF_IOKIOCB_OPCODE.load();
    if opcode_offset == 0xffff || !is_target(tgid) {
        return 0;
    }
    // SAFETY: offsets from the format.
    let (req, res, cflags): (u64, i32, u32) = unsafe { (field(&ctx, 16), field(&ctx, 32), field(&ctx, 36)) };
    if req == 0 || cflags & CQE_F_NOTIF != 0 {
        return 0;
    }
    // SAFETY: bpf_probe_read_kernel copes with any address.
    let Ok(opcode) = (unsafe { bpf_probe_read_kernel((req + u64::from(opcode_offset)) as *const u8) }) else {
        return 0;
    };
    // SAFETY: as above.
    let file: u64 = unsafe { bpf_probe_read_kernel((req + u64::from(OFF_IOKIOCB_FILE.load())) as *const u64) }.unwrap_or(0);
    let src = fdkind::of_file(file).unwrap_or(fd_kind::UNKNOWN);
    let flow = FlowKey { tgid, slot: IO_URING_SLOT_BASE + u16::from(opcode), src, dst: fd_kind::NONE };
    upsert(&FLOWS, flow, drop_reason::SYSCALL_MAP_FULL, |s: &mut SyscallStats| {
        s.calls += 1;
        if res < 0 {
            s.errors += 1;
        } else {
            s.bytes += u64::from(res.unsigned_abs());
        }
    });
    0
}
