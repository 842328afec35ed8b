//! Writing results as JSON to a file or stdout ('-').

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use anyhow::Context as _;
use serde::Serialize;

/// Writes `value` as pretty JSON to `path`, or to stdout when `path` is "-".
pub fn write_json<T: Serialize>(value: &T, path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        serde_json::to_writer_pretty(&mut lock, value).context("writing JSON to stdout")?;
        writeln!(lock).context("writing JSON to stdout")?;
        return Ok(());
    }
    let file = File::create(path).with_context(|| {
        format!(
            "cannot create {}: check the folder exists and is writable",
            path.display()
        )
    })?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(writer)?;
    writer
        .flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
