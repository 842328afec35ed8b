//! The agent's programs: which hooks they use and in which profile (the one
//! table every family's source is derived from), loading and attaching them,
//! reading their per-cgroup maps, and removing the entries of dead cgroups.

use std::collections::BTreeMap;

use anyhow::Context as _;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, PerCpuHashMap, PerCpuValues},
    programs::perf_event::SoftwareEvent,
};
use zcopy_common::{
    Transmit,
    agent::{self, Counter, Counters, DeviceKey, Slot, SyscallKey},
    drop_reason, maps,
};

use super::series::{Key, Values};
use crate::{
    bpf::{self, attach, layout::KernelLayout},
    error::{ZcopyError, chain, is_permission},
    probes::{
        hooks::{Hook, perf, raw_tp, tp},
        table::Requires,
    },
};

/// What the agent counts beyond the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Hooks that fire per packet, page, bio, fault or switch.
    Default,
    /// Zero-copy sent and copied anyway: a program on every packet sent
    /// and received (most return at once).
    ZeroCopy,
    /// Bytes and packets per device: a map update per packet.
    Packets,
    /// Syscalls by name: every task on the syscall slow path.
    Syscalls,
}

/// One of the agent's programs.
///
/// The socket programs have no fallback where the sock tracepoints do not
/// exist (before Linux 6.3): fexit on sock_sendmsg was tried on Debian's
/// 6.1, and missed the calls the compiler had inlined into __sys_sendto, so
/// it would have counted part of the bytes as if they were all. There the
/// socket families are left out, and the agent says so.
#[derive(Debug)]
pub struct AgentProbe {
    pub hook: Hook,
    pub requires: Option<Requires>,
    pub profile: Profile,
}

const fn probe(hook: Hook, requires: Option<Requires>) -> AgentProbe {
    AgentProbe { hook, requires, profile: Profile::Default }
}

/// Every program of the agent.
pub const PROBES: &[AgentProbe] = &[
    probe(raw_tp("agent_sock_send", "sock_send_length"), None),
    probe(raw_tp("agent_sock_recv", "sock_recv_length"), None),
    AgentProbe {
        hook: raw_tp("agent_zc_xmit", "net_dev_start_xmit"),
        requires: Some(Requires::SocketCgroup),
        profile: Profile::ZeroCopy,
    },
    AgentProbe {
        hook: raw_tp("agent_netif_receive_skb", "netif_receive_skb"),
        requires: Some(Requires::SocketCgroup),
        profile: Profile::ZeroCopy,
    },
    probe(tp("agent_page_cache_add", "filemap", "mm_filemap_add_to_page_cache"), None),
    probe(raw_tp("agent_block_bio_queue", "block_bio_queue"), Some(Requires::Bio)),
    probe(raw_tp("agent_fault_user", "page_fault_user"), None),
    probe(raw_tp("agent_fault_kernel", "page_fault_kernel"), None),
    probe(perf("agent_minor_faults", SoftwareEvent::PageFaultsMin), None),
    probe(perf("agent_major_faults", SoftwareEvent::PageFaultsMaj), None),
    probe(raw_tp("agent_sched_switch", "sched_switch"), Some(Requires::SchedSwitchPrevState)),
    AgentProbe {
        hook: raw_tp("agent_transmit", "net_dev_start_xmit"),
        requires: Some(Requires::SocketCgroup),
        profile: Profile::Packets,
    },
    AgentProbe { hook: raw_tp("agent_sys_enter", "sys_enter"), requires: None, profile: Profile::Syscalls },
];

/// The agent's maps and their capacities.
pub const MAPS: [(&str, u32); 3] = [
    (maps::AGENT_CGROUPS, agent::MAX_CGROUPS),
    (maps::AGENT_DEVICES, agent::MAX_DEVICES),
    (maps::AGENT_SYSCALLS, agent::MAX_SYSCALLS),
];

/// Drop counters of the agent's maps (`DROPS` indices), by map.
pub const DROPS: [(&str, u32); 3] = [
    (maps::AGENT_CGROUPS, drop_reason::AGENT_CGROUPS_FULL),
    (maps::AGENT_DEVICES, drop_reason::AGENT_DEVICES_FULL),
    (maps::AGENT_SYSCALLS, drop_reason::AGENT_SYSCALLS_FULL),
];

/// Loaded and attached agent programs; dropping it detaches them.
pub struct AgentKernel {
    ebpf: Ebpf,
    /// Per probe of the chosen profiles: attached, or why not.
    pub outcomes: Vec<(&'static AgentProbe, Result<(), String>)>,
    /// Slots some CPU held at the last [`AgentKernel::read`].
    slots_held: usize,
}

impl AgentKernel {
    /// Loads zcopy's object and attaches the programs of `profiles`.
    pub fn load(profiles: &[Profile]) -> anyhow::Result<Self> {
        let (layout, btf_bytes) = KernelLayout::read();
        let ebpf = bpf::load_object(&layout, false, bpf::Programs::Agent)?;
        let mut kernel = Self { ebpf, outcomes: Vec::new(), slots_held: 0 };
        let btf = attach::LazyBtf::new(btf_bytes.as_deref());
        for probe in PROBES.iter().filter(|p| profiles.contains(&p.profile)) {
            let outcome = kernel.attach(probe, &layout, &btf)?;
            kernel.outcomes.push((probe, outcome));
        }
        if kernel.outcomes.iter().all(|(_, o)| o.is_err()) {
            let why = kernel.outcomes.iter().filter_map(|(_, o)| o.clone().err()).collect();
            return Err(ZcopyError::NothingAttached(why).into());
        }
        Ok(kernel)
    }

