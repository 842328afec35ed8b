//! The zero-copy ledger: bytes a process asked to move without a CPU copy,
//! and what became of them.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use super::How;

/// Why the kernel copied bytes that were asked to go without a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopiedWhy {
    /// This host's own stack received them (loopback, a veth into a
    /// container): its receive path copies pinned user pages before delivery,
    /// so the receiver never holds the sender's memory. A retransmitted byte
    /// is copied again.
    ReceivedLocally,
    /// A device without scatter-gather needed them in one buffer.
    NoScatterGather,
    /// The sender's own completion reports say the kernel copied them.
    CompletionReport,
}

impl CopiedWhy {
    pub fn describe(self) -> &'static str {
        match self {
            Self::ReceivedLocally => {
                "received by this host's own stack (loopback, or a veth into a container): its receive path copies the pinned pages before delivery"
            }
            Self::NoScatterGather => "sent on a device without scatter-gather, which needs them copied into one buffer",
            Self::CompletionReport => "the sender's completion reports say the kernel copied them",
        }
    }
}

impl fmt::Display for CopiedWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Bytes copied anyway for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedAnyway {
    pub why: CopiedWhy,
    pub bytes: u64,
    pub how: How,
}

/// Bytes asked to go without a CPU copy (MSG_ZEROCOPY, io_uring SEND_ZC,
/// sendfile, splice, tee, vmsplice), and what became of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroCopyLedger {
    /// Bytes asked, per syscall or io_uring operation (measured calls' bytes).
    pub asked: BTreeMap<String, u64>,
    pub asked_bytes: u64,
    /// Bytes the kernel copied anyway, by reason; `null` where the probes
    /// that see it did not attach.
    pub copied_anyway_bytes: Option<u64>,
    pub copied_anyway: Vec<CopiedAnyway>,
    /// Asked less copied anyway: no copy of them was seen (inferred).
    pub without_copy_bytes: Option<u64>,
}

impl ZeroCopyLedger {
    /// One line for the terminal.
    pub fn line(&self) -> String {
        let copied = self.copied_anyway_bytes.map_or_else(|| "not measured".to_owned(), |b| format!("{b} bytes"));
        let without = self.without_copy_bytes.map_or_else(|| "not known".to_owned(), |b| format!("{b} bytes"));
        format!("asked {} bytes; copied anyway {copied}; without a copy {without}", self.asked_bytes)
    }
}
