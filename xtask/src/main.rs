//! `cargo xtask`: set up the eBPF toolchain, build, test, and run zcopy's
//! main job. Orchestration only: every step is printed, and a step that is
//! already done is skipped.

mod agent_bench;
#[allow(dead_code, reason = "build_command and object_path are used by zcopy-user/build.rs, which shares this file")]
mod bpf_toolchain;
mod iperf3;
mod kernels;
mod overhead;

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "zcopy's build and test tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the eBPF build needs (apt packages as root on Debian/Ubuntu, bpf-linker in .tools/).
    Setup,
    /// Set up, then build zcopy (the binary embeds the eBPF programs).
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Set up, build, and run every test (privileged tests need root; ZCOPY_REQUIRE_BPF=1 makes them fail instead of skip).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run zcopy's main job: the default strategy comparison, with a report folder in reports/latest/.
    Demo,
    /// Regenerate the sample report committed in reports/sample/ (the default comparison on this machine).
    Reports,
    /// Compare zcopy's workload engine with iperf3 on this machine (see BENCHMARKS.md).
    CompareIperf3 {
        /// Bytes per transfer.
        #[arg(long, default_value = "1G")]
        size: String,
        /// Measured runs of each side.
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// What tracing costs: the same work untraced, under zcopy, bpftrace, strace and perf trace (see BENCHMARKS.md).
    BenchOverhead {
        /// Interleaved rounds (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// One-byte reads in the syscall storm.
        #[arg(long, default_value_t = 1_000_000)]
        storm_calls: u64,
        /// MiB sent in each 64 KiB transfer.
        #[arg(long, default_value_t = 512)]
        size_mib: u64,
    },
    /// What `zcopy agent` costs real servers: nginx under wrk and redis-server under redis-benchmark, untraced and with the agent (see BENCHMARKS.md).
    BenchAgent {
        /// Interleaved rounds (the median is reported).
        #[arg(long, default_value_t = 7)]
        rounds: u32,
        /// redis-benchmark: requests of each test (SET, GET) per run.
        #[arg(long, default_value_t = 300_000)]
        requests: u64,
        /// wrk: seconds per run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Boot Debian's stock kernels (6.1, 6.12, 6.18, 7.3) under qemu with zcopy inside, run the
    /// checks (on this machine's kernel too, printed), and rewrite docs/kernels.md from the stock kernels.
    Kernels,
    /// Set up, build (release) and run zcopy with these arguments.
    Run {
        #[arg(last = true)]
        args: Vec<String>,
    },
}

/// apt packages providing a rustc with a precompiled core for BPF.
const BPF_RUST_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "libstd-rust-web-dev-bpf"];
/// The bpf-linker release known to work with Debian's LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Commands the privileged tests compare zcopy against, and their packages.
/// nginx and curl: a real static-file server (with a sendfile switch) and client.
/// setcap: the non-root route; script: a pty for the live view.
/// prometheus (with promtool): the real scraper of `zcopy agent`'s tests.
const TEST_TOOLS: &[(&str, &str)] = &[
    ("strace", "strace"),
    ("perf", "linux-perf"),
    ("bpftool", "bpftool"),
    ("setpriv", "util-linux"),
    ("setcap", "libcap2-bin"),
    ("script", "bsdutils"),
    ("nginx", "nginx"),
    ("curl", "curl"),
    ("prometheus", "prometheus"),
];

fn main() {
    if let Err(err) = run(Cli::parse()) {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = workspace_root()?;
    match cli.task {
        Task::Setup => setup(&root, false),
        Task::Build { release } => {
            setup(&root, false)?;
            build(&root, release)
        }
        Task::Test { args } => {
            setup(&root, true)?;
            test(&root, &args)
        }
        Task::Demo => {
            setup(&root, false)?;
            build(&root, true)?;
            demo(&root, "reports/latest")
        }
        Task::Reports => {
            setup(&root, false)?;
            build(&root, true)?;
            demo(&root, "reports/sample")
        }
        Task::CompareIperf3 { size, runs } => {
            setup(&root, false)?;
            build(&root, true)?;
            iperf3::compare(&root, &size, runs)
        }
        Task::BenchOverhead { rounds, storm_calls, size_mib } => {
            setup(&root, true)?;
            build(&root, true)?;
            if !on_path("bpftrace") {
                apt_install(&["bpftrace"], "the overhead comparison needs bpftrace")?;
            }
            overhead::run(&root, rounds, storm_calls, size_mib)
        }
        Task::BenchAgent { rounds, requests, seconds } => {
            setup(&root, false)?;
            build(&root, true)?;
            let missing: Vec<&str> =
                agent_bench::TOOLS.iter().filter(|(cmd, _)| !on_path(cmd)).map(|(_, pkg)| *pkg).collect();
            if !missing.is_empty() {
                apt_install(&missing, "the agent's benchmark needs real servers and their load generators")?;
            }
            agent_bench::run(&root, rounds, requests, seconds)
        }
        Task::Kernels => {
            setup(&root, false)?;
            build(&root, false)?;
            let matrix = kernel_matrix(&root)?;
            eprintln!("{}", matrix.host_report());
            std::fs::write(root.join(KERNELS_DOC), matrix.document())
                .with_context(|| format!("writing {KERNELS_DOC}"))?;
            step(&format!("wrote {KERNELS_DOC}"));
            Ok(())
        }
        Task::Run { args } => {
            setup(&root, false)?;
            build(&root, true)?;
            let zcopy = root.join("target/release/zcopy");
            step(&format!("running {} {}", zcopy.display(), args.join(" ")));
            let mut cmd = Command::new(&zcopy);
            cmd.args(&args);
            without_cargo_library_path(&mut cmd, &root);
            let status = cmd.status().with_context(|| format!("running {}", zcopy.display()))?;
            std::process::exit(status.code().unwrap_or(1));
        }
    }
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest = env::var("CARGO_MANIFEST_DIR").context("run this through `cargo xtask`")?;
    Path::new(&manifest).parent().map(Path::to_path_buf).context("xtask has no parent folder")
}

fn step(text: &str) {
    eprintln!("[xtask] {text}");
}

fn is_root() -> bool {
    effective_uid() == 0
}

/// The effective uid, from /proc (keeps xtask free of libc).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(str::to_owned))
        .and_then(|uids| uids.split_whitespace().nth(1).and_then(|e| e.parse().ok()))
        .unwrap_or(u32::MAX)
}

