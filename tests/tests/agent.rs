#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "root tests panic with context, so a failure keeps its location (aya test/README.md)"
)]

//! `zcopy agent`: per-cgroup counters served to a real Prometheus (Debian's
//! package, installed by `cargo xtask test`), checked against workloads that
//! move known numbers of bytes inside cgroups these tests create.

mod common;

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use common::{bpf_available, eventually, helper, serial, signal, tempdir, zcopy};
use serde_json::Value;

/// The cgroup v2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems).
fn cgroup2_root() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(point))
        })
        .expect("a cgroup2 mount")
}

/// A cgroup these tests made, removed on drop (after its processes are gone).
struct Cgroup {
    dir: PathBuf,
    /// Its path as the agent labels it.
    label: String,
}

impl Cgroup {
    fn new(name: &str) -> Self {
        let root = cgroup2_root();
        let name = format!("zcopy-test-{name}-{}", std::process::id());
        let dir = root.join(&name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Self { dir, label: format!("/{name}") }
    }

    /// `program args` started inside this cgroup (it joins before exec).
    fn spawn(&self, program: &Path, args: &[&str]) -> Child {
        use std::os::unix::process::CommandExt as _;
        let procs =
            std::ffi::CString::new(self.dir.join("cgroup.procs").into_os_string().into_encoded_bytes()).expect("path");
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        // SAFETY: only async-signal-safe calls (open, write, close) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if ok { Ok(()) } else { Err(std::io::Error::last_os_error()) }
            });
        }
        cmd.spawn().unwrap_or_else(|e| panic!("starting {} in {}: {e}", program.display(), self.label))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `zcopy agent`, stopped with SIGTERM on drop.
struct Agent {
    child: Child,
    address: String,
}

impl Agent {
    fn start(args: &[&str]) -> Self {
        let mut cmd = Command::new(zcopy());
        cmd.args(["agent", "--listen", "127.0.0.1:0"]).args(args);
        Self::start_as(cmd)
    }

    /// Starts `cmd` (a command line that ends in `zcopy agent ...`).
    fn start_as(mut cmd: Command) -> Self {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start zcopy agent");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = Vec::new();
        let address = loop {
            let line = lines.next().unwrap_or_else(|| panic!("zcopy agent exited: {seen:?}")).expect("stderr line");
            if let Some(rest) = line.split("serving http://").nth(1) {
                break rest.split('/').next().expect("address").to_owned();
            }
            seen.push(line);
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, address }
    }

    fn get(&self, path: &str) -> String {
        http_get(&self.address, path)
    }

    /// Sends SIGTERM; returns the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        signal(self.child.id(), libc::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A GET over HTTP/1.1; returns the body, panics unless the status is 200.
fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("connecting to {address}: {e}"));
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

/// The value of the sample `name{labels}` in a scrape (labels as written, in order).
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
}

/// Debian's prometheus scraping `target` every second, its data in `dir`.
struct Prometheus {
    child: Child,
    address: String,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Self {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\nscrape_configs:\n  - job_name: zcopy\n    static_configs: [{{ targets: ['{target}'] }}]\n"
            ),
        )
        .expect("prometheus.yml");
        let address = format!("127.0.0.1:{}", common::free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("prometheus (cargo xtask test installs Debian's package)");
        let p = Self { child, address };
        eventually(Duration::from_secs(30), "prometheus ready", || {
            TcpStream::connect(&p.address).is_ok() && p.try_get("/-/ready").is_some()
        });
        p
    }

    fn try_get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(&self.address).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
    }

    /// An instant query's first value (None: no series), at `time` if given.
    fn query(&self, promql: &str, time: Option<f64>) -> Option<(f64, f64)> {
        let mut path = format!("/api/v1/query?query={}", encode(promql));
        if let Some(t) = time {
            path.push_str(&format!("&time={t:.3}"));
        }
        let body = self.try_get(&path)?;
        // The body may be chunked: take the JSON object.
        let json = &body[body.find('{')?..=body.rfind('}')?];
        let v: Value = serde_json::from_str(json).ok()?;
        let first = v["data"]["result"].as_array()?.first()?;
        let t = first["value"][0].as_f64()?;
        let value = first["value"][1].as_str()?.parse().ok()?;
        Some((t, value))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        signal(self.child.id(), libc::SIGTERM);
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_secs_f64()
}

/// Reads `ready PID` from a helper's stdout; returns the reader for the rest.
fn ready(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ready line");
    assert!(line.starts_with("ready "), "helper said {line:?}");
    out
}

