//! read() into a user buffer, write() it to the sink: per chunk, one read and
//! (when the sink takes it all, as files, pipes and blocking sockets do) one write.

use std::{io, os::fd::AsFd};

use super::{SendStats, Transfer, unexpected_eof};
use crate::workload::sys;

pub fn run(t: &Transfer<'_>) -> io::Result<SendStats> {
    let mut buf = vec![0u8; t.chunk];
    let mut offset = 0u64;
    while offset < t.size {
        let want = t.chunk_at(offset);
        let n = sys::read(t.src.as_fd(), &mut buf[..want])?;
        if n == 0 {
            return Err(unexpected_eof(offset, t.size));
        }
        sys::write_all(t.sink, &buf[..n])?;
        offset += n as u64;
    }
    Ok(SendStats { bytes: offset, zerocopy: None })
}
