//! Seeing what ran where: logging with thread names (`RUST_LOG=debug`) and Chrome /
//! Perfetto trace files (`--trace FILE`), set up once by the runner for every demo.
//!
//! - Logging is the twin of Python's `logging` with `%(threadName)s`: quiet by default;
//!   `RUST_LOG=debug cargo run -p X` prints each `tracing::debug!` line with its thread's
//!   name on stderr, so standard output stays the same.
//! - `--trace FILE` is viztracer's twin: every section and every `tracing` span the lessons
//!   create (`info_span!`, `.instrument(span)`) land in FILE (open it at
//!   <https://ui.perfetto.dev> or `chrome://tracing`). A child process started with
//!   [`crate::child::role_command`] writes its own file next to it: `FILE.ROLE-N.json`,
//!   only when FILE is a regular file (`--trace /dev/null` makes no siblings), and a child
//!   honours [`CHILD_TRACE_ENV`] only when its own parent set it (see [`child_trace_path`]).
//! - A trace file that cannot be written (`--trace /dev/full`, a full disk) is reported by
//!   [`TraceGuard::finish`] as one line, never as a panic in the writer thread.
//! - The same spans feed the terminal timelines: [`init`] installs
//!   [`crate::timeline::TimelineLayer`] beside the other two.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use std::io::IsTerminal;

use tracing_chrome::{ChromeLayerBuilder, FlushGuard, TraceStyle};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::timeline::TimelineLayer;

/// Where a child process writes its trace, passed through the environment.
pub const CHILD_TRACE_ENV: &str = "DEMO_TRACE_FILE";

/// Set beside [`CHILD_TRACE_ENV`] by a tracing parent: its process id. A child honours the
/// trace file only when this is its parent's id, so a `DEMO_TRACE_FILE` left in a user's
/// environment never makes a child truncate the user's file.
pub const CHILD_TRACE_PARENT_ENV: &str = "DEMO_TRACE_PARENT";

/// The trace file of this process, once tracing is on, when children may write beside it.
static TRACE_FILE: OnceLock<PathBuf> = OnceLock::new();

/// The trace file this child process should write: [`CHILD_TRACE_ENV`], only when
/// [`CHILD_TRACE_PARENT_ENV`] names this process's parent.
pub fn child_trace_path() -> Option<PathBuf> {
    let file = std::env::var_os(CHILD_TRACE_ENV)?;
    let parent: u32 = std::env::var(CHILD_TRACE_PARENT_ENV).ok()?.parse().ok()?;
    (parent == std::os::unix::process::parent_id()).then(|| PathBuf::from(file))
}

/// The first write error of the trace file, kept for [`TraceGuard::finish`].
type WriteError = Arc<Mutex<Option<io::Error>>>;

/// The trace file as tracing-chrome's writer thread sees it: every write succeeds (that
/// thread panics on an error), the first real error is kept and reported at the end.
struct CheckedFile {
    file: File,
    error: WriteError,
}

impl CheckedFile {
    fn keep(&self, result: io::Result<()>) {
        if let Err(e) = result
            && let Ok(mut first) = self.error.lock()
        {
            first.get_or_insert(e);
        }
    }

    fn failed(&self) -> bool {
        self.error.lock().map_or(true, |e| e.is_some())
    }
}

impl Write for CheckedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.failed() {
            let result = self.file.write_all(buf);
            self.keep(result);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.failed() {
            let result = self.file.flush();
            self.keep(result);
        }
        Ok(())
    }
}

/// Keeps the trace file open; the file is complete when this is dropped or finished.
pub struct TraceGuard {
    flush: Option<FlushGuard>,
    file: Option<(PathBuf, WriteError)>,
}

impl TraceGuard {
    /// Complete the trace file: `Err` with one line when it could not be written.
    pub fn finish(mut self) -> Result<(), String> {
        drop(self.flush.take());
        let Some((path, error)) = self.file.take() else {
            return Ok(());
        };
        match error.lock().ok().and_then(|mut e| e.take()) {
            None => Ok(()),
            Some(e) => Err(format!(
                "cannot write the trace file {}: {e}",
                path.display()
            )),
        }
    }
}

/// Install the logging and tracing layers for this process: logging if `RUST_LOG` is set,
/// a Chrome trace if `trace_file` is given. Call once, early; keep the guard until exit.
pub fn init(trace_file: Option<&Path>) -> Result<TraceGuard, String> {
    let log_layer = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            let targets: Targets = spec.parse().map_err(|e| {
                format!("RUST_LOG={spec:?} is not a valid filter ({e}); try RUST_LOG=debug")
            })?;
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_thread_names(true)
                .with_target(false)
                .compact()
                .with_filter(targets);
            Some(layer)
        }
        _ => None,
    };
    let (chrome_layer, flush, checked) = match trace_file {
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| format!("cannot write the trace file {}: {e}", path.display()))?;
            // Children write `FILE.ROLE-N.json` beside a regular file only: not beside
            // `/dev/null` or another device.
            let regular = file.metadata().is_ok_and(|m| m.is_file());
            let error = WriteError::default();
            let writer = CheckedFile {
                file,
                error: Arc::clone(&error),
            };
            let (layer, guard) = ChromeLayerBuilder::new()
                .writer(writer)
                .include_args(true)
                // Spans are recorded from creation to drop, whichever thread drops them:
                // right for tasks that move between threads and spans held across `.await`.
                .trace_style(TraceStyle::Async)
                .include_locations(false)
                .build();
            if regular {
                let _ = TRACE_FILE.set(path.to_owned());
            }
            (Some(layer), Some(guard), Some((path.to_owned(), error)))
        }
        None => (None, None, None),
    };
    // A second init in one process (only in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(TimelineLayer::global())
        .with(log_layer)
        .with(chrome_layer)
        .try_init();
    Ok(TraceGuard {
        flush,
        file: checked,
    })
}

/// The trace file a child playing `role` should write, if this process is tracing.
pub(crate) fn child_trace_file(role: &str) -> Option<PathBuf> {
    static CHILDREN: AtomicUsize = AtomicUsize::new(0);
    let parent = TRACE_FILE.get()?;
    let n = CHILDREN.fetch_add(1, Ordering::Relaxed) + 1;
    let mut name = parent.file_name()?.to_owned();
    name.push(format!(".{role}-{n}.json"));
    Some(parent.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_child_file_unless_tracing() {
        // This test process never calls init with a file.
        assert!(TRACE_FILE.get().is_none());
        assert_eq!(child_trace_file("worker"), None);
    }

    #[test]
    fn a_write_error_is_kept_not_raised() {
        let Ok(full) = File::options().write(true).open("/dev/full") else {
            return; // no /dev/full on this system
        };
        let error = WriteError::default();
        let mut w = CheckedFile {
            file: full,
            error: Arc::clone(&error),
        };
        assert_eq!(w.write(b"[\n").unwrap(), 2);
        assert!(w.flush().is_ok());
        let kept = error.lock().unwrap().take().expect("the error is kept");
        assert_eq!(kept.kind(), io::ErrorKind::StorageFull);
    }
}
