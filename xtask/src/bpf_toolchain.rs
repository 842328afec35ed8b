//! Which compiler builds the eBPF crate, and how.
//!
//! Shared by `xtask` (which prints the choice) and `zcopy-user/build.rs`
//! (which runs the build), through `#[path]`, so the decision has one home.
//! It only uses `std`.
//!
//! Two toolchains can build Rust for `bpfel-unknown-none`:
//! - a rustc with a precompiled `core` for the BPF target, such as Debian's
//!   `rustc-web` + `libstd-rust-web-dev-bpf` (`/usr/bin/rustc`). aya-ebpf uses
//!   `asm_experimental_arch`, so the build sets `RUSTC_BOOTSTRAP=1`;
//! - a rustup nightly with the `rust-src` component, with `-Z build-std=core`
//!   (the usual aya set-up).
//!
//! Both need `bpf-linker` on `PATH`.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// Environment variable that forces a choice: `system` or `nightly`.
pub const FORCE_ENV: &str = "ZCOPY_BPF_TOOLCHAIN";

/// Where the system rustc with a precompiled BPF core is looked for.
pub const SYSTEM_RUSTC: &str = "/usr/bin/rustc";

/// The BPF target the programs are built for.
pub const BPF_TARGET: &str = "bpfel-unknown-none";

/// A toolchain able to build the eBPF crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BpfToolchain {
    /// A rustc whose sysroot has a precompiled `core` for the BPF target.
    System { rustc: PathBuf },
    /// `rustup run nightly` with `rust-src`, building `core` itself.
    RustupNightly,
}

impl std::fmt::Display for BpfToolchain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System { rustc } => {
                write!(f, "{} with a precompiled core for {BPF_TARGET}", rustc.display())
            }
            Self::RustupNightly => write!(f, "rustup nightly with rust-src (-Z build-std=core)"),
        }
    }
}

/// What was found on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The system rustc, if its sysroot has a `core` for the BPF target.
    pub system_rustc_with_bpf_core: Option<PathBuf>,
    /// Whether a rustup nightly with `rust-src` is installed.
    pub rustup_nightly_with_rust_src: bool,
}

/// The packages and commands that provide a toolchain, for error messages.
pub const INSTALL_HINT: &str = "install one of: (a) Debian/Ubuntu: `apt-get install rustc-web cargo-web \
     libstd-rust-web-dev-bpf` (or run `cargo xtask setup` as root), or (b) `rustup toolchain \
     install nightly --component rust-src`";

/// Picks a toolchain. `forced` is the value of [`FORCE_ENV`], if set.
/// The precompiled core is preferred: it needs no `build-std` and builds faster.
pub fn choose(found: &Found, forced: Option<&str>) -> Result<BpfToolchain, String> {
    let system = found.system_rustc_with_bpf_core.clone().map(|rustc| BpfToolchain::System { rustc });
    let nightly = found.rustup_nightly_with_rust_src.then_some(BpfToolchain::RustupNightly);
    match forced {
        Some("system") => system.ok_or_else(|| {
            format!("{FORCE_ENV}=system, but {SYSTEM_RUSTC} has no core for {BPF_TARGET}: {INSTALL_HINT}")
        }),
        Some("nightly") => nightly.ok_or_else(|| {
            format!("{FORCE_ENV}=nightly, but no rustup nightly with rust-src is installed: {INSTALL_HINT}")
        }),
        Some(other) => Err(format!("{FORCE_ENV}={other} is not a toolchain: use `system` or `nightly`")),
        None => system.or(nightly).ok_or_else(|| format!("no compiler for {BPF_TARGET} was found: {INSTALL_HINT}")),
    }
}

/// Looks at this machine. The rustup query only runs when the system
/// toolchain is missing or `want_nightly` is set (it costs a process).
pub fn find(want_nightly: bool) -> Found {
    let system_rustc_with_bpf_core = Some(PathBuf::from(SYSTEM_RUSTC)).filter(|rustc| has_bpf_core(rustc));
    let rustup_nightly_with_rust_src =
        (want_nightly || system_rustc_with_bpf_core.is_none()) && rustup_nightly_has_rust_src();
    Found { system_rustc_with_bpf_core, rustup_nightly_with_rust_src }
}

