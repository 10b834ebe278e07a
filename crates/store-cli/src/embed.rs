//! A command run for a caller in the same process (the Python module,
//! crates/labelstore-py) rather than for a terminal: [`run_embedded`].
//!
//! The commands are written once, for the command line. While an embedded
//! run is on, the thread running it holds an [`Embedded`] that redirects
//! what the command line would show: the closing summary is kept as JSON
//! (whether or not `--json` was given) instead of printed, progress goes to
//! the caller's callback instead of a bar, nothing is written to stderr,
//! and a store, an import or a fetch is stopped (and undone) when the
//! callback says so instead of on Ctrl-C. Every step of a command runs on the calling thread (the
//! pipelines are driven by `block_on` there), so a thread-local reaches
//! them all.

use std::cell::RefCell;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One item done in a phase of an embedded run, for its progress callback.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// What was done to the item, as `-v` says it: `stored`, `imported`,
    /// `cut`, `checked`, `fetched`, `wrote`.
    pub phase: &'static str,
    /// What the items are: `chips`, `windows`, `files`.
    pub unit: &'static str,
    /// The item just done: a chip's id, a window, a file's store path.
    pub item: &'a str,
    /// Items done so far in this phase.
    pub done: usize,
    /// Items in this phase (0 while not known).
    pub total: usize,
    /// Bytes written or read so far in this phase.
    pub bytes: u64,
}

/// Why an embedded run failed: the message the command line prints after
/// `labelstore: error: `, and its exit status (2: bad input or usage, 1:
/// the destination failed, 130: stopped by the progress callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error's message.
    pub message: String,
    /// The exit status the command line would end with.
    pub exit_code: u8,
}

/// The progress callback of an embedded run: told of each item done;
/// returning `false` stops a store, an import or a fetch before its next
/// chip (it is then undone, as a store is on Ctrl-C).
pub type ProgressFn = Box<dyn FnMut(&Step<'_>) -> bool + Send>;

/// What an embedded run redirects (see the module docs).
pub(crate) struct Embedded {
    progress: Mutex<Option<ProgressFn>>,
    cancel: Arc<AtomicBool>,
    summary: Mutex<Option<String>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Embedded>>> = const { RefCell::new(None) };
}

/// The embedded run on this thread, if any.
pub(crate) fn current() -> Option<Arc<Embedded>> {
    CURRENT.with(|c| c.borrow().clone())
}

impl Embedded {
    /// Keeps the closing summary.
    pub(crate) fn keep_summary<T: serde::Serialize + ?Sized>(&self, report: &T) {
        let text = serde_json::to_string(report).unwrap_or_default();
        *self.summary.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
    }

    /// Tells the callback of a step; a `false` from it stops the run.
    pub(crate) fn step(&self, step: &Step<'_>) {
        // A callback that starts another embedded run on this thread
        // reaches that run's own `Embedded`, not this lock.
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = progress.as_mut()
            && !f(step)
        {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The flag that stops a store before its next chip.
    pub(crate) fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }
}

/// An embedded run on this thread while it lives; dropped (also when the
/// command panics), the thread has what it had before.
struct On(Option<Arc<Embedded>>);

impl On {
    fn enter(embedded: Arc<Embedded>) -> On {
        On(CURRENT.with(|c| c.replace(Some(embedded))))
    }
}

impl Drop for On {
    fn drop(&mut self) {
        let before = self.0.take();
        CURRENT.with(|c| c.replace(before));
    }
}

/// `plan`, stopped (and undone) when the embedded run's callback says so;
/// as it is outside an embedded run (the command line's import and fetch
/// end on Ctrl-C as they always did).
pub(crate) fn cancellable(plan: labelstore::Plan) -> labelstore::Plan {
    match current() {
        Some(embedded) => plan.cancel_on(embedded.cancel_flag()),
        None => plan,
    }
}

/// Runs the command line `argv` (the program name first, as
/// `std::env::args_os` gives it) in this process and gives its closing
/// summary as JSON text (what `--json` prints; `verify` gives its report
/// also when the store is not whole: its `problems` say what differs).
/// Nothing is printed; `progress` hears of every item done.
pub fn run_embedded(argv: Vec<OsString>, progress: Option<ProgressFn>) -> Result<String, Failure> {
    let embedded = Arc::new(Embedded {
        progress: Mutex::new(progress),
        cancel: Arc::new(AtomicBool::new(false)),
        summary: Mutex::new(None),
    });
    let outcome = {
        let _on = On::enter(Arc::clone(&embedded));
        crate::run_command(argv)
    };
    let summary = embedded
        .summary
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match (outcome, summary) {
        (Err(failure), _) => Err(failure),
        (Ok(_), Some(json)) => Ok(json),
        (Ok(code), None) => Err(Failure {
            message: "the command gave no summary".into(),
            exit_code: code.max(1),
        }),
    }
}

/// Gives a command's closing summary: kept as JSON in an embedded run,
/// else printed on stdout, as pretty JSON when `json` (`--json`), else as
/// `text()` (nothing when it is empty).
pub(crate) fn summary<T: serde::Serialize + ?Sized>(
    json: bool,
    report: &T,
    text: impl FnOnce() -> String,
) {
    if let Some(embedded) = current() {
        embedded.keep_summary(report);
        return;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // A closed stdout (e.g. `| head`) is not a failure of the run.
    if json {
        // Streamed: a store's per-chip list is read from disk as it is
        // written, never held as one string.
        let _ = serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::from)
            .and_then(|()| std::io::Write::write_all(&mut out, b"\n"));
    } else {
        let _ = std::io::Write::write_all(&mut out, text().as_bytes());
    }
    let _ = std::io::Write::flush(&mut out);
}
