#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "root tests panic with context, so a failure keeps its location (aya test/README.md)"
)]

//! Tier 2: a real static-file server (Debian's nginx) driven by a real
//! client (curl), profiled by attaching to it. nginx has a switch for the
//! strategy (`sendfile on|off`), so zcopy must name the one in use, and its
//! byte counts must equal what the client received.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{bpf_available, char_device_reads, run, serial, stderr, u, zcopy};
use serde_json::Value;

const FILE_SIZE: usize = 3 << 20;
const REQUESTS: u64 = 4;

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.is_file())
}

/// nginx serving `dir` on 127.0.0.1:port, in the foreground (master + 2 workers).
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(dir: &Path, sendfile: bool) -> Self {
        let port = common::free_port();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "daemon off; master_process on; worker_processes 2; error_log {d}/error.log; pid {d}/nginx.pid;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; sendfile {}; client_body_temp_path {d}/t; proxy_temp_path {d}/t;\n\
                 fastcgi_temp_path {d}/t; uwsgi_temp_path {d}/t; scgi_temp_path {d}/t;\n\
                 server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}\n",
                if sendfile { "on" } else { "off" }
            ),
        )
        .expect("nginx.conf");
        let nginx = nginx_binary().expect("nginx");
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}: {:?}",
                std::fs::read_to_string(dir.join("error.log"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful stop of master and workers.
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let _ = self.child.wait();
    }
}

/// Header and body bytes curl received for one request.
fn fetch(port: u16) -> u64 {
    let out = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{size_header} %{size_download}"])
        .arg(format!("http://127.0.0.1:{port}/big.bin")));
    assert!(out.status.success(), "curl: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let sizes: Vec<u64> = text.split_whitespace().map(|v| v.parse().expect("number")).collect();
    assert_eq!(sizes[1], FILE_SIZE as u64, "{text}");
    sizes.iter().sum()
}

/// Attaches zcopy with `target` args, makes the requests, stops zcopy with
/// Ctrl-C; returns (summary, bytes the client received).
fn profile(target: &[String], port: u16, dir: &Path) -> (Value, u64) {
    profile_while(target, dir, || (0..REQUESTS).map(|_| fetch(port)).sum())
}

/// Attaches zcopy with `target` args, runs `drive`, stops zcopy with
/// Ctrl-C; returns (summary, what `drive` returned).
fn profile_while<T>(target: &[String], dir: &Path, drive: impl FnOnce() -> T) -> (Value, T) {
    let json = dir.join("summary.json");
    let mut zc = Command::new(zcopy())
        .args(["trace", "--no-report", "--export-json"])
        .arg(&json)
        .args(target)
        .stderr(Stdio::piped())
        .spawn()
        .expect("zcopy");
    let mut err = BufReader::new(zc.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("zcopy's first line");
    assert!(line.starts_with("zcopy: tracing"), "{line}");
    let received = drive();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(zc.id() as i32, libc::SIGINT) };
    let status = zc.wait().expect("zcopy ends");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(status.success(), "{rest}");
    let summary = serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON")).expect("parses");
    (summary, received)
}

fn flow<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .find(|f| f["flow"] == name)
        .unwrap_or_else(|| panic!("no {name} flow in {}", summary["flows"]))
}

