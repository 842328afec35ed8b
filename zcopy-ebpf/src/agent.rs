//! `zcopy agent`: machine-wide counters per cgroup v2 id, on hooks that fire
//! per packet, page or switch rather than per syscall (attaching anything to
//! the syscall tracepoints puts every task on the syscall slow path). The
//! syscall counts by name (`agent_sys_enter`) are the loader's opt-in.
//!
//! Each event is charged to the cgroup it belongs to:
//! - in the task's own context (socket calls, page cache, block I/O, faults,
//!   switches): the current task's cgroup (bpf_get_current_cgroup_id);
//! - packets (which a softirq may transmit on behalf of anyone): the cgroup
//!   of the packet's socket, skb->sk->sk_cgrp_data.cgroup->kn->id (offsets
//!   from BTF, set by the loader), 0 for packets without a socket. The
//!   kernel sets that cgroup when the socket is created: a process moved to
//!   another cgroup keeps charging its older sockets' packets to the first.

use aya_ebpf::{
    Global,
    helpers::bpf_get_current_cgroup_id,
    macros::{map, perf_event, raw_tracepoint, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, PerCpuHashMap},
    programs::{PerfEventContext, RawTracePointContext, TracePointContext},
};
use zcopy_common::{
    agent::{self, Counter, Counters, DeviceKey, Slot, SyscallKey},
    drop_reason,
};

use crate::{
    evidence::{self, Bio},
    fdkind::read,
    sched, syscalls, upsert, zerocopy,
};

/// The fast path: per CPU, slot `cgroup id % SLOTS` holds one cgroup's
/// counters (an array lookup is a few instructions, a hash lookup hashes
/// and compares). Events of a cgroup whose slot another holds go to
/// `AGENT_CGROUPS`. The loader sums both.
#[map]
static AGENT_SLOTS: PerCpuArray<Slot> = PerCpuArray::with_max_entries(agent::SLOTS, 0);

/// Per cgroup: the [`Counter`]s of events whose slot was taken.
#[map]
static AGENT_CGROUPS: PerCpuHashMap<u64, Counters> = PerCpuHashMap::with_max_entries(agent::MAX_CGROUPS, 0);

/// Per cgroup and device: bytes and packets handed to the driver.
#[map]
static AGENT_DEVICES: PerCpuHashMap<DeviceKey, zcopy_common::Transmit> =
    PerCpuHashMap::with_max_entries(agent::MAX_DEVICES, 0);

/// Per cgroup and syscall number: calls (the opt-in syscall profile).
#[map]
static AGENT_SYSCALLS: PerCpuHashMap<SyscallKey, u64> = PerCpuHashMap::with_max_entries(agent::MAX_SYSCALLS, 0);

/// [0]: 1 once any zero-copy packet was seen: until then the receive
/// program returns at once (most hosts never send zero-copy, and it runs
/// for every packet received).
#[map]
static AGENT_ZC_SEEN: Array<u32> = Array::with_max_entries(1, 0);

/// Zero-copy completions in flight: ubuf_info pointer -> the sender's cgroup.
#[map]
static AGENT_ZC_UARGS: LruHashMap<u64, u64> = LruHashMap::with_max_entries(65_536, 0);

#[unsafe(no_mangle)]
static OFF_SK_CGROUP: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_CGROUP_KN: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_KERNFS_ID: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
static OFF_SKB_LEN: Global<u32> = Global::new(0);

/// MSG_PEEK (include/linux/socket.h): a receive that leaves the data queued.
const MSG_PEEK: i64 = 2;
/// MSG_ZEROCOPY (include/linux/socket.h).
const MSG_ZEROCOPY: u64 = 0x400_0000;

