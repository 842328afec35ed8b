#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "root tests panic with context, so a failure keeps its location (aya test/README.md)"
)]

//! Tier 1: the command line, without privileges.

mod common;

use std::process::Command;

use common::{run, stderr, zcopy};

#[test]
fn help_lists_the_commands() {
    let out = run(Command::new(zcopy()).arg("--help"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("trace") && text.contains("doctor"), "{text}");
}

#[test]
fn trace_needs_a_pid_or_a_command() {
    let out = run(Command::new(zcopy()).arg("trace"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--pid"), "{}", stderr(&out));
}

#[test]
fn bad_numbers_are_refused_with_the_reason() {
    let out = run(Command::new(zcopy()).args(["trace", "--pid", "1", "--duration", "0"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("more than 0 seconds"), "{}", stderr(&out));
    let out = run(Command::new(zcopy()).args(["trace", "--pid", "-5"]));
    assert_eq!(out.status.code(), Some(2));
    // explain follows one run: `--cache both` is refused, not run warm silently.
    let out = run(Command::new(zcopy()).args(["explain", "read-write", "--cache", "both"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("explain follows one run; give warm or cold"), "{}", stderr(&out));
}

/// Without CAP_BPF/CAP_PERFMON zcopy names what is missing and how to get it.
/// As root, the test drops to user `nobody` with no capabilities (setpriv).
#[test]
fn unprivileged_users_are_told_which_capabilities_are_missing() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let is_root =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().nth(1)) == Some("0");
    let out = if is_root {
        run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
            .arg(zcopy())
            .args(["trace", "--no-report", "--", "true"]))
    } else {
        run(Command::new(zcopy()).args(["trace", "--no-report", "--", "true"]))
    };
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CAP_BPF and CAP_PERFMON") && err.contains("root"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn report_refuses_missing_or_foreign_results_and_writes_nothing() {
    let dir = common::tempdir();
    let out_dir = dir.join("out");
    let out = run(Command::new(zcopy()).arg("report").arg(dir.join("missing.json")).arg("--out").arg(&out_dir));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
    std::fs::write(dir.join("other.json"), r#"{"schema":"x/1"}"#).expect("write");
    let out = run(Command::new(zcopy()).arg("report").arg(dir.join("other.json")).arg("--out").arg(&out_dir));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("zcopy bench or zcopy trace"), "{}", stderr(&out));
    assert!(!out_dir.exists(), "a refused report wrote a folder");
}

/// Numbers that overflow and outputs that cannot be written are refused
/// before any work starts: exit 1, the reason and the fix, nothing written.
#[test]
fn numbers_and_outputs_are_checked_before_any_work() {
    let refused = |args: &[&str], says: &str| {
        let out = run(Command::new(zcopy()).args(args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    };
    let before = bench_folders();
    refused(&["bench", "--no-report", "--size", "18446744073709551615", "-s", "sendfile"], "more than any disk holds");
    refused(
        &["bench", "--no-report", "--size", "8589934592G", "--sink", "file", "-s", "copy-file-range"],
        "more than any disk holds",
    );
    refused(&["explain", "sendfile", "--size", "18446744073709551615", "--chunk", "1M"], "more than any disk holds");
    refused(
        &["bench", "--no-report", "--runs", "4294967295", "--warmup", "1", "-s", "sendfile", "--size", "1M"],
        "more runs than can be counted",
    );
    refused(&["bench", "--no-report", "--chunk", "3G", "--size", "4G", "-s", "sendfile"], "2G - 4K");
    refused(&["trace", "--no-report", "--export-json", "/no/such/dir/x.json", "--", "true"], "does not exist");
    refused(&["bench", "--no-report", "--export-csv", "/no/such/dir/x.csv", "-s", "sendfile"], "does not exist");
    refused(&["trace", "--report", "/no/such/dir/report", "--", "true"], "does not exist");
    refused(&["trace", "--no-report", "--json", "--export-json", "-", "--", "true"], "write to stdout");
    assert_eq!(bench_folders(), before, "a refused command left a work folder behind");
    // The internal worker takes its spec like user input.
    for chunk in ["0", "18446744073709551615"] {
        let spec = format!(
            r#"{{"role":"sender","strategy":"sendfile","sink":{{"kind":"null"}},"source":"/etc/hostname","size":10,"chunk":{chunk}}}"#
        );
        let out = run(Command::new(zcopy()).args(["worker", &spec]));
        assert_eq!(out.status.code(), Some(1), "chunk {chunk}");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(report.contains("bad worker spec: chunk"), "chunk {chunk}: {report}");
    }
}

/// zcopy-bench-* folders in the temporary folder.
fn bench_folders() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("zcopy-bench-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What is to be traced is checked before anything is loaded, and the
/// errors say what a shell would (and exit as one: 127 not found, 126 not runnable).
#[test]
fn targets_are_checked_first_and_named_as_a_shell_would() {
    let refused = |args: &[&str], code: i32, says: &str| {
        let out = run(Command::new(zcopy()).args(args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    // PID_MAX_LIMIT is 4194304: no process has this PID.
    refused(&["trace", "--no-report", "--pid", "4194305"], 1, "no process with PID 4194305");
    refused(&["trace", "--no-report", "--", "/no/such/program"], 127, "no such file: /no/such/program");
    refused(&["trace", "--no-report", "--", "no-such-program-zcopy"], 127, "command not found: no-such-program-zcopy");
    refused(&["trace", "--pid", "1", "--duration", "1e10"], 2, "too long: give at most 1e9 seconds");
    refused(&["trace", "--pid", "1", "--duration", "0"], 2, "more than 0 seconds");
}