fn to_sockets(summary: &Value) -> u64 {
    summary["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .filter(|f| f["flow"].as_str().is_some_and(|n| n.ends_with("-> socket")))
        .map(|f| u(&f["bytes"]))
        .sum()
}

#[test]
fn nginx_is_profiled_by_pid_and_its_strategy_named() {
    if !bpf_available("nginx_is_profiled_by_pid_and_its_strategy_named") {
        return;
    }
    assert!(nginx_binary().is_some(), "nginx is not installed (cargo xtask test installs it)");
    let _serial = serial();
    let dir = common::tempdir();
    std::fs::create_dir_all(dir.join("www")).expect("www");
    std::fs::create_dir_all(dir.join("t")).expect("temp");
    std::fs::write(dir.join("www/big.bin"), vec![9u8; FILE_SIZE]).expect("file");

    for sendfile in [true, false] {
        let nginx = Nginx::start(&dir, sendfile);
        // The master; its workers exist already and are found as its children.
        let (s, received) = profile(&["--pid".into(), nginx.child.id().to_string()], nginx.port, &dir);
        let body = REQUESTS * FILE_SIZE as u64;
        let f = flow(&s, "file -> socket");
        assert_eq!(u(&f["bytes"]), body, "sendfile {sendfile}: {f}");
        let top = f["strategies"][0]["strategy"].as_str().expect("strategy");
        if sendfile {
            assert_eq!(top, "sendfile", "{f}");
            assert!(f["savings"].as_array().expect("savings").is_empty(), "{f}");
        } else {
            assert!(top.starts_with("read+write"), "{f}");
            // The advice rests on measured pass-through: nginx's threads
            // wrote every body byte they had just read from the file.
            let pass = &f["pass_through"];
            assert_eq!(
                (pass["relay"].as_bool(), u(&pass["bytes_in"]), u(&pass["passed_on"])),
                (Some(true), body, body),
                "{f}"
            );
            assert_eq!(f["savings"][0]["use_"], "sendfile", "{f}");
            assert_eq!(u(&f["savings"][0]["cpu_copy_bytes_saved"]), 2 * body, "{f}");
        }
        // Everything nginx wrote to sockets is what curl received: headers and bodies.
        assert_eq!(to_sockets(&s), received, "sendfile {sendfile}");
        drop(nginx);
    }

    // By name: every running `nginx`, found in /proc, the same answer.
    let nginx = Nginx::start(&dir, true);
    let (s, received) = profile(&["--comm".into(), "nginx".into()], nginx.port, &dir);
    assert_eq!(flow(&s, "file -> socket")["strategies"][0]["strategy"], "sendfile");
    assert_eq!(to_sockets(&s), received);
    drop(nginx);
}

/// A `zcopy-helper MODE ARGS...` server; returns it and the port it listens on.
fn helper_server(args: &[String]) -> (Child, u16) {
    let mut helper = Command::new(common::helper()).args(args).stdout(Stdio::piped()).spawn().expect("helper");
    let mut out = BufReader::new(helper.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("listening line");
    let port = line.trim().strip_prefix("listening ").expect("listening PORT").parse().expect("port");
    (helper, port)
}

#[test]
fn copy_advice_is_for_relays_only() {
    use std::io::{Read as _, Write as _};
    if !bpf_available("copy_advice_is_for_relays_only") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();

    // A relay: 16 MiB from a client, through the proxy, to an upstream sink.
    const RELAYED: u64 = 16 << 20;
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream_port = upstream.local_addr().expect("addr").port();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().expect("accept");
        std::io::copy(&mut s, &mut std::io::sink()).expect("drain")
    });
    let (mut proxy, port) = helper_server(&["proxy".into(), upstream_port.to_string()]);
    let (s, ()) = profile_while(&["--pid".into(), proxy.id().to_string()], &dir, || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let chunk = vec![5u8; 1 << 20];
        for _ in 0..RELAYED >> 20 {
            c.write_all(&chunk).expect("send");
        }
        drop(c);
        assert!(proxy.wait().expect("proxy ends").success());
    });
    assert_eq!(sink.join().expect("sink"), RELAYED);
    let f = flow(&s, "socket -> socket");
    let pass = &f["pass_through"];
    assert_eq!(
        (u(&pass["bytes_in"]), u(&pass["bytes_out"]), u(&pass["passed_on"]), pass["relay"].as_bool()),
        (RELAYED, RELAYED, RELAYED, Some(true)),
        "{f}"
    );
    assert_eq!(f["savings"][0]["use_"], "splice through a pipe", "{f}");
    assert_eq!(u(&f["savings"][0]["cpu_copy_bytes_saved"]), 2 * RELAYED, "{f}");

    // Requests in, replies out: 2000 requests of 100 bytes, each answered
    // with 4096 bytes the server made. Nothing is passed through.
    const REQUESTS_IN: u64 = 2000;
    let (mut server, port) = helper_server(&["replies".into(), "100".into(), "4096".into()]);
    let (s, got) = profile_while(&["--pid".into(), server.id().to_string()], &dir, || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut reply = vec![0u8; 4096];
        let mut got = 0u64;
        for _ in 0..REQUESTS_IN {
            c.write_all(&[1u8; 100]).expect("request");
            c.read_exact(&mut reply).expect("reply");
            got += reply.len() as u64;
        }
        drop(c);
        assert!(server.wait().expect("server ends").success());
        got
    });
    assert_eq!(got, REQUESTS_IN * 4096);
    let flows = s["flows"].as_array().expect("flows");
    assert!(
        flows.iter().all(|f| f["savings"].as_array().is_none_or(Vec::is_empty)),
        "advice for a non-relay: {flows:?}"
    );
    let f = flow(&s, "socket in, socket out");
    assert!(
        f["strategies"][0]["strategy"]
            .as_str()
            .is_some_and(|t| t.starts_with("requests in (recvfrom), replies out (sendto)")),
        "{f}"
    );
    assert_eq!(u(&f["bytes"]), REQUESTS_IN * 100, "the requests, consumed: {f}");
    assert_eq!(u(&flow(&s, "memory -> socket")["bytes"]), got, "every reply was made in memory");
    let pass = &f["pass_through"];
    // Each reply passes on at most the 100 bytes its thread just read.
    assert_eq!(
        (u(&pass["bytes_in"]), u(&pass["bytes_out"]), u(&pass["passed_on"]), pass["relay"].as_bool()),
        (REQUESTS_IN * 100, got, REQUESTS_IN * 100, Some(false)),
        "{f}"
    );
}

