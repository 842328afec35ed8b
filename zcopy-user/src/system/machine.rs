//! The machine and kernel zcopy runs on: the kernel release (its one home)
//! and a one-line description for report captions.

/// The running kernel's release ("6.18.0-1-amd64"), or why it is unknown.
pub fn kernel_release() -> Result<String, String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("reading /proc/sys/kernel/osrelease: {e}"))
}

/// (major, minor) of a release string: "6.1.0-57-cloud-amd64" is (6, 1).
pub fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// "2 CPUs (Intel Xeon ...), 24 GiB RAM, hostname".
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()));
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let gib = (mem_kib as f64 / f64::from(1 << 20)).round();
    match model {
        Some(model) => format!("{cpus} CPUs ({model}), {gib} GiB RAM"),
        None => format!("{cpus} CPUs, {gib} GiB RAM"),
    }
}

/// Now (UTC): year, month, day, hour, minute, second.
fn civil_now() -> (i64, i64, i64, u64, u64, u64) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), proleptic Gregorian.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Now, as "2026-11-22 06:30 UTC".
pub fn now_utc() -> String {
    let (y, m, d, hh, mm, _) = civil_now();
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// Now, for file names: "20261122-063012" (UTC).
pub fn stamp() -> String {
    let (y, m, d, hh, mm, ss) = civil_now();
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hz_is_read_from_a_kernel_config() {
        let config = "# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_SCHED_HRTICK=y\n";
        assert_eq!(super::hz_from_config(config), Some(250));
        assert_eq!(super::hz_from_config("CONFIG_HZ_1000=y\n"), None);
        assert_eq!(super::hz_from_config("CONFIG_HZ=0\n"), None);
        // This machine's kernel: where a config is found, HZ is one of Linux's choices.
        if let Some(hz) = super::kernel_release().ok().and_then(|r| super::kernel_hz(&r)) {
            assert!([100, 250, 300, 1000].contains(&hz), "HZ {hz}");
        }
    }

    #[test]
    fn describes_cpus_and_memory() {
        let d = super::describe();
        assert!(d.contains("CPUs") && d.contains("GiB RAM"), "{d}");
        let now = super::now_utc();
        assert_eq!(now.len(), "2026-11-22 06:30 UTC".len(), "{now}");
        assert!(now.starts_with("20"), "{now}");
    }
}

#[cfg(test)]
mod version_tests {
    use super::parse_version;

    #[test]
    fn versions_are_major_and_minor() {
        assert_eq!(parse_version("6.1.0-57-cloud-amd64"), Some((6, 1)));
        assert_eq!(parse_version("6.12.107+deb12-cloud-amd64"), Some((6, 12)));
        assert_eq!(parse_version("6.18"), Some((6, 18)));
        assert_eq!(parse_version("garbage"), None);
    }
}

/// The kernel's HZ (CONFIG_HZ), from its build configuration where the
/// distribution installs it (/boot/config-RELEASE, /lib/modules/RELEASE/config)
/// or the kernel exposes it (/proc/config.gz). None: not found.
pub fn kernel_hz(release: &str) -> Option<u32> {
    let plain = [format!("/boot/config-{release}"), format!("/lib/modules/{release}/config")];
    plain.iter().find_map(|p| std::fs::read_to_string(p).ok()).or_else(proc_config).as_deref().and_then(hz_from_config)
}

/// /proc/config.gz, decompressed.
fn proc_config() -> Option<String> {
    use std::io::Read as _;
    let file = std::fs::File::open("/proc/config.gz").ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).ok()?;
    Some(text)
}

/// CONFIG_HZ in a kernel configuration's text.
pub fn hz_from_config(config: &str) -> Option<u32> {
    config.lines().find_map(|l| l.strip_prefix("CONFIG_HZ=")?.trim().parse().ok()).filter(|hz| *hz > 0)
}
