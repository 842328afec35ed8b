//! What zcopy can attach to the kernel and where each figure comes from:
//! one table, from which the attach plan (`bpf`), `zcopy doctor`'s plan and
//! every figure's provenance derive.

pub mod features;
pub mod hooks;
pub mod plan;
pub mod sources;
pub mod table;
