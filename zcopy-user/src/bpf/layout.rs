//! What zcopy's programs need to know about the running kernel, read once
//! before loading them: struct member offsets from BTF and tracepoint
//! formats, as plain data (so the decisions are testable without a kernel).

use super::btf::StructOffsets;
use crate::probes::{plan, table::Requires};

/// Where the kernel's BTF is.
pub const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// current->files->fdt->fd[fd]->f_inode->i_mode, f_flags: the eBPF globals
/// and the (struct, member) each is read from. All or nothing.
pub const FD_OFFSETS: [(&str, &str, &str); 7] = [
    ("OFF_TASK_FILES", "task_struct", "files"),
    ("OFF_FILES_FDT", "files_struct", "fdt"),
    ("OFF_FDT_MAX_FDS", "fdtable", "max_fds"),
    ("OFF_FDT_FD", "fdtable", "fd"),
    ("OFF_FILE_INODE", "file", "f_inode"),
    ("OFF_FILE_FLAGS", "file", "f_flags"),
    ("OFF_INODE_MODE", "inode", "i_mode"),
];

/// What the zero-copy programs read: a socket file's struct sock, an skb's
/// socket, head and end (the skb_shared_info is at head + end on 64-bit
/// kernels), its shared info's flags and ubuf_info, a device's features.
/// All or nothing (with sk_buff.data_len and the fd offsets).
pub const ZERO_COPY_OFFSETS: [(&str, &str, &str); 8] = [
    ("OFF_FILE_PRIVATE_DATA", "file", "private_data"),
    ("OFF_SOCKET_SK", "socket", "sk"),
    ("OFF_SKB_SK", "sk_buff", "sk"),
    ("OFF_SKB_HEAD", "sk_buff", "head"),
    ("OFF_SKB_END", "sk_buff", "end"),
    ("OFF_SHINFO_FLAGS", "skb_shared_info", "flags"),
    ("OFF_SHINFO_DESTRUCTOR_ARG", "skb_shared_info", "destructor_arg"),
    ("OFF_NETDEV_FEATURES", "net_device", "features"),
];

/// What `zcopy agent` reads to charge a packet to its socket's cgroup
/// (skb->sk->sk_cgrp_data.cgroup->kn->id) and to size it (skb->len):
/// (global, offset). All or nothing.
fn socket_cgroup_offsets(b: &StructOffsets) -> Option<Vec<(&'static str, u32)>> {
    Some(vec![
        ("OFF_SK_CGROUP", b.offset("sock", "sk_cgrp_data")? + b.offset("sock_cgroup_data", "cgroup")?),
        ("OFF_CGROUP_KN", b.offset("cgroup", "kn")?),
        ("OFF_KERNFS_ID", b.offset("kernfs_node", "id")?),
        ("OFF_SKB_LEN", b.offset("sk_buff", "len")?),
    ])
}

/// `iov_iter.iter_type` and which of its values are user memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterType {
    pub offset: u32,
    pub ubuf: u8,
    pub iovec: u8,
}

/// `struct pt_regs` members holding syscall arguments 0-4 and the syscall
/// number, by the eBPF globals they set (x86-64's names: elsewhere BTF has
/// none of them and the classic tracepoints are used).
pub const PT_REGS: [(&str, &str); 6] = [
    ("OFF_REGS_ARG0", "di"),
    ("OFF_REGS_ARG1", "si"),
    ("OFF_REGS_ARG2", "dx"),
    ("OFF_REGS_ARG3", "r10"),
    ("OFF_REGS_ARG4", "r8"),
    ("OFF_REGS_ORIG_AX", "orig_ax"),
];

