//! `cargo xtask bench-agent`: what `zcopy agent` costs a real server under
//! load. redis-server (Debian's package) serves redis-benchmark's SET and
//! GET load over loopback, untraced and with the agent attached (default
//! profile, and with `--syscalls`), interleaved round by round with the
//! order rotated so that drift hits every configuration alike. The table
//! gives each configuration's median requests per second, its ratio to the
//! untraced median, the spread of the per-round ratios, and the time the
//! agent's programs ran per request (the kernel's BPF statistics, from its
//! /metrics, where they were on).

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::overhead::median;

/// A real server and its standard load generator, both from Debian.
#[derive(Clone, Copy)]
pub enum Server {
    /// redis-server under redis-benchmark: SET and GET, 50 connections,
    /// no pipelining (its defaults): the lightest request a server makes.
    Redis,
    /// nginx (1 worker, sendfile on) serving a 16 KiB file to wrk: 1
    /// thread, 50 keep-alive connections.
    Nginx,
}

const REDIS_PORT: u16 = 6399;
const NGINX_PORT: u16 = 6398;
/// The file nginx serves.
const NGINX_FILE_BYTES: usize = 16 << 10;

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis-server under redis-benchmark (-c 50, SET and GET, loopback)",
            Self::Nginx => "nginx (1 worker, sendfile on, a 16 KiB file) under wrk (-t 1 -c 50, keep-alive, loopback)",
        }
    }

    fn tests(self) -> &'static [&'static str] {
        match self {
            Self::Redis => &["SET", "GET"],
            Self::Nginx => &["GET 16 KiB"],
        }
    }

    /// Starts the server (with its files in `dir`).
    fn start(self, dir: &Path) -> anyhow::Result<Child> {
        let child = match self {
            Self::Redis => pinned("redis-server", server_cpu)
                .args(["--port", &REDIS_PORT.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
                .stdout(Stdio::null())
                .spawn()
                .context("starting redis-server")?,
            Self::Nginx => {
                let d = dir.display();
                std::fs::create_dir_all(dir.join("www"))?;
                std::fs::write(dir.join("www/file"), vec![b'z'; NGINX_FILE_BYTES])?;
                let conf = format!(
                    "daemon off; master_process on; worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;\n\
                     events {{ worker_connections 256; }}\n\
                     http {{ access_log off; sendfile on; keepalive_requests 1000000; client_body_temp_path {d}/t; proxy_temp_path {d}/t;\n\
                     fastcgi_temp_path {d}/t; uwsgi_temp_path {d}/t; scgi_temp_path {d}/t;\n\
                     server {{ listen 127.0.0.1:{NGINX_PORT}; root {d}/www; }} }}\n"
                );
                std::fs::write(dir.join("nginx.conf"), conf)?;
                pinned("nginx", server_cpu)
                    .arg("-c")
                    .arg(dir.join("nginx.conf"))
                    .arg("-p")
                    .arg(dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting nginx")?
            }
        };
        Ok(child)
    }

    fn port(self) -> u16 {
        match self {
            Self::Redis => REDIS_PORT,
            Self::Nginx => NGINX_PORT,
        }
    }

    /// Requests per second of each test, and the requests served, under one
    /// load of `requests` per test (redis) or `seconds` (wrk runs for a time).
    fn load(self, requests: u64, seconds: u64) -> anyhow::Result<Load> {
        match self {
            Self::Redis => redis_load(requests),
            Self::Nginx => wrk_load(seconds),
        }
    }
}

/// The packages each server's benchmark needs, by command.
pub const TOOLS: [(&str, &str); 4] =
    [("redis-server", "redis-server"), ("redis-benchmark", "redis-tools"), ("nginx", "nginx"), ("wrk", "wrk")];

/// A configuration: its name and the agent's arguments (None: untraced).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Config {
    name: &'static str,
    agent: Option<&'static [&'static str]>,
}

/// The default profile is measured outside its BPF statistics window (50 s
/// of every 60 s) and inside it (the other 10 s: `--bpf-stats always`); the
/// opt-in profiles outside it.
const CONFIGS: [Config; 6] = [
    Config { name: "untraced", agent: None },
    Config { name: "zcopy agent (default profile)", agent: Some(&["--bpf-stats", "off"]) },
    Config { name: "... during its BPF stats window", agent: Some(&["--bpf-stats", "always"]) },
    Config { name: "zcopy agent --zero-copy", agent: Some(&["--zero-copy", "--bpf-stats", "off"]) },
    Config { name: "zcopy agent --packets", agent: Some(&["--packets", "--bpf-stats", "off"]) },
    Config { name: "zcopy agent --syscalls", agent: Some(&["--syscalls", "--bpf-stats", "off"]) },
];

