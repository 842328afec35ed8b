//! The literature's claims against the measurements, as a table for the
//! terminal or Markdown.

use std::fmt::Write as _;

use crate::model::{CaseResult, Figure, How, Verdict};

/// A figure's value to two places, or "n/a" where it is not available.
fn value(f: &Figure) -> String {
    f.value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
}

/// The terminal's verdict mark.
fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "ok",
        Verdict::Differs => "DIFFERS",
        Verdict::Unknown => "n/a",
    }
}

/// Renders every case's comparisons; `markdown` picks the format.
pub fn render(cases: &[CaseResult], markdown: bool) -> String {
    let mut out = String::new();
    let compared: Vec<&CaseResult> = cases.iter().filter(|c| !c.claims.is_empty()).collect();
    if compared.is_empty() {
        return out;
    }
    if !markdown {
        let _ = writeln!(out, "\n  the zero-copy table against this kernel (per chunk, sender process):");
        out.push_str(&terminal(cases));
        return out;
    }
    let _ = writeln!(out, "\n## The zero-copy table against this kernel (per chunk, sender)\n");
    let _ = writeln!(out, "| strategy | chunk | cache | claim | figure | claimed | measured | how | verdict | why |");
    let _ = writeln!(out, "|---|---|---|---|---|---:|---:|---|---|---|");
    for case in compared {
        let chunk = crate::model::size::format_size(case.chunk);
        for comparison in &case.claims {
            for cell in &comparison.cells {
                let _ = writeln!(
                    out,
                    "| {} | {chunk} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
                    case.strategy,
                    case.cache.name(),
                    comparison.row,
                    cell.what,
                    cell.claimed,
                    value(&cell.measured),
                    cell.measured.how,
                    cell.verdict.name(),
                    cell.reason
                );
            }
        }
    }
    out
}

/// Adds the reason of `cell` to `reasons`, once.
fn note(reasons: &mut Vec<String>, case: &CaseResult, cell: &crate::model::Cell) {
    let why = if cell.verdict == Verdict::Unknown && cell.measured.value.is_none() {
        format!("{} {} ({}): not available: {}", case.strategy, cell.what, case.cache.name(), cell.measured.from)
    } else {
        format!("{} {} ({}): {}", case.strategy, cell.what, case.cache.name(), cell.reason)
    };
    if !reasons.contains(&why) {
        reasons.push(why);
    }
}

/// One line per claim row: `claimed -> measured` per figure; `*` marks an
/// inferred figure; the reasons of the cells that differ follow the table.
fn terminal(cases: &[CaseResult]) -> String {
    let mut out = String::new();
    if cases.iter().any(|c| !c.claims.is_empty() && !c.strategy.is_scenario()) {
        let _ = writeln!(
            out,
            "  {:<20} {:<5} {:<18} {:<19} {:<19} {:<19} {:<19} {:<19}",
            "strategy", "cache", "claim", "syscalls", "mode transitions", "CPU copies", "DMA copies", "copy ms/MiB"
        );
    }
    let mut reasons: Vec<String> = Vec::new();
    for case in cases.iter().filter(|c| !c.claims.is_empty()) {
        for comparison in &case.claims {
            if case.strategy.is_scenario() {
                for cell in &comparison.cells {
                    let _ = writeln!(
                        out,
                        "  {:<20} {:<5} {}: {} {:.2} -> {} ({}) {}",
                        case.strategy.name(),
                        case.cache.name(),
                        comparison.row,
                        cell.what,
                        cell.claimed,
                        value(&cell.measured),
                        cell.measured.how,
                        mark(cell.verdict)
                    );
                    note(&mut reasons, case, cell);
                }
                continue;
            }
            let cells: Vec<String> = comparison
                .cells
                .iter()
                .map(|cell| {
                    let star = match cell.measured.how {
                        How::Inferred => "*",
                        How::Sampled => "~",
                        _ => "",
                    };
                    if cell.verdict != Verdict::Holds {
                        note(&mut reasons, case, cell);
                    }
                    if cell.measured.how == How::Sampled {
                        // A cost, not a count: no claimed figure, no verdict.
                        return format!("{:.3}{star}", cell.measured.value.unwrap_or_default());
                    }
                    format!("{:.0} -> {}{star} {}", cell.claimed, value(&cell.measured), mark(cell.verdict))
                })
                .collect();
            let _ = writeln!(
                out,
                "  {:<20} {:<5} {:<18} {}",
                case.strategy.name(),
                case.cache.name(),
                comparison.row,
                cells.iter().map(|c| format!("{c:<19} ")).collect::<String>().trim_end()
            );
        }
    }
    let _ = writeln!(
        out,
        "  (claimed -> measured per chunk; * inferred: a rule applied to measured syscalls and bytes; ~ sampled: estimated from cpu-clock samples, interval below; n/a: its probe did not attach)"
    );
    for why in reasons {
        let _ = writeln!(out, "  why: {why}");
    }
    out
}
