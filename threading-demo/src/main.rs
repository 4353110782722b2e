//! Python's `threading` module, in Rust. `cargo run -p threading-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors, and
//! declares itself there (`pub const SECTION`).

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod daemon_threads;
mod deadlock;
mod event;
mod gil;
mod lock;
mod memory_ordering;
mod no_gil;
mod queue;
mod race_condition;
mod read_input;
mod responsive_main;
mod rlock;
mod scoped_threads;
mod semaphore;
mod send_sync;
mod shared_state;
mod thread_basics;
mod thread_local;
mod thread_pool;
mod web_download;

const SECTIONS: &[Section] = &[
    thread_basics::SECTION,
    scoped_threads::SECTION,
    race_condition::SECTION,
    shared_state::SECTION,
    model_checked(memory_ordering::SECTION),
    send_sync::SECTION,
    lock::SECTION,
    rlock::SECTION,
    model_checked(semaphore::SECTION),
    model_checked(event::SECTION),
    daemon_threads::SECTION,
    queue::SECTION,
    responsive_main::SECTION,
    read_input::SECTION,
    thread_pool::SECTION,
    web_download::SECTION,
    gil::SECTION,
    no_gil::SECTION,
    deadlock::SECTION,
    thread_local::SECTION,
];

/// A section whose hand-written primitives (`semaphore.rs`, `event.rs`) are model-checked
/// with loom. Built with `--features loom` they use loom's `Mutex`/`Condvar`, which work
/// only inside `loom::model`, so the section is listed but refuses to run, and so does its
/// lesson `main`. Without the feature the section is as declared, lesson `main` and all.
const fn model_checked(section: Section) -> Section {
    if cfg!(feature = "loom") {
        Section::new(
            section.name,
            section.python,
            section.summary,
            built_for_loom,
        )
        .main(lesson_built_for_loom)
    } else {
        section
    }
}

const BUILT_FOR_LOOM: &str =
    "this build model-checks the primitives with loom; run the demo without --features loom";

fn built_for_loom() -> common::cli::SectionResult {
    anyhow::bail!(BUILT_FOR_LOOM)
}

fn lesson_built_for_loom() -> ExitCode {
    eprintln!("threading-demo: {BUILT_FOR_LOOM}");
    ExitCode::FAILURE
}

/// The parts this binary plays when re-run as a child process (`--role NAME`).
const ROLES: &[Role] = &[Role::new("daemon-child", daemon_threads::child)];

fn main() -> ExitCode {
    Demo {
        name: "threading-demo",
        about: "Python's threading module in Rust: threads, locks, queues, pools, no GIL",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