#[test]
fn prometheus_reports_the_exact_bytes_a_cgroup_moved() {
    if !bpf_available("prometheus_reports_the_exact_bytes_a_cgroup_moved") {
        return;
    }
    let _serial = serial();
    let dir = tempdir();
    let cgroup = Cgroup::new("prom");
    let agent = Agent::start(&["--interval", "1", "--zero-copy"]);
    let prometheus = Prometheus::start(&dir, &agent.address);
    let series = |family: &str| format!("{family}{{cgroup=\"{}\"}}", cgroup.label);

    // The helper waits for SIGUSR1 inside the cgroup: its series exist, at 0,
    // before a byte moves (the agent names every live cgroup).
    let mut worker = cgroup.spawn(&helper(), &["zerocopy", "256", "65536"]);
    let mut out = ready(&mut worker);
    eventually(Duration::from_secs(30), "the cgroup's series in Prometheus", || {
        prometheus.query(&series("zcopy_socket_sends_total"), None).is_some()
    });
    signal(worker.id(), libc::SIGUSR1);
    let mut result = String::new();
    out.read_to_string(&mut result).expect("helper output");
    assert!(worker.wait().expect("wait").success(), "helper failed: {result}");
    let done = unix_now();
    let truth: Value = serde_json::from_str(result.trim()).expect("helper JSON");
    let u = |k: &str| truth[k].as_u64().unwrap_or_else(|| panic!("{k} in {truth}"));

    // Wait for a scrape after the work, then ask for increase() at that
    // scrape's own time (no extrapolation past the last sample).
    let sent_series = series("zcopy_socket_sends_total");
    let last = || prometheus.query(&format!("timestamp({sent_series})"), None).map(|(_, t)| t);
    eventually(Duration::from_secs(30), "a scrape after the work", || last().is_some_and(|t| t > done + 1.0));
    let at = last();
    let increase = |family: &str, extra: &str| {
        let selector = format!("{family}{{cgroup=\"{}\"{extra}}}", cgroup.label);
        prometheus
            .query(&format!("increase({selector}[10m])"), at)
            .unwrap_or_else(|| panic!("no {selector} in Prometheus"))
            .1
    };
    let sent = increase("zcopy_socket_sent_bytes_total", ",how=\"zero_copy_asked\"");
    let received = increase("zcopy_socket_received_cpu_copy_bytes_total", "");
    eprintln!("Prometheus: sent {sent}, received {received}; the helper: {truth}");
    assert_eq!(sent, u("sent") as f64, "PromQL increase of the bytes sent with MSG_ZEROCOPY");
    assert_eq!(increase("zcopy_socket_sent_bytes_total", ",how=\"cpu_copy\""), 0.0, "no plain send");
    assert_eq!(received, u("received") as f64, "PromQL increase of the bytes received");
    assert_eq!(increase("zcopy_socket_sends_total", ""), 256.0, "one send call per 64 KiB");
    // The zero-copy sends over loopback: every byte copied by the receiving
    // stack, retransmissions again.
    let copied = increase("zcopy_zero_copy_copied_anyway_bytes_total", ",reason=\"received_by_this_host\"");
    common::loopback_count(
        "zero-copy bytes copied anyway, via Prometheus",
        copied as u64,
        u("copied_bytes") + u("retransmitted_bytes"),
    );
    drop(prometheus);
    assert!(agent.stop().success(), "SIGTERM: exit 0");
}

#[test]
fn fifty_concurrent_scrapes_are_all_served() {
    if !bpf_available("fifty_concurrent_scrapes_are_all_served") {
        return;
    }
    let _serial = serial();
    let agent = Agent::start(&[]);
    let address = agent.address.clone();
    let scrapes: Vec<_> = (0..50)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || http_get(&address, "/metrics"))
        })
        .collect();
    for scrape in scrapes {
        let text = scrape.join().expect("scrape thread");
        assert!(
            text.contains("zcopy_socket_sent_bytes_total{cgroup=\"other\",how=\"cpu_copy\"}"),
            "a whole scrape: {text}"
        );
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    }
    assert!(agent.stop().success());
}

