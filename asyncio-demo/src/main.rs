//! Python's `asyncio`, in Rust with tokio. `cargo run -p asyncio-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod awake;
mod blocking_pitfall;
mod broadcast;
mod cancellation;
#[cfg(test)]
mod compile_fail;
mod download;
mod event_loop;
mod exceptions;
mod file_io;
mod gather;
mod green_threads;
mod join;
mod many_connections;
mod mutex_across_await;
mod other_runtimes;
mod queue;
mod rate_limit;
mod semaphore;
mod spawn_send;
mod tasks;
mod timeout;
mod web_server;
mod websocket;

/// The demo-wide options are `download`'s (`--url`, `--requests`, `--concurrency`) with
/// `web-server`'s and `websocket`'s (`--serve`, `--clients`); the other sections read none.
const SECTIONS: &[Section<download::Options>] = &[
    event_loop::SECTION.in_demo(),
    tasks::SECTION.in_demo(),
    spawn_send::SECTION.in_demo(),
    gather::SECTION.in_demo(),
    join::SECTION.in_demo(),
    exceptions::SECTION.in_demo(),
    semaphore::SECTION.in_demo(),
    rate_limit::SECTION.in_demo(),
    mutex_across_await::SECTION.in_demo(),
    timeout::SECTION.in_demo(),
    cancellation::SECTION.in_demo(),
    queue::SECTION.in_demo(),
    blocking_pitfall::SECTION.in_demo(),
    green_threads::SECTION.in_demo(),
    many_connections::SECTION.in_demo(),
    download::SECTION,
    file_io::SECTION.in_demo(),
    broadcast::SECTION.in_demo(),
    web_server::SECTION,
    websocket::SECTION,
    other_runtimes::SECTION.in_demo(),
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
