//! io_uring: per chunk, a read of the file linked (IOSQE_IO_LINK) to a send
//! (or a write for non-socket sinks), or to a zero-copy send (SEND_ZC) whose
//! notification reports whether the kernel copied after all. DEPTH chunks
//! are submitted per io_uring_enter as one linked chain, so they complete in
//! order.

use std::{io, os::fd::AsRawFd};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::{SendStats, Transfer};
use crate::model::ZeroCopyStats;

const DEPTH: usize = 4;
/// Ask SEND_ZC notifications to say whether the data was copied (Linux 6.2+).
const IORING_SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
/// Set in a notification's result when the kernel copied the data.
const IORING_NOTIF_USAGE_ZC_COPIED: u32 = 1 << 31;

pub fn run(t: &Transfer<'_>, zero_copy: bool) -> io::Result<SendStats> {
    let mut ring = IoUring::new(u32::try_from(4 * DEPTH).unwrap_or(16)).map_err(|e| {
        let kind = match e.raw_os_error() {
            Some(libc::ENOSYS | libc::EPERM) => io::ErrorKind::Unsupported,
            _ => e.kind(),
        };
        io::Error::new(kind, format!("io_uring_setup: {e} (kernel without io_uring, or kernel.io_uring_disabled set)"))
    })?;
    let mut bufs: Vec<Vec<u8>> = (0..DEPTH).map(|_| vec![0u8; t.chunk]).collect();
    let src = types::Fd(t.src.as_raw_fd());
    let sink = types::Fd(t.sink.as_raw_fd());
    let socket = t.sink_kind.is_socket();
    let mut zc = ZeroCopyStats::default();
    let mut offset = 0u64;
    while offset < t.size {
        let mut lens = Vec::with_capacity(DEPTH);
        for (i, buf) in bufs.iter_mut().enumerate() {
            if offset >= t.size {
                break;
            }
            let len = t.chunk_at(offset);
            let len32 = u32::try_from(len).map_err(io::Error::other)?;
            let read = opcode::Read::new(src, buf.as_mut_ptr(), len32)
                .offset(offset)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data((2 * i) as u64);
            // The whole batch is one chain: chains run concurrently, and a
            // stream must receive the chunks in file order.
            let last = offset + len as u64 >= t.size || i + 1 == DEPTH;
            let send = if zero_copy {
                zc.sends += 1;
                zc.bytes += len as u64;
                opcode::SendZc::new(sink, buf.as_ptr(), len32)
                    .flags(libc::MSG_WAITALL)
                    .zc_flags(IORING_SEND_ZC_REPORT_USAGE)
                    .build()
            } else if socket {
                opcode::Send::new(sink, buf.as_ptr(), len32).flags(libc::MSG_WAITALL).build()
            } else {
                opcode::Write::new(sink, buf.as_ptr(), len32).offset(u64::MAX).build()
            }
            .user_data((2 * i + 1) as u64);
            let send = if last { send } else { send.flags(squeue::Flags::IO_LINK) };
            // SAFETY: the buffers outlive the operations: we wait for every
            // completion (and notification) before reusing or freeing them.
            unsafe {
                let mut sq = ring.submission();
                sq.push(&read).map_err(io::Error::other)?;
                sq.push(&send).map_err(io::Error::other)?;
            }
            lens.push(len);
            offset += len as u64;
        }
        let mut pending = 2 * lens.len();
        while pending > 0 {
            ring.submit_and_wait(1)?;
            for cqe in ring.completion() {
                let flags = cqe.flags();
                if cqueue::notif(flags) {
                    // A notification carries its send's user_data.
                    let bytes = lens.get((cqe.user_data() / 2) as usize).copied().unwrap_or(0) as u64;
                    zc.completions += 1;
                    zc.completed_bytes += bytes;
                    if (cqe.result() as u32) & IORING_NOTIF_USAGE_ZC_COPIED != 0 {
                        zc.copied += 1;
                        zc.copied_bytes += bytes;
                    }
                    pending -= 1;
                    continue;
                }
                let index = (cqe.user_data() / 2) as usize;
                let expected = lens.get(index).copied().unwrap_or(0);
                let what = if cqe.user_data() % 2 == 0 { "read" } else { "send" };
                if cqe.result() < 0 {
                    return Err(io::Error::from_raw_os_error(-cqe.result()))
                        .map_err(|e| io::Error::new(e.kind(), format!("io_uring {what}: {e}")));
                }
                if cqe.result() as usize != expected {
                    return Err(io::Error::other(format!("io_uring {what}: {} of {expected} bytes", cqe.result())));
                }
                if cqueue::more(flags) {
                    pending += 1; // a notification follows
                }
                pending -= 1;
            }
        }
    }
    if zero_copy {
        zc.retransmitted_bytes = crate::workload::sys::tcp_bytes_retrans(t.sink).unwrap_or(0);
    }
    Ok(SendStats { bytes: offset, zerocopy: zero_copy.then_some(zc) })
}
