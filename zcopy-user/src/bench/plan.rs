//! What a comparison runs: validated options, and the list of cases.

use crate::model::{
    BenchOptions, CacheState, SinkKind, Strategy,
    size::{MAX_CALL_BYTES, format_size},
};

/// Head room the work folder needs besides the files.
const SPARE_BYTES: u64 = 16 << 20;

impl BenchOptions {
    /// Disk space the comparison needs: the source, a copy of it with a file
    /// sink, and some spare; an error when that does not fit in 64 bits.
    pub fn disk_needed(&self) -> Result<u64, String> {
        let copies = if self.sink == SinkKind::File { 2 } else { 1 };
        self.size
            .checked_mul(copies)
            .and_then(|b| b.checked_add(SPARE_BYTES))
            .ok_or_else(|| format!("--size {} is more than any disk holds: give a size such as 512M or 4G", self.size))
    }

    /// Runs per case, warmup included; an error when they do not fit.
    pub fn runs_per_case(&self) -> Result<u32, String> {
        self.runs.checked_add(self.warmup).ok_or_else(|| {
            format!("--runs {} with --warmup {} is more runs than can be counted: give fewer", self.runs, self.warmup)
        })
    }

    /// Checks the combination; the message names the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.size == 0 {
            return Err("--size must be more than 0 bytes".into());
        }
        for &chunk in &self.chunks {
            if chunk == 0 {
                return Err("--chunk 0 moves nothing: give a chunk of at least 1 byte (e.g. 64K)".into());
            }
            if chunk > self.size {
                return Err(format!(
                    "--chunk {} is larger than --size {}: use a chunk of at most the file size",
                    format_size(chunk),
                    format_size(self.size)
                ));
            }
            if chunk > MAX_CALL_BYTES {
                return Err(format!(
                    "--chunk {} is more than Linux moves in one call ({MAX_CALL_BYTES} bytes, 2G - 4K): give a chunk of at most 2G - 4K",
                    format_size(chunk)
                ));
            }
        }
        if self.runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        self.runs_per_case()?;
        self.disk_needed()?;
        if self.strategies.is_empty() {
            return Err("no strategies to run".into());
        }
        Ok(())
    }

    /// Every case, in order; a case's `skip` says why it cannot run here.
    pub fn cases(&self) -> Vec<Case> {
        let mut cases = Vec::new();
        for &strategy in &self.strategies {
            for &chunk in &self.chunks {
                for &cache in &self.caches {
                    let skip = strategy.unsupported_sink(self.sink).or_else(|| {
                        (strategy == Strategy::DirectRead && chunk % 4096 != 0).then(|| {
                            "direct-read needs a chunk that is a multiple of 4K (O_DIRECT alignment)".to_owned()
                        })
                    });
                    cases.push(Case { strategy, sink: self.sink, chunk, cache, skip });
                }
            }
        }
        cases
    }
}

/// One strategy x chunk x cache combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub strategy: Strategy,
    pub sink: SinkKind,
    pub chunk: u64,
    pub cache: CacheState,
    pub skip: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BenchOptions {
        BenchOptions {
            strategies: vec![Strategy::Sendfile, Strategy::CopyFileRange, Strategy::DirectRead],
            sink: SinkKind::Tcp,
            size: 64 << 20,
            chunks: vec![64 << 10],
            caches: vec![CacheState::Warm],
            runs: 3,
            warmup: 1,
            untraced: true,
            verify: false,
            dir: "/tmp".into(),
            sample_hz: 0,
        }
    }

    #[test]
    fn bad_chunks_name_the_fix() {
        let mut o = options();
        o.chunks = vec![0];
        assert!(o.validate().unwrap_err().contains("--chunk 0"));
        o.chunks = vec![128 << 20];
        assert!(o.validate().unwrap_err().contains("larger than --size 64M"));
        o.chunks = vec![4096];
        o.runs = 0;
        assert!(o.validate().is_err());
    }

    #[test]
    fn numbers_that_overflow_are_refused() {
        let mut o = options();
        o.size = u64::MAX - (8 << 20);
        assert!(o.validate().unwrap_err().contains("more than any disk holds"));
        o.size = 1 << 63;
        o.sink = SinkKind::File;
        assert!(o.disk_needed().is_err(), "two copies of 2^63 bytes");
        o = options();
        (o.runs, o.warmup) = (u32::MAX, 1);
        assert!(o.validate().unwrap_err().contains("more runs than can be counted"));
        o = options();
        o.size = 4 << 30;
        o.chunks = vec![MAX_CALL_BYTES + 1];
        assert!(o.validate().unwrap_err().contains("2G - 4K"));
        o.chunks = vec![MAX_CALL_BYTES];
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn unsupported_cases_are_kept_with_a_reason() {
        let mut o = options();
        o.chunks = vec![64 << 10, 1000];
        let cases = o.cases();
        assert_eq!(cases.len(), 6);
        assert!(cases.iter().filter(|c| c.strategy == Strategy::Sendfile).all(|c| c.skip.is_none()));
        assert!(
            cases
                .iter()
                .filter(|c| c.strategy == Strategy::CopyFileRange)
                .all(|c| c.skip.as_deref().is_some_and(|s| s.contains("file sink")))
        );
        let direct: Vec<_> = cases.iter().filter(|c| c.strategy == Strategy::DirectRead).collect();
        assert!(direct[0].skip.is_none() && direct[1].skip.as_deref().is_some_and(|s| s.contains("multiple of 4K")));
        assert_eq!(CacheState::parse_list("both"), Ok(vec![CacheState::Warm, CacheState::Cold]));
        assert!(CacheState::parse_list("hot").is_err());
    }
}
