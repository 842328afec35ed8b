//! Every result type, and nothing that computes or prints: producers (`bpf`,
//! `trace`, `bench`) write these, `analysis` derives figures over them, and
//! consumers (`output`, `export`, `report`) read them. Nothing here imports
//! from those modules, so the arrows point one way:
//!
//! ```text
//! kernel maps --bpf--> raw --analysis--> trace::Summary / bench::BenchReport --> output, export, report
//! ```

pub mod bench;
pub mod claims;
pub mod copies;
pub mod coverage;
pub mod flows;
pub mod ledger;
pub mod path;
pub mod profile;
pub mod provenance;
pub mod raw;
pub mod size;
pub mod stats;
pub mod strategy;
pub mod trace;
pub mod warning;

pub use bench::{BenchOptions, BenchReport, CacheState, CaseResult, RunResult, SideRun, SideSummary, Status};
pub use claims::{Cell, Claim, Comparison, Figure, Verdict};
pub use copies::{CopyFlow, CopyKind, Endpoint};
pub use coverage::{CopyProbes, Coverage};
pub use flows::{Flow, Saving, StrategyShare};
pub use ledger::{CopiedAnyway, CopiedWhy, ZeroCopyLedger};
pub use path::Step;
pub use provenance::How;
pub use raw::{RawCounters, RawProcess};
pub use stats::Stats;
pub use strategy::{SinkKind, Strategy, ZeroCopyStats};
pub use trace::{
    DataMovement, DeviceKind, DeviceTransmit, EndedBy, Faults, KernelAccounting, NetTransmit, ProcessSummary, Sample,
    Summary, Switches, SyscallFigures, Target, TargetMode, TracerCost,
};
pub use warning::Warning;

/// The name of the saved results inside a report folder.
pub const RESULTS_FILE: &str = "results.json";

/// Results a report is drawn from.
#[derive(Debug, Clone)]
pub enum Results {
    Bench(Box<BenchReport>),
    Trace(Box<Summary>),
}
