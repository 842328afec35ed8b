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

/// ITER_PIPE's value (6.1-6.4: a read into a pipe by splice takes page
/// references, no copy); 0xff where the kernel has no ITER_PIPE.
#[unsafe(no_mangle)]
static ITER_PIPE: Global<u8> = Global::new(0xff);

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
    if kind == ITER_PIPE.load() {
        return;
    }
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

// The copy sites: where the copy routines are not traceable (Debian's 6.1
// and 6.12 build lib/ without ftrace's entry call), the functions that call
// them are. Each returns the bytes it moved through its iov_iter, and the
// iter's type says whether they were copied to or from user memory (a copy),
// between kernel buffers (a copy), or into a pipe by reference (6.1's
// ITER_PIPE: no copy). Sources: mm/filemap.c, mm/shmem.c, fs/pipe.c,
// net/ipv4/tcp.c, net/unix/af_unix.c, net/core/datagram.c (v6.1, v6.12).

/// Offsets in `struct msghdr` of `msg_flags` and of the embedded `msg_iter`.
#[unsafe(no_mangle)]
static OFF_MSGHDR_FLAGS: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_MSGHDR_ITER: Global<u32> = Global::new(0);

/// MSG_ZEROCOPY (pinned pages, copied later only if the kernel must) and
/// MSG_SPLICE_PAGES (6.5+: splice's pages attached by reference).
const MSG_NOT_COPIED: u32 = 0x0400_0000 | 0x0800_0000;

/// A send through a msghdr: counted unless its flags say the pages are not copied.
#[inline(always)]
fn count_send(msg: u64, ret: i64) {
    if ret <= 0 {
        return;
    }
    // SAFETY: bpf_probe_read_kernel copes with any address.
    let flags = unsafe { bpf_probe_read_kernel((msg + u64::from(OFF_MSGHDR_FLAGS.load())) as *const u32) };
    if flags.is_ok_and(|f| f & MSG_NOT_COPIED == 0) {
        count(msg + u64::from(OFF_MSGHDR_ITER.load()), ret as u64, false);
    }
}

/// ssize_t filemap_read(struct kiocb *iocb, struct iov_iter *iter, ssize_t already_read):
/// page cache -> iter; returns already_read plus what it read.
#[fexit(function = "filemap_read")]
pub fn filemap_read_exit(ctx: FExitContext) -> i32 {
    let (already, ret): (i64, i64) = (ctx.arg(2), ctx.arg(3));
    if ret > already.max(0) {
        count(ctx.arg(1), (ret - already.max(0)) as u64, true);
    }
    0
}

/// A `ssize_t f(struct kiocb *, struct iov_iter *)` that moved its return
/// value's bytes through the iter.
#[inline(always)]
fn count_iter_call(ctx: &FExitContext, into_iter: bool) -> i32 {
    let ret: i64 = ctx.arg(2);
    if ret > 0 {
        count(ctx.arg(1), ret as u64, into_iter);
    }
    0
}

/// ssize_t shmem_file_read_iter(struct kiocb *iocb, struct iov_iter *to): tmpfs -> iter.
#[fexit(function = "shmem_file_read_iter")]
pub fn shmem_file_read_iter_exit(ctx: FExitContext) -> i32 {
    count_iter_call(&ctx, true)
}

/// ssize_t generic_perform_write(struct kiocb *iocb, struct iov_iter *i): iter -> page cache.
#[fexit(function = "generic_perform_write")]
pub fn generic_perform_write_exit(ctx: FExitContext) -> i32 {
    count_iter_call(&ctx, false)
}

/// ssize_t pipe_read(struct kiocb *iocb, struct iov_iter *to): pipe buffers -> iter.
#[fexit(function = "pipe_read")]
pub fn pipe_read_exit(ctx: FExitContext) -> i32 {
    count_iter_call(&ctx, true)
}

/// ssize_t pipe_write(struct kiocb *iocb, struct iov_iter *from): iter -> pipe buffers.
#[fexit(function = "pipe_write")]
pub fn pipe_write_exit(ctx: FExitContext) -> i32 {
    count_iter_call(&ctx, false)
}

/// int tcp_sendmsg_locked(struct sock *sk, struct msghdr *msg, size_t size): iter -> skbs.
#[fexit(function = "tcp_sendmsg_locked")]
pub fn tcp_sendmsg_locked_exit(ctx: FExitContext) -> i32 {
    count_send(ctx.arg(1), ctx.arg::<i64>(3) as i32 as i64);
    0
}

/// int unix_stream_sendmsg(struct socket *sock, struct msghdr *msg, size_t len): iter -> skbs.
#[fexit(function = "unix_stream_sendmsg")]
pub fn unix_stream_sendmsg_exit(ctx: FExitContext) -> i32 {
    count_send(ctx.arg(1), ctx.arg::<i64>(3) as i32 as i64);
    0
}

/// int skb_copy_datagram_iter(const struct sk_buff *skb, int offset, struct iov_iter *to, int len):
/// skb -> iter (TCP, UDP and unix receives); 0 on success.
#[fexit(function = "skb_copy_datagram_iter")]
pub fn skb_copy_datagram_iter_exit(ctx: FExitContext) -> i32 {
    let (len, ret): (u64, u64) = (ctx.arg(3), ctx.arg(4));
    if ret as i32 == 0 {
        count(ctx.arg(2), u64::from(len as u32), true);
    }
    0
}

/// int udp_sendmsg(struct sock *sk, struct msghdr *msg, size_t len): iter -> skbs.
#[fexit(function = "udp_sendmsg")]
pub fn udp_sendmsg_exit(ctx: FExitContext) -> i32 {
    count_send(ctx.arg(1), ctx.arg::<i64>(3) as i32 as i64);
    0
}

/// int udpv6_sendmsg(struct sock *sk, struct msghdr *msg, size_t len): iter -> skbs.
#[fexit(function = "udpv6_sendmsg")]
pub fn udpv6_sendmsg_exit(ctx: FExitContext) -> i32 {
    count_send(ctx.arg(1), ctx.arg::<i64>(3) as i32 as i64);
    0
}

/// Offset of `data_len` (the bytes in page fragments) in `struct sk_buff`.
#[unsafe(no_mangle)]
pub(crate) static OFF_SKB_DATA_LEN: Global<u32> = Global::new(0);

/// int skb_copy_ubufs(struct sk_buff *skb, gfp_t gfp_mask): the kernel copying
/// a zero-copy send's pinned user pages after all (e.g. delivering it to a
/// local socket); 0 when it copied them. Charged to the task it runs in (on
/// loopback usually the sender, which delivers in its own softirq).
#[fexit(function = "skb_copy_ubufs")]
pub fn skb_copy_ubufs_exit(ctx: FExitContext) -> i32 {
    let (skb, ret): (u64, u64) = (ctx.arg(0), ctx.arg(2));
    let (tgid, _) = current_ids();
    if ret as i32 != 0 || !is_target(tgid) {
        return 0;
    }
    // SAFETY: bpf_probe_read_kernel copes with any address.
    if let Ok(len) = unsafe { bpf_probe_read_kernel((skb + u64::from(OFF_SKB_DATA_LEN.load())) as *const u32) } {
        upsert(&EVIDENCE, tgid, drop_reason::PROC_MAP_FULL, |e| {
            e.copy_calls += 1;
            e.copy_kernel_bytes += u64::from(len);
        });
    }
    0
}
