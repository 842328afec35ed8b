//! From the kernel's cumulative per-cgroup counters to a bounded set of
//! Prometheus series that only ever grow.
//!
//! Each refresh reads every cgroup's counters, takes what grew since the last
//! read (the delta) and adds it to exactly one series: the cgroup's own while
//! it is one of the `top` cgroups by bytes moved, else the `other` series.
//! So every series is monotonic (a counter), the series' increases add up
//! to what the kernel counted (a series that ends keeps what it had), and a host with thousands of short-lived cgroups has
//! at most `top` + 1 series per family. A named cgroup keeps its slot while
//! it lives, unless a cgroup that moved more bytes since the agent started
//! needs it; a dead cgroup's series ends and its kernel entries are removed.

use std::collections::BTreeMap;

use zcopy_common::{agent::Counter, netdev};

use super::cgroups::{CgroupPaths, Names};

/// One counted quantity of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Counter(Counter),
    DeviceBytes(netdev::Name),
    DevicePackets(netdev::Name),
    Syscall(u32),
}

impl Key {
    /// Whether the key counts bytes moved (what cgroups are ranked by).
    fn is_bytes(self) -> bool {
        match self {
            Self::Counter(c) => c.is_bytes_moved(),
            Self::DeviceBytes(_) | Self::DevicePackets(_) | Self::Syscall(_) => false,
        }
    }
}

/// Values by key.
pub type Values = BTreeMap<Key, u64>;

/// The id standing for packets that have no socket (forwarded, ARP, ...).
pub const NO_SOCKET: u64 = 0;

/// Which series a value belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Series<'a> {
    Cgroup(&'a Names),
    /// Packets without a socket (only the device families have values).
    NoSocket,
    Other,
}

#[derive(Debug, Default)]
pub struct Ledger {
    top: usize,
    /// The kernel's cumulative values at the last read, per live cgroup.
    last: BTreeMap<u64, Values>,
    /// Bytes moved since first seen, per live cgroup (the ranking); every
    /// live cgroup has an entry.
    score: BTreeMap<u64, u64>,
    /// Own series of live cgroups that are or were named.
    own: BTreeMap<u64, Values>,
    /// The named cgroups and their labels.
    named: BTreeMap<u64, Names>,
    other: Values,
}

impl Ledger {
    pub fn new(top: usize) -> Self {
        Self { top, ..Self::default() }
    }

    /// Takes a read of the kernel's counters (`observed`: cumulative, per
    /// cgroup id) and the cgroups that exist now (`paths`, scanned after the
    /// read). Returns the cgroups that are gone, whose kernel entries the
    /// caller removes.
    pub fn update(&mut self, observed: &BTreeMap<u64, Values>, paths: &CgroupPaths) -> Vec<u64> {
        let alive = |id: u64| id == NO_SOCKET || paths.contains_key(&id);
        let mut deltas: BTreeMap<u64, Values> = BTreeMap::new();
        for (&id, values) in observed {
            let last = self.last.entry(id).or_default();
            let delta: Values = values
                .iter()
                .filter_map(|(&key, &now)| {
                    let before = last.get(&key).copied().unwrap_or(0);
                    // Lower than before: the entry was removed and counted afresh.
                    let grew = if now >= before { now - before } else { now };
                    (grew > 0).then_some((key, grew))
                })
                .collect();
            *last = values.clone();
            let bytes: u64 = delta.iter().filter(|(k, _)| k.is_bytes()).map(|(_, v)| v).sum();
            let score = self.score.entry(id).or_default();
            *score = score.saturating_add(bytes);
            deltas.insert(id, delta);
        }
        // Every live cgroup is a candidate from the moment it exists, so a new
        // one gets a free slot, and its series starts at 0, before it moves
        // a byte (Prometheus's increase() is then exact from the start).
        for id in paths.keys() {
            self.score.entry(*id).or_default();
        }
        // A dead cgroup's last bytes go to `other`: its own series ends now,
        // and a scrape would never see them there.
        self.named.retain(|id, _| alive(*id));
        self.rank(paths, &alive);
        for (id, delta) in deltas {
            let into = if self.named.contains_key(&id) { self.own.entry(id).or_default() } else { &mut self.other };
            for (key, grew) in delta {
                let v = into.entry(key).or_default();
                *v = v.saturating_add(grew);
            }
        }
        self.score.retain(|id, _| alive(*id));
        self.own.retain(|id, _| alive(*id));
        // A dead cgroup's last read stays while the kernel still has its
        // entries (removal can wait, see kernel::remove): what it adds later
        // is then a delta, not a recount. Gone from the kernel, it goes too.
        self.last.retain(|id, _| alive(*id) || observed.contains_key(id));
        self.last.keys().copied().filter(|id| !alive(*id)).collect()
    }

