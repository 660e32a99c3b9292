//! A benchmark's progress: a bar with the step under way on a terminal
//! (indicatif), one plain line per step otherwise (a log file, CI), where a
//! redrawn bar would be noise.

use std::cell::RefCell;
use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

/// The steps of one benchmark.
pub struct Progress {
    bench: &'static str,
    bar: Option<ProgressBar>,
    /// The step under way.
    step: RefCell<String>,
}

impl Progress {
    /// `steps` steps of `ferrolb lab bench BENCH`.
    pub fn new(bench: &'static str, steps: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(steps as u64);
            let style =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} {wide_msg}")
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(format!("bench {bench}"));
            bar
        });
        Progress { bench, bar, step: RefCell::new(String::new()) }
    }

    /// A step starts: `what` (the case and the run).
    pub fn start(&self, what: &str) {
        *self.step.borrow_mut() = what.to_owned();
        match &self.bar {
            Some(bar) => bar.set_message(what.to_owned()),
            None => eprint!("bench {}: {what}… ", self.bench),
        }
    }

    /// The step ended with `result`: a line above the bar, or the end of the plain line.
    pub fn done(&self, result: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(format!("bench {}: {}… {result}", self.bench, self.step.borrow()));
                bar.inc(1);
            }
            None => eprintln!("{result}"),
        }
    }

    /// A line of its own (a note between steps).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
