//! A child process's part (`DEMO --role NAME ARGS...`), and logging with trace files.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use super::{Demo, Role};
use crate::trace;

impl<O: clap::Args> Demo<O> {
    /// `DEMO --role NAME ARGS...`: logging and the child's trace file, then the role.
    /// A write error on stdout or stderr ends it with exit code 1 and no panic text (the
    /// parent may be gone); a trace file it cannot create leaves it untraced.
    pub(super) fn run_role(&self, role: &Role, args: &[String]) -> ExitCode {
        let trace = trace::child_trace_path();
        let guard = trace::init(trace.as_deref()).or_else(|_| trace::init(None));
        let _guard = match guard {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("{} --role {}: {e}", self.name, role.name);
                return ExitCode::FAILURE;
            }
        };
        tracing::debug!(
            role = role.name,
            pid = std::process::id(),
            "child process starts"
        );
        match (role.run)(args) {
            Ok(()) => ExitCode::SUCCESS,
            // The parent hung up: nobody is left to read a message.
            Err(e)
                if e.chain().any(|c| {
                    c.downcast_ref::<io::Error>()
                        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
                }) =>
            {
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("{} --role {}: {e:#}", self.name, role.name);
                ExitCode::FAILURE
            }
        }
    }

    /// Run `body` with logging (`RUST_LOG`) and, if asked, a trace file, whose place is
    /// said on stderr when the run ends.
    pub(super) fn with_logging(
        &self,
        trace: Option<&Path>,
        body: impl FnOnce() -> ExitCode,
    ) -> ExitCode {
        let guard = match trace::init(trace) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("{}: {e}", self.name);
                return ExitCode::from(2);
            }
        };
        let code = body();
        if let Err(e) = guard.finish() {
            eprintln!("{}: {e}", self.name);
            return ExitCode::FAILURE;
        }
        if let Some(path) = trace {
            if code == ExitCode::from(2) {
                // Bad input found by a section: no trace of a run that did not happen.
                let _ = std::fs::remove_file(path);
                return code;
            }
            let _ = writeln!(
                io::stderr(),
                "trace written to {} (open it at https://ui.perfetto.dev)",
                path.display()
            );
        }
        code
    }
}
