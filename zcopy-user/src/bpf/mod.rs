//! Loading zcopy's eBPF object, attaching it, choosing targets, and reading
//! the counters back. Dropping a [`Tracer`] detaches everything (the links
//! are file descriptors owned by it; nothing is pinned).

pub(crate) mod attach;
pub mod btf;
pub mod layout;
pub mod probe;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use zcopy_common::{
    Comm, Evidence, FlowKey, ProcStats, SlotConfig, StackKey, SyscallStats, TARGET_HELD, TARGET_ROOT, TargetFlags,
    Transmit, UNTRACKED_SLOT, drop_reason, fd_kind, maps, netdev,
};

use crate::{
    error::ZcopyError,
    model::Warning,
    model::{
        Coverage, DeviceTransmit, NetTransmit, RawCounters, RawProcess,
        raw::{add_evidence, add_proc_stats, add_syscall_stats},
    },
    probes::{
        features::Mechanism,
        plan::{self, Outcome},
        table,
    },
    syscalls,
};

/// The compiled eBPF programs, embedded at build time (see build.rs).
/// Empty when the build had no BPF toolchain (build.rs says so): unit tests
/// still build and run, and the binary says what to do.
static BPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/zcopy.bpf.o"));

/// The embedded eBPF object, or why there is none.
pub fn object() -> anyhow::Result<&'static [u8]> {
    if BPF_OBJECT.is_empty() {
        return Err(ZcopyError::BuiltWithoutEbpf.into());
    }
    Ok(BPF_OBJECT)
}

/// Loaded and attached counting programs.
pub struct Tracer {
    ebpf: Ebpf,
    /// The programs' log forwarder, with `--bpf-log`.
    logger: Option<Arc<Mutex<aya_log::EbpfLogger<&'static dyn log::Log>>>>,
    coverage: Coverage,
    outcomes: Vec<Outcome>,
    /// The attached links; empty while paused.
    links: Vec<attach::Link>,
    /// What attaching again after a pause needs (the BTF only where a way
    /// in use needs it).
    layout: KernelLayout,
    btf_bytes: Option<Vec<u8>>,
    guards_pid_reuse: bool,
    /// The cpu-clock sampling frequency (0: off).
    sample_hz: u64,
    /// One per probe that could not attach (optional ones aside).
    pub warnings: Vec<Warning>,
}

use layout::KernelLayout;

/// Which of zcopy's two sets of programs a command loads. Every map of the
/// object is created at load; the other set's large maps are created with
/// one entry (their per-CPU ones would otherwise take megabytes per CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Programs {
    /// trace, bench, explain, doctor.
    Tracer,
    /// `zcopy agent`.
    Agent,
}