    /// Fills free slots with the unnamed cgroups that moved the most bytes,
    /// then lets one that moved more than the least of the named take its slot.
    fn rank(&mut self, paths: &CgroupPaths, alive: &impl Fn(u64) -> bool) {
        let mut candidates: Vec<(u64, u64)> = self
            .score
            .iter()
            .filter(|(id, _)| alive(**id) && !self.named.contains_key(id))
            .map(|(&id, &score)| (score, id))
            .collect();
        // Highest score first; equal scores: the older (lower) id first.
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (score, id) in candidates {
            if self.named.len() >= self.top {
                let weakest = self.named.keys().map(|n| (self.score.get(n).copied().unwrap_or(0), *n)).min();
                match weakest {
                    Some((least, loser)) if score > least => {
                        self.named.remove(&loser);
                    }
                    _ => break,
                }
            }
            self.named.insert(id, Names::from_path(paths.get(&id).map_or("", String::as_str)));
        }
    }

    /// Every series and its values: the named cgroups', then `other`.
    pub fn series(&self) -> impl Iterator<Item = (Series<'_>, &Values)> {
        let empty: &Values = &EMPTY;
        self.named
            .iter()
            .map(move |(id, names)| {
                let series = if *id == NO_SOCKET { Series::NoSocket } else { Series::Cgroup(names) };
                (series, self.own.get(id).unwrap_or(empty))
            })
            .chain(std::iter::once((Series::Other, &self.other)))
    }

    /// (named cgroups, live cgroups counted in `other`).
    pub fn population(&self) -> (usize, usize) {
        let named = self.named.len();
        (named, self.score.len().saturating_sub(named))
    }
}

