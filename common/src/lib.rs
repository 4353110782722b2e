//! What every demo shares and no lesson is about.
//!
//! - [`workload`]: CPU-bound and I/O-bound work with known answers.
//! - [`timing`]: stopwatch, speedup, parallel efficiency, printing durations and sizes.
//! - [`timeline`]: who ran when, drawn in the terminal (also for spans from other processes).
//! - [`memory`]: peak resident memory of this process and of a finished child.
//! - [`fixture`]: a real local HTTP server (axum on 127.0.0.1, port 0).
//! - [`cli`]: the section runner every demo binary uses.
//! - [`trace`]: logging with thread names (`RUST_LOG`) and trace files (`--trace FILE`).
//! - [`testing`]: the checks every demo's integration test makes on its binary.

pub mod cli;
pub mod fixture;
pub mod memory;
pub mod testing;
pub mod timeline;
pub mod timing;
pub mod trace;
pub mod workload;
