//! The transfer strategies, the sinks they can write to, and their names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where the sender's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    /// TCP over 127.0.0.1, to a receiver process.
    Tcp,
    /// A Unix stream socket (abstract name), to a receiver process.
    Unix,
    /// A pipe, to a receiver process.
    Pipe,
    /// A regular file next to the source.
    File,
    /// /dev/null.
    Null,
}

impl SinkKind {
    pub const ALL: [Self; 5] = [Self::Tcp, Self::Unix, Self::Pipe, Self::File, Self::Null];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Unix => "unix",
            Self::Pipe => "pipe",
            Self::File => "file",
            Self::Null => "null",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| format!("unknown sink `{text}`: use one of {}", Self::ALL.map(Self::name).join(", ")))
    }

    /// Whether a separate receiver process reads what the sender sends.
    pub fn has_receiver(self) -> bool {
        matches!(self, Self::Tcp | Self::Unix | Self::Pipe)
    }

    pub fn is_socket(self) -> bool {
        matches!(self, Self::Tcp | Self::Unix)
    }
}

impl fmt::Display for SinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A way of moving a file's bytes to a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    ReadWrite,
    MmapWrite,
    MmapPopulateWrite,
    Sendfile,
    Splice,
    MsgZerocopy,
    IoUring,
    IoUringSendZc,
    CopyFileRange,
    DirectRead,
    MmapTouch,
    MmapPopulateTouch,
    MmapSharedWrite,
    MmapPrivateWrite,
    SmallFilesRead,
    SmallFilesMmap,
}

impl Strategy {
    /// The mmap scenarios: they test the literature's mmap claims and move
    /// nothing to a sink (`--sink null`).
    pub const SCENARIOS: [Self; 6] = [
        Self::MmapTouch,
        Self::MmapPopulateTouch,
        Self::MmapSharedWrite,
        Self::MmapPrivateWrite,
        Self::SmallFilesRead,
        Self::SmallFilesMmap,
    ];

