//! `asyncio.wait_for(reader.readline(), timeout)` in a loop -> a `tokio::select!` loop, and
//! which futures may be dropped there: cancel safety.
//!
//! Python:
//!     while True:
//!         try:
//!             raw = await asyncio.wait_for(reader.readline(), timeout=0.002)
//!         except TimeoutError:
//!             ticks += 1                  # the heartbeat; a half line waits in `reader`
//!             continue
//!         if not raw:
//!             break
//!         lines.append(raw)
//!
//! Rust: `select!` drops the branches that lost, and a dropped future runs no code after its
//! last `.await`: no `CancelledError` is raised inside it to clean up after, so whatever it
//! held in itself is gone. `read_line` moves the bytes it has read into itself, so a tick
//! that wins while half a line has arrived throws that half away (Python's `StreamReader`
//! keeps them in the reader, and loses none). tokio's `select!` docs ("Cancellation
//! safety", docs.rs/tokio/latest/tokio/macro.select.html) list the cancel-safe calls
//! (`mpsc::Receiver::recv`, `AsyncReadExt::read`, `StreamExt::next`) and those that lose
//! data (`read_exact`, `read_to_end`, `read_to_string`, `write_all`); `read_line`'s own docs
//! say it is not cancel safe and point to `Lines::next_line`, which is. The two fixes: keep
//! the half line outside the future (`lines()`, made once before the loop; or a reader task
//! that sends whole lines on a channel, read with `recv`), or keep one future alive across
//! the loop's turns (`tokio::pin!`, and `&mut future` in the branch).
//!
//! Watch: 20 lines over a local socket, every other one in two pieces 6 ms apart, while a
//! 2 ms tick races the read: `read_line` in `select!` loses the 10 split lines (what is left
//! of each arrives as a fragment, `" 001"`); both fixes lose 0.
//!
//! Run only this: cargo run -p asyncio-demo -- cancellation-safety
//! Copy it: cargo add tokio@1 --features full

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{interval, sleep};

pub const LINES: usize = 20;
pub const PAUSE: Duration = Duration::from_millis(6);
pub const TICK: Duration = Duration::from_millis(2);

pub fn line(i: usize) -> String {
    format!("line {i:03}")
}

/// The sender: `count` lines, every other one in two pieces `pause` apart, as a slow
/// network delivers them.
pub async fn send_lines(
    mut socket: impl AsyncWrite + Unpin,
    count: usize,
    pause: Duration,
) -> io::Result<()> {
    for i in 0..count {
        let text = format!("{}\n", line(i));
        if i % 2 == 1 {
            let (head, tail) = text.split_at(4);
            socket.write_all(head.as_bytes()).await?;
            sleep(pause).await;
            socket.write_all(tail.as_bytes()).await?;
        } else {
            socket.write_all(text.as_bytes()).await?;
        }
    }
    socket.shutdown().await
}

/// What a reader handed on, and how many times the tick won the race.
#[derive(Debug, Default)]
pub struct Got {
    pub lines: Vec<String>,
    pub ticks: u64,
}

impl Got {
    /// How many of the `sent` lines never arrived whole.
    pub fn lost(&self, sent: usize) -> usize {
        (0..sent)
            .filter(|&i| !self.lines.contains(&line(i)))
            .count()
    }
}

/// NOT cancel safe: a new `read_line` future each turn, dropped (with the bytes it has
/// read) whenever the tick wins.
pub async fn read_line_in_select(
    socket: impl AsyncRead + Unpin,
    tick: Duration,
) -> io::Result<Got> {
    let mut reader = BufReader::new(socket);
    let (mut got, mut ticks, mut line) = (Got::default(), interval(tick), String::new());
    loop {
        tokio::select! {
            read = reader.read_line(&mut line) => {
                if read? == 0 {
                    break; // end of stream
                }
                got.lines.push(line.trim_end().to_owned());
                line.clear();
            }
            _ = ticks.tick() => got.ticks += 1,
        }
    }
    Ok(got)
}

/// Fix 1, a cancel-safe call: `Lines` keeps a half line in itself, outside the future that
/// `next_line()` makes, so dropping that future loses nothing.
pub async fn next_line_in_select(
    socket: impl AsyncRead + Unpin,
    tick: Duration,
) -> io::Result<Got> {
    let mut lines = BufReader::new(socket).lines();
    let (mut got, mut ticks) = (Got::default(), interval(tick));
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => got.lines.push(line),
                None => break,
            },
            _ = ticks.tick() => got.ticks += 1,
        }
    }
    Ok(got)
}

/// One line, read by a future that owns its reader and hands it back with the line.
async fn read_one<R: AsyncBufRead + Unpin>(mut reader: R) -> (R, io::Result<String>) {
    let mut line = String::new();
    let read = reader.read_line(&mut line).await.map(|_| line);
    (reader, read)
}

/// Fix 2, one future kept across turns: pinned outside the loop and polled by reference
/// (`&mut next`), so a winning tick leaves it where it was; a new one starts only after it
/// has finished.
pub async fn pinned_read_line(socket: impl AsyncRead + Unpin, tick: Duration) -> io::Result<Got> {
    let (mut got, mut ticks) = (Got::default(), interval(tick));
    let next = read_one(BufReader::new(socket));
    tokio::pin!(next);
    loop {
        tokio::select! {
            (reader, read) = &mut next => {
                let line = read?;
                if line.is_empty() {
                    break;
                }
                got.lines.push(line.trim_end().to_owned());
                next.set(read_one(reader));
            }
            _ = ticks.tick() => got.ticks += 1,
        }
    }
    Ok(got)
}

