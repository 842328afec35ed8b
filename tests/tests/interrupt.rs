#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "root tests panic with context, so a failure keeps its location (aya test/README.md)"
)]

//! Tier 3: interruption is normal use. Each signal at each phase of a bench
//! (writing the source, running cases), SIGKILL and then the next run, and
//! SIGTERM to a traced command; after each, the machine is checked: no
//! process of that zcopy in any state, no BPF program of zcopy's attached,
//! no work folder.

mod common;

use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{bpf_available, eventually, serial, zcopy, zcopy_programs};

/// How long the checks wait for what a signal must bring about.
const WAIT: Duration = Duration::from_secs(10);

/// Processes whose command line mentions `needle` (the test's private folder).
fn processes_with(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle).then(|| format!("{}: {text}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// What zcopy must never change: the host's mounts (PID 1's view) and the
/// sysctls a tracer could touch.
fn system_settings() -> String {
    let mut out = std::fs::read_to_string("/proc/1/mountinfo").expect("mountinfo");
    for sysctl in ["kernel/bpf_stats_enabled", "kernel/perf_event_paranoid", "kernel/unprivileged_bpf_disabled"] {
        out.push_str(&std::fs::read_to_string(Path::new("/proc/sys").join(sysctl)).unwrap_or_default());
    }
    out
}

/// Nothing of the zcopy that worked in `dir` is left, and the system's
/// settings are as `before`.
fn nothing_left_and_unchanged(dir: &Path, when: &str, before: &str) {
    nothing_left(dir, when);
    assert_eq!(system_settings(), before, "{when}: mounts or sysctls changed");
}

/// Nothing of the zcopy that worked in `dir` is left.
fn nothing_left(dir: &Path, when: &str) {
    let needle = dir.to_string_lossy().into_owned();
    eventually(WAIT, &format!("{when}: processes left: {:?}", processes_with(&needle)), || {
        processes_with(&needle).is_empty()
    });
    let folders: Vec<_> = std::fs::read_dir(dir).expect("dir").filter_map(Result::ok).map(|e| e.path()).collect();
    assert!(folders.is_empty(), "{when}: left behind: {folders:?}");
    eventually(WAIT, &format!("{when}: programs left: {:?}", zcopy_programs()), || zcopy_programs().is_empty());
}

/// A bench in `dir`, its stderr read line by line.
fn bench(dir: &Path, size: &str) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(zcopy())
        .args(["bench", "--no-report", "-s", "read-write,sendfile,splice", "--runs", "50", "--warmup", "0"])
        .args(["--size", size, "--dir"])
        .arg(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("zcopy bench");
    let err = BufReader::new(child.stderr.take().expect("stderr"));
    (child, err)
}

fn signal(child: &Child, signo: i32) {
    common::signal(child.id(), signo);
}

/// Ends `child` with `signo`; returns its exit code and the rest of stderr.
fn interrupt(mut child: Child, mut err: BufReader<std::process::ChildStderr>, signo: i32) -> (Option<i32>, String) {
    signal(&child, signo);
    let status = child.wait().expect("zcopy ends");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    (status.code(), rest)
}

#[test]
fn a_signal_at_any_phase_of_a_bench_stops_it_and_leaves_nothing() {
    if !bpf_available("a_signal_at_any_phase_of_a_bench_stops_it_and_leaves_nothing") {
        return;
    }
    let _serial = serial();
    let before = system_settings();
    for (signo, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        // While the source file is written (2 GiB: a second or more of writing).
        let dir = common::tempdir();
        let (child, mut err) = bench(&dir, "2G");
        let mut line = String::new();
        while !line.contains("writing a") {
            line.clear();
            assert!(err.read_line(&mut line).expect("stderr") > 0, "zcopy ended before writing its source");
        }
        std::thread::sleep(Duration::from_millis(300));
        let (code, rest) = interrupt(child, err, signo);
        assert_eq!(code, Some(128 + signo), "{name} while writing: {rest}");
        assert!(rest.contains(&format!("interrupted by {name}")), "{rest}");
        nothing_left_and_unchanged(&dir, &format!("{name} while writing the source"), &before);

        // While cases run: once a worker exists.
        let (child, err) = bench(&dir, "256M");
        let needle = dir.to_string_lossy().into_owned();
        eventually(WAIT, "no worker started", || processes_with(&needle).iter().any(|p| p.contains(" worker ")));
        let (code, rest) = interrupt(child, err, signo);
        assert_eq!(code, Some(128 + signo), "{name} during runs: {rest}");
        assert!(rest.contains(&format!("interrupted by {name}")) && !rest.contains("FAILED"), "{rest}");
        nothing_left_and_unchanged(&dir, &format!("{name} during runs"), &before);
    }
}

#[test]
fn after_sigkill_workers_die_and_the_next_run_cleans_up() {
    if !bpf_available("after_sigkill_workers_die_and_the_next_run_cleans_up") {
        return;
    }
    let _serial = serial();
    let before = system_settings();
    let dir = common::tempdir();
    let needle = dir.to_string_lossy().into_owned();
    let (mut child, _err) = bench(&dir, "256M");
    eventually(WAIT, "no worker started", || processes_with(&needle).iter().any(|p| p.contains(" worker ")));
    signal(&child, libc::SIGKILL);
    child.wait().expect("zcopy ends");
    // The workers die with it (PR_SET_PDEATHSIG), stopped or not.
    eventually(WAIT, &format!("workers outlived zcopy: {:?}", processes_with(&needle)), || {
        processes_with(&needle).is_empty()
    });
    let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok).map(|e| e.path()).collect();
    assert_eq!(left.len(), 1, "SIGKILL cannot clean up in-process: its folder stays until the next run: {left:?}");
    // The next run removes it, and says so.
    let out = common::run(
        Command::new(zcopy())
            .args(["bench", "--no-report", "-s", "sendfile", "--runs", "1", "--warmup", "0", "--size", "1M", "--dir"])
            .arg(&dir),
    );
    let text = common::stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("removed {}", left[0].display())), "{text}");
    nothing_left_and_unchanged(&dir, "the run after a SIGKILL", &before);
}

