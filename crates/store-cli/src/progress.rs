//! What a long command says while it runs: a progress bar with the rate
//! (items and bytes per second) and an ETA on a terminal, nothing in a
//! pipe; `-v` a line per item on stderr wherever it goes; `-q` nothing but
//! errors. In an embedded run (the Python module) nothing is drawn: each
//! item done goes to the caller's progress callback.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use labelstore::Progress;

use crate::embed::{Embedded, Step};

/// How much a run says (`-q`, the default, `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Errors only: no progress, no summary in text (`--json` still prints
    /// what it was asked for).
    Quiet,
    /// A progress bar on a terminal, the summary.
    Normal,
    /// Also a line per item on stderr.
    Verbose,
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: bool) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

/// Sets the run's verbosity, once, from the command line.
pub fn set_verbosity(v: Verbosity) {
    let _ = VERBOSITY.set(v);
}

/// The run's verbosity (normal until set; quiet in an embedded run, which
/// prints nothing).
pub fn verbosity() -> Verbosity {
    if crate::embed::current().is_some() {
        return Verbosity::Quiet;
    }
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// Progress of one phase of a run (chips stored, windows cut, files read).
pub struct Meter {
    bar: Option<ProgressBar>,
    verbose: bool,
    /// What the items are, plural (`chips`, `windows`, `files`).
    unit: &'static str,
    /// What a line of `-v` says was done to an item (`stored`, `fetched`).
    done_verb: &'static str,
    started: Instant,
    /// The embedded run whose callback hears of each item, if any.
    embedded: Option<Arc<Embedded>>,
}

impl Meter {
    /// A meter for `total` items (`0` when not known yet), drawn on stderr
    /// when it is a terminal and the run is not quiet.
    pub fn new(
        verbosity: Verbosity,
        unit: &'static str,
        done_verb: &'static str,
        total: usize,
    ) -> Meter {
        let drawn = verbosity != Verbosity::Quiet && std::io::stderr().is_terminal();
        let bar = drawn.then(|| {
            let bar = ProgressBar::new(total as u64);
            let template =
                format!("{{bar:30}} {{pos}}/{{len}} {unit} {{msg}} {{elapsed}}, ETA {{eta}}");
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Meter {
            bar,
            verbose: verbosity == Verbosity::Verbose,
            unit,
            done_verb,
            started: Instant::now(),
            embedded: crate::embed::current(),
        }
    }

    /// Hears of one more item done.
    pub fn update(&mut self, p: Progress<'_>) {
        if let Some(embedded) = &self.embedded {
            embedded.step(&Step {
                phase: self.done_verb,
                unit: self.unit,
                item: p.item,
                done: p.done,
                total: p.total,
                bytes: p.bytes,
            });
        }
        if let Some(bar) = &self.bar {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            bar.set_message(rates(p.done, p.bytes, self.started.elapsed(), self.unit));
        }
        if self.verbose {
            let line = format!(
                "{} {} ({}/{}, {})",
                self.done_verb,
                p.item,
                p.done,
                p.total,
                HumanBytes(p.bytes)
            );
            match &self.bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    /// Clears the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `12.5 chips/s, 3.2 MiB/s`.
fn rates(done: usize, bytes: u64, elapsed: Duration, unit: &str) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "{:.1} {unit}/s, {}/s",
        done as f64 / secs,
        HumanBytes((bytes as f64 / secs) as u64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second() {
        assert_eq!(
            rates(25, 3 << 20, Duration::from_secs(2), "chips"),
            "12.5 chips/s, 1.50 MiB/s"
        );
        assert_eq!(
            Verbosity::from_flags(true, false),
            Verbosity::Quiet,
            "-q wins"
        );
        assert_eq!(Verbosity::from_flags(false, true), Verbosity::Verbose);
    }
}
