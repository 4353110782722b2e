//! Python's `threading` module, in Rust. `cargo run -p threading-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Section};

mod thread_basics;

const SECTIONS: &[Section] = &[Section::new(
    "thread-basics",
    "threading.Thread(target, args).start() / join()",
    "spawn named threads, join them, get their return values",
    thread_basics::run,
)];

fn main() -> ExitCode {
    Demo {
        name: "threading-demo",
        about: "Python's threading module, in Rust: threads, locks, semaphores, events, queues, pools, no GIL",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
