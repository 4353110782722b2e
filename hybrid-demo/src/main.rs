//! The guides' hybrid style, asyncio + a thread pool, in Rust. `cargo run -p hybrid-demo --
//! --list` shows the sections; each lives in its own file, named after the Python idea it
//! mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Section};

mod cpu_offload;
mod database;
mod database_server;
mod graceful_shutdown;
mod pipeline;
mod run_in_executor;
mod thread_to_loop;

/// The demo-wide options (`--ctrl-c`) belong to `graceful-shutdown`, the section that reads them.
const SECTIONS: &[Section<graceful_shutdown::Options>] = &[
    run_in_executor::SECTION.reads_no_options(),
    cpu_offload::SECTION.reads_no_options(),
    database::SECTION.reads_no_options(),
    database_server::SECTION.reads_no_options(),
    pipeline::SECTION.reads_no_options(),
    thread_to_loop::SECTION.reads_no_options(),
    graceful_shutdown::SECTION,
];

fn main() -> ExitCode {
    Demo {
        name: "hybrid-demo",
        about: "The guides' hybrid style, asyncio + a thread pool, in Rust: tokio with spawn_blocking and rayon",
        sections: SECTIONS,
        roles: &[database_server::ROLE],
    }
    .main()
}