/// This architecture's syscall numbers, set by the loader (u32::MAX: none).
#[unsafe(no_mangle)]
static NR_WRITE: Global<u32> = Global::new(u32::MAX);
#[unsafe(no_mangle)]
static NR_WRITEV: Global<u32> = Global::new(u32::MAX);
#[unsafe(no_mangle)]
static NR_SENDTO: Global<u32> = Global::new(u32::MAX);
#[unsafe(no_mangle)]
static NR_SENDMSG: Global<u32> = Global::new(u32::MAX);
#[unsafe(no_mangle)]
static NR_SENDMMSG: Global<u32> = Global::new(u32::MAX);
#[unsafe(no_mangle)]
static NR_SENDFILE: Global<u32> = Global::new(u32::MAX);
#[unsafe(no_mangle)]
static NR_SPLICE: Global<u32> = Global::new(u32::MAX);

/// How a send was asked for: the syscall the task is in, and its flags,
/// read from the task's saved user registers (pt_regs offsets from BTF;
/// without them every send is `SocketSentOtherBytes`).
#[inline(always)]
fn how_sent() -> Counter {
    let orig_ax = syscalls::OFF_REGS_ORIG_AX.load();
    if orig_ax == 0 {
        return Counter::SocketSentOtherBytes;
    }
    // BTF-typed registers: plain loads, no probe-read helper calls.
    let regs = syscalls::current_regs();
    let Ok(nr) = u32::try_from(syscalls::read_reg(regs, &syscalls::OFF_REGS_ORIG_AX) as i64) else {
        return Counter::SocketSentOtherBytes;
    };
    let flags_in = |offset: &Global<u32>| syscalls::read_reg(regs, offset);
    let asked_zero_copy = |flags: u64| {
        if flags & MSG_ZEROCOPY != 0 { Counter::SocketSentZeroCopyBytes } else { Counter::SocketSentCpuCopyBytes }
    };
    if nr == NR_SENDFILE.load() || nr == NR_SPLICE.load() {
        Counter::SocketSentByReferenceBytes
    } else if nr == NR_SENDTO.load() || nr == NR_SENDMMSG.load() {
        asked_zero_copy(flags_in(&syscalls::OFF_REGS_ARG3))
    } else if nr == NR_SENDMSG.load() {
        asked_zero_copy(flags_in(&syscalls::OFF_REGS_ARG2))
    } else if nr == NR_WRITE.load() || nr == NR_WRITEV.load() {
        Counter::SocketSentCpuCopyBytes
    } else {
        Counter::SocketSentOtherBytes
    }
}

#[inline(always)]
fn add(cgroup: u64, counter: Counter, n: u64) {
    add_both(cgroup, (counter, n), None);
}

/// Adds to one or two counters of `cgroup` with a single map lookup (the
/// lookup is most of a program's cost on the hot socket paths).
#[inline(always)]
fn add_both(cgroup: u64, first: (Counter, u64), second: Option<(Counter, u64)>) {
    let apply = |c: &mut Counters| {
        for (counter, n) in [Some(first), second].into_iter().flatten() {
            if let Some(v) = c.v.get_mut(counter as usize) {
                *v += n;
            }
        }
    };
    let tag = cgroup | agent::SLOT_TAG;
    if let Some(slot) = AGENT_SLOTS.get_ptr_mut((cgroup as u32) & (agent::SLOTS - 1)) {
        // SAFETY: this CPU's value; only this CPU's programs touch it.
        let slot = unsafe { &mut *slot };
        if slot.tag == tag || slot.tag == 0 {
            slot.tag = tag;
            apply(&mut slot.counters);
            return;
        }
    }
    upsert(&AGENT_CGROUPS, cgroup, drop_reason::AGENT_CGROUPS_FULL, apply);
}

#[inline(always)]
fn current_cgroup() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bpf_get_current_cgroup_id() }
}