#[test]
fn sigterm_to_a_command_trace_reaches_the_command_and_the_summary_is_printed() {
    if !bpf_available("sigterm_to_a_command_trace_reaches_the_command_and_the_summary_is_printed") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();
    let json = dir.join("summary.json");
    // A command no other test runs: a sleep of a length that names this test.
    let length = format!("{}.{}", 600 + std::process::id() % 1000, std::process::id());
    let mut child = Command::new(zcopy())
        .args(["trace", "--no-report", "--export-json"])
        .arg(&json)
        .args(["--", "sleep", &length])
        .stderr(Stdio::piped())
        .spawn()
        .expect("zcopy trace");
    let needle = format!("sleep {length}");
    eventually(WAIT, "the command did not start", || !processes_with(&needle).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let status = child.wait().expect("zcopy ends");
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err);
    // The command got SIGTERM: zcopy exits with its status, as a shell would.
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{err}");
    assert!(err.contains("was killed by signal 15"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the summary so far")).expect("JSON");
    assert_eq!(summary["target"]["ended_by"], "interrupted");
    eventually(WAIT, &format!("the command outlived the trace: {:?}", processes_with(&needle)), || {
        processes_with(&needle).is_empty()
    });
    std::fs::remove_file(&json).expect("summary");
    nothing_left(&dir, "SIGTERM to a traced command");
}

/// Outputs on a read-only file system are refused before any work (a
/// trace or a bench is not run only to lose its results), and nothing is
/// left behind.
#[test]
fn read_only_outputs_are_refused_before_the_work() {
    if !bpf_available("read_only_outputs_are_refused_before_the_work") {
        return;
    }
    let _serial = serial();
    let before = system_settings();
    let dir = common::tempdir();
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).expect("mount point");
    let mounted = common::run(Command::new("mount").args(["-t", "tmpfs", "-o", "ro", "none"]).arg(&ro));
    assert!(mounted.status.success(), "mount: {}", common::stderr(&mounted));
    let refused = |args: Vec<String>| {
        let out = common::run(Command::new(zcopy()).args(&args));
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("read-only file system"), "{args:?}: {err}");
        // Refused before the work: the bench wrote no source (its --dir stays empty).
        assert!(!err.contains("writing a"), "{args:?} started its work: {err}");
    };
    let ro_path = |name: &str| ro.join(name).to_string_lossy().into_owned();
    let work = dir.join("work");
    std::fs::create_dir(&work).expect("work dir");
    refused(vec![
        "trace".into(),
        "--no-report".into(),
        "--export-json".into(),
        ro_path("x.json"),
        "--".into(),
        "true".into(),
    ]);
    refused(vec![
        "bench".into(),
        "--size".into(),
        "1G".into(),
        "--dir".into(),
        work.to_string_lossy().into_owned(),
        "--report".into(),
        ro_path("report"),
    ]);
    let _ = common::run(Command::new("umount").arg(&ro));
    let _ = std::fs::remove_dir(&ro);
    nothing_left_and_unchanged(&work, "read-only outputs", &before);
}
