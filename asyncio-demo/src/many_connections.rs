//! The guide's "10,000+ connections" -> a tokio TCP echo server and 10,000 clients
//! connected at the same time, each in its own process.
//!
//! Python:
//!     async def handle(reader, writer):
//!         while data := await reader.read(64):
//!             writer.write(data)
//!             await writer.drain()
//!     server = await asyncio.start_server(handle, "127.0.0.1", 0)
//!     # ... and 10,000 clients: asyncio.open_connection(...) each
//!
//! Rust: the server runs one task per connection, as in asyncio, on one thread (a
//! current-thread runtime): a task is a small state machine (its locals and a 64-byte
//! buffer), not a thread with its own stack. `serve` is the accept loop and takes the
//! per-connection handler as a parameter (`echo` here), as `start_server` takes `handle`.
//! The clients need no task each: a stream of connect futures, 256 at a time
//! (`buffer_unordered`), collects the open sockets in a `Vec`. Every socket is a file
//! descriptor, so the process must be allowed that many open files: the soft
//! `RLIMIT_NOFILE` (often 1024) is raised to the hard limit with the `rlimit` crate, as
//! `ulimit -n` would. The server runs in its own process (this binary again, `--role
//! echo-server`), and so do the clients (`--role echo-clients`), so each side's peak memory
//! is its own.
//!
//! Watch: every connection is open at the same moment (the server counts them around its
//! handler), every echo is checked, and both processes together stay under 40 MiB, a few
//! KiB per connection. Each child reports its own peak (`VmHWM`): `wait4`'s `ru_maxrss`
//! would not do here, because Linux starts a child's count from its parent's peak at the
//! moment of `exec`.
//!
//! `main` below runs the server as a task beside its clients, in one process; the demo runs
//! each side in a process of its own, to measure each side's memory.
//!
//! Run only this: cargo run -p asyncio-demo -- many-connections
//! Copy it: cargo add anyhow@1 futures@0.3 rlimit@0.11 && cargo add tokio@1 --features full

use std::net::SocketAddr;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Connections being opened at once: more would overflow the listen backlog (and the
/// kernel would retry them a second later).
const CONNECTING: usize = 256;

/// Raise the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_fd_limit() -> anyhow::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")
}

/// The guide's `handle(reader, writer)`: echo until the client leaves.
pub async fn echo(mut socket: TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break, // the client left
            Ok(n) => {
                if socket.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// `asyncio.start_server(handle)`: accept until `stop` turns true, one task per connection,
/// each running `handle(socket)`.
pub async fn serve<H, F>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    handle: H,
) -> anyhow::Result<()>
where
    H: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        let (socket, _) = tokio::select! {
            accepted = listener.accept() => accepted.context("accepting")?,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        tokio::spawn(handle(socket));
    }
}

/// One client: connect, send its number, check the echo.
async fn client(addr: SocketAddr, id: u64, connecting: &Semaphore) -> anyhow::Result<TcpStream> {
    let mut stream = {
        let _permit = connecting.acquire().await?;
        TcpStream::connect(addr).await.context("connecting")?
    };
    stream.write_all(&id.to_le_bytes()).await?;
    let mut echo = [0u8; 8];
    stream.read_exact(&mut echo).await?;
    anyhow::ensure!(
        u64::from_le_bytes(echo) == id,
        "client {id} got a wrong echo"
    );
    Ok(stream)
}

/// `n` clients that connect and check their echo, at most `CONNECTING` at a time; returns
/// every open connection. They all stay open until the returned `Vec` is dropped.
pub async fn connect_all(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let connecting = Semaphore::new(CONNECTING);
    // The client side needs no task per connection: a stream of futures, CONNECTING at
    // once, and the open sockets kept in a Vec.
    stream::iter(0..n as u64)
        .map(|id| client(addr, id, &connecting))
        .buffer_unordered(CONNECTING)
        .try_collect()
        .await
}

/// The twin of `if __name__ == "__main__":` the echo server as a task and 10,000 clients,
/// all in this process (so both ends of every connection count against its open files).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let fds = raise_fd_limit()?;
    let n = 10_000.min(fds.saturating_sub(64) as usize / 2);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve(listener, stop_rx, echo));
    if n < 10_000 {
        println!(
            "the open-files limit ({fds}) allows {n} connections here, both ends in one process"
        );
    }
    let start = tokio::time::Instant::now();
    let open = connect_all(addr, n).await?;
    println!(
        "{} connections open at once, every echo checked, in {:.2?}",
        open.len(),
        start.elapsed()
    );
    drop(open); // every client leaves
    stop.send(true)?;
    server.await?
}

