//! The decision matrix's "real-time WebSocket server" -> a broadcast chat over TCP lines with
//! `tokio::sync::broadcast`.
//!
//! Python:
//!     clients = set()
//!     async def handle(reader, writer):
//!         clients.add(writer)
//!         try:
//!             while line := await reader.readline():
//!                 for w in clients - {writer}:      # fan out to everyone else
//!                     w.write(line)
//!         finally:
//!             clients.discard(writer)
//!
//! Rust: instead of a shared set of writers behind a lock, each connection's task
//! `subscribe()`s to one `broadcast` channel and `select!`s between its socket (a line to
//! send to everyone) and its receiver (a line to pass on to its client). A receiver that
//! falls more than the channel's capacity behind gets `Lagged(n)` and skips ahead instead of
//! slowing the others: a slow client cannot stall the room. The same shape carries
//! WebSocket frames (tokio-tungstenite, axum's `ws`).
//!
//! Watch: three clients join, each says three lines, each receives the six lines of the
//! others in the order they were said, then all three leave; the server saw every join and
//! every leave.
//!
//! Run only this: cargo run -p asyncio-demo -- broadcast
//! Copy it: cargo add anyhow@1 tracing@0.1 && cargo add tokio@1 --features full

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, broadcast, mpsc, watch};

/// What the server tells the demo about its room.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Joined(u64),
    Left(u64),
}

/// The chat server: every line a client sends goes to every other client as `ID: line`.
pub async fn chat_server(
    listener: TcpListener,
    events: mpsc::UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (room, _) = broadcast::channel::<(u64, String)>(64);
    for id in 1.. {
        let (socket, _) = tokio::select! {
            accepted = listener.accept() => accepted.context("accepting")?,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (room, mut inbox) = (room.clone(), room.subscribe()); // subscribe before talking
        let events = events.clone();
        tokio::spawn(async move {
            let _ = events.send(Event::Joined(id));
            let (reader, mut writer) = socket.into_split();
            let mut lines = BufReader::new(reader).lines();
            let _ = writer.write_all(format!("welcome {id}\n").as_bytes()).await;
            loop {
                tokio::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(text)) => { let _ = room.send((id, text)); }
                        _ => break, // the client left (or its socket failed)
                    },
                    said = inbox.recv() => match said {
                        Ok((from, text)) if from != id => {
                            if writer.write_all(format!("{from}: {text}\n").as_bytes()).await.is_err() {
                                break;
                            }
                        }
                        Ok(_) => {} // our own line
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(client = id, missed, "lagging: skipped ahead");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            let _ = events.send(Event::Left(id));
        });
    }
    Ok(())
}

/// One client: join, wait for everyone, say `lines` lines, read the others' lines, leave.
/// Returns the lines it received (without the sender prefix).
async fn chatter(
    addr: SocketAddr,
    name: String,
    lines: usize,
    others: usize,
    everyone_in: Arc<Barrier>,
) -> anyhow::Result<Vec<String>> {
    let socket = TcpStream::connect(addr).await?;
    let (reader, mut writer) = socket.into_split();
    let mut incoming = BufReader::new(reader).lines();
    let welcome = incoming.next_line().await?.context("no welcome")?;
    anyhow::ensure!(welcome.starts_with("welcome "), "odd welcome: {welcome}");
    everyone_in.wait().await; // nobody talks before everyone is in the room
    for k in 0..lines {
        writer
            .write_all(format!("{name} says {k}\n").as_bytes())
            .await?;
    }
    let mut heard = Vec::new();
    while heard.len() < lines * others {
        let line = incoming.next_line().await?.context("the server hung up")?;
        let (_, text) = line.split_once(": ").context("a line without a sender")?;
        heard.push(text.to_owned());
    }
    Ok(heard) // dropping the socket halves: the client leaves
}

/// `clients` clients saying `lines` lines each; what each one heard.
pub async fn chat(
    addr: SocketAddr,
    clients: usize,
    lines: usize,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let everyone_in = Arc::new(Barrier::new(clients));
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let name = format!("client-{c}");
            let barrier = everyone_in.clone();
            tokio::spawn(async move {
                let heard = chatter(addr, name.clone(), lines, clients - 1, barrier).await;
                heard.map(|h| (name, h))
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await??);
    }
    Ok(out)
}

/// Runs the room on 127.0.0.1 for `clients` clients saying `lines` lines each, then stops
/// it: what each client heard, and every join and leave the server saw.
pub async fn chat_room(
    clients: usize,
    lines: usize,
) -> anyhow::Result<(Vec<(String, Vec<String>)>, Vec<Event>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (events, mut seen) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(chat_server(listener, events, stop_rx));
    let heard = chat(addr, clients, lines).await?;
    stop.send(true)?;
    server.await??;
    // Every connection's task ends (Left) once its client is gone; then the channel closes.
    let mut log = Vec::new();
    let collect = async {
        while let Some(event) = seen.recv().await {
            log.push(event);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), collect).await?;
    Ok((heard, log))
}

/// The twin of `if __name__ == "__main__":` three clients, three lines each.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (heard, events) = chat_room(3, 3).await?;
    for (name, lines) in heard {
        println!("{name} heard: {}", lines.join(" | "));
    }
    println!("the server saw: {events:?}");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "broadcast",
    "real-time server: for w in clients: w.write(line)",
    "a TCP chat room on tokio::sync::broadcast: clients join, talk, leave; every line checked",
    run,
)
.main(|| main().report());

