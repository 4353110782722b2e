//! Runs one lesson's `main`, as a copied lesson runs: `LESSON=asyncio_demo::gather lesson`.
//!
//! The name comes from the environment, not the command line, so that a lesson that starts
//! itself again as a child process (`current_exe() --role worker`) reaches the same
//! lesson's `main` with its own arguments untouched.

use std::process::ExitCode;

fn main() -> ExitCode {
    let name = std::env::var("LESSON").unwrap_or_default();
    match lessons::run(&name) {
        Some(code) => code,
        None => {
            eprintln!("lesson: set LESSON to one of: {}", lessons::ALL.join(", "));
            ExitCode::from(2)
        }
    }
}