/// The agent's VmRSS in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix(" kB")?.trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_thousand_short_lived_cgroups_leave_memory_and_maps_flat() {
    if !bpf_available("a_thousand_short_lived_cgroups_leave_memory_and_maps_flat") {
        return;
    }
    let _serial = serial();
    let agent = Agent::start(&["--interval", "1", "--top", "20"]);
    let entries = |m: &str| {
        ["AGENT_SLOTS", "AGENT_CGROUPS"]
            .iter()
            .map(|map| sample(m, &format!("zcopy_agent_map_entries{{map=\"{map}\"}}")).expect("map entries"))
            .sum::<f64>()
    };
    let named = |m: &str| sample(m, "zcopy_agent_cgroups{series=\"named\"}").expect("named cgroups");
    let other_faults = |m: &str| sample(m, "zcopy_page_faults_total{cgroup=\"other\",mode=\"user\"}").expect("other");
    let first = agent.get("/metrics");
    let (entries_before, named_before, other_before) = (entries(&first), named(&first), other_faults(&first));
    let rss_before = rss_kib(agent.child.id());
    // 1000 cgroups over about 60 s, each with a process that counts something
    // (/bin/true's page faults), removed right after.
    let start = Instant::now();
    for i in 0..1000u32 {
        let cgroup = Cgroup::new(&format!("churn{i}"));
        let mut child = cgroup.spawn(Path::new("/bin/true"), &[]);
        assert!(child.wait().expect("wait").success());
        drop(cgroup);
        let due = start + Duration::from_millis(60 * u64::from(i + 1));
        if let Some(rest) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
    }
    // A refresh (every second) removes the dead cgroups' entries.
    std::thread::sleep(Duration::from_millis(2500));
    let last = agent.get("/metrics");
    let rss_after = rss_kib(agent.child.id());
    eprintln!(
        "map entries {entries_before} -> {}; named cgroups {named_before} -> {}; other's user faults {other_before} -> {}; RSS {rss_before} -> {rss_after} KiB",
        entries(&last),
        named(&last),
        other_faults(&last)
    );
    // The dead cgroups' counts are kept (in other: their series ended) ...
    assert!(other_faults(&last) >= other_before + 1000.0, "each /bin/true faults at least once");
    // ... and their state is not.
    assert!(entries(&last) <= entries_before + 2.0, "dead cgroups' kernel entries are removed");
    assert!(named(&last) <= named_before + 2.0, "dead cgroups' series end");
    assert!(rss_after <= rss_before + 2048, "memory flat: {rss_before} -> {rss_after} KiB");
    assert!(agent.stop().success());
}

#[test]
fn cap_bpf_and_cap_perfmon_are_enough_for_the_agent() {
    if !bpf_available("cap_bpf_and_cap_perfmon_are_enough_for_the_agent") {
        return;
    }
    let _serial = serial();
    let dir = tempdir();
    let copy = common::setcap_copy(&dir, 0o755);
    let mut cmd = common::as_nobody(&copy);
    cmd.args(["agent", "--listen", "127.0.0.1:0", "--interval", "1"]);
    let agent = Agent::start_as(cmd);
    let cgroup = Cgroup::new("nobody");
    let mut worker = cgroup.spawn(&helper(), &["udp", "100", "1000"]);
    let mut out = String::new();
    worker.stdout.take().expect("stdout").read_to_string(&mut out).expect("helper output");
    assert!(worker.wait().expect("wait").success(), "{out}");
    let metrics = agent.get("/metrics");
    let value = |family: &str| sample(&metrics, &format!("{family}{{cgroup=\"{}\"}}", cgroup.label));
    let sent =
        sample(&metrics, &format!("zcopy_socket_sent_bytes_total{{cgroup=\"{}\",how=\"cpu_copy\"}}", cgroup.label));
    assert_eq!(sent, Some(100_000.0), "100 datagrams of 1000 bytes by sendto, as nobody");
    assert_eq!(value("zcopy_socket_received_cpu_copy_bytes_total"), Some(100_000.0));
    // Without CAP_SYS_ADMIN: no BPF statistics, and the agent says so in its metrics.
    assert_eq!(sample(&metrics, "zcopy_agent_bpf_stats_enabled"), Some(0.0), "BPF_ENABLE_STATS needs CAP_SYS_ADMIN");
    assert!(agent.stop().success());
    drop(cgroup);
}

