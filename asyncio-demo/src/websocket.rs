//! The decision matrix's "real-time WebSocket server" -> axum's WebSocket support on the
//! server, one `tokio::sync::broadcast` channel as the room, `tokio-tungstenite` clients.
//!
//! Python (the `websockets` library; aiohttp's `ws` is the same shape):
//!     clients = set()
//!     async def handler(ws):
//!         clients.add(ws)
//!         try:
//!             async for text in ws:                # a message from this client
//!                 said = json.dumps({"from": id(ws), "text": text})
//!                 websockets.broadcast(clients - {ws}, said)   # no limit: see below
//!         finally:
//!             clients.discard(ws)
//!     async with websockets.serve(handler, "127.0.0.1", 8765, max_size=64 * 1024,
//!                                 origins=["http://127.0.0.1:8765"]):
//!         await stop                               # Ctrl-C
//!     # a client: async with websockets.connect(url) as ws: await ws.send(...); await ws.recv()
//!
//! Rust: the `broadcast` lesson over WebSocket. The upgrade is an extractor
//! (`WebSocketUpgrade`); each connection's task subscribes to the room and `select!`s
//! between the room (a message to pass on) and its client (a message to say to everyone).
//! `websockets.broadcast` writes to every open connection however far behind it is: a
//! client that stops reading has its messages buffered without limit (only closed ones are
//! skipped). Here the room is one ring of the last `capacity` messages, stored once for all
//! clients: a client that falls further behind gets `Lagged(n)`, told in its close frame,
//! and dropped; a client whose socket is full is dropped after `send_limit`. Its share of
//! the server's memory is bounded. A session empties its inbox before it reads its client's
//! next message, so a fast talker's own messages (the ring holds them too) never count
//! against it. What a client sends is checked: over 64 KiB closes with 1009, text that is
//! not UTF-8 with 1007, a broken frame with 1002, each with a reason. And the habit a copied
//! server needs: a browser lets any page open a WebSocket to any address, 127.0.0.1
//! included, and says which page in `Origin`; the room lets in only its own page's origin
//! (a client with no `Origin` is not a browser page). The HTTP side is served with
//! web-server's limits (a header timeout, a connection limit, a shutdown deadline).
//!
//! Watch: a message with a newline arrives as one message, its sender set by the server; a
//! foreign Origin refused with 403; a message over 64 KiB closed with 1009; the room's
//! shutdown telling each client. The measured run: every client receives every other
//! client's messages, in each sender's order, all counted; the fan-out latency (p50, p99);
//! a client that never reads, dropped while a flood passes it by, with the server's peak
//! memory before and after (the server runs in a process of its own, so its memory is its
//! own); and bytes per client.
//!
//! Run only this: cargo run -p asyncio-demo -- websocket
//! Open it in a browser: cargo run -p asyncio-demo -- websocket --serve
//! A thousand clients: cargo run --release -p asyncio-demo -- websocket --clients 1000
//! Copy it: cargo add anyhow@1 futures@0.3 serde_json@1 tokio-tungstenite@0.29 tower@0.5 && cargo add axum@0.8 --features ws && cargo add hyper@1 --features server,http1 && cargo add hyper-util@0.1 --features tokio && cargo add tokio@1 --features full && cargo add tokio-util@0.7 --features rt
//! Copy beside it: http_server.rs

#[path = "http_server.rs"]
mod http_server;

use http_server::{LIMITS, Limits, serve};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
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

/// The room: `clients = set()`, as one broadcast channel of `(sender, JSON line)`.
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
    /// What the client sent broke a rule: the close code and the reason.
    Refused(u16, String),
}

/// The longest message a client may send (a bound on what one message costs the server).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Each connection's read buffer (tungstenite's default, 128 KiB, is sized for big messages).
pub const READ_BUFFER: usize = 4 * 1024;

