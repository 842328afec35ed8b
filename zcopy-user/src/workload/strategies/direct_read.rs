//! read() with O_DIRECT into a page-aligned buffer (the device DMAs straight
//! into user memory, bypassing the page cache), then write() it.
//! The worker opens the source with O_DIRECT; chunks must be multiples of 4 KiB.

use std::{io, os::fd::AsFd};

use super::{SendStats, Transfer, unexpected_eof};
use crate::workload::sys;

/// Alignment O_DIRECT needs for buffer, offset and length on common devices.
pub const DIRECT_ALIGN: usize = 4096;

pub fn run(t: &Transfer<'_>) -> io::Result<SendStats> {
    if !t.chunk.is_multiple_of(DIRECT_ALIGN) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("direct-read needs a chunk that is a multiple of {DIRECT_ALIGN}"),
        ));
    }
    let mut buf = sys::AlignedBuf::new(t.chunk, DIRECT_ALIGN)?;
    let mut offset = 0u64;
    while offset < t.size {
        // Ask for a whole chunk: O_DIRECT lengths must stay aligned; the
        // last read returns what is left.
        let n = sys::read(t.src.as_fd(), buf.as_mut_slice())?;
        if n == 0 {
            return Err(unexpected_eof(offset, t.size));
        }
        sys::write_all(t.sink, &buf.as_mut_slice()[..n])?;
        offset += n as u64;
    }
    Ok(SendStats { bytes: offset, zerocopy: None })
}