fn has_apt() -> bool {
    Path::new("/usr/bin/apt-get").exists() && Path::new("/etc/debian_version").exists()
}

fn on_path(cmd: &str) -> bool {
    // /usr/sbin too: root's tools (nginx) live there even when PATH lacks it.
    let sbin = ["/usr/sbin", "/sbin"].iter().any(|d| Path::new(d).join(cmd).is_file());
    sbin || env::var_os("PATH").is_some_and(|p| env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// apt-get install, with one apt-get update first.
pub(crate) fn apt_install(packages: &[&str], why: &str) -> anyhow::Result<()> {
    if !has_apt() || !is_root() {
        bail!(
            "{why}: install the packages {} (as root: `apt-get install {}`)",
            packages.join(", "),
            packages.join(" ")
        );
    }
    step(&format!("{why}: apt-get install {}", packages.join(" ")));
    let run_apt = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed with {status}", args.join(" "));
        }
        Ok(())
    };
    run_apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend_from_slice(packages);
    run_apt(&args)
}

fn setup(root: &Path, for_tests: bool) -> anyhow::Result<()> {
    match bpf_toolchain::detect() {
        Ok(tc) => step(&format!("BPF compiler: {tc} (found)")),
        Err(why) => {
            if !(has_apt() && is_root()) {
                bail!("{why}");
            }
            apt_install(BPF_RUST_PACKAGES, "no compiler for BPF yet")?;
            let tc = bpf_toolchain::detect().map_err(anyhow::Error::msg)?;
            step(&format!("BPF compiler: {tc} (installed)"));
        }
    }
    ensure_bpf_linker(root)?;
    if for_tests {
        let missing: Vec<&str> = TEST_TOOLS.iter().filter(|(cmd, _)| !on_path(cmd)).map(|(_, pkg)| *pkg).collect();
        if missing.is_empty() {
            step("test tools: strace, perf, bpftool, setpriv, setcap, script, nginx, curl, prometheus (found)");
        } else {
            apt_install(&missing, "tools the tests compare against are missing")?;
        }
    }
    Ok(())
}

fn bpf_linker_version(path: &Path) -> Option<String> {
    let out = Command::new(path).arg("--version").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The LLVM 22 shared library that Debian's rustc-web pulls in (libllvm22).
fn find_libllvm22() -> Option<PathBuf> {
    let lib = Path::new("/usr/lib");
    std::fs::read_dir(lib).ok()?.filter_map(Result::ok).map(|e| e.path()).chain([lib.to_path_buf()]).find_map(|dir| {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libLLVM.so.22")))
    })
}

fn ensure_bpf_linker(root: &Path) -> anyhow::Result<()> {
    let tools = bpf_toolchain::tools_dir(root);
    if let Some(found) = bpf_toolchain::find_bpf_linker(&[tools.join("bin")])
        && let Some(version) = bpf_linker_version(&found)
    {
        step(&format!("bpf-linker: {} ({version}, found)", found.display()));
        return Ok(());
    }
    let Some(libllvm) = find_libllvm22() else {
        bail!(
            "bpf-linker is missing and LLVM 22 (libLLVM.so.22, Debian package libllvm22) was not found to build it: \
             install it, or install bpf-linker yourself (`cargo install bpf-linker`)"
        );
    };
    let shim = tools.join("llvm-shim/lib");
    std::fs::create_dir_all(&shim).with_context(|| format!("creating {}", shim.display()))?;
    let link = shim.join("libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&libllvm, &link).with_context(|| format!("linking {}", link.display()))?;
    step(&format!(
        "bpf-linker: building {BPF_LINKER_VERSION} against {} into {} (takes a few minutes, once)",
        libllvm.display(),
        tools.display()
    ));
    let status = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "install",
            "--locked",
            &format!("bpf-linker@{BPF_LINKER_VERSION}"),
            "--no-default-features",
            "--features",
            "llvm-22",
            "--root",
        ])
        .arg(&tools)
        .env("LLVM_PREFIX", tools.join("llvm-shim"))
        .status()
        .context("running cargo install bpf-linker")?;
    if !status.success() {
        bail!("building bpf-linker failed with {status}");
    }
    Ok(())
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root);
    // xtask has set the toolchain up: a missing one is an error, not an empty object.
    cmd.env("ZCOPY_REQUIRE_EBPF", "1");
    cmd
}

