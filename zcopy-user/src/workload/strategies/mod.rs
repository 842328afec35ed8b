//! One module per strategy. Each moves exactly `size` bytes of `src` (open,
//! positioned at 0) to `sink` in chunks of `chunk` bytes, making the calls
//! its design implies and no others.

mod copy_file_range;
mod direct_read;
mod io_uring;
mod mmap_scenarios;
mod mmap_write;
mod msg_zerocopy;
mod read_write;
mod sendfile;
mod splice;

use std::{fs::File, io, os::fd::BorrowedFd};

use serde::{Deserialize, Serialize};

use crate::model::{SinkKind, Strategy, ZeroCopyStats};

/// What a strategy reports about its own transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendStats {
    pub bytes: u64,
    pub zerocopy: Option<ZeroCopyStats>,
}

/// Everything a strategy needs.
pub struct Transfer<'a> {
    pub src: &'a File,
    pub sink: BorrowedFd<'a>,
    pub sink_kind: SinkKind,
    pub size: u64,
    pub chunk: usize,
}

impl Transfer<'_> {
    /// The length of the chunk starting at `offset`.
    fn chunk_at(&self, offset: u64) -> usize {
        usize::try_from((self.size - offset).min(self.chunk as u64)).unwrap_or(self.chunk)
    }
}

/// Runs `strategy`.
pub fn run(strategy: Strategy, t: &Transfer<'_>) -> io::Result<SendStats> {
    match strategy {
        Strategy::ReadWrite => read_write::run(t),
        Strategy::MmapWrite => mmap_write::run(t, false),
        Strategy::MmapPopulateWrite => mmap_write::run(t, true),
        Strategy::Sendfile => sendfile::run(t),
        Strategy::Splice => splice::run(t),
        Strategy::MsgZerocopy => msg_zerocopy::run(t),
        Strategy::IoUring => io_uring::run(t, false),
        Strategy::IoUringSendZc => io_uring::run(t, true),
        Strategy::CopyFileRange => copy_file_range::run(t),
        Strategy::DirectRead => direct_read::run(t),
        Strategy::MmapTouch => mmap_scenarios::run(t, mmap_scenarios::Mode::Touch { populate: false }),
        Strategy::MmapPopulateTouch => mmap_scenarios::run(t, mmap_scenarios::Mode::Touch { populate: true }),
        Strategy::MmapSharedWrite => mmap_scenarios::run(t, mmap_scenarios::Mode::Write { shared: true }),
        Strategy::MmapPrivateWrite => mmap_scenarios::run(t, mmap_scenarios::Mode::Write { shared: false }),
        Strategy::SmallFilesRead => mmap_scenarios::small_files(t, false),
        Strategy::SmallFilesMmap => mmap_scenarios::small_files(t, true),
    }
}

/// A short read or transfer where the file still had bytes.
fn unexpected_eof(offset: u64, size: u64) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("source ended at {offset} of {size} bytes"))
}
