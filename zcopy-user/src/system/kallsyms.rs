//! Kernel addresses to function names, from /proc/kallsyms. Its addresses
//! are the running kernel's (KASLR's offset is already applied), so a
//! sampled return address is looked up as it is. Where the file shows
//! zeros (kernel.kptr_restrict, or a reader without CAP_SYSLOG), nothing can
//! be named, and the caller says so.

use std::path::Path;

/// The kernel's text symbols, sorted by address.
pub struct KernelSymbols {
    /// (start address, name), ascending.
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Reads /proc/kallsyms; `Err` says why addresses cannot be named.
    pub fn read() -> Result<Self, String> {
        Self::from_file(Path::new("/proc/kallsyms"))
    }

    fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::parse(&text).ok_or_else(|| {
            format!(
                "{} shows no addresses (kernel.kptr_restrict, or no CAP_SYSLOG): run as root, or set kernel.kptr_restrict=0",
                path.display()
            )
        })
    }

    /// The text symbols of kallsyms' `ADDRESS TYPE NAME [MODULE]` lines;
    /// None if every address is zero.
    pub fn parse(text: &str) -> Option<Self> {
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let address = u64::from_str_radix(fields.next()?, 16).ok()?;
                let kind = fields.next()?;
                let name = fields.next()?;
                matches!(kind, "t" | "T" | "w" | "W").then(|| (address, name.to_owned()))
            })
            .filter(|(address, _)| *address != 0)
            .collect();
        if symbols.is_empty() {
            return None;
        }
        symbols.sort_unstable_by_key(|(address, _)| *address);
        Some(Self { symbols })
    }

    /// The function holding `address` (the nearest symbol at or below it).
    pub fn name(&self, address: u64) -> Option<&str> {
        let index = self.symbols.partition_point(|(start, _)| *start <= address).checked_sub(1)?;
        Some(self.symbols[index].1.as_str())
    }

    /// A stack's frames named, innermost first. Return addresses (every
    /// frame but the innermost) point after their call, possibly at the next
    /// function: they are looked up one byte earlier.
    pub fn frames(&self, ips: &[u64]) -> Vec<String> {
        ips.iter()
            .enumerate()
            .map(|(i, &ip)| {
                let at = if i == 0 { ip } else { ip.saturating_sub(1) };
                self.name(at).map_or_else(|| format!("0x{ip:x}"), str::to_owned)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ffffffff81000000 T _stext\nffffffff81001000 t rep_movs_alternative\nffffffff81001100 T _copy_to_iter\nffffffff82000000 D some_data\nffffffffc0001000 t bpf_prog_6deef7357e7b4530_sys_exit_raw\t[bpf]\n";

    #[test]
    fn addresses_are_named_by_the_symbol_below() {
        let s = KernelSymbols::parse(SAMPLE).unwrap();
        assert_eq!(s.name(0xffffffff81001050), Some("rep_movs_alternative"));
        assert_eq!(s.name(0xffffffff81001100), Some("_copy_to_iter"));
        assert_eq!(s.name(0xffffffffc0001010), Some("bpf_prog_6deef7357e7b4530_sys_exit_raw"));
        assert_eq!(s.name(0x1000), None);
        // A return address just past the end of a call at a function's last byte.
        assert_eq!(
            s.frames(&[0xffffffff81001050, 0xffffffff81001100]),
            ["rep_movs_alternative", "rep_movs_alternative"]
        );
    }

    #[test]
    fn zero_addresses_mean_restricted() {
        assert!(KernelSymbols::parse("0000000000000000 T _stext\n0000000000000000 t foo\n").is_none());
        let dir = std::env::temp_dir().join(format!("zcopy-kallsyms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kallsyms");
        std::fs::write(&file, "0000000000000000 T _stext\n").unwrap();
        let err = KernelSymbols::from_file(&file).err().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("kptr_restrict"), "{err}");
    }
}