/// Loads zcopy's object with the kernel's layout as globals.
pub(crate) fn load_object(layout: &KernelLayout, bpf_log: bool, programs: Programs) -> anyhow::Result<Ebpf> {
    let level: u8 = if bpf_log { u8::MAX } else { 0 };
    let mut loader = EbpfLoader::new();
    let unused: &[&str] = match programs {
        Programs::Tracer => &maps::AGENT_ONLY,
        Programs::Agent => &maps::TRACER_ONLY,
    };
    for name in unused {
        loader.map_max_entries(name, 1);
    }
    if let Some(iter) = &layout.iter_type {
        loader.override_global("OFF_IOV_ITER_TYPE", &iter.offset, true);
        loader.override_global("ITER_UBUF", &iter.ubuf, true);
        loader.override_global("ITER_IOVEC", &iter.iovec, true);
    }
    for (global, offset) in
        layout.fd_offsets.iter().chain(&layout.pt_regs).chain(&layout.zero_copy).chain(&layout.socket_cgroup).flatten()
    {
        loader.override_global(global, offset, true);
    }
    if let Some((opf, size)) = &layout.bio {
        loader.override_global("OFF_BIO_OPF", opf, true);
        loader.override_global("OFF_BIO_SIZE", size, true);
    }
    if let Some((flags, iter)) = &layout.msghdr {
        loader.override_global("OFF_MSGHDR_FLAGS", flags, true);
        loader.override_global("OFF_MSGHDR_ITER", iter, true);
    }
    if let Some(data_len) = &layout.skb_data_len {
        loader.override_global("OFF_SKB_DATA_LEN", data_len, true);
    }
    let iter_pipe = layout.iter_pipe.unwrap_or(u8::MAX);
    loader.override_global("ITER_PIPE", &iter_pipe, true);
    if let Some(pid) = &layout.task_pid {
        loader.override_global("OFF_TASK_PID", pid, true);
    }
    // This architecture's numbers of the syscalls that send (zcopy agent
    // classifies a socket send by the syscall it is made in).
    let numbers = [
        ("NR_WRITE", libc::SYS_write),
        ("NR_WRITEV", libc::SYS_writev),
        ("NR_SENDTO", libc::SYS_sendto),
        ("NR_SENDMSG", libc::SYS_sendmsg),
        ("NR_SENDMMSG", libc::SYS_sendmmsg),
        ("NR_SENDFILE", libc::SYS_sendfile),
        ("NR_SPLICE", libc::SYS_splice),
    ];
    let numbers: Vec<(&str, u32)> =
        numbers.into_iter().map(|(global, nr)| (global, u32::try_from(nr).unwrap_or(u32::MAX))).collect();
    for (global, nr) in &numbers {
        loader.override_global(global, nr, true);
    }
    // The relay clock: jiffies (a memory read) where HZ is known, else
    // bpf_ktime_get_ns; either way a one-second window.
    let (relay_jiffies, relay_window) = match layout.hz {
        Some(hz) => (1u8, u64::from(hz)),
        None => (0u8, zcopy_common::RELAY_WINDOW_NS),
    };
    loader.override_global("RELAY_JIFFIES", &relay_jiffies, true).override_global("RELAY_WINDOW", &relay_window, true);
    let fd_kinds = u8::from(layout.fd_offsets.is_some());
    let exit_group_dead = u8::from(layout.exit_group_dead);
    loader
        .override_global("FD_KINDS", &fd_kinds, true)
        .override_global("EXIT_GROUP_DEAD", &exit_group_dead, true)
        .override_global("OFF_IOKIOCB_OPCODE", &layout.io_kiocb.map_or(0xffff, |(opcode, _)| opcode), true)
        .override_global("OFF_IOKIOCB_FILE", &layout.io_kiocb.map_or(0, |(_, file)| file), true)
        .override_global(aya_log::LEVEL, &level, false)
        .override_global("PAGE_SHIFT", &layout.page_shift, true)
        .override_global("NETDEV_NAME_OFFSET", &layout.netdev_name.unwrap_or(0), true)
        .load(object()?)
        .map_err(|e| permission_or(e, "load zcopy's BPF maps and programs"))
}

/// A warning for each probe that did not attach (optional ones are said in
/// the sources instead), and for missing BTF layout.
fn warnings(outcomes: &[Outcome], layout: &KernelLayout) -> Vec<Warning> {
    let mut out: Vec<Warning> = outcomes
        .iter()
        .filter(|o| !o.attached() && !table::probe(o.group).optional)
        .map(|o| Warning::HookUnavailable {
            point: table::probe(o.group).ways.iter().map(|w| w.label).collect::<Vec<_>>().join(", nor "),
            error: o.refused.join("; "),
        })
        .collect();
    if layout.fd_offsets.is_none() {
        out.push(Warning::NoFdKinds { btf_error: layout.btf_error.clone() });
    }
    out
}