    /// Every transfer strategy (what `--strategies all` runs).
    pub const ALL: [Self; 10] = [
        Self::ReadWrite,
        Self::MmapWrite,
        Self::MmapPopulateWrite,
        Self::Sendfile,
        Self::Splice,
        Self::MsgZerocopy,
        Self::IoUring,
        Self::IoUringSendZc,
        Self::CopyFileRange,
        Self::DirectRead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ReadWrite => "read-write",
            Self::MmapWrite => "mmap-write",
            Self::MmapPopulateWrite => "mmap-populate-write",
            Self::Sendfile => "sendfile",
            Self::Splice => "splice",
            Self::MsgZerocopy => "msg-zerocopy",
            Self::IoUring => "io-uring",
            Self::IoUringSendZc => "io-uring-send-zc",
            Self::CopyFileRange => "copy-file-range",
            Self::DirectRead => "direct-read",
            Self::MmapTouch => "mmap-touch",
            Self::MmapPopulateTouch => "mmap-populate-touch",
            Self::MmapSharedWrite => "mmap-shared-write",
            Self::MmapPrivateWrite => "mmap-private-write",
            Self::SmallFilesRead => "small-files-read",
            Self::SmallFilesMmap => "small-files-mmap",
        }
    }

    /// One line: what the sender does per chunk.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ReadWrite => "read() into a user buffer, write() it to the sink",
            Self::MmapWrite => "mmap() the file (MAP_SHARED, read-only) once, write() from the mapping",
            Self::MmapPopulateWrite => "as mmap-write, with MAP_POPULATE (pages mapped up front)",
            Self::Sendfile => "sendfile() from the file to the sink",
            Self::Splice => "splice() file -> pipe, then pipe -> sink",
            Self::MsgZerocopy => "send(MSG_ZEROCOPY) from a mapping of the file; completions read from the error queue",
            Self::IoUring => "io_uring: a read linked to a send/write per chunk",
            Self::IoUringSendZc => "io_uring: a read linked to a zero-copy send (SEND_ZC) per chunk",
            Self::CopyFileRange => "copy_file_range() from the file to another file",
            Self::DirectRead => "read() with O_DIRECT (bypassing the page cache) into an aligned buffer, write() it",
            Self::MmapTouch => "scenario: mmap() the file (MAP_SHARED), read one byte of every page, munmap()",
            Self::MmapPopulateTouch => "scenario: as mmap-touch, with MAP_POPULATE",
            Self::MmapSharedWrite => {
                "scenario: mmap() read-write MAP_SHARED, rewrite one byte of every page with its own value, msync(MS_SYNC)"
            }
            Self::MmapPrivateWrite => {
                "scenario: mmap() read-write MAP_PRIVATE, rewrite one byte of every page, msync(MS_SYNC)"
            }
            Self::SmallFilesRead => {
                "scenario: each chunk is a small file read whole with one pread() (open/close left out)"
            }
            Self::SmallFilesMmap => {
                "scenario: each chunk is a small file mapped with mmap(), every page touched, munmap() (open/close left out)"
            }
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().chain(Self::SCENARIOS).find(|s| s.name() == text).ok_or_else(|| {
            format!(
                "unknown strategy `{text}`: use one of {}, or the mmap scenarios {} (with --sink null)",
                Self::ALL.map(Self::name).join(", "),
                Self::SCENARIOS.map(Self::name).join(", ")
            )
        })
    }

    pub fn is_scenario(self) -> bool {
        Self::SCENARIOS.contains(&self)
    }

    /// Why this strategy cannot write to `sink`, if it cannot.
    pub fn unsupported_sink(self, sink: SinkKind) -> Option<String> {
        let only = |allowed: &[SinkKind], why: &str| {
            (!allowed.contains(&sink)).then(|| {
                format!(
                    "{} needs a {} sink ({why})",
                    self.name(),
                    allowed.iter().map(|s| s.name()).collect::<Vec<_>>().join(" or ")
                )
            })
        };
        if self.is_scenario() {
            return only(&[SinkKind::Null], "an mmap scenario moves nothing to a sink");
        }
        match self {
            Self::MsgZerocopy => only(&[SinkKind::Tcp], "MSG_ZEROCOPY is implemented for TCP and UDP sockets"),
            Self::IoUringSendZc => only(&[SinkKind::Tcp], "SEND_ZC needs a socket that supports zero-copy sends"),
            Self::CopyFileRange => only(&[SinkKind::File], "copy_file_range copies between files"),
            _ => None,
        }
    }

    /// Whether the strategy reads through the page cache (cache state matters).
    pub fn uses_page_cache(self) -> bool {
        self != Self::DirectRead
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_valid_ones() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::parse(s.name()), Ok(s));
        }
        let err = Strategy::parse("zerocopy").unwrap_err();
        assert!(err.contains("unknown strategy `zerocopy`") && err.contains("sendfile"), "{err}");
        assert!(SinkKind::parse("udp").unwrap_err().contains("tcp, unix, pipe, file, null"));
    }

    #[test]
    fn sink_support_is_explained() {
        assert!(Strategy::Sendfile.unsupported_sink(SinkKind::Tcp).is_none());
        let why = Strategy::CopyFileRange.unsupported_sink(SinkKind::Tcp).unwrap();
        assert!(why.contains("needs a file sink"), "{why}");
        assert!(Strategy::MsgZerocopy.unsupported_sink(SinkKind::Unix).is_some());
    }
}
/// Zero-copy send accounting, as the kernel reported it: each send's
/// completion (MSG_ZEROCOPY error-queue notification, io_uring SEND_ZC
/// notification) says whether the kernel sent the pinned pages or had to
/// copy them after all (SO_EE_CODE_ZEROCOPY_COPIED /
/// IORING_NOTIF_USAGE_ZC_COPIED). Bytes are the sends' own byte counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroCopyStats {
    /// Zero-copy sends submitted.
    pub sends: u64,
    /// Sends whose completion (notification) arrived.
    pub completions: u64,
    /// Of those, sends the kernel reports it had to copy anyway.
    pub copied: u64,
    /// Bytes the zero-copy sends took.
    #[serde(default)]
    pub bytes: u64,
    /// Bytes of the completed sends.
    #[serde(default)]
    pub completed_bytes: u64,
    /// Bytes of the sends reported copied: a CPU copy of the pinned pages
    /// the kernel made after all (for MSG_ZEROCOPY, the flag of a coalesced
    /// range of sends is the flag of its first completion).
    #[serde(default)]
    pub copied_bytes: u64,
    /// Bytes the sending TCP socket retransmitted (TCP_INFO
    /// tcpi_bytes_retrans): a retransmitted zero-copy byte the kernel
    /// copies again, so a measured copy can exceed `copied_bytes` by this.
    #[serde(default)]
    pub retransmitted_bytes: u64,
}

impl ZeroCopyStats {
    /// Where these figures come from.
    pub const SOURCE: &str = "the kernel's completion reports: SO_EE_CODE_ZEROCOPY_COPIED on MSG_ZEROCOPY, IORING_NOTIF_USAGE_ZC_COPIED on SEND_ZC";

    /// The sum of two runs' (or two workers') accounting.
    pub fn plus(self, o: Self) -> Self {
        Self {
            sends: self.sends.saturating_add(o.sends),
            completions: self.completions.saturating_add(o.completions),
            copied: self.copied.saturating_add(o.copied),
            bytes: self.bytes.saturating_add(o.bytes),
            completed_bytes: self.completed_bytes.saturating_add(o.completed_bytes),
            copied_bytes: self.copied_bytes.saturating_add(o.copied_bytes),
            retransmitted_bytes: self.retransmitted_bytes.saturating_add(o.retransmitted_bytes),
        }
    }

    /// Bytes completed without the copied flag: really sent zero-copy.
    pub fn zero_copy_bytes(&self) -> u64 {
        self.completed_bytes.saturating_sub(self.copied_bytes)
    }
}

impl fmt::Display for ZeroCopyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} zero-copy sends ({} bytes), {} completed, {} of them copied by the kernel anyway \
             ({} bytes: a CPU copy of the pinned pages; {} bytes went without a copy)",
            self.sends,
            self.bytes,
            self.completions,
            self.copied,
            self.copied_bytes,
            self.zero_copy_bytes()
        )
    }
}
