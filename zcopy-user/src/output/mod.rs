//! Tables for the terminal (written to stderr).

pub mod bench;
pub mod trace;
