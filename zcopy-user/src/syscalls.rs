//! The syscalls zcopy counts one by one, with their numbers on this
//! architecture and what their "bytes" mean.

use zcopy_common::{MAX_SLOTS, MAX_SYSCALL_NR, SLOT_BYTES_FROM_LEN_ARG, SLOT_TRACKED, SlotConfig};

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
}

const fn sc(name: &'static str, nr: i64, bytes: Bytes) -> Syscall {
    Syscall { name, nr, bytes }
}

/// Every tracked syscall; its index is its slot in the kernel maps.
pub const TRACKED: &[Syscall] = &[
    sc("read", libc::SYS_read, Bytes::Returned),
    sc("write", libc::SYS_write, Bytes::Returned),
    sc("pread64", libc::SYS_pread64, Bytes::Returned),
    sc("pwrite64", libc::SYS_pwrite64, Bytes::Returned),
    sc("readv", libc::SYS_readv, Bytes::Returned),
    sc("writev", libc::SYS_writev, Bytes::Returned),
    sc("preadv", libc::SYS_preadv, Bytes::Returned),
    sc("pwritev", libc::SYS_pwritev, Bytes::Returned),
    sc("preadv2", libc::SYS_preadv2, Bytes::Returned),
    sc("pwritev2", libc::SYS_pwritev2, Bytes::Returned),
    sc("mmap", libc::SYS_mmap, Bytes::LengthArg),
    sc("munmap", libc::SYS_munmap, Bytes::LengthArg),
    sc("msync", libc::SYS_msync, Bytes::LengthArg),
    sc("madvise", libc::SYS_madvise, Bytes::LengthArg),
    sc("sendfile", libc::SYS_sendfile, Bytes::Returned),
    sc("splice", libc::SYS_splice, Bytes::Returned),
    sc("vmsplice", libc::SYS_vmsplice, Bytes::Returned),
    sc("tee", libc::SYS_tee, Bytes::Returned),
    sc("copy_file_range", libc::SYS_copy_file_range, Bytes::Returned),
    sc("sendto", libc::SYS_sendto, Bytes::Returned),
    sc("recvfrom", libc::SYS_recvfrom, Bytes::Returned),
    sc("sendmsg", libc::SYS_sendmsg, Bytes::Returned),
    sc("recvmsg", libc::SYS_recvmsg, Bytes::Returned),
    sc("sendmmsg", libc::SYS_sendmmsg, Bytes::None),
    sc("recvmmsg", libc::SYS_recvmmsg, Bytes::None),
    sc("io_uring_enter", libc::SYS_io_uring_enter, Bytes::None),
];

/// The syscall of a slot.
pub fn by_slot(slot: u32) -> Option<&'static Syscall> {
    TRACKED.get(usize::try_from(slot).ok()?)
}

/// The `SLOTS` table entries the loader writes: (syscall number, config).
pub fn slot_table() -> impl Iterator<Item = (u32, SlotConfig)> {
    TRACKED.iter().zip(0u32..).filter_map(|(sc, slot)| {
        let nr = u32::try_from(sc.nr).ok().filter(|nr| *nr < MAX_SYSCALL_NR)?;
        let flags = SLOT_TRACKED | if sc.bytes == Bytes::LengthArg { SLOT_BYTES_FROM_LEN_ARG } else { 0 };
        Some((nr, SlotConfig { slot, flags }))
    })
}

const _: () = assert!(TRACKED.len() <= MAX_SLOTS as usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_gets_a_distinct_number_and_slot() {
        let table: Vec<_> = slot_table().collect();
        assert_eq!(table.len(), TRACKED.len());
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
            slot_table().nth(slot).unwrap().1.flags
        };
        assert_ne!(flags("mmap") & SLOT_BYTES_FROM_LEN_ARG, 0);
        assert_eq!(flags("read") & SLOT_BYTES_FROM_LEN_ARG, 0);
    }
}