/// The cgroup v2 id of a struct sock (0: none or unreadable).
#[inline(always)]
fn sock_cgroup(sk: u64) -> u64 {
    if sk == 0 {
        return 0;
    }
    let id = || -> Option<u64> {
        let cgroup: u64 = read(sk, OFF_SK_CGROUP.load())?;
        let kn: u64 = read(cgroup, OFF_CGROUP_KN.load())?;
        read(kn, OFF_KERNFS_ID.load())
    };
    id().unwrap_or(0)
}

/// sock:sock_send_length: TP_PROTO(struct sock *sk, int ret, int flags), at
/// the end of every sendmsg on a socket (send, write, sendfile and splice to
/// a socket, io_uring sends), in the sender's context.
#[raw_tracepoint(tracepoint = "sock_send_length")]
pub fn agent_sock_send(ctx: RawTracePointContext) -> i32 {
    count_send(ctx.arg::<u64>(1) as i32);
    0
}

#[inline(always)]
fn count_send(ret: i32) {
    if ret > 0 {
        add_both(current_cgroup(), (how_sent(), ret as u64), Some((Counter::SocketSends, 1)));
    }
}

/// sock:sock_recv_length: TP_PROTO(struct sock *sk, int ret, int flags), at
/// the end of every recvmsg on a socket: bytes copied into user memory.
#[raw_tracepoint(tracepoint = "sock_recv_length")]
pub fn agent_sock_recv(ctx: RawTracePointContext) -> i32 {
    count_recv(ctx.arg::<u64>(1) as i32, ctx.arg(2));
    0
}

#[inline(always)]
fn count_recv(ret: i32, flags: i64) {
    if ret > 0 && flags & MSG_PEEK == 0 {
        add_both(current_cgroup(), (Counter::SocketReceivedBytes, ret as u64), Some((Counter::SocketReceives, 1)));
    }
}

/// net_dev_start_xmit: TP_PROTO(const struct sk_buff *skb, const struct
/// net_device *dev): a zero-copy packet handed to a driver is charged to its
/// socket's cgroup, and its ubuf_info remembered for the receive side. Any
/// other packet returns after one read.
#[raw_tracepoint(tracepoint = "net_dev_start_xmit")]
pub fn agent_zc_xmit(ctx: RawTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let Some((uarg, paged)) = zerocopy::zero_copy_frags(skb) else {
        return 0;
    };
    let cgroup = sock_cgroup(zerocopy::skb_sock(skb));
    if let Some(seen) = AGENT_ZC_SEEN.get_ptr_mut(0) {
        // SAFETY: a map value; a racing write stores the same 1.
        unsafe { *seen = 1 };
    }
    let _ = AGENT_ZC_UARGS.insert(&uarg, &cgroup, 0);
    let no_sg = zerocopy::lacks_sg(ctx.arg(1)).then_some((Counter::ZeroCopyCopiedNoSgBytes, paged));
    add_both(cgroup, (Counter::ZeroCopySentBytes, paged), no_sg);
    0
}

/// net_dev_start_xmit again (`--packets`): every packet's bytes, per device
/// and per the cgroup of its socket.
#[raw_tracepoint(tracepoint = "net_dev_start_xmit")]
pub fn agent_transmit(ctx: RawTracePointContext) -> i32 {
    let skb: u64 = ctx.arg(0);
    let dev: u64 = ctx.arg(1);
    let cgroup = sock_cgroup(zerocopy::skb_sock(skb));
    let len: u32 = read(skb, OFF_SKB_LEN.load()).unwrap_or(0);
    // dev->name is IFNAMSIZ bytes, NUL-padded: read whole (cheaper than a string read).
    let name = read(dev, evidence::NETDEV_NAME_OFFSET.load()).unwrap_or([0; 16]);
    upsert(&AGENT_DEVICES, DeviceKey { cgroup, name }, drop_reason::AGENT_DEVICES_FULL, |tx: &mut zcopy_common::Transmit| {
        tx.bytes += u64::from(len);
        tx.packets += 1;
    });
    0
}