type ToClient = SplitSink<WebSocket, Message>;

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
        let welcome = json!({ "you": id }).to_string();
        let mut leave = match to_client.send(Message::Text(welcome.into())).await {
            Ok(()) => None,
            Err(_) => Some(Leave::Left),
        };
        while leave.is_none() {
            // In this order: the room closing, the room's messages, then the client's next
            // one; the inbox is empty before the client can add to it.
            leave = tokio::select! {
                biased;
                () = self.stop.cancelled() => Some(Leave::Closing),
                said = inbox.recv() => self.pass_on(id, said, &mut to_client).await,
                frame = from_client.next() => self.take(id, frame),
            };
        }
        self.goodbye(leave.unwrap_or(Leave::Left), to_client).await;
    }

    /// A message from the room to the client (not its own), within `send_limit`.
    async fn pass_on(
        &self,
        id: u64,
        said: Result<(u64, Utf8Bytes), RecvError>,
        to_client: &mut ToClient,
    ) -> Option<Leave> {
        match said {
            Ok((from, _)) if from == id => None, // its own message
            Ok((_, line)) => {
                let send = to_client.send(Message::Text(line));
                match tokio::time::timeout(self.send_limit, send).await {
                    Ok(Ok(())) => None,
                    Ok(Err(_)) => Some(Leave::Left),
                    Err(_) => Some(Leave::Stalled), // it stopped reading
                }
            }
            Err(RecvError::Lagged(missed)) => Some(Leave::Lagged(missed)),
            Err(RecvError::Closed) => Some(Leave::Closing),
        }
    }

    /// A frame from the client: a message for everyone (its sender set here), its leaving,
    /// or a broken rule.
    fn take(&self, id: u64, frame: Option<Result<Message, axum::Error>>) -> Option<Leave> {
        match frame {
            Some(Ok(Message::Text(text))) => {
                let line = json!({ "from": id, "text": text.as_str() }).to_string();
                let _ = self.said.send((id, line.into())); // to everyone in the room
                None
            }
            Some(Ok(Message::Close(_))) | None => Some(Leave::Left),
            Some(Ok(_)) => None, // binary, ping, pong
            Some(Err(error)) => Some(refusal(error)),
        }
    }

    /// The close frame that says why, bounded too (a full socket cannot take even this).
    async fn goodbye(&self, leave: Leave, mut to_client: ToClient) {
        let count = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        let (code, reason) = match leave {
            Leave::Lagged(missed) => {
                count(&self.stats.lagged);
                let reason =
                    format!("too slow: {missed} messages overwritten before you read them");
                (close_code::POLICY, reason)
            }
            Leave::Stalled => {
                count(&self.stats.stalled);
                (close_code::POLICY, "too slow: not reading".to_owned())
            }
            Leave::Closing => (close_code::AWAY, "the server is stopping".to_owned()),
            Leave::Refused(code, reason) => (code, reason),
            Leave::Left => (close_code::NORMAL, String::new()),
        };
        let bye = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(self.send_limit, to_client.send(bye)).await;
        count(&self.stats.left);
    }
}

/// The close code for what a client sent wrong (RFC 6455, section 7.4.1), with a reason.
fn refusal(error: axum::Error) -> Leave {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let (code, reason) = match error.into_inner().downcast::<WsError>().map(|e| *e) {
        Ok(WsError::Capacity(e)) => (close_code::SIZE, e.to_string()),
        Ok(WsError::Utf8(_)) => (close_code::INVALID, "text that is not UTF-8".to_owned()),
        Ok(WsError::Protocol(e)) => (close_code::PROTOCOL, e.to_string()),
        _ => (close_code::ERROR, "your connection failed".to_owned()),
    };
    Leave::Refused(code, reason)
}

/// `GET /ws`: the Origin check, then the upgrade; the session runs as its own task,
/// counted by the room.
async fn join(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    State((room, origins)): State<(Arc<Room>, Arc<[String]>)>,
) -> Response {
    let origin = headers.get(header::ORIGIN).map(|o| o.as_bytes());
    if origin.is_some_and(|o| !origins.iter().any(|ours| ours.as_bytes() == o)) {
        return (StatusCode::FORBIDDEN, "another site's page may not join").into_response();
    }
    let counted = room.sessions.token(); // the room waits for it when it closes
    let ws = ws
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER);
    ws.on_upgrade(move |socket| async move {
        room.session(socket).await;
        drop(counted);
    })
}

