//! Report folders: the JSON results, PNG charts, and an index (Markdown, and
//! one self-contained HTML page) that can be attached to a review as is.
//! Everything is drawn from the saved results, so `zcopy report` re-renders
//! a folder without privileges.

mod bench;
mod index;
pub mod style;
mod timeline;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::{bench::report::BenchReport, bench::report::CaseResult, summary::Summary};

/// Results a report is drawn from.
#[derive(Debug, Clone)]
pub enum Results {
    Bench(Box<BenchReport>),
    Trace(Box<Summary>),
}

/// One chart written to a report folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// File name inside the folder.
    pub file: String,
    pub title: String,
    /// What the legend lists (every strategy shown, for bench charts).
    pub legend: Vec<String>,
}

impl Chart {
    fn new(file: &str, title: &str, cases: &[&CaseResult]) -> Self {
        let mut legend: Vec<String> = Vec::new();
        for c in cases {
            if !legend.iter().any(|l| l == c.strategy.name()) {
                legend.push(c.strategy.name().to_owned());
            }
        }
        Self { file: file.into(), title: title.into(), legend }
    }
}

/// The JSON file name inside a report folder.
pub const RESULTS_FILE: &str = "results.json";

impl Results {
    /// Reads saved results (`zcopy bench --export-json`, `zcopy trace
    /// --export-json`, or a report folder's results.json).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let path = if path.is_dir() { path.join(RESULTS_FILE) } else { path.to_path_buf() };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON; give the file zcopy bench or trace saved", path.display()))?;
        let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        match schema.as_str() {
            crate::bench::report::SCHEMA => Ok(Self::Bench(Box::new(
                serde_json::from_value(value).with_context(|| format!("reading the bench results in {}", path.display()))?,
            ))),
            crate::summary::SCHEMA => Ok(Self::Trace(Box::new(
                serde_json::from_value(value).with_context(|| format!("reading the trace results in {}", path.display()))?,
            ))),
            other => anyhow::bail!(
                "{} has schema {:?}, not {} or {}: give a JSON file written by zcopy bench or zcopy trace",
                path.display(),
                other,
                crate::bench::report::SCHEMA,
                crate::summary::SCHEMA
            ),
        }
    }

    /// Draws every chart that applies into `dir`.
    pub fn charts(&self, dir: &Path) -> anyhow::Result<Vec<Chart>> {
        style::init_font()?;
        let drawn = match self {
            Self::Bench(r) => vec![
                bench::throughput_cpu(r, dir)?,
                bench::per_strategy(r, dir)?,
                bench::copies_by_kind(r, dir)?,
                bench::claims(r, dir)?,
                bench::chunk_sweep(r, dir)?,
            ],
            Self::Trace(s) => vec![timeline::timeline(s, dir)?],
        };
        Ok(drawn.into_iter().flatten().collect())
    }
}

/// Writes the report folder `dir`: results.json, the charts, index.md and
/// index.html. Returns the index.html path.
pub fn write_folder(results: &Results, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the report folder {}", dir.display()))?;
    let json = dir.join(RESULTS_FILE);
    match results {
        Results::Bench(r) => crate::export::write_json(r.as_ref(), &json)?,
        Results::Trace(s) => crate::export::write_json(s.as_ref(), &json)?,
    }
    let charts = results.charts(dir).context("drawing the charts")?;
    let markdown = index::markdown(results, &charts);
    std::fs::write(dir.join("index.md"), markdown).with_context(|| format!("writing {}/index.md", dir.display()))?;
    let html = index::html(results, &charts, dir)?;
    let page = dir.join("index.html");
    std::fs::write(&page, html).with_context(|| format!("writing {}", page.display()))?;
    Ok(page)
}
