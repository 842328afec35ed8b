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
            .args(["trace", "--", "true"]))
    } else {
        run(Command::new(zcopy()).args(["trace", "--", "true"]))
    };
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CAP_BPF and CAP_PERFMON") && err.contains("root"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn report_refuses_missing_or_foreign_results_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("zcopy-cli-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out_dir = dir.join("out");
    let out = run(Command::new(zcopy()).arg("report").arg(dir.join("missing.json")).arg("--out").arg(&out_dir));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));
    std::fs::write(dir.join("other.json"), r#"{"schema":"x/1"}"#).expect("write");
    let out = run(Command::new(zcopy()).arg("report").arg(dir.join("other.json")).arg("--out").arg(&out_dir));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("zcopy bench or zcopy trace"), "{}", stderr(&out));
    assert!(!out_dir.exists(), "a refused report wrote a folder");
    let _ = std::fs::remove_dir_all(&dir);
}
