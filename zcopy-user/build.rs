//! Builds the eBPF programs (../zcopy-ebpf) and hands the object to the
//! binary, which embeds it. A change to the eBPF or shared crates rebuilds it.

#[path = "../xtask/src/bpf_toolchain.rs"]
#[allow(dead_code, reason = "shared with xtask, which uses more of it")]
mod bpf_toolchain;

use std::{env, fs, path::PathBuf};

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

    let toolchain = bpf_toolchain::detect()?;
    let tools_bin = bpf_toolchain::tools_dir(&workspace).join("bin");
    if bpf_toolchain::find_bpf_linker(std::slice::from_ref(&tools_bin)).is_none() {
        return Err("bpf-linker was not found in .tools/bin or on PATH: run `cargo xtask setup` \
                    (or `cargo install bpf-linker`)"
            .into());
    }
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
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    fs::copy(&object, out_dir.join("zcopy.bpf.o")).map_err(|e| format!("copying {}: {e}", object.display()))?;
    Ok(())
}
