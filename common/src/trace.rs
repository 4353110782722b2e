//! Seeing what ran where: logging with thread names (`RUST_LOG=debug`) and Chrome /
//! Perfetto trace files (`--trace FILE`), set up once by the runner for every demo.
//!
//! - Logging is the twin of Python's `logging` with `%(threadName)s`: quiet by default;
//!   `RUST_LOG=debug cargo run -p X` prints each `tracing::debug!` line with its thread's
//!   name on stderr, so standard output stays the same.
//! - `--trace FILE` is viztracer's twin: every section and every `tracing` span the lessons
//!   create (`info_span!`, `.instrument(span)`) land in FILE (open it at
//!   <https://ui.perfetto.dev> or `chrome://tracing`). A child process started with
//!   [`crate::child::role_command`] writes its own file next to it: `FILE.ROLE-N.json`.
//! - The same spans feed the terminal timelines: [`init`] installs
//!   [`crate::timeline::TimelineLayer`] beside the other two.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::io::IsTerminal;

use tracing_chrome::{ChromeLayerBuilder, FlushGuard, TraceStyle};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::timeline::TimelineLayer;

/// Where a child process writes its trace, passed through the environment.
pub const CHILD_TRACE_ENV: &str = "DEMO_TRACE_FILE";

/// The trace file of this process, once tracing is on.
static TRACE_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Keeps the trace file open; the file is complete when this is dropped.
pub struct TraceGuard(#[allow(dead_code)] Option<FlushGuard>);

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
    let (chrome_layer, guard) = match trace_file {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot write the trace file {}: {e}", path.display()))?;
            let (layer, guard) = ChromeLayerBuilder::new()
                .writer(file)
                .include_args(true)
                // Spans are recorded from creation to drop, whichever thread drops them:
                // right for tasks that move between threads and spans held across `.await`.
                .trace_style(TraceStyle::Async)
                .include_locations(false)
                .build();
            let _ = TRACE_FILE.set(path.to_owned());
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    // A second init in one process (only in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(TimelineLayer::global())
        .with(log_layer)
        .with(chrome_layer)
        .try_init();
    Ok(TraceGuard(guard))
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
}
