//! What became of zero-copy sends (MSG_ZEROCOPY, io_uring SEND_ZC): the
//! kernel pins the sender's pages and hands them to the packet as frags; if
//! the packet is then received by this host's own stack (loopback, a veth
//! into a container), the receive path copies those pages
//! (skb_orphan_frags_rx -> skb_copy_ubufs), and a device without
//! scatter-gather needs them copied too. Measured here per sending process:
//!
//! 1. A traced process's sockets are registered (`ZC_SOCKS`: struct sock ->
//!    tgid) at a MSG_ZEROCOPY send (where the syscall program sees it: its
//!    entry on the classic way, its exit on the raw way, and at the first
//!    packet it transmits itself), and when io_uring looks up a request's
//!    file (io_uring:io_uring_file_get).
//! 2. net:net_dev_start_xmit (the skb is still the sender's, skb->sk set):
//!    an skb whose skb_shared_info flags have SKBFL_ZEROCOPY_ENABLE and whose
//!    socket is registered registers its ubuf_info (`ZC_UARGS`: ubuf_info ->
//!    tgid); on a device without NETIF_F_SG its paged bytes count as copied.
//! 3. net:netif_receive_skb (the receive path, before delivery copies the
//!    frags; skb->sk is gone by then, the ubuf_info is not): a zero-copy skb
//!    whose ubuf_info is registered counts its paged bytes (skb->data_len)
//!    as copied by the receiving stack.
//!
//! Offsets come from the kernel's BTF, set by the loader (0: unknown, and the
//! loader does not attach these programs). skb->end is an offset from
//! skb->head on 64-bit kernels (NET_SKBUFF_DATA_USES_OFFSET).

use aya_ebpf::{
    Global,
    macros::{map, raw_tracepoint},
    maps::LruHashMap,
    programs::RawTracePointContext,
};
use zcopy_common::{Evidence, drop_reason};

use crate::{
    EVIDENCE, current_ids,
    fdkind::{self, read},
    is_target, upsert,
};

#[unsafe(no_mangle)]
static OFF_FILE_PRIVATE_DATA: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SOCKET_SK: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SKB_SK: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SKB_HEAD: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SKB_END: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SHINFO_FLAGS: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SHINFO_DESTRUCTOR_ARG: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_NETDEV_FEATURES: Global<u32> = Global::new(0);

/// SKBFL_ZEROCOPY_ENABLE (include/linux/skbuff.h): the skb's frags are
/// pinned user pages with a completion (ubuf_info) to report.
const SKBFL_ZEROCOPY_ENABLE: u8 = 1;
/// NETIF_F_SG (include/linux/netdev_features.h: NETIF_F_SG_BIT is 0).
const NETIF_F_SG: u64 = 1;

/// Whether the device `dev` lacks scatter-gather (its zero-copy frags are
/// copied into a linear buffer before transmit).
#[inline(always)]
pub(crate) fn lacks_sg(dev: u64) -> bool {
    read::<u64>(dev, OFF_NETDEV_FEATURES.load()).unwrap_or(NETIF_F_SG) & NETIF_F_SG == 0
}

/// The socket of an skb (0: none).
#[inline(always)]
pub(crate) fn skb_sock(skb: u64) -> u64 {
    read::<u64>(skb, OFF_SKB_SK.load()).unwrap_or(0)
}

/// Traced processes' sockets: struct sock pointer -> tgid.
#[map]
static ZC_SOCKS: LruHashMap<u64, u32> = LruHashMap::with_max_entries(16_384, 0);

/// Zero-copy completions in flight from traced processes: ubuf_info pointer -> tgid.
#[map]
static ZC_UARGS: LruHashMap<u64, u32> = LruHashMap::with_max_entries(65_536, 0);

/// The struct sock behind `file` (a struct file of a socket).
#[inline(always)]
fn sock_of_file(file: u64) -> Option<u64> {
    if OFF_SOCKET_SK.load() == 0 || file == 0 {
        return None;
    }
    let socket = read::<u64>(file, OFF_FILE_PRIVATE_DATA.load())?;
    read::<u64>(socket, OFF_SOCKET_SK.load()).filter(|sk| *sk != 0)
}

/// Registers the socket behind `file` (a struct file of a socket) as `tgid`'s.
#[inline(always)]
pub fn register_file(tgid: u32, file: u64) {
    if let Some(sk) = sock_of_file(file) {
        let _ = ZC_SOCKS.insert(&sk, &tgid, 0);
    }
}

