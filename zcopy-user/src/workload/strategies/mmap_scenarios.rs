//! The mmap scenarios: they test what the literature says of mmap, not a
//! transfer. Each maps the whole file and touches one byte per page.
//! - touch: read access (MAP_SHARED, read-only); optionally MAP_POPULATE.
//! - shared write: MAP_SHARED read-write, each page's first byte rewritten
//!   with its own value (the file is unchanged, the page is dirty), then
//!   msync(MS_SYNC): the dirty pages must reach the file.
//! - private write: the same with MAP_PRIVATE: copy-on-write, nothing may
//!   reach the file.

use std::{io, os::fd::AsRawFd};

use super::{SendStats, Transfer};

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// What a scenario does to each page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Touch { populate: bool },
    Write { shared: bool },
}

pub fn run(t: &Transfer<'_>, mode: Mode) -> io::Result<SendStats> {
    let len = usize::try_from(t.size).map_err(io::Error::other)?;
    let (prot, flags) = match mode {
        Mode::Touch { populate } => (libc::PROT_READ, libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 }),
        Mode::Write { shared } => {
            (libc::PROT_READ | libc::PROT_WRITE, if shared { libc::MAP_SHARED } else { libc::MAP_PRIVATE })
        }
    };
    // SAFETY: a new mapping of our own file; unmapped below.
    let map = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, t.src.as_raw_fd(), 0) };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = map.cast::<u8>();
    let mut sum = 0u8;
    for offset in (0..len).step_by(page_size()) {
        // SAFETY: offset < len, inside the mapping; writes only where PROT_WRITE.
        unsafe {
            let p = base.add(offset);
            let v = std::ptr::read_volatile(p);
            if matches!(mode, Mode::Write { .. }) {
                std::ptr::write_volatile(p, v);
            }
            sum = sum.wrapping_add(v);
        }
    }
    std::hint::black_box(sum);
    let synced = if matches!(mode, Mode::Write { .. }) {
        // SAFETY: our own mapping.
        check(unsafe { libc::msync(map, len, libc::MS_SYNC) })
    } else {
        Ok(())
    };
    // SAFETY: our own mapping, unmapped once.
    let unmapped = check(unsafe { libc::munmap(map, len) });
    synced?;
    unmapped?;
    Ok(SendStats { bytes: t.size, zerocopy: None })
}

/// The small-files scenarios: each chunk stands for one small file, read
/// whole with one pread(2), or mapped, touched page by page, and unmapped.
pub fn small_files(t: &Transfer<'_>, mmap: bool) -> io::Result<SendStats> {
    let page = page_size();
    if mmap && !t.chunk.is_multiple_of(page) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("small-files-mmap needs a chunk that is a multiple of the page size ({page})"),
        ));
    }
    let mut buf = vec![0u8; t.chunk];
    let mut offset = 0u64;
    let mut sum = 0u8;
    while offset < t.size {
        let len = usize::try_from((t.size - offset).min(t.chunk as u64)).map_err(io::Error::other)?;
        let file_offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        if mmap {
            // SAFETY: a new read-only mapping of our own file, unmapped below.
            let map = unsafe {
                libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, t.src.as_raw_fd(), file_offset)
            };
            if map == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            for p in (0..len).step_by(page) {
                // SAFETY: p < len, inside the mapping.
                sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(map.cast::<u8>().add(p)) });
            }
            // SAFETY: our own mapping, unmapped once.
            check(unsafe { libc::munmap(map, len) })?;
        } else {
            // SAFETY: buf is valid for len bytes.
            let n = unsafe { libc::pread(t.src.as_raw_fd(), buf.as_mut_ptr().cast(), len, file_offset) };
            if n != len as isize {
                return Err(io::Error::last_os_error());
            }
            sum = sum.wrapping_add(buf[0]);
        }
        offset += len as u64;
    }
    std::hint::black_box(sum);
    Ok(SendStats { bytes: offset, zerocopy: None })
}
