//! The guides' hybrid style, asyncio + a thread pool, in Rust. `cargo run -p hybrid-demo --
//! --list` shows the sections; each lives in its own file, named after the Python idea it
//! mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Section};

/// Demo-wide options.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// graceful-shutdown: wait for a real Ctrl-C (up to 60 s) instead of shutting down by
    /// itself after a moment
    #[arg(long = "ctrl-c")]
    pub ctrl_c: bool,
}

mod cpu_offload;
mod database;
mod graceful_shutdown;
mod pipeline;
mod run_in_executor;
mod thread_to_loop;

const SECTIONS: &[Section<Options>] = &[
    run_in_executor::SECTION.in_demo(),
    cpu_offload::SECTION.in_demo(),
    Section::new(
        "database",
        "aiosqlite.connect(...) / many database queries",
        "a real SQLite file from async code: one db thread vs spawn_blocking per query",
        database::run,
    ),
    Section::new(
        "pipeline",
        "asyncio.Queue(maxsize) stages + run_in_executor",
        "fetch (reqwest) -> CPU (rayon) -> write (tokio::fs) over bounded channels",
        pipeline::run,
    ),
    thread_to_loop::SECTION.in_demo(),
    Section::with_options(
        "graceful-shutdown",
        "loop.add_signal_handler(SIGINT, stop.set) + TaskGroup",
        "a job server that stops taking work on Ctrl-C and finishes what it accepted",
        graceful_shutdown::run,
    ),
];

fn main() -> ExitCode {
    Demo {
        name: "hybrid-demo",
        about: "The guides' hybrid style, asyncio + a thread pool, in Rust: tokio with spawn_blocking and rayon",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
