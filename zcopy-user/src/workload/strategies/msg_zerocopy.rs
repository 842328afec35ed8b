//! send(MSG_ZEROCOPY) from a mapping of the file (so the pages stay put until
//! the kernel is done with them), with SO_ZEROCOPY set. Completions come back
//! on the socket's error queue (recvmsg MSG_ERRQUEUE); each says whether the
//! kernel sent the pages or had to copy them after all
//! (SO_EE_CODE_ZEROCOPY_COPIED, e.g. on loopback, where the receiver would
//! otherwise hold the sender's pages). See Documentation/networking/msg_zerocopy.rst.
//! The error queue is read only when the kernel pushes back (ENOBUFS) and at
//! the end, so the extra recvmsg calls are the fewest this API allows.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use super::{SendStats, Transfer};
use crate::model::ZeroCopyStats;
use crate::workload::sys;

const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

pub fn run(t: &Transfer<'_>) -> io::Result<SendStats> {
    sys::setsockopt_int(t.sink, libc::SOL_SOCKET, libc::SO_ZEROCOPY, 1)
        .map_err(|e| io::Error::new(e.kind(), format!("setting SO_ZEROCOPY: {e}")))?;
    let len = usize::try_from(t.size).map_err(io::Error::other)?;
    let map = sys::Mapping::new(t.src.as_fd(), len, false)?;
    let mut zc = Ledger::default();
    let mut offset = 0usize;
    while offset < len {
        let want = t.chunk_at(offset as u64);
        // SAFETY (of the pointer): inside the mapping, which outlives every send.
        match sys::send(t.sink, map.as_ptr().wrapping_add(offset), want, libc::MSG_ZEROCOPY) {
            Ok(n) => {
                zc.sent(n);
                offset += n;
            }
            // Too much pinned memory outstanding: wait for completions.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => drain(t.sink, &mut zc, true)?,
            Err(e) => return Err(e),
        }
    }
    while zc.stats.completions < zc.stats.sends {
        drain(t.sink, &mut zc, true)?;
    }
    map.unmap()?;
    zc.stats.retransmitted_bytes = sys::tcp_bytes_retrans(t.sink).unwrap_or(0);
    Ok(SendStats { bytes: offset as u64, zerocopy: Some(zc.stats) })
}

/// The sends' sizes by id, to turn the kernel's completion ranges into bytes.
/// A fresh socket numbers its zero-copy sends 0, 1, 2, ... (sk_zckey): one id
/// per send that returned bytes.
#[derive(Default)]
struct Ledger {
    stats: ZeroCopyStats,
    sizes: Vec<u64>,
}

impl Ledger {
    fn sent(&mut self, n: usize) {
        self.stats.sends += 1;
        self.stats.bytes += n as u64;
        self.sizes.push(n as u64);
    }

    /// Sends `lo..=hi` completed; `copied`: the kernel copied them.
    fn completed(&mut self, lo: u32, hi: u32, copied: bool) {
        let n = u64::from(hi.wrapping_sub(lo)) + 1;
        let bytes: u64 = (0..n).filter_map(|i| self.sizes.get(usize::try_from(u64::from(lo) + i).ok()?)).sum();
        self.stats.completions += n;
        self.stats.completed_bytes += bytes;
        if copied {
            self.stats.copied += n;
            self.stats.copied_bytes += bytes;
        }
    }
}

/// Reads zero-copy completions from the error queue; `wait` blocks for one.
fn drain(fd: BorrowedFd<'_>, zc: &mut Ledger, wait: bool) -> io::Result<()> {
    if wait {
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: 0, revents: 0 };
        // SAFETY: one valid pollfd; POLLERR is always reported.
        if unsafe { libc::poll(&raw mut pfd, 1, -1) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    loop {
        let mut control = [0u64; 16];
        // SAFETY: zeroed msghdr is valid; we set the control buffer.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        // SAFETY: msg points to valid buffers.
        let rc = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::WouldBlock { Ok(()) } else { Err(err) };
        }
        // SAFETY: walking the control messages recvmsg filled in.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            while !cmsg.is_null() {
                let err = libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>().read_unaligned();
                if err.ee_origin == SO_EE_ORIGIN_ZEROCOPY && err.ee_errno == 0 {
                    // ee_info..=ee_data: the range of send calls completed.
                    zc.completed(err.ee_info, err.ee_data, err.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0);
                }
                cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
            }
        }
        if wait {
            return Ok(());
        }
    }
}
