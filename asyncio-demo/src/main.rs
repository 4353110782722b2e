//! Python's `asyncio`, in Rust with tokio. `cargo run -p asyncio-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

#![allow(clippy::duplicate_mod)] // http_server.rs is copied beside two lessons, each includes it

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod async_stream;
mod async_trait;
mod awake;
mod blocking_pitfall;
mod broadcast;
mod cancellation;
mod cancellation_safety;
mod download;
mod event_loop;
mod exceptions;
mod file_io;
mod gather;
mod green_threads;
mod join;
mod local_tasks;
mod many_connections;
mod mutex_across_await;
mod options;
mod other_runtimes;
mod queue;
mod rate_limit;
mod semaphore;
mod spawn_send;
mod subprocess;
mod task_group;
mod task_local;
mod tasks;
mod testing;
mod timeout;
mod web_server;
mod websocket;

/// The demo-wide options are `download`'s (`--url`, `--requests`, `--concurrency`) with
/// `web-server`'s and `websocket`'s (`--serve`, `--clients`); the other sections read none.
const SECTIONS: &[Section<options::Options>] = &[
    event_loop::SECTION.reads_no_options(),
    tasks::SECTION.reads_no_options(),
    spawn_send::SECTION.reads_no_options(),
    local_tasks::SECTION.reads_no_options(),
    gather::SECTION.reads_no_options(),
    join::SECTION.reads_no_options(),
    exceptions::SECTION.reads_no_options(),
    task_group::SECTION.reads_no_options(),
    semaphore::SECTION.reads_no_options(),
    rate_limit::SECTION.reads_no_options(),
    mutex_across_await::SECTION.reads_no_options(),
    task_local::SECTION.reads_no_options(),
    timeout::SECTION.reads_no_options(),
    cancellation::SECTION.reads_no_options(),
    cancellation_safety::SECTION.reads_no_options(),
    queue::SECTION.reads_no_options(),
    async_stream::SECTION.reads_no_options(),
    blocking_pitfall::SECTION.reads_no_options(),
    green_threads::SECTION.reads_no_options(),
    many_connections::SECTION.reads_no_options(),
    download::SECTION,
    file_io::SECTION.reads_no_options(),
    subprocess::SECTION.reads_no_options(),
    broadcast::SECTION.reads_no_options(),
    web_server::SECTION,
    websocket::SECTION,
    async_trait::SECTION.reads_no_options(),
    testing::SECTION.reads_no_options(),
    other_runtimes::SECTION.reads_no_options(),
];

/// The parts this binary plays when it is re-run as a child process (`--role NAME`).
const ROLES: &[Role] = &[
    Role::new("echo-server", many_connections::server_role),
    Role::new("echo-clients", many_connections::clients_role),
    Role::new("websocket-room", websocket::room_role),
];

fn main() -> ExitCode {
    Demo {
        name: "asyncio-demo",
        about: "Python's asyncio, in Rust with tokio: the event loop, tasks, gather, limits, timeouts, many connections",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