/// A `zcopy-helper threads N CALLS` waiting for SIGUSR1; returns it, its stdout and its PID.
fn waiting_threads(threads: u64, calls: u64) -> (Child, BufReader<std::process::ChildStdout>, u32) {
    waiting_helper(&["threads", &threads.to_string(), &calls.to_string()])
}

/// A `zcopy-helper ARGS` that printed `ready PID` and waits for SIGUSR1.
fn waiting_helper(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>, u32) {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(common::helper());
    // It dies with the test's thread: a failed assertion leaves no helper
    // waiting for a SIGUSR1 that never comes.
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut helper = cmd.args(args).stdout(Stdio::piped()).spawn().expect("helper");
    let mut out = BufReader::new(helper.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ready line");
    let pid = line.trim().strip_prefix("ready ").expect("ready").parse().expect("pid");
    (helper, out, pid)
}

/// Lets the waiting helper run and waits for it to finish.
fn release(mut helper: Child, mut out: BufReader<std::process::ChildStdout>, pid: u32) -> String {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let mut report = String::new();
    std::io::Read::read_to_string(&mut out, &mut report).expect("helper output");
    assert!(helper.wait().expect("helper").success());
    report
}

/// Starts `zcopy trace ARGS` and waits until it says it is tracing; returns
/// it, its stderr, and that first line.
fn start_zcopy(args: &[&str], json: &Path) -> (Child, BufReader<std::process::ChildStderr>, String) {
    let mut zc = Command::new(zcopy())
        .arg("trace")
        .args(args)
        .arg("--export-json")
        .arg(json)
        .stderr(Stdio::piped())
        .spawn()
        .expect("zcopy");
    let mut err = BufReader::new(zc.stderr.take().expect("stderr"));
    let mut first = String::new();
    err.read_line(&mut first).expect("zcopy's first line");
    assert!(first.starts_with("zcopy: tracing"), "{first}");
    (zc, err, first)
}

/// Waits for zcopy to end successfully and reads its JSON summary.
fn finish_zcopy(mut zc: Child, mut err: BufReader<std::process::ChildStderr>, json: &Path) -> Value {
    let status = zc.wait().expect("zcopy");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert!(status.success(), "{rest}");
    serde_json::from_str(&std::fs::read_to_string(json).expect("JSON")).expect("parses")
}

#[test]
fn a_zero_copy_sender_traced_by_pid_shows_what_the_kernel_copied_anyway() {
    if !bpf_available("a_zero_copy_sender_traced_by_pid_shows_what_the_kernel_copied_anyway") {
        return;
    }
    let _serial = serial();
    const SENDS: u64 = 512;
    const SIZE: u64 = 64 << 10;
    let dir = common::tempdir();
    let json = dir.join("summary.json");
    let (helper, out, pid) = waiting_helper(&["zerocopy", &SENDS.to_string(), &SIZE.to_string()]);
    let (zc, err, _) = start_zcopy(&["--no-report", "--pid", &pid.to_string()], &json);
    let report: Value = serde_json::from_str(&release(helper, out, pid)).expect("helper JSON");
    let s = finish_zcopy(zc, err, &json);
    let sent = u(&report["sent"]);
    assert_eq!((sent, u(&report["received"])), (SENDS * SIZE, SENDS * SIZE), "{report}");
    // Ground truth: the sender's own completion reports, plus what TCP
    // retransmitted (a retransmitted zero-copy byte is copied again).
    let reported = u(&report["copied_bytes"]) + u(&report["retransmitted_bytes"]);
    let z = &s["zero_copy"];
    assert!(s["coverage"]["zero_copy_fate"].as_bool().expect("coverage"), "{}", s["sources"]);
    assert_eq!(u(&z["asked_bytes"]), sent, "{z}");
    assert_eq!(u(&z["asked"]["sendto"]), sent, "{z}");
    let seen = u(&z["copied_anyway_bytes"]);
    common::loopback_count(&format!("copied anyway, the kernel's reports: {report}; the probes: {z}"), seen, reported);
    assert!(z["copied_anyway"].as_array().expect("reasons").iter().all(|c| c["how"] == "measured"), "{z}");
    // The copies follow: what was copied is a CPU copy, measured; the rest zero-copy.
    let kind = |k: &str| -> u64 {
        s["copies"].as_array().expect("copies").iter().filter(|c| c["kind"] == k).map(|c| u(&c["bytes"])).sum()
    };
    assert_eq!(kind("zero_copy_copied"), seen.min(sent), "{}", s["copies"]);
    assert_eq!(kind("zero_copy_send"), sent - seen.min(sent), "{}", s["copies"]);
    eprintln!("zero-copy by pid: {reported} of {sent} bytes copied anyway ({report})");
}

#[test]
fn a_many_threaded_target_is_counted_whole_and_its_exit_ends_the_trace() {
    if !bpf_available("a_many_threaded_target_is_counted_whole_and_its_exit_ends_the_trace") {
        return;
    }
    let _serial = serial();
    const THREADS: u64 = 16;
    const CALLS: u64 = 5000;
    let (helper, out, pid) = waiting_threads(THREADS, CALLS);
    let dir = common::tempdir();
    let json = dir.join("summary.json");
    let folder = dir.join("report");
    // No duration: the trace must end when the target exits, mid-trace, and still report.
    let folder_arg = folder.to_str().expect("utf-8");
    let (zc, err, _) = start_zcopy(&["--pid", &pid.to_string(), "--report", folder_arg], &json);
    let report = release(helper, out, pid);
    let s = finish_zcopy(zc, err, &json);
    assert_eq!(s["target"]["ended_by"], "exited");
    // Every thread's reads of /dev/zero, charged to the process: exactly N x CALLS
    // (the runtime's own reads, e.g. glibc reading /proc/self/maps, are of other files).
    let zero_reads = char_device_reads(&s);
    assert_eq!(zero_reads, THREADS * CALLS, "{report}: {}", s["copies"]);
    let all_reads = u(&common::process(&s, u64::from(pid))["syscalls"]["read"]["calls"]);
    assert!(all_reads >= zero_reads, "{all_reads}");
    // The report folder of an attached trace: its timeline ends with the totals.
    for f in ["results.json", "index.md", "index.html", "timeline.png"] {
        assert!(folder.join(f).is_file(), "{f} missing");
    }
    let last = s["timeline"].as_array().expect("timeline").last().expect("a sample").clone();
    assert_eq!(u(&last["syscalls"]), u(&s["syscalls_total"]));
}

/// Spawns `dd` (5000 one-byte reads) until it gets PID `want` (steered with
/// /proc/sys/kernel/ns_last_pid, which only records the last PID handed out).
fn dd_with_pid(want: u32) -> Option<std::process::ExitStatus> {
    for _ in 0..50 {
        let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", (want - 1).to_string());
        let mut dd = Command::new("dd")
            .args(["if=/dev/zero", "of=/dev/null", "bs=1", "count=5000", "status=none"])
            .spawn()
            .expect("dd");
        let pid = dd.id();
        let status = dd.wait().expect("dd");
        if pid == want {
            return Some(status);
        }
    }
    None
}

#[test]
fn a_reused_pid_is_not_counted() {
    if !bpf_available("a_reused_pid_is_not_counted") {
        return;
    }
    let format = std::fs::read_to_string("/sys/kernel/tracing/events/sched/sched_process_exit/format")
        .or_else(|_| std::fs::read_to_string("/sys/kernel/debug/tracing/events/sched/sched_process_exit/format"))
        .unwrap_or_default();
    if !format.is_empty() && !format.contains("group_dead") {
        eprintln!("skipped: sched_process_exit has no group_dead on this kernel (before 6.16)");
        return;
    }
    let _serial = serial();
    // A target, traced by name, that exits during the trace.
    let (helper, out, pid) = waiting_threads(1, 100);
    let dir = common::tempdir();
    let json = dir.join("summary.json");
    let (zc, err, _) = start_zcopy(&["--no-report", "--comm", "zcopy-helper", "--duration", "4"], &json);
    release(helper, out, pid);
    // An unrelated process with the same PID, while the trace goes on.
    let reused = dd_with_pid(pid);
    let s = finish_zcopy(zc, err, &json);
    let Some(status) = reused else {
        eprintln!("skipped: could not get PID {pid} again (other processes took it)");
        return;
    };
    assert!(status.success());
    let reads = u(&common::process(&s, u64::from(pid))["syscalls"]["read"]["calls"]);
    // The helper's 100 reads (and its runtime's few), not dd's 5000.
    assert!((100..1000).contains(&reads), "{reads} reads charged to PID {pid}");
}

/// A fresh cgroup for a test: under the v2 root, or the v2 hierarchy mounted
/// at /sys/fs/cgroup/unified on hybrid systems. Returns (--cgroup argument, folder).
fn test_cgroup() -> Option<(String, PathBuf)> {
    let root = Path::new("/sys/fs/cgroup");
    let base = if root.join("cgroup.procs").exists() { "" } else { "unified/" };
    let name = format!("{base}zcopy-test-{}", std::process::id());
    let dir = root.join(&name);
    std::fs::create_dir(&dir).ok()?;
    Some((name, dir))
}

#[test]
fn a_cgroup_is_traced_through_its_members() {
    if !bpf_available("a_cgroup_is_traced_through_its_members") {
        return;
    }
    let _serial = serial();
    let Some((name, cgroup)) = test_cgroup() else {
        eprintln!("skipped: cannot create a cgroup under /sys/fs/cgroup");
        return;
    };
    const THREADS: u64 = 2;
    const CALLS: u64 = 1000;
    let (helper, out, pid) = waiting_threads(THREADS, CALLS);
    std::fs::write(cgroup.join("cgroup.procs"), pid.to_string()).expect("move the helper into the cgroup");
    let dir = common::tempdir();
    let json = dir.join("summary.json");
    let (zc, err, first) = start_zcopy(&["--no-report", "--cgroup", &name, "--duration", "3"], &json);
    assert!(first.contains("cgroup") && first.contains("(1 process now)"), "{first}");
    release(helper, out, pid);
    let s = finish_zcopy(zc, err, &json);
    let _ = std::fs::remove_dir(&cgroup);
    assert_eq!(char_device_reads(&s), THREADS * CALLS);
}

/// A process that joins the cgroup during the trace is followed in the
/// kernel (at its first syscall there), not found later by polling: all of
/// its work is counted. A cgroup v1 folder is refused with the reason.
#[test]
fn a_process_that_joins_the_cgroup_during_the_trace_is_counted_whole() {
    if !bpf_available("a_process_that_joins_the_cgroup_during_the_trace_is_counted_whole") {
        return;
    }
    let _serial = serial();
    let Some((name, cgroup)) = test_cgroup() else {
        eprintln!("skipped: cannot create a cgroup under /sys/fs/cgroup");
        return;
    };
    // Below it, too: a nested cgroup's members are the cgroup's.
    let nested = cgroup.join("inner");
    std::fs::create_dir(&nested).expect("nested cgroup");
    const THREADS: u64 = 2;
    const CALLS: u64 = 5000;
    let dir = common::tempdir();
    let json = dir.join("summary.json");
    let (zc, err, first) = start_zcopy(&["--no-report", "--cgroup", &name, "--duration", "3"], &json);
    assert!(first.contains("(0 processes now)"), "{first}");
    let (helper, out, pid) = waiting_threads(THREADS, CALLS);
    std::fs::write(nested.join("cgroup.procs"), pid.to_string()).expect("move the helper into the cgroup");
    // Its reads start at once: a poll every 100 ms would miss them.
    release(helper, out, pid);
    let s = finish_zcopy(zc, err, &json);
    let _ = std::fs::remove_dir(&nested);
    let _ = std::fs::remove_dir(&cgroup);
    assert_eq!(char_device_reads(&s), THREADS * CALLS, "{}", s["processes"]);

    // cgroup v1: a named hierarchy of its own, mounted for the test.
    let v1 = common::tempdir();
    let mounted = run(Command::new("mount").args(["-t", "cgroup", "-o", "none,name=zcopytest", "cgroup"]).arg(&v1));
    if !mounted.status.success() {
        eprintln!("skipped the v1 part: cannot mount a cgroup v1 hierarchy here: {}", stderr(&mounted));
        let _ = std::fs::remove_dir(&v1);
        return;
    }
    let out = run(Command::new(zcopy()).args(["trace", "--no-report", "--duration", "1", "--cgroup"]).arg(&v1));
    let _ = run(Command::new("umount").arg(&v1));
    let _ = std::fs::remove_dir(&v1);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a cgroup v1 folder"), "{}", stderr(&out));
}

#[test]
fn inside_a_pid_namespace_zcopy_refuses_and_says_why() {
    if !bpf_available("inside_a_pid_namespace_zcopy_refuses_and_says_why") {
        return;
    }
    // `timeout`: were the check missing, zcopy would trace until Ctrl-C.
    let out = run(Command::new("timeout")
        .args(["20", "unshare", "--pid", "--fork", "--mount-proc"])
        .arg(zcopy())
        .args(["trace", "--no-report", "--pid", "1"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("PID namespace") && err.contains("host PID"), "{err}");
}
