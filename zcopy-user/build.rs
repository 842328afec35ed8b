//! Builds the eBPF programs (../zcopy-ebpf) and hands the object to the
//! binary, which embeds it. A change to the eBPF or shared crates rebuilds it.
//!
//! Gated as aya gates its integration programs: without a BPF toolchain (no
//! bpf-linker), the object is left empty with a warning, so the library and
//! its unprivileged unit tests still build (`cargo test -p zcopy-user --lib`);
//! the binary then says how to get the programs. ZCOPY_REQUIRE_EBPF=1 makes
//! a missing toolchain a build error instead (`cargo xtask` sets it).

#[path = "../xtask/src/bpf_toolchain.rs"]
#[allow(dead_code, reason = "shared with xtask, which uses more of it")]
mod bpf_toolchain;

use std::{env, fs, path::PathBuf};

/// Set to 1 to make a missing BPF toolchain a build error.
const REQUIRE_ENV: &str = "ZCOPY_REQUIRE_EBPF";

fn main() {
    if let Err(err) = run() {
        // A build script reports failure by exiting non-zero with the message.
        eprintln!("error: building the eBPF programs failed: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let workspace = manifest.parent().ok_or("zcopy-user has no parent folder")?.to_path_buf();
    let ebpf_dir = workspace.join("zcopy-ebpf");
    for watched in ["zcopy-ebpf/src", "zcopy-ebpf/Cargo.toml", "zcopy-ebpf/.cargo", "zcopy-common/src"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed={}", bpf_toolchain::FORCE_ENV);
    println!("cargo:rerun-if-env-changed={REQUIRE_ENV}");
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let required = env::var_os(REQUIRE_ENV).is_some_and(|v| v == "1");

    let tools_bin = bpf_toolchain::tools_dir(&workspace).join("bin");
    let missing = match bpf_toolchain::detect() {
        Err(e) => Some(e),
        Ok(_) if bpf_toolchain::find_bpf_linker(std::slice::from_ref(&tools_bin)).is_none() => Some(
            "bpf-linker was not found in .tools/bin or on PATH: run `cargo xtask setup` (or `cargo install bpf-linker`)"
                .into(),
        ),
        Ok(_) => None,
    };
    if let Some(why) = missing {
        if required {
            return Err(why);
        }
        println!("cargo:warning=zcopy is built without its eBPF programs: {why}");
        fs::write(out_dir.join("zcopy.bpf.o"), b"").map_err(|e| format!("writing the empty object: {e}"))?;
        return Ok(());
    }
    let toolchain = bpf_toolchain::detect()?;
    let target_dir = workspace.join("target").join("bpf");
    let cargo = PathBuf::from(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let mut cmd = bpf_toolchain::build_command(&toolchain, &cargo, &ebpf_dir, &target_dir, &[tools_bin]);
    let out = cmd.output().map_err(|e| format!("could not run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed with {} using {toolchain}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let object = bpf_toolchain::object_path(&target_dir);
    fs::copy(&object, out_dir.join("zcopy.bpf.o")).map_err(|e| format!("copying {}: {e}", object.display()))?;
    Ok(())
}
