//! `multiprocessing.Pipe()` -> two ipc-channels, one each way; the child sends its
//! `IpcSender` to the parent so that both ends can talk.
//!
//! Python:
//!     def child(conn):
//!         while (n := conn.recv()) is not None:
//!             conn.send(n * n)
//!         conn.close()
//!     if __name__ == "__main__":
//!         parent_conn, child_conn = Pipe()
//!         p = Process(target=child, args=(child_conn,)); p.start()
//!         parent_conn.send(7); print(parent_conn.recv())   # 49
//!         parent_conn.send(None); p.join()
//!
//! Rust: an ipc-channel is one-way, so a duplex pipe is two of them. The child creates its
//! inbox and sends the `IpcSender` to it back to the parent (a sender is data: it can
//! travel in a message); the parent answers with the sender of its own inbox. From then on
//! each end holds `(IpcSender<Out>, IpcReceiver<In>)`, both typed: sending the wrong kind
//! of message does not compile, where Python would unpickle whatever arrives.
//! `Drop` closes a connection (Python's `conn.close()`); the other end's `recv` then
//! returns `Disconnected`.
//!
//! Watch: every reply comes from the child's pid; in the demo, one round trip (send, the
//! child wakes, replies, the parent wakes) costs tens of microseconds.
//!
//! Run only this: cargo run -p multiprocessing-demo -- pipe
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::process::Child;

use anyhow::Context;
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};

/// Parent -> child.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    /// The parent's inbox: the child's way back.
    Hello(IpcSender<ToParent>),
    Square(u64),
    /// Python's `conn.send(None)`: no more work.
    Close,
}

/// Child -> parent.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum ToParent {
    Ready { pid: u32 },
    Squared { n: u64, square: u64, pid: u32 },
    Bye { handled: u64 },
}

/// The child's end, given its inbox: answer every `Square` until `Close`.
pub fn child_end(inbox: IpcReceiver<ToChild>) -> anyhow::Result<()> {
    let ToChild::Hello(to_parent) = handshake::recv(&inbox)? else {
        anyhow::bail!("the parent must say Hello first");
    };
    let pid = std::process::id();
    to_parent.send(ToParent::Ready { pid })?;
    let mut handled = 0;
    loop {
        match inbox.recv().context("the parent hung up")? {
            ToChild::Square(n) => {
                handled += 1;
                to_parent.send(ToParent::Squared {
                    n,
                    square: n * n,
                    pid,
                })?;
            }
            ToChild::Close => break,
            ToChild::Hello(_) => anyhow::bail!("Hello twice"),
        }
    }
    to_parent.send(ToParent::Bye { handled })?;
    Ok(())
}

/// The parent's end of the pipe.
pub struct Conn {
    pub send: IpcSender<ToChild>,
    pub recv: IpcReceiver<ToParent>,
    pub child: Child,
    pub child_pid: u32,
}

/// `Pipe()` + `Process(target=child, args=(child_conn,)).start()`: `start` starts the
/// child and returns it with the sending end of its inbox.
pub fn open(
    start: impl FnOnce() -> anyhow::Result<(Child, IpcSender<ToChild>)>,
) -> anyhow::Result<Conn> {
    let (child, send) = start()?;
    let (to_parent, recv) = ipc::channel()?;
    send.send(ToChild::Hello(to_parent))?;
    let ToParent::Ready { pid } = handshake::recv(&recv)? else {
        anyhow::bail!("the child must say Ready first");
    };
    Ok(Conn {
        send,
        recv,
        child,
        child_pid: pid,
    })
}

impl Conn {
    /// `conn.send(n); conn.recv()`.
    pub fn square(&self, n: u64) -> anyhow::Result<u64> {
        self.send.send(ToChild::Square(n))?;
        match handshake::recv(&self.recv)? {
            ToParent::Squared { n: m, square, .. } if m == n => Ok(square),
            other => anyhow::bail!("expected the square of {n}, got {other:?}"),
        }
    }

