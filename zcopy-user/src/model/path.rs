//! One step of the data's path through the kernel.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub what: String,
    pub bytes: Option<u64>,
    /// "measured", "inferred" or "reported" (by the kernel to the program).
    pub how: &'static str,
    pub evidence: String,
}
