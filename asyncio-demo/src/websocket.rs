//! The decision matrix's "real-time WebSocket server" -> axum's WebSocket support on the
//! server, one `tokio::sync::broadcast` channel as the room, `tokio-tungstenite` clients.
//!
//! Python (the `websockets` library; aiohttp's `ws` is the same shape):
//!     clients = set()
//!     async def handler(ws):
//!         clients.add(ws)
//!         try:
//!             async for text in ws:                        # a message from this client
//!                 websockets.broadcast(clients - {ws}, text)   # skips clients too slow
//!         finally:
//!             clients.discard(ws)
//!     async with websockets.serve(handler, "127.0.0.1", 8765):
//!         await stop                                       # Ctrl-C
//!     # a client: async with websockets.connect(url) as ws: await ws.send(...); await ws.recv()
//!
//! Rust: the `broadcast` lesson over WebSocket. The upgrade is an extractor
//! (`WebSocketUpgrade`); each connection's task subscribes to the room and `select!`s
//! between a message from its client (to say to everyone) and one from the room (to pass
//! on). The slow-client policy is stated in types and numbers: the room is one ring of the
//! last `capacity` messages, shared by every client (a message is stored once, however many
//! clients there are). A client that falls further behind gets `Lagged(n)`: it is told how
//! many it missed, in its close frame, and dropped. A client that stops reading fills its
//! socket, and the send to it waits: after `send_limit` it is dropped too. Either way its
//! share of the server's memory is bounded: nothing queues up for it.
//!
//! Watch: every client receives every other client's messages, in each sender's order, all
//! counted; the fan-out latency (p50, p99); a client that never reads, dropped while a
//! flood passes it by, with the server's peak memory before and after (the server runs in a
//! process of its own, so its memory is its own); and bytes per client.
//!
//! Run only this: cargo run -p asyncio-demo -- websocket
//! Open it in a browser: cargo run -p asyncio-demo -- websocket --serve
//! A thousand clients: cargo run --release -p asyncio-demo -- websocket --clients 1000

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the room counts: joins, leaves and the policy's drops.
#[derive(Debug, Default)]
pub struct RoomStats {
    pub joined: AtomicU64,
    pub left: AtomicU64,
    /// Dropped for falling more than `capacity` messages behind (told in the close frame).
    pub lagged: AtomicU64,
    /// Dropped for not taking a message within `send_limit` (its socket was full).
    pub stalled: AtomicU64,
}

/// The room: `clients = set()`, as one broadcast channel.
pub struct Room {
    said: broadcast::Sender<(u64, Utf8Bytes)>,
    next_id: AtomicU64,
    send_limit: Duration,
    /// Cancelled to close the room: every session says goodbye and ends.
    pub stop: CancellationToken,
    sessions: TaskTracker,
    pub stats: RoomStats,
}

/// Why a session ended.
enum Leave {
    Left,
    Lagged(u64),
    Stalled,
    Closing,
}

impl Room {
    /// A room that keeps the last `capacity` messages and waits at most `send_limit` for a
    /// client to take one.
    pub fn new(capacity: usize, send_limit: Duration) -> Arc<Room> {
        Arc::new(Room {
            said: broadcast::channel(capacity).0,
            next_id: AtomicU64::new(1),
            send_limit,
            stop: CancellationToken::new(),
            sessions: TaskTracker::new(),
            stats: RoomStats::default(),
        })
    }