fn check(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    step(what);
    let status = cmd.status().with_context(|| format!("{what}: could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}

fn build(root: &Path, release: bool) -> anyhow::Result<()> {
    let mut cmd = cargo(root);
    cmd.args(["build", "--workspace", "--bins"]);
    if release {
        cmd.arg("--release");
    }
    check(cmd, &format!("building zcopy and its eBPF programs ({})", if release { "release" } else { "debug" }))
}

fn test(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    build(root, false)?;
    let mut cmd = cargo(root);
    cmd.args(["test", "--workspace"]).args(extra);
    cmd.env("ZCOPY_BIN", root.join("target/debug/zcopy"));
    cmd.env("ZCOPY_HELPER", root.join("target/debug/zcopy-helper"));
    cmd.env("CARGO_XTASK_TESTS", "1");
    check(cmd, "running the tests")?;
    if !extra.is_empty() {
        step("stock-kernel tier skipped: a test filter was given");
        return Ok(());
    }
    if !is_root() {
        step("stock-kernel tier SKIPPED: it needs root (apt, and zcopy inside the VMs runs as root there anyway)");
        return Ok(());
    }
    step(&format!("stock-kernel tier: {} under qemu", kernels::names()));
    let matrix = kernel_matrix(root)?;
    // The host's column is printed, never compared: it depends on the machine.
    eprintln!("{}", matrix.host_report());
    let text = matrix.document();
    let committed = std::fs::read_to_string(root.join(KERNELS_DOC)).unwrap_or_default();
    if committed != text {
        bail!(
            "{KERNELS_DOC} is stale: the stock kernels now show something else. Run `cargo xtask kernels` and commit it.\n--- now:\n{text}"
        );
    }
    step(&format!("stock-kernel tier passed; {KERNELS_DOC} is current"));
    Ok(())
}

/// Where the kernel matrix is kept.
const KERNELS_DOC: &str = "docs/kernels.md";

/// The matrix: this machine's kernel, then each stock kernel in its VM (all checked).
fn kernel_matrix(root: &Path) -> anyhow::Result<kernels::Matrix> {
    let bins = root.join("target/debug");
    let host = kernels::here(&bins)?;
    let stock = kernels::run(root, &bins)?;
    Ok(kernels::Matrix { host, stock })
}

/// `cargo run` adds its own folders to LD_LIBRARY_PATH; a traced command
/// would then make extra library lookups that are cargo's doing, not the
/// user's. Give zcopy the caller's library path back.
fn without_cargo_library_path(cmd: &mut Command, root: &Path) {
    let Some(value) = env::var_os("LD_LIBRARY_PATH") else {
        return;
    };
    let kept: Vec<PathBuf> = env::split_paths(&value)
        .filter(|p| !p.starts_with(root.join("target")) && !p.components().any(|c| c.as_os_str() == ".rustup"))
        .collect();
    match env::join_paths(&kept) {
        Ok(joined) if !kept.is_empty() => cmd.env("LD_LIBRARY_PATH", joined),
        _ => cmd.env_remove("LD_LIBRARY_PATH"),
    };
}

/// The default comparison, with its report folder in `folder` (relative to
/// the root, so the report's index names the command as typed).
fn demo(root: &Path, folder: &str) -> anyhow::Result<()> {
    let reports = root.join(folder);
    if reports.exists() {
        std::fs::remove_dir_all(&reports).with_context(|| format!("clearing {}", reports.display()))?;
    }
    let mut cmd = Command::new(root.join("target/release/zcopy"));
    cmd.current_dir(root)
        .arg("bench")
        .arg("--report")
        .arg(folder)
        .arg("--export-csv")
        .arg(format!("{folder}/bench.csv"))
        .arg("--export-markdown")
        .arg(format!("{folder}/bench.md"));
    without_cargo_library_path(&mut cmd, root);
    check(cmd, "main job: zcopy bench, every strategy over TCP loopback (about a minute)")?;
    step(&format!("report written to {folder}/ (open {folder}/index.html)"));
    Ok(())
}
