//! mmap() the whole file once (MAP_SHARED, read-only, optionally
//! MAP_POPULATE), write() each chunk from the mapping, munmap().

use std::{io, os::fd::AsFd};

use super::{SendStats, Transfer};
use crate::workload::sys;

pub fn run(t: &Transfer<'_>, populate: bool) -> io::Result<SendStats> {
    let len = usize::try_from(t.size).map_err(io::Error::other)?;
    let map = sys::Mapping::new(t.src.as_fd(), len, populate)?;
    let mut offset = 0usize;
    while offset < map.len() {
        let want = t.chunk_at(offset as u64);
        // SAFETY: offset + want <= len, inside the mapping.
        let n = unsafe { sys::write_raw(t.sink, map.as_ptr().add(offset), want)? };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "sink accepted no bytes"));
        }
        offset += n;
    }
    map.unmap()?;
    Ok(SendStats { bytes: offset as u64, zerocopy: None })
}