#[test]
fn sent_bytes_are_told_apart_by_how_the_send_was_asked_for() {
    if !bpf_available("sent_bytes_are_told_apart_by_how_the_send_was_asked_for") {
        return;
    }
    let _serial = serial();
    let dir = tempdir();
    let file = dir.join("source.bin");
    let size: u64 = 4 << 20;
    std::fs::write(&file, vec![7u8; usize::try_from(size).expect("size")]).expect("source file");
    let agent = Agent::start(&[]);
    // The helper sends the file over TCP loopback: by sendfile(2), then by read(2) + write(2).
    for (mode, how) in [("sendfile", "by_reference"), ("read-write", "cpu_copy")] {
        let cgroup = Cgroup::new(mode);
        let mut worker = cgroup.spawn(&helper(), &["overhead", mode, file.to_str().expect("utf-8")]);
        assert!(worker.wait().expect("wait").success());
        let metrics = agent.get("/metrics");
        let sent = |how: &str| {
            sample(&metrics, &format!("zcopy_socket_sent_bytes_total{{cgroup=\"{}\",how=\"{how}\"}}", cgroup.label))
        };
        eprintln!("{mode}: {:?}", ["cpu_copy", "by_reference", "zero_copy_asked", "other"].map(sent));
        assert_eq!(sent(how), Some(size as f64), "{mode}: the whole file, {how}");
        let others: f64 = ["cpu_copy", "by_reference", "zero_copy_asked", "other"]
            .iter()
            .filter(|h| **h != how)
            .filter_map(|h| sent(h))
            .sum();
        assert_eq!(others, 0.0, "{mode}: nothing sent otherwise");
        let received =
            sample(&metrics, &format!("zcopy_socket_received_cpu_copy_bytes_total{{cgroup=\"{}\"}}", cgroup.label));
        assert_eq!(received, Some(size as f64), "{mode}: the receiving thread copied the whole file");
    }
    assert!(agent.stop().success());
}

/// zcopy's agent programs loaded now.
fn agent_programs() -> usize {
    common::zcopy_programs().iter().filter(|l| l.contains(" name agent_")).count()
}

#[test]
fn sigterm_detaches_everything_restores_bpf_stats_and_exits_0() {
    if !bpf_available("sigterm_detaches_everything_restores_bpf_stats_and_exits_0") {
        return;
    }
    let _serial = serial();
    let sysctl = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(sysctl).expect("sysctl");
    let agent = Agent::start(&["--bpf-stats", "always"]);
    assert!(agent_programs() >= 8, "the agent's programs are loaded: {}", agent_programs());
    let metrics = agent.get("/metrics");
    assert_eq!(sample(&metrics, "zcopy_agent_bpf_stats_enabled"), Some(1.0), "stats held on while it runs");
    let start = Instant::now();
    let status = agent.stop();
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    assert!(start.elapsed() < Duration::from_secs(5), "stopped in {:?}", start.elapsed());
    assert_eq!(agent_programs(), 0, "no agent program left");
    assert_eq!(std::fs::read_to_string(sysctl).expect("sysctl"), before, "kernel.bpf_stats_enabled as before");
    // SIGKILL cannot be caught: the kernel closes its fds, which detaches the
    // programs and lets go of the statistics all the same.
    let agent = Agent::start(&["--bpf-stats", "always"]);
    signal(agent.child.id(), libc::SIGKILL);
    drop(agent);
    eventually(Duration::from_secs(5), "programs gone after SIGKILL", || agent_programs() == 0);
}

#[test]
fn a_port_in_use_or_a_bad_address_is_a_one_line_error() {
    if !bpf_available("a_port_in_use_or_a_bad_address_is_a_one_line_error") {
        return;
    }
    let _serial = serial();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cases = [
        (format!("127.0.0.1:{port}"), "another program listens there"),
        ("192.0.2.1:9477".to_owned(), "no interface of this machine has that address"),
        ("localhost".to_owned(), "is not an address to listen on"),
        ("127.0.0.1:99999".to_owned(), "is not an address to listen on"),
    ];
    for (address, says) in cases {
        let out = common::run(Command::new(zcopy()).args(["agent", "--listen", &address]));
        let err = common::stderr(&out);
        assert!(!out.status.success(), "{address}: exit {:?}", out.status);
        assert!(err.contains(says), "{address}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.iter().filter(|l| l.contains("error")).count() == 1, "{address}: one error line: {err}");
        assert_eq!(agent_programs(), 0, "{address}: nothing loaded");
    }
}

#[test]
fn the_dashboard_queries_only_metrics_the_agent_serves() {
    if !bpf_available("the_dashboard_queries_only_metrics_the_agent_serves") {
        return;
    }
    let _serial = serial();
    let agent = Agent::start(&["--zero-copy", "--packets", "--syscalls"]);
    let metrics = agent.get("/metrics");
    assert!(agent.stop().success());
    let served: std::collections::BTreeSet<String> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let dashboard = std::fs::read_to_string(deploy("grafana-dashboard.json")).expect("dashboard");
    let wanted = dashboard_metrics(&serde_json::from_str(&dashboard).expect("the dashboard is JSON"));
    assert!(wanted.len() >= 5, "the dashboard queries metrics: {wanted:?}");
    for name in &wanted {
        assert!(served.contains(name), "the dashboard queries {name}, which the agent does not serve: {served:?}");
    }
}

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file)
}

