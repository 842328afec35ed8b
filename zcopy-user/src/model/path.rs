//! One step of the data's path through the kernel.

use serde::Serialize;

use super::How;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub what: String,
    pub bytes: Option<u64>,
    pub how: How,
    pub evidence: String,
}
