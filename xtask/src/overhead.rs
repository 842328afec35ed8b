//! `cargo xtask bench-overhead`: what tracing costs the work it observes.
//! The same work (zcopy-helper overhead ...) runs untraced, under zcopy's
//! counting mode, under a bpftrace script counting the same events, under
//! `strace -c -f` and under `perf trace -s`, interleaved round by round so
//! that machine drift hits every tool alike. The work times itself (no tool's
//! start-up is counted); the table gives each tool's median and its ratio to
//! the untraced median.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};
use serde_json::Value;

/// zcopy's column.
const ZCOPY: &str = "zcopy trace";

/// 64 KiB calls of the /dev/zero -> /dev/null work.
const DEVZERO_CALLS: u64 = 40_000;

/// What bpftrace counts: the events zcopy's counting mode counts for a
/// process (syscall entries and exits by number, page faults, switches),
/// aggregated in the kernel the same way.
const BPFTRACE_SCRIPT: &str = r#"
tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @enter[args->id] = count(); }
tracepoint:raw_syscalls:sys_exit /pid == cpid/ { @exit[args->id] = count(); @bytes[args->id] = sum(args->ret); }
tracepoint:exceptions:page_fault_user /pid == cpid/ { @faults_user = count(); }
tracepoint:exceptions:page_fault_kernel /pid == cpid/ { @faults_kernel = count(); }
software:page-faults:1 /pid == cpid/ { @faults = count(); }
tracepoint:sched:sched_switch /pid == cpid/ { @switches[args->prev_state] = count(); }
"#;

/// The floor: the cheapest program on the same hook, one counter of the
/// process's syscall entries. Attaching anything to the syscall tracepoints
/// puts every task on the syscall slow path; this is that cost alone.
const FLOOR_SCRIPT: &str = r#"
tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @n = count(); }
"#;

struct Tool {
    name: &'static str,
    /// The command line before the work's own.
    prefix: Vec<String>,
}

/// `prefix` run in a private mount namespace with tracefs mounted: bpftrace
/// and perf trace look for tracepoints there, and a machine that does not
/// mount tracefs keeps its mounts unchanged (zcopy does the same itself).
fn with_tracefs(prefix: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> =
        ["unshare", "--mount", "--propagation", "private", "sh", "-c"].into_iter().map(str::to_owned).collect();
    v.push(
        r#"mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; exec "$0" "$@""#
            .to_owned(),
    );
    v.extend(prefix);
    v
}

fn tools(root: &Path, script: &Path, floor: &Path, json: &Path) -> Vec<Tool> {
    let zcopy = root.join("target/release/zcopy").display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    vec![
        Tool { name: "untraced", prefix: Vec::new() },
        Tool {
            name: "bpftrace floor (1 counter)",
            prefix: with_tracefs(vec![
                "bpftrace".into(),
                "-o".into(),
                "/dev/null".into(),
                floor.display().to_string(),
                "-c".into(),
            ]),
        },
        Tool {
            name: ZCOPY,
            prefix: vec![
                zcopy,
                "trace".into(),
                "--no-report".into(),
                "--export-json".into(),
                json.display().to_string(),
                "--".into(),
            ],
        },
        Tool {
            name: "bpftrace (same events)",
            prefix: with_tracefs(vec![
                "bpftrace".into(),
                "-o".into(),
                "/dev/null".into(),
                script.display().to_string(),
                "-c".into(),
            ]),
        },
        Tool { name: "strace -c -f", prefix: s(&["strace", "-c", "-f", "-o", "/dev/null"]) },
        Tool { name: "perf trace -s", prefix: with_tracefs(s(&["perf", "trace", "-s", "-o", "/dev/null", "--"])) },
    ]
}