/// Every metric name (zcopy_* or process_*) in the dashboard's queries.
fn dashboard_metrics(dashboard: &Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    let mut rest = expr.as_str();
                    while let Some(at) = rest.find("zcopy_").or_else(|| rest.find("process_")) {
                        let name: String =
                            rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                        rest = &rest[at + name.len()..];
                        out.insert(name);
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(dashboard, &mut out);
    out
}

fn yaml(file: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"))
}

#[test]
fn the_deploy_files_parse_and_ask_only_for_what_is_needed() {
    // The DaemonSet: hostPID, CAP_BPF and CAP_PERFMON only, host paths read-only.
    let ds = yaml("kubernetes/daemonset.yaml");
    assert_eq!(ds["kind"], "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    let container = &pod["containers"][0];
    let caps = &container["securityContext"]["capabilities"];
    assert_eq!(caps["add"], serde_yaml::from_str::<serde_yaml::Value>("[BPF, PERFMON]").expect("yaml"));
    assert_eq!(caps["drop"], serde_yaml::from_str::<serde_yaml::Value>("[ALL]").expect("yaml"));
    assert_eq!(container["securityContext"]["privileged"], false);
    let mounts = container["volumeMounts"].as_sequence().expect("volumeMounts");
    let paths: Vec<&str> = mounts.iter().filter_map(|m| m["mountPath"].as_str()).collect();
    assert_eq!(paths, ["/host/sys/fs/cgroup", "/sys/kernel/btf"]);
    assert!(mounts.iter().all(|m| m["readOnly"] == true), "host paths are mounted read-only");
    let args: Vec<&str> = container["args"].as_sequence().expect("args").iter().filter_map(|a| a.as_str()).collect();
    assert!(args.contains(&"--cgroup-root=/host/sys/fs/cgroup"), "{args:?}");

    // The Prometheus configs: YAML, and the host one valid to Prometheus's own
    // checker where it is installed (Debian's lacks Kubernetes discovery).
    for file in ["prometheus.yml", "kubernetes/prometheus-scrape.yml"] {
        assert!(yaml(file)["scrape_configs"].as_sequence().is_some_and(|s| !s.is_empty()), "{file}");
    }
    let k8s = yaml("kubernetes/prometheus-scrape.yml");
    assert_eq!(k8s["scrape_configs"][0]["relabel_configs"][0]["regex"], "zcopy-agent", "keeps the DaemonSet's pods");
    if let Ok(out) = Command::new("promtool").args(["check", "config"]).arg(deploy("prometheus.yml")).output() {
        assert!(
            out.status.success(),
            "promtool check config: {}{}",
            common::stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // The systemd unit: the same two capabilities, not root.
    let unit = std::fs::read_to_string(deploy("zcopy-agent.service")).expect("unit");
    assert!(unit.contains("\nAmbientCapabilities=CAP_BPF CAP_PERFMON\n"), "{unit}");
    assert!(unit.contains("\nCapabilityBoundingSet=CAP_BPF CAP_PERFMON\n"), "{unit}");
    assert!(unit.contains("\nDynamicUser=yes\n"), "{unit}");
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let out = common::run(Command::new("systemd-analyze").arg("verify").arg(deploy("zcopy-agent.service")));
        let err = common::stderr(&out);
        // verify also checks that ExecStart's binary exists on this machine.
        assert!(
            out.status.success() || err.lines().all(|l| l.contains("/usr/local/bin/zcopy") || l.trim().is_empty()),
            "systemd-analyze verify: {err}"
        );
    }

    // The dashboard: JSON whose panels all query something.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana-dashboard.json")).expect("dashboard"))
            .expect("JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    for panel in panels {
        assert!(panel["targets"].as_array().is_some_and(|t| !t.is_empty()), "panel {} queries nothing", panel["title"]);
    }
    assert!(dashboard_metrics(&dashboard).contains("zcopy_zero_copy_copied_anyway_bytes_total"));
}
