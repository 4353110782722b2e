//! Python's `asyncio`, in Rust with tokio. `cargo run -p asyncio-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Section};

mod gather;

const SECTIONS: &[Section] = &[Section::new(
    "gather",
    "asyncio.gather(*coros)",
    "ten 0.5 s waits together take 0.5 s: join_all and JoinSet",
    gather::run,
)];

fn main() -> ExitCode {
    Demo {
        name: "asyncio-demo",
        about: "Python's asyncio, in Rust with tokio: the event loop, tasks, gather, limits, timeouts, many connections",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