impl Tracer {
    /// Loads the programs and attaches every probe it can, in four steps:
    /// read the kernel's layout, load the object with it as globals, attach
    /// (outcomes), derive coverage. `bpf_log` turns on the programs' aya-log
    /// output (off: the log calls are removed at load).
    pub fn load(bpf_log: bool, sample_hz: u64) -> anyhow::Result<Self> {
        let (layout, btf_bytes) = KernelLayout::read();
        let mut ebpf = load_object(&layout, bpf_log, Programs::Tracer)?;
        let mut slots: Array<_, SlotConfig> = Array::try_from(map_mut(&mut ebpf, maps::SLOTS)?)?;
        for (nr, config) in syscalls::slot_table() {
            slots.set(nr, config, 0).with_context(|| format!("setting the slot of syscall {nr}"))?;
        }
        let (outcomes, links) =
            attach::attach_all(&mut ebpf, &layout, &attach::LazyBtf::new(btf_bytes.as_deref()), sample_hz)?;
        if outcomes.iter().all(|o| !o.attached()) {
            return Err(ZcopyError::NothingAttached(outcomes.iter().flat_map(|o| o.refused.clone()).collect()).into());
        }
        let coverage = plan::coverage(&outcomes, layout.plan());
        let warnings = warnings(&outcomes, &layout);
        let guards_pid_reuse = layout.exit_group_dead;
        // Attaching again after a pause needs the kernel's BTF only for the
        // fexit and kprobe hooks (their functions' names): the 5 MiB are
        // kept only where one of those ways is in use.
        let btf_bytes = btf_bytes
            .filter(|_| outcomes.iter().any(|o| matches!(o.uses, Some(Mechanism::Fentry | Mechanism::Kprobe))));
        Ok(Self {
            coverage,
            ebpf,
            warnings,
            outcomes,
            links,
            layout,
            btf_bytes,
            guards_pid_reuse,
            sample_hz,
            logger: None,
        })
    }