/// Finds and picks a toolchain, honouring [`FORCE_ENV`].
pub fn detect() -> Result<BpfToolchain, String> {
    let forced = env::var(FORCE_ENV).ok();
    let found = find(forced.as_deref() == Some("nightly"));
    choose(&found, forced.as_deref())
}

fn has_bpf_core(rustc: &Path) -> bool {
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    if !out.status.success() {
        return false;
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let lib = sysroot.join("lib/rustlib").join(BPF_TARGET).join("lib");
    std::fs::read_dir(lib).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
    })
}

fn rustup_nightly_has_rust_src() -> bool {
    Command::new("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]).output().is_ok_and(
        |out| out.status.success() && String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with("rust-src")),
    )
}

/// The command that builds the eBPF crate in `ebpf_dir` (release profile)
/// into `target_dir`. `cargo` is the cargo binary to use for the system
/// toolchain; `extra_path` is prepended to `PATH` (where bpf-linker lives).
pub fn build_command(
    toolchain: &BpfToolchain,
    cargo: &Path,
    ebpf_dir: &Path,
    target_dir: &Path,
    extra_path: &[PathBuf],
) -> Command {
    let mut cmd = match toolchain {
        BpfToolchain::System { rustc } => {
            let mut cmd = Command::new(cargo);
            cmd.env("RUSTC", rustc).env("RUSTC_BOOTSTRAP", "1");
            cmd.args(["build", "--release"]);
            cmd
        }
        BpfToolchain::RustupNightly => {
            let mut cmd = Command::new("rustup");
            cmd.env_remove("RUSTC").env_remove("RUSTUP_TOOLCHAIN");
            cmd.args(["run", "nightly", "cargo", "build", "--release", "-Z", "build-std=core"]);
            cmd
        }
    };
    // The outer cargo's settings are for the host, not for BPF.
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(ebpf_dir).arg("--target").arg(BPF_TARGET).arg("--target-dir").arg(target_dir);
    let mut path: Vec<PathBuf> = extra_path.to_vec();
    path.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    if let Ok(joined) = env::join_paths(path) {
        cmd.env("PATH", joined);
    }
    cmd
}

/// Where the built object lands.
pub fn object_path(target_dir: &Path) -> PathBuf {
    target_dir.join(BPF_TARGET).join("release").join("zcopy")
}

/// The project-local tools folder (bpf-linker), relative to the workspace.
pub fn tools_dir(workspace: &Path) -> PathBuf {
    workspace.join(".tools")
}

/// Whether a usable `bpf-linker` is in `dirs` or on `PATH`.
pub fn find_bpf_linker(dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    dirs.iter()
        .cloned()
        .chain(env::split_paths(&path))
        .map(|dir| dir.join("bpf-linker"))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(system: bool, nightly: bool) -> Found {
        Found {
            system_rustc_with_bpf_core: system.then(|| PathBuf::from(SYSTEM_RUSTC)),
            rustup_nightly_with_rust_src: nightly,
        }
    }

    #[test]
    fn prefers_the_precompiled_core() {
        let tc = choose(&found(true, true), None).unwrap();
        assert!(matches!(tc, BpfToolchain::System { .. }));
    }

    #[test]
    fn falls_back_to_nightly() {
        assert_eq!(choose(&found(false, true), None).unwrap(), BpfToolchain::RustupNightly);
    }

    #[test]
    fn forced_choice_is_honoured_or_explained() {
        assert_eq!(choose(&found(true, true), Some("nightly")).unwrap(), BpfToolchain::RustupNightly);
        let err = choose(&found(false, true), Some("system")).unwrap_err();
        assert!(err.contains("apt-get install"), "{err}");
        assert!(choose(&found(true, true), Some("gcc")).unwrap_err().contains("`system` or `nightly`"));
    }

    #[test]
    fn nothing_found_says_what_to_install() {
        let err = choose(&found(false, false), None).unwrap_err();
        assert!(err.contains("libstd-rust-web-dev-bpf") && err.contains("rust-src"), "{err}");
    }
}