// --- run and measure ---

use std::io::Write;
use std::process::Termination;
use std::time::Duration;

use crate::awake::awake_timeout;
use anyhow::bail;
use common::child::Talker;
use common::cli::{Section, SectionResult};
use common::gauge::Gauge;
use common::memory::{current_rss, peak_rss};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Bytes, Stopwatch};
use tokio::net::TcpSocket;

pub const SECTION: Section = Section::new(
    "many-connections",
    "asyncio.start_server / 10,000+ connections",
    "a TCP echo server and 10,000 clients at once, each in its own process; memory measured",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same echo server and clients with asyncio (`start_server`,
/// `open_connection`), each side in its own Python process, the same count.
const TWIN: Twin = Twin::new(
    "many_connections.py",
    include_str!("../python/many_connections.py"),
    &[
        "connected",
        "max_live",
        "connect_s",
        "server_peak_bytes",
        "clients_peak_bytes",
        "both_peak_bytes",
        "per_connection_bytes",
    ],
);

pub const CONNECTIONS: usize = 10_000;
/// Every wait on a child process, and each child's own work, is bounded by this much
/// [`AwakeClock`] time: time this process was stopped (Ctrl-Z, SIGSTOP) does not count.
const LIMIT: Duration = Duration::from_secs(30);
/// File descriptors kept free in each child for its runtime, stdio and the listener (each
/// uses about 12 besides its connections, measured).
const SPARE_FDS: u64 = 32;
/// "A few KiB per connection": the memory claim holds below this (both ends together).
const PER_CONNECTION: u64 = 4096;
/// The fewest connections that show the memory claim: both processes grow about 2.3 MiB
/// besides their connections (measured at 32), which alone is 2.6 KiB a connection at 900.
const MEASURABLE: usize = 900;

/// Connections inside the server's handler now, and the most at once.
static LIVE: Gauge = Gauge::new();

/// `echo`, counted by [`LIVE`] for as long as it runs.
async fn counted_echo(socket: TcpStream) {
    let _inside = LIVE.enter();
    echo(socket).await;
}

fn current_thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `--role echo-server`: prints `port P fds F baseline B`; serves until its stdin closes,
/// then prints `max_live N peak B`.
pub fn server_role(_args: &[String]) -> anyhow::Result<()> {
    let fds = raise_fd_limit()?;
    current_thread_runtime()?.block_on(async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(([127, 0, 0, 1], 0).into())?;
        let listener = socket.listen(4096)?;
        let (stop, stop_rx) = watch::channel(false);
        // The parent closes our stdin to say "stop" (or dies, which closes it too).
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            let _ = stop.send(true);
        });
        let port = listener.local_addr()?.port();
        let mut out = std::io::stdout();
        writeln!(
            out,
            "port {port} fds {fds} baseline {}",
            current_rss().unwrap_or(0)
        )?;
        out.flush()?;
        awake_timeout(LIMIT, serve(listener, stop_rx, counted_echo))
            .await
            .context("the server ran past its time limit")??;
        writeln!(
            out,
            "max_live {} peak {}",
            LIVE.max(),
            peak_rss().unwrap_or(0)
        )?;
        Ok(())
    })
}

/// `--role echo-clients ADDR N`: prints `baseline B connected N micros M peak B`.
pub fn clients_role(args: &[String]) -> anyhow::Result<()> {
    let [addr, n] = args else {
        bail!("usage: --role echo-clients ADDR COUNT");
    };
    let addr: SocketAddr = addr.parse().context("ADDR")?;
    let n: usize = n.parse().context("COUNT")?;
    raise_fd_limit()?;
    let baseline = current_rss().unwrap_or(0);
    current_thread_runtime()?.block_on(async {
        let sw = Stopwatch::start();
        let open = awake_timeout(LIMIT, connect_all(addr, n))
            .await
            .context("connecting took too long")??;
        let (took, peak) = (sw.elapsed().as_micros(), peak_rss().unwrap_or(0));
        println!(
            "baseline {baseline} connected {} micros {took} peak {peak}",
            open.len()
        );
        anyhow::Ok(()) // every client closes its connection as `open` drops
    })
}

/// What one run measured, both processes.
struct Figures {
    count: usize,
    max_live: usize,
    connect: Duration,
    server_peak: u64,
    clients_peak: u64,
    per_connection: u64,
}

