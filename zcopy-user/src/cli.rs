//! Command-line interface.

use std::{ffi::OsString, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "zcopy",
    version,
    about = "Measure what the kernel really does when a program moves data: syscalls, copies, page faults, context switches",
    after_help = "Needs root, or CAP_BPF + CAP_PERFMON. `zcopy doctor` shows what this kernel allows."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace a command (and its children) or a running process, and print what it did in the kernel.
    Trace(TraceArgs),
    /// Show what this kernel and these privileges allow, and what zcopy does about what is missing.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["pid", "command"])))]
pub struct TraceArgs {
    /// Attach to this running process (all its threads, and children it forks while traced).
    #[arg(short, long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,

    /// With --pid: stop after this many seconds (default: until the process exits or Ctrl-C).
    #[arg(short, long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Print the summary as one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Also write the JSON summary to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,

    /// Forward the eBPF programs' debug log (aya-log) to stderr; slows tracing down.
    #[arg(long)]
    pub bpf_log: bool,

    /// The command to run and trace, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

impl TraceArgs {
    /// Checks what clap cannot express (a `last` positional defeats `requires`).
    pub fn validate(&self) -> Result<(), String> {
        if self.duration.is_some() && self.pid.is_none() {
            return Err(
                "--duration only applies to --pid: a command is traced until it exits".into(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses a positive, finite number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds (e.g. 5 or 0.5)"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!(
            "`{text}`: the duration must be more than 0 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("zcopy").chain(args.iter().copied()))
    }

    #[test]
    fn trace_a_command_after_double_dash() {
        let cli = parse(&["trace", "--json", "--", "dd", "if=/dev/zero", "--weird"]).unwrap();
        let Command::Trace(t) = cli.command else {
            panic!("not trace")
        };
        assert_eq!(t.command, ["dd", "if=/dev/zero", "--weird"]);
        assert!(t.json && t.pid.is_none());
    }

    #[test]
    fn trace_a_pid_for_a_while() {
        let cli = parse(&["trace", "--pid", "42", "--duration", "1.5"]).unwrap();
        let Command::Trace(t) = cli.command else {
            panic!("not trace")
        };
        assert_eq!(t.pid, Some(42));
        assert_eq!(t.duration, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&["trace"]).is_err(), "needs a pid or a command");
        assert!(
            parse(&["trace", "--pid", "1", "--", "ls"]).is_err(),
            "not both"
        );
        let Command::Trace(t) = parse(&["trace", "--duration", "1", "--", "ls"])
            .unwrap()
            .command
        else {
            panic!("not trace")
        };
        assert!(
            t.validate()
                .unwrap_err()
                .contains("--duration only applies to --pid")
        );
        assert!(parse(&["trace", "--pid", "0"]).is_err());
        assert!(parse(&["trace", "--pid", "abc"]).is_err());
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
