//! hyperfine-style warnings about a bench case's runs.

use std::collections::BTreeMap;

use crate::model::{CacheState, CaseResult, Warning, size::format_size};

/// hyperfine-style warnings that give advice.
pub fn warnings(case: &CaseResult) -> Vec<Warning> {
    let mut out = Vec::new();
    let label = format!("{} ({} chunks, {} cache)", case.strategy, format_size(case.chunk), case.cache.name());
    if let Some(t) = &case.throughput_mib_s
        && case.runs.len() > 1
        && t.relative_stddev() > 0.10
    {
        out.push(Warning::ThroughputVaries { case: label.clone(), percent: 100.0 * t.relative_stddev() });
    }
    let mut missed: BTreeMap<&str, u64> = BTreeMap::new();
    for run in &case.runs {
        for (program, n) in &run.missed_events {
            *missed.entry(program).or_default() += n;
        }
    }
    if !missed.is_empty() {
        let list: Vec<String> = missed.iter().map(|(p, n)| format!("{p} {n}")).collect();
        out.push(Warning::MissedEvents { case: label.clone(), by_program: list.join(", "), runs: case.runs.len() });
    }
    for (i, run) in case.runs.iter().enumerate() {
        let pct = 100.0 * run.resident_before;
        match case.cache {
            CacheState::Warm if run.resident_before < 0.999 => {
                out.push(Warning::NotWarm { case: label.clone(), run: i + 1, percent: pct });
            }
            CacheState::Cold if run.resident_before > 0.001 => {
                out.push(Warning::NotCold { case: label.clone(), run: i + 1, percent: pct });
            }
            _ => {}
        }
    }
    out
}
