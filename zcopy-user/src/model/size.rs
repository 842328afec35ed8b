//! Byte sizes as people write them.

/// The most one read/write/sendfile/splice call moves on Linux
/// (MAX_RW_COUNT, INT_MAX rounded down to a page: 2G - 4K).
pub const MAX_CALL_BYTES: u64 = 0x7fff_f000;

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
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(format_size(100), "100 bytes");
    }
}
