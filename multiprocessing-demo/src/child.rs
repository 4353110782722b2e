//! What the multiprocessing sections share below their markers (not a lesson: the lesson is
//! handshake.rs, walked through by spawn_self.rs): this demo binary as a child (found under
//! `cargo test` too), a role that ends quietly when its parent is gone, and the
//! temporary-folder check ipc-channel's sockets need.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
pub use common::ipc_temp::check_temp_dir;

/// This demo binary with `--role ROLE`: `handshake::this_program`, except that under
/// `cargo test` the current executable is the test harness, and the demo is beside it.
pub fn command(role: &str) -> anyhow::Result<Command> {
    Ok(common::child::role_command(env!("CARGO_PKG_NAME"), role)?)
}

/// A role's body, given the parent's server name (the role's last argument:
/// `handshake::start` puts it after any others).
///
/// A child whose parent has gone (killed, or ended by `| head`) fails on its next message
/// (`parent hung up`, `Broken pipe`). Nobody is left to read that, and the user's terminal
/// should not show it: such a child ends quietly.
pub fn serve(args: &[String], body: impl FnOnce(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let parent = std::os::unix::process::parent_id();
    let server = args
        .last()
        .context("this role needs the parent's IPC server name")?;
    let outcome = body(server);
    if outcome.is_err() && parent_gone(parent) {
        tracing::debug!("the parent is gone: ending quietly");
        return Ok(());
    }
    outcome
}

/// This process's parent is no longer `parent` (it was re-parented: the parent died).
/// A dead parent's channels close a moment before its children are re-parented, so
/// this looks for up to 200 ms.
fn parent_gone(parent: u32) -> bool {
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        if std::os::unix::process::parent_id() != parent {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
