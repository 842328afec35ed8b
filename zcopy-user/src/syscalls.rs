//! The syscalls zcopy counts one by one, with their numbers on this
//! architecture and what their "bytes" mean.

use zcopy_common::{
    MAX_SLOTS, MAX_SYSCALL_NR, SLOT_BYTES_FROM_LEN_ARG, SLOT_CHILD_RETURNS_ZERO, SLOT_DST_FD_SHIFT,
    SLOT_MSG_FLAGS_SHIFT, SLOT_NEVER_RETURNS, SLOT_READS_INTO_USER, SLOT_SRC_FD_SHIFT, SLOT_TRACKED,
    SLOT_WRITES_FROM_USER, SlotConfig,
};

/// What the `bytes` of a syscall count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bytes {
    /// The return value of successful calls (bytes transferred).
    Returned,
    /// The length argument of successful calls (bytes mapped, unmapped, synced, advised).
    LengthArg,
    /// The return value is not a byte count (messages, submissions): none reported.
    None,
}

/// A tracked syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    /// Name as `strace` prints it.
    pub name: &'static str,
    /// Number on this architecture.
    pub nr: i64,
    /// Meaning of the bytes column.
    pub bytes: Bytes,
    /// Index of the argument that is the fd data comes from, if any.
    pub src_fd: Option<u8>,
    /// Index of the argument that is the fd data goes to, if any.
    pub dst_fd: Option<u8>,
    /// Whether the call copies between its fd and the caller's buffers.
    pub user_copy: UserCopy,
}

/// Which way a call copies between an fd and user memory, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserCopy {
    /// read(2) and friends: source fd -> user buffer.
    IntoUser,
    /// write(2) and friends: user buffer -> destination fd.
    FromUser,
    /// Maps, splices, gifts pages, or carries no byte count.
    No,
}

const fn sc(name: &'static str, nr: i64, bytes: Bytes) -> Syscall {
    Syscall { name, nr, bytes, src_fd: None, dst_fd: None, user_copy: UserCopy::No }
}

/// Data comes from the fd in argument 0 (read and friends).
const fn from_fd0(name: &'static str, nr: i64, bytes: Bytes) -> Syscall {
    let user_copy = if matches!(bytes, Bytes::Returned) { UserCopy::IntoUser } else { UserCopy::No };
    Syscall { name, nr, bytes, src_fd: Some(0), dst_fd: None, user_copy }
}

/// Data goes to the fd in argument 0 (write and friends).
const fn to_fd0(name: &'static str, nr: i64, bytes: Bytes) -> Syscall {
    let user_copy = if matches!(bytes, Bytes::Returned) { UserCopy::FromUser } else { UserCopy::No };
    Syscall { name, nr, bytes, src_fd: None, dst_fd: Some(0), user_copy }
}

/// Data goes from the fd in argument `src` to the fd in argument `dst`.
const fn fd_to_fd(name: &'static str, nr: i64, src: u8, dst: u8) -> Syscall {
    Syscall { name, nr, bytes: Bytes::Returned, src_fd: Some(src), dst_fd: Some(dst), user_copy: UserCopy::No }
}

/// Every tracked syscall; its index is its slot in the kernel maps.
pub const TRACKED: &[Syscall] = &[
    from_fd0("read", libc::SYS_read, Bytes::Returned),
    to_fd0("write", libc::SYS_write, Bytes::Returned),
    from_fd0("pread64", libc::SYS_pread64, Bytes::Returned),
    to_fd0("pwrite64", libc::SYS_pwrite64, Bytes::Returned),
    from_fd0("readv", libc::SYS_readv, Bytes::Returned),
    to_fd0("writev", libc::SYS_writev, Bytes::Returned),
    from_fd0("preadv", libc::SYS_preadv, Bytes::Returned),
    to_fd0("pwritev", libc::SYS_pwritev, Bytes::Returned),
    from_fd0("preadv2", libc::SYS_preadv2, Bytes::Returned),
    to_fd0("pwritev2", libc::SYS_pwritev2, Bytes::Returned),
    Syscall {
        name: "mmap",
        nr: libc::SYS_mmap,
        bytes: Bytes::LengthArg,
        src_fd: Some(4),
        dst_fd: None,
        user_copy: UserCopy::No,
    },
    sc("munmap", libc::SYS_munmap, Bytes::LengthArg),
    sc("msync", libc::SYS_msync, Bytes::LengthArg),
    sc("madvise", libc::SYS_madvise, Bytes::LengthArg),
    fd_to_fd("sendfile", libc::SYS_sendfile, 1, 0),
    fd_to_fd("splice", libc::SYS_splice, 0, 2),
    // Hands the pipe references to user pages: no copy from user memory.
    Syscall {
        name: "vmsplice",
        nr: libc::SYS_vmsplice,
        bytes: Bytes::Returned,
        src_fd: None,
        dst_fd: Some(0),
        user_copy: UserCopy::No,
    },
    fd_to_fd("tee", libc::SYS_tee, 0, 1),
    fd_to_fd("copy_file_range", libc::SYS_copy_file_range, 0, 2),
    to_fd0("sendto", libc::SYS_sendto, Bytes::Returned),
    from_fd0("recvfrom", libc::SYS_recvfrom, Bytes::Returned),
    to_fd0("sendmsg", libc::SYS_sendmsg, Bytes::Returned),
    from_fd0("recvmsg", libc::SYS_recvmsg, Bytes::Returned),
    to_fd0("sendmmsg", libc::SYS_sendmmsg, Bytes::None),
    from_fd0("recvmmsg", libc::SYS_recvmmsg, Bytes::None),
    sc("io_uring_enter", libc::SYS_io_uring_enter, Bytes::None),
];