    /// One client's connection, from the upgrade to its leaving.
    async fn session(self: Arc<Room>, socket: WebSocket) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut inbox = self.said.subscribe(); // before saying anything
        self.stats.joined.fetch_add(1, Ordering::Relaxed);
        let (mut to_client, mut from_client) = socket.split();
        let welcome = Message::Text(format!("welcome {id}").into());
        let mut leave = match to_client.send(welcome).await {
            Ok(()) => None,
            Err(_) => Some(Leave::Left),
        };
        while leave.is_none() {
            tokio::select! {
                frame = from_client.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let line = format!("{id}: {}", text.as_str());
                        let _ = self.said.send((id, line.into())); // to everyone in the room
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => leave = Some(Leave::Left),
                    Some(Ok(_)) => {} // binary, ping, pong
                },
                said = inbox.recv() => match said {
                    Ok((from, _)) if from == id => {} // its own message
                    Ok((_, line)) => {
                        let send = to_client.send(Message::Text(line));
                        leave = match tokio::time::timeout(self.send_limit, send).await {
                            Ok(Ok(())) => None,
                            Ok(Err(_)) => Some(Leave::Left),
                            Err(_) => Some(Leave::Stalled), // it stopped reading
                        };
                    }
                    Err(RecvError::Lagged(missed)) => leave = Some(Leave::Lagged(missed)),
                    Err(RecvError::Closed) => leave = Some(Leave::Closing),
                },
                () = self.stop.cancelled() => leave = Some(Leave::Closing),
            }
        }
        let (code, reason) = match leave {
            Some(Leave::Lagged(missed)) => {
                self.stats.lagged.fetch_add(1, Ordering::Relaxed);
                (
                    close_code::POLICY,
                    format!("too slow: {missed} messages overwritten before you read them"),
                )
            }
            Some(Leave::Stalled) => {
                self.stats.stalled.fetch_add(1, Ordering::Relaxed);
                (close_code::POLICY, "too slow: not reading".to_owned())
            }
            Some(Leave::Closing) => (close_code::AWAY, "the server is stopping".to_owned()),
            _ => (close_code::NORMAL, String::new()),
        };
        let bye = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        // A client whose socket is full cannot take even this: bounded too.
        let _ = tokio::time::timeout(self.send_limit, to_client.send(bye)).await;
        self.stats.left.fetch_add(1, Ordering::Relaxed);
    } // the socket is dropped: the connection closes
}

/// The longest message a client may send (a bound on what one message costs the server).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Each connection's read buffer (tungstenite's default, 128 KiB, is sized for big messages).
pub const READ_BUFFER: usize = 4 * 1024;

/// `GET /ws`: the upgrade; the session runs as its own task, counted by the room.
async fn join(ws: WebSocketUpgrade, State(room): State<Arc<Room>>) -> Response {
    let counted = room.sessions.token(); // the room waits for it when it closes
    let ws = ws
        .max_message_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER);
    ws.on_upgrade(move |socket| async move {
        room.session(socket).await;
        drop(counted);
    })
}

/// The room's app: `page` (HTML) at `/`, the WebSocket at `/ws`.
pub fn router(room: Arc<Room>, page: &'static str) -> Router {
    Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/ws", get(join))
        .with_state(room)
}

/// Serve the room (and `page` at `/`) until `room.stop` is cancelled; then every session
/// closes (a close frame to each client) and this returns once all of them have ended.
pub async fn serve_room(
    listener: TcpListener,
    room: Arc<Room>,
    page: &'static str,
) -> std::io::Result<()> {
    let stop = room.stop.clone();
    // Real time: each message leaves at once, not held back to be sent with the next one
    // (Nagle's algorithm, against delayed ACKs, would add 40 ms here and there).
    let listener = listener.tap_io(|socket| {
        let _ = socket.set_nodelay(true);
    });
    axum::serve(listener, router(room.clone(), page))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await?;
    room.sessions.close();
    room.sessions.wait().await;
    Ok(())
}

/// A client's connection: `websockets.connect(url)`.
pub type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Join the room at `url` (`ws://HOST:PORT/ws`): connect and read the welcome.
pub async fn join_room(url: &str) -> anyhow::Result<Client> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true) // no Nagle
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let welcome = ws.next().await.context("no welcome")??;
    anyhow::ensure!(
        welcome.to_text()?.starts_with("welcome "),
        "odd welcome: {welcome}"
    );
    Ok(ws)
}

