//! What each syscall did with the bytes it moved, from the kinds of its fds
//! (resolved in the kernel at syscall entry), and each io_uring operation,
//! from its opcode and the kind of its file (resolved at completion). These
//! are rules applied to measured calls and bytes, so every flow is
//! inferred. Where fexit or kprobes attach to the kernel's copy routines,
//! the copies are also measured (`data.copied_*_bytes`), and the claims
//! use that figure, showing the rules' beside it.

use std::collections::BTreeMap;

use zcopy_common::{IO_URING_SLOT_BASE, RELAY_SLOT, SyscallStats, fd_kind};

use crate::{
    model::{CopiedAnyway, CopyFlow, CopyKind, Endpoint, How, ZeroCopyLedger, ZeroCopyStats, copies::Via},
    syscalls::{self, UserCopy},
};

/// The endpoint an fd of kind `kind` (zcopy_common::fd_kind) is.
pub fn endpoint(kind: u8) -> Endpoint {
    match kind {
        fd_kind::REGULAR => Endpoint::File,
        fd_kind::REGULAR_DIRECT => Endpoint::FileDirect,
        fd_kind::SOCKET | fd_kind::SOCKET_ZEROCOPY => Endpoint::Socket,
        fd_kind::PIPE => Endpoint::Pipe,
        fd_kind::CHAR_DEVICE => Endpoint::CharDevice,
        fd_kind::OTHER => Endpoint::Other,
        fd_kind::NONE => Endpoint::NoFd,
        _ => Endpoint::Unknown,
    }
}

/// How `syscall` copies between an fd and user memory (see `syscalls::TRACKED`).
fn user_copy(syscall: &str) -> UserCopy {
    syscalls::TRACKED.iter().find(|s| s.name == syscall).map_or(UserCopy::No, |s| s.user_copy)
}

/// The rule for `syscall` moving bytes from an fd of kind `src` to one of
/// kind `dst`; `None` for calls that move no data (mmap maps, it does not copy).
pub fn classify(syscall: &str, src: u8, dst: u8) -> Option<(CopyKind, &'static str)> {
    use CopyKind::*;
    use fd_kind::*;
    let direction = user_copy(syscall);
    Some(if direction == UserCopy::IntoUser {
        match src {
            REGULAR => (CpuKernelToUser, "reading a cached file copies page cache -> user buffer"),
            REGULAR_DIRECT => (DeviceDma, "an O_DIRECT read has the device write into user memory"),
            SOCKET => (CpuKernelToUser, "receiving copies socket buffers -> user buffer"),
            PIPE => (CpuKernelToUser, "reading a pipe copies its buffers -> user buffer"),
            CHAR_DEVICE => (DeviceSpecific, "a character device's driver fills the buffer its own way"),
            _ => (Unclassified, "the fd kind does not tell"),
        }
    } else if direction == UserCopy::FromUser {
        match dst {
            REGULAR => (CpuUserToKernel, "writing a file copies user buffer -> page cache"),
            REGULAR_DIRECT => (DeviceDma, "an O_DIRECT write has the device read user memory"),
            SOCKET => (CpuUserToKernel, "sending copies user buffer -> socket buffers"),
            SOCKET_ZEROCOPY => (
                ZeroCopySend,
                "MSG_ZEROCOPY pins the user pages instead of copying them (with SO_ZEROCOPY set; the kernel's completion reports say if it copied after all)",
            ),
            PIPE => (CpuUserToKernel, "writing a pipe copies user buffer -> pipe buffers"),
            CHAR_DEVICE => {
                (DeviceSpecific, "a character device's driver takes the data its own way (/dev/null discards it)")
            }
            _ => (Unclassified, "the fd kind does not tell"),
        }
    } else {
        match (syscall, dst) {
            ("copy_file_range", _) => {
                (CpuKernelToKernel, "copy_file_range copies in the kernel (unless the filesystem shares extents)")
            }
            ("vmsplice", _) => (ByReference, "vmsplice hands references to user pages to the pipe"),
            ("tee", _) => (ByReference, "tee duplicates pipe buffer references"),
            ("sendfile" | "splice", SOCKET | PIPE) => {
                (ByReference, "splice/sendfile pass page references to a socket or pipe")
            }
            ("sendfile" | "splice", REGULAR) => (CpuKernelToKernel, "splicing into a file copies into its page cache"),
            ("sendfile" | "splice", CHAR_DEVICE) => {
                (DeviceSpecific, "a character device's driver takes the data its own way")
            }
            ("sendfile" | "splice", _) => (Unclassified, "the fd kinds do not tell"),
            _ => return None,
        }
    })
}

