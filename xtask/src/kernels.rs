//! The stock-kernel tier: Debian's distribution kernels, booted under qemu
//! (TCG: this machine has no nested KVM) with zcopy inside, running the
//! exact-count checks, doctor against trace, a cached read and a small bench.
//! `cargo xtask test` runs it; `cargo xtask kernels` also rewrites
//! docs/kernels.md from what it found, and the test fails when that file is
//! stale. Recipe and first findings: ../shared/docs/kernel-vm.md.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

/// Where a stock kernel's package comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Suite {
    /// The machine's own Debian 12 sources.
    Bookworm,
    /// Debian's `trixie-backports`, through a private apt state in
    /// target/vm/apt (the machine's sources are never changed).
    TrixieBackports,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Self::Bookworm => "Debian 12 (bookworm)",
            Self::TrixieBackports => "Debian trixie-backports",
        }
    }
}

/// One kernel of the tier: the package holding its image (exact version in
/// its name), and the image package users install, where that is another.
struct Kernel {
    package: &'static str,
    installed_as: &'static str,
    suite: Suite,
}

/// The kernels of the tier, oldest first: Debian 12's 6.1 LTS and 6.12 LTS,
/// and trixie-backports' 6.18 and 7.3.
const KERNELS: &[Kernel] = &[
    Kernel {
        package: "linux-image-6.1.0-57-cloud-amd64",
        installed_as: "linux-image-6.1.0-57-cloud-amd64",
        suite: Suite::Bookworm,
    },
    Kernel {
        package: "linux-image-6.12.107+deb12-cloud-amd64-unsigned",
        installed_as: "linux-image-6.12.107+deb12-cloud-amd64",
        suite: Suite::Bookworm,
    },
    Kernel {
        package: "linux-image-6.18.12+deb13-cloud-amd64",
        installed_as: "linux-image-6.18.12+deb13-cloud-amd64",
        suite: Suite::TrixieBackports,
    },
    // 7.3's image package is a small one that depends on this, whose kernel
    // is usr/lib/modules/VERSION/vmlinuz.unsigned.
    Kernel {
        package: "linux-binary-unsigned-7.3.4+deb13-cloud-amd64",
        installed_as: "linux-image-7.3.4+deb13-cloud-amd64",
        suite: Suite::TrixieBackports,
    },
];

/// The tier's kernels, for messages: "6.1, 6.12, 6.18, 7.3".
pub fn names() -> String {
    let versions: Vec<String> = KERNELS
        .iter()
        .filter_map(|k| k.installed_as.strip_prefix("linux-image-")?.split(['-', '+']).next())
        .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."))
        .collect();
    format!("Debian's {}", versions.join(", "))
}

/// What the VM needs from this machine, by command and Debian package.
const TOOLS: &[(&str, &str)] = &[("qemu-system-x86_64", "qemu-system-x86"), ("cpio", "cpio")];

/// The known workload inside the VM: `zcopy-helper READS WRITES SIZE PAGES SLEEPS FILE`.
const READS: u64 = 200;
const WRITES: u64 = 100;
const SIZE: u64 = 4096;
const PAGES: u64 = 16;
const SLEEPS: u64 = 3;
/// UDP datagrams the helper sends itself over loopback, and their size.
const DATAGRAMS: u64 = 100;
const DATAGRAM: u64 = 1000;
/// The cached file read with dd, in MiB.
const FILE_MIB: u64 = 8;
/// The dd trace's sampling frequency: under TCG the read takes tens of
/// milliseconds, a few hundred samples at this rate.
const SAMPLE_HZ: u64 = 4999;
/// Fewest samples of dd's kernel time for its leading activity to count.
const MIN_SAMPLES: u64 = 20;
/// MSG_ZEROCOPY sends of 64 KiB the agent's check makes (8 MiB).
const ZC_SENDS: u64 = 128;
/// The port `zcopy agent` serves on in the checks.
const AGENT_PORT: u16 = 9478;
/// The cgroup the checks' agent workload runs in (below the cgroup2 mount).
const AGENT_CGROUP: &str = "/zcopy-kernels-agent";

/// The VM's /init: mounts what a minimal system lacks, runs the checks, powers off.
fn init_script() -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
{}
poweroff -f
"#,
        checks("/bin", "/tmp")
    )
}

