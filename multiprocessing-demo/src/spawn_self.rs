//! `if __name__ == "__main__":` and `Process(target=f, args=(conn,))` -> the program starts
//! itself again with `--role NAME SERVER`, and the child connects back through an
//! `IpcOneShotServer`: the handshake (handshake.rs) every later multiprocessing lesson uses.
//!
//! Python:
//!     def greet(conn, name):                 # runs in the child
//!         conn.send(f"hello {name} from pid {os.getpid()}")
//!
//!     if __name__ == "__main__":             # the child imports this file: it skips this
//!         parent_conn, child_conn = Pipe()
//!         p = Process(target=greet, args=(child_conn, "world"))
//!         p.start()
//!         print(parent_conn.recv())
//!         p.join(timeout=10)
//!
//! Rust cannot send a function and its arguments to a new process, so the child is this
//! program started again with `--role greeter SERVER`, and `main` looks for that first: the
//! twin of `if __name__ == "__main__":`, turned around (the child takes the branch). The
//! child inherits no pipe either: SERVER names an `IpcOneShotServer` the parent opened; the
//! child connects to it and sends the sending end of its own inbox. From then on the
//! parent can send it anything serialisable, its way back (an `IpcSender`) included. A
//! child that exits before connecting, or never connects, is an error the parent reports
//! (killing it if need be), never a wait without end.
//!
//! Watch: the greeting comes from another pid; the child that exits without connecting is
//! reported at once (in the demo, one that hangs is killed after the wait it was given).
//!
//! Run only this: cargo run -p multiprocessing-demo -- spawn-self
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::process::Command;

use ipc_channel::ipc::{self, IpcSender};
use serde::{Deserialize, Serialize};

/// What the parent sends the child: a name, and where to send the greeting.
#[derive(Serialize, Deserialize)]
pub struct Greet {
    name: String,
    reply: IpcSender<String>,
}

/// The child's side, `--role greeter SERVER`: connect, take one request, answer it.
pub fn greeter(server: &str) -> anyhow::Result<()> {
    let inbox = handshake::connect::<Greet>(server)?;
    let Greet { name, reply } = handshake::recv(&inbox)?;
    reply.send(format!("hello {name} from pid {}", std::process::id()))?;
    Ok(())
}

/// The parent's side: start `child` (this program as `--role greeter`), send it `name`,
/// return its greeting, join it.
pub fn greet_in_child(child: Command, name: &str) -> anyhow::Result<String> {
    let (mut child, inbox) = handshake::start::<Greet>(child)?; // p.start()
    let (reply, greetings) = ipc::channel()?;
    inbox.send(Greet {
        name: name.to_owned(),
        reply,
    })?;
    let greeting = handshake::recv(&greetings)?; // parent_conn.recv()
    let status = handshake::join(&mut child)?; // p.join(timeout=10)
    anyhow::ensure!(status.success(), "the greeter failed: {status}");
    Ok(greeting)
}

/// The twin of `if __name__ == "__main__":`: a child takes its role's branch, the parent
/// greets through a child, then starts one that exits without connecting.
fn main() -> anyhow::Result<()> {
    match handshake::role() {
        Some((role, server)) if role == "greeter" => return greeter(&server),
        Some((role, _)) if role == "noop" => return Ok(()), // exits without connecting
        Some((role, _)) => anyhow::bail!("no role {role} in this program"),
        None => {} // the parent
    }
    println!("parent pid {}", std::process::id());
    let greeting = greet_in_child(handshake::this_program("greeter")?, "world")?;
    println!("the child said: {greeting}");
    match handshake::start::<Greet>(handshake::this_program("noop")?) {
        Ok(_) => anyhow::bail!("the noop child connected"),
        Err(e) => println!("a child that exits without connecting: {e}"),
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;
use std::time::Duration;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed};

use crate::child;

pub const SECTION: Section = Section::new(
    "spawn-self",
    "if __name__ == \"__main__\": Process(target=f, args=(conn,))",
    "the program starts itself with --role; the child connects back through a one-shot server",
    run,
)
.main(|| main().report());

/// `--role greeter SERVER`.
pub fn greeter_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, greeter)
}

/// A child that never connects and never exits: `sleep`, given the server name as `$0`.
fn hanging_child() -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", "exec sleep 60"]);
    command
}

/// How long the section lets the hanging child take before it is killed.
const SHORT_PATIENCE: Duration = Duration::from_millis(300);

fn run() -> SectionResult {
    let rounds = 20;
    let (greeted, with_handshake) = timed(|| -> anyhow::Result<()> {
        for _ in 0..rounds {
            let greeting = greet_in_child(child::command("greeter")?, "world")?;
            anyhow::ensure!(greeting.starts_with("hello world from pid "), "{greeting}");
        }
        Ok(())
    });
    greeted?;
    let (bare, without) = timed(|| -> anyhow::Result<()> {
        for _ in 0..rounds {
            handshake::join(&mut child::command("noop")?.spawn()?)?;
        }
        Ok(())
    });
    bare?;
    let (quit, to_report) = timed(|| handshake::start::<Greet>(child::command("noop")?));
    let (hung, to_kill) =
        timed(|| handshake::start_within::<Greet>(hanging_child(), SHORT_PATIENCE));
    let (Err(quit), Err(hung)) = (quit, hung) else {
        anyhow::bail!("a child that never connects was taken for connected");
    };
    println!(
        "  parent pid {}, {rounds} children each way",
        std::process::id()
    );
    figure("spawn + join, no handshake", Secs(without / rounds));
    figure(
        "spawn + handshake + greeting + join",
        Secs(with_handshake / rounds),
    );
    println!("  a child that exits without connecting: {quit}");
    figure("  reported after", Secs(to_report));
    println!(
        "  a child that hangs ({} given): {hung}",
        Secs(SHORT_PATIENCE)
    );
    figure("  killed after", Secs(to_kill));
    let bounded = Evidence::new(
        to_report < Duration::from_secs(1) && to_kill < SHORT_PATIENCE + Duration::from_secs(1),
        "the exited child reported within 1 s, the hanging one killed within 1 s of its limit",
        format!("{} and {}", Secs(to_report), Secs(to_kill)),
    );
    takeaway_if(
        &bounded,
        "a program starts itself as a child with --role (its `if __name__ == \"__main__\":`), the child connects back \
         with its inbox; a child that never connects is an error, not a hang",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_comes_from_another_process() {
        let greeting = greet_in_child(child::command("greeter").unwrap(), "tests").unwrap();
        let pid: u32 = greeting
            .strip_prefix("hello tests from pid ")
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("{greeting}"));
        assert_ne!(pid, std::process::id());
    }

    #[test]
    fn a_child_that_exits_without_connecting_is_an_error_not_a_hang() {
        let started = handshake::start::<Greet>(child::command("noop").unwrap());
        let err = started.err().expect("must fail").to_string();
        assert!(err.contains("never connected: exit status: 0"), "{err}");
    }

    #[test]
    fn a_child_that_never_connects_is_killed_after_the_wait() {
        let started = handshake::start_within::<Greet>(hanging_child(), Duration::from_millis(50));
        let err = started.err().expect("must fail").to_string();
        assert!(err.contains("never connected: signal: 9"), "{err}");
    }

    #[test]
    fn the_parent_has_no_role() {
        assert_eq!(handshake::role(), None);
    }
}