/// The syscall of a slot.
pub fn by_slot(slot: u32) -> Option<&'static Syscall> {
    TRACKED.get(usize::try_from(slot).ok()?)
}

/// The index of a send's `flags` argument (where MSG_ZEROCOPY goes).
fn msg_flags_arg(name: &str) -> Option<u8> {
    match name {
        "sendto" => Some(3),
        "sendmsg" => Some(2),
        _ => None,
    }
}

/// Untracked syscalls whose exits need telling apart, where calls are
/// counted at their exit: those that never return (counted when their
/// thread exits) and those whose new task returns too (not counted twice).
const EXIT_RULES: &[(i64, u32)] = &[
    (libc::SYS_exit, SLOT_NEVER_RETURNS),
    (libc::SYS_exit_group, SLOT_NEVER_RETURNS),
    (libc::SYS_clone, SLOT_CHILD_RETURNS_ZERO),
    (libc::SYS_clone3, SLOT_CHILD_RETURNS_ZERO),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_fork, SLOT_CHILD_RETURNS_ZERO),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_vfork, SLOT_CHILD_RETURNS_ZERO),
];

/// The `SLOTS` table entries the loader writes: (syscall number, config),
/// the tracked syscalls' and the exit rules'.
pub fn slot_table() -> impl Iterator<Item = (u32, SlotConfig)> {
    let rules = EXIT_RULES.iter().filter_map(|&(nr, flags)| {
        let nr = u32::try_from(nr).ok().filter(|nr| *nr < MAX_SYSCALL_NR)?;
        Some((nr, SlotConfig { slot: 0, flags }))
    });
    tracked_slots().chain(rules)
}

fn tracked_slots() -> impl Iterator<Item = (u32, SlotConfig)> {
    TRACKED.iter().zip(0u32..).filter_map(|(sc, slot)| {
        let nr = u32::try_from(sc.nr).ok().filter(|nr| *nr < MAX_SYSCALL_NR)?;
        let fd = |arg: Option<u8>, shift: u32| arg.map_or(0, |i| (u32::from(i) + 1) << shift);
        let flags = SLOT_TRACKED
            | if sc.bytes == Bytes::LengthArg { SLOT_BYTES_FROM_LEN_ARG } else { 0 }
            | fd(sc.src_fd, SLOT_SRC_FD_SHIFT)
            | fd(sc.dst_fd, SLOT_DST_FD_SHIFT)
            | fd(msg_flags_arg(sc.name), SLOT_MSG_FLAGS_SHIFT)
            | match sc.user_copy {
                UserCopy::IntoUser => SLOT_READS_INTO_USER,
                UserCopy::FromUser => SLOT_WRITES_FROM_USER,
                UserCopy::No => 0,
            };
        Some((nr, SlotConfig { slot, flags }))
    })
}

const _: () = assert!(TRACKED.len() <= MAX_SLOTS as usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_gets_a_distinct_number_and_slot() {
        let table: Vec<_> = tracked_slots().collect();
        assert_eq!(table.len(), TRACKED.len());
        let all: Vec<u32> = slot_table().map(|(nr, _)| nr).collect();
        assert_eq!(all.len(), TRACKED.len() + EXIT_RULES.len(), "an exit rule for a tracked syscall");
        assert!(all.iter().all(|nr| all.iter().filter(|n| *n == nr).count() == 1));
        let mut nrs: Vec<u32> = table.iter().map(|(nr, _)| *nr).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), TRACKED.len());
        for (i, (_, config)) in table.iter().enumerate() {
            assert_eq!(config.slot as usize, i);
            assert_eq!(by_slot(config.slot).map(|s| s.nr), Some(TRACKED[i].nr));
        }
    }

    #[test]
    fn mapping_syscalls_count_their_length_argument() {
        let flags = |name: &str| {
            let slot = TRACKED.iter().position(|s| s.name == name).unwrap();
            tracked_slots().nth(slot).unwrap().1.flags
        };
        assert_ne!(flags("mmap") & SLOT_BYTES_FROM_LEN_ARG, 0);
        assert_eq!(flags("read") & SLOT_BYTES_FROM_LEN_ARG, 0);
    }
}