/// The room's app at `addr`: `page` (HTML) at `/`, the WebSocket at `/ws` for that page.
pub fn router(room: Arc<Room>, page: &'static str, addr: SocketAddr) -> Router {
    let port = addr.port();
    let origins = [format!("http://{addr}"), format!("http://localhost:{port}")];
    Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/ws", get(join))
        .with_state((room, Arc::from(origins)))
}

/// Serve the room (and `page` at `/`) until `room.stop` is cancelled; then every session
/// closes (a close frame to each client, each within `send_limit`) and this returns once
/// all of them have ended, with how many HTTP connections were cut at the deadline.
pub async fn serve_room(
    listener: TcpListener,
    room: Arc<Room>,
    page: &'static str,
    limits: Limits,
) -> std::io::Result<usize> {
    let app = router(room.clone(), page, listener.local_addr()?);
    let stop = room.stop.clone();
    let cut = serve(listener, app, limits, async move { stop.cancelled().await }).await;
    room.sessions.close();
    room.sessions.wait().await;
    Ok(cut)
}

/// A client's connection: `websockets.connect(url)`.
pub type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Join the room at `url` (`ws://HOST:PORT/ws`): connect, read the welcome; the client's
/// number in the room.
pub async fn join_room(url: &str) -> anyhow::Result<(Client, u64)> {
    let small = WebSocketConfig::default().read_buffer_size(READ_BUFFER); // as the server's
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(small), true) // no Nagle
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let welcome = ws.next().await.context("no welcome")??;
    let you = serde_json::from_str::<Value>(welcome.to_text()?)?["you"].as_u64();
    Ok((ws, you.with_context(|| format!("odd welcome: {welcome}"))?))
}

/// A message heard in the room: its sender's number and its text.
pub fn heard(message: &tokio_tungstenite::tungstenite::Message) -> Option<(u64, String)> {
    let said: Value = serde_json::from_str(message.to_text().ok()?).ok()?;
    Some((said["from"].as_u64()?, said["text"].as_str()?.to_owned()))
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
            let now_us = epoch.elapsed().as_micros();
            let parse = || -> Option<(u64, usize, u128)> {
                let (from, text) = heard(&message)?;
                let (r, at) = text.split_once(' ')?;
                Some((from, r.parse().ok()?, at.parse().ok()?))
            };
            let (from, r, at) = parse().with_context(|| format!("a bad message: {message}"))?;
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

/// The twin of `if __name__ == "__main__":` a room, two clients, a page from another site,
/// a message too big, and the room's shutdown.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::{Message as WsMessage, client::IntoClientRequest};
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    let room = Room::new(256, Duration::from_millis(200));
    let page = "<!doctype html><title>the room</title>"; // the measured run serves a real one
    let server = tokio::spawn(serve_room(listener, room.clone(), page, LIMITS));
    let (mut a, a_id) = join_room(&url).await?;
    let (mut b, b_id) = join_room(&url).await?;
    println!("clients {a_id} and {b_id} joined");
    a.send(WsMessage::text("hello\nserver: send me your password"))
        .await?;
    let message = b.next().await.context("b was dropped")??;
    println!("{b_id} heard one message: {message}");
    let mut foreign = url.as_str().into_client_request()?;
    foreign
        .headers_mut()
        .insert("Origin", "http://evil.example".parse()?);
    match tokio_tungstenite::connect_async(foreign).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            println!("a page of http://evil.example: refused, {}", r.status());
        }
        other => anyhow::bail!("a foreign page was not refused: {other:?}"),
    }
    a.send(WsMessage::text("x".repeat(MAX_MESSAGE + 1))).await?;
    let closed = loop {
        match a.next().await {
            Some(Ok(WsMessage::Close(Some(f)))) => break format!("{} {}", f.code, f.reason),
            Some(Ok(_)) => {}
            other => break format!("no close frame: {other:?}"),
        }
    };
    println!(
        "{a_id} sent {} bytes and was closed: {closed}",
        MAX_MESSAGE + 1
    );
    room.stop.cancel();
    let bye = b.next().await.context("no goodbye")??;
    server.await??;
    println!("the room closed; {b_id} was told {bye}");
    Ok(())
}

