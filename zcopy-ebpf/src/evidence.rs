//! Evidence of where data went, charged to the process whose task caused it
//! (each of these fires in that task's context), plus machine-wide device
//! transmits (a loopback transmit can run in another task's softirq, so it
//! cannot be charged to a process).
//!
//! Formats (include/trace/events/{skb,block,filemap,net}.h,
//! https://github.com/torvalds/linux/blob/v6.18/include/trace/events/):
//! - skb:skb_copy_datagram_iovec: `int len` @16 (bytes copied to user memory)
//! - block:block_bio_queue: `unsigned int nr_sector` @24, `char rwbs[10]` @28
//! - filemap:mm_filemap_add_to_page_cache: `unsigned char order` @36
//! - net:net_dev_xmit: `unsigned int len` @16, `int rc` @20, `__data_loc char[] name` @24

use aya_ebpf::{
    EbpfContext, Global,
    helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use zcopy_common::{Evidence, drop_reason, netdev};

use crate::{EVIDENCE, NETDEV, current_ids, field, is_target, upsert};

/// log2 of the page size, set by the loader.
#[unsafe(no_mangle)]
static PAGE_SHIFT: Global<u32> = Global::new(12);

const SECTOR_SHIFT: u64 = 9;

#[inline(always)]
fn count(update: impl FnOnce(&mut Evidence)) -> u32 {
    let (tgid, _) = current_ids();
    if is_target(tgid) {
        upsert(&EVIDENCE, tgid, drop_reason::PROC_MAP_FULL, update);
    }
    0
}

/// skb:skb_copy_datagram_iovec: the receive path copying packet data into
/// the caller's buffer (tcp_recvmsg, unix sockets). UDP copies a linear skb
/// with copy_linear_skb, which does not pass through this tracepoint.
#[tracepoint(category = "skb", name = "skb_copy_datagram_iovec")]
pub fn skb_copy_datagram_iovec(ctx: TracePointContext) -> u32 {
    // SAFETY: offset from the format.
    count_recv(unsafe { field(&ctx, 16) })
}

/// One receive copy of `len` bytes into the current task's memory.
#[inline(always)]
fn count_recv(len: i32) -> u32 {
    count(|e| {
        e.recv_copy_bytes += u64::from(len.max(0).unsigned_abs());
        e.recv_copy_calls += 1;
    })
}

/// skb_copy_datagram_iovec as a raw tracepoint: TP_PROTO(const struct
/// sk_buff *skb, int len).
#[raw_tracepoint(tracepoint = "skb_copy_datagram_iovec")]
pub fn skb_copy_datagram_iovec_raw(ctx: RawTracePointContext) -> i32 {
    count_recv(ctx.arg::<u64>(1) as i32);
    0
}

/// Offsets in `struct bio` of `bi_opf` and of `bi_iter.bi_size`, from the
/// kernel's BTF.
#[unsafe(no_mangle)]
static OFF_BIO_OPF: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_BIO_SIZE: Global<u32> = Global::new(0);

/// REQ_OP_MASK and the two operations counted (include/linux/blk_types.h).
const REQ_OP_MASK: u32 = 0xff;
const REQ_OP_READ: u32 = 0;
const REQ_OP_WRITE: u32 = 1;

/// block_bio_queue as a raw tracepoint: TP_PROTO(struct bio *bio) (5.11+);
/// the bytes are bio->bi_iter.bi_size, the operation bio->bi_opf &
/// REQ_OP_MASK (what the classic record's nr_sector and rwbs come from).
#[raw_tracepoint(tracepoint = "block_bio_queue")]
pub fn block_bio_queue_raw(ctx: RawTracePointContext) -> i32 {
    let (tgid, _) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    match bio(ctx.arg(0)) {
        Some(Bio::Read(bytes)) => count(|e| e.block_read_bytes += bytes),
        Some(Bio::Write(bytes)) => count(|e| e.block_write_bytes += bytes),
        None => 0,
    };
    0
}

/// A bio's operation and size, in whole sectors (as the classic record's
/// nr_sector counts them); other operations (discard, flush) are None.
pub(crate) enum Bio {
    Read(u64),
    Write(u64),
}

/// Reads `bio->bi_opf` and `bio->bi_iter.bi_size` (offsets from BTF).
#[inline(always)]
pub(crate) fn bio(bio: *const u8) -> Option<Bio> {
    // SAFETY: reads of the kernel's bio through the probe-read helper.
    let (opf, size) = unsafe {
        (
            bpf_probe_read_kernel(bio.wrapping_add(OFF_BIO_OPF.load() as usize).cast::<u32>()).ok()?,
            bpf_probe_read_kernel(bio.wrapping_add(OFF_BIO_SIZE.load() as usize).cast::<u32>()).ok()?,
        )
    };
    let bytes = u64::from(size) >> SECTOR_SHIFT << SECTOR_SHIFT;
    match opf & REQ_OP_MASK {
        REQ_OP_READ => Some(Bio::Read(bytes)),
        REQ_OP_WRITE => Some(Bio::Write(bytes)),
        _ => None,
    }
}

/// block:block_bio_queue: a bio submitted by the current task.
#[tracepoint(category = "block", name = "block_bio_queue")]
pub fn block_bio_queue(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets from the format.
    let (sectors, rwbs): (u32, [u8; 4]) = unsafe { (field(&ctx, 24), field(&ctx, 28)) };
    let bytes = u64::from(sectors) << SECTOR_SHIFT;
    // rwbs: optional F (flush) first, then R / W / D (discard) / N.
    let op = if rwbs[0] == b'F' { rwbs[1] } else { rwbs[0] };
    count(|e| match op {
        b'R' => e.block_read_bytes += bytes,
        b'W' => e.block_write_bytes += bytes,
        _ => {}
    })
}

/// filemap:mm_filemap_add_to_page_cache: a folio of 2^order pages inserted.
#[tracepoint(category = "filemap", name = "mm_filemap_add_to_page_cache")]
pub fn mm_filemap_add_to_page_cache(ctx: TracePointContext) -> u32 {
    let bytes = page_cache_folio_bytes(&ctx);
    count(|e| {
        e.pagecache_added_bytes += bytes;
        e.pagecache_added_folios += 1;
    })
}

/// The bytes of the folio an mm_filemap_add_to_page_cache record inserted.
#[inline(always)]
pub(crate) fn page_cache_folio_bytes(ctx: &TracePointContext) -> u64 {
    // SAFETY: offset from the format.
    let order: u8 = unsafe { field(ctx, 36) };
    1u64 << (PAGE_SHIFT.load() + u32::from(order & 31)).min(63)
}

/// Offset of `name` in `struct net_device`, from the kernel's BTF (set by the
/// loader; 0 means unknown, and the loader uses the classic tracepoint).
#[unsafe(no_mangle)]
pub(crate) static NETDEV_NAME_OFFSET: Global<u32> = Global::new(0);

/// net:net_dev_xmit as a raw tracepoint, preferred: raw tracepoint programs
/// have a per-program recursion guard, so a transmit in a softirq that
/// interrupts one of zcopy's syscall programs is still counted (the classic
/// tracepoint below is skipped then, and the kernel counts a miss).
/// TP_PROTO(struct sk_buff *skb, int rc, struct net_device *dev, unsigned int skb_len)
#[raw_tracepoint(tracepoint = "net_dev_xmit")]
pub fn net_dev_xmit_raw(ctx: RawTracePointContext) -> i32 {
    let rc: i64 = ctx.arg(1);
    let dev: *const u8 = ctx.arg(2);
    let len: u64 = ctx.arg(3);
    if rc as i32 != 0 || dev.is_null() {
        return 0;
    }
    let mut name: netdev::Name = [0; 16];
    // SAFETY: reading at most IFNAMSIZ bytes of dev->name (offset from BTF).
    let _ = unsafe { bpf_probe_read_kernel_str_bytes(dev.wrapping_add(NETDEV_NAME_OFFSET.load() as usize), &mut name) };
    count_transmit(&name, len as u32);
    0
}

/// net:net_dev_xmit (classic tracepoint): machine-wide, by device name.
#[tracepoint(category = "net", name = "net_dev_xmit")]
pub fn net_dev_xmit(ctx: TracePointContext) -> u32 {
    // SAFETY: offsets from the format.
    let (len, rc, loc): (u32, i32, u32) = unsafe { (field(&ctx, 16), field(&ctx, 20), field(&ctx, 24)) };
    if rc != 0 {
        return 0;
    }
    // __data_loc: low 16 bits offset of the string in the record.
    let mut name: netdev::Name = [0; 16];
    let offset = (loc & 0xffff) as usize;
    // SAFETY: reading at most IFNAMSIZ bytes of the record's device name.
    let _ = unsafe { bpf_probe_read_kernel_str_bytes(ctx.as_ptr().cast::<u8>().add(offset), &mut name) };
    count_transmit(&name, len);
    0
}

#[inline(always)]
fn count_transmit(name: &netdev::Name, len: u32) {
    upsert(&NETDEV, *name, drop_reason::NETDEV_MAP_FULL, |tx| {
        tx.bytes += u64::from(len);
        tx.packets += 1;
    });
}
