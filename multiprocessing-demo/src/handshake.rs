//! How a Rust program starts itself as a child process and gets a channel to it: the file
//! to copy beside every multiprocessing lesson that says `Copy beside it: handshake.rs`
//! (each includes it with `#[path = "handshake.rs"] mod handshake;`). The lesson
//! `spawn-self` (spawn_self.rs) walks through it.
//!
//! Python's `Process(target=f, args=(q,))` gives the child a queue it inherits. A Rust child
//! is this program started again (`std::env::current_exe()`), so it inherits nothing: the
//! parent opens a one-shot server, puts its name on the child's command line, and the child
//! connects to it and sends the sending end of its own inbox.
//!
//!     parent                                    child: this program --role NAME SERVER
//!     IpcOneShotServer::new() -> SERVER
//!     start `--role NAME SERVER`   ---------->  let (tx, inbox) = ipc::channel()
//!                                               IpcSender::connect(SERVER).send(tx)
//!     accept() -> the child's tx   <----------
//!     tx.send(anything serialisable) -------->  inbox.recv()
//!
//! From then on the parent can send any serialisable value, more `IpcSender`s (the child's
//! way back) and `IpcSharedMemory` included. Every wait here is bounded by [`PATIENCE`]: a
//! child that exits before it connects, or has not connected in time, is killed and
//! reported, never waited on forever.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Serialize, de::DeserializeOwned};

/// The longest any wait on the other process lasts before it is called stuck.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// `if __name__ == "__main__":` turned around: `Some((NAME, SERVER))` when this process was
/// started as a child with `--role NAME SERVER`, `None` in the parent.
pub fn role() -> Option<(String, String)> {
    let args: Vec<String> = std::env::args().collect();
    match &args[..] {
        [_, flag, name, server, ..] if flag == "--role" => Some((name.clone(), server.clone())),
        _ => None,
    }
}

/// This program, to be started again as a child that plays `role`.
pub fn this_program(role: &str) -> std::io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--role", role]);
    Ok(command)
}

/// The parent's side: start `child` (this program with `--role NAME`) with the server's
/// name after it, and wait until the child has sent the sending end of its inbox.
pub fn start<T>(child: Command) -> anyhow::Result<(Child, IpcSender<T>)>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    start_within(child, PATIENCE)
}

/// [`start`], giving up on the child after `patience`: it is killed and that is an error.
pub fn start_within<T>(
    mut command: Command,
    patience: Duration,
) -> anyhow::Result<(Child, IpcSender<T>)>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let (server, name) = IpcOneShotServer::<IpcSender<T>>::new().context("an IPC server")?;
    let mut child = command
        .arg(&name)
        .stdin(Stdio::null())
        .spawn()
        .context("starting a child")?;
    // `accept` has no time limit, so it waits on a thread of its own while this one
    // watches the clock and the child.
    let (accepted_tx, accepted) = mpsc::channel();
    std::thread::spawn(move || accepted_tx.send(server.accept()));
    let started = Instant::now();
    loop {
        let exited = match accepted.recv_timeout(Duration::from_millis(5)) {
            Ok(first) => return Ok((child, first.context("the child's first message")?.1)),
            Err(RecvTimeoutError::Disconnected) => bail!("the accepting thread is gone"),
            Err(RecvTimeoutError::Timeout) => child.try_wait()?,
        };
        if exited.is_some() || started.elapsed() > patience {
            // Wake the accepting thread (connect ourselves and hang up) and wait for its
            // answer: the inbox of a child that connected just before it exited, or else an
            // error, the server then gone and its socket's folder removed.
            drop(IpcSender::<IpcSender<T>>::connect(name));
            if let Ok(Ok((_, inbox))) = accepted.recv_timeout(Duration::from_secs(1)) {
                return Ok((child, inbox));
            }
            if exited.is_none() {
                child.kill()?;
            }
            let status = child.wait()?; // it has exited, or was just killed
            bail!("the child (pid {}) never connected: {status}", child.id());
        }
    }
}

/// The child's side: make an inbox and send its sending end to the parent's server.
pub fn connect<T>(server: &str) -> anyhow::Result<IpcReceiver<T>>
where
    T: Serialize + DeserializeOwned,
{
    let (tx, inbox) = ipc::channel()?;
    IpcSender::<IpcSender<T>>::connect(server.to_owned())
        .with_context(|| format!("connecting to the parent at {server}"))?
        .send(tx)?;
    Ok(inbox)
}

/// `rx.recv()`, giving up after [`PATIENCE`]: the other process is stuck or gone.
pub fn recv<T>(rx: &IpcReceiver<T>) -> anyhow::Result<T>
where
    T: Serialize + DeserializeOwned,
{
    match rx.try_recv_timeout(PATIENCE) {
        Err(ipc_channel::TryRecvError::Empty) => bail!("no message within {PATIENCE:?}"),
        received => Ok(received?),
    }
}

/// `p.join(timeout)` then `p.kill()`: wait at most [`PATIENCE`] for the child to exit; one
/// still running then is killed, and that is an error.
pub fn join(child: &mut Child) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill()?;
    child.wait()?;
    bail!(
        "the child (pid {}) did not exit in {PATIENCE:?}: killed",
        child.id()
    )
}
