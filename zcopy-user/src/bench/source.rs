//! The source file, its folder, and page-cache control.
//!
//! The folder is removed on drop (also when a run fails or Ctrl-C ends the
//! comparison), so nothing is left behind.

use std::{
    fs::{self, File},
    io::{self, Write as _},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

use crate::model::size::format_size;

/// Work folders are named PREFIX-PID-N.
const PREFIX: &str = "zcopy-bench-";

/// A private folder under the user's `--dir`, removed on drop.
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `dir/zcopy-bench-PID-N`, checking there is room for `need`
    /// bytes, after removing the folders of zcopy processes that are gone
    /// (a SIGKILL leaves its folder behind: the next run removes it).
    pub fn create(dir: &Path, need: u64) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            bail!("--dir {} is not a folder: create it, or choose another with --dir", dir.display());
        }
        for left in remove_left_behind(dir) {
            eprintln!("zcopy bench: removed {}, left by a zcopy that no longer runs", left.display());
        }
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{PREFIX}{}-{seq}", std::process::id()));
        fs::create_dir(&path).map_err(|e| {
            anyhow::anyhow!("cannot create a folder in {} ({e}): choose a writable folder with --dir", dir.display())
        })?;
        let work = Self { path };
        let free = free_bytes(dir).with_context(|| format!("checking free space in {}", dir.display()))?;
        if free < need {
            bail!(
                "not enough disk space in {}: the comparison needs {} and {} is free; use a smaller --size or another --dir",
                dir.display(),
                format_size(need),
                format_size(free)
            );
        }
        Ok(work)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// PREFIX-PID-N folders in `dir` whose zcopy is gone: removed. A folder's
/// zcopy runs if its PID exists and started before the folder was made (a
/// process that started later got the PID after that zcopy had exited).
fn remove_left_behind(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let running = |pid: u32, made: Option<std::time::SystemTime>| match crate::system::procfs::started_at(pid) {
        None => false,
        // A second's slack: the two clocks are read differently.
        Some(started) => made.is_none_or(|made| started <= made + std::time::Duration::from_secs(1)),
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(PREFIX).and_then(|rest| rest.split('-').next()?.parse::<u32>().ok());
            let meta = e.metadata().ok().filter(fs::Metadata::is_dir);
            match (pid, meta) {
                (Some(pid), Some(meta)) => !running(pid, meta.modified().ok()),
                _ => false,
            }
        })
        .map(|e| e.path())
        .filter(|path| fs::remove_dir_all(path).is_ok())
        .collect()
}

fn free_bytes(dir: &Path) -> io::Result<u64> {
    let c = crate::system::c_string(dir.as_os_str())?;
    // SAFETY: zeroed statvfs is valid for statvfs to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &raw mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Writes `size` bytes of pseudo-random data (xorshift: not compressible, not
/// zeros) to `path`, fsyncs it, and returns its CRC-32. It yields to the
/// runtime between 1 MiB blocks, so an interrupt stops it at once.
pub async fn create_source(path: &Path, size: u64) -> anyhow::Result<u32> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
        file.write_all(&block[..n]).with_context(|| format!("writing {}", path.display()))?;
        hasher.update(&block[..n]);
        left -= n as u64;
        // A signal stops the comparison between two blocks (the runtime has one thread).
        tokio::task::yield_now().await;
    }
    file.sync_all().with_context(|| format!("syncing {}", path.display()))?;
    Ok(hasher.finalize())
}

/// CRC-32 of a whole file.
pub fn crc_of(path: &Path) -> io::Result<u32> {
    let mut file = File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// Reads the whole file so every page is in the page cache.
pub fn warm(path: &Path) -> io::Result<()> {
    let mut file = File::open(path)?;
    io::copy(&mut file, &mut io::sink())?;
    Ok(())
}

/// Drops the file's pages from the page cache (they are clean: it was fsynced).
pub fn evict(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    file.sync_all()?;
    // SAFETY: fadvise on our own open file.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// The fraction (0..=1) of the file's pages resident in the page cache,
/// from mincore(2) on a fresh mapping (mapping does not fault pages in).
pub fn resident_fraction(path: &Path) -> io::Result<f64> {
    let file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
    if len == 0 {
        return Ok(1.0);
    }
    // SAFETY: a new read-only mapping of our own file, unmapped below.
    let map = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let pages = len.div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: vec has one byte per page of the mapping.
    let rc = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: unmapping our own mapping.
    unsafe { libc::munmap(map, len) };
    if rc != 0 {
        return Err(err);
    }
    let resident = vec.iter().filter(|b| *b & 1 != 0).count();
    Ok(resident as f64 / pages as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_checksum_matches_its_contents_and_the_folder_goes_away() {
        let work = WorkDir::create(&std::env::temp_dir(), 1 << 20).unwrap();
        let path = work.path().join("src.bin");
        let crc = crate::runtime().unwrap().block_on(create_source(&path, 300_001)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 300_001);
        assert_eq!(crc_of(&path).unwrap(), crc);
        let dir = work.path().to_path_buf();
        drop(work);
        assert!(!dir.exists());
    }

    #[test]
    fn folders_of_zcopy_processes_that_are_gone_are_removed() {
        let dir = std::env::temp_dir().join(format!("zcopy-test-left-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // PID 4194304 is above any pid_max: no such process.
        let left = dir.join("zcopy-bench-4194304-0");
        fs::create_dir(&left).unwrap();
        fs::write(left.join("source.bin"), b"x").unwrap();
        // This process runs and started before its folder: it stays; so
        // does a name that is not ours.
        let mine = dir.join(format!("zcopy-bench-{}-0", std::process::id()));
        fs::create_dir(&mine).unwrap();
        let other = dir.join("zcopy-bench-notes");
        fs::create_dir(&other).unwrap();
        // A folder made before this process started: its PID was reused.
        let reused = dir.join(format!("zcopy-bench-{}-1", std::process::id()));
        fs::create_dir(&reused).unwrap();
        File::open(&reused)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000))
            .unwrap();
        let mut removed = remove_left_behind(&dir);
        removed.sort();
        let mut expected = vec![reused.clone(), left.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(!left.exists() && !reused.exists() && mine.exists() && other.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_or_full_folders_are_explained() {
        let err = WorkDir::create(Path::new("/no/such/dir"), 1).err().unwrap().to_string();
        assert!(err.contains("is not a folder"), "{err}");
        let err = WorkDir::create(&std::env::temp_dir(), u64::MAX).err().unwrap().to_string();
        assert!(err.contains("not enough disk space"), "{err}");
    }
}