/// What an io_uring operation does with its file, for the copy rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IoUringDir {
    /// Reads from the file into user memory (like read(2)).
    Read,
    /// Writes user memory to the file (like write(2)).
    Write,
    /// Sends pinned user pages zero-copy.
    SendZc,
    /// Receives zero-copy into user-registered memory.
    RecvZc,
    /// splice/tee: the request's file is the destination.
    Splice(&'static str),
}

/// io_uring operations that move data, by IORING_OP_* opcode
/// (include/uapi/linux/io_uring.h, `enum io_uring_op`: ABI, numbers never change).
const IO_URING_OPS: &[(u16, &str, IoUringDir)] = {
    use IoUringDir::*;
    &[
        (1, "READV", Read),
        (2, "WRITEV", Write),
        (4, "READ_FIXED", Read),
        (5, "WRITE_FIXED", Write),
        (9, "SENDMSG", Write),
        (10, "RECVMSG", Read),
        (22, "READ", Read),
        (23, "WRITE", Write),
        (26, "SEND", Write),
        (27, "RECV", Read),
        (30, "SPLICE", Splice("splice")),
        (33, "TEE", Splice("tee")),
        (47, "SEND_ZC", SendZc),
        (48, "SENDMSG_ZC", SendZc),
        (49, "READ_MULTISHOT", Read),
        (58, "RECV_ZC", RecvZc),
        (60, "READV_FIXED", Read),
        (61, "WRITEV_FIXED", Write),
    ]
};

/// The name zcopy shows for an io_uring operation ("io_uring READ").
pub fn io_uring_op_name(opcode: u16) -> String {
    match IO_URING_OPS.iter().find(|(op, _, _)| *op == opcode) {
        Some((_, name, _)) => format!("io_uring {name}"),
        None => format!("io_uring op {opcode}"),
    }
}

/// (syscall-like name, from, to, kind, rule) of an io_uring completion flow
/// whose request file is of kind `file`.
fn classify_io_uring(opcode: u16, file: u8) -> Option<(String, Endpoint, Endpoint, CopyKind, &'static str)> {
    let &(_, _, dir) = IO_URING_OPS.iter().find(|(op, _, _)| *op == opcode)?;
    let name = io_uring_op_name(opcode);
    let user = Endpoint::UserMemory;
    let kind = endpoint(file);
    Some(match dir {
        IoUringDir::Read => {
            let (k, rule) = classify("read", file, fd_kind::NONE)?;
            (name, kind, user, k, rule)
        }
        IoUringDir::Write => {
            let (k, rule) = classify("write", fd_kind::NONE, file)?;
            (name, user, kind, k, rule)
        }
        IoUringDir::SendZc => (
            name,
            user,
            kind,
            CopyKind::ZeroCopySend,
            "a zero-copy send pins the user pages and hands them to the socket (the completion says if it copied)",
        ),
        IoUringDir::RecvZc => {
            (name, kind, user, CopyKind::DeviceDma, "a zero-copy receive has the NIC write into user-registered memory")
        }
        IoUringDir::Splice(call) => {
            let (k, rule) = classify(call, fd_kind::UNKNOWN, file)?;
            (name, Endpoint::SpliceInput, kind, k, rule)
        }
    })
}

