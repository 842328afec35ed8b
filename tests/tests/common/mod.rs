//! Shared test plumbing: where the binaries are, privilege checks, JSON.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

/// A built binary of the workspace: from `ZCOPY_BIN`/`ZCOPY_HELPER` (set by
/// `cargo xtask test`) or next to this test's executable.
fn binary(env: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo xtask test` (or `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

pub fn zcopy() -> PathBuf {
    binary("ZCOPY_BIN", "zcopy")
}

pub fn helper() -> PathBuf {
    binary("ZCOPY_HELPER", "zcopy-helper")
}

/// Whether BPF tests can run here (root). When they cannot, the test is
/// skipped with a message, unless ZCOPY_REQUIRE_BPF=1, where that fails.
pub fn bpf_available(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().nth(1)) == Some("0");
    if root {
        return true;
    }
    if std::env::var("ZCOPY_REQUIRE_BPF").as_deref() == Ok("1") {
        panic!("{test}: needs root to load BPF programs, and ZCOPY_REQUIRE_BPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: needs root to load BPF programs (set ZCOPY_REQUIRE_BPF=1 to make this a failure)");
    false
}

/// Privileged tests share kernel state (and the CPU): one at a time, across
/// threads and processes alike (cargo test runs a file's tests on threads,
/// cargo-nextest runs each test in its own process). An exclusive flock on a
/// file every test run on this machine opens; released when the guard drops
/// (or the process dies).
pub struct Serial(std::fs::File);

pub fn serial() -> Serial {
    use std::os::fd::AsRawFd as _;
    let path = std::env::temp_dir().join("zcopy-privileged-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening the test lock {}: {e}", path.display()));
    // SAFETY: flock on an fd this function owns.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "locking {}: {err}", path.display());
    }
    Serial(file)
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `zcopy trace --no-report --export-json FILE -- argv...`; returns (output, summary).
pub fn trace_command(argv: &[&str]) -> (Output, Value) {
    trace_command_with(argv, &[])
}

/// `trace_command` with environment variables for zcopy.
pub fn trace_command_with(argv: &[&str], env: &[(&str, &str)]) -> (Output, Value) {
    let dir = tempdir();
    let json = dir.join("summary.json");
    let mut cmd = Command::new(zcopy());
    cmd.envs(env.iter().copied()).args(["trace", "--no-report", "--export-json"]).arg(&json).arg("--").args(argv);
    let out = run(&mut cmd);
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no JSON from zcopy ({e}); stderr:\n{}", stderr(&out)));
    (out, serde_json::from_str(&text).expect("zcopy JSON parses"))
}

/// A fresh temporary directory, removed when it is dropped, so a test that
/// fails (panics) leaves nothing behind either.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary directory (see [`TempDir`]).
pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir =
        std::env::temp_dir().join(format!("zcopy-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// The entry of process `pid` in a summary's `processes`.
pub fn process(summary: &Value, pid: u64) -> &Value {
    summary["processes"]
        .as_array()
        .expect("processes array")
        .iter()
        .find(|p| p["pid"].as_u64() == Some(pid))
        .unwrap_or_else(|| panic!("process {pid} not in {}", summary["processes"]))
}

pub fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Calls of `name` in a `syscalls` object (absent = 0).
pub fn calls(syscalls: &Value, name: &str) -> u64 {
    syscalls.get(name).map_or(0, |s| u(&s["calls"]))
}

/// Calls of read(2) on a character device (the helper's /dev/zero) in a summary.
pub fn char_device_reads(s: &Value) -> u64 {
    s["copies"]
        .as_array()
        .expect("copies")
        .iter()
        .filter(|c| c["syscall"] == "read" && c["from"] == "char device")
        .map(|c| u(&c["calls"]))
        .sum()
}

/// `seen` (a count over loopback packets) against `want` (ground truth).
/// Known limit (README): in some fresh-clone CI runs, whole GSO packets over
/// loopback are not seen by the net tracepoints (net_dev_xmit, and the
/// zero-copy programs' start_xmit/netif_receive_skb), with no recursion miss;
/// never in manual runs. A shortfall of up to 5% is printed as KNOWN LIMIT;
/// more, or any excess, fails.
pub fn loopback_count(what: &str, seen: u64, want: u64) {
    assert!(seen <= want, "{what}: seen {seen} > {want}");
    if seen < want {
        eprintln!("KNOWN LIMIT: {what}: seen {seen} of {want} ({} short)", want - seen);
        assert!(seen * 100 >= want * 95, "{what}: seen {seen} of {want}: more than the known 5% limit");
    }
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A copy of zcopy in `dir` with only CAP_BPF and CAP_PERFMON
/// (`setcap cap_bpf,cap_perfmon+ep`, libcap2-bin), and `dir` opened to
/// other users with `mode`: the non-root route the README describes.
pub fn setcap_copy(dir: &std::path::Path, mode: u32) -> PathBuf {
    let copy = dir.join("zcopy");
    std::fs::copy(zcopy(), &copy).expect("copy zcopy");
    let setcap = run(Command::new("setcap").arg("cap_bpf,cap_perfmon+ep").arg(&copy));
    assert!(setcap.status.success(), "setcap (libcap2-bin): {}", stderr(&setcap));
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    copy
}

/// `program`, run as user nobody with no inherited capabilities (setpriv;
/// file capabilities still apply).
pub fn as_nobody(program: &std::path::Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]).arg(program);
    cmd
}

/// Sends `signo` to process `pid`.
pub fn signal(pid: u32, signo: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(i32::try_from(pid).expect("pid"), signo) };
}

/// Waits up to `limit` for `done`, polling every 20 ms.
pub fn eventually(limit: std::time::Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// zcopy's programs loaded now, trace's and the agent's (bpftool, installed
/// by `cargo xtask test`): one line each.
pub fn zcopy_programs() -> Vec<String> {
    let out = Command::new("bpftool").args(["prog", "show"]).output().expect("bpftool (cargo xtask test installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            ["syscall_never", "sys_exit_raw", "sched_switch_raw", "zc_start_xmit", " name agent_"]
                .iter()
                .any(|p| l.contains(p))
        })
        .map(str::to_owned)
        .collect()
}