    /// Attaches one probe. A permission error is fatal (the user lacks a
    /// capability), anything else leaves its families out.
    fn attach(
        &mut self,
        probe: &'static AgentProbe,
        layout: &KernelLayout,
        btf: &attach::LazyBtf<'_>,
    ) -> anyhow::Result<Result<(), String>> {
        if let Some(requires) = probe.requires.filter(|r| !layout.has(*r)) {
            return Ok(Err(format!("{}: needs {}", probe.hook.point(), requires.describe())));
        }
        let hook = &probe.hook;
        match attach::attach_hook(&mut self.ebpf, hook, layout, btf, 0) {
            Ok(_links) => Ok(Ok(())),
            Err(err) if is_permission(err.as_ref()) => {
                Err(bpf::permission_or(err, &format!("attach to {}", hook.point())))
            }
            Err(err) => Ok(Err(format!("{}: {}", hook.point(), chain(err.as_ref())))),
        }
    }

    /// The hook of program `program`, if it attached.
    pub fn attached(&self, program: &str) -> Option<&'static Hook> {
        self.outcomes.iter().find(|(p, o)| p.hook.program == program && o.is_ok()).map(|(p, _)| &p.hook)
    }

    /// Every cgroup's cumulative counters, summed over CPUs (its slots and
    /// its overflow entry); also notes how many slots are held.
    pub fn read(&mut self) -> anyhow::Result<BTreeMap<u64, Values>> {
        let mut out: BTreeMap<u64, Values> = BTreeMap::new();
        let slots: PerCpuArray<_, Slot> = PerCpuArray::try_from(bpf::map(&self.ebpf, maps::AGENT_SLOTS)?)?;
        let mut held = 0;
        for index in 0..agent::SLOTS {
            let per_cpu = slots.get(&index, 0).context("reading the agent's per-CPU slots")?;
            held += usize::from(per_cpu.iter().any(|s| s.tag != 0));
            for slot in per_cpu.iter().filter(|s| s.tag != 0) {
                add_counters(out.entry(slot.tag & !agent::SLOT_TAG).or_default(), &slot.counters);
            }
        }
        self.slots_held = held;
        let cgroups: PerCpuHashMap<_, u64, Counters> = self.per_cpu(maps::AGENT_CGROUPS)?;
        for entry in cgroups.iter() {
            let (id, per_cpu) = entry.context("reading the agent's per-cgroup counters")?;
            let values = out.entry(id).or_default();
            per_cpu.iter().for_each(|counters| add_counters(values, counters));
        }
        let devices: PerCpuHashMap<_, DeviceKey, Transmit> = self.per_cpu(maps::AGENT_DEVICES)?;
        for entry in devices.iter() {
            let (key, per_cpu) = entry.context("reading the agent's per-device counters")?;
            let values = out.entry(key.cgroup).or_default();
            for tx in per_cpu.iter() {
                add(values, Key::DeviceBytes(key.name), tx.bytes);
                add(values, Key::DevicePackets(key.name), tx.packets);
            }
        }
        let syscalls: PerCpuHashMap<_, SyscallKey, u64> = self.per_cpu(maps::AGENT_SYSCALLS)?;
        for entry in syscalls.iter() {
            let (key, per_cpu) = entry.context("reading the agent's per-syscall counters")?;
            let values = out.entry(key.cgroup).or_default();
            per_cpu.iter().for_each(|calls| add(values, Key::Syscall(key.nr), *calls));
        }
        Ok(out)
    }

    /// Removes the kernel entries of cgroups that are gone, all of a
    /// cgroup's or none: a slot is freed only when no CPU's copy of it
    /// belongs to a live cgroup (rewriting a per-CPU value races with that
    /// CPU's programs); the cgroup's other entries then wait with it, so its
    /// counters never drop in part (the ledger would count them twice).
    pub fn remove(&mut self, dead: &[u64]) -> anyhow::Result<()> {
        if dead.is_empty() {
            return Ok(());
        }
        let is_dead = |tag: u64| tag == 0 || dead.contains(&(tag & !agent::SLOT_TAG));
        let mut removable = Vec::new();
        {
            let mut slots: PerCpuArray<_, Slot> =
                PerCpuArray::try_from(bpf::map_mut(&mut self.ebpf, maps::AGENT_SLOTS)?)?;
            for &id in dead {
                let index = (id as u32) & (agent::SLOTS - 1);
                let per_cpu = slots.get(&index, 0).context("reading a per-CPU slot")?;
                let holds = per_cpu.iter().any(|s| s.tag == id | agent::SLOT_TAG);
                if holds && !per_cpu.iter().all(|s| is_dead(s.tag)) {
                    continue;
                }
                if holds {
                    let zeros = PerCpuValues::try_from(vec![Slot::default(); per_cpu.len()])
                        .context("building an empty slot")?;
                    slots.set(index, zeros, 0).context("freeing a dead cgroup's slot")?;
                }
                removable.push(id);
            }
        }
        self.remove_keys::<u64, Counters>(maps::AGENT_CGROUPS, |id| removable.contains(id))?;
        self.remove_keys::<DeviceKey, Transmit>(maps::AGENT_DEVICES, |k| removable.contains(&k.cgroup))?;
        self.remove_keys::<SyscallKey, u64>(maps::AGENT_SYSCALLS, |k| removable.contains(&k.cgroup))
    }

