//! Counters the kernel keeps for every process, read from /proc: the
//! independent ground truth zcopy's BPF counters are checked against.

use std::{fs, io};

/// Fault and switch counters of one process (all its threads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcCounters {
    /// /proc/PID/stat field 10.
    pub minflt: u64,
    /// /proc/PID/stat field 12.
    pub majflt: u64,
    /// /proc/PID/stat fields 14 and 15, in clock ticks.
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    /// /proc/PID/status voluntary_ctxt_switches.
    pub nvcsw: u64,
    /// /proc/PID/status nonvoluntary_ctxt_switches.
    pub nivcsw: u64,
}

impl ProcCounters {
    /// Reads the counters of process `pid`.
    pub fn read(pid: u32) -> io::Result<Self> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        parse(&stat, &status)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unexpected /proc/{pid}/stat format")))
    }

    /// `self - earlier`, field by field (saturating).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            minflt: self.minflt.saturating_sub(earlier.minflt),
            majflt: self.majflt.saturating_sub(earlier.majflt),
            utime_ticks: self.utime_ticks.saturating_sub(earlier.utime_ticks),
            stime_ticks: self.stime_ticks.saturating_sub(earlier.stime_ticks),
            nvcsw: self.nvcsw.saturating_sub(earlier.nvcsw),
            nivcsw: self.nivcsw.saturating_sub(earlier.nivcsw),
        }
    }
}

/// The fields of a /proc/PID/stat text from field 3 (state) on: the command
/// name (field 2) is in parentheses and may contain spaces.
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// Parses /proc/PID/stat and /proc/PID/status texts.
pub fn parse(stat: &str, status: &str) -> Option<ProcCounters> {
    let fields: Vec<&str> = stat_fields(stat)?.collect();
    // fields[0] is field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let status_field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name))?.trim().parse::<u64>().ok();
    Some(ProcCounters {
        minflt: field(10)?,
        majflt: field(12)?,
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        nvcsw: status_field("voluntary_ctxt_switches:")?,
        nivcsw: status_field("nonvoluntary_ctxt_switches:")?,
    })
}

/// The resident set size of process `pid`, in bytes (/proc/PID/status VmRSS).
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// The thread-group id of task `tid` (equal to `tid` for a process).
pub fn tgid_of(tid: u32) -> io::Result<Option<u32>> {
    let status = fs::read_to_string(format!("/proc/{tid}/status"))?;
    Ok(status.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok()))
}

/// The command name of process `pid`.
pub fn comm_of(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim_end().to_owned())
}

/// Waits until process `pid` is blocked inside `read(2)` (from
/// /proc/PID/syscall, or its state as a fallback), so that making it a target
/// now cannot count that read: its entry has happened. Gives up after
/// `timeout`, or as soon as the process has exited, and says so. It sleeps
/// on the runtime between looks, so a signal is handled at once.
pub async fn wait_blocked_in_read(pid: u32, timeout: std::time::Duration) -> io::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let read_nr = libc::SYS_read.to_string();
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let state = stat_fields(&stat).and_then(|mut f| f.next()).unwrap_or("?");
        if matches!(state, "Z" | "X") {
            return Err(io::Error::other(format!("process {pid} exited before it waited in read(2)")));
        }
        match fs::read_to_string(format!("/proc/{pid}/syscall")) {
            Ok(text) if text.split_whitespace().next() == Some(read_nr.as_str()) => return Ok(()),
            Ok(_) => {}
            // No /proc/PID/syscall (kernel without it): a sleeping state is the best sign.
            Err(_) if state == "S" => return Ok(()),
            Err(_) => {}
        }
        if std::time::Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("process {pid} did not block in read(2)")));
        }
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
    }
}

/// When process `pid` started, as wall-clock time (boot time from
/// /proc/stat plus its starttime, field 22 of /proc/PID/stat); `None` if it
/// does not exist.
pub fn started_at(pid: u32) -> Option<std::time::SystemTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22: nth(19) from field 3.
    let ticks: u64 = stat_fields(&stat)?.nth(19)?.parse().ok()?;
    let boot: u64 =
        fs::read_to_string("/proc/stat").ok()?.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    let secs = boot as f64 + ticks as f64 / ticks_per_second();
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs_f64(secs))
}

