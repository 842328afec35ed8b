//! How a figure was obtained. Every number zcopy prints carries one of these,
//! so a figure a probe counted can never be labelled as reported or inferred.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// A probe counted it (a tracepoint, perf event, fexit/kprobe, or a syscall's own result).
    Measured,
    /// A rule applied to measured figures (the rule is named beside it).
    Inferred,
    /// The kernel reported it to the traced program (MSG_ZEROCOPY completions, SEND_ZC notifications).
    Reported,
    /// Estimated from periodic samples (cpu-clock): shown with its sample
    /// count and a confidence interval, never as exact.
    Sampled,
    /// No source was available here; the reason is named beside it.
    NotAvailable,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Inferred => "inferred",
            Self::Reported => "reported",
            Self::Sampled => "sampled",
            Self::NotAvailable => "not available",
        }
    }
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
