//! Every section's lesson part, compiled alone.
//!
//! A section file is its `//!` header and lesson, then a line that is exactly
//! `// --- run and measure ---`, then the `run()` that measures and prints, then its tests.
//! The part above the line is what a reader copies into a project of their own, so it must
//! compile with only the crates it teaches. `build.rs` copies the lesson part of every
//! section file in the workspace into this crate, one module each
//! (`asyncio_demo::semaphore`), and this crate depends on third-party crates only: a lesson part that
//! names `common` (or another file of its crate) fails to build here, with its file named
//! in the error. It runs in `.ci/run` through `cargo clippy --workspace`.
//!
//! Items a lesson declares for its `run()` or tests are unused here; that is fine.
#![allow(dead_code)]

include!(concat!(env!("OUT_DIR"), "/lessons.rs"));
