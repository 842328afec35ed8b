//! copy_file_range() from the file to another file, one call per chunk.

use std::{io, os::fd::AsFd};

use super::{SendStats, Transfer, unexpected_eof};
use crate::workload::sys;

pub fn run(t: &Transfer<'_>) -> io::Result<SendStats> {
    let mut offset = 0u64;
    while offset < t.size {
        let n = sys::copy_file_range(t.src.as_fd(), t.sink, t.chunk_at(offset))?;
        if n == 0 {
            return Err(unexpected_eof(offset, t.size));
        }
        offset += n as u64;
    }
    Ok(SendStats { bytes: offset, zerocopy: None })
}