/// The checks, as shell: each prints its output after a `==> NAME` line.
/// `bin` holds zcopy and zcopy-helper; `tmp` is a scratch folder.
fn checks(bin: &str, tmp: &str) -> String {
    format!(
        r#"echo "==> release"; uname -r
echo "==> doctor"; @BIN@/zcopy doctor --json
@BIN@/zcopy trace --no-report --export-json @TMP@/h.json -- @BIN@/zcopy-helper {READS} {WRITES} {SIZE} {PAGES} {SLEEPS} @TMP@/map > @TMP@/h.out 2> @TMP@/h.err
echo "==> helper-truth"; cat @TMP@/h.out
echo "==> helper-summary"; cat @TMP@/h.json
echo "==> helper-stderr"; tail -5 @TMP@/h.err
dd if=/dev/urandom of=@TMP@/file bs=1M count={FILE_MIB} 2>/dev/null; cat @TMP@/file > /dev/null
@BIN@/zcopy trace --no-report --sample-hz {SAMPLE_HZ} --export-json @TMP@/r.json -- dd if=@TMP@/file of=/dev/null bs=64k 2>/dev/null
echo "==> read-summary"; cat @TMP@/r.json
@BIN@/zcopy bench -s read-write,sendfile,mmap-write --sink tcp --size 8M --runs 1 --warmup 0 --no-report --export-json @TMP@/b.json > /dev/null 2> @TMP@/b.err
echo "==> bench"; cat @TMP@/b.json
echo "==> bench-stderr"; tail -5 @TMP@/b.err
@BIN@/zcopy trace --no-report --export-json @TMP@/u.json -- @BIN@/zcopy-helper udp {DATAGRAMS} {DATAGRAM} > @TMP@/u.out 2> @TMP@/u.err
echo "==> udp-truth"; cat @TMP@/u.out; echo "{{\"stdout_bytes\":$(wc -c < @TMP@/u.out)}}"
echo "==> udp-summary"; cat @TMP@/u.json
@BIN@/zcopy bench -s msg-zerocopy --sink tcp --size 8M --runs 1 --warmup 0 --no-report --export-json @TMP@/z.json > /dev/null 2> @TMP@/z.err
echo "==> zerocopy"; cat @TMP@/z.json
@BIN@/zcopy agent --listen 127.0.0.1:{AGENT_PORT} --zero-copy > /dev/null 2> @TMP@/a.err &
AGENT=$!
metrics() {{ curl -s http://127.0.0.1:{AGENT_PORT}/metrics 2>/dev/null || wget -qO- http://127.0.0.1:{AGENT_PORT}/metrics; }}
i=0; while ! metrics > /dev/null 2>&1 && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done
CG="$(awk '{{for (i = 1; i <= NF; i++) if ($i == "-") {{ if ($(i + 1) == "cgroup2") print $5; break }}}}' /proc/self/mountinfo | head -1)/zcopy-kernels-agent"
mkdir -p "$CG"
sh -c "echo \$\$ > $CG/cgroup.procs; exec @BIN@/zcopy-helper udp {DATAGRAMS} {DATAGRAM}" > /dev/null
sh -c "echo \$\$ > $CG/cgroup.procs; exec @BIN@/zcopy-helper zerocopy {ZC_SENDS} 65536" > @TMP@/zh.out &
ZH=$!
i=0; while ! grep -q ready @TMP@/zh.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -USR1 $(awk '/ready/{{print $2}}' @TMP@/zh.out); wait $ZH
echo "==> agent-zerocopy-truth"; grep -v ready @TMP@/zh.out
echo "==> agent"; metrics
kill -TERM $AGENT; wait $AGENT; CODE=$?; echo "==> agent-exit"; echo "{{\"code\":$CODE}}"
echo "==> agent-stderr"; cat @TMP@/a.err
rmdir "$CG"
echo "==> end""#
    )
    .replace("@BIN@", bin)
    .replace("@TMP@", tmp)
}

/// What the host's column is called in messages.
const HERE: &str = "this machine's kernel";

/// The same checks on this machine's kernel, with `bin_dir`'s binaries.
pub fn here(bin_dir: &Path) -> anyhow::Result<Found> {
    let tmp = std::env::temp_dir().join(format!("zcopy-kernels-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let out =
        Command::new("sh").arg("-c").arg(checks(&bin_dir.display().to_string(), &tmp.display().to_string())).output();
    let _ = std::fs::remove_dir_all(&tmp);
    let text = String::from_utf8_lossy(&out.context("running the checks on this machine")?.stdout).into_owned();
    check(HERE, &sections(&text)).with_context(|| format!("on this machine; output:\n{text}"))
}

/// One kernel's results.
pub struct Found {
    pub release: String,
    /// A stock kernel's package (as users install it) and suite; None for this machine's kernel.
    source: Option<(&'static str, Suite)>,
    /// The leading activity of dd's sampled kernel time (zcopy's own BPF
    /// programs aside); None where too few samples were taken (this
    /// machine's fast dd) or sampling did not attach.
    dd_lead: Option<String>,
    pub doctor: Value,
    pub bench: Value,
    pub read: Value,
    /// UDP sends copied user -> kernel, where measured.
    pub udp_copied: Option<u64>,
    /// A MSG_ZEROCOPY sender's bytes copied by the kernel after all (of 8 MiB), where measured.
    pub zerocopy_copied: Option<u64>,
    /// The same copies seen by the zero-copy programs, less what TCP
    /// retransmitted (copied again): equal to the completion reports.
    pub zerocopy_fate: Option<u64>,
    /// `zcopy agent`: the UDP sends' bytes in the workload's cgroup
    /// (how="cpu_copy") and the hook its socket program used, where measured.
    pub agent_sent: Option<(u64, String)>,
    /// `zcopy agent`: the programs that did not attach.
    pub agent_missing: Vec<String>,
    /// `zcopy agent --zero-copy`: a MSG_ZEROCOPY sender's bytes copied anyway,
    /// less TCP's retransmitted bytes (copied again): equal to the completion
    /// reports. None where its programs did not attach.
    pub agent_zero_copy: Option<u64>,
}

/// Boots every kernel with `bin_dir`'s zcopy and zcopy-helper, checks each,
/// and returns what it found (for docs/kernels.md).
pub fn run(root: &Path, bin_dir: &Path) -> anyhow::Result<Vec<Found>> {
    ensure_tools()?;
    let vm = root.join("target/vm");
    let initrd = initramfs(&vm, bin_dir)?;
    KERNELS
        .iter()
        .map(|kernel| {
            let package = kernel.package;
            let vmlinuz = fetch(&vm, kernel)?;
            crate::step(&format!("booting {package} under qemu (TCG) with zcopy inside"));
            let console = boot(&vmlinuz, &initrd)?;
            let sections = sections(&console);
            let mut found =
                check(package, &sections).with_context(|| format!("on {package}; its console:\n{console}"))?;
            found.source = Some((kernel.installed_as, kernel.suite));
            Ok(found)
        })
        .collect()
}

fn ensure_tools() -> anyhow::Result<()> {
    let mut missing: Vec<&str> = TOOLS.iter().filter(|(cmd, _)| !crate::on_path(cmd)).map(|(_, p)| *p).collect();
    // The busybox in the initramfs must be static: the dynamic one needs libraries the VM lacks.
    let static_busybox = Command::new("dpkg").args(["-s", "busybox-static"]).output().is_ok_and(|o| o.status.success());
    if !static_busybox {
        missing.push("busybox-static");
    }
    if !missing.is_empty() {
        crate::apt_install(&missing, "the stock-kernel tier boots kernels under qemu")?;
    }
    Ok(())
}

/// The kernel image of `kernel`, downloaded from Debian's registry once (cached in target/vm).
fn fetch(vm: &Path, kernel: &Kernel) -> anyhow::Result<PathBuf> {
    let package = kernel.package;
    let dir = vm.join(package);
    if let Some(found) = vmlinuz_in(&dir) {
        return Ok(found);
    }
    crate::step(&format!("downloading {package} from {}", kernel.suite.name()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut apt = Command::new("apt-get");
    if kernel.suite == Suite::TrixieBackports {
        apt.args(private_apt(vm)?);
    }
    let status = apt.args(["download", package]).current_dir(&dir).status()?;
    ensure!(status.success(), "apt-get download {package} failed ({status}): is Debian's registry reachable?");
    let deb = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("no .deb for {package} in {}", dir.display()))?;
    let status = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir).status()?;
    ensure!(status.success(), "dpkg-deb -x {} failed ({status})", deb.display());
    vmlinuz_in(&dir).with_context(|| format!("{package} has no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz*"))
}

/// apt-get options for a private state in `vm`/apt whose one source is
/// trixie-backports, at the URI the machine's own Debian source uses; its
/// lists are fetched on first use. The machine's sources stay as they are.
fn private_apt(vm: &Path) -> anyhow::Result<Vec<String>> {
    let apt = vm.join("apt");
    let sources = apt.join("sources.list");
    let options = vec![
        format!("-oDir::Etc::SourceList={}", sources.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_owned(),
        format!("-oDir::State::Lists={}", apt.join("lists").display()),
        format!("-oDir::Cache={}", apt.join("cache").display()),
    ];
    let fetched = std::fs::read_dir(apt.join("lists"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        // Compressed where apt is set to keep indexes so (_Packages.lz4).
        .any(|e| e.file_name().to_string_lossy().contains("_Packages"));
    if fetched {
        return Ok(options);
    }
    for d in ["lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(apt.join(d)).with_context(|| format!("creating {}", apt.join(d).display()))?;
    }
    let line = format!(
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} trixie-backports main\n",
        debian_uri()
    );
    std::fs::write(&sources, line).with_context(|| format!("writing {}", sources.display()))?;
    crate::step("apt-get update of a private list of trixie-backports (in target/vm/apt)");
    let status = Command::new("apt-get").args(&options).args(["update", "-qq"]).status()?;
    ensure!(status.success(), "apt-get update of trixie-backports failed ({status}): is Debian's registry reachable?");
    Ok(options)
}

/// The URI of the machine's Debian archive (its sources' first `.../debian`), or Debian's default.
fn debian_uri() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.filter_map(Result::ok).map(|e| e.path()));
    }
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|w| {
            (w.starts_with("http://") || w.starts_with("https://")) && w.trim_end_matches('/').ends_with("/debian")
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

/// The kernel image in an extracted package: boot/vmlinuz-* (Debian 12,
/// 6.18), or usr/lib/modules/VERSION/vmlinuz* (7.3's linux-binary package).
fn vmlinuz_in(dir: &Path) -> Option<PathBuf> {
    let files = |d: PathBuf| std::fs::read_dir(d).into_iter().flatten().filter_map(Result::ok).map(|e| e.path());
    let named = |p: &PathBuf| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz"));
    files(dir.join("boot")).find(named).or_else(|| files(dir.join("usr/lib/modules")).flat_map(files).find(named))
}

/// An initramfs with static busybox, stripped zcopy and zcopy-helper and the
/// libraries they link, and the checks as /init.
fn initramfs(vm: &Path, bin_dir: &Path) -> anyhow::Result<PathBuf> {
    let stage = vm.join("initramfs");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    for d in ["bin", "proc", "sys", "dev", "tmp", "sys/kernel/tracing"] {
        std::fs::create_dir_all(stage.join(d))?;
    }
    std::fs::copy("/bin/busybox", stage.join("bin/busybox")).context("copying /bin/busybox")?;
    for bin in ["zcopy", "zcopy-helper"] {
        let from = bin_dir.join(bin);
        let status = Command::new("strip").arg("-o").arg(stage.join("bin").join(bin)).arg(&from).status()?;
        ensure!(status.success(), "strip {} failed: build it first", from.display());
        let out = Command::new("ldd").arg(&from).output()?;
        for lib in String::from_utf8_lossy(&out.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
            let target = stage.join(lib.trim_start_matches('/'));
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(lib, &target).with_context(|| format!("copying {lib}"))?;
        }
    }
    let init = stage.join("init");
    std::fs::write(&init, init_script())?;
    let status = Command::new("chmod").arg("+x").arg(&init).status()?;
    ensure!(status.success(), "chmod +x {}", init.display());
    let initrd = vm.join("initrd.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("find . | cpio -o -H newc 2>/dev/null | gzip -1 > '{}'", initrd.display()))
        .current_dir(&stage)
        .status()?;
    ensure!(status.success(), "packing the initramfs failed ({status})");
    Ok(initrd)
}

/// Boots `vmlinuz` with `initrd` and returns the serial console, cleaned of
/// NULs, escape sequences and carriage returns.
fn boot(vmlinuz: &Path, initrd: &Path) -> anyhow::Result<String> {
    let out = Command::new("timeout")
        .arg("600")
        .arg("qemu-system-x86_64")
        // One vCPU: with two (multi-threaded TCG), a 6.12 guest once took an
        // int3 Oops at a jump-label site in handle_mm_fault while programs
        // were attached and detached (code patched under another vCPU that
        // TCG had already translated). Counts do not need two CPUs.
        .args(["-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "2048", "-kernel"])
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 rdinit=/init quiet", "-nographic", "-no-reboot"])
        .output()
        .context("running qemu-system-x86_64")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{0}' | '\r' => {}
            '\u{1b}' => {
                // CSI: ESC [ parameters final-byte
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for n in chars.by_ref() {
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            c => clean.push(c),
        }
    }
    ensure!(clean.contains("==> end"), "the VM did not finish its checks ({}); console:\n{clean}", out.status);
    Ok(clean)
}

/// The console split at its `==> NAME` lines.
fn sections(console: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in console.lines() {
        // The console can put the firmware's last bytes before the first marker.
        if let Some(name) = line.find("==> ").map(|i| &line[i + 4..]) {
            if let Some((n, body)) = current.take() {
                out.insert(n, body);
            }
            current = Some((name.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        out.insert(n, body);
    }
    out
}

fn json(sections: &BTreeMap<String, String>, name: &str) -> anyhow::Result<Value> {
    let text = sections.get(name).with_context(|| format!("no section {name}"))?;
    // The JSON object: from the first '{' to the last '}' (kernel messages may precede it).
    let (start, end) = (text.find('{'), text.rfind('}'));
    let (Some(start), Some(end)) = (start, end) else { bail!("section {name} has no JSON:\n{text}") };
    serde_json::from_str(&text[start..=end]).with_context(|| format!("section {name} is not JSON:\n{text}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// Every check of one kernel; the exact counts must be exact.
fn check(package: &str, sections: &BTreeMap<String, String>) -> anyhow::Result<Found> {
    let release = sections.get("release").map(|r| r.trim().to_owned()).unwrap_or_default();
    let doctor = json(sections, "doctor")?;
    let truth = json(sections, "helper-truth")?;
    let summary = json(sections, "helper-summary")?;

    // The known workload: the forked worker's calls and bytes, exactly.
    let worker = summary["processes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["pid"] == truth["worker_pid"]))
        .context("the helper's worker is not among the traced processes")?;
    let sc = &worker["syscalls"];
    let page = u(&truth["page_size"]);
    let expect = [
        ("read calls", u(&sc["read"]["calls"]), READS),
        ("read bytes", u(&sc["read"]["bytes"]), READS * SIZE),
        ("write calls", u(&sc["write"]["calls"]), WRITES),
        ("write bytes", u(&sc["write"]["bytes"]), WRITES * SIZE),
        ("mmap bytes", u(&sc["mmap"]["bytes"]), PAGES * page),
        ("munmap calls", u(&sc["munmap"]["calls"]), 1),
        ("syscalls", u(&worker["syscalls_total"]), READS + WRITES + 2 + 1 + SLEEPS + 1),
        (
            "faults (perf minor + major) against /proc",
            u(&worker["faults"]["minor"]) + u(&worker["faults"]["major"]),
            u(&truth["proc"]["minflt"]) + u(&truth["proc"]["majflt"]),
        ),
    ];
    for (what, got, want) in expect {
        ensure!(got == want, "{package}: {what}: zcopy {got}, expected {want}");
    }
    // Context switches: /proc's counters, within one (the worker's last
    // switch can come after its parent read /proc).
    for (ours, theirs) in [("voluntary", "nvcsw"), ("involuntary", "nivcsw")] {
        let (got, want) = (u(&worker["switches"][ours]), u(&truth["proc"][theirs]));
        ensure!(got.abs_diff(want) <= 1, "{package}: {ours} switches: zcopy {got}, /proc {want}");
    }

    // Doctor says what the trace did, field by field.
    let sources = summary["sources"].as_object().context("sources")?;
    for p in doctor["plan"].as_array().context("doctor plan")? {
        match p["decision"].as_str() {
            Some("uses") => {
                for (field, how) in p["sources"].as_object().context("plan sources")? {
                    let provenance = p["provenance"].as_str().unwrap_or("measured");
                    let want = format!("{provenance}: {}", how.as_str().unwrap_or_default());
                    ensure!(
                        sources.get(field) == Some(&Value::from(want.clone())),
                        "{package}: {field}: doctor {want:?}, trace {:?}",
                        sources.get(field)
                    );
                }
            }
            Some("falls_back") => {
                for field in p["fields"].as_array().context("plan fields")? {
                    let text =
                        sources.get(field.as_str().unwrap_or_default()).and_then(Value::as_str).unwrap_or_default();
                    ensure!(
                        !text.starts_with("measured"),
                        "{package}: doctor falls back for {field}, trace measured it: {text}"
                    );
                }
            }
            other => bail!("{package}: doctor decision {other:?}"),
        }
    }

    // A cached file read: FILE bytes kernel -> user, by the rules, and by the
    // copy routines where they attach.
    let read = json(sections, "read-summary")?;
    let file = FILE_MIB << 20;
    let by_rule = read["copies"]
        .as_array()
        .and_then(|c| c.iter().find(|f| f["syscall"] == "read" && f["from"] == "file"))
        .map(|f| u(&f["bytes"]));
    // Exact in the VMs (static busybox). On this machine dd is dynamic: the
    // loader's reads of its libraries' ELF headers (832 bytes each) are file
    // reads too, hence the tolerance of one chunk there.
    let tolerance = if package == HERE { 64 << 10 } else { 0 };
    ensure!(
        by_rule.is_some_and(|b| b >= file && b - file <= tolerance),
        "{package}: dd's reads of files: {by_rule:?} bytes, expected {file} (+ at most {tolerance})"
    );
    // Measured by the copy probes where they attach: the file and the go
    // byte, exactly (in the VMs; on this machine within the loader's reads).
    if let Some(measured) = read["data"]["copied_to_user_bytes"].as_u64() {
        let want = file + 1;
        ensure!(
            measured >= want && measured - want <= tolerance,
            "{package}: the copy probes saw {measured} bytes kernel -> user, expected {want} (the file and the go byte, + at most {tolerance})"
        );
    }

    let dd_lead = sampled_lead(package, &read["profile"])?;

    let bench = json(sections, "bench")?;
    ensure!(
        bench["cases"].as_array().is_some_and(|c| c.iter().all(|c| c["status"] == "ok")),
        "{package}: a bench case did not run: {}",
        sections.get("bench-stderr").map_or("", String::as_str)
    );
    // UDP sends: measured where the copy probes attach, exactly the datagrams
    // plus the helper's own report written to its stdout file.
    let udp = json(sections, "udp-summary")?;
    let stdout_bytes = sections
        .get("udp-truth")
        .and_then(|t| t.lines().last())
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .map_or(0, |v| u(&v["stdout_bytes"]));
    let udp_copied = udp["data"]["copied_from_user_bytes"].as_u64();
    if let Some(copied) = udp_copied {
        let want = DATAGRAMS * DATAGRAM + stdout_bytes;
        ensure!(copied == want, "{package}: UDP sends copied user -> kernel: {copied}, expected {want}");
    }
    // MSG_ZEROCOPY over loopback: the kernel reports every send copied.
    // Where the copy probes attach, how much of that copy they see is
    // recorded, not asserted: on 6.12 skb_copy_ubufs copies all but the bytes
    // a send put in the skb's linear part (159 of 8 MiB); on 6.1 most of it
    // happens inside tcp_sendmsg_locked, where a MSG_ZEROCOPY send is not
    // counted. The matrix says which (share of the 8 MiB, to a tenth).
    let zc = json(sections, "zerocopy")?;
    ensure!(zc["cases"][0]["status"] == "ok", "{package}: the msg-zerocopy case did not run");
    let run = &zc["cases"][0]["runs"][0];
    let zerocopy_copied = run["sender"]["data"]["copied_in_kernel_bytes"].as_u64();
    // The zero-copy programs follow each zero-copy skb to the receive path
    // that copies it: exactly the bytes the completion reports say, plus the
    // bytes TCP retransmitted (each copied again).
    let reports = &run["sender"]["zerocopy"];
    let zerocopy_fate = match run["sender"]["data"]["zero_copy_copied_bytes"].as_u64() {
        Some(seen) => {
            let (reported, again) = (u(&reports["copied_bytes"]), u(&reports["retransmitted_bytes"]));
            ensure!(
                seen == reported + again,
                "{package}: zero-copy bytes copied anyway: the probes saw {seen}, the reports say {reported} (+ {again} retransmitted)"
            );
            Some(seen - again)
        }
        None => None,
    };
    let (agent_sent, agent_missing) = agent(package, sections)?;
    let agent_zero_copy = agent_zero_copy(package, sections, &agent_missing)?;
    Ok(Found {
        release,
        source: None,
        dd_lead,
        doctor,
        bench,
        read,
        udp_copied,
        zerocopy_copied,
        zerocopy_fate,
        agent_sent,
        agent_missing,
        agent_zero_copy,
    })
}

/// The leading activity of a trace's sampled profile, zcopy's programs and
/// user space aside. In the VMs it must be there, from enough samples, and
/// be the file read's copy to user memory.
fn sampled_lead(package: &str, profile: &Value) -> anyhow::Result<Option<String>> {
    let samples = profile["samples"].as_u64().unwrap_or(0);
    let lead = profile["activities"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .filter(|r| r["activity"] != "bpf_programs" && r["activity"] != "user_space")
                .max_by_key(|r| r["samples"].as_u64().unwrap_or(0))
        })
        .and_then(|r| r["activity"].as_str())
        .map(str::to_owned);
    if package == HERE {
        return Ok(lead.filter(|_| samples >= MIN_SAMPLES));
    }
    ensure!(
        samples >= MIN_SAMPLES,
        "{package}: the sampled profile of dd has {samples} samples (at least {MIN_SAMPLES} expected at {SAMPLE_HZ} Hz): {profile}"
    );
    ensure!(
        lead.as_deref() == Some("copy_to_user_file_read"),
        "{package}: dd's sampled kernel time is led by {lead:?}, not the file read's copy to user memory: {profile}"
    );
    Ok(lead)
}

/// `zcopy agent --zero-copy`'s check: the MSG_ZEROCOPY sender in the cgroup
/// sent exactly its bytes with zero_copy_asked, and the bytes copied anyway
/// are the completion reports' plus TCP's retransmitted bytes, exactly.
fn agent_zero_copy(
    package: &str,
    sections: &BTreeMap<String, String>,
    missing: &[String],
) -> anyhow::Result<Option<u64>> {
    let truth = json(sections, "agent-zerocopy-truth")?;
    let metrics = sections.get("agent").map(String::as_str).unwrap_or_default();
    let value = |sample: String| -> Option<u64> {
        metrics.lines().find_map(|l| l.strip_prefix(&sample)?.strip_prefix(' ')?.parse::<f64>().ok()).map(|v| v as u64)
    };
    if !missing.iter().any(|p| p == "agent_sock_send") {
        let asked =
            value(format!("zcopy_socket_sent_bytes_total{{cgroup=\"{AGENT_CGROUP}\",how=\"zero_copy_asked\"}}"));
        ensure!(
            asked == truth["sent"].as_u64(),
            "{package}: zcopy agent counted {asked:?} bytes sent with MSG_ZEROCOPY, the helper sent {}",
            truth["sent"]
        );
    }
    if missing.iter().any(|p| p == "agent_zc_xmit" || p == "agent_netif_receive_skb") {
        return Ok(None);
    }
    let copied = value(format!(
        "zcopy_zero_copy_copied_anyway_bytes_total{{cgroup=\"{AGENT_CGROUP}\",reason=\"received_by_this_host\"}}"
    ))
    .context("no zero-copy copied-anyway sample for the cgroup")?;
    let (reported, again) = (u(&truth["copied_bytes"]), u(&truth["retransmitted_bytes"]));
    ensure!(
        copied == reported + again,
        "{package}: zcopy agent --zero-copy: copied anyway {copied}, the reports say {reported} (+ {again} retransmitted)"
    );
    Ok(Some(copied - again))
}

/// `zcopy agent`'s check: it served, exited 0 on SIGTERM, and where its
/// socket program attached, counted the UDP workload's bytes in its cgroup
/// exactly. Returns (those bytes, the programs that did not attach).
/// What the agent's check found: the bytes and hook (where measured), and
/// the programs that did not attach.
type AgentFound = (Option<(u64, String)>, Vec<String>);

fn agent(package: &str, sections: &BTreeMap<String, String>) -> anyhow::Result<AgentFound> {
    let metrics = sections.get("agent").map(String::as_str).unwrap_or_default();
    let stderr = sections.get("agent-stderr").map(String::as_str).unwrap_or_default();
    ensure!(metrics.contains("# EOF"), "{package}: zcopy agent served no metrics; its stderr:\n{stderr}");
    let exit = json(sections, "agent-exit")?;
    ensure!(exit["code"] == 0, "{package}: zcopy agent exited with {} after SIGTERM", exit["code"]);
    let value = |prefix: &str| -> Option<u64> {
        metrics.lines().find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' ')?.parse::<f64>().ok()).map(|v| v as u64)
    };
    let missing: Vec<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("zcopy_agent_probe_attached{program=\""))
        .filter(|l| l.ends_with(" 0.0"))
        .filter_map(|l| l.split('"').next().map(str::to_owned))
        .collect();
    let sent = value(&format!("zcopy_socket_sent_bytes_total{{cgroup=\"{AGENT_CGROUP}\",how=\"cpu_copy\"}}"));
    if missing.iter().any(|p| p == "agent_sock_send") {
        return Ok((None, missing));
    }
    ensure!(
        sent == Some(DATAGRAMS * DATAGRAM),
        "{package}: zcopy agent counted {sent:?} bytes sent in {AGENT_CGROUP}, the helper sent {}",
        DATAGRAMS * DATAGRAM
    );
    // zcopy_agent_probe_attached{program="agent_sock_send",hook="..."} 1.0
    let hook = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zcopy_agent_probe_attached{program=\"agent_sock_send\",hook=\""))
        .and_then(|l| l.split('"').next())
        .unwrap_or("?")
        .to_owned();
    Ok((sent.map(|s| (s, hook)), missing))
}

/// What the tier found: this machine's kernel, and the stock kernels.
pub struct Matrix {
    pub host: Found,
    pub stock: Vec<Found>,
}

impl Matrix {
    /// docs/kernels.md: the stock kernels alone. Nothing in it depends on
    /// the machine that ran the tier, so it is the same on every host whose
    /// VMs show the same (the host's kernel, build and CPU differ by machine).
    pub fn document(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# zcopy on stock kernels\n");
        let _ = writeln!(
            out,
            "Generated by `cargo xtask kernels` from Debian's kernel packages booted under qemu with zcopy \
             inside; `cargo xtask test` boots them again and fails if this file no longer matches. \
             Counts are exact in the VM; throughput there is meaningless (TCG). The machine's own kernel \
             is checked too, and its column printed by the run, never written here: it differs by machine.\n"
        );
        let _ = writeln!(out, "## The kernels and where each comes from\n");
        let _ = writeln!(out, "| kernel | package | from |\n|---|---|---|");
        for f in &self.stock {
            let (installed, suite) = f.source.map_or(("?", "?"), |(p, s)| (p, s.name()));
            let _ = writeln!(out, "| Linux {} | `{installed}` | {suite} |", f.release);
        }
        let _ = writeln!(out);
        tables(&mut out, &self.stock);
        out
    }

    /// This machine's column, for the run's output (checked, not compared).
    pub fn host_report(&self) -> String {
        let mut out = format!(
            "this machine's kernel, Linux {} (checked; not compared with {}):\n",
            self.host.release, "docs/kernels.md"
        );
        tables(&mut out, std::slice::from_ref(&self.host));
        out
    }
}

/// The matrix's tables, a column per kernel of `found`: every probe's way
/// (or why none), the CPU-copy claims cells of the bench, the measured copies.
fn tables(out: &mut String, found: &[Found]) {
    let _ = writeln!(out, "## Probes: the way each figure group attached, or why none did\n");
    let mut header = "| |".to_owned();
    let mut rule = "|---|".to_owned();
    for f in found {
        let _ = write!(header, " Linux {} |", f.release);
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    let plans: Vec<Vec<Value>> =
        found.iter().map(|f| f.doctor["plan"].as_array().cloned().unwrap_or_default()).collect();
    let names: Vec<String> = plans
        .first()
        .map(|p| p.iter().map(|d| d["what"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    for name in &names {
        let mut row = format!("| {name} |");
        for plan in &plans {
            let d = plan.iter().find(|d| d["what"] == name.as_str());
            let cell = match d.and_then(|d| d["decision"].as_str()) {
                Some("uses") => d.and_then(|d| d["mechanism"].as_str()).unwrap_or("?").to_owned(),
                Some("falls_back") => {
                    let why = d
                        .and_then(|d| d["because"].as_array())
                        .map(|b| b.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
                        .unwrap_or_default();
                    format!("**none**: {}", why.replace('|', "/"))
                }
                _ => "?".to_owned(),
            };
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(
        out,
        "\n## CPU copies per chunk, claimed against this kernel (bench: 8 MiB over TCP, 64 KiB chunks)\n"
    );
    let _ = writeln!(out, "{header}\n{rule}");
    let cells = |f: &Found| -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for case in f.bench["cases"].as_array().into_iter().flatten() {
            for claim in case["claims"].as_array().into_iter().flatten() {
                for cell in claim["cells"].as_array().into_iter().flatten().filter(|c| c["what"] == "CPU copies") {
                    let value =
                        cell["measured"]["value"].as_f64().map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"));
                    m.insert(
                        format!(
                            "{}: {}",
                            case["strategy"].as_str().unwrap_or("?"),
                            claim["row"].as_str().unwrap_or("?")
                        ),
                        format!(
                            "{} -> {value} {} ({})",
                            cell["claimed"].as_f64().unwrap_or(f64::NAN),
                            cell["measured"]["how"].as_str().unwrap_or("?"),
                            cell["verdict"].as_str().unwrap_or("?")
                        ),
                    );
                }
            }
        }
        m
    };
    let all: Vec<BTreeMap<String, String>> = found.iter().map(cells).collect();
    for key in all.first().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
        let mut row = format!("| {key} |");
        for m in &all {
            let _ = write!(row, " {} |", m.get(&key).map_or("-", String::as_str));
        }
        let _ = writeln!(out, "{row}");
    }
    fn not_measured() -> String {
        "not measured (see Probes)".to_owned()
    }
    let bytes = |b: Option<u64>| b.map_or_else(not_measured, |b| format!("{b} bytes (measured)"));
    // How much of a zero-copy send's later copy lands in the sender's own
    // context varies run to run (the kernel copies in whichever task delivers
    // the packet: the sender's softirq, or ksoftirqd): whether it is measured is stable.
    let share = |b: Option<u64>| {
        b.map_or_else(not_measured, |_| {
            "measured where the sender's own context copies; varies by run (skb_copy_ubufs runs in the task that delivers)".to_owned()
        })
    };
    type Row<'a> = (&'a str, Box<dyn Fn(&Found) -> String>);
    let dd = format!("dd of a cached {FILE_MIB} MiB file (bs=64k): copied kernel -> user (+ the go byte)");
    let lead = format!(
        "dd of the same file: the leading activity of its kernel time (sampled: cpu-clock at {SAMPLE_HZ} Hz, at least {MIN_SAMPLES} samples, the count varies by run; zcopy's own programs aside)"
    );
    let rows: [Row<'_>; 8] = [
        (
            &lead,
            Box::new(|f| {
                f.dd_lead.as_ref().map_or_else(|| "too few samples here".to_owned(), |l| format!("{l} (sampled)"))
            }),
        ),
        (&dd, Box::new(move |f| bytes(f.read["data"]["copied_to_user_bytes"].as_u64()))),
        (
            "UDP: 100 sends of 1000 bytes, copied user -> kernel (+ the helper's report to its stdout file)",
            Box::new(move |f| bytes(f.udp_copied)),
        ),
        (
            "MSG_ZEROCOPY, 8 MiB over loopback (the kernel reports every send copied): the copy seen by the probes",
            Box::new(move |f| share(f.zerocopy_copied)),
        ),
        (
            "MSG_ZEROCOPY, 8 MiB over loopback: copied anyway, seen by the zero-copy programs (less TCP's retransmitted bytes, copied again), checked equal to the completion reports",
            Box::new(move |f| bytes(f.zerocopy_fate)),
        ),
        (
            "zcopy agent: UDP, 100 sends of 1000 bytes in a cgroup, zcopy_socket_sent_bytes_total{how=\"cpu_copy\"}",
            Box::new(move |f| {
                f.agent_sent.as_ref().map_or_else(
                    || "not measured: the socket programs did not attach (see the row of programs that did not attach; the sock tracepoints are Linux 6.3+)".to_owned(),
                    |(b, hook)| format!("{b} bytes (measured, {hook})"),
                )
            }),
        ),
        (
            "zcopy agent --zero-copy: MSG_ZEROCOPY, 8 MiB over loopback in a cgroup, copied anyway (less TCP's retransmitted bytes), checked equal to the completion reports",
            Box::new(move |f| bytes(f.agent_zero_copy)),
        ),
        (
            "zcopy agent --zero-copy: programs that did not attach",
            Box::new(move |f| if f.agent_missing.is_empty() { "none".to_owned() } else { f.agent_missing.join(", ") }),
        ),
    ];
    let _ = writeln!(out, "\n## Copies the probes measured\n");
    let _ = writeln!(out, "{header}\n{rule}");
    for (what, cell) in rows {
        let mut row = format!("| {what} |");
        for f in found {
            let _ = write!(row, " {} |", cell(f));
        }
        let _ = writeln!(out, "{row}");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn found(release: &str, copied: Option<u64>, mechanism: &str) -> Found {
        Found {
            release: release.to_owned(),
            source: None,
            dd_lead: Some("copy_to_user_file_read".to_owned()),
            doctor: json!({"plan": [{"what": "syscall counts", "decision": "uses", "mechanism": mechanism}]}),
            bench: json!({"cases": []}),
            read: json!({"data": {"copied_to_user_bytes": copied}}),
            udp_copied: copied,
            zerocopy_copied: None,
            zerocopy_fate: Some(8 << 20),
            agent_sent: None,
            agent_missing: Vec::new(),
            agent_zero_copy: None,
        }
    }

    fn stock() -> Vec<Found> {
        let mut vm = found("6.1.0-57-cloud-amd64", Some(8_388_609), "raw_tracepoint");
        vm.source = Some((KERNELS[0].installed_as, KERNELS[0].suite));
        vec![vm]
    }

    #[test]
    fn the_document_ignores_the_host() {
        let here = Matrix { host: found("6.18.44-fc-v769", None, "raw_tracepoint"), stock: stock() };
        let elsewhere = Matrix { host: found("6.8.0-31-generic", Some(123), "tracepoint"), stock: stock() };
        assert_eq!(here.document(), elsewhere.document());
        assert!(!here.document().contains("fc-v769") && !elsewhere.document().contains("6.8.0-31"));
        // The host's own figures are printed by the run.
        assert!(elsewhere.host_report().contains("6.8.0-31-generic") && elsewhere.host_report().contains("123 bytes"));
    }

    #[test]
    fn the_document_changes_with_a_stock_kernel() {
        let host = || found("6.18.44-fc-v769", None, "raw_tracepoint");
        let before = Matrix { host: host(), stock: stock() };
        let mut changed = stock();
        changed[0].read = json!({"data": {"copied_to_user_bytes": null}});
        let after = Matrix { host: host(), stock: changed };
        assert_ne!(before.document(), after.document());
        assert!(before.document().contains("8388609 bytes (measured)"));
        assert!(before.document().contains("`linux-image-6.1.0-57-cloud-amd64` | Debian 12 (bookworm)"));
    }

    #[test]
    fn the_tier_names_its_kernels() {
        assert_eq!(names(), "Debian's 6.1, 6.12, 6.18, 7.3");
    }
}
