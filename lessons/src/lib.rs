//! Every section's lesson part, compiled alone, and run.
//!
//! A section file is its `//!` header and lesson, then a line that is exactly
//! `// --- run and measure ---`, then the `run()` that measures and prints, then its tests.
//! The part above the line is what a reader copies into a project of their own: pasted as
//! `src/main.rs` of `cargo new x`, after the header's `Copy it:` line (`cargo add ...`), it
//! must build and run. `build.rs` copies the lesson part of every section file into this
//! crate, one module each (`asyncio_demo::semaphore`), and this crate depends on
//! third-party crates only: a lesson part that names `common` (or another file of its
//! crate) fails to build here, with its file named in the error. `build.rs` also checks each
//! part's `fn main` and its `Copy it:` line against the crates and features it uses
//! ([`check`]). It runs in `.ci/run` through `cargo clippy --workspace`.
//!
//! The `lesson` binary runs one lesson's `main` (`LESSON=asyncio_demo::gather lesson`), and
//! `tests/mains.rs` runs every one of them and checks its exit code.
//!
//! Items a lesson declares for its `run()` or tests are unused here; that is fine.
#![allow(dead_code)]
// A companion file (`Copy beside it:`) is included by each lesson that needs it.
#![allow(clippy::duplicate_mod)]

pub mod check;

include!(concat!(env!("OUT_DIR"), "/lessons.rs"));