    /// Detaches every program, leaving them loaded and the counters as they
    /// are: nothing of zcopy runs in the kernel until `resume` (`zcopy
    /// bench`'s untraced runs). Detaching a classic tracepoint waits for an
    /// RCU grace period, so each program's links are detached in a thread of
    /// their own, as `detach_all` does.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        let mut links = std::mem::take(&mut self.links);
        std::thread::scope(|scope| {
            let detaching: Vec<_> = self
                .ebpf
                .programs_mut()
                .filter_map(|(name, program)| {
                    let (its, rest): (Vec<_>, Vec<_>) =
                        std::mem::take(&mut links).into_iter().partition(|l| l.program == name);
                    links = rest;
                    (!its.is_empty()).then(|| scope.spawn(move || its.into_iter().try_for_each(|l| l.detach(program))))
                })
                .collect();
            detaching.into_iter().try_for_each(|d| d.join().map_err(|_| anyhow::anyhow!("detaching panicked"))?)
        })
    }

    /// Attaches again what `pause` detached, without loading anything again.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        if self.links.is_empty() {
            let btf = attach::LazyBtf::new(self.btf_bytes.as_deref());
            self.links = attach::reattach(&mut self.ebpf, &self.outcomes, &self.layout, &btf, self.sample_hz)?;
        }
        Ok(())
    }

    /// Whether a target's PID reused after it exits is told apart (the
    /// kernel's sched_process_exit has group_dead, 6.16+).
    pub fn guards_pid_reuse(&self) -> bool {
        self.guards_pid_reuse
    }

    /// What happened to each probe at load.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Which figure groups are measured.
    pub fn coverage(&self) -> Coverage {
        self.coverage
    }

    /// Starts forwarding the programs' log lines to the `log` crate (needs a
    /// tokio runtime).
    pub fn forward_logs(&mut self) -> anyhow::Result<()> {
        let logger = aya_log::EbpfLogger::init(&mut self.ebpf).context("initialising aya-log")?;
        let fd = LogFd(std::os::fd::AsRawFd::as_raw_fd(&logger));
        let logger = Arc::new(Mutex::new(logger));
        // SAFETY: the ring buffer's fd stays open while `logger` lives, and the
        // task that polls it holds `logger`.
        let watched = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(std::io::Error::from)
            .context("watching the aya-log ring buffer")?;
        let task_logger = Arc::clone(&logger);
        tokio::spawn(async move {
            while let Ok(mut guard) = watched.readable().await {
                if let Ok(mut l) = task_logger.lock() {
                    l.flush();
                }
                guard.clear_ready();
            }
        });
        self.logger = Some(logger);
        Ok(())
    }

    /// Forwards the log records still in the ring buffer. The forwarding task
    /// runs when the buffer becomes readable; a trace that ends right after
    /// the last records were written must drain them itself.
    pub fn flush_logs(&self) {
        if let Some(Ok(mut l)) = self.logger.as_ref().map(|l| l.lock()) {
            l.flush();
        }
    }

    /// Makes process `pid` (all its threads, and the children it forks from
    /// now on) a target.
    pub fn add_target(&mut self, pid: u32, state: TargetState) -> anyhow::Result<()> {
        let flags = match state {
            TargetState::Running => TARGET_ROOT,
            TargetState::Held => TARGET_ROOT | TARGET_HELD,
        };
        let mut targets: HashMap<_, u32, TargetFlags> = HashMap::try_from(map_mut(&mut self.ebpf, maps::TARGETS)?)?;
        targets.insert(pid, flags, 0).with_context(|| format!("adding PID {pid} to the targets"))?;
        // Its name now (a process that was already running has no fork or exec
        // record; one that execs later gets its new name in the kernel).
        if let Some(name) = crate::system::procfs::comm_of(pid) {
            let mut comms: HashMap<_, u32, Comm> = HashMap::try_from(map_mut(&mut self.ebpf, maps::COMMS)?)?;
            comms.insert(pid, comm_from(&name), 0).with_context(|| format!("naming PID {pid}"))?;
        }
        Ok(())
    }

    /// Makes processes that exec one of `names` targets (in the kernel, at exec).
    pub fn want_comms(&mut self, names: &[String]) -> anyhow::Result<()> {
        let mut wanted: HashMap<_, Comm, u8> = HashMap::try_from(map_mut(&mut self.ebpf, maps::WANTED_COMMS)?)?;
        for name in names {
            wanted.insert(comm_from(name), 1, 0).with_context(|| format!("adding --comm {name}"))?;
        }
        Ok(())
    }

    /// Makes processes of the cgroup v2 `id` (`level` below the root), and of
    /// the cgroups below it, targets at their next syscall: joins during the
    /// trace are followed in the kernel.
    pub fn want_cgroup(&mut self, id: u64, level: u32) -> anyhow::Result<()> {
        let mut wanted: aya::maps::Array<_, u64> =
            aya::maps::Array::try_from(map_mut(&mut self.ebpf, maps::WANTED_CGROUP)?)?;
        wanted.set(1, u64::from(level), 0).context("setting the --cgroup level")?;
        wanted.set(0, id, 0).context("setting the --cgroup id")?;
        Ok(())
    }

    /// Reads the counters of one process (summed over CPUs).
    pub fn snapshot(&self, pid: u32) -> anyhow::Result<RawProcess> {
        Ok(self.read_processes(Some(pid))?.remove(&pid).unwrap_or_default())
    }

    /// Events each counting program missed so far because another BPF program
    /// was already running on that CPU (the kernel's per-program
    /// `recursion_misses`; e.g. a softirq transmit interrupting sys_enter).
    pub fn missed_events(&self) -> BTreeMap<String, u64> {
        table::all_programs()
            .filter_map(|program| {
                let fd = self.ebpf.program(program)?.fd().ok()?;
                let misses = recursion_misses(std::os::fd::AsFd::as_fd(fd)).ok()?;
                Some((program.to_owned(), misses))
            })
            .collect()
    }

    /// Machine-wide device transmits so far, per device.
    pub fn net_totals(&self) -> anyhow::Result<NetTransmit> {
        let netdev: PerCpuHashMap<_, netdev::Name, Transmit> = PerCpuHashMap::try_from(map(&self.ebpf, maps::NETDEV)?)?;
        let mut devices = Vec::new();
        for entry in netdev.iter() {
            let (name, per_cpu) = entry.context("reading device transmit counters")?;
            let (bytes, packets) = per_cpu.iter().fold((0, 0), |(b, p), t| (b + t.bytes, p + t.packets));
            let name = nul_padded(&name);
            let kind = crate::system::netdev::device_kind(&name);
            devices.push(DeviceTransmit { name, kind, bytes, packets });
        }
        Ok(NetTransmit::from_devices(devices))
    }

    /// Stops tracing `pid` and deletes its counters. An entry that is not
    /// there is fine (the process had none of that kind); any other failure
    /// would leave counters behind for the next run, and is an error.
    pub fn forget(&mut self, pid: u32) -> anyhow::Result<()> {
        let mut targets: HashMap<_, u32, TargetFlags> = HashMap::try_from(map_mut(&mut self.ebpf, maps::TARGETS)?)?;
        absent_ok(targets.remove(&pid), maps::TARGETS)?;
        let mut procs: PerCpuHashMap<_, u32, ProcStats> =
            PerCpuHashMap::try_from(map_mut(&mut self.ebpf, maps::PROCS)?)?;
        absent_ok(procs.remove(&pid), maps::PROCS)?;
        let mut evidence: PerCpuHashMap<_, u32, Evidence> =
            PerCpuHashMap::try_from(map_mut(&mut self.ebpf, maps::EVIDENCE)?)?;
        absent_ok(evidence.remove(&pid), maps::EVIDENCE)?;
        remove_keys::<FlowKey, SyscallStats>(&mut self.ebpf, maps::FLOWS, |k| k.tgid == pid)?;
        remove_keys::<StackKey, u64>(&mut self.ebpf, maps::STACKS, |k| k.tgid == pid)?;
        Ok(())
    }

    /// The cpu-clock sampling frequency the programs were attached with (0: off).
    pub fn sample_hz(&self) -> u64 {
        self.sample_hz
    }

    /// Reads every counter, summed over CPUs.
    pub fn read(&self) -> anyhow::Result<RawCounters> {
        let mut raw = RawCounters { processes: self.read_processes(None)?, ..RawCounters::default() };
        let comms: HashMap<_, u32, Comm> = HashMap::try_from(map(&self.ebpf, maps::COMMS)?)?;
        for (pid, process) in &mut raw.processes {
            process.comm = comms.get(pid, 0).ok().map(|c| nul_padded(&c));
        }
        raw.drops = read_drops(&self.ebpf)?;
        Ok(raw)
    }

    /// Every per-process counter, summed over CPUs: of all processes, or of
    /// `only` that one. The one home of reading these maps, for `read` and
    /// `snapshot` alike.
    fn read_processes(&self, only: Option<u32>) -> anyhow::Result<BTreeMap<u32, RawProcess>> {
        let wanted = |pid: u32| only.is_none_or(|p| p == pid);
        let mut processes: BTreeMap<u32, RawProcess> = BTreeMap::new();
        let procs: PerCpuHashMap<_, u32, ProcStats> = PerCpuHashMap::try_from(map(&self.ebpf, maps::PROCS)?)?;
        for entry in procs.iter() {
            let (pid, per_cpu) = entry.context("reading per-process counters")?;
            if wanted(pid) {
                let process = processes.entry(pid).or_default();
                per_cpu.iter().for_each(|s| add_proc_stats(&mut process.stats, s));
            }
        }
        let evidence: PerCpuHashMap<_, u32, Evidence> = PerCpuHashMap::try_from(map(&self.ebpf, maps::EVIDENCE)?)?;
        for entry in evidence.iter() {
            let (pid, per_cpu) = entry.context("reading per-process data movement")?;
            if wanted(pid) {
                let process = processes.entry(pid).or_default();
                per_cpu.iter().for_each(|e| add_evidence(&mut process.evidence, e));
            }
        }
        let flows: PerCpuHashMap<_, FlowKey, SyscallStats> = PerCpuHashMap::try_from(map(&self.ebpf, maps::FLOWS)?)?;
        for entry in flows.iter() {
            let (key, per_cpu) = entry.context("reading per-syscall and per-fd-kind counters")?;
            if !wanted(key.tgid) {
                continue;
            }
            let mut sum = SyscallStats::default();
            per_cpu.iter().for_each(|s| add_syscall_stats(&mut sum, s));
            let process = processes.entry(key.tgid).or_default();
            // Every syscall is in one flow counter: the total is their sum,
            // and a tracked syscall's figures are the sums over its fd kinds.
            if key.slot <= UNTRACKED_SLOT {
                process.stats.syscalls += sum.calls;
            }
            if key.slot < UNTRACKED_SLOT {
                add_syscall_stats(process.syscalls.entry(u32::from(key.slot)).or_default(), &sum);
            }
            if (key.src, key.dst) != (fd_kind::NONE, fd_kind::NONE) {
                add_syscall_stats(process.flows.entry((u32::from(key.slot), key.src, key.dst)).or_default(), &sum);
            }
        }
        let stacks: PerCpuHashMap<_, StackKey, u64> = PerCpuHashMap::try_from(map(&self.ebpf, maps::STACKS)?)?;
        for entry in stacks.iter() {
            let (key, per_cpu) = entry.context("reading the cpu-clock samples")?;
            if !wanted(key.tgid) {
                continue;
            }
            let depth = usize::from(key.depth).min(key.ips.len());
            let frames = if key.user == 1 { Vec::new() } else { key.ips[..depth].to_vec() };
            *processes.entry(key.tgid).or_default().stacks.entry(frames).or_default() += per_cpu.iter().sum::<u64>();
        }
        Ok(processes)
    }
}

