#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "root tests panic with context, so a failure keeps its location (aya test/README.md)"
)]

//! Tier 2: real programs on the real kernel, against independent counters.
//! Needs root; skipped otherwise, unless ZCOPY_REQUIRE_BPF=1 (CI), where a
//! skip is a failure. Serialised: they share the kernel and the two CPUs.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{bpf_available, calls, char_device_reads, helper, process, run, serial, stderr, trace_command, u, zcopy};
use serde_json::Value;

/// Known workload: READS, WRITES, SIZE, PAGES, SLEEPS (see zcopy-helper).
const READS: u64 = 1000;
const WRITES: u64 = 700;
const SIZE: u64 = 4096;
const PAGES: u64 = 64;
const SLEEPS: u64 = 5;

fn helper_args() -> Vec<String> {
    [READS, WRITES, SIZE, PAGES, SLEEPS].iter().map(u64::to_string).collect()
}

fn helper_report(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no report from helper: {text}"));
    serde_json::from_str(line).expect("helper JSON")
}

/// Context switches may differ by one: the worker's last switch (in
/// do_task_dead) can come after its parent has read /proc and reaped it.
const SWITCH_TOLERANCE: u64 = 1;

#[test]
fn a_known_workload_is_counted_exactly() {
    if !bpf_available("a_known_workload_is_counted_exactly") {
        return;
    }
    let _serial = serial();
    let helper = helper();
    let mut argv = vec![helper.to_str().expect("utf-8 path").to_owned()];
    argv.extend(helper_args());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (out, summary) = trace_command(&argv);
    assert!(out.status.success(), "{}", stderr(&out));
    let truth = helper_report(&out.stdout);
    assert_eq!(truth["worker_exit"], 0);
    let page = u(&truth["page_size"]);
    let worker = process(&summary, u(&truth["worker_pid"]));
    let sc = &worker["syscalls"];

    // Exactly the calls and bytes the workload makes.
    assert_eq!(calls(sc, "read"), READS);
    assert_eq!(u(&sc["read"]["bytes"]), READS * SIZE);
    assert_eq!(calls(sc, "write"), WRITES);
    assert_eq!(u(&sc["write"]["bytes"]), WRITES * SIZE);
    assert_eq!(calls(sc, "mmap"), 1);
    assert_eq!(u(&sc["mmap"]["bytes"]), PAGES * page);
    assert_eq!(calls(sc, "munmap"), 1);
    // Everything else the worker does: set_robust_list (glibc's fork),
    // SLEEPS x clock_nanosleep, exit_group.
    assert_eq!(u(&worker["syscalls_total"]), READS + WRITES + 2 + 1 + SLEEPS + 1);

    // Faults: the same as the kernel's own per-process counters, and every
    // fault exception is one perf page-fault event.
    let f = &worker["faults"];
    let minor_major = u(&f["minor"]) + u(&f["major"]);
    let proc_faults = u(&truth["proc"]["minflt"]) + u(&truth["proc"]["majflt"]);
    let rusage_faults = u(&truth["rusage"]["minflt"]) + u(&truth["rusage"]["majflt"]);
    assert_eq!(minor_major, proc_faults, "zcopy {f} vs /proc {}", truth["proc"]);
    assert_eq!(minor_major, rusage_faults, "zcopy {f} vs rusage {}", truth["rusage"]);
    assert_eq!(u(&f["total"]), u(&f["user"]) + u(&f["kernel"]), "{f}");
    assert!(
        u(&f["user"]) >= PAGES.div_ceil(16),
        "touching {PAGES} mapped pages faults at least once per fault-around block: {f}"
    );

    // Context switches against /proc/PID/status.
    let s = &worker["switches"];
    let (vol, invol) = (u(&s["voluntary"]), u(&s["involuntary"]));
    let (nvcsw, nivcsw) = (u(&truth["proc"]["nvcsw"]), u(&truth["proc"]["nivcsw"]));
    assert!(vol.abs_diff(nvcsw) <= SWITCH_TOLERANCE, "voluntary: zcopy {vol}, /proc {nvcsw}");
    assert!(invol.abs_diff(nivcsw) <= SWITCH_TOLERANCE, "involuntary: zcopy {invol}, /proc {nivcsw}");
    assert!(vol >= SLEEPS, "each nanosleep blocks: {vol} < {SLEEPS}");

    // Totals are the sum over processes; nothing was dropped.
    let sum: u64 = summary["processes"].as_array().expect("array").iter().map(|p| u(&p["syscalls_total"])).sum();
    assert_eq!(u(&summary["syscalls_total"]), sum);
    assert_eq!(u(&summary["mode_transitions"]), 2 * sum);
    assert!(summary["drops"].as_object().expect("drops").values().all(|v| v == 0), "{}", summary["drops"]);
    assert!(summary["sources"]["mode_transitions"].as_str().expect("str").starts_with("inferred:"));
}

