//! Python's `concurrent.futures`, in Rust. `cargo run -p futures-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.
//!
//! The executor is hand-written in submit.rs. Sections that add to it (map, as_completed,
//! result_timeout, cancel, shutdown) repeat it complete, plus their one feature, as
//! *Rust Atomics and Locks* shows `mutex_1`, `mutex_2`, ...: the part of every file above
//! `// --- run and measure ---` is a program of its own, ending with its own `main`. Tests
//! below keep the copies in step. process-pool and process-submit re-run their program as
//! worker processes: their lesson's `main` answers `--role`, and so does this binary
//! (`ROLES`), calling the same functions, so `--lesson` works here too.

use std::io::Write;
use std::process::ExitCode;

use common::cli::{Demo, Output, Role, Section};

mod as_completed;
mod async_futures;
mod cancel;
mod exceptions;
mod map;
mod process_pool;
mod process_submit;
mod result_timeout;
mod shutdown;
mod submit;

const SECTIONS: &[Section] = &[
    submit::SECTION,
    map::SECTION,
    as_completed::SECTION,
    result_timeout::SECTION,
    cancel::SECTION,
    exceptions::SECTION,
    process_pool::SECTION,
    process_submit::SECTION,
    shutdown::SECTION,
    async_futures::SECTION,
];

/// The parts this binary plays when started as a child process (`--role NAME`): the
/// runner checks for them first, as `if __name__ == "__main__":` does in Python.
const ROLES: &[Role] = &[
    Role::new(process_pool::ROLE, process_pool::worker),
    Role::new(process_submit::ROLE, process_submit::worker_process),
];

fn main() -> ExitCode {
    Demo {
        name: "futures-demo",
        about: "Python's concurrent.futures, in Rust: executors, submit, map, as_completed, timeouts, cancel",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main_with(|chosen| {
        // The process pools' IPC servers need a usable TMPDIR: one line before any section
        // starts, not a failure halfway through the run.
        let needing: Vec<&str> = chosen
            .sections()
            .map(|s| s.name)
            .filter(|name| [process_pool::SECTION.name, process_submit::SECTION.name].contains(name))
            .collect();
        if !needing.is_empty()
            && let Err(e) = common::ipc_temp::check_temp_dir()
        {
            let verb = if needing.len() == 1 { "needs" } else { "need" };
            let _ = writeln!(
                std::io::stderr(),
                "futures-demo: {e:#}; {} {verb} it: set TMPDIR to a short, writable folder",
                needing.join(", ")
            );
            return ExitCode::FAILURE;
        }
        chosen.run(Output::Banners)
    })
}

#[cfg(test)]
mod tests {
    /// The executor's text in a section file: from `type Job` to the end of its `Drop`.
    fn executor_of(file: &str) -> String {
        let path = format!("{}/src/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let start = text
            .find("\ntype Job")
            .unwrap_or_else(|| panic!("{file}: no executor"));
        let rest = &text[start..];
        let drop_at = rest.find("impl Drop for ThreadPoolExecutor").unwrap();
        let end = drop_at + rest[drop_at..].find("\n}\n").unwrap();
        rest[..end].to_owned()
    }

    #[test]
    fn the_executor_copies_are_submit_rs_word_for_word() {
        let original = executor_of("submit.rs");
        for file in [
            "map.rs",
            "as_completed.rs",
            "result_timeout.rs",
            "cancel.rs",
        ] {
            assert!(
                executor_of(file) == original,
                "{file}: its copy of submit.rs's executor has drifted; copy it again"
            );
        }
    }

    #[test]
    fn shutdown_rs_differs_from_submit_rs_only_by_the_kept_queue() {
        // The lines that keep the queue and name the cancelled outcome; all else is equal.
        let differs = |line: &&str| {
            [
                "taken (closed)",
                "queue: Receiver<Job>",
                "The queue's receiving end",
                "            queue,",
                "dropped unrun",
                "Err(RecvError) =>",
                "\"cancelled: the pool shut down",
                "the pool dropped the task",
            ]
            .iter()
            .any(|d| line.contains(d))
                || line.trim() == ")),"
        };
        let keep = |text: String| -> Vec<String> {
            text.lines()
                .filter(|l| !differs(l))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            keep(executor_of("shutdown.rs")),
            keep(executor_of("submit.rs")),
            "shutdown.rs: its executor should be submit.rs's plus the kept queue"
        );
    }
}
