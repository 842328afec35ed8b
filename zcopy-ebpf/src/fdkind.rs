//! What kind of file an fd is, resolved in the kernel at the syscall's exit
//! (at its entry on the classic way) by following
//! current->files->fdt->fd[fd]->f_inode->i_mode (and f_flags for O_DIRECT).
//! A descriptor another thread closes and reuses during the call is
//! classified by its new file. There is no cache: a per-(process, fd) cache
//! must still read fd[fd] to validate itself (all but the last two reads of
//! the chain), and it could not see a descriptor io_uring closes; the chain
//! up to fdt is BTF-typed loads, not helper calls. The member offsets come
//! from the kernel's BTF, set by the loader (`FD_KINDS` stays 0, and every
//! fd is "unknown", without them).
//! Structs: include/linux/sched.h task_struct.files, fdtable.h
//! files_struct.fdt / fdtable.{max_fds,fd}, fs.h file.{f_inode,f_flags},
//! inode.i_mode.

use aya_ebpf::{
    Global,
    helpers::{bpf_get_current_task_btf, bpf_probe_read_kernel},
};
use zcopy_common::fd_kind;

#[unsafe(no_mangle)]
static FD_KINDS: Global<u8> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_TASK_FILES: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_FILES_FDT: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_FDT_MAX_FDS: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_FDT_FD: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_FILE_INODE: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_FILE_FLAGS: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_INODE_MODE: Global<u32> = Global::new(0);

const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const S_IFREG: u16 = 0o100000;
const S_IFCHR: u16 = 0o020000;
const S_IFIFO: u16 = 0o010000;
const O_DIRECT: u32 = 0o40000;

/// Reads a `T` at `base + offset` in kernel memory.
#[inline(always)]
pub(crate) fn read<T>(base: u64, offset: u32) -> Option<T> {
    // SAFETY: bpf_probe_read_kernel copes with any address.
    unsafe { bpf_probe_read_kernel((base + u64::from(offset)) as *const T).ok() }
}

/// The kind of the current task's file descriptor `fd`.
#[inline(always)]
pub fn of(fd: u64) -> u8 {
    if FD_KINDS.load() == 0 {
        return fd_kind::UNKNOWN;
    }
    resolve(fd).unwrap_or(fd_kind::UNKNOWN)
}

#[inline(always)]
fn resolve(fd: u64) -> Option<u8> {
    of_file(file_of(fd)?)
}

/// Loads a `T` at `base + offset`, where `base` is a kernel pointer the
/// verifier knows the BTF type of (the current task from
/// bpf_get_current_task_btf, or a pointer member loaded from one): a plain
/// load, checked at load time against the kernel's BTF, with no helper call
/// (a fault reads 0). `offset` comes from a read-only global, a constant to
/// the verifier.
///
/// # Safety
/// `base` must be such a pointer and `offset` a member of its type of type `T`.
#[inline(always)]
pub(crate) unsafe fn load<T: Copy>(base: *const u8, offset: u32) -> T {
    // SAFETY: see above; the verifier rejects the program otherwise.
    unsafe { core::ptr::read_volatile(base.wrapping_add(offset as usize).cast::<T>()) }
}

/// The `struct file` of the current task's fd `fd`: task->files->fdt by
/// BTF-typed loads; fdt->fd[fd] and what follows are not BTF-typed (an
/// array of pointers), so they are probe reads.
#[inline(always)]
pub fn file_of(fd: u64) -> Option<u64> {
    if FD_KINDS.load() == 0 {
        return None;
    }
    // SAFETY: the current task, a BTF-typed pointer; members at their BTF offsets.
    let (max, array) = unsafe {
        let task = bpf_get_current_task_btf() as *const u8;
        let files: *const u8 = load(task, OFF_TASK_FILES.load());
        if files.is_null() {
            return None;
        }
        let fdt: *const u8 = load(files, OFF_FILES_FDT.load());
        if fdt.is_null() {
            return None;
        }
        (load::<u32>(fdt, OFF_FDT_MAX_FDS.load()), load::<u64>(fdt, OFF_FDT_FD.load()))
    };
    if fd >= u64::from(max) {
        return None;
    }
    read(array + fd * 8, 0)
}

/// The kind of the `struct file` at `file` (0: none).
#[inline(always)]
pub fn of_file(file: u64) -> Option<u8> {
    if file == 0 || FD_KINDS.load() == 0 {
        return None;
    }
    let inode: u64 = read(file, OFF_FILE_INODE.load())?;
    let mode: u16 = read(inode, OFF_INODE_MODE.load())?;
    let kind = match mode & S_IFMT {
        S_IFREG => {
            let flags: u32 = read(file, OFF_FILE_FLAGS.load())?;
            if flags & O_DIRECT != 0 { fd_kind::REGULAR_DIRECT } else { fd_kind::REGULAR }
        }
        S_IFSOCK => fd_kind::SOCKET,
        S_IFIFO => fd_kind::PIPE,
        S_IFCHR => fd_kind::CHAR_DEVICE,
        _ => fd_kind::OTHER,
    };
    Some(kind)
}