/// Per-syscall counts from `strace -c -f` (name -> calls) and its total.
fn strace_counts(argv: &[&str]) -> (std::collections::BTreeMap<String, u64>, u64) {
    let dir = common::tempdir();
    let file = dir.join("strace.txt");
    let out = run(Command::new("strace").args(["-c", "-f", "-o"]).arg(&file).args(argv).stdout(Stdio::null()));
    assert!(out.status.success(), "strace: {}", stderr(&out));
    let text = std::fs::read_to_string(&file).expect("strace output");
    let mut counts = std::collections::BTreeMap::new();
    let mut total = None;
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let Some(name) = cols.last() else { continue };
        // % time, seconds, usecs/call, calls, [errors], syscall
        if cols.len() >= 5 && cols[0].parse::<f64>().is_ok() {
            let n: u64 = cols[3].parse().expect("calls column");
            if *name == "total" {
                total = Some(n)
            } else {
                counts.insert((*name).to_owned(), n);
            }
        }
    }
    (counts, total.unwrap_or_else(|| panic!("no total in strace output:\n{text}")))
}

/// strace -c leaves out exit_group (it never returns); zcopy counts it.
/// Returns zcopy's summary.
fn assert_matches_strace(argv: &[&str], processes: u64, env: &[(&str, &str)]) -> Value {
    let (strace, strace_total) = strace_counts(argv);
    let (out, summary) = common::trace_command_with(argv, env);
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, figures) in summary["syscalls"].as_object().expect("syscalls") {
        let ours = u(&figures["calls"]);
        let theirs = strace.get(name).copied().unwrap_or(0);
        assert_eq!(ours, theirs, "{name}: zcopy {ours}, strace -c -f {theirs} ({argv:?})");
    }
    assert_eq!(
        u(&summary["syscalls_total"]),
        strace_total + processes,
        "{argv:?}: strace total {strace_total} + {processes} exit_group"
    );
    summary
}

#[test]
fn syscall_counts_equal_strace() {
    if !bpf_available("syscall_counts_equal_strace") {
        return;
    }
    let _serial = serial();
    let dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=4096", "count=20000"];
    let s = assert_matches_strace(&dd, 1, &[]);
    assert!(
        s["sources"]["syscalls"].as_str().is_some_and(|t| t.contains("raw tracepoint sys_exit")),
        "{}",
        s["sources"]
    );
    let helper = helper();
    let mut argv = vec![helper.to_str().expect("utf-8 path").to_owned()];
    argv.extend(helper_args());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    assert_matches_strace(&argv, 2, &[]);
    // The fallback, the classic raw_syscalls tracepoints (an entry and an
    // exit program), where raw tracepoints are not used: the same counts.
    let skip = [("ZCOPY_SKIP_MECHANISMS", "raw_tracepoint")];
    let s = assert_matches_strace(&dd, 1, &skip);
    assert!(
        s["sources"]["syscalls"].as_str().is_some_and(|t| t.contains("tracepoints raw_syscalls")),
        "{}",
        s["sources"]
    );
    assert_matches_strace(&argv, 2, &skip);
}

/// Starts the helper waiting for SIGUSR1; returns it and its pid.
fn waiting_helper() -> (std::process::Child, u32, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(helper())
        .arg("--wait-for-signal")
        .args(helper_args())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start helper");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("helper ready line");
    let pid = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("helper said {line:?}"));
    (child, pid, stdout)
}

