// SPDX-License-Identifier: MIT OR Apache-2.0
//! `sceneckpt-report`: per-device table (per host and device, plus a per-host table, when the
//! records come from several hosts), balance and speed-up from `arcwhisper-stats.jsonl`
//! files, and optionally an SVG timeline (one lane per device, one bar per scene).

use clap::Parser;
use gstsceneckpt::stats::{self, StatsLine, STATS_FILE};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Summarise arcwhisper-stats.jsonl: per-device table, balance, speed-up, SVG timeline"
)]
struct Args {
    /// Stats files, or folders containing arcwhisper-stats.jsonl
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Write the timeline as SVG to this file
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Only count records of this task's scenes whose result is done (default: all records)
    #[arg(long)]
    done_only: bool,
}

fn main() {
    let args = Args::parse();
    let mut lines: Vec<StatsLine> = Vec::new();
    let mut bad = 0;
    for p in &args.inputs {
        let file = if p.is_dir() {
            p.join(STATS_FILE)
        } else {
            p.clone()
        };
        match std::fs::read_to_string(&file) {
            Ok(t) => {
                let (l, b) = stats::parse_lines(&t);
                lines.extend(l);
                bad += b;
            }
            Err(e) => {
                eprintln!("sceneckpt-report: cannot read {}: {e}", file.display());
                std::process::exit(2);
            }
        }
    }
    if args.done_only {
        lines.retain(|l| l.result == "done");
    }
    if bad > 0 {
        eprintln!("sceneckpt-report: {bad} line(s) skipped (not a stats record)");
    }
    if lines.is_empty() {
        eprintln!("sceneckpt-report: no stats records");
        std::process::exit(1);
    }
    let r = stats::summarize(&lines);
    print!("{}", stats::format_table(&r));
    let hosts = stats::summarize_hosts(&lines);
    if hosts.devices.len() > 1 {
        print!("\n{}", stats::format_hosts(&hosts));
    }
    if let Some(svg) = &args.svg {
        if let Err(e) = std::fs::write(svg, stats::svg_timeline(&lines, &r)) {
            eprintln!("sceneckpt-report: cannot write {}: {e}", svg.display());
            std::process::exit(2);
        }
        println!("timeline written to {}", svg.display());
    }
}
