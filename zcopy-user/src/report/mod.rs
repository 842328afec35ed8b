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

use crate::model::{CaseResult, RESULTS_FILE, Results};

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

impl Chart {
    /// Draws this chart into `dir`: the frame (title, caption line), then
    /// `body` into the area between them.
    fn draw(
        &self,
        dir: &Path,
        caption: &str,
        body: impl FnOnce(&style::Area<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        use plotters::prelude::{BitMapBackend, IntoDrawingArea as _};
        let path = dir.join(&self.file);
        let root = BitMapBackend::new(&path, style::SIZE).into_drawing_area();
        let area = style::frame(&root, &self.title, caption)?;
        body(&area)?;
        root.present()?;
        Ok(())
    }
}

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
            crate::model::bench::SCHEMA => Ok(Self::Bench(Box::new(
                serde_json::from_value(value)
                    .with_context(|| format!("reading the bench results in {}", path.display()))?,
            ))),
            crate::model::trace::SCHEMA => Ok(Self::Trace(Box::new(
                serde_json::from_value(value)
                    .with_context(|| format!("reading the trace results in {}", path.display()))?,
            ))),
            other => anyhow::bail!(
                "{} has schema {:?}, not {} or {}: give a JSON file written by zcopy bench or zcopy trace",
                path.display(),
                other,
                crate::model::bench::SCHEMA,
                crate::model::trace::SCHEMA
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
            Self::Trace(s) => vec![timeline::timeline(s, dir)?, timeline::zero_copy(s, dir)?],
        };
        Ok(drawn.into_iter().flatten().collect())
    }
}

/// Runs `zcopy report RESULTS.json`: draws the folder again from what was saved.
pub fn command(args: &crate::cli::RenderArgs) -> anyhow::Result<i32> {
    let results = Results::load(&args.results)?;
    let page = write_folder(&results, &args.out_dir())?;
    eprintln!("zcopy report: written to {}", page.display());
    Ok(0)
}

/// Writes the report folder `dir`: results.json, the charts, index.md and
/// index.html. Returns the index.html path.
pub fn write_folder(results: &Results, dir: &Path) -> anyhow::Result<PathBuf> {
    // The folder, never its parents (checked before the work: export::check_outputs).
    if !dir.is_dir() {
        std::fs::create_dir(dir).with_context(|| format!("creating the report folder {}", dir.display()))?;
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Real results from this kind of machine: a 4-strategy, 3-chunk bench
    /// over TCP, and a trace of a shell pipeline.
    const BENCH: &str = include_str!("fixtures/bench.json");
    const TRACE: &str = include_str!("fixtures/trace.json");

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zcopy-report-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn load(text: &str, name: &str) -> (Results, PathBuf) {
        let dir = scratch(name);
        let path = dir.join("in.json");
        std::fs::write(&path, text).unwrap();
        (Results::load(&path).unwrap(), dir)
    }

    fn rgb_pixels(path: &Path) -> image::RgbImage {
        image::open(path).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display())).to_rgb8()
    }

    #[test]
    fn every_bench_chart_decodes_at_size_is_not_blank_and_shows_every_strategy() {
        let (results, dir) = load(BENCH, "charts");
        let Results::Bench(report) = &results else { panic!("not a bench") };
        let strategies: BTreeSet<String> = report.cases.iter().map(|c| c.strategy.name().to_owned()).collect();
        let charts = results.charts(&dir).unwrap();
        let files: Vec<&str> = charts.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(
            files,
            ["throughput-cpu.png", "per-strategy.png", "copies-by-kind.png", "claims.png", "chunk-sweep.png"]
        );
        for chart in &charts {
            let img = rgb_pixels(&dir.join(&chart.file));
            assert_eq!(img.dimensions(), style::SIZE, "{}", chart.file);
            let inked = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
            let share = inked as f64 / f64::from(img.width() * img.height());
            assert!(share > 0.03, "{} is nearly blank ({share:.3} inked)", chart.file);
            if chart.file == "claims.png" {
                continue; // one panel per claim row, named in its title
            }
            let legend: BTreeSet<String> = chart.legend.iter().cloned().collect();
            assert_eq!(legend, strategies, "{}", chart.file);
            // Each strategy's colour is drawn (its legend swatch at least).
            for c in &report.cases {
                let want = style::color(c.strategy);
                assert!(
                    img.pixels().any(|p| p.0 == [want.0, want.1, want.2]),
                    "{}: no {} colour",
                    chart.file,
                    c.strategy.name()
                );
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_trace_timeline_decodes_and_is_not_blank() {
        let (results, dir) = load(TRACE, "timeline");
        let charts = results.charts(&dir).unwrap();
        assert_eq!(charts.len(), 1);
        let img = rgb_pixels(&dir.join("timeline.png"));
        assert_eq!(img.dimensions(), style::SIZE);
        // The series colours are drawn.
        assert!(img.pixels().any(|p| p.0 == [213, 94, 0]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn re_rendering_saved_results_reproduces_the_same_files() {
        for (name, text) in [("bench", BENCH), ("trace", TRACE)] {
            let (results, dir) = load(text, &format!("rerender-{name}"));
            let first = dir.join("first");
            write_folder(&results, &first).unwrap();
            // What `zcopy report first/results.json --out second` does.
            let again = Results::load(&first.join(RESULTS_FILE)).unwrap();
            let second = dir.join("second");
            write_folder(&again, &second).unwrap();
            let mut names: Vec<String> = std::fs::read_dir(&first)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert!(names.contains(&"index.html".to_owned()) && names.contains(&"index.md".to_owned()), "{names:?}");
            for n in &names {
                let same = std::fs::read(first.join(n)).unwrap() == std::fs::read(second.join(n)).unwrap();
                assert!(same, "{name}: {n} differs after re-rendering");
            }
            let html = std::fs::read_to_string(first.join("index.html")).unwrap();
            assert!(html.contains("data:image/png;base64,") && !html.contains("src=\"http"), "self-contained");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn results_of_another_kind_are_refused_with_the_reason() {
        let dir = scratch("bad");
        let path = dir.join("x.json");
        std::fs::write(&path, r#"{"schema": "other/1"}"#).unwrap();
        let err = format!("{:#}", Results::load(&path).unwrap_err());
        assert!(err.contains("zcopy.bench/1") && err.contains("zcopy bench or zcopy trace"), "{err}");
        std::fs::write(&path, "not json").unwrap();
        assert!(format!("{:#}", Results::load(&path).unwrap_err()).contains("is not JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
