//! Python's `asyncio`, in Rust with tokio. `cargo run -p asyncio-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod blocking_pitfall;
mod broadcast;
mod cancellation;
mod download;
mod event_loop;
mod exceptions;
mod file_io;
mod gather;
mod many_connections;
mod other_runtimes;
mod queue;
mod semaphore;
mod tasks;
mod timeout;

const SECTIONS: &[Section<download::Options>] = &[
    Section::new(
        "event-loop",
        "asyncio.run(main()) / loop.run_until_complete",
        "#[tokio::main] and Runtime flavours; a hand-written block_on with a Waker",
        event_loop::run,
    ),
    Section::new(
        "tasks",
        "async def / await / asyncio.create_task",
        "futures do nothing until polled; tokio::spawn; 100,000 sleeping tasks",
        tasks::run,
    ),
    Section::new(
        "gather",
        "asyncio.gather(*coros)",
        "ten 0.5 s waits together take 0.5 s: join_all and JoinSet",
        gather::run,
    ),
    Section::new(
        "exceptions",
        "gather(return_exceptions=True) / try-except",
        "Results collected, try_join! failing fast, a panicking task as JoinError",
        exceptions::run,
    ),
    semaphore::SECTION.in_demo(),
    Section::new(
        "timeout",
        "asyncio.wait_for(coro, timeout=)",
        "tokio::time::timeout; the timed-out future is dropped (cancelled)",
        timeout::run,
    ),
    Section::new(
        "cancellation",
        "task.cancel() / asyncio.wait(FIRST_COMPLETED)",
        "abort(), CancellationToken, select! racing two futures",
        cancellation::run,
    ),
    Section::new(
        "queue",
        "asyncio.Queue(maxsize=5)",
        "bounded mpsc channel: producers, consumers, backpressure measured",
        queue::run,
    ),
    Section::new(
        "blocking-pitfall",
        "time.sleep() / CPU work inside async def",
        "a heartbeat measures how late the loop runs; fixed with sleep().await and spawn_blocking",
        blocking_pitfall::run,
    ),
    Section::new(
        "many-connections",
        "asyncio.start_server / 10,000+ connections",
        "a TCP echo server and 10,000 clients at once, each in its own process; memory measured",
        many_connections::run,
    ),
    Section::with_options(
        "download",
        "aiohttp.ClientSession + gather, 100 in flight",
        "1000 files from a local HTTP server, 100 at a time, every byte checked; --url, --requests, --concurrency",
        download::run,
    ),
    Section::new(
        "file-io",
        "aiofiles / asyncio.to_thread(open(...).read)",
        "file reads still block: std::fs on the loop, tokio::fs (the blocking pool), one spawn_blocking",
        file_io::run,
    ),
    Section::new(
        "broadcast",
        "real-time server: for w in clients: w.write(line)",
        "a TCP chat room on tokio::sync::broadcast: clients join, talk, leave; every line checked",
        broadcast::run,
    ),
    Section::new(
        "other-runtimes",
        "trio.run / curio.run",
        "the same future on tokio, futures' block_on and our own; tokio's timers need tokio's reactor",
        other_runtimes::run,
    ),
];

/// The parts this binary plays when it is re-run as a child process (`--role NAME`).
const ROLES: &[Role] = &[
    Role::new("echo-server", many_connections::server_role),
    Role::new("echo-clients", many_connections::clients_role),
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
