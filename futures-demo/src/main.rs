//! Python's `concurrent.futures`, in Rust. `cargo run -p futures-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Section};

mod submit;

const SECTIONS: &[Section] = &[Section::new(
    "submit",
    "ThreadPoolExecutor(max_workers=3).submit(fn, arg)",
    "a fixed pool of worker threads and a handle whose result() blocks",
    submit::run,
)];

fn main() -> ExitCode {
    Demo {
        name: "futures-demo",
        about: "Python's concurrent.futures, in Rust: executors, submit, map, as_completed, timeouts, cancel",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
