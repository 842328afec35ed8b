//! `zcopy explain`: the path of the data for one strategy, step by step.

use std::fmt::Write as _;

use crate::model::{CaseResult, Step, size::format_size};

fn bytes(b: Option<u64>) -> String {
    b.map_or_else(|| "-".to_owned(), |b| if b >= 1 << 20 { format!("{b} ({})", format_size(b)) } else { b.to_string() })
}

pub fn render(case: &CaseResult, steps: &[Step]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "zcopy explain {}: {}\n  {} chunks -> {} sink, {} cache; one traced run\n",
        case.strategy,
        case.description,
        format_size(case.chunk),
        case.sink,
        case.cache.name()
    );
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}\n     {:<24} {:<9} {}", i + 1, s.what, bytes(s.bytes), s.how, s.evidence);
    }
    out.push_str(&crate::output::claims::render(std::slice::from_ref(case), false));
    out
}