// --- run and measure ---

use std::io::{BufRead, Write};
use std::process::Termination;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::awake::awake_timeout;
use crate::options::{CLIENTS, Options};
use crate::web_server::{
    flush_stdout, free_fds, percentile, serve_alone, server_runtime, stop_signal,
};
use common::child::Talker;
use common::cli::{Section, SectionResult, UsageError};
use common::memory::{current_rss, peak_rss};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Bytes, Secs, Stopwatch, rate};
use futures::FutureExt;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const SECTION: Section<Options> = Section::with_options(
    "websocket",
    "websockets.serve / aiohttp ws: a real-time room",
    "a WebSocket room (axum, tokio-tungstenite): every message checked, fan-out latency, slow clients dropped, server memory; --clients N, --serve",
    run,
)
.owns_options(&["serve", "clients"])
.usage_check(check_options)
.main(|| main().report());

/// The page the server shows at `/`: no build step, no external assets.
pub const PAGE: &str = include_str!("websocket.html");

/// The most `--clients` this build takes: deliveries grow as the square of the clients; a
/// dev build fans out 20,000 a second on a busy 2-core machine (1,000 clients: 52 s).
const MAX_CLIENTS: u64 = if cfg!(debug_assertions) { 1000 } else { 20_000 };

/// `--serve` with `--clients` or `--python`, or more clients than the build takes: refused.
fn check_options(options: &Options) -> Result<(), UsageError> {
    let web = &options.web;
    if web.serve && web.clients.is_some() {
        let text = "--clients sets the measured run's size; --serve takes whoever opens the page: drop --clients";
        return Err(UsageError(text.into()));
    }
    if web.clients() > MAX_CLIENTS {
        let most = format!("at most {MAX_CLIENTS} in a dev build, up to 20,000 with --release");
        return Err(UsageError(format!("--clients {}: {most}", web.clients())));
    }
    serve_alone(web.serve)
}

/// Messages each client says (in rounds): three, or one past 300 clients (deliveries grow
/// as the square of the clients: 1,000 clients saying one message each is 999,000).
fn rounds(clients: usize) -> usize {
    if clients > 300 { 1 } else { 3 }
}
/// How long the room waits for a client to take one message.
const SEND_LIMIT: Duration = Duration::from_millis(200);
/// The flood that passes a client that never reads: more messages than the ring holds
/// plus what the sockets' buffers take (about 900 of these here), of this size.
const fn flood_messages(capacity: usize) -> usize {
    capacity + 2000
}
const FLOOD_BYTES: usize = 4096;
/// The talker waits for the reader after each batch of this many.
const FLOOD_BATCH: usize = 16;
/// Connections opened at once (more would overflow the listen backlog).
const CONNECTING: usize = 128;

/// Every wait on the room or its process is bounded by this much awake time: a minute,
/// and a minute more per million deliveries (slower than a dev build on a busy machine).
fn limit(clients: usize) -> Duration {
    let deliveries = (clients * clients.saturating_sub(1) * rounds(clients)) as u64;
    Duration::from_secs(60 + 60 * deliveries / 1_000_000)
}

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
    server_runtime()?.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let room = Room::new(capacity(clients), SEND_LIMIT);
        let server = tokio::spawn(serve_room(listener, room.clone(), PAGE, LIMITS));
        let mut out = std::io::stdout();
        writeln!(out, "port {port}\nbaseline {}", current_rss().unwrap_or(0))?;
        out.flush()?;
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock().lines().map_while(Result::ok);
            stdin.try_for_each(|line| lines_tx.send(line)).ok()
        });
        while let Some(line) = lines.recv().await {
            if line == "peak" {
                writeln!(out, "peak {}", peak_rss().unwrap_or(0))?;
                out.flush()?;
            }
        }
        room.stop.cancel(); // stdin closed: the parent is done (or gone)
        let closed = awake_timeout(limit(clients), server).await;
        closed.context("closing the room")???;
        let s = &room.stats;
        let [j, l, g, t] =
            [&s.joined, &s.left, &s.lagged, &s.stalled].map(|c| c.load(Ordering::Relaxed));
        writeln!(out, "stats {j} {l} {g} {t}")?;
        anyhow::Ok(())
    })
}

