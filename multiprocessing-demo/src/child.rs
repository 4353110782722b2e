//! The plumbing every section that talks to a child process shares (not a lesson of its
//! own; read a section first).
//!
//! The handshake, both sides:
//!
//! ```text
//! parent                                   child (this binary, --role NAME SERVER ARGS...)
//! IpcOneShotServer::new() -> SERVER name
//! spawn the child with SERVER  ----------> let (tx, inbox) = ipc::channel()
//!                                          IpcSender::connect(SERVER).send(tx)
//! accept() -> the child's tx   <---------- (its inbox's sending end)
//! tx.send(whatever the child needs) -----> inbox.recv()
//! ```
//!
//! After that the parent can send anything serialisable, including more `IpcSender`s (the
//! child's way back) and `IpcSharedMemory`. Every wait is bounded: a child that dies before
//! it connects, or never answers, is killed and reported, it never hangs the run.
//!
//! The lessons do not import this file: a lesson takes a closure that starts a child and
//! returns `(Child, IpcSender<T>)` (the parent side, built here by [`starter`]), or the
//! child's inbox `IpcReceiver<T>` (the child side, handed over by [`serve`]).

use std::process::{Child, Stdio};

pub use common::ipc_temp::check_temp_dir;
use common::ipc_temp::without_ipc_panic;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::awake::AwakeClock;
use common::child::role_command;
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

/// How long any single wait on a child may take before the child is declared stuck.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Start `--role role SERVER args...` and wait (bounded) until it has sent its inbox.
/// Returns the child and the sending end of its inbox.
pub fn start<T>(role: &str, args: &[String]) -> anyhow::Result<(Child, IpcSender<T>)>
where
    T: Serialize + for<'de> Deserialize<'de> + Send + 'static,
{
    let (server, name) = one_shot_server::<IpcSender<T>>()?;
    let mut child = role_command(env!("CARGO_PKG_NAME"), role)?
        .arg(&name)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting a '{role}' child"))?;
    tracing::debug!(pid = child.id(), role, "child started");

    // `accept` blocks with no timeout, so it waits on a helper thread while this one watches
    // the clock and the child.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(server.accept());
    });
    let mut waited = AwakeClock::start(Duration::from_secs(1));
    loop {
        match done_rx.recv_timeout(Duration::from_millis(2)) {
            Ok(accepted) => {
                let (_, inbox) = accepted.context("the child's first message")?;
                return Ok((child, inbox));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("accept thread vanished"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let exited = child.try_wait()?;
        if exited.is_some() || waited.read() > PATIENCE {
            // Give a message already on its way a moment, then unblock `accept` by
            // connecting and hanging up ourselves.
            if let Ok(Ok((_, inbox))) = done_rx.recv_timeout(Duration::from_millis(50)) {
                return Ok((child, inbox));
            }
            drop(IpcSender::<IpcSender<T>>::connect(name));
            let status = match exited {
                Some(status) => status,
                None => {
                    child.kill().ok();
                    child.wait()?
                }
            };
            bail!(
                "'{role}' child (pid {}) never connected: {status}",
                child.id()
            );
        }
    }
}

/// A closure that starts one more `--role role` child each time it is called: what a
/// lesson takes to start its children.
pub fn starter<T>(
    role: &'static str,
    args: Vec<String>,
) -> impl FnMut() -> anyhow::Result<(Child, IpcSender<T>)> + Send + 'static
where
    T: Serialize + for<'de> Deserialize<'de> + Send + 'static,
{
    move || start(role, &args)
}

/// A role's body: connect to the parent named in `args` and hand the inbox to `body`
/// (the lesson's child side).
///
/// A child whose parent has gone (killed, or ended by `| head`) fails on its next message
/// (`parent hung up`, `Broken pipe`). Nobody is left to read that, and the user's terminal
/// should not show it: such a child ends quietly.
pub fn serve<T>(
    args: &[String],
    body: impl FnOnce(IpcReceiver<T>) -> anyhow::Result<()>,
) -> anyhow::Result<()>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let parent = std::os::unix::process::parent_id();
    let outcome = connect(server_arg(args)?).and_then(body);
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

/// The child's side of the handshake: make an inbox, send its sending end to the parent.
pub fn connect<T>(server: &str) -> anyhow::Result<IpcReceiver<T>>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let (tx, inbox) = ipc::channel::<T>().context("IPC channel")?;
    IpcSender::<IpcSender<T>>::connect(server.to_owned())
        .with_context(|| format!("connecting to the parent at {server}"))?
        .send(tx)
        .context("sending the inbox to the parent")?;
    Ok(inbox)
}

/// `join()`: wait (bounded) for the child to exit and return its status. The lessons wait
/// with `Child::wait` once their child has said goodbye; tests use this, so a broken child
/// fails a test instead of hanging it.
#[cfg(test)]
pub fn join(child: &mut Child) -> anyhow::Result<std::process::ExitStatus> {
    common::child::wait_or_kill(child, PATIENCE)?
        .with_context(|| format!("child {} did not exit in time: killed", child.id()))
}

/// `IpcOneShotServer::new()`, failing in one line where ipc-channel would panic.
///
/// The server's socket goes in a fresh folder under the temporary folder (`TMPDIR`).
/// ipc-channel 0.23 asserts, inside the crate, that making that folder cannot fail: a
/// missing, read-only or full `TMPDIR` ends in `assertion failed: e.kind() ==
/// io::ErrorKind::ConnectionReset` and a backtrace. So the folder is checked first
/// ([`check_temp_dir`]), and a panic that still comes (the folder vanished in between) is
/// caught, kept off the terminal and returned as an error.
pub fn one_shot_server<T>() -> anyhow::Result<(IpcOneShotServer<T>, String)>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    check_temp_dir()?;
    without_ipc_panic(IpcOneShotServer::<T>::new)
        .and_then(|made| made.map_err(anyhow::Error::from))
        .with_context(|| {
            format!(
                "creating an IPC server in {}",
                std::env::temp_dir().display()
            )
        })
}

/// The first command-line argument of a role: the parent's IPC server name.
pub fn server_arg(args: &[String]) -> anyhow::Result<&str> {
    args.first()
        .map(String::as_str)
        .context("this role needs the parent's IPC server name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_never_connects_is_an_error_not_a_hang() {
        // `noop` exits at once without touching the server.
        let Err(err) = start::<u32>("noop", &[]) else {
            panic!("must fail")
        };
        assert!(err.to_string().contains("never connected"), "{err}");
    }
}
