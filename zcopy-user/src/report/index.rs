//! The report folder's index: Markdown, and one self-contained HTML page
//! (charts inlined as data URIs, no scripts, no external files).

use std::{fmt::Write as _, path::Path};

use anyhow::Context as _;
use base64::Engine as _;

use super::Chart;
use crate::model::Results;

/// The report's text body (Markdown): what ran, the key table, the claims, the sources.
fn body(results: &Results) -> String {
    match results {
        // The Markdown export has the key table, the claims and the sources.
        Results::Bench(r) => crate::export::markdown::render(r),
        Results::Trace(s) => crate::export::markdown::render_trace(s),
    }
}

fn provenance(results: &Results) -> String {
    match results {
        Results::Bench(r) => format!(
            "Produced by `{}` on {} ({}; Linux {}).",
            if r.command.is_empty() { "zcopy bench" } else { &r.command },
            if r.created.is_empty() { "an unrecorded date" } else { &r.created },
            if r.machine.is_empty() { "machine not recorded" } else { &r.machine },
            r.kernel
        ),
        Results::Trace(s) => format!("Traced for {:.3} s; {}.", s.wall_s, s.target.ended_by.describe()),
    }
}

pub fn markdown(results: &Results, charts: &[Chart]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<!-- zcopy report: regenerate with `zcopy report results.json --out .` -->\n");
    let _ = writeln!(out, "{}\n", provenance(results));
    for c in charts {
        let _ = writeln!(out, "![{}]({})\n", c.title, c.file);
    }
    out.push_str(&body(results));
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Inline Markdown: `code` and **bold**.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<b>{p}</b>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

/// The subset of Markdown zcopy writes (headings, tables, lists, code
/// blocks, paragraphs) as HTML.
fn to_html(markdown: &str) -> String {
    let mut out = String::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            out.push_str("<pre>");
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                let _ = writeln!(out, "{}", escape(l));
            }
            out.push_str("</pre>\n");
        } else if line.starts_with('|') {
            out.push_str("<table>\n");
            let mut rows = vec![line];
            while let Some(l) = lines.peek().filter(|l| l.starts_with('|')) {
                rows.push(l);
                lines.next();
            }
            for (i, row) in rows.iter().enumerate() {
                let cells: Vec<&str> = row.trim().trim_matches('|').split('|').map(str::trim).collect();
                if cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':'))) {
                    continue;
                }
                let tag = if i == 0 { "th" } else { "td" };
                out.push_str("<tr>");
                for c in cells {
                    let _ = write!(out, "<{tag}>{}</{tag}>", inline(c));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        } else if let Some(item) = line.strip_prefix("- ") {
            let _ = writeln!(out, "<li>{}</li>", inline(item));
        } else if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(out, "<h2>{}</h2>", inline(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", inline(h));
        } else if !line.trim().is_empty() && !line.starts_with("<!--") {
            let _ = writeln!(out, "<p>{}</p>", inline(line));
        }
    }
    out
}

const CSS: &str = "body{font-family:sans-serif;max-width:1240px;margin:2em auto;color:#222}\
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}\
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}\
th{background:#f4f4f4}pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:13px}li{margin:0.2em 0}";

/// One HTML page with the charts inlined: it can be mailed or attached alone.
pub fn html(results: &Results, charts: &[Chart], dir: &Path) -> anyhow::Result<String> {
    let title = match results {
        Results::Bench(_) => "zcopy bench report",
        Results::Trace(_) => "zcopy trace report",
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title><style>{CSS}</style></head><body>\n"
    );
    let _ = writeln!(out, "<p>{}</p>", inline(&provenance(results)));
    for c in charts {
        let path = dir.join(&c.file);
        let png = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = writeln!(out, "<img alt=\"{}\" src=\"data:image/png;base64,{data}\">", escape(&c.title));
    }
    out.push_str(&to_html(&body(results)));
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_subset_becomes_html() {
        let html = to_html("# T\n\n| a | b |\n|---|--:|\n| 1 | `x<y` |\n\n- item **bold**\n```\ncode <\n```\n");
        assert!(html.contains("<h1>T</h1>"));
        assert!(html.contains("<tr><th>a</th><th>b</th></tr>"));
        assert!(html.contains("<td><code>x&lt;y</code></td>"));
        assert!(!html.contains("---"));
        assert!(html.contains("<li>item <b>bold</b></li>"));
        assert!(html.contains("<pre>code &lt;\n</pre>"));
    }
}