static EMPTY: Values = BTreeMap::new();

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: Key = Key::Counter(Counter::SocketSentCpuCopyBytes);
    const SWITCH: Key = Key::Counter(Counter::SwitchesVoluntary);

    fn paths(ids: &[u64]) -> CgroupPaths {
        ids.iter().map(|id| (*id, format!("/c{id}"))).collect()
    }

    fn read(entries: &[(u64, Key, u64)]) -> BTreeMap<u64, Values> {
        let mut out: BTreeMap<u64, Values> = BTreeMap::new();
        for &(id, key, v) in entries {
            out.entry(id).or_default().insert(key, v);
        }
        out
    }

    fn value(ledger: &Ledger, cgroup: Option<&str>, key: Key) -> Option<u64> {
        ledger
            .series()
            .find(|(s, _)| match (s, cgroup) {
                (Series::Cgroup(n), Some(c)) => n.cgroup == c,
                (Series::NoSocket, Some(c)) => c == "(no socket)",
                (Series::Other, None) => true,
                _ => false,
            })
            .map(|(_, v)| v.get(&key).copied().unwrap_or(0))
    }

    fn total(ledger: &Ledger, key: Key) -> u64 {
        ledger.series().map(|(_, v)| v.get(&key).copied().unwrap_or(0)).sum()
    }

    #[test]
    fn a_cgroup_seen_before_it_moves_bytes_has_all_of_them_in_its_series() {
        let mut l = Ledger::new(2);
        l.update(&read(&[]), &paths(&[5]));
        assert_eq!(value(&l, Some("/c5"), SENT), Some(0), "the series exists at 0 before the bytes");
        l.update(&read(&[(5, SWITCH, 3), (5, SENT, 1000)]), &paths(&[5]));
        l.update(&read(&[(5, SWITCH, 3), (5, SENT, 1500)]), &paths(&[5]));
        assert_eq!(value(&l, Some("/c5"), SENT), Some(1500));
        assert_eq!(value(&l, Some("/c5"), SWITCH), Some(3));
    }

    #[test]
    fn beyond_top_n_the_rest_is_other_and_series_sum_to_the_kernels_totals() {
        let mut l = Ledger::new(2);
        let all = paths(&[1, 2, 3, 4]);
        l.update(&read(&[(1, SENT, 10), (2, SENT, 300), (3, SENT, 200), (4, SENT, 5)]), &all);
        assert_eq!(value(&l, Some("/c2"), SENT), Some(300));
        assert_eq!(value(&l, Some("/c3"), SENT), Some(200));
        assert_eq!(value(&l, None, SENT), Some(15));
        assert_eq!(l.population(), (2, 2));
        let mut idle = Ledger::new(2);
        idle.update(&read(&[]), &all);
        assert_eq!(
            value(&idle, Some("/c1"), SENT),
            Some(0),
            "a cgroup that exists is a candidate before it moves bytes"
        );
        // c1 overtakes c3: c3's series stops growing, c1's starts, nothing is lost.
        l.update(&read(&[(1, SENT, 1010), (2, SENT, 300), (3, SENT, 250), (4, SENT, 5)]), &all);
        assert_eq!(value(&l, Some("/c1"), SENT), Some(1000));
        assert_eq!(value(&l, Some("/c3"), SENT), None, "c3 is in other now");
        assert_eq!(value(&l, None, SENT), Some(15 + 50), "c3's next 50 bytes");
        let ended: u64 = l.own[&3][&SENT];
        assert_eq!(total(&l, SENT) + ended, 1010 + 300 + 250 + 5, "every byte is in exactly one series");
    }

    #[test]
    fn series_never_decrease() {
        let mut l = Ledger::new(1);
        let all = paths(&[1, 2]);
        let mut before: BTreeMap<String, u64> = BTreeMap::new();
        for step in 1..20u64 {
            let a = step * if step % 2 == 0 { 7 } else { 3 };
            l.update(&read(&[(1, SENT, a * step), (2, SENT, step * step * 5)]), &all);
            for (s, v) in l.series() {
                let name = match s {
                    Series::Cgroup(n) => n.cgroup.clone(),
                    Series::NoSocket => "(no socket)".into(),
                    Series::Other => "other".into(),
                };
                let now = v.get(&SENT).copied().unwrap_or(0);
                assert!(now >= before.get(&name).copied().unwrap_or(0), "{name} went down at step {step}");
                before.insert(name, now);
            }
        }
    }

    #[test]
    fn dead_cgroups_leave_no_state_and_their_last_bytes_are_counted() {
        let mut l = Ledger::new(1);
        l.update(&read(&[(7, SENT, 100), (8, SENT, 1)]), &paths(&[7, 8]));
        let dead = l.update(&read(&[(7, SENT, 150), (8, SENT, 2)]), &paths(&[8]));
        assert_eq!(dead, vec![7]);
        assert_eq!(value(&l, Some("/c7"), SENT), None, "its series ended");
        assert_eq!(value(&l, Some("/c8"), SENT), Some(1), "the free slot went to c8");
        assert_eq!((l.last.len(), l.score.len(), l.own.len()), (2, 1, 1), "c7's last read stays while its entry does");
        l.update(&read(&[(8, SENT, 2)]), &paths(&[8]));
        assert_eq!(l.last.len(), 1, "gone from the kernel, gone from the ledger");
        // The kernel entry is recreated by a late event: counted again, from 0.
        let dead = l.update(&read(&[(7, SENT, 4), (8, SENT, 2)]), &paths(&[8]));
        assert_eq!(dead, vec![7]);
        assert_eq!(value(&l, None, SENT), Some(1 + 50 + 4), "c8's first byte, c7's last 50 and the late 4");
    }

    #[test]
    fn packets_without_a_socket_are_never_removed() {
        let mut l = Ledger::new(4);
        let dead = l.update(&read(&[(NO_SOCKET, SENT, 9)]), &paths(&[]));
        assert!(dead.is_empty());
        assert_eq!(value(&l, Some("(no socket)"), SENT), Some(9));
    }
}
