//! Python's `concurrent.futures`, in Rust. `cargo run -p futures-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.
//!
//! The executor every section uses is the hand-written `ThreadPoolExecutor` of submit.rs;
//! later sections add one method each in their own file.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod as_completed;
mod async_futures;
mod cancel;
mod exceptions;
mod map;
mod process_pool;
mod result_timeout;
mod shutdown;
mod submit;

const SECTIONS: &[Section] = &[
    Section::new(
        "submit",
        "ThreadPoolExecutor(max_workers=3).submit(fn, arg)",
        "a fixed pool of worker threads and a handle whose result() blocks",
        submit::run,
    ),
    Section::new(
        "map",
        "executor.map(fn, items)",
        "ordered parallel map, first failure returned; vs submit per item",
        map::run,
    ),
    Section::new(
        "as-completed",
        "for f in as_completed(future_to_url): f.result()",
        "results in completion order, each keyed to its input; one error stops nothing",
        as_completed::run,
    ),
    Section::new(
        "result-timeout",
        "future.result(timeout=...) -> TimeoutError",
        "a receive with a deadline; the work goes on after the timeout",
        result_timeout::run,
    ),
    Section::new(
        "cancel",
        "future.cancel()",
        "cancel wins for a queued task, loses for a running one",
        cancel::run,
    ),
    Section::new(
        "exceptions",
        "future.result() re-raising the worker's exception",
        "an Err and a panic both reach the caller; the pool keeps working",
        exceptions::run,
    ),
    Section::new(
        "process-pool",
        "ProcessPoolExecutor().map(compute_factorial, ns)",
        "worker processes over ipc-channel, measured against the thread pool",
        process_pool::run,
    ),
    Section::new(
        "shutdown",
        "with executor: / shutdown(wait=False, cancel_futures=True)",
        "Drop joins every worker; shutdown(wait=false) cancels the queue and detaches",
        shutdown::run,
    ),
    Section::new(
        "async-futures",
        "asyncio.gather / as_completed / Semaphore(n) on futures",
        "join_all, FuturesUnordered and buffer_unordered(n) from the futures crate",
        async_futures::run,
    ),
];

/// The parts this binary plays when started as a child process (`--role NAME`): the
/// runner checks for them first, as `if __name__ == "__main__":` does in Python.
const ROLES: &[Role] = &[Role::new(process_pool::ROLE, process_pool::worker)];

fn main() -> ExitCode {
    Demo {
        name: "futures-demo",
        about: "Python's concurrent.futures, in Rust: executors, submit, map, as_completed, timeouts, cancel",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
