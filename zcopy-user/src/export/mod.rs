//! Writing results to a file or stdout ('-'): JSON, CSV, Markdown.

pub mod csv;
pub mod markdown;

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use anyhow::Context as _;
use serde::Serialize;

/// Writes `text` to `path`, or to stdout when `path` is "-".
pub fn write_text(text: &str, path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes()).context("writing to stdout")?;
        return out.flush().context("writing to stdout");
    }
    std::fs::write(path, text)
        .with_context(|| format!("cannot write {}: check the folder exists and is writable", path.display()))
}

/// Writes `value` as pretty JSON to `path`, or to stdout when `path` is "-".
pub fn write_json<T: Serialize>(value: &T, path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        serde_json::to_writer_pretty(&mut lock, value).context("writing JSON to stdout")?;
        writeln!(lock).context("writing JSON to stdout")?;
        return Ok(());
    }
    let file = File::create(path)
        .with_context(|| format!("cannot create {}: check the folder exists and is writable", path.display()))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value).with_context(|| format!("writing {}", path.display()))?;
    writeln!(writer)?;
    writer.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