/// Clock ticks per second (for utime/stime).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str =
        "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 151 0 2 0 7 3 0 0 20 0 1 0 100 1000 10 18446744073709551615";
    const STATUS: &str = "Name:\tx\nTgid:\t1234\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t2\n";

    #[test]
    fn parses_fields_after_a_comm_with_spaces_and_parens() {
        let c = parse(STAT, STATUS).unwrap();
        assert_eq!(c, ProcCounters { minflt: 151, majflt: 2, utime_ticks: 7, stime_ticks: 3, nvcsw: 5, nivcsw: 2 });
    }

    #[test]
    fn difference_is_field_by_field() {
        let a = ProcCounters { minflt: 10, nvcsw: 1, ..Default::default() };
        let b = ProcCounters { minflt: 25, nvcsw: 4, ..Default::default() };
        assert_eq!(b.since(&a), ProcCounters { minflt: 15, nvcsw: 3, ..Default::default() });
    }

    #[test]
    fn truncated_input_is_none() {
        assert_eq!(parse("1 (x) S 1 2", STATUS), None);
    }
}

/// (pid, parent pid, command name) of every process in /proc.
pub fn processes() -> Vec<(u32, u32, String)> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (open, close) = (stat.find('(')?, stat.rfind(')')?);
            let comm = stat.get(open + 1..close)?.to_owned();
            let ppid = stat.get(close + 1..)?.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm))
        })
        .collect()
}

/// The processes descended from `roots` (children, grandchildren, ...), in `table`.
pub fn descendants(roots: &[u32], table: &[(u32, u32, String)]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    let mut frontier: Vec<u32> = roots.to_vec();
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, _) in table {
            if ppid == parent && !roots.contains(&pid) && !out.contains(&pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// The inode of the initial PID namespace (PROC_PID_INIT_INO, include/linux/proc_ns.h).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// zcopy's PID namespace, when it is not the initial one (a container): BPF
/// sees the kernel's (host) PIDs, which zcopy cannot name then. NSpid alone
/// does not tell: a container's own /proc shows only the inner PID.
pub fn nested_pid_namespace() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let ino = fs::metadata("/proc/self/ns/pid").ok()?.ino();
    (ino != PROC_PID_INIT_INO).then(|| {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:")).map_or("?", str::trim).to_owned();
        format!("pid:[{ino}], NSpid {nspid}")
    })
}

/// CGROUP2_SUPER_MAGIC (include/uapi/linux/magic.h).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Whether `dir` is on a cgroup v2 file system (statfs).
pub fn is_cgroup2(dir: &std::path::Path) -> io::Result<bool> {
    let c = super::c_string(dir.as_os_str())?;
    // SAFETY: zeroed statfs is valid for statfs to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid pointer.
    if unsafe { libc::statfs(c.as_ptr(), &raw mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type == CGROUP2_SUPER_MAGIC)
}

/// The cgroup v2 id of folder `dir` (what bpf_get_current_cgroup_id returns:
/// its kernfs node id, the file handle name_to_handle_at gives).
pub fn cgroup_id(dir: &std::path::Path) -> io::Result<u64> {
    #[repr(C)]
    struct Handle {
        bytes: u32,
        kind: i32,
        id: u64,
    }
    let c = super::c_string(dir.as_os_str())?;
    let mut handle = Handle { bytes: 8, kind: 0, id: 0 };
    let mut mount_id = 0i32;
    // SAFETY: a NUL-terminated path, a handle with room for 8 bytes, an int.
    let rc = unsafe {
        libc::syscall(libc::SYS_name_to_handle_at, libc::AT_FDCWD, c.as_ptr(), &raw mut handle, &raw mut mount_id, 0)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(handle.id)
}

/// The processes in cgroup v2 folder `dir` and the cgroups below it.
pub fn cgroup_processes(dir: &std::path::Path) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let procs = fs::read_to_string(d.join("cgroup.procs"))?;
        out.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        for entry in fs::read_dir(&d)?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tree_tests {
    use super::*;

    #[test]
    fn descendants_follow_the_parent_chain() {
        let table = vec![
            (1, 0, "init".into()),
            (10, 1, "master".into()),
            (11, 10, "worker".into()),
            (12, 11, "helper".into()),
            (20, 1, "other".into()),
        ];
        let mut d = descendants(&[10], &table);
        d.sort_unstable();
        assert_eq!(d, [11, 12]);
        assert!(descendants(&[20], &table).is_empty());
    }

    #[test]
    fn this_process_is_listed() {
        let me = std::process::id();
        assert!(processes().iter().any(|(pid, _, _)| *pid == me));
    }
}