    /// Deletes the entries of per-CPU hash `name` whose key is `gone`. An
    /// entry already gone is fine; another failure leaves it for the next refresh.
    fn remove_keys<K: aya::Pod, V: aya::Pod>(&mut self, name: &str, gone: impl Fn(&K) -> bool) -> anyhow::Result<()> {
        let mut map: PerCpuHashMap<_, K, V> = PerCpuHashMap::try_from(bpf::map_mut(&mut self.ebpf, name)?)?;
        let keys: Vec<K> = map.keys().filter_map(Result::ok).filter(|k| gone(k)).collect();
        for key in keys {
            let _ = map.remove(&key);
        }
        Ok(())
    }

    /// Entries in each of the agent's maps (slots: those some CPU held at
    /// the last read, which every scrape makes first).
    pub fn map_entries(&self) -> anyhow::Result<Vec<(&'static str, u32, usize)>> {
        let hashes: anyhow::Result<Vec<_>> = MAPS
            .iter()
            .map(|&(name, capacity)| {
                let map = bpf::map(&self.ebpf, name)?;
                let entries = match name {
                    maps::AGENT_CGROUPS => PerCpuHashMap::<_, u64, Counters>::try_from(map)?.keys().count(),
                    maps::AGENT_DEVICES => PerCpuHashMap::<_, DeviceKey, Transmit>::try_from(map)?.keys().count(),
                    _ => PerCpuHashMap::<_, SyscallKey, u64>::try_from(map)?.keys().count(),
                };
                Ok((name, capacity, entries))
            })
            .collect();
        let mut all = vec![(maps::AGENT_SLOTS, agent::SLOTS, self.slots_held)];
        all.extend(hashes?);
        Ok(all)
    }

    /// Events each map could not count (it was full), by map.
    pub fn drops(&self) -> anyhow::Result<Vec<(&'static str, u64)>> {
        let drops: PerCpuArray<_, u64> = PerCpuArray::try_from(bpf::map(&self.ebpf, maps::DROPS)?)?;
        DROPS
            .iter()
            .map(|&(name, index)| {
                let per_cpu = drops.get(&index, 0).with_context(|| format!("reading the drops of {name}"))?;
                Ok((name, per_cpu.iter().sum()))
            })
            .collect()
    }

    /// (program, run time ns, runs, recursion misses) of each attached program.
    pub fn program_stats(&self) -> Vec<(&'static str, u64, u64, u64)> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .filter_map(|(p, _)| {
                let program = self.ebpf.program(p.hook.program)?;
                let info = program.info().ok()?;
                let fd = program.fd().ok()?;
                let misses = bpf::recursion_misses(std::os::fd::AsFd::as_fd(fd)).unwrap_or(0);
                let ns = u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX);
                Some((p.hook.program, ns, info.run_count(), misses))
            })
            .collect()
    }

    fn per_cpu<K: aya::Pod, V: aya::Pod>(&self, name: &str) -> anyhow::Result<PerCpuHashMap<&MapData, K, V>> {
        Ok(PerCpuHashMap::try_from(bpf::map(&self.ebpf, name)?)?)
    }
}

impl Drop for AgentKernel {
    fn drop(&mut self) {
        bpf::detach_all(&mut self.ebpf);
    }
}

/// Adds one slot's or one CPU's counters to a cgroup's values.
fn add_counters(values: &mut Values, counters: &Counters) {
    for (counter, v) in Counter::ALL.iter().zip(counters.v) {
        add(values, Key::Counter(*counter), v);
    }
}

fn add(values: &mut Values, key: Key, v: u64) {
    if v > 0 {
        let total = values.entry(key).or_default();
        *total = total.saturating_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_packet_and_per_syscall_programs_are_opt_in() {
        let opt_in: Vec<_> = PROBES.iter().filter(|p| p.profile != Profile::Default).map(|p| p.hook.program).collect();
        assert_eq!(opt_in, ["agent_zc_xmit", "agent_netif_receive_skb", "agent_transmit", "agent_sys_enter"]);
        for family in super::super::families::FAMILIES {
            assert!(
                PROBES.iter().any(|p| p.hook.program == family.program),
                "{} names no probe: {}",
                family.name,
                family.program
            );
        }
    }
}
