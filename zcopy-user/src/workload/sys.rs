//! Thin, checked wrappers over the syscalls the strategies make. Each makes
//! exactly one syscall per call, so the counts zcopy measures are the counts
//! the strategy's design implies.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

fn check(rc: isize) -> io::Result<usize> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc as usize) }
}

fn check_int(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of its length.
    check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// One write(2) of `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes.
pub unsafe fn write_raw(fd: BorrowedFd<'_>, ptr: *const u8, len: usize) -> io::Result<usize> {
    // SAFETY: guaranteed by the caller.
    check(unsafe { libc::write(fd.as_raw_fd(), ptr.cast(), len) })
}

pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for reads of its length.
    unsafe { write_raw(fd, buf.as_ptr(), buf.len()) }
}

/// Writes all of `buf` (one write per call unless the sink takes less).
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "sink accepted no bytes")),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn sendfile(out: BorrowedFd<'_>, input: BorrowedFd<'_>, count: usize) -> io::Result<usize> {
    // SAFETY: null offset means "use and advance the file position".
    check(unsafe { libc::sendfile(out.as_raw_fd(), input.as_raw_fd(), std::ptr::null_mut(), count) })
}

pub fn splice(input: RawFd, output: RawFd, len: usize, flags: libc::c_uint) -> io::Result<usize> {
    // SAFETY: null offsets use the file positions.
    check(unsafe { libc::splice(input, std::ptr::null_mut(), output, std::ptr::null_mut(), len, flags) })
}

pub fn copy_file_range(input: BorrowedFd<'_>, output: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets use the file positions.
    check(unsafe {
        libc::copy_file_range(input.as_raw_fd(), std::ptr::null_mut(), output.as_raw_fd(), std::ptr::null_mut(), len, 0)
    } as isize)
}

pub fn send(fd: BorrowedFd<'_>, ptr: *const u8, len: usize, flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: callers pass memory valid for `len` bytes (a mapping or buffer they own).
    check(unsafe { libc::send(fd.as_raw_fd(), ptr.cast(), len, flags) })
}

pub fn setsockopt_int(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: passing a pointer to a local int and its size.
    check_int(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
}

/// Bytes a TCP socket has retransmitted (TCP_INFO tcpi_bytes_retrans,
/// Linux 4.19+); `None` for other sockets or older kernels.
pub fn tcp_bytes_retrans(fd: BorrowedFd<'_>) -> Option<u64> {
    /// Offset of tcpi_bytes_retrans in struct tcp_info (include/uapi/linux/tcp.h).
    const BYTES_RETRANS: usize = 208;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: a buffer and its length; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &raw mut len)
    };
    let bytes = info.get(BYTES_RETRANS..BYTES_RETRANS + 8)?;
    (rc == 0 && len as usize >= BYTES_RETRANS + 8).then(|| u64::from_ne_bytes(bytes.try_into().unwrap_or_default()))
}

/// A pipe (read end, write end), close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A read-only shared mapping of a file, unmapped on drop.
pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    pub fn new(fd: BorrowedFd<'_>, len: usize, populate: bool) -> io::Result<Self> {
        let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
        // SAFETY: a new mapping; the kernel validates fd and length.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, flags, fd.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { ptr, len })
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.cast()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unmaps now, reporting an error (drop ignores it).
    pub fn unmap(self) -> io::Result<()> {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: our own mapping, unmapped once.
        check_int(unsafe { libc::munmap(me.ptr, me.len) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// A page-aligned heap buffer (for O_DIRECT).
pub struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    pub fn new(len: usize, align: usize) -> io::Result<Self> {
        let layout = std::alloc::Layout::from_size_align(len.max(1), align).map_err(io::Error::other)?;
        // SAFETY: layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "allocating the O_DIRECT buffer"));
        }
        Ok(Self { ptr, len, layout })
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: we own ptr..ptr+len.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Monotonic clock in nanoseconds (vDSO: no syscall).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// What getrusage(RUSAGE_SELF) says of this process so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub user_us: u64,
    pub sys_us: u64,
}

impl Usage {
    pub fn now() -> Self {
        // SAFETY: zeroed rusage is valid for getrusage to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
        let us = |tv: libc::timeval| (tv.tv_sec as u64) * 1_000_000 + tv.tv_usec as u64;
        Self { user_us: us(usage.ru_utime), sys_us: us(usage.ru_stime) }
    }
}