fn run() -> SectionResult {
    let role =
        |name: &str, args: &[String]| Talker::start(env!("CARGO_PKG_NAME"), name, args, LIMIT);
    let mut server = role("echo-server", &[])?;
    let [port, fds, server_base] = server.values(["port", "fds", "baseline"])?;
    let fit = fds.saturating_sub(SPARE_FDS) as usize;
    anyhow::ensure!(
        fit > 0,
        "only {fds} open files allowed per process (ulimit -n): no room for a connection, which needs more than {SPARE_FDS}"
    );
    let count = CONNECTIONS.min(fit);
    if count < CONNECTIONS {
        println!(
            "  only {fds} open files allowed per process: using {count} connections, not {CONNECTIONS}"
        );
    }
    figure("open-files limit (raised)", fds);
    let clients = role(
        "echo-clients",
        &[format!("127.0.0.1:{port}"), count.to_string()],
    )?;
    let [clients_base, checked, micros, clients_peak] =
        clients.values(["baseline", "connected", "micros", "peak"])?;
    clients.finish()?;
    server.close_input();
    let [max_live, server_peak] = server.values(["max_live", "peak"])?;
    server.finish()?;
    anyhow::ensure!(
        checked as usize == count,
        "only {checked} of {count} echoes checked"
    );
    anyhow::ensure!(
        max_live as usize == count,
        "the server saw {max_live} connections at once, expected {count}"
    );
    let grown = server_peak.saturating_sub(server_base) + clients_peak.saturating_sub(clients_base);
    report(&Figures {
        count,
        max_live: max_live as usize,
        connect: Duration::from_micros(micros),
        server_peak,
        clients_peak,
        per_connection: grown / count as u64,
    })
}

fn report(f: &Figures) -> SectionResult {
    let both = f.server_peak + f.clients_peak;
    let rows = [
        Pair::count("connections open at once", "max_live", f.max_live as f64),
        Pair::secs("time to connect all", "connect_s", f.connect.as_secs_f64()).cpu(),
        Pair::bytes(
            "peak memory, server",
            "server_peak_bytes",
            f.server_peak as f64,
        ),
        Pair::bytes(
            "peak memory, clients",
            "clients_peak_bytes",
            f.clients_peak as f64,
        ),
        Pair::bytes("peak memory, both", "both_peak_bytes", both as f64),
        Pair::bytes(
            "per connection (both ends)",
            "per_connection_bytes",
            f.per_connection as f64,
        ),
    ];
    figure(
        "connections open at once",
        format!("{} (server count), every echo checked", f.max_live),
    );
    for row in &rows[1..] {
        figure(&row.label, common::python::show(row.rust, row.unit));
    }
    TWIN.compare(
        &flags(&[("--connections", &f.count), ("--connecting", &CONNECTING)]),
        &rows,
    )?;
    let capped = if f.count < CONNECTIONS {
        format!(
            " (the open-files limit allowed {} of {CONNECTIONS})",
            f.count
        )
    } else {
        String::new()
    };
    let mut evidence = Evidence::new(
        f.max_live == f.count,
        format!("{} connections open at once{capped}", f.count),
        f.max_live,
    );
    let mut claim = format!(
        "a connection is a task, not a thread: {} stay open at once on one thread per process",
        f.max_live
    );
    if f.count >= MEASURABLE {
        evidence = evidence.and(Evidence::new(
            f.per_connection < PER_CONNECTION,
            format!("under {PER_CONNECTION} B per connection, both ends"),
            format!("{} B ({} in all)", f.per_connection, Bytes(both)),
        ));
        claim += &format!(", {} B each", f.per_connection);
    } else {
        println!(
            "  (no claim on memory per connection: {} are too few to see it past the runtimes' own)",
            f.count
        );
    }
    takeaway_if(&evidence, claim);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn every_client_is_held_open_and_echoed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gauge = Arc::new(Gauge::new());
        let (stop, stop_rx) = watch::channel(false);
        let inside = gauge.clone();
        let server = tokio::spawn(serve(listener, stop_rx, move |socket| {
            let gauge = inside.clone();
            async move {
                let _in = gauge.enter();
                echo(socket).await;
            }
        }));
        let open = connect_all(addr, 100).await.unwrap();
        assert_eq!(open.len(), 100);
        assert_eq!(gauge.max(), 100, "all open at the same time");
        drop(open);
        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_is_an_error() {
        // Accepts and closes at once: no echo ever comes back.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        assert!(connect_all(addr, 3).await.is_err());
    }

    #[test]
    fn the_python_twin_holds_every_connection_open() {
        let args = ["--connections", "50", "--connecting", "8"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert_eq!(figures["connected"], 50);
            assert_eq!(figures["max_live"], 50);
        }
    }
}