/// What a new target is doing as it becomes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Running (`--pid`, `--comm`, `--cgroup` members found at start): a
    /// call in progress is counted if it returns during the trace.
    Running,
    /// A single-threaded process blocked in one call (a held command's or a
    /// worker's read of its go byte): that call is not counted.
    Held,
}

impl Drop for Tracer {
    /// Detaches every program at once. Detaching a classic tracepoint waits
    /// for an RCU grace period (perf_trace_event_unreg calls
    /// tracepoint_synchronize_unregister: about 75 ms each on this 6.18 VM);
    /// one after the other, zcopy's twelve took 0.9 s to tear down, while
    /// waits that overlap share their grace periods.
    fn drop(&mut self) {
        detach_all(&mut self.ebpf);
    }
}

/// Deletes the keys of per-CPU hash `name` that `gone` picks; an entry gone
/// meanwhile is fine, any other failure is an error (see [`Tracer::forget`]).
fn remove_keys<K: aya::Pod, V: aya::Pod>(ebpf: &mut Ebpf, name: &str, gone: impl Fn(&K) -> bool) -> anyhow::Result<()> {
    let mut map: PerCpuHashMap<_, K, V> = PerCpuHashMap::try_from(map_mut(ebpf, name)?)?;
    let keys: Vec<K> = map.keys().filter_map(Result::ok).filter(|k| gone(k)).collect();
    for key in keys {
        absent_ok(map.remove(&key), name)?;
    }
    Ok(())
}