/// Starts `zcopy trace --pid` and waits until it says it is tracing.
fn zcopy_on_pid(pid: u32, json: &std::path::Path, extra: &[&str]) -> std::process::Child {
    let mut zc = Command::new(zcopy())
        .args(["trace", "--no-report", "--pid", &pid.to_string(), "--export-json"])
        .arg(json)
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zcopy");
    let mut err = BufReader::new(zc.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("zcopy first line");
    assert!(line.contains(&format!("tracing PID {pid}")), "zcopy said: {line}");
    // Keep draining stderr so zcopy never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    zc
}

fn wait_for_perf_counters(perf_pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let opened = std::fs::read_dir(format!("/proc/{perf_pid}/fd")).is_ok_and(|fds| {
            fds.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .any(|l| l.to_string_lossy().contains("perf_event"))
        });
        if opened {
            // perf enables its counters right after opening them.
            std::thread::sleep(Duration::from_millis(300));
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("perf stat did not open its counters");
}

#[test]
fn attached_to_a_pid_faults_equal_perf_stat_and_proc() {
    if !bpf_available("attached_to_a_pid_faults_equal_perf_stat_and_proc") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();
    let json = dir.join("pid.json");
    let perf_out = dir.join("perf.csv");
    let (mut helper, pid, mut helper_out) = waiting_helper();
    let mut zc = zcopy_on_pid(pid, &json, &[]);
    let mut perf = Command::new("perf")
        .args(["stat", "-e", "page-faults", "-x", ",", "-o"])
        .arg(&perf_out)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("start perf stat");
    wait_for_perf_counters(perf.id());
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let mut report = String::new();
    std::io::Read::read_to_string(&mut helper_out, &mut report).expect("helper report");
    let truth = helper_report(report.as_bytes());
    // perf stat -p ends only once the process is reaped; zcopy when it exits.
    helper.wait().expect("reap helper");
    let zc_status = zc.wait().expect("zcopy exits when the process does");
    let perf_status = perf.wait().expect("perf exits");
    assert!(zc_status.success() && perf_status.success());

    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("zcopy JSON")).expect("parses");
    assert_eq!(summary["target"]["ended_by"], "exited");
    let perf_text = std::fs::read_to_string(&perf_out).expect("perf output");
    let perf_faults: u64 = perf_text
        .lines()
        .find(|l| l.contains("page-faults"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no page-faults in perf output:\n{perf_text}"));
    assert_eq!(
        u(&summary["faults"]["total"]),
        perf_faults,
        "zcopy {} vs perf stat -p {perf_faults}",
        summary["faults"]
    );

    // The worker, forked while traced, is followed.
    let worker = process(&summary, u(&truth["worker_pid"]));
    assert_eq!(calls(&worker["syscalls"], "read"), READS);
    assert_eq!(
        u(&worker["faults"]["minor"]) + u(&worker["faults"]["major"]),
        u(&truth["rusage"]["minflt"]) + u(&truth["rusage"]["majflt"])
    );
}

#[test]
fn a_duration_ends_the_trace_and_the_process_keeps_running() {
    if !bpf_available("a_duration_ends_the_trace_and_the_process_keeps_running") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();
    let json = dir.join("d.json");
    let (mut helper, pid, _out) = waiting_helper();
    let mut zc = zcopy_on_pid(pid, &json, &["--duration", "0.3"]);
    assert!(zc.wait().expect("zcopy").success());
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parses");
    assert_eq!(summary["target"]["ended_by"], "duration");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the traced process must survive");
    // Let it finish (a killed helper would leave its mapped file in /tmp).
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    assert!(helper.wait().expect("reap").success(), "the helper ran its workload after the trace");
}

#[test]
fn bad_targets_get_one_clear_line() {
    if !bpf_available("bad_targets_get_one_clear_line") {
        return;
    }
    let _serial = serial();
    // Exit codes as a shell's: 127 not found, 126 not runnable.
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec!["trace".into(), "--pid".into(), "4000000".into()], 1, "no process with PID 4000000"),
        (
            vec!["trace".into(), "--".into(), "no-such-command-zcopy".into()],
            127,
            "command not found: no-such-command-zcopy",
        ),
        (vec!["trace".into(), "--".into(), "/etc/hostname".into()], 126, "cannot execute /etc/hostname"),
    ];
    for (args, code, expected) in cases {
        let out = run(Command::new(zcopy()).args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    // A thread id is not a process id.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::gettid() }).expect("send tid");
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().expect("tid");
    let out = run(Command::new(zcopy()).args(["trace", "--pid", &tid.to_string()]));
    assert!(stderr(&out).contains(&format!("use `--pid {}`", std::process::id())), "{}", stderr(&out));
    stop_tx.send(()).expect("stop thread");
    thread.join().expect("join");
}

#[test]
fn the_command_exit_status_is_zcopys() {
    if !bpf_available("the_command_exit_status_is_zcopys") {
        return;
    }
    let _serial = serial();
    let (out, summary) = trace_command(&["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(summary["target"]["exit_code"], 7);
    let (out, summary) = trace_command(&["sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM));
    assert_eq!(summary["target"]["exit_signal"], libc::SIGTERM);
}

fn bpf_program_names() -> Vec<String> {
    let out = run(Command::new("bpftool").args(["prog", "show", "--json"]));
    assert!(out.status.success(), "bpftool: {}", stderr(&out));
    let progs: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    progs.as_array().expect("array").iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect()
}

fn tracefs_mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.contains(" tracefs "))
        .count()
}

#[test]
fn nothing_is_left_behind() {
    if !bpf_available("nothing_is_left_behind") {
        return;
    }
    let _serial = serial();
    let ours = ["sys_enter", "sys_exit", "sched_switch", "page_fault_user", "perf_page_fault"];
    let count = |names: &[String]| names.iter().filter(|n| ours.iter().any(|o| n.starts_with(o))).count();
    let programs_before = count(&bpf_program_names());
    let mounts_before = tracefs_mounts();

    // A normal run, a failed run and an interrupted run.
    let (out, _) = trace_command(&["true"]);
    assert!(out.status.success());
    let cwd = common::tempdir();
    let _ = run(Command::new(zcopy()).args(["trace", "--", "no-such-command-zcopy"]).current_dir(&cwd));
    assert_eq!(std::fs::read_dir(&cwd).expect("cwd").count(), 0, "a failed trace left a report folder");
    let zc = Command::new(zcopy())
        .args(["trace", "--no-report", "--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("zcopy");
    let child = wait_for_child(zc.id());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(zc.id() as i32, libc::SIGINT) };
    let out = zc.wait_with_output().expect("zcopy ends");
    assert_eq!(out.status.code(), Some(128 + libc::SIGINT), "{}", stderr(&out));
    assert!(stderr(&out).contains("killed by signal 2"), "{}", stderr(&out));
    assert!(!std::path::Path::new(&format!("/proc/{child}")).exists(), "the traced command was left running");

    assert_eq!(count(&bpf_program_names()), programs_before, "BPF programs left attached");
    assert_eq!(tracefs_mounts(), mounts_before, "the system's mounts changed");
}

/// The pid of the first child of `parent`.
fn wait_for_child(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next().and_then(|p| p.parse().ok()) {
            // Give it time to exec past the hold.
            std::thread::sleep(Duration::from_millis(200));
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("zcopy started no command");
}

#[test]
fn doctor_tries_every_program_type_and_plans_around_failures() {
    if !bpf_available("doctor_tries_every_program_type_and_plans_around_failures") {
        return;
    }
    let _serial = serial();
    let out = run(Command::new(zcopy()).args(["doctor", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let mechanisms: Vec<(&str, &str)> = report["mechanisms"]
        .as_array()
        .expect("mechanisms")
        .iter()
        .map(|m| (m["mechanism"].as_str().expect("name"), m["outcome"]["status"].as_str().expect("status")))
        .collect();
    let names: Vec<&str> = mechanisms.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["tracepoint", "raw_tracepoint", "tp_btf", "perf_event", "fentry", "kprobe"]);
    // zcopy trace works here (the other tests), so tracepoints and perf events must.
    assert!(
        mechanisms.contains(&("tracepoint", "works")) && mechanisms.contains(&("perf_event", "works")),
        "{mechanisms:?}"
    );
    // The plan is what a trace attaches here, probe by probe: each field the
    // doctor says is measured has exactly that source in a trace's JSON, and
    // each field of a probe it says falls back is not measured there.
    let works = |m: &str| mechanisms.iter().any(|(n, s)| *n == m && *s == "works");
    let (_, trace) = trace_command(&["true"]);
    let sources = trace["sources"].as_object().expect("sources");
    let plan = report["plan"].as_array().expect("plan");
    assert!(plan.len() >= 11, "one decision per probe: {plan:?}");
    for p in plan {
        match p["decision"].as_str() {
            Some("uses") => {
                for (field, how) in p["sources"].as_object().expect("sources of a used probe") {
                    let provenance = p["provenance"].as_str().expect("provenance");
                    assert_eq!(sources[field], format!("{provenance}: {}", how.as_str().unwrap()), "{}", p["what"]);
                }
            }
            Some("falls_back") => {
                for field in p["fields"].as_array().expect("fields") {
                    let text = sources[field.as_str().unwrap()].as_str().unwrap();
                    assert!(!text.starts_with("measured"), "{}: doctor falls back, trace measured: {text}", p["what"]);
                }
            }
            other => panic!("decision {other:?}"),
        }
    }
    // The copy routines: used only where a way attaches for real (not merely
    // where fentry loads on vfs_read), and then the trace measures them.
    let copies =
        plan.iter().find(|p| p["what"].as_str().is_some_and(|w| w.contains("copy routines"))).expect("copy plan");
    let measured = sources["data.copied_bytes"].as_str().unwrap().starts_with("measured");
    assert_eq!(copies["decision"] == "uses", measured, "{copies}");
    if !works("fentry") && !works("kprobe") {
        assert_eq!(copies["decision"], "falls_back");
    }
    // Every tracepoint zcopy may attach is reported present.
    for tp in report["tracepoints"].as_array().expect("tracepoints") {
        assert_eq!(tp["present"], true, "{tp}");
    }
}

#[test]
fn bpf_log_forwards_the_programs_debug_lines() {
    if !bpf_available("bpf_log_forwards_the_programs_debug_lines") {
        return;
    }
    let _serial = serial();
    let out = run(Command::new(zcopy()).args(["trace", "--no-report", "--bpf-log", "--", "true"]));
    assert!(out.status.success());
    assert!(stderr(&out).contains("call pid="), "{}", stderr(&out));
    let out = run(Command::new(zcopy()).args(["trace", "--no-report", "--", "true"]));
    assert!(!stderr(&out).contains("call pid="), "off by default");
}

/// Evicts `path` from the page cache (it must be clean).
fn evict(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open");
    f.sync_all().expect("sync");
    // SAFETY: fadvise on our own open file.
    assert_eq!(unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) }, 0);
}

#[test]
fn reading_an_uncached_file_shows_device_reads_and_page_cache_insertions() {
    if !bpf_available("reading_an_uncached_file_shows_device_reads_and_page_cache_insertions") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();
    let file = dir.join("data.bin");
    let size: u64 = 8 << 20;
    std::fs::write(&file, vec![0x5au8; size as usize]).expect("write");
    evict(&file);
    let path = file.to_str().expect("utf-8");
    let (out, cold) = trace_command(&["cat", path]);
    assert!(out.status.success());
    // The whole cat process is traced: besides the file, it loads its binary,
    // libraries and locale data, and any of their pages that were not cached
    // are inserted too (seen: 0 to 12 KiB). Tolerance: 1 MiB above the file.
    // (`zcopy bench`, which measures only the transfer, asserts exact equality.)
    let added = u(&cold["data"]["pagecache_added_bytes"]);
    assert!((size..=size + (1 << 20)).contains(&added), "{}", cold["data"]);
    assert!(u(&cold["data"]["block_read_bytes"]) >= size, "{}", cold["data"]);
    // Now cached: the file is not read from the device again. (cat's own
    // library and locale pages may have been reclaimed meanwhile and come
    // back: seen 8 KiB under a busy CI. The bound is far below the file.)
    let (_, warm) = trace_command(&["cat", path]);
    assert!(u(&warm["data"]["pagecache_added_bytes"]) < size / 8, "{}", warm["data"]);
    assert!(u(&warm["data"]["block_read_bytes"]) < size / 8, "{}", warm["data"]);
    assert_eq!(u(&warm["data"]["recv_copy_bytes"]), 0);
}

#[test]
fn copies_are_classified_by_the_kinds_of_the_fds_and_labelled_inferred() {
    if !bpf_available("copies_are_classified_by_the_kinds_of_the_fds_and_labelled_inferred") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();
    let file = dir.join("data.bin");
    let size: u64 = 4 << 20;
    std::fs::write(&file, vec![7u8; size as usize]).expect("write");
    let input = format!("if={}", file.to_str().expect("utf-8"));
    // stdout is a pipe to this test: dd's writes copy user -> pipe buffers.
    let (out, s) = trace_command(&["dd", &input, "bs=64K", "status=none"]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len() as u64, size);
    let copies = s["copies"].as_array().expect("copies");
    let flow = |syscall: &str, from: &str, to: &str| {
        copies
            .iter()
            .find(|c| c["syscall"] == syscall && c["from"] == from && c["to"] == to)
            .unwrap_or_else(|| panic!("no {syscall} {from} -> {to} in {copies:?}"))
    };
    let write = flow("write", "user memory", "pipe");
    assert_eq!((write["kind"].as_str(), u(&write["bytes"])), (Some("cpu_user_to_kernel"), size));
    assert_eq!(write["how"], "inferred");
    // The file's bytes, plus what the loader and locale code read from other files.
    let read = flow("read", "file", "user memory");
    let read_bytes = u(&read["bytes"]);
    assert_eq!(read["kind"], "cpu_kernel_to_user");
    assert!((size..size + (64 << 10)).contains(&read_bytes), "{read_bytes}");
    assert!(s["sources"]["copies"].as_str().is_some_and(|t| t.starts_with("inferred:")));

    // The copy routines: counted where fexit or kprobes attach, and then at
    // least the file read into user memory and the pipe writes out of it;
    // elsewhere (this CI machine refuses both) null, and labelled so.
    let data = &s["data"];
    let source = s["sources"]["data.copied_bytes"].as_str().expect("source");
    if source.starts_with("measured:") {
        let (to_user, from_user) = (u(&data["copied_to_user_bytes"]), u(&data["copied_from_user_bytes"]));
        assert!((size..size + (1 << 20)).contains(&to_user), "{to_user}");
        assert!((size..size + (1 << 20)).contains(&from_user), "{from_user}");
    } else {
        assert!(source.starts_with("not measured"), "{source}");
        assert!(data["copied_to_user_bytes"].is_null() && data["copied_from_user_bytes"].is_null(), "{data}");
    }
}

/// fd kinds are resolved per call, at its exit: a descriptor number closed
/// and reused by a socket, then dup2'd over by a regular file, is each
/// time classified by what it is then.
#[test]
fn a_reused_or_dup2d_descriptor_is_classified_by_its_file_at_the_call() {
    if !bpf_available("a_reused_or_dup2d_descriptor_is_classified_by_its_file_at_the_call") {
        return;
    }
    let _serial = serial();
    const N: u64 = 100;
    let dir = common::tempdir();
    let file = dir.join("target.bin");
    let helper = helper();
    let argv = [helper.to_str().expect("utf-8"), "reuse", "100", file.to_str().expect("utf-8")];
    let (out, s) = trace_command(&argv);
    assert!(out.status.success(), "{}", stderr(&out));
    let copies = s["copies"].as_array().expect("copies");
    let write_to = |to: &str| {
        copies
            .iter()
            .find(|c| c["syscall"] == "write" && c["from"] == "user memory" && c["to"] == to)
            .map(|c| (u(&c["calls"]), u(&c["bytes"])))
            .unwrap_or_else(|| panic!("no write -> {to} in {copies:?}"))
    };
    assert_eq!(write_to("char device"), (N, 3 * N));
    assert_eq!(write_to("socket"), (N, 5 * N));
    assert_eq!(write_to("file"), (N, 7 * N));
}

#[test]
fn transmits_are_counted_per_device_and_loopback_is_not_dma() {
    if !bpf_available("transmits_are_counted_per_device_and_loopback_is_not_dma") {
        return;
    }
    let _serial = serial();
    const COUNT: u64 = 200;
    const SIZE: u64 = 1000;
    // Ethernet (14) + IPv4 (20) + UDP (8) headers on each loopback packet.
    const HEADERS: u64 = 42;
    let helper = helper();
    let helper = helper.to_str().expect("utf-8 path");
    let (out, summary) = trace_command(&[helper, "udp", &COUNT.to_string(), &SIZE.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let truth = helper_report(&out.stdout);
    assert_eq!(u(&truth["received"]), COUNT * SIZE);

    // Per process and exact: what the syscalls moved, classified by fd kind.
    let copied = |syscall: &str| -> u64 {
        let copies = summary["copies"].as_array().expect("copies");
        copies.iter().filter(|c| c["syscall"] == syscall && c["from"] != "file").map(|c| u(&c["bytes"])).sum()
    };
    assert_eq!(copied("sendto"), COUNT * SIZE);
    assert_eq!(copied("recvfrom"), COUNT * SIZE);

    // Transmits are machine-wide: at least ours, on lo, which is loopback.
    let net = &summary["net_transmit"];
    let devices = net["devices"].as_array().expect("devices");
    let lo = devices.iter().find(|d| d["name"] == "lo").unwrap_or_else(|| panic!("no lo in {net}"));
    assert_eq!(lo["kind"], "loopback");
    assert!(u(&lo["packets"]) >= COUNT, "{lo}");
    assert!(u(&lo["bytes"]) >= COUNT * (SIZE + HEADERS), "{lo}");
    let sum =
        |kind: &str, field: &str| -> u64 { devices.iter().filter(|d| d["kind"] == kind).map(|d| u(&d[field])).sum() };
    assert_eq!(u(&net["loopback_bytes"]), sum("loopback", "bytes"));
    assert_eq!(u(&net["device_bytes"]), sum("hardware", "bytes"));
}

/// The live view on an 80-column terminal (a pty from `script`): no line
/// wraps (a wrapped line leaves stale lines at each redraw), bytes between
/// character devices have their column, and the summary names that traffic.
#[test]
fn the_live_view_fits_80_columns_and_counts_char_devices() {
    if !bpf_available("the_live_view_fits_80_columns_and_counts_char_devices") {
        return;
    }
    let _serial = serial();
    let inner = format!(
        "stty cols 80 rows 40; {} trace --no-report --interval 0.2 -- dd if=/dev/zero of=/dev/null bs=64k count=300000",
        zcopy().display()
    );
    let out = run(Command::new("script").args(["-qfec", &inner, "/dev/null"]));
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{raw}");
    // Without the escape sequences (cursor up, clear): the lines as drawn.
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
        } else if c != '\r' {
            text.push(c);
        }
    }
    let live: Vec<&str> = text.lines().take_while(|l| !l.starts_with("zcopy trace: `dd")).collect();
    assert!(live.iter().any(|l| l.contains("char MB/s")), "no live view: {text}");
    let long: Vec<&&str> = live.iter().filter(|l| l.chars().count() >= 80).collect();
    assert!(long.is_empty(), "lines that wrap at 80 columns: {long:?}");
    // A rates line (it starts with the time): dd's bytes are in the char column.
    let char_rates: Vec<f64> = live
        .iter()
        .filter(|l| l.split_whitespace().next().is_some_and(|t| t.parse::<f64>().is_ok()))
        .filter_map(|l| l.split_whitespace().nth(3)?.parse().ok())
        .collect();
    assert!(char_rates.iter().any(|r| *r > 0.0), "char MB/s stayed 0: {live:?}");
    assert!(text.contains("char device -> char device"), "{text}");
    assert!(!text.contains("-> char device (mmap"), "{text}");
}

/// The non-root route the README documents: a copy of zcopy with
/// `setcap cap_bpf,cap_perfmon+ep`, run by an unprivileged user, traces with
/// raw tracepoints and perf events (tracefs, mode 0700 or not mounted, is not
/// needed); only the classic-tracepoint probes are lost, and it says so.
#[test]
fn setcap_bpf_and_perfmon_is_enough_to_trace() {
    if !bpf_available("setcap_bpf_and_perfmon_is_enough_to_trace") {
        return;
    }
    let _serial = serial();
    let dir = common::tempdir();
    // World-writable for the unprivileged user's export.
    let copy = common::setcap_copy(&dir, 0o777);
    let json = dir.join("summary.json");
    let as_nobody = |args: &[&str]| run(common::as_nobody(&copy).args(args));
    let json_arg = json.to_str().expect("utf-8");
    let out = as_nobody(&[
        "trace",
        "--no-report",
        "--export-json",
        json_arg,
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=4k",
        "count=1000",
    ]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("summary")).expect("JSON");
    // Exact counts from the raw tracepoints: dd's 1000 reads of /dev/zero.
    assert_eq!(char_device_reads(&s), 1000, "{}", s["copies"]);
    // The raw tracepoint way, not the classic raw_syscalls tracepoints.
    assert!(s["sources"]["syscalls"].as_str().is_some_and(|t| t.contains("raw tracepoint")), "{}", s["sources"]);
    let doctor = as_nobody(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned() + &stderr(&doctor);
    assert!(!text.contains("MISSING"), "an unprivileged doctor says what it cannot see, not MISSING: {text}");
    assert!(text.contains("raw_tracepoint  works"), "{text}");
}