/// The kernel facts the loader sets as globals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelLayout {
    /// (global, offset) for each of [`FD_OFFSETS`], if all are known.
    pub fd_offsets: Option<Vec<(&'static str, u32)>>,
    /// io_kiocb.opcode and .file (the latter in an anonymous union).
    pub io_kiocb: Option<(u32, u32)>,
    pub netdev_name: Option<u32>,
    pub iter_type: Option<IterType>,
    /// (global, offset) for each of [`ZERO_COPY_OFFSETS`], if all are known.
    pub zero_copy: Option<Vec<(&'static str, u32)>>,
    /// (global, offset) for [`socket_cgroup_offsets`], if all are known.
    pub socket_cgroup: Option<Vec<(&'static str, u32)>>,
    /// (global, offset) for each of [`PT_REGS`], if all are known.
    pub pt_regs: Option<Vec<(&'static str, u32)>>,
    /// task_struct.pid.
    pub task_pid: Option<u32>,
    /// bio.bi_opf, and bio.bi_iter.bi_size.
    pub bio: Option<(u32, u32)>,
    /// msghdr.msg_flags and msghdr.msg_iter.
    pub msghdr: Option<(u32, u32)>,
    /// sk_buff.data_len.
    pub skb_data_len: Option<u32>,
    /// ITER_PIPE's value, where the kernel has it (6.1-6.4).
    pub iter_pipe: Option<u8>,
    /// (major, minor) of the running kernel.
    pub version: Option<(u32, u32)>,
    /// The kernel's HZ, where its configuration says (the relay clock).
    pub hz: Option<u32>,
    /// sched_process_exit has `bool group_dead` at offset 32 (6.16+).
    pub exit_group_dead: bool,
    pub page_shift: u32,
    /// Why the kernel's BTF could not be read, if it could not.
    pub btf_error: Option<String>,
}

impl KernelLayout {
    /// Reads this kernel's BTF (once; the bytes are returned for aya, which
    /// parses them only if a program needs BTF at load) and tracepoint formats.
    pub fn read() -> (Self, Option<Vec<u8>>) {
        let release = crate::system::machine::kernel_release().ok();
        let version = release.as_deref().and_then(crate::system::machine::parse_version);
        let exit_format = crate::system::mounts::tracepoint_format("sched", "sched_process_exit");
        // SAFETY: sysconf has no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let bytes = std::fs::read(BTF_PATH).map_err(|e| format!("reading {BTF_PATH}: {e}"));
        let parsed = bytes
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|b| StructOffsets::parse(b).map_err(|e| format!("parsing {BTF_PATH}: {e}")));
        let mut layout = Self::from_btf(parsed.as_ref().ok(), exit_format.as_deref(), page_size);
        layout.btf_error = parsed.err();
        layout.version = version;
        layout.hz = release.as_deref().and_then(crate::system::machine::kernel_hz);
        // Without tracefs (no format to read), the release says: group_dead
        // became sched_process_exit's second argument in 6.16.
        if exit_format.is_none() {
            layout.exit_group_dead = version.is_some_and(|v| v >= (6, 16));
        }
        (layout, bytes.ok())
    }

    /// The layout given parsed BTF (if any), the sched_process_exit format
    /// (if tracefs has it) and the page size.
    pub fn from_btf(btf: Option<&StructOffsets>, exit_format: Option<&str>, page_size: i64) -> Self {
        let fd_offsets =
            FD_OFFSETS.into_iter().map(|(global, ty, member)| Some((global, btf?.offset(ty, member)?))).collect();
        let iter_type = btf.and_then(|b| {
            Some(IterType {
                offset: b.offset("iov_iter", "iter_type")?,
                ubuf: u8::try_from(b.enum_value("ITER_UBUF")?).ok()?,
                iovec: u8::try_from(b.enum_value("ITER_IOVEC")?).ok()?,
            })
        });
        let zero_copy = ZERO_COPY_OFFSETS
            .into_iter()
            .map(|(global, ty, member)| Some((global, btf?.offset(ty, member)?)))
            .collect();
        let pt_regs =
            PT_REGS.into_iter().map(|(global, member)| Some((global, btf?.offset("pt_regs", member)?))).collect();
        let bio = btf.and_then(|b| {
            Some((b.offset("bio", "bi_opf")?, b.offset("bio", "bi_iter")? + b.offset("bvec_iter", "bi_size")?))
        });
        Self {
            socket_cgroup: btf.and_then(socket_cgroup_offsets),
            msghdr: btf.and_then(|b| Some((b.offset("msghdr", "msg_flags")?, b.offset("msghdr", "msg_iter")?))),
            iter_pipe: btf.and_then(|b| u8::try_from(b.enum_value("ITER_PIPE")?).ok()),
            skb_data_len: btf.and_then(|b| b.offset("sk_buff", "data_len")),
            pt_regs,
            zero_copy,
            task_pid: btf.and_then(|b| b.offset("task_struct", "pid")),
            bio,
            version: None,
            hz: None,
            fd_offsets,
            io_kiocb: btf.and_then(|b| Some((b.offset("io_kiocb", "opcode")?, b.offset("io_kiocb", "file")?))),
            netdev_name: btf.and_then(|b| b.offset("net_device", "name")),
            iter_type,
            exit_group_dead: exit_format.is_some_and(|f| f.contains("bool group_dead;\toffset:32;")),
            page_shift: u64::try_from(page_size).map_or(12, u64::trailing_zeros),
            btf_error: None,
        }
    }

    /// Whether the layout a way needs is known.
    pub fn has(&self, requires: Requires) -> bool {
        match requires {
            Requires::NetDeviceName => self.netdev_name.is_some(),
            Requires::IovIterType => self.iter_type.is_some(),
            Requires::PtRegs => self.pt_regs.is_some(),
            Requires::TaskPid => self.task_pid.is_some(),
            Requires::Bio => self.bio.is_some(),
            Requires::CopySites => self.iter_type.is_some() && self.msghdr.is_some() && self.skb_data_len.is_some(),
            Requires::ZeroCopySkb => {
                self.zero_copy.is_some()
                    && self.skb_data_len.is_some()
                    && self.fd_offsets.is_some()
                    && self.pt_regs.is_some()
            }
            Requires::SocketCgroup => {
                self.has(Requires::ZeroCopySkb) && self.socket_cgroup.is_some() && self.netdev_name.is_some()
            }
            // prev_state became sched_switch's fourth argument in 5.18.
            Requires::SchedSwitchPrevState => self.version.is_some_and(|v| v >= (5, 18)),
        }
    }

    /// The facts coverage depends on.
    pub fn plan(&self) -> plan::Layout {
        plan::Layout { fd_kinds: self.fd_offsets.is_some(), io_kiocb: self.io_kiocb.is_some() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_btf_nothing_is_known_but_the_page_size() {
        let l = KernelLayout::from_btf(None, None, 4096);
        assert_eq!((l.fd_offsets.clone(), l.iter_type, l.netdev_name, l.page_shift), (None, None, None, 12));
        assert!(!l.has(Requires::NetDeviceName) && !l.plan().fd_kinds && !l.has(Requires::PtRegs));
        assert!(!l.has(Requires::SchedSwitchPrevState), "unknown version: the classic tracepoint");
        let new = KernelLayout { version: Some((5, 18)), ..l.clone() };
        let old = KernelLayout { version: Some((5, 17)), ..l };
        assert!(new.has(Requires::SchedSwitchPrevState) && !old.has(Requires::SchedSwitchPrevState));
    }

    #[test]
    fn group_dead_is_read_from_the_exit_format() {
        let format =
            "\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:bool group_dead;\toffset:32;\tsize:1;";
        assert!(KernelLayout::from_btf(None, Some(format), 4096).exit_group_dead);
        assert!(!KernelLayout::from_btf(None, Some("\tfield:pid_t pid;\toffset:24;"), 4096).exit_group_dead);
    }

    #[test]
    fn this_kernels_layout_is_complete() {
        // Every kernel zcopy supports has BTF; where the file exists it must parse.
        if !std::path::Path::new(BTF_PATH).exists() {
            eprintln!("skipped: {BTF_PATH} does not exist on this machine");
            return;
        }
        let (l, bytes) = KernelLayout::read();
        assert_eq!(l.btf_error, None);
        assert!(bytes.is_some());
        assert!(l.fd_offsets.is_some() && l.io_kiocb.is_some() && l.netdev_name.is_some() && l.iter_type.is_some());
        assert!(l.task_pid.is_some() && l.bio.is_some() && l.version.is_some());
        assert!(l.has(Requires::SocketCgroup), "the agent's packet programs can attach");
        if cfg!(target_arch = "x86_64") {
            assert!(l.pt_regs.is_some(), "x86-64's pt_regs has di, si, dx, r10, r8, orig_ax");
        }
    }
}
