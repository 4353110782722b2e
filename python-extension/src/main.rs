//! Python threads on a Rust extension module. The module is this crate's library
//! (`src/release_gil.rs`, built as `rust_cpu`); this binary copies it beside the driver
//! `python/threads.py`, runs that with a Python interpreter and prints the figures.
//! `cargo run -p python-extension -- --list` shows the section.

use std::process::ExitCode;

use common::cli::{Demo, Section};

mod measure;

const SECTIONS: &[Section] = &[measure::SECTION];

fn main() -> ExitCode {
    Demo {
        name: "python-extension",
        about: "Keep Python, move the hot loop to Rust: a PyO3 module that releases the GIL, run from Python threads",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