/// One client in the room: wait for everyone, then `rounds` times say one message and read
/// until it has every other client's message of that round. Each message carries the time
/// it was sent (microseconds since `epoch`, a clock every client shares); every sender's
/// messages must arrive, all of them, in order. Returns the latency of each message heard.
pub async fn talk(
    mut ws: Client,
    rounds: usize,
    others: usize,
    everyone_in: Arc<tokio::sync::Barrier>,
    epoch: Instant,
) -> anyhow::Result<Vec<Duration>> {
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    everyone_in.wait().await; // nobody talks before everyone is in the room
    let mut next_round = std::collections::HashMap::<u64, usize>::new(); // per sender
    let mut per_round = vec![0usize; rounds];
    let mut latencies = Vec::with_capacity(rounds * others);
    for round in 0..rounds {
        let sent_us = epoch.elapsed().as_micros();
        ws.send(WsMessage::text(format!("{round} {sent_us}")))
            .await?;
        while per_round[round] < others {
            let message = ws.next().await.context("the server hung up")??;
            let WsMessage::Text(line) = message else {
                anyhow::bail!("unexpected {message:?}");
            };
            let now_us = epoch.elapsed().as_micros();
            let parse = || -> Option<(u64, usize, u128)> {
                let (from, text) = line.split_once(": ")?;
                let (r, at) = text.split_once(' ')?;
                Some((from.parse().ok()?, r.parse().ok()?, at.parse().ok()?))
            };
            let (from, r, at) = parse().with_context(|| format!("a bad line: {line}"))?;
            let expected = next_round.entry(from).or_insert(0);
            anyhow::ensure!(
                r == *expected && r < rounds,
                "from {from}: round {r} after {expected}"
            );
            *expected += 1;
            per_round[r] += 1;
            latencies.push(Duration::from_micros(now_us.saturating_sub(at) as u64));
        }
    }
    ws.close(None).await?;
    anyhow::ensure!(
        next_round.len() == others && next_round.values().all(|&n| n == rounds),
        "heard {} senders, {:?} messages each",
        next_round.len(),
        next_round.values().collect::<Vec<_>>()
    );
    Ok(latencies)
}

// --- run and measure ---

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc as std_mpsc;

use crate::awake::{AwakeClock, awake_timeout};
use crate::download::CLIENTS;
use crate::web_server::{flush_stdout, percentile, server_runtime, stop_signal};
use common::child::role_command;
use common::cli::{Section, SectionResult};
use common::memory::{current_rss, peak_rss};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Bytes, Secs, Stopwatch, rate};
use tokio::sync::{Barrier, Semaphore};

pub const SECTION: Section<crate::download::Options> = Section::with_options(
    "websocket",
    "websockets.serve / aiohttp ws: a real-time room",
    "a WebSocket room (axum, tokio-tungstenite): every message checked, fan-out latency, slow clients dropped, server memory; --clients N, --serve",
    run,
)
.owns_options(&["serve", "clients"]);

/// The page the server shows at `/`: no build step, no external assets.
pub const PAGE: &str = include_str!("websocket.html");

/// Messages each client says (in rounds): three, or one past 300 clients (deliveries grow
/// as the square of the clients: 1,000 clients saying one message each is 999,000).
fn rounds(clients: usize) -> usize {
    if clients > 300 { 1 } else { 3 }
}
/// How long the room waits for a client to take one message.
const SEND_LIMIT: Duration = Duration::from_millis(200);
/// The flood that passes a client that never reads: more messages than the ring holds
/// plus what the sockets' buffers take (about 900 of these here), of this size.
fn flood_messages(capacity: usize) -> usize {
    capacity + 2000
}
const FLOOD_BYTES: usize = 4096;
/// The talker waits for the reader after each batch of this many.
const FLOOD_BATCH: usize = 16;
/// Connections opened at once (more would overflow the listen backlog).
const CONNECTING: usize = 128;
/// Every wait on the server process is bounded by this much awake time.
const LIMIT: Duration = Duration::from_secs(60);

/// The room's ring: twice a round of messages, at least 256.
fn capacity(clients: usize) -> usize {
    (2 * clients).max(256)
}

/// `--role websocket-room CLIENTS`: the room in a process of its own. Prints `port P` and
/// `baseline B`; then answers each `peak` line on stdin with `peak B` (its `VmHWM` so far);
/// when stdin closes, closes the room and prints `stats JOINED LEFT LAGGED STALLED`.
pub fn room_role(args: &[String]) -> anyhow::Result<()> {
    let [clients] = args else {
        anyhow::bail!("usage: --role websocket-room CLIENTS");
    };
    let clients: usize = clients.parse().context("CLIENTS")?;
    crate::many_connections::raise_fd_limit()?;
    let runtime = server_runtime()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let room = Room::new(capacity(clients), SEND_LIMIT);
        let server = tokio::spawn(serve_room(listener, room.clone(), PAGE));
        let mut out = std::io::stdout();
        writeln!(out, "port {port}")?;
        writeln!(out, "baseline {}", current_rss().unwrap_or(0))?;
        out.flush()?;
        let stop = room.stop.clone();
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = lines.recv().await {
            if line == "peak" {
                writeln!(out, "peak {}", peak_rss().unwrap_or(0))?;
                out.flush()?;
            }
        }
        stop.cancel(); // stdin closed: the parent is done (or gone)
        awake_timeout(LIMIT, server)
            .await
            .context("closing the room")???;
        let s = &room.stats;
        writeln!(
            out,
            "stats {} {} {} {}",
            s.joined.load(Ordering::Relaxed),
            s.left.load(Ordering::Relaxed),
            s.lagged.load(Ordering::Relaxed),
            s.stalled.load(Ordering::Relaxed)
        )?;
        anyhow::Ok(())
    })
}

