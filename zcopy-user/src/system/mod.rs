//! What zcopy needs from the running system: capabilities, mounts, /proc.

pub mod caps;
pub mod kallsyms;
pub mod machine;
pub mod mounts;
pub mod netdev;
pub mod procfs;
pub mod signals;

/// `s` as a C string for a syscall; a NUL byte inside is an error.
pub fn c_string(s: &std::ffi::OsStr) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt as _;
    std::ffi::CString::new(s.as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "argument contains a NUL byte"))
}
