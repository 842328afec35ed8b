//! `cargo xtask compare-iperf3`: zcopy's workload engine against iperf3 on
//! the same machine, in one run, same file, same chunk (iperf3's default TCP
//! block, 128 KiB), TCP over 127.0.0.1, in interleaved rounds. The engine is
//! compared untraced (zcopy bench's runs with its programs detached); the
//! traced throughput is given beside it. Prints the table BENCHMARKS.md
//! keeps, with each figure's spread, and warns where the spread is wider
//! than the difference.

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde_json::Value;

const PORT: &str = "5299";
const CHUNK: &str = "128K";

/// iperf3's client flags and the zcopy strategy that does the same.
const PAIRS: &[(&str, &[&str], &str)] = &[("sendfile", &["-Z"], "sendfile"), ("read + write", &[], "read-write")];

fn parse_size(text: &str) -> anyhow::Result<u64> {
    let (digits, shift) = match text.chars().last() {
        Some('K') => (&text[..text.len() - 1], 10),
        Some('M') => (&text[..text.len() - 1], 20),
        Some('G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    Ok(digits.parse::<u64>().with_context(|| format!("bad size {text}"))? << shift)
}

fn write_file(path: &Path, size: u64) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut left = size;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = left.min(8) as usize;
        file.write_all(&state.to_le_bytes()[..n])?;
        left -= n as u64;
    }
    // Clean before the first round: writeback of its dirty pages would slow
    // whichever runs first.
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// One iperf3 transfer of the file; returns MiB/s as the receiver measured it.
fn iperf3_once(file: &Path, flags: &[&str]) -> anyhow::Result<f64> {
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-p", PORT])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting iperf3 -s")?;
    thread::sleep(Duration::from_millis(300));
    let out = Command::new("iperf3")
        .args(["-c", "127.0.0.1", "-p", PORT, "-J", "-l", CHUNK, "-F"])
        .arg(file)
        .args(flags)
        .output()
        .context("running iperf3 -c")?;
    let _ = server.wait();
    let report: Value = serde_json::from_slice(&out.stdout).context("iperf3 -J output")?;
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .with_context(|| format!("no receiver rate in iperf3 output: {}", String::from_utf8_lossy(&out.stdout)))?;
    Ok(bps / 8.0 / f64::from(1 << 20))
}

/// zcopy's two throughputs of one transfer: (untraced, traced) MiB/s, from
/// one `zcopy bench` run, which pairs a traced run with one that has
/// zcopy's programs detached.
fn zcopy_once(root: &Path, strategy: &str, size: &str, json: &Path) -> anyhow::Result<(f64, f64)> {
    let status = Command::new(root.join("target/release/zcopy"))
        .args(["bench", "--sink", "tcp", "-s", strategy, "--size", size, "--chunk", CHUNK])
        .args(["--runs", "1", "--warmup", "0", "--no-report", "--export-json"])
        .arg(json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running zcopy bench")?;
    if !status.success() {
        bail!("zcopy bench -s {strategy} failed");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json)?)?;
    let case = &report["cases"][0];
    let untraced = case["untraced_throughput_mib_s"]["median"].as_f64().context("no untraced throughput")?;
    let traced = case["throughput_mib_s"]["median"].as_f64().context("no traced throughput")?;
    Ok((untraced, traced))
}

/// `v`'s median, min and max.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut sorted = v.to_vec();
    let median = crate::overhead::median(&mut sorted);
    (median, sorted.first().copied().unwrap_or(f64::NAN), sorted.last().copied().unwrap_or(f64::NAN))
}

pub fn compare(root: &Path, size: &str, runs: u32) -> anyhow::Result<()> {
    if Command::new("iperf3").arg("--version").output().is_err() {
        crate::apt_install(&["iperf3"], "iperf3 is missing")?;
    }
    let dir = root.join("target/compare-iperf3");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("source.bin");
    write_file(&file, parse_size(size)?)?;
    let json = dir.join("zcopy.json");
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    for (label, flags, strategy) in PAIRS {
        // A warmup of each, then rounds that alternate which goes first.
        iperf3_once(&file, flags)?;
        zcopy_once(root, strategy, size, &json)?;
        let (mut iperf, mut untraced, mut traced, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..runs {
            super::step(&format!("{label}: round {}/{runs}", round + 1));
            let (i, (u, t)) = if round % 2 == 0 {
                let i = iperf3_once(&file, flags)?;
                (i, zcopy_once(root, strategy, size, &json)?)
            } else {
                let z = zcopy_once(root, strategy, size, &json)?;
                (iperf3_once(&file, flags)?, z)
            };
            iperf.push(i);
            untraced.push(u);
            traced.push(t);
            ratios.push(u / i);
        }
        let (i, (u, t)) = (spread(&iperf), (spread(&untraced), spread(&traced)));
        let ratio = u.0 / i.0;
        let (_, low, high) = spread(&ratios);
        if high - low > (ratio - 1.0).abs() {
            warnings.push(format!(
                "{label}: the round-by-round ratio spans {low:.2}-{high:.2}, wider than its distance from 1 ({ratio:.2}): these runs do not tell zcopy's engine and iperf3 apart"
            ));
        }
        rows.push(format!(
            "| {label} (`{}` vs `zcopy bench -s {strategy}`) | {:.0} ({:.0}-{:.0}) | {:.0} ({:.0}-{:.0}) | {:.0} ({:+.1}%) | {ratio:.2} ({low:.2}-{high:.2}) |",
            std::iter::once("iperf3").chain(flags.iter().copied()).collect::<Vec<_>>().join(" "),
            i.0,
            i.1,
            i.2,
            u.0,
            u.1,
            u.2,
            t.0,
            (t.0 / u.0 - 1.0) * 100.0,
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n| transfer ({size}, {CHUNK} blocks, TCP 127.0.0.1) | iperf3 MiB/s, median (min-max) | zcopy untraced MiB/s, median (min-max) | zcopy traced MiB/s, median (change) | zcopy untraced / iperf3, median of medians (round-by-round min-max) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for row in &rows {
        println!("{row}");
    }
    println!(
        "\n{runs} interleaved rounds per transfer (which tool goes first alternates), after one warmup of each. iperf3: the receiver's rate; zcopy: size / (last end - sender's start), untraced = its programs detached."
    );
    for w in &warnings {
        println!("warning: {w}");
    }
    Ok(())
}
