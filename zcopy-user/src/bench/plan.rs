//! What a comparison runs: validated options, and the list of cases.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::workload::strategy::{SinkKind, Strategy};

/// Page-cache state before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheState {
    /// The whole file is in the page cache (read through first, checked with mincore).
    Warm,
    /// None of it is (posix_fadvise DONTNEED after fsync, checked with mincore).
    Cold,
}

impl CacheState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warm => "warm",
            Self::Cold => "cold",
        }
    }

    /// Parses `warm`, `cold` or `both`.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        match text {
            "warm" => Ok(vec![Self::Warm]),
            "cold" => Ok(vec![Self::Cold]),
            "both" => Ok(vec![Self::Warm, Self::Cold]),
            other => Err(format!("unknown cache state `{other}`: use warm, cold or both")),
        }
    }
}

/// Parses a byte size: `4096`, `64K`, `1M`, `2G` (powers of 1024; a trailing
/// `B`/`iB` is allowed).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a size (e.g. 4096, 64K, 1M, 2G)"))?;
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// A size as people write it (64K, 1M, 1.5G).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            return if bytes.is_multiple_of(unit) {
                format!("{}{name}", bytes / unit)
            } else {
                format!("{:.1}{name}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes}")
}

/// Validated options of `zcopy bench`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchOptions {
    pub strategies: Vec<Strategy>,
    pub sink: SinkKind,
    pub size: u64,
    pub chunks: Vec<u64>,
    pub caches: Vec<CacheState>,
    pub runs: u32,
    pub warmup: u32,
    pub verify: bool,
    pub dir: PathBuf,
}

impl BenchOptions {
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
            if chunk > u64::from(u32::MAX) {
                return Err(format!("--chunk {} is too large: at most 4G-1", format_size(chunk)));
            }
        }
        if self.runs == 0 {
            return Err("--runs must be at least 1".into());
        }
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
            verify: false,
            dir: "/tmp".into(),
        }
    }

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("99999999999999G").is_err());
        assert_eq!(format_size(65536), "64K");
        assert_eq!(format_size(1536), "1.5K");
        assert_eq!(format_size(100), "100");
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
