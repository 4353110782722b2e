//! What every demo shares and no lesson is about.
//!
//! - [`workload`]: CPU-bound and I/O-bound work with known answers.
//! - [`timing`]: stopwatch, speedup, parallel efficiency, printing durations and sizes.
//! - [`timeline`]: who ran when, drawn in the terminal (also for spans from other processes).
//! - [`memory`]: peak resident memory of this process and of a finished child.
//! - [`fixture`]: a real local HTTP server (axum on 127.0.0.1, port 0).
//! - [`cli`]: the section runner every demo binary uses.
//! - [`print`]: figures and takeaways; [`claim`]: a takeaway printed as fact only when this
//!   run's figures support it.
//! - [`awake`]: a clock for bounded waits that skips the time the process was stopped.
//! - [`child`]: this binary re-run as a child process, with bounded waits.
//! - [`ipc_temp`]: a `TMPDIR` that can hold ipc-channel's sockets, checked in one line.
//! - [`gauge`]: how many are inside a block now and at most (an RAII counter).
//! - [`procs`]: the process table from `/proc`: this run's processes and their CPU.
//! - [`trace`]: logging with thread names (`RUST_LOG`) and trace files (`--trace FILE`).
//! - [`python`]: a section's Python twin, run beside it with `--python`.
//! - [`testing`]: the checks every demo's integration test makes on its binary;
//!   [`compile_fail`]: a snippet a header quotes, compiled with rustc to check the refusal.
//! - [`supervise`]: clean stops (the runner re-runs the demo with a private `TMPDIR` and
//!   removes it however the run ends); `stdio`: standard output or error that cannot be
//!   written is a failure, a closed pipe a quiet stop.

pub mod awake;
pub mod child;
pub mod claim;
pub mod cli;
pub mod compile_fail;
pub mod fixture;
pub mod gauge;
pub mod ipc_temp;
pub mod memory;
pub mod print;
pub mod procs;
pub mod python;
mod stdio;
pub mod supervise;
pub mod testing;
pub mod timeline;
pub mod timing;
pub mod trace;
pub mod workload;