/// Runs the work once under `tool`; returns the work's own seconds.
fn run_once(tool: &Tool, work: &[String]) -> anyhow::Result<f64> {
    let mut cmd = if tool.prefix.is_empty() {
        let mut c = Command::new(&work[0]);
        c.args(&work[1..]);
        c
    } else {
        let mut c = Command::new(&tool.prefix[0]);
        c.args(&tool.prefix[1..]);
        if tool.name.starts_with("bpftrace") {
            // bpftrace -c takes the command as one string.
            c.arg(work.join(" "));
        } else {
            c.args(work);
        }
        c
    };
    let out =
        cmd.stdin(Stdio::null()).stderr(Stdio::null()).output().with_context(|| format!("running {}", tool.name))?;
    if !out.status.success() {
        bail!("{} failed ({}) on {}", tool.name, out.status, work.join(" "));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("{\"work_s\""))
        .with_context(|| format!("{}: no timing in {text}", tool.name))?;
    let v: Value = serde_json::from_str(line)?;
    v["work_s"].as_f64().context("work_s")
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn run(root: &Path, rounds: u32, storm_calls: u64, size_mib: u64) -> anyhow::Result<()> {
    let helper = root.join("target/release/zcopy-helper");
    if !helper.is_file() {
        bail!("{} is missing: cargo build --release -p zcopy-tests", helper.display());
    }
    let dir = std::env::temp_dir().join(format!("zcopy-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure(root, &helper, &dir, rounds, storm_calls, size_mib);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(root: &Path, helper: &Path, dir: &Path, rounds: u32, storm_calls: u64, size_mib: u64) -> anyhow::Result<()> {
    let file = dir.join("source.bin");
    std::fs::write(&file, vec![0x5a; usize::try_from(size_mib << 20)?])?;
    let script = dir.join("count.bt");
    std::fs::write(&script, BPFTRACE_SCRIPT)?;
    let floor = dir.join("floor.bt");
    std::fs::write(&floor, FLOOR_SCRIPT)?;
    let json = dir.join("zcopy.json");
    let h = helper.display().to_string();
    let f = file.display().to_string();
    let works: Vec<(String, Vec<String>)> = vec![
        (
            format!("syscall storm: {storm_calls} x read(1 byte)"),
            vec![h.clone(), "overhead".into(), "storm".into(), storm_calls.to_string()],
        ),
        (
            format!("{DEVZERO_CALLS} x read+write 64 KiB, /dev/zero -> /dev/null"),
            vec![h.clone(), "overhead".into(), "devzero".into(), DEVZERO_CALLS.to_string()],
        ),
        (
            format!("read+write 64 KiB, {size_mib} MiB over TCP"),
            vec![h.clone(), "overhead".into(), "read-write".into(), f.clone()],
        ),
        (format!("sendfile 64 KiB, {size_mib} MiB over TCP"), vec![h, "overhead".into(), "sendfile".into(), f]),
    ];
    let tools = tools(root, &script, &floor, &json);
    // times[work][tool]
    let mut times = vec![vec![Vec::new(); tools.len()]; works.len()];
    let mut zcopy_storm: Option<Value> = None;
    let mut rss_kib: Vec<f64> = Vec::new();
    let mut load_s: Vec<f64> = Vec::new();
    for round in 1..=rounds {
        super::step(&format!("round {round}/{rounds}"));
        for (w, (_, work)) in works.iter().enumerate() {
            // Each round starts with a different tool, so no tool always runs first.
            let n = tools.len();
            for t in (0..n).map(|i| (i + round as usize) % n) {
                let tool = &tools[t];
                times[w][t].push(run_once(tool, work)?);
                if tool.name == ZCOPY {
                    let z: Option<Value> =
                        std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str(&t).ok());
                    if let Some(z) = &z {
                        rss_kib.extend(z["tracer"]["peak_rss_kib"].as_f64());
                        load_s.extend(z["tracer"]["load_s"].as_f64());
                    }
                    if w == 0 {
                        zcopy_storm = z;
                    }
                }
            }
        }
    }
    println!("\n| work | {} |", tools.iter().map(|t| t.name).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---:|".repeat(tools.len()));
    for (w, (name, _)) in works.iter().enumerate() {
        let base = median(&mut times[w][0].clone());
        let cells: Vec<String> = times[w]
            .iter_mut()
            .map(|v| {
                let m = median(v);
                format!("{:.3} s ({:.2}x)", m, m / base)
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    // zcopy against the floor, per work: the distance issue 16 is about.
    if let (Some(floor), Some(zcopy)) =
        (tools.iter().position(|t| t.name.starts_with("bpftrace floor")), tools.iter().position(|t| t.name == ZCOPY))
    {
        for (w, (name, _)) in works.iter().enumerate() {
            let ratio = median(&mut times[w][zcopy].clone()) / median(&mut times[w][floor].clone());
            println!("zcopy / floor, {name}: {ratio:.2}");
        }
    }
    println!(
        "\nmedian of {rounds} interleaved rounds; ratio = median / untraced median; the work times itself (no start-up)"
    );
    if let Some(z) = zcopy_storm {
        let zcopy = tools.iter().position(|t| t.name == ZCOPY).unwrap_or(0);
        let storm_s = median(&mut times[0][zcopy].clone());
        let syscalls = z["syscalls_total"].as_u64().unwrap_or(0);
        let missed: u64 = z["missed_events"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        let drops: u64 = z["drops"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        // Program runs per syscall: one where calls are counted at their
        // exit alone (the raw way), an entry and an exit program otherwise.
        let source = z["sources"]["syscalls_total"].as_str().unwrap_or("");
        let (per_call, hooks) =
            if source.contains("raw tracepoint sys_exit") { (1, "sys_exit") } else { (2, "sys_enter + sys_exit") };
        println!(
            "zcopy, syscall storm: {syscalls} syscalls = {} program runs ({hooks}) in {storm_s:.3} s: {:.2} M events/s; \
             missed (recursion) {missed}, dropped (maps full) {drops}",
            per_call * syscalls,
            (per_call * syscalls) as f64 / storm_s / 1e6
        );
        let max_rss = rss_kib.iter().copied().fold(0.0, f64::max);
        println!(
            "zcopy: load and attach {:.3} s (median of {}), peak RSS median {:.0} KiB, max {max_rss:.0} KiB",
            median(&mut load_s),
            load_s.len(),
            median(&mut rss_kib),
        );
    }
    Ok(())
}
