//! What a person sees on stderr: a progress bar with ETA on a terminal, plain lines (at most one
//! per tenth of the work, and per 2 s) otherwise; nothing with `--quiet`; each segment as it is decoded with
//! `--verbose`. Results never go here (stdout or `--output`), so piping stays clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Plain lines (not a terminal) come at most this often: a log gets a few lines per file.
const PLAIN_LINE_GAP: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Progress {
    verbosity: Verbosity,
    terminal: bool,
    phase: Option<Phase>,
}

/// One measured piece of work ("decoding", "transcribing") in seconds of audio.
struct Phase {
    name: String,
    total: f64,
    started: Instant,
    bar: Option<ProgressBar>,
    /// Plain-line mode: the next tenth (1..=10) that may print a line, and when the last one was.
    next_tenth: u32,
    last_line: Instant,
}

impl Progress {
    pub fn new(verbosity: Verbosity) -> Self {
        Self {
            verbosity,
            terminal: std::io::stderr().is_terminal(),
            phase: None,
        }
    }

    /// A line for a person (not with `--quiet`).
    pub fn note(&self, line: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.print(line);
        }
    }

    /// Something the user must know, shown even with `--quiet`.
    pub fn warn(&self, line: &str) {
        self.print(&format!("warning: {line}"));
    }

    /// A line only `--verbose` shows.
    pub fn detail(&self, line: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.print(line);
        }
    }

    fn print(&self, line: &str) {
        match self.phase.as_ref().and_then(|p| p.bar.as_ref()) {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Start a phase of `total_seconds` of audio (0: unknown, a spinner on a terminal).
    pub fn begin(&mut self, name: &str, total_seconds: f64) {
        self.end();
        let bar = (self.terminal && self.verbosity >= Verbosity::Normal)
            .then(|| terminal_bar(name, total_seconds));
        self.phase = Some(Phase {
            name: name.to_string(),
            total: total_seconds,
            started: Instant::now(),
            bar,
            next_tenth: 1,
            last_line: Instant::now(),
        });
    }

    /// `done_seconds` of the phase's audio are done.
    pub fn update(&mut self, done_seconds: f64) {
        if self.verbosity < Verbosity::Normal {
            return;
        }
        let Some(p) = self.phase.as_mut() else {
            return;
        };
        if let Some(bar) = &p.bar {
            bar.set_position(done_seconds as u64);
            return;
        }
        if p.total <= 0.0 {
            return;
        }
        let fraction = (done_seconds / p.total).clamp(0.0, 1.0);
        let due = p.last_line.elapsed() >= PLAIN_LINE_GAP;
        if fraction * 10.0 >= p.next_tenth as f64 && fraction < 1.0 && due {
            p.next_tenth = (fraction * 10.0) as u32 + 1;
            p.last_line = Instant::now();
            eprintln!("{}", plain_line(p, done_seconds, fraction));
        }
    }

    /// The phase is over: clear its bar.
    pub fn end(&mut self) {
        if let Some(bar) = self.phase.take().and_then(|p| p.bar) {
            bar.finish_and_clear();
        }
    }
}

fn terminal_bar(name: &str, total_seconds: f64) -> ProgressBar {
    let target = ProgressDrawTarget::stderr();
    if total_seconds <= 0.0 {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {pos} s of audio, {elapsed}")
                .expect("valid template"),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        return bar;
    }
    let bar = ProgressBar::with_draw_target(Some(total_seconds.ceil() as u64), target);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} s of audio, {elapsed} elapsed, ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// "transcribing: 30.0/90.0 s of audio (33%), 4.1 s elapsed, ETA 8 s"
fn plain_line(p: &Phase, done: f64, fraction: f64) -> String {
    let elapsed = p.started.elapsed().as_secs_f64();
    let eta = if fraction > 0.0 {
        elapsed * (1.0 - fraction) / fraction
    } else {
        0.0
    };
    format!(
        "{}: {:.1}/{:.1} s of audio ({:.0}%), {:.1} s elapsed, ETA {:.0} s",
        p.name,
        done,
        p.total,
        fraction * 100.0,
        elapsed,
        eta
    )
}
