//! Tables for the terminal (written to stderr).

pub mod bench;
pub mod claims;
pub mod explain;
pub mod interval;
pub mod profile;
pub mod trace;