/// netif_receive_skb: TP_PROTO(struct sk_buff *skb): this host's stack
/// receiving a packet; a zero-copy one's frags are copied before delivery.
#[raw_tracepoint(tracepoint = "netif_receive_skb")]
pub fn agent_netif_receive_skb(ctx: RawTracePointContext) -> i32 {
    if AGENT_ZC_SEEN.get(0).is_none_or(|seen| *seen == 0) {
        return 0;
    }
    let Some((uarg, paged)) = zerocopy::zero_copy_frags(ctx.arg(0)) else {
        return 0;
    };
    // SAFETY: a map value, read once.
    if let Some(cgroup) = (unsafe { AGENT_ZC_UARGS.get(&uarg) }).copied() {
        add(cgroup, Counter::ZeroCopyCopiedReceivedBytes, paged);
    }
    0
}

/// filemap:mm_filemap_add_to_page_cache: a folio inserted into the page cache.
#[tracepoint(category = "filemap", name = "mm_filemap_add_to_page_cache")]
pub fn agent_page_cache_add(ctx: TracePointContext) -> u32 {
    add(current_cgroup(), Counter::PageCacheAddedBytes, evidence::page_cache_folio_bytes(&ctx));
    0
}

/// block_bio_queue: TP_PROTO(struct bio *bio), in the submitting task.
#[raw_tracepoint(tracepoint = "block_bio_queue")]
pub fn agent_block_bio_queue(ctx: RawTracePointContext) -> i32 {
    match evidence::bio(ctx.arg(0)) {
        Some(Bio::Read(bytes)) => add(current_cgroup(), Counter::BlockReadBytes, bytes),
        Some(Bio::Write(bytes)) => add(current_cgroup(), Counter::BlockWriteBytes, bytes),
        None => {}
    }
    0
}

/// exceptions:page_fault_user (raw): a fault taken in user mode.
#[raw_tracepoint(tracepoint = "page_fault_user")]
pub fn agent_fault_user(_ctx: RawTracePointContext) -> i32 {
    add(current_cgroup(), Counter::FaultsUser, 1);
    0
}

/// exceptions:page_fault_kernel (raw): a fault taken in kernel mode.
#[raw_tracepoint(tracepoint = "page_fault_kernel")]
pub fn agent_fault_kernel(_ctx: RawTracePointContext) -> i32 {
    add(current_cgroup(), Counter::FaultsKernel, 1);
    0
}

/// perf software event PERF_COUNT_SW_PAGE_FAULTS_MIN, sample period 1.
#[perf_event]
pub fn agent_minor_faults(_ctx: PerfEventContext) -> u32 {
    add(current_cgroup(), Counter::FaultsMinor, 1);
    0
}

/// perf software event PERF_COUNT_SW_PAGE_FAULTS_MAJ, sample period 1.
#[perf_event]
pub fn agent_major_faults(_ctx: PerfEventContext) -> u32 {
    add(current_cgroup(), Counter::FaultsMajor, 1);
    0
}

/// sched_switch (raw), charged to the task switched away from (current).
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn agent_sched_switch(ctx: RawTracePointContext) -> i32 {
    let counter = if sched::voluntary(&ctx) { Counter::SwitchesVoluntary } else { Counter::SwitchesInvoluntary };
    add(current_cgroup(), counter, 1);
    0
}

/// sys_enter (raw): TP_PROTO(struct pt_regs *regs, long id). Opt-in: any
/// program here puts every task on the syscall slow path.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn agent_sys_enter(ctx: RawTracePointContext) -> i32 {
    let nr: i64 = ctx.arg(1);
    let Ok(nr) = u32::try_from(nr) else {
        return 0;
    };
    let key = SyscallKey { cgroup: current_cgroup(), nr, pad: 0 };
    upsert(&AGENT_SYSCALLS, key, drop_reason::AGENT_SYSCALLS_FULL, |calls: &mut u64| *calls += 1);
    0
}