/// The room's process: `--role websocket-room CLIENTS`, read by key.
struct RoomProcess(Talker);

impl RoomProcess {
    fn start(clients: usize) -> anyhow::Result<RoomProcess> {
        let args = [clients.to_string()];
        let room = Talker::start(
            env!("CARGO_PKG_NAME"),
            "websocket-room",
            &args,
            limit(clients),
        );
        Ok(RoomProcess(room?))
    }

    fn number(&self, key: &str) -> anyhow::Result<u64> {
        Ok(self.0.values([key])?[0])
    }

    /// The server's peak memory so far.
    fn peak(&mut self) -> anyhow::Result<u64> {
        self.0.say("peak")?;
        self.number("peak")
    }

    /// Close the room (stdin closes), wait for the process: joined, left, lagged, stalled.
    fn close(mut self) -> anyhow::Result<[u64; 4]> {
        self.0.close_input();
        let stats = self.0.numbers("stats")?;
        self.0.finish()?;
        let stats = stats.try_into();
        stats.map_err(|s| anyhow::anyhow!("a bad stats line: {s:?}"))
    }
}

/// `clients` clients join (at most [`CONNECTING`] connecting at once) and talk for
/// `rounds`; every latency heard.
async fn chat(url: &str, clients: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let epoch = Instant::now();
    let everyone_in = Arc::new(Barrier::new(clients));
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (url, everyone_in, connecting) =
            (url.to_owned(), everyone_in.clone(), connecting.clone());
        tasks.spawn(async move {
            let (ws, _) = {
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
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    ws.next().await.context("no welcome")??;
    Ok(ws)
}

/// The flood: a talker says `messages` messages of [`FLOOD_BYTES`], a reader takes them
/// all, a silent client takes none. Returns how many the reader got, and how many the
/// silent one had in its buffers when the room dropped it (and how it was told).
async fn flood(url: &str, port: u16, messages: usize) -> anyhow::Result<(usize, usize, String)> {
    let mut silent = silent_client(url, port).await?;
    let (mut reader, _) = join_room(url).await?;
    let (mut talker, _) = join_room(url).await?;
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
        for got in 1..=messages {
            match reader.next().await.context("the reader was dropped")?? {
                WsMessage::Text(t) if t.len() > FLOOD_BYTES => read_tx.send_replace(got),
                other => anyhow::bail!("the reader got {other:?}"),
            };
        }
        anyhow::Ok(messages)
    };
    let (said, got) = tokio::join!(say, read);
    said?;
    let got = got?;
    // Now the silent client reads: what reached its buffers, then the end.
    let mut buffered = 0;
    let mut told = String::from("(connection closed, no close frame)");
    while let Some(Ok(message)) = silent.next().await {
        match message {
            WsMessage::Text(_) => {
                buffered += 1;
                // Everything arrived: the room kept up with it, no policy applied.
                anyhow::ensure!(buffered < messages, "the silent client was never dropped");
            }
            WsMessage::Close(Some(frame)) => told = format!("told \"{}\"", frame.reason),
            _ => {}
        }
    }
    talker.close(None).await?;
    reader.close(None).await?;
    Ok((got, buffered, told))
}

/// What one run measured.
struct Figures {
    clients: usize,
    latencies: Vec<Duration>,
    took: Duration,
    /// The server's resident memory at the start, its peak after the chat and the flood.
    memory: [u64; 3],
    flooded: usize,
    buffered: usize,
    told: String,
    /// Silent clients dropped for lagging, and for stalling.
    dropped: [u64; 2],
}

fn run(options: &Options) -> SectionResult {
    if options.web.serve {
        return serve_until_ctrl_c();
    }
    crate::many_connections::raise_fd_limit()?; // a socket per client, in this process
    report(&measure(options.web.clients() as usize)?);
    Ok(())
}

fn measure(clients: usize) -> anyhow::Result<Figures> {
    let mut room = RoomProcess::start(clients)?;
    let port = room.number("port")?;
    let baseline = room.number("baseline")?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    let runtime = runtime.enable_all().build()?;
    let sw = Stopwatch::start();
    let chatted = chat(&url, clients, rounds(clients));
    let latencies = runtime.block_on(awake_timeout(limit(clients), chatted))??;
    let took = sw.elapsed();
    let (heard, deliveries) = (latencies.len(), clients * (clients - 1) * rounds(clients));
    anyhow::ensure!(heard == deliveries, "{heard} delivered, not {deliveries}");
    let after_chat = room.peak()?;
    let flooded = flood_messages(capacity(clients));
    let flood = flood(&url, port as u16, flooded);
    let (got, buffered, told) = runtime.block_on(awake_timeout(limit(clients), flood))??;
    let memory = [baseline, after_chat, room.peak()?];
    let [joined, left, lagged, stalled] = room.close()?;
    let expected = clients as u64 + 3;
    let all_came_and_went = joined == expected && left == joined;
    anyhow::ensure!(
        all_came_and_went,
        "{joined} joins, {left} leaves, not {expected}"
    );
    anyhow::ensure!(got == flooded, "the reader got {got} of {flooded}");
    Ok(Figures {
        clients,
        latencies,
        took,
        memory,
        flooded,
        buffered,
        told,
        dropped: [lagged, stalled],
    })
}

fn report(f: &Figures) {
    let (clients, rounds, deliveries) = (f.clients, rounds(f.clients), f.latencies.len());
    let (others, s) = (clients - 1, |n: usize| if n == 1 { "" } else { "s" });
    let (rs, ls) = (s(rounds), s(others));
    let who = format!("{clients} clients x {rounds} round{rs} x {others} listener{ls}");
    let delivered = format!("{deliveries} ({who}), each sender's in order, all checked");
    figure("messages delivered", delivered);
    let mut latencies = f.latencies.clone();
    let [p50, p99] = [0.5, 0.99].map(|q| Secs(percentile(&mut latencies, q)));
    let per_s = rate(deliveries as u64, f.took);
    let fan_out = format!("p50 {p50}, p99 {p99} ({per_s:.0} deliveries/s)");
    figure("fan-out latency", fan_out);
    let [start, peak, flooded] = f.memory.map(Bytes);
    let per_client = (peak.0.saturating_sub(start.0)) / clients as u64;
    let memory = format!("{peak} ({start} at the start): {per_client} B per client");
    figure("server peak memory", memory);
    let ([lagged, stalled], told, buffered) = (f.dropped, &f.told, f.buffered);
    let dropped = if lagged + stalled == 1 {
        "dropped"
    } else {
        "NOT dropped"
    };
    let (ring, limit, n) = (capacity(clients), Secs(SEND_LIMIT), f.flooded);
    let why = format!("{lagged} for falling over {ring} messages behind, {stalled} for a send");
    let had = format!("it had {buffered} of {n} in its buffers, the reader beside it all {n}");
    let policy = format!("a silent client, {dropped} ({why} waiting past {limit}), {told}; {had}");
    figure("slow-client policy", policy);
    let (grown, flood) = (
        Bytes(flooded.0.saturating_sub(peak.0)),
        Bytes((n * FLOOD_BYTES) as u64),
    );
    let passed =
        format!("peak {peak} -> {flooded} (+{grown}) while {flood} passed the silent client");
    figure("server memory in the flood", passed);
    let expected = "the silent client dropped, the server's peak growing by under half the flood";
    let held = lagged + stalled == 1 && grown.0 < flood.0 / 2;
    let measured = format!("{} dropped, +{grown} for a {flood} flood", lagged + stalled);
    takeaway_if(
        &Evidence::new(held, expected, measured),
        format!(
            "one broadcast ring for the room: {deliveries} messages fanned out, and a client that stops reading is dropped, not buffered for (+{grown} for a {flood} flood)"
        ),
    );
}

/// `--serve`: the room on 127.0.0.1 until Ctrl-C (or SIGTERM); then every client is told
/// the server is stopping, within the limits' deadline.
fn serve_until_ctrl_c() -> SectionResult {
    let mut limits = LIMITS;
    limits.max_connections = (free_fds()? as usize).min(LIMITS.max_connections);
    anyhow::ensure!(
        limits.max_connections > 0,
        "needs a few more open files (ulimit -n)"
    );
    server_runtime()?.block_on(async {
        let stop = stop_signal()?; // listening before anyone can know the address
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let room = Room::new(capacity(CLIENTS as usize), SEND_LIMIT);
        let closing = room.stop.clone();
        tokio::spawn(stop.map(move |()| closing.cancel()));
        println!("  serving the room at http://{addr}/ : open it in two tabs (Ctrl-C stops it)");
        flush_stdout();
        let cut = serve_room(listener, room.clone(), PAGE, limits).await?;
        let s = &room.stats;
        let [joined, lagged, stalled] =
            [&s.joined, &s.lagged, &s.stalled].map(|c| c.load(Ordering::Relaxed));
        let cut = format!("every session closed, {cut} connection(s) cut at the deadline");
        println!(
            "  stopped: {joined} joined, {} dropped as too slow, {cut}",
            lagged + stalled
        );
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::JoinHandle;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    type Server = JoinHandle<std::io::Result<usize>>;

    async fn start_room(capacity: usize) -> (Arc<Room>, String, u16, Server) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let room = Room::new(capacity, SEND_LIMIT);
        let server = tokio::spawn(serve_room(listener, room.clone(), PAGE, LIMITS));
        (room, format!("ws://127.0.0.1:{port}/ws"), port, server)
    }

    async fn close_room(room: &Room, server: Server) {
        room.stop.cancel();
        server.await.unwrap().unwrap();
    }

    fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The next close frame `ws` gets: its code and reason.
    async fn close_frame(ws: &mut Client) -> (u16, String) {
        while let Some(message) = ws.next().await {
            if let WsMessage::Close(Some(frame)) = message.unwrap() {
                return (frame.code.into(), frame.reason.to_string());
            }
        }
        panic!("no close frame");
    }

    #[tokio::test]
    async fn every_client_hears_every_other_message_in_order() {
        let (room, url, _, server) = start_room(64).await;
        let heard = chat(&url, 6, 4).await.unwrap();
        assert_eq!(heard.len(), 6 * 5 * 4);
        close_room(&room, server).await;
        let s = &room.stats;
        assert_eq!((count(&s.joined), count(&s.left)), (6, 6));
        assert_eq!((count(&s.lagged), count(&s.stalled)), (0, 0));
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_and_the_others_get_everything() {
        let (room, url, port, server) = start_room(64).await;
        let messages = flood_messages(64);
        let (got, buffered, told) = flood(&url, port, messages).await.unwrap();
        assert_eq!(got, messages);
        assert!(buffered < messages, "{buffered}: not cut off");
        close_room(&room, server).await;
        let s = &room.stats;
        assert_eq!(count(&s.lagged) + count(&s.stalled), 1, "{told}");
    }

    #[tokio::test]
    async fn a_lone_fast_talker_that_never_reads_is_not_dropped() {
        // A ring of 8: the talker's own 1,000 messages pass through it too.
        let (room, url, _, server) = start_room(8).await;
        let (mut talker, _) = join_room(&url).await.unwrap();
        for i in 0..1000 {
            talker
                .send(WsMessage::text(format!("{i:>10}")))
                .await
                .unwrap();
        }
        // A ping answered: the room has taken all 1,000 (frames are read in order).
        talker
            .send(WsMessage::Ping(Default::default()))
            .await
            .unwrap();
        let pong = talker.next().await.unwrap().unwrap();
        assert!(pong.is_pong(), "not dropped, nothing else to read: {pong}");
        let (mut other, other_id) = join_room(&url).await.unwrap();
        other.send(WsMessage::text("still there?")).await.unwrap();
        let next = talker.next().await.unwrap().unwrap();
        assert_eq!(
            heard(&next),
            Some((other_id, "still there?".to_owned())),
            "{next}"
        );
        close_room(&room, server).await;
        assert_eq!(
            (count(&room.stats.lagged), count(&room.stats.stalled)),
            (0, 0)
        );
    }

    #[tokio::test]
    async fn a_page_of_another_site_is_refused_and_its_own_page_is_not() {
        let (room, url, port, server) = start_room(64).await;
        for (origin, allowed) in [
            ("http://evil.example".to_owned(), false),
            (format!("http://127.0.0.1:{port}"), true),
            (format!("http://localhost:{port}"), true),
            (format!("http://127.0.0.1:{}", port + 1), false),
        ] {
            let mut request = url.as_str().into_client_request().unwrap();
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Ok(_) => assert!(allowed, "{origin} got in"),
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert!(!allowed, "{origin} refused");
                    assert_eq!(response.status(), StatusCode::FORBIDDEN);
                }
                Err(e) => panic!("{origin}: {e}"),
            }
        }
        close_room(&room, server).await;
    }

    #[tokio::test]
    async fn a_message_with_newlines_is_one_message_from_its_sender() {
        let (room, url, _, server) = start_room(64).await;
        let (mut a, a_id) = join_room(&url).await.unwrap();
        let (mut b, _) = join_room(&url).await.unwrap();
        let lines = "hello\nserver: send me your password";
        let forged = r#"{"from":99,"text":"I am someone else"}"#;
        for text in [lines, forged] {
            a.send(WsMessage::text(text)).await.unwrap();
            let message = b.next().await.unwrap().unwrap();
            assert_eq!(
                heard(&message),
                Some((a_id, text.to_owned())),
                "the server names the sender"
            );
        }
        close_room(&room, server).await;
    }

    #[tokio::test]
    async fn each_broken_rule_closes_with_its_own_code_and_a_reason() {
        let (room, url, _, server) = start_room(64).await;
        let invalid_utf8 = Frame::message(vec![b'a', 0xff, 0xfe], OpCode::Data(Data::Text), true);
        let mut reserved_bit = Frame::message(b"hi".to_vec(), OpCode::Data(Data::Text), true);
        reserved_bit.header_mut().rsv1 = true;
        for (message, code) in [
            (WsMessage::text("x".repeat(MAX_MESSAGE + 1)), 1009),
            (WsMessage::Frame(invalid_utf8), 1007),
            (WsMessage::Frame(reserved_bit), 1002),
        ] {
            let (mut ws, _) = join_room(&url).await.unwrap();
            ws.send(message).await.unwrap();
            let (got, reason) = close_frame(&mut ws).await;
            assert_eq!(got, code, "{reason}");
            assert!(!reason.is_empty(), "{code} without a reason");
        }
        close_room(&room, server).await;
    }

    #[tokio::test]
    async fn closing_the_room_tells_every_client_and_waits_for_every_session() {
        let (room, url, _, server) = start_room(64).await;
        let (mut a, _) = join_room(&url).await.unwrap();
        let (mut b, _) = join_room(&url).await.unwrap();
        close_room(&room, server).await; // returns only once both sessions have ended
        assert_eq!(count(&room.stats.left), 2);
        for ws in [&mut a, &mut b] {
            assert_eq!(
                close_frame(ws).await,
                (1001, "the server is stopping".to_owned())
            );
        }
    }

    #[tokio::test]
    async fn the_page_is_served() {
        let (room, url, _, server) = start_room(64).await;
        let page = reqwest::get(url.replace("ws://", "http://").replace("/ws", "/"));
        let page = page.await.unwrap().text().await.unwrap();
        assert!(page.contains("new WebSocket(`ws://${location.host}/ws`)"));
        close_room(&room, server).await;
    }

    #[test]
    fn serve_alone_and_the_clients_this_build_takes_are_checked_before_the_run() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            options: Options,
        }
        let check = |args: &[&str]| {
            let cli = <Cli as clap::Parser>::try_parse_from([&["demo"], args].concat());
            check_options(&cli.unwrap().options)
        };
        assert!(check(&["--serve"]).is_ok());
        assert!(check(&["--clients", &MAX_CLIENTS.to_string()]).is_ok());
        assert!(check(&["--serve", "--clients", "5"]).is_err());
        if MAX_CLIENTS < 20_000 {
            assert!(check(&["--clients", &(MAX_CLIENTS + 1).to_string()]).is_err());
        }
    }
}