/// One run over a real socket: a sender connects and writes, `read` reads the accepted end.
pub async fn over_tcp<F>(read: impl FnOnce(TcpStream) -> F) -> io::Result<Got>
where
    F: Future<Output = io::Result<Got>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let sender = tokio::spawn(send_lines(client, LINES, PAUSE));
    let (accepted, _) = listener.accept().await?;
    let got = read(accepted).await?;
    sender.await??;
    Ok(got)
}

/// The twin of `if __name__ == "__main__":` the three loops, each over its own connection.
#[tokio::main]
async fn main() -> io::Result<()> {
    let runs = [
        (
            "read_line in select!",
            over_tcp(|s| read_line_in_select(s, TICK)).await?,
        ),
        (
            "Lines::next_line in select!",
            over_tcp(|s| next_line_in_select(s, TICK)).await?,
        ),
        (
            "one pinned read_line",
            over_tcp(|s| pinned_read_line(s, TICK)).await?,
        ),
    ];
    for (name, got) in &runs {
        println!(
            "{name:<28} {} of {LINES} lines lost, the tick won {} times; first lines: {:?}",
            got.lost(LINES),
            got.ticks,
            &got.lines[..4]
        );
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};

pub const SECTION: Section = Section::new(
    "cancellation-safety",
    "asyncio.wait_for(reader.readline()) in a loop",
    "read_line in select! loses half-read lines; Lines::next_line and a pinned future lose none",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same lines and tick with `wait_for(reader.readline(), tick)`.
const TWIN: Twin = Twin::new(
    "cancellation_safety.py",
    include_str!("../python/cancellation_safety.py"),
    &["sent", "lost", "ticks"],
);

#[tokio::main]
async fn run() -> SectionResult {
    let unsafe_loop = over_tcp(|s| read_line_in_select(s, TICK)).await?;
    let fixes = [
        over_tcp(|s| next_line_in_select(s, TICK)).await?,
        over_tcp(|s| pinned_read_line(s, TICK)).await?,
    ];
    let lost = unsafe_loop.lost(LINES);
    for (name, got) in [
        "read_line in select!",
        "Lines::next_line in select!",
        "one pinned read_line",
    ]
    .iter()
    .zip([&unsafe_loop, &fixes[0], &fixes[1]])
    {
        let lost = got.lost(LINES);
        figure(
            name,
            format!("{lost} of {LINES} lines lost ({} ticks won)", got.ticks),
        );
    }
    anyhow::ensure!(
        fixes
            .iter()
            .all(|got| got.lost(LINES) == 0 && got.lines.len() == LINES),
        "a cancel-safe loop lost or split a line"
    );
    let fragments: Vec<_> = unsafe_loop
        .lines
        .iter()
        .filter(|l| !l.starts_with("line"))
        .take(3)
        .collect();
    println!("  what the unsafe loop handed on instead: {fragments:?}");
    TWIN.compare(
        &flags(&[
            ("--lines", &LINES),
            ("--pause", &PAUSE.as_secs_f64()),
            ("--tick", &TICK.as_secs_f64()),
        ]),
        &[
            Pair::count("lines lost: read_line in select!", "lost", lost as f64),
            Pair::count("lines lost: Lines::next_line", "lost", 0.0),
        ],
    )?;
    takeaway_if(
        &Evidence::new(
            lost > 0,
            format!(
                "the unsafe loop to lose some of the {} split lines",
                LINES / 2
            ),
            format!("{lost} lost (the tick never won while a line was half read)"),
        ),
        "select! drops the losing future and what it held: race only cancel-safe calls, or pin one future across turns",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sender and a reader over an in-memory pipe, on the paused clock: every tick lands
    /// exactly in the 6 ms pause of each split line.
    async fn piped<F: Future<Output = io::Result<Got>>>(
        read: impl FnOnce(tokio::io::DuplexStream) -> F,
    ) -> Got {
        let (ours, theirs) = tokio::io::duplex(64);
        let sender = tokio::spawn(send_lines(theirs, LINES, PAUSE));
        let got = read(ours).await.unwrap();
        sender.await.unwrap().unwrap();
        got
    }

    #[tokio::test(start_paused = true)]
    async fn read_line_in_select_loses_every_split_line() {
        let got = piped(|s| read_line_in_select(s, TICK)).await;
        assert_eq!(got.lost(LINES), LINES / 2);
        assert!(got.lines.contains(&" 001".to_owned()), "{:?}", got.lines);
        assert!(got.lines.contains(&line(2)), "whole lines arrive whole");
    }

    #[tokio::test(start_paused = true)]
    async fn both_fixes_lose_nothing_while_the_tick_wins() {
        for got in [
            piped(|s| next_line_in_select(s, TICK)).await,
            piped(|s| pinned_read_line(s, TICK)).await,
        ] {
            let sent: Vec<_> = (0..LINES).map(line).collect();
            assert_eq!(got.lines, sent);
            assert!(
                got.ticks >= (LINES / 2) as u64 * 2,
                "the tick won in every pause"
            );
        }
    }

    #[tokio::test]
    async fn over_a_socket_the_fixes_lose_nothing() {
        let got = over_tcp(|s| next_line_in_select(s, TICK)).await.unwrap();
        assert_eq!(got.lost(LINES), 0);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = ["--lines", "6", "--pause", "0.006", "--tick", "0.002"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            assert_eq!(figures["sent"].as_f64(), Some(6.0));
            assert_eq!(
                figures["lost"].as_f64(),
                Some(0.0),
                "StreamReader keeps half lines"
            );
        }
    }
}