    /// `conn.send(None); p.join()`: returns how many requests the child handled.
    pub fn close(mut self) -> anyhow::Result<u64> {
        self.send.send(ToChild::Close)?;
        let ToParent::Bye { handled } = handshake::recv(&self.recv)? else {
            anyhow::bail!("expected Bye");
        };
        let status = handshake::join(&mut self.child)?; // it said Bye: it is exiting
        anyhow::ensure!(status.success(), "the pipe child failed: {status}");
        Ok(handled)
    }
}

/// The twin of `if __name__ == "__main__":`: a child (`--role pipe-child SERVER`) squares
/// what it is sent; the parent opens the pipe, sends three numbers and closes it.
fn main() -> anyhow::Result<()> {
    if let Some((_, server)) = handshake::role() {
        return child_end(handshake::connect(&server)?); // the only role here
    }
    let conn = open(|| handshake::start(handshake::this_program("pipe-child")?))?;
    println!(
        "parent pid {} <-> child pid {}",
        std::process::id(),
        conn.child_pid
    );
    for n in [3, 7, 12] {
        println!("sent {n}, the child replied {}", conn.square(n)?);
    }
    println!("the child handled {} requests", conn.close()?);
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};

use crate::child;

pub const SECTION: Section = Section::new(
    "pipe",
    "parent_conn, child_conn = multiprocessing.Pipe()",
    "two typed channels, one each way: the child mails its sender to the parent",
    run,
)
.main(|| main().report());

/// `--role pipe-child SERVER`: `main`'s child branch.
pub fn child_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| child_end(handshake::connect(server)?))
}

fn open_pipe() -> anyhow::Result<Conn> {
    open(|| handshake::start(child::command("pipe-child")?))
}

fn run() -> SectionResult {
    let conn = open_pipe()?;
    println!(
        "  parent pid {} <-> child pid {}",
        std::process::id(),
        conn.child_pid
    );
    for n in [3, 7, 12] {
        let sq = conn.square(n)?;
        anyhow::ensure!(sq == n * n, "wrong square");
        println!(
            "  parent sent {n:>2}, child {} replied {sq}",
            conn.child_pid
        );
    }
    let rounds = 2_000;
    let (all_right, took) = timed(|| -> anyhow::Result<bool> {
        let mut ok = true;
        for n in 0..rounds {
            ok &= conn.square(n)? == n * n;
        }
        Ok(ok)
    });
    anyhow::ensure!(all_right?, "a wrong square in the round trips");
    let handled = conn.close()?;
    anyhow::ensure!(handled == rounds + 3, "the child handled {handled}");
    figure(
        format!("round trip (avg of {rounds})"),
        Secs(took / rounds as u32),
    );
    figure("requests the child handled", handled);
    takeaway(
        "a duplex Pipe is two typed channels; the child mails its sender to the parent to open the way back",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_talk_and_close_cleanly() {
        let conn = open_pipe().unwrap();
        assert_ne!(conn.child_pid, std::process::id());
        assert_eq!(conn.square(9).unwrap(), 81);
        assert_eq!(conn.square(0).unwrap(), 0);
        assert_eq!(conn.close().unwrap(), 2);
    }

    #[test]
    fn the_parent_hanging_up_ends_the_child_with_an_error() {
        let mut conn = open_pipe().unwrap();
        // Swap our sender for one to nowhere: the child's inbox loses its last sender.
        drop(std::mem::replace(&mut conn.send, ipc::channel().unwrap().0));
        let status = handshake::join(&mut conn.child).unwrap();
        assert_eq!(status.code(), Some(1), "recv saw Disconnected");
    }

    #[test]
    fn a_child_whose_parent_hangs_up_before_hello_fails_cleanly() {
        let (mut c, inbox) =
            handshake::start::<ToChild>(child::command("pipe-child").unwrap()).unwrap();
        drop(inbox);
        assert_eq!(handshake::join(&mut c).unwrap().code(), Some(1));
    }
}