/// Detaches every program of `ebpf` at once (see [`Tracer`]'s drop).
pub(crate) fn detach_all(ebpf: &mut Ebpf) {
    std::thread::scope(|scope| {
        for (_, program) in ebpf.programs_mut() {
            scope.spawn(move || unload(program));
        }
    });
}

/// A map deletion's result: a key that was not there (ENOENT) is no error.
fn absent_ok(result: Result<(), aya::maps::MapError>, map: &str) -> anyhow::Result<()> {
    match result {
        Err(aya::maps::MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other.with_context(|| format!("deleting a process's entry from the map {map}")),
    }
}

/// Detaches and unloads the program `name` (a way that attached part-way).
fn unload_named(ebpf: &mut Ebpf, name: &str) {
    if let Some(program) = ebpf.program_mut(name) {
        unload(program);
    }
}

/// Detaches and unloads one program (errors are moot: its fds are closed on drop anyway).
fn unload(program: &mut aya::programs::Program) {
    use aya::programs::Program;
    let _unloaded = match program {
        Program::TracePoint(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        Program::PerfEvent(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        Program::KProbe(p) => p.unload(),
        Program::FEntry(p) => p.unload(),
        Program::BtfTracePoint(p) => p.unload(),
        _ => Ok(()),
    };
}

fn read_drops(ebpf: &Ebpf) -> anyhow::Result<BTreeMap<String, u64>> {
    let drops: PerCpuArray<_, u64> = PerCpuArray::try_from(map(ebpf, maps::DROPS)?)?;
    let names = [
        (drop_reason::PROC_MAP_FULL, "process_map_full"),
        (drop_reason::SYSCALL_MAP_FULL, "syscall_map_full"),
        (drop_reason::INFLIGHT_FULL, "inflight_collision"),
        (drop_reason::TARGETS_FULL, "targets_map_full"),
        (drop_reason::NETDEV_MAP_FULL, "netdev_map_full"),
        (drop_reason::STACKS_FULL, "stack_samples_map_full"),
        (drop_reason::STACK_UNREADABLE, "stack_sample_unreadable"),
    ];
    names
        .into_iter()
        .map(|(index, name)| {
            let per_cpu = drops.get(&index, 0).with_context(|| format!("reading drop counter {name}"))?;
            Ok((name.to_owned(), per_cpu.iter().sum()))
        })
        .collect()
}

/// A command name as the kernel stores it: at most 15 bytes, NUL-padded.
fn comm_from(name: &str) -> Comm {
    let mut comm: Comm = [0; 16];
    let bytes = name.as_bytes();
    let n = bytes.len().min(15);
    comm[..n].copy_from_slice(&bytes[..n]);
    comm
}

/// A name the kernel stores NUL-padded in 16 bytes (a command name, a
/// device name), as text.
pub(crate) fn nul_padded(name: &[u8; 16]) -> String {
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

pub(crate) fn map<'a>(ebpf: &'a Ebpf, name: &str) -> anyhow::Result<&'a aya::maps::Map> {
    ebpf.map(name).ok_or_else(|| anyhow!("the eBPF object has no map {name}"))
}

pub(crate) fn map_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut aya::maps::Map> {
    ebpf.map_mut(name).ok_or_else(|| anyhow!("the eBPF object has no map {name}"))
}

/// Turns a permission error into [`ZcopyError::PermissionDenied`]; other
/// errors keep their chain.
pub(crate) fn permission_or<E>(err: E, action: &str) -> anyhow::Error
where
    E: Into<anyhow::Error>,
{
    let err: anyhow::Error = err.into();
    match crate::error::os_error(err.as_ref()).filter(|_| !crate::error::is_verifier_rejection(err.as_ref())) {
        Some(code @ (libc::EPERM | libc::EACCES)) => {
            ZcopyError::PermissionDenied { action: action.to_owned(), reason: std::io::Error::from_raw_os_error(code) }
                .into()
        }
        _ => err.context(format!("could not {action}")),
    }
}

/// `bpf_prog_info.recursion_misses` of a loaded program (Linux 5.12+; 0 before).
pub(crate) fn recursion_misses(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<u64> {
    use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_info};
    use std::os::fd::AsRawFd as _;
    // SAFETY: zeroed C structs are valid values.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.info.bpf_fd = u32::try_from(fd.as_raw_fd()).map_err(std::io::Error::other)?;
    attr.info.info_len = u32::try_from(size_of::<bpf_prog_info>()).map_err(std::io::Error::other)?;
    attr.info.info = (&raw mut info) as u64;
    // SAFETY: BPF_OBJ_GET_INFO_BY_FD writes at most info_len bytes into info.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(info.recursion_misses)
}

/// The aya-log ring buffer's fd, for tokio to poll while the logger itself
/// stays shared with `Tracer::flush_logs`.
struct LogFd(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for LogFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}