/// The room's process: its stdout lines read on a thread (so every wait is bounded), its
/// stdin to ask for its peak, killed if the section bails out early.
struct RoomProcess {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: std_mpsc::Receiver<String>,
}

impl RoomProcess {
    fn start(clients: usize) -> anyhow::Result<RoomProcess> {
        let mut child = role_command(env!("CARGO_PKG_NAME"), "websocket-room")?
            .arg(clients.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the room's process")?;
        let stdout = child.stdout.take().context("the room's stdout")?;
        let stdin = child.stdin.take();
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(RoomProcess {
            child: Some(child),
            stdin,
            lines,
        })
    }

    /// The numbers on the next `key N...` line, within [`LIMIT`] of awake time.
    fn expect(&self, key: &str) -> anyhow::Result<Vec<u64>> {
        let mut clock = AwakeClock::start();
        loop {
            match self.lines.recv_timeout(AwakeClock::POLL) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(key).and_then(|v| v.strip_prefix(' ')) {
                        return rest
                            .split_whitespace()
                            .map(|n| n.parse().with_context(|| format!("bad line: {line}")))
                            .collect();
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the room's process ended before a '{key}' line")
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            }
            anyhow::ensure!(
                clock.read() < LIMIT,
                "no '{key}' line from the room's process within {}",
                Secs(LIMIT)
            );
        }
    }

    fn number(&self, key: &str) -> anyhow::Result<u64> {
        self.expect(key)?
            .first()
            .copied()
            .with_context(|| format!("an empty '{key}' line"))
    }

    /// The server's peak memory so far.
    fn peak(&mut self) -> anyhow::Result<u64> {
        let stdin = self.stdin.as_mut().context("the room is closed")?;
        writeln!(stdin, "peak")?;
        stdin.flush()?;
        self.number("peak")
    }

    /// Close the room (stdin closes), wait for the process: joined, left, lagged, stalled.
    fn close(mut self) -> anyhow::Result<[u64; 4]> {
        drop(self.stdin.take());
        let stats = self.expect("stats")?;
        let mut child = self.child.take().context("no process")?;
        let status = common::child::wait_or_kill(&mut child, LIMIT)?
            .context("the room's process did not end")?;
        anyhow::ensure!(status.success(), "the room's process failed: {status}");
        stats
            .try_into()
            .map_err(|s| anyhow::anyhow!("a bad stats line: {s:?}"))
    }
}

impl Drop for RoomProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `clients` clients join (at most [`CONNECTING`] connecting at once) and talk for
/// `rounds`; every latency heard.
async fn chat(url: &str, clients: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let epoch = Instant::now();
    let everyone_in = Arc::new(Barrier::new(clients));
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (url, everyone_in, connecting) =
            (url.to_owned(), everyone_in.clone(), connecting.clone());
        tasks.spawn(async move {
            let ws = {
                let _permit = connecting.acquire().await?;
                join_room(&url).await?
            };
            talk(ws, rounds, clients - 1, everyone_in, epoch).await
        });
    }
    let mut all = Vec::with_capacity(clients * (clients - 1) * rounds);
    while let Some(heard) = tasks.join_next().await {
        all.extend(heard??); // the first failure stops the rest
    }
    Ok(all)
}

/// A client that never reads, with a small receive buffer (so that its socket fills soon).
async fn silent_client(url: &str, port: u16) -> anyhow::Result<Client> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(16 * 1024)?;
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await?;
    ws.next().await.context("no welcome")??;
    Ok(ws)
}

