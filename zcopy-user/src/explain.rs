//! `zcopy explain STRATEGY`: one fresh traced run, and the path of its data
//! through the kernel, step by step, with how each step is known.

use anyhow::Context as _;

use crate::{
    analysis, bench,
    cli::ExplainArgs,
    export, output,
    system::{caps, mounts},
};

/// Runs `zcopy explain`.
pub fn command(args: &ExplainArgs) -> anyhow::Result<i32> {
    let options = args.options();
    options.validate().map_err(anyhow::Error::msg)?;
    caps::require_tracing()?;
    let mounts = mounts::ensure(mounts::Needs { tracefs: true, securityfs: false });
    let report = crate::runtime()?.block_on(bench::run(options, &mounts))?;
    let case = report.cases.first().context("the run produced no result")?;
    let Some(run) = case.runs.first() else {
        anyhow::bail!("{} could not run here: {}", case.strategy, case.reason.as_deref().unwrap_or("no measured run"));
    };
    let steps = analysis::path::steps(case, run);
    if args.json {
        let value = serde_json::json!({ "case": case, "steps": steps });
        export::write_json(&value, std::path::Path::new("-"))?;
    } else {
        print!("{}", output::explain::render(case, &steps));
        for w in &report.warnings {
            eprintln!("  warning: {w}");
        }
    }
    Ok(0)
}
