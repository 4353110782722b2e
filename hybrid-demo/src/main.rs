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
    Section::new(
        "run-in-executor",
        "await loop.run_in_executor(None, blocking_io)",
        "blocking calls on tokio's blocking pool while the loop keeps ticking",
        run_in_executor::run,
    ),
    Section::new(
        "cpu-offload",
        "await loop.run_in_executor(pool, crunch, n)",
        "CPU work on rayon, answer back on a oneshot: the loop's heartbeat stays on time",
        cpu_offload::run,
    ),
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
    Section::new(
        "thread-to-loop",
        "loop.call_soon_threadsafe / asyncio.run_coroutine_threadsafe",
        "plain threads feeding and awaiting the runtime; block_on inside it caught",
        thread_to_loop::run,
    ),
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