/// Each client heard every other client's lines, each sender's in order, and not its own.
fn check(all: &[(String, Vec<String>)], lines: usize) -> anyhow::Result<()> {
    for (name, heard) in all {
        for (other, _) in all.iter() {
            let from: Vec<&String> = heard
                .iter()
                .filter(|l| l.starts_with(&format!("{other} ")))
                .collect();
            let expected: Vec<String> = (0..lines).map(|k| format!("{other} says {k}")).collect();
            let want = if other == name { 0 } else { lines };
            anyhow::ensure!(
                from.len() == want && from.iter().zip(&expected).all(|(a, b)| *a == b),
                "{name} heard {from:?} from {other}"
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn run() -> SectionResult {
    let (clients, lines) = (3, 3);
    let (outcome, took) = timed_async(chat_room(clients, lines)).await;
    let (all, events) = outcome?;
    check(&all, lines)?;
    let joined = events
        .iter()
        .filter(|e| matches!(e, Event::Joined(_)))
        .count();
    let left = events.len() - joined;
    anyhow::ensure!(
        (joined, left) == (clients, clients),
        "joins {joined}, leaves {left}"
    );
    for (name, heard) in &all {
        println!("  {name} heard: {}", heard.join(" | "));
    }
    let delivered = clients * lines * (clients - 1);
    figure(
        "lines delivered",
        format!(
            "{delivered} ({clients} clients x {lines} lines x {} listeners), all checked",
            clients - 1
        ),
    );
    figure(
        "joins / leaves seen",
        format!("{joined} / {left}, in {}", Secs(took)),
    );
    takeaway(
        "one broadcast channel, one subscriber per connection: the room fans out without a shared lock",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_client_hears_every_other_line_in_order_and_leaves() {
        let (all, events) = chat_room(4, 5).await.unwrap();
        check(&all, 5).unwrap();
        assert!(all.iter().all(|(_, heard)| heard.len() == 15));
        for id in 1..=4 {
            assert!(events.contains(&Event::Joined(id)));
            assert!(events.contains(&Event::Left(id)));
        }
    }

    #[test]
    fn check_catches_a_missing_line_and_an_echo() {
        let all = vec![
            ("a".to_owned(), vec!["b says 0".to_owned()]),
            ("b".to_owned(), vec![]),
        ];
        assert!(check(&all, 1).is_err());
        let echo = vec![
            (
                "a".to_owned(),
                vec!["b says 0".to_owned(), "a says 0".to_owned()],
            ),
            ("b".to_owned(), vec!["a says 0".to_owned()]),
        ];
        assert!(check(&echo, 1).is_err());
    }
}
