//! Exceptions in a worker -> a task that returns `Err` and a task that panics: both reach
//! the caller as errors from `result()`, and the pool's workers live on.
//!
//! Python:
//!     future = executor.submit(divide, 10, 0)
//!     try:
//!         future.result()                  # re-raises the worker's ZeroDivisionError
//!     except ZeroDivisionError as e:
//!         print("task failed:", e)
//!     future.exception()                   # or look at it without raising
//!
//! Rust has two kinds of failure. An expected one is a value: the task returns
//! `Result<T, E>`, and `result()` hands it over (`Ok(Err(e))`). A bug is a panic: the
//! pool's job wrapper catches it with `catch_unwind` (see submit.rs), so `result()` returns
//! an error carrying the panic message and the worker thread goes on to the next job.
//! Rust's panic hook also reports the panic on stderr as it happens (with a backtrace if
//! RUST_BACKTRACE is set), where Python keeps quiet until you call `result()`;
//! `one_line_panics` below swaps in a hook (`std::panic::set_hook`) that prints one line,
//! even with RUST_BACKTRACE=1.
//!
//! Watch: 10 / 0 comes back as an error value, the bad parse as a caught panic (one
//! `[panic hook]` line on stderr), and the same two workers then finish the rest of the work.
//!
//! Run only this: cargo run -p futures-demo -- exceptions
//! Copy it: cargo add anyhow@1

use std::fmt::Debug;
use std::thread;

use anyhow::bail;

/// An expected failure is part of the return type.
pub fn divide(a: u32, b: u32) -> anyhow::Result<u32> {
    if b == 0 {
        bail!("ZeroDivisionError: division by zero");
    }
    Ok(a / b)
}

/// A bug: `unwrap` on bad input panics.
pub fn parse_or_panic(s: &str) -> u32 {
    s.parse().unwrap()
}

/// The text of a panic (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Report every panic in one line, without a backtrace: the panics of this program are
/// caught and handled, so a stack dump would only bury the output.
pub fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        eprintln!(
            "  [panic hook] thread '{}' panicked: {}",
            thread.name().unwrap_or("unnamed"),
            panic_message(info.payload())
        );
    }));
}

/// What a caller sees of a task run on another thread: its value, its `Err`, or its panic.
pub fn show<T: Debug>(call: &str, joined: thread::Result<anyhow::Result<T>>) {
    match joined {
        Ok(Ok(value)) => println!("{call} -> {value:?}"),
        Ok(Err(e)) => println!("{call} -> the task returned Err: {e}"),
        Err(panic) => println!("{call} -> the task panicked: {}", panic_message(&*panic)),
    }
}

/// The three calls, each on a thread of its own: `join()` hands back the task's `Result`,
/// or `Err` with the panic (the pool of submit.rs does the same with `catch_unwind`).
fn main() {
    one_line_panics();
    let ok = thread::spawn(|| divide(10, 2));
    let failed = thread::spawn(|| divide(10, 0));
    let panicked = thread::spawn(|| anyhow::Ok(parse_or_panic("ten")));
    show("divide(10, 2)", ok.join());
    show("divide(10, 0)", failed.join());
    show("parse_or_panic(\"ten\")", panicked.join());
}

// --- run and measure ---

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::takeaway;

// result_timeout.rs's version of the executor: submit.rs's plus `result_timeout`, so a
// worker that died would show up as a timeout here, not as a hang.
use crate::result_timeout::ThreadPoolExecutor;

pub const SECTION: Section = Section::new(
    "exceptions",
    "future.result() re-raising the worker's exception",
    "an Err and a panic reach the caller; the pool lives on",
    run,
)
.main(|| {
    main();
    std::process::ExitCode::SUCCESS
});

fn run() -> SectionResult {
    let default_hook = std::panic::take_hook();
    one_line_panics();
    let outcome = submit_and_see();
    std::panic::set_hook(default_hook);
    outcome
}

fn submit_and_see() -> SectionResult {
    let executor = ThreadPoolExecutor::new(2)?;

    let ok = executor.submit(|| divide(10, 2));
    let failed = executor.submit(|| divide(10, 0));
    let panicked = executor.submit(|| parse_or_panic("ten"));

    // result() -> Err only if the task panicked; Ok(Err(e)) is the task's own error.
    match ok.result()? {
        Ok(v) => println!("  divide(10, 2)         -> {v}"),
        Err(e) => bail!("10 / 2 failed: {e}"),
    }
    match failed.result()? {
        Ok(v) => bail!("10 / 0 gave {v}"),
        Err(e) => println!("  divide(10, 0)         -> task returned Err: {e}"),
    }
    match panicked.result() {
        Ok(v) => bail!("parse(\"ten\") gave {v}"),
        Err(e) => println!("  parse_or_panic(\"ten\") -> result() is Err: {e}"),
    }

    // The pool still has both workers: eight more jobs, in pairs that meet at a barrier
    // of two, so each pair needs both threads alive at once.
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..8u32)
        .map(|i| {
            let barrier = barrier.clone();
            executor.submit(move || {
                barrier.wait();
                let thread = std::thread::current().name().map(str::to_owned);
                (parse_or_panic(&i.to_string()), thread.unwrap_or_default())
            })
        })
        .collect();
    let mut threads = BTreeSet::new();
    for (i, handle) in (0..8u32).zip(handles) {
        let (value, thread) = handle
            .result_timeout(Duration::from_secs(10))
            .context("a worker is gone: the pairs could not meet")?;
        anyhow::ensure!(value == i, "job {i} returned {value}");
        threads.insert(thread);
    }
    println!("  then 8 more jobs, in pairs that need both workers at once, ran on {threads:?}");
    takeaway(
        "an Err is a value the task returns; a panic is caught per job; either way the pool survives",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_value_reaches_the_caller() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let inner = executor.submit(|| divide(1, 0)).result().unwrap();
        assert!(inner.unwrap_err().to_string().contains("ZeroDivisionError"));
    }

    #[test]
    fn a_panic_reaches_the_caller_with_its_message() {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let err = executor
            .submit(|| parse_or_panic("x"))
            .result()
            .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err:#}");
        assert!(err.to_string().contains("InvalidDigit"), "{err:#}");
    }

    #[test]
    fn every_worker_survives_panics() {
        // Two panics on a pool of two, then two jobs that can only finish if two workers
        // run them at once (a barrier of two): both threads are still alive.
        let executor = ThreadPoolExecutor::new(2).unwrap();
        for _ in 0..2 {
            assert!(executor.submit(|| parse_or_panic("bad")).result().is_err());
        }
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                executor.submit(move || b.wait().is_leader())
            })
            .collect();
        let leaders = handles
            .into_iter()
            .map(|h| h.result().unwrap())
            .filter(|&leader| leader)
            .count();
        assert_eq!(leaders, 1);
    }

    #[test]
    fn panic_message_reads_both_kinds_of_payload() {
        let text: Box<dyn std::any::Any + Send> = Box::new("static text");
        let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("formatted 7"));
        assert_eq!(panic_message(&*text), "static text");
        assert_eq!(panic_message(&*owned), "formatted 7");
    }
}
