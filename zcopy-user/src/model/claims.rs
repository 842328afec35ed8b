//! The literature's claims compared with measured figures.

use serde::{Deserialize, Serialize};

use super::How;

/// One row of the classic table, per chunk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub row: &'static str,
    pub syscalls: f64,
    pub mode_transitions: f64,
    pub cpu_copies: f64,
    pub dma_copies: f64,
}

/// A figure and how it was obtained; `value` is `null` when it is not available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: Option<f64>,
    pub how: How,
    /// The probe, the rule or report, or why it is not available.
    pub from: String,
}

impl Figure {
    pub fn measured(value: f64, from: impl Into<String>) -> Self {
        Self { value: Some(value), how: How::Measured, from: from.into() }
    }

    pub fn inferred(value: f64, from: impl Into<String>) -> Self {
        Self { value: Some(value), how: How::Inferred, from: from.into() }
    }

    pub fn reported(value: f64, from: impl Into<String>) -> Self {
        Self { value: Some(value), how: How::Reported, from: from.into() }
    }

    /// No source for it here: `why` names the probe that did not attach.
    pub fn sampled(value: f64, from: impl Into<String>) -> Self {
        Self { value: Some(value), how: How::Sampled, from: from.into() }
    }

    pub fn not_available(why: impl Into<String>) -> Self {
        Self { value: None, how: How::NotAvailable, from: why.into() }
    }
}

/// Whether a claim held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within 5% of the claim.
    Holds,
    Differs,
    /// The figure is not available here: no verdict.
    Unknown,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::Differs => "differs",
            Self::Unknown => "unknown",
        }
    }
}

/// One cell: claimed, measured, verdict, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub what: String,
    pub claimed: f64,
    pub measured: Figure,
    pub verdict: Verdict,
    pub reason: String,
}

/// The comparison of one claim row with one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub row: String,
    pub cells: Vec<Cell>,
}
