//! splice() file -> pipe, then pipe -> sink (SPLICE_F_MOVE), with the pipe
//! sized to hold a chunk. A pipe sink is spliced into directly.

use std::{
    io,
    os::fd::{AsRawFd, OwnedFd},
};

use super::{SendStats, Transfer, unexpected_eof};
use crate::{model::SinkKind, workload::sys};

pub fn run(t: &Transfer<'_>) -> io::Result<SendStats> {
    let src = t.src.as_raw_fd();
    let sink = t.sink.as_raw_fd();
    let flags = libc::SPLICE_F_MOVE;
    let mut offset = 0u64;
    if t.sink_kind == SinkKind::Pipe {
        while offset < t.size {
            let n = sys::splice(src, sink, t.chunk_at(offset), flags)?;
            if n == 0 {
                return Err(unexpected_eof(offset, t.size));
            }
            offset += n as u64;
        }
        return Ok(SendStats { bytes: offset, zerocopy: None });
    }
    let (pipe_r, pipe_w) = pipe_of_size(t.chunk)?;
    while offset < t.size {
        let n = sys::splice(src, pipe_w.as_raw_fd(), t.chunk_at(offset), flags)?;
        if n == 0 {
            return Err(unexpected_eof(offset, t.size));
        }
        let mut left = n;
        while left > 0 {
            let m = sys::splice(pipe_r.as_raw_fd(), sink, left, flags)?;
            if m == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "sink accepted no bytes"));
            }
            left -= m;
        }
        offset += n as u64;
    }
    Ok(SendStats { bytes: offset, zerocopy: None })
}

/// A pipe that holds at least `size` bytes (F_SETPIPE_SZ; capped by
/// /proc/sys/fs/pipe-max-size for unprivileged users).
fn pipe_of_size(size: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = sys::pipe()?;
    let want = libc::c_int::try_from(size.max(4096)).map_err(io::Error::other)?;
    // SAFETY: fcntl on our own pipe.
    if unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, want) } < 0 {
        return Err(io::Error::other(format!("F_SETPIPE_SZ {size}: {}", io::Error::last_os_error())));
    }
    Ok((r, w))
}