/// Where the server and the load generator run: one CPU each (pinned with
/// taskset), so that neither steals the other's CPU and the scheduler's
/// placement does not add its own noise to the ratios. None on a machine
/// with one CPU.
fn cpus() -> Option<(&'static str, &'static str)> {
    let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (n >= 2).then_some(("0", "1"))
}

/// `program` pinned to `cpu` when the machine has two CPUs or more.
fn pinned(program: &str, cpu: fn((&'static str, &'static str)) -> &'static str) -> Command {
    match cpus() {
        Some(pair) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpu(pair), program]);
            cmd
        }
        None => Command::new(program),
    }
}

fn server_cpu(pair: (&'static str, &'static str)) -> &'static str {
    pair.0
}

fn load_cpu(pair: (&'static str, &'static str)) -> &'static str {
    pair.1
}

/// One load's requests per second (per test) and requests served.
type Load = (Vec<f64>, f64);

/// One configuration's results over the rounds.
struct Results {
    config: Config,
    /// Per round: requests per second of each test.
    rps: Vec<Vec<f64>>,
    /// Per round with the agent: (seconds its programs ran, requests served).
    bpf: Vec<(f64, f64)>,
}

pub fn run(root: &Path, rounds: u32, requests: u64, seconds: u64) -> anyhow::Result<()> {
    let zcopy = root.join("target/release/zcopy");
    let dir = std::env::temp_dir().join(format!("zcopy-bench-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut tables = Vec::new();
    for server in [Server::Nginx, Server::Redis] {
        eprintln!("{}:", server.name());
        eprintln!(
            "  {}",
            cpus().map_or("one CPU: server and load share it".to_owned(), |(s, l)| format!(
                "server on CPU {s}, load generator on CPU {l} (taskset)"
            ))
        );
        let mut child = server.start(&dir)?;
        let result = wait_for_port(server.port()).and_then(|()| measure(&zcopy, server, rounds, requests, seconds));
        // SIGTERM: nginx's master stops its workers (SIGKILL would orphan them).
        let _ = terminate(&mut child);
        tables.push(table(server, &result?, rounds));
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("\n{}", tables.join("\n"));
    Ok(())
}

/// Stops a child with SIGTERM and waits for it.
fn terminate(child: &mut Child) -> std::io::Result<std::process::ExitStatus> {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    child.wait()
}

fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("the server did not listen on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn measure(zcopy: &Path, server: Server, rounds: u32, requests: u64, seconds: u64) -> anyhow::Result<Vec<Results>> {
    let configs = CONFIGS;
    let mut results: Vec<Results> =
        configs.iter().map(|&config| Results { config, rps: Vec::new(), bpf: Vec::new() }).collect();
    // One unmeasured load first: the server and the page cache warm up.
    server.load(requests, seconds)?;
    for round in 0..rounds {
        let n = configs.len();
        for i in 0..n {
            let r = &mut results[(i + round as usize) % n];
            let ((rps, _), bpf) = match r.config.agent {
                None => (server.load(requests, seconds)?, None),
                Some(args) => with_agent(zcopy, args, || server.load(requests, seconds))?,
            };
            let shown: Vec<String> = rps.iter().map(|x| format!("{x:>9.0}/s")).collect();
            eprintln!("  round {}: {:32} {}", round + 1, r.config.name, shown.join(" "));
            r.rps.push(rps);
            r.bpf.extend(bpf);
        }
    }
    Ok(results)
}

/// redis-benchmark's SET and GET requests per second.
fn redis_load(requests: u64) -> anyhow::Result<Load> {
    let out = pinned("redis-benchmark", load_cpu)
        .args(["-p", &REDIS_PORT.to_string(), "-n", &requests.to_string(), "-c", "50", "-t", "set,get", "--csv"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running redis-benchmark")?;
    if !out.status.success() {
        bail!("redis-benchmark failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rps = vec![0.0; 2];
    for (slot, test) in rps.iter_mut().zip(["SET", "GET"]) {
        // "SET","134770.89",...
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("\"{test}\"")))
            .with_context(|| format!("no {test} line in redis-benchmark's output: {text}"))?;
        *slot = line.split('"').nth(3).and_then(|v| v.parse().ok()).context("requests per second")?;
    }
    Ok((rps, requests as f64 * 2.0))
}

/// wrk's requests per second.
fn wrk_load(seconds: u64) -> anyhow::Result<Load> {
    let url = format!("http://127.0.0.1:{NGINX_PORT}/file");
    let out = pinned("wrk", load_cpu)
        .args(["-t", "1", "-c", "50", "-d", &format!("{seconds}s"), &url])
        .stdin(Stdio::null())
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("wrk failed ({}): {text}", out.status);
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {text}"))?;
    // "  1234567 requests in 5.00s, ..."
    let served = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.parse().ok()))
        .with_context(|| format!("no request count in wrk's output: {text}"))?;
    Ok((vec![rps], served))
}

/// Runs the load with the agent attached; also returns its programs' run time.
fn with_agent(
    zcopy: &Path,
    extra: &[&str],
    load: impl FnOnce() -> anyhow::Result<Load>,
) -> anyhow::Result<(Load, Option<(f64, f64)>)> {
    let mut agent = Command::new(zcopy)
        .args(["agent", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .context("starting zcopy agent")?;
    let outcome = (|| {
        let address = serving_address(&mut agent)?;
        let before = bpf_time(&scrape(&address)?);
        let done = load()?;
        let after = bpf_time(&scrape(&address)?);
        let served = done.1;
        Ok((done, Some((after - before, served))))
    })();
    // SIGTERM, as a service manager stops it.
    let status = terminate(&mut agent).context("waiting for zcopy agent")?;
    if outcome.is_ok() && !status.success() {
        bail!("zcopy agent exited with {status} after SIGTERM");
    }
    outcome
}

/// The address in the agent's "serving http://ADDR/metrics" line.
fn serving_address(agent: &mut Child) -> anyhow::Result<String> {
    let stderr = agent.stderr.take().context("the agent's stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("serving http://").nth(1) {
            let address = rest.split('/').next().unwrap_or_default().to_owned();
            // Keep draining stderr so the agent never blocks on it.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(address);
        }
        eprintln!("  agent: {line}");
    }
    bail!("zcopy agent exited before serving")
}

fn scrape(address: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

/// Seconds all the agent's programs ran, from its own metrics.
fn bpf_time(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("zcopy_agent_bpf_run_time_seconds_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The Markdown table of one server's results.
fn table(server: Server, results: &[Results], rounds: u32) -> String {
    let tests = server.tests();
    let base: Vec<f64> =
        (0..tests.len()).map(|t| median(&mut results[0].rps.iter().map(|r| r[t]).collect::<Vec<_>>())).collect();
    let mut out = format!("{}, {rounds} interleaved rounds, medians:\n\n| configuration |", server.name());
    for t in tests {
        out.push_str(&format!(" {t} req/s | ratio |"));
    }
    out.push_str(" per-round ratios: median (min-max) | BPF run time per request |\n|---|");
    out.push_str(&"---:|---:|".repeat(tests.len()));
    out.push_str("---:|---:|\n");
    for r in results {
        out.push_str(&format!("| {} |", r.config.name));
        for t in 0..tests.len() {
            let m = median(&mut r.rps.iter().map(|x| x[t]).collect::<Vec<_>>());
            out.push_str(&format!(" {m:.0} | {:.3} |", m / base[t]));
        }
        let ratios: Vec<f64> = r
            .rps
            .iter()
            .zip(&results[0].rps)
            .flat_map(|(x, b)| x.iter().zip(b).map(|(x, b)| x / b).collect::<Vec<_>>())
            .collect();
        let (lo, hi) = ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        let mid = median(&mut ratios.clone());
        let per_request = match r.bpf.iter().map(|b| b.0).sum::<f64>() {
            secs if secs > 0.0 => {
                let requests: f64 = r.bpf.iter().map(|b| b.1).sum();
                format!("{:.0} ns", secs * 1e9 / requests)
            }
            _ => "-".to_owned(),
        };
        out.push_str(&format!(" {mid:.3} ({lo:.3}-{hi:.3}) | {per_request} |\n"));
    }
    out
}
