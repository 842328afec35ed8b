//! `cargo xtask compare-iperf3`: zcopy's workload engine against iperf3 on
//! the same machine, in one run, same file, same chunk (iperf3's default TCP
//! block, 128 KiB), TCP over 127.0.0.1. Prints the table BENCHMARKS.md keeps.

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
    file.flush()?;
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

fn zcopy_mean(root: &Path, strategy: &str, size: &str, runs: u32, json: &Path) -> anyhow::Result<f64> {
    let status = Command::new(root.join("target/release/zcopy"))
        .args(["bench", "--sink", "tcp", "-s", strategy, "--size", size, "--chunk", CHUNK, "--runs"])
        .arg(runs.to_string())
        .args(["--warmup", "1", "--export-json"])
        .arg(json)
        .stderr(Stdio::null())
        .status()
        .context("running zcopy bench")?;
    if !status.success() {
        bail!("zcopy bench -s {strategy} failed");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json)?)?;
    report["cases"][0]["throughput_mib_s"]["mean"].as_f64().context("no throughput in the zcopy report")
}

pub fn compare(root: &Path, size: &str, runs: u32) -> anyhow::Result<()> {
    if Command::new("iperf3").arg("--version").output().is_err() {
        crate::apt_install(&["iperf3"], "iperf3 is missing")?;
    }
    let dir = root.join("target/compare-iperf3");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("source.bin");
    write_file(&file, parse_size(size)?)?;
    println!(
        "| transfer ({size}, {CHUNK} blocks, TCP 127.0.0.1) | iperf3 MiB/s (mean of {runs}) | zcopy MiB/s (mean of {runs}) | zcopy / iperf3 |"
    );
    println!("|---|---:|---:|---:|");
    for (label, flags, strategy) in PAIRS {
        iperf3_once(&file, flags)?; // warmup
        let mut rates = Vec::new();
        for _ in 0..runs {
            rates.push(iperf3_once(&file, flags)?);
        }
        let iperf = rates.iter().sum::<f64>() / rates.len() as f64;
        let zcopy = zcopy_mean(root, strategy, size, runs, &dir.join("zcopy.json"))?;
        println!(
            "| {label} (`iperf3 {}` vs `zcopy bench -s {strategy}`) | {iperf:.0} | {zcopy:.0} | {:.2} |",
            flags.join(" "),
            zcopy / iperf
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