/// The target whose MSG_ZEROCOPY send on socket `sk` the current task is
/// inside of, registering the socket: where calls are counted at their exit,
/// a socket is registered there, after its first send's packets went out
/// in the send itself.
#[inline(always)]
fn sender_in_call(sk: u64) -> Option<u32> {
    let (tgid, _) = current_ids();
    if sk == 0 || !is_target(tgid) {
        return None;
    }
    let fd = crate::syscalls::current_zero_copy_send_fd()?;
    (sock_of_file(fdkind::file_of(fd)?)? == sk).then(|| {
        let _ = ZC_SOCKS.insert(&sk, &tgid, 0);
        tgid
    })
}

/// Registers the socket of the current task's fd `fd` as `tgid`'s.
#[inline(always)]
pub fn register_fd(tgid: u32, fd: u64) {
    if let Some(file) = fdkind::file_of(fd) {
        register_file(tgid, file);
    }
}

/// (ubuf_info, paged bytes) of a zero-copy skb. Most packets have no paged
/// bytes (ACKs, small linear sends): one read rules them out.
#[inline(always)]
pub(crate) fn zero_copy_frags(skb: u64) -> Option<(u64, u64)> {
    let paged: u32 = read(skb, crate::copies::OFF_SKB_DATA_LEN.load())?;
    if paged == 0 {
        return None;
    }
    let head: u64 = read(skb, OFF_SKB_HEAD.load())?;
    let end: u32 = read(skb, OFF_SKB_END.load())?;
    let shinfo = head + u64::from(end);
    let flags: u8 = read(shinfo, OFF_SHINFO_FLAGS.load())?;
    if flags & SKBFL_ZEROCOPY_ENABLE == 0 {
        return None;
    }
    let uarg: u64 = read(shinfo, OFF_SHINFO_DESTRUCTOR_ARG.load())?;
    (uarg != 0).then_some((uarg, u64::from(paged)))
}

/// net_dev_start_xmit: TP_PROTO(const struct sk_buff *skb, const struct net_device *dev).
#[raw_tracepoint(tracepoint = "net_dev_start_xmit")]
pub fn zc_start_xmit(ctx: RawTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let dev: u64 = ctx.arg(1);
    let Some((uarg, paged)) = zero_copy_frags(skb) else {
        return 0;
    };
    let sk = skb_sock(skb);
    // SAFETY: a map value, read once.
    let Some(tgid) = (unsafe { ZC_SOCKS.get(&sk) }).copied().or_else(|| sender_in_call(sk)) else {
        return 0;
    };
    let _ = ZC_UARGS.insert(&uarg, &tgid, 0);
    if lacks_sg(dev) {
        upsert(&EVIDENCE, tgid, drop_reason::PROC_MAP_FULL, |e: &mut Evidence| e.zc_copied_no_sg_bytes += paged);
    }
    0
}

/// netif_receive_skb: TP_PROTO(struct sk_buff *skb); the receive path of
/// this host's stack, which copies a zero-copy skb's frags before delivery.
#[raw_tracepoint(tracepoint = "netif_receive_skb")]
pub fn zc_netif_receive_skb(ctx: RawTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let Some((uarg, paged)) = zero_copy_frags(skb) else {
        return 0;
    };
    // SAFETY: a map value, read once.
    if let Some(tgid) = (unsafe { ZC_UARGS.get(&uarg) }).copied() {
        upsert(&EVIDENCE, tgid, drop_reason::PROC_MAP_FULL, |e: &mut Evidence| e.zc_copied_received_bytes += paged);
    }
    0
}

/// io_uring_file_get: TP_PROTO(struct io_kiocb *req, int fd), where io_uring
/// looks up a request's file, in the task issuing it (a thread of its process).
#[raw_tracepoint(tracepoint = "io_uring_file_get")]
pub fn zc_io_uring_file_get(ctx: RawTracePointContext) -> i32 {
    let (tgid, _) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    let fd: i64 = ctx.arg(1);
    // The fd is resolved once: its file gives both the kind and the socket.
    if let Some(file) = u64::try_from(fd as i32).ok().and_then(fdkind::file_of)
        && fdkind::of_file(file) == Some(zcopy_common::fd_kind::SOCKET)
    {
        register_file(tgid, file);
    }
    0
}
