//! The literature's claims compared with measured figures.

use serde::{Deserialize, Serialize};

/// One row of the classic table, per chunk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub row: &'static str,
    pub syscalls: f64,
    pub mode_transitions: f64,
    pub cpu_copies: f64,
    pub dma_copies: f64,
}

/// A measured figure and how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: f64,
    /// "measured" or "inferred".
    pub how: String,
    /// The probe or the rule.
    pub from: String,
}

/// One cell: claimed, measured, verdict, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub what: String,
    pub claimed: f64,
    pub measured: Figure,
    /// "holds" or "differs".
    pub verdict: String,
    pub reason: String,
}

/// The comparison of one claim row with one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub row: String,
    pub cells: Vec<Cell>,
}