/// Classifies per-flow counters (summed over processes), biggest first.
/// Syscall flows come from raw_syscalls; io_uring flows (slots from
/// `IO_URING_SLOT_BASE`) from io_uring:io_uring_complete, one per completion.
pub fn flows(raw: &BTreeMap<(u32, u8, u8), SyscallStats>) -> Vec<CopyFlow> {
    let base = u32::from(IO_URING_SLOT_BASE);
    let mut out: Vec<CopyFlow> = raw
        .iter()
        .filter_map(|(&(slot, src, dst), s)| {
            if s.bytes == 0 || slot == u32::from(RELAY_SLOT) {
                return None;
            }
            if slot >= base {
                let opcode = u16::try_from(slot - base).ok()?;
                let (syscall, from, to, kind, rule) = classify_io_uring(opcode, src)?;
                return Some(CopyFlow {
                    kind,
                    syscall,
                    via: Via::IoUring,
                    from,
                    to,
                    calls: s.calls,
                    bytes: s.bytes,
                    how: How::Inferred,
                    rule: rule.into(),
                });
            }
            let sc = syscalls::by_slot(slot)?;
            if sc.bytes != syscalls::Bytes::Returned {
                return None;
            }
            let (kind, rule) = classify(sc.name, src, dst)?;
            Some(CopyFlow {
                kind,
                syscall: sc.name.to_owned(),
                via: Via::Syscall,
                from: if sc.src_fd.is_some() { endpoint(src) } else { Endpoint::UserMemory },
                to: if sc.dst_fd.is_some() { endpoint(dst) } else { Endpoint::UserMemory },
                calls: s.calls,
                bytes: s.bytes,
                how: How::Inferred,
                rule: rule.into(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.syscall.cmp(&b.syscall)));
    out
}

/// Splits the zero-copy sends carried `via` (any, for `None`) by what the kernel says became
/// of them: `copied` of their bytes were copied after all (a CPU copy of the
/// pinned pages, labelled `how` with `source`); the rest stay zero-copy.
/// Flows keep their order; calls are shared in proportion to the bytes.
pub fn split_zero_copy(flows: &mut Vec<CopyFlow>, via: Option<Via>, copied: u64, how: How, source: &str) {
    let mut left = copied;
    let mut out = Vec::with_capacity(flows.len() + 1);
    for f in flows.drain(..) {
        if f.kind != CopyKind::ZeroCopySend || via.is_some_and(|v| v != f.via) || left == 0 || f.bytes == 0 {
            out.push(f);
            continue;
        }
        let part = left.min(f.bytes);
        left -= part;
        let calls = (u128::from(f.calls) * u128::from(part) / u128::from(f.bytes)) as u64;
        let copied_flow = CopyFlow {
            kind: CopyKind::ZeroCopyCopied,
            calls,
            bytes: part,
            how,
            rule: format!("the kernel copied these pinned pages after all ({source})"),
            ..f.clone()
        };
        let rest = CopyFlow { calls: f.calls - calls, bytes: f.bytes - part, ..f };
        out.extend([copied_flow, rest].into_iter().filter(|f| f.bytes > 0));
    }
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.syscall.cmp(&b.syscall)));
    *flows = out;
}

/// Applies a worker's own zero-copy completion reports to its flows.
pub fn split_reported(flows: &mut Vec<CopyFlow>, zc: ZeroCopyStats) {
    let via = flows.iter().find(|f| f.kind == CopyKind::ZeroCopySend).map_or(Via::Syscall, |f| f.via);
    split_zero_copy(flows, Some(via), zc.copied_bytes, How::Reported, ZeroCopyStats::SOURCE);
}

/// Bytes passed on from a source kind to a sink kind by the threads that
/// read them (the kernel's relay counters, `RELAY_SLOT`), summed over processes.
pub fn passed_on(raw: &BTreeMap<(u32, u8, u8), SyscallStats>) -> BTreeMap<(Endpoint, Endpoint), u64> {
    let mut out = BTreeMap::new();
    for (&(slot, src, dst), s) in raw {
        if slot == u32::from(RELAY_SLOT) {
            *out.entry((endpoint(src).base(), endpoint(dst).base())).or_default() += s.bytes;
        }
    }
    out
}

/// The zero-copy ledger of `flows` (already split by what became of the
/// zero-copy sends), given the copies seen for them (`None`: not measured).
pub fn ledger(flows: &[CopyFlow], copied: Option<Vec<CopiedAnyway>>) -> Option<ZeroCopyLedger> {
    let mut asked: BTreeMap<String, u64> = BTreeMap::new();
    for f in flows
        .iter()
        .filter(|f| matches!(f.kind, CopyKind::ZeroCopySend | CopyKind::ZeroCopyCopied | CopyKind::ByReference))
    {
        *asked.entry(f.syscall.clone()).or_default() += f.bytes;
    }
    let asked_bytes: u64 = asked.values().sum();
    if asked_bytes == 0 {
        return None;
    }
    let copied_anyway_bytes = copied.as_ref().map(|c| c.iter().map(|c| c.bytes).sum::<u64>());
    Some(ZeroCopyLedger {
        asked,
        asked_bytes,
        copied_anyway_bytes,
        copied_anyway: copied.unwrap_or_default().into_iter().filter(|c| c.bytes > 0).collect(),
        without_copy_bytes: copied_anyway_bytes.map(|c| asked_bytes.saturating_sub(c)),
    })
}

/// Bytes per copy kind.
pub fn totals(flows: &[CopyFlow]) -> BTreeMap<CopyKind, u64> {
    let mut out = BTreeMap::new();
    for f in flows {
        *out.entry(f.kind).or_default() += f.bytes;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_fd_kinds() {
        use fd_kind::*;
        assert_eq!(classify("read", REGULAR, NONE).map(|c| c.0), Some(CopyKind::CpuKernelToUser));
        assert_eq!(classify("read", REGULAR_DIRECT, NONE).map(|c| c.0), Some(CopyKind::DeviceDma));
        assert_eq!(classify("write", NONE, SOCKET).map(|c| c.0), Some(CopyKind::CpuUserToKernel));
        assert_eq!(classify("sendto", NONE, SOCKET_ZEROCOPY).map(|c| c.0), Some(CopyKind::ZeroCopySend));
        assert_eq!(classify("write", NONE, CHAR_DEVICE).map(|c| c.0), Some(CopyKind::DeviceSpecific));
        assert_eq!(classify("sendfile", REGULAR, SOCKET).map(|c| c.0), Some(CopyKind::ByReference));
        assert_eq!(classify("sendfile", REGULAR, REGULAR).map(|c| c.0), Some(CopyKind::CpuKernelToKernel));
        assert_eq!(classify("copy_file_range", REGULAR, REGULAR).map(|c| c.0), Some(CopyKind::CpuKernelToKernel));
        assert_eq!(classify("mmap", REGULAR, NONE), None, "mapping is not copying");
        assert_eq!(classify("read", UNKNOWN, NONE).map(|c| c.0), Some(CopyKind::Unclassified));
    }

    #[test]
    fn flows_sum_by_kind_and_say_inferred() {
        let read = syscalls::TRACKED.iter().position(|s| s.name == "read").unwrap() as u32;
        let write = syscalls::TRACKED.iter().position(|s| s.name == "write").unwrap() as u32;
        let mut raw = BTreeMap::new();
        raw.insert((read, fd_kind::REGULAR, fd_kind::NONE), SyscallStats { calls: 2, bytes: 8192, errors: 0 });
        raw.insert((write, fd_kind::NONE, fd_kind::PIPE), SyscallStats { calls: 2, bytes: 8192, errors: 0 });
        let f = flows(&raw);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.how == How::Inferred));
        assert_eq!(
            f.iter().find(|f| f.syscall == "read").map(|f| (f.from, f.to)),
            Some((Endpoint::File, Endpoint::UserMemory))
        );
        let t = totals(&f);
        assert_eq!(t[&CopyKind::CpuKernelToUser], 8192);
        assert_eq!(t[&CopyKind::CpuUserToKernel], 8192);
    }

    #[test]
    fn io_uring_completions_follow_their_opcode_and_file_kind() {
        let slot = |op: u16| u32::from(IO_URING_SLOT_BASE + op);
        let stats = SyscallStats { calls: 4, bytes: 4096, errors: 0 };
        let mut raw = BTreeMap::new();
        raw.insert((slot(22), fd_kind::REGULAR, fd_kind::NONE), stats);
        raw.insert((slot(26), fd_kind::SOCKET, fd_kind::NONE), stats);
        raw.insert((slot(47), fd_kind::SOCKET, fd_kind::NONE), stats);
        raw.insert((slot(30), fd_kind::PIPE, fd_kind::NONE), stats);
        raw.insert((slot(3), fd_kind::REGULAR, fd_kind::NONE), stats); // FSYNC moves no data
        let f = flows(&raw);
        let find = |name: &str| f.iter().find(|f| f.syscall == name).map(|f| (f.from, f.to, f.kind));
        assert_eq!(find("io_uring READ"), Some((Endpoint::File, Endpoint::UserMemory, CopyKind::CpuKernelToUser)));
        assert_eq!(find("io_uring SEND"), Some((Endpoint::UserMemory, Endpoint::Socket, CopyKind::CpuUserToKernel)));
        assert_eq!(find("io_uring SEND_ZC"), Some((Endpoint::UserMemory, Endpoint::Socket, CopyKind::ZeroCopySend)));
        assert_eq!(find("io_uring SPLICE"), Some((Endpoint::SpliceInput, Endpoint::Pipe, CopyKind::ByReference)));
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn zero_copy_sends_reported_copied_become_cpu_copies() {
        let slot = |op: u16| u32::from(IO_URING_SLOT_BASE + op);
        let sendto = syscalls::TRACKED.iter().position(|s| s.name == "sendto").unwrap() as u32;
        let mut raw = BTreeMap::new();
        raw.insert(
            (sendto, fd_kind::NONE, fd_kind::SOCKET_ZEROCOPY),
            SyscallStats { calls: 8, bytes: 8000, errors: 0 },
        );
        raw.insert((slot(47), fd_kind::SOCKET, fd_kind::NONE), SyscallStats { calls: 2, bytes: 2000, errors: 0 });
        let mut f = flows(&raw);
        split_zero_copy(&mut f, Some(Via::Syscall), 6000, How::Reported, "SO_EE_CODE_ZEROCOPY_COPIED");
        let t = totals(&f);
        assert_eq!(t[&CopyKind::ZeroCopyCopied], 6000);
        assert_eq!(t[&CopyKind::ZeroCopySend], 2000 + 2000, "the io_uring sends were not reported on");
        let copied = f.iter().find(|f| f.kind == CopyKind::ZeroCopyCopied).unwrap();
        assert_eq!((copied.calls, copied.how, copied.syscall.as_str()), (6, How::Reported, "sendto"));
        assert!(copied.kind.is_cpu_copy() && copied.rule.contains("SO_EE_CODE_ZEROCOPY_COPIED"));
        // All of them copied: no zero-copy flow is left for sendto.
        split_zero_copy(&mut f, Some(Via::Syscall), u64::MAX, How::Reported, "x");
        assert!(!f.iter().any(|f| f.kind == CopyKind::ZeroCopySend && f.via == Via::Syscall));
        assert_eq!(totals(&f)[&CopyKind::ZeroCopyCopied], 8000);
    }

    #[test]
    fn the_ledger_says_what_was_asked_and_what_became_of_it() {
        let sendto = syscalls::TRACKED.iter().position(|s| s.name == "sendto").unwrap() as u32;
        let sendfile = syscalls::TRACKED.iter().position(|s| s.name == "sendfile").unwrap() as u32;
        let mut raw = BTreeMap::new();
        raw.insert(
            (sendto, fd_kind::NONE, fd_kind::SOCKET_ZEROCOPY),
            SyscallStats { calls: 4, bytes: 4000, errors: 0 },
        );
        raw.insert((sendfile, fd_kind::REGULAR, fd_kind::SOCKET), SyscallStats { calls: 1, bytes: 1000, errors: 0 });
        let mut f = flows(&raw);
        split_zero_copy(&mut f, None, 3000, How::Measured, "probes");
        let seen = vec![
            CopiedAnyway { why: crate::model::CopiedWhy::ReceivedLocally, bytes: 3000, how: How::Measured },
            CopiedAnyway { why: crate::model::CopiedWhy::NoScatterGather, bytes: 0, how: How::Measured },
        ];
        let l = ledger(&f, Some(seen)).unwrap();
        assert_eq!((l.asked_bytes, l.asked["sendto"], l.asked["sendfile"]), (5000, 4000, 1000));
        assert_eq!((l.copied_anyway_bytes, l.without_copy_bytes), (Some(3000), Some(2000)));
        assert_eq!(l.copied_anyway.len(), 1, "reasons with no bytes are left out");
        // Not watched: the copies are not known, and neither is the rest.
        let l = ledger(&f, None).unwrap();
        assert_eq!((l.copied_anyway_bytes, l.without_copy_bytes), (None, None));
        // Nothing asked: no ledger.
        assert!(ledger(&[], None).is_none());
    }
}