/// The flood: a talker says `messages` messages of [`FLOOD_BYTES`], a reader takes them
/// all, a silent client takes none. Returns how many the reader got, and how many the
/// silent one had in its buffers when the room dropped it (and how it was told).
async fn flood(url: &str, port: u16, messages: usize) -> anyhow::Result<(usize, usize, String)> {
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    let mut silent = silent_client(url, port).await?;
    let mut reader = join_room(url).await?;
    let mut talker = join_room(url).await?;
    let payload = "x".repeat(FLOOD_BYTES);
    // The talker keeps pace with the reader (a batch at a time), so only the silent client
    // falls behind.
    let (read_tx, mut read_rx) = tokio::sync::watch::channel(0);
    let say = async {
        for sent in 1..=messages {
            talker.send(WsMessage::text(payload.as_str())).await?;
            if sent % FLOOD_BATCH == 0 {
                read_rx.wait_for(|&got| got >= sent).await?;
            }
        }
        anyhow::Ok(())
    };
    let read = async {
        let mut got = 0;
        while got < messages {
            match reader.next().await.context("the reader was dropped")?? {
                WsMessage::Text(t) if t.len() > FLOOD_BYTES => got += 1,
                other => anyhow::bail!("the reader got {other:?}"),
            }
            read_tx.send_replace(got);
        }
        anyhow::Ok(got)
    };
    let (said, got) = tokio::join!(say, read);
    said?;
    let got = got?;
    // Now the silent client reads: what reached its buffers, then the end.
    let mut buffered = 0;
    let mut told = String::from("(connection closed, no close frame)");
    while let Some(message) = silent.next().await {
        match message {
            Ok(WsMessage::Text(_)) => {
                buffered += 1;
                // Everything arrived: the room kept up with it, no policy applied.
                anyhow::ensure!(buffered < messages, "the silent client was never dropped");
            }
            Ok(WsMessage::Close(Some(frame))) => {
                told = format!("told \"{}\"", frame.reason);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    talker.close(None).await?;
    reader.close(None).await?;
    Ok((got, buffered, told))
}

fn run(options: &crate::download::Options) -> SectionResult {
    if options.web.serve {
        return serve_until_ctrl_c();
    }
    let clients = options.web.clients as usize;
    crate::many_connections::raise_fd_limit()?; // a socket per client, in this process
    let mut room = RoomProcess::start(clients)?;
    let port = room.number("port")?;
    let baseline = room.number("baseline")?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (latencies, took) = runtime.block_on(async {
        let sw = Stopwatch::start();
        let heard = awake_timeout(LIMIT, chat(&url, clients, rounds(clients))).await??;
        anyhow::Ok((heard, sw.elapsed()))
    })?;
    let rounds = rounds(clients);
    let deliveries = clients * (clients - 1) * rounds;
    anyhow::ensure!(
        latencies.len() == deliveries,
        "{} messages delivered, expected {deliveries}",
        latencies.len()
    );
    let after_chat = room.peak()?;
    let flooded = flood_messages(capacity(clients));
    let (got, buffered, told) =
        runtime.block_on(awake_timeout(LIMIT, flood(&url, port as u16, flooded)))??;
    let after_flood = room.peak()?;
    let [joined, left, lagged, stalled] = room.close()?;
    let expected_joins = clients as u64 + 3;
    anyhow::ensure!(
        joined == expected_joins && left == joined,
        "the room saw {joined} joins and {left} leaves, expected {expected_joins} of each"
    );
    anyhow::ensure!(got == flooded, "the reader got {got} of {flooded}");

    let mut latencies = latencies;
    figure(
        "messages delivered",
        format!(
            "{deliveries} ({clients} clients x {rounds} round{} x {} listener{}), each sender's in order, all checked",
            if rounds == 1 { "" } else { "s" },
            clients - 1,
            if clients == 2 { "" } else { "s" }
        ),
    );
    figure(
        "fan-out latency",
        format!(
            "p50 {}, p99 {} ({:.0} deliveries/s)",
            Secs(percentile(&mut latencies, 0.5)),
            Secs(percentile(&mut latencies, 0.99)),
            rate(deliveries as u64, took)
        ),
    );
    let per_client = after_chat.saturating_sub(baseline) / clients as u64;
    figure(
        "server peak memory",
        format!(
            "{} ({} at the start): {per_client} B per client",
            Bytes(after_chat),
            Bytes(baseline)
        ),
    );
    let flood_bytes = (flooded * FLOOD_BYTES) as u64;
    let dropped = lagged + stalled;
    figure(
        "slow-client policy",
        format!(
            "a silent client, {} ({lagged} for falling over {} messages behind, {stalled} for a send waiting past {}), {told}; it had {buffered} of {flooded} in its buffers, the reader beside it all {got}",
            if dropped == 1 {
                "dropped"
            } else {
                "NOT dropped"
            },
            capacity(clients),
            Secs(SEND_LIMIT)
        ),
    );
    let grown = after_flood.saturating_sub(after_chat);
    figure(
        "server memory in the flood",
        format!(
            "peak {} -> {} (+{}) while {} passed the silent client",
            Bytes(after_chat),
            Bytes(after_flood),
            Bytes(grown),
            Bytes(flood_bytes)
        ),
    );
    takeaway_if(
        &Evidence::new(
            dropped == 1 && grown < flood_bytes / 2,
            "the silent client dropped, and the server's peak growing by less than half the flood",
            format!(
                "{dropped} dropped, +{} for a {} flood",
                Bytes(grown),
                Bytes(flood_bytes)
            ),
        ),
        format!(
            "one broadcast ring for the room: {deliveries} messages fanned out, and a client that stops reading is dropped, not buffered for (+{} for a {} flood)",
            Bytes(grown),
            Bytes(flood_bytes)
        ),
    );
    Ok(())
}

/// `--serve`: the room on 127.0.0.1 until Ctrl-C (or SIGTERM); then every client is told
/// the server is stopping.
fn serve_until_ctrl_c() -> SectionResult {
    let runtime = server_runtime()?;
    runtime.block_on(async {
        let stop = stop_signal()?; // listening before anyone can know the address
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let room = Room::new(capacity(CLIENTS as usize), SEND_LIMIT);
        let closing = room.stop.clone();
        tokio::spawn(async move {
            stop.await;
            closing.cancel();
        });
        println!("  serving the room at http://{addr}/ : open it in two tabs (Ctrl-C stops it)");
        flush_stdout();
        serve_room(listener, room.clone(), PAGE).await?;
        let s = &room.stats;
        println!(
            "  stopped: {} joined, {} dropped as too slow, every session closed",
            s.joined.load(Ordering::Relaxed),
            s.lagged.load(Ordering::Relaxed) + s.stalled.load(Ordering::Relaxed)
        );
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start_room(
        capacity: usize,
    ) -> (
        Arc<Room>,
        String,
        u16,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let room = Room::new(capacity, SEND_LIMIT);
        let server = tokio::spawn(serve_room(listener, room.clone(), PAGE));
        (room, format!("ws://127.0.0.1:{port}/ws"), port, server)
    }

    #[tokio::test]
    async fn every_client_hears_every_other_message_in_order() {
        let (room, url, _, server) = start_room(64).await;
        let heard = chat(&url, 6, 4).await.unwrap();
        assert_eq!(heard.len(), 6 * 5 * 4);
        room.stop.cancel();
        server.await.unwrap().unwrap();
        assert_eq!(room.stats.joined.load(Ordering::Relaxed), 6);
        assert_eq!(room.stats.left.load(Ordering::Relaxed), 6);
        assert_eq!(room.stats.lagged.load(Ordering::Relaxed), 0);
        assert_eq!(room.stats.stalled.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_and_the_others_get_everything() {
        let (room, url, port, server) = start_room(64).await;
        let messages = flood_messages(64);
        let (got, buffered, told) = flood(&url, port, messages).await.unwrap();
        assert_eq!(got, messages);
        assert!(
            buffered < messages,
            "{buffered}: the silent client was not cut off"
        );
        room.stop.cancel();
        server.await.unwrap().unwrap();
        let s = &room.stats;
        assert_eq!(
            s.lagged.load(Ordering::Relaxed) + s.stalled.load(Ordering::Relaxed),
            1,
            "{told}"
        );
    }

    #[tokio::test]
    async fn closing_the_room_tells_every_client_and_waits_for_every_session() {
        use tokio_tungstenite::tungstenite::Message as WsMessage;
        let (room, url, _, server) = start_room(64).await;
        let mut a = join_room(&url).await.unwrap();
        let mut b = join_room(&url).await.unwrap();
        room.stop.cancel();
        server.await.unwrap().unwrap(); // returns only once both sessions have ended
        assert_eq!(room.stats.left.load(Ordering::Relaxed), 2);
        for ws in [&mut a, &mut b] {
            match ws.next().await.unwrap().unwrap() {
                WsMessage::Close(Some(frame)) => {
                    assert_eq!(frame.reason.as_str(), "the server is stopping")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_page_is_served() {
        let (room, url, _, server) = start_room(64).await;
        let page = reqwest::get(url.replace("ws://", "http://").replace("/ws", "/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("new WebSocket(`ws://${location.host}/ws`)"));
        room.stop.cancel();
        server.await.unwrap().unwrap();
    }
}
