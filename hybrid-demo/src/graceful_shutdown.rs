//! Graceful shutdown of a job server: on Ctrl-C stop taking work, let the jobs in flight
//! finish, and prove nothing was lost (`tokio::signal::ctrl_c`, `CancellationToken`,
//! `TaskTracker`).
//!
//! Python:
//!     stop = asyncio.Event()
//!     loop.add_signal_handler(signal.SIGINT, stop.set)
//!     async def serve(inbox):
//!         async with asyncio.TaskGroup() as tg:           # waits for every job at the end
//!             while not stop.is_set():
//!                 job = await inbox.get()                 # (racing stop.wait() in real code)
//!                 tg.create_task(run(job))
//!         # queued but not started: tell the clients "refused"
//!
//! Rust: a `CancellationToken` is the `stop` event; clone it to whoever must react. The
//! server `select!`s between the token and its inbox, so it stops taking work the moment
//! the token fires; it then closes the inbox (later submissions fail at once), refuses
//! what was queued, and `TaskTracker::wait` waits for the jobs in flight, like the
//! TaskGroup's exit, with a time limit so a stuck job cannot hang shutdown forever.
//! A tokio signal listener is the handler, installed before the prompt (a Ctrl-C with no
//! listener yet still kills the process); once installed it stays for the life of
//! the process (Ctrl-C no longer kills it by itself), which is why the demo only installs it
//! when asked, and then keeps listening: a second Ctrl-C, during the drain or in any later
//! section, ends the program at once (exit code 130, as a shell reports a Ctrl-C).
//!
//! Watch: clients submit jobs every few milliseconds; the demo fires the shutdown itself
//! after a moment. Every accepted job finishes with the right answer, later submissions
//! are refused, and the lost count is 0. To try a real Ctrl-C:
//!     cargo run -p hybrid-demo -- graceful-shutdown --ctrl-c
//!
//! Run only this: cargo run -p hybrid-demo -- graceful-shutdown
//! Copy it: cargo add anyhow@1 tracing@0.1 && cargo add tokio@1 --features full && cargo add tokio-util@0.7 --features rt

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a client sends: the job, where to say whether it was taken, where its answer goes.
struct Submission {
    id: u64,
    accepted: oneshot::Sender<bool>,
    answer: oneshot::Sender<u64>,
}

/// The client side of the server.
#[derive(Clone)]
pub struct Client {
    inbox: mpsc::Sender<Submission>,
}

impl Client {
    /// Submit job `id`: the receiver of its answer, or `None` when the server refused it.
    pub async fn submit(&self, id: u64) -> Option<oneshot::Receiver<u64>> {
        let (accepted, was_accepted) = oneshot::channel();
        let (answer, answer_rx) = oneshot::channel();
        let submission = Submission {
            id,
            accepted,
            answer,
        };
        if self.inbox.send(submission).await.is_err() {
            return None; // the server closed its inbox
        }
        match was_accepted.await {
            Ok(true) => Some(answer_rx),
            _ => None,
        }
    }
}

/// What the server did, counted on its side.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerReport {
    pub accepted: u64,
    pub finished: u64,
    /// Queued in the inbox when the shutdown came, answered "refused".
    pub refused_in_queue: u64,
    /// Jobs still running when the shutdown came.
    pub in_flight_at_shutdown: u64,
    pub drain: Duration,
}

/// A job server with an inbox of `queue` submissions: takes jobs until `shutdown` fires,
/// then drains, giving the jobs in flight `grace` to finish. `work(id)` is what job `id` does.
pub fn start_server<F, Fut>(
    queue: usize,
    grace: Duration,
    shutdown: CancellationToken,
    work: F,
) -> (
    Client,
    tokio::task::JoinHandle<anyhow::Result<ServerReport>>,
)
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    let (inbox_tx, inbox) = mpsc::channel(queue);
    let server = tokio::spawn(serve(inbox, shutdown, grace, work));
    (Client { inbox: inbox_tx }, server)
}

/// The server loop.
async fn serve<F, Fut>(
    mut inbox: mpsc::Receiver<Submission>,
    shutdown: CancellationToken,
    grace: Duration,
    work: F,
) -> anyhow::Result<ServerReport>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let tracker = TaskTracker::new();
    let finished = Arc::new(AtomicU64::new(0));
    let mut report = ServerReport::default();
    loop {
        tokio::select! {
            biased; // once the token fires, take nothing more
            () = shutdown.cancelled() => break,
            submission = inbox.recv() => {
                let Some(Submission { id, accepted, answer }) = submission else { break };
                if accepted.send(true).is_err() {
                    continue; // the client gave up waiting: do not run it
                }
                report.accepted += 1;
                let (finished, work) = (finished.clone(), work(id));
                tracker.spawn(async move {
                    let value = work.await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    let _ = answer.send(value); // a client that left does not stop the job
                });
            }
        }
    }
    // 1. Stop taking work: new submissions fail at once; the queued ones are refused.
    inbox.close();
    report.in_flight_at_shutdown = tracker.len() as u64;
    tracing::debug!(in_flight = report.in_flight_at_shutdown, "shutting down");
    while let Some(queued) = inbox.recv().await {
        let _ = queued.accepted.send(false);
        report.refused_in_queue += 1;
    }
    // 2. Let the jobs in flight finish, within the grace period.
    let draining = Instant::now();
    tracker.close();
    tokio::time::timeout(grace, tracker.wait())
        .await
        .map_err(|_| anyhow!("{} jobs still running after {grace:?}", tracker.len()))?;
    report.drain = draining.elapsed();
    report.finished = finished.load(Ordering::SeqCst);
    Ok(report)
}

/// Listen for Ctrl-C from now on, and return the wait for it (at most `limit`), which says
/// what came first. Listen *before* telling the user to press it: a Ctrl-C that arrives
/// while nothing listens still kills the process (`tokio::signal::ctrl_c()` only starts
/// listening when first polled). Once installed, the handler stays for the life of the
/// process: Ctrl-C no longer kills it by itself.
pub fn ctrl_c_or(limit: Duration) -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?; // listening from here on
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "Ctrl-C",
            () = tokio::time::sleep(limit) => "no Ctrl-C came: the time limit",
        }
    })
}

/// Job `id`'s work: a wait of 50 to 150 ms (a call to some service), then its answer.
async fn job(id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(50 + id * 37 % 101)).await;
    id * 2
}

/// What the clients saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClientReport {
    pub answered: u64,
    pub wrong: u64,
    /// Accepted but never answered: must stay 0.
    pub lost: u64,
    pub refused: u64,
}

/// `clients` clients submit a job every `every` until the server refuses one, then wait
/// for all their answers.
pub async fn clients(
    client: &Client,
    clients: u64,
    every: Duration,
) -> anyhow::Result<ClientReport> {
    let next_id = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..clients {
        let (client, next_id) = (client.clone(), next_id.clone());
        set.spawn(async move {
            let mut tickets = Vec::new();
            let mut report = ClientReport::default();
            loop {
                let id = next_id.fetch_add(1, Ordering::SeqCst);
                match client.submit(id).await {
                    Some(answer) => tickets.push((id, answer)),
                    None => {
                        report.refused += 1;
                        break;
                    }
                }
                tokio::time::sleep(every).await;
            }
            for (id, answer) in tickets {
                match answer.await {
                    Ok(value) if value == id * 2 => report.answered += 1,
                    Ok(_) => report.wrong += 1,
                    Err(_) => report.lost += 1,
                }
            }
            report
        });
    }
    let mut total = ClientReport::default();
    while let Some(report) = set.join_next().await {
        let r = report?;
        total.answered += r.answered;
        total.wrong += r.wrong;
        total.lost += r.lost;
        total.refused += r.refused;
    }
    Ok(total)
}

/// The server takes jobs from four clients until a Ctrl-C, or 400 ms, then drains.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let (client, server) = start_server(8, Duration::from_secs(5), shutdown.clone(), job);
    let load = tokio::spawn(async move { clients(&client, 4, Duration::from_millis(10)).await });
    println!("serving for 400 ms, or until Ctrl-C");
    let cause = ctrl_c_or(Duration::from_millis(400))?.await;
    shutdown.cancel();
    let server = server.await??;
    let seen = load.await??;
    println!("shutdown by {cause}: {server:?}");
    println!("the clients saw {seen:?}");
    Ok(())
}

// --- run and measure ---

use std::io::Write;
use std::process::Termination;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, Once};

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, Stopwatch};

/// The demo-wide options: only this section reads them.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// graceful-shutdown: wait for a real Ctrl-C (up to 60 s) instead of shutting down by
    /// itself after a moment
    #[arg(long = "ctrl-c")]
    pub ctrl_c: bool,
}

pub const SECTION: Section<Options> = Section::with_options(
    "graceful-shutdown",
    "loop.add_signal_handler(SIGINT, stop.set) + TaskGroup",
    "stops taking work on Ctrl-C, finishes what it accepted",
    run,
)
.main(|| {
    let code = main().report();
    // The lesson listened for Ctrl-C: from here on one ends the demo again.
    ctrl_c_ends_the_process(std::time::Instant::now());
    code
})
.owns_options(&["ctrl-c"]);

const CLIENTS: u64 = 4;
const SUBMIT_EVERY: Duration = Duration::from_millis(10);
const RUN_FOR: Duration = Duration::from_millis(400);
/// How long the server gives jobs in flight to finish.
const GRACE: Duration = Duration::from_secs(5);
/// With `--ctrl-c`: how long to wait for one before shutting down anyway.
const CTRL_C_WAIT: Duration = Duration::from_secs(60);

/// What starts the shutdown: a real Ctrl-C when asked for, else the demo's own timer.
async fn shutdown_signal(wait_for_ctrl_c: bool) -> anyhow::Result<&'static str> {
    if !wait_for_ctrl_c {
        tokio::time::sleep(RUN_FOR).await;
        return Ok("the demo's timer (no real signal)");
    }
    let ctrl_c = ctrl_c_or(CTRL_C_WAIT)?; // listen first, then ask
    let wait = Secs(CTRL_C_WAIT);
    println!("  serving; press Ctrl-C to shut down (or wait {wait})");
    Ok(ctrl_c.await)
}

/// Set while the section itself waits for Ctrl-C: that one is the section's, not a stop.
static WAITING_FOR_CTRL_C: AtomicBool = AtomicBool::new(false);
/// When the section's wait for Ctrl-C ended.
static HANDLED_AT: Mutex<Option<std::time::Instant>> = Mutex::new(None);
/// A Ctrl-C this soon after the section's is the same key press seen twice (a terminal
/// signals the whole process group, and a supervising parent passes it on as well).
const ECHO: Duration = Duration::from_millis(500);

/// `ctrl_c()` leaves its handler installed for the rest of the process, so Ctrl-C would
/// no longer stop the program. Once the section stops listening, a thread (started once)
/// listens instead: the next Ctrl-C, other than the section's own, ends the process with
/// exit code 130, as the default handler would have.
fn ctrl_c_ends_the_process(handled_at: std::time::Instant) {
    static LISTENER: Once = Once::new();
    *HANDLED_AT.lock().unwrap_or_else(|e| e.into_inner()) = Some(handled_at);
    WAITING_FOR_CTRL_C.store(false, Ordering::SeqCst);
    LISTENER.call_once(|| {
        let listen = || -> std::io::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                loop {
                    tokio::signal::ctrl_c().await?;
                    let at = *HANDLED_AT.lock().unwrap_or_else(|e| e.into_inner());
                    let echo = at.is_some_and(|at| at.elapsed() < ECHO);
                    if !echo && !WAITING_FOR_CTRL_C.load(Ordering::SeqCst) {
                        let _ = writeln!(std::io::stderr(), "Ctrl-C: stopping");
                        std::process::exit(130);
                    }
                }
            })
        };
        let started = std::thread::Builder::new()
            .name("ctrl-c".into())
            .spawn(move || {
                if let Err(e) = listen() {
                    let _ = writeln!(std::io::stderr(), "Ctrl-C listener: {e}");
                }
            });
        if let Err(e) = started {
            let _ = writeln!(std::io::stderr(), "Ctrl-C listener not started: {e}");
        }
    });
}

#[tokio::main]
async fn run(options: &Options) -> SectionResult {
    let shutdown = CancellationToken::new();
    let (client, server) = start_server(8, GRACE, shutdown.clone(), job);
    let load = tokio::spawn(async move { clients(&client, CLIENTS, SUBMIT_EVERY).await });
    if options.ctrl_c {
        WAITING_FOR_CTRL_C.store(true, Ordering::SeqCst);
    }
    let cause = shutdown_signal(options.ctrl_c).await;
    if options.ctrl_c {
        // From here on the section no longer listens: a Ctrl-C stops the program again.
        ctrl_c_ends_the_process(Instant::now().into_std());
    }
    let cause = cause?;
    let sw = Stopwatch::start();
    shutdown.cancel();
    let server = server.await??;
    let stopped_in = sw.elapsed();
    let seen = load.await??;

    let (accepted, answered) = (server.accepted, seen.answered);
    anyhow::ensure!(
        seen.lost == 0 && seen.wrong == 0 && server.finished == accepted && answered == accepted,
        "accepted {accepted}, finished {}, answered {answered}, lost {}, wrong {}",
        server.finished,
        seen.lost,
        seen.wrong
    );
    figure("shutdown triggered by", cause);
    if !options.ctrl_c {
        println!(
            "    (to press Ctrl-C yourself: cargo run -p hybrid-demo -- graceful-shutdown --ctrl-c)"
        );
    }
    figure("jobs accepted", server.accepted);
    figure("  in flight at the signal", server.in_flight_at_shutdown);
    figure("  finished, right answer", seen.answered);
    figure("  lost", seen.lost);
    let queued = server.refused_in_queue;
    figure(
        "submissions refused",
        format!("{} ({queued} of them queued at the signal)", seen.refused),
    );
    figure("in-flight jobs drained in", Secs(server.drain));
    figure("signal to server stopped", Secs(stopped_in));
    takeaway_if(
        &Evidence::new(
            accepted > 0 && answered == accepted && seen.lost == 0,
            "every accepted job answered, none lost",
            format!(
                "{accepted} accepted, {answered} answered, {} lost",
                seen.lost
            ),
        ),
        format!(
            "cancel a token to stop taking work, TaskTracker::wait for the rest: all {accepted} accepted jobs finished"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shutdown after 200 ms (paused clock): every accepted job finishes with its answer,
    /// the server refuses what comes later.
    #[tokio::test(start_paused = true)]
    async fn shutdown_finishes_every_accepted_job_and_refuses_new_ones() {
        let shutdown = CancellationToken::new();
        let (client, server) = start_server(2, GRACE, shutdown.clone(), job);
        let load = tokio::spawn({
            let client = client.clone();
            async move { clients(&client, 3, Duration::from_millis(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        shutdown.cancel();
        let report = server.await.unwrap().unwrap();
        let seen = load.await.unwrap().unwrap();

        assert!(report.accepted >= 3 * 15, "{report:?}");
        assert!(
            report.in_flight_at_shutdown > 0,
            "jobs were running: {report:?}"
        );
        assert_eq!(report.finished, report.accepted);
        assert_eq!(seen.answered, report.accepted);
        assert_eq!((seen.lost, seen.wrong), (0, 0));
        assert_eq!(seen.refused, 3, "each client is refused once, then stops");
        // The longest job is 150 ms: the drain waits for it, not for the grace period.
        assert!(report.drain <= Duration::from_millis(150), "{report:?}");

        assert!(
            client.submit(10_000).await.is_none(),
            "refused after shutdown"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_that_never_ends_makes_shutdown_fail_after_the_grace_period() {
        let shutdown = CancellationToken::new();
        let (inbox_tx, inbox) = mpsc::channel(1);
        let stuck = |id: u64| async move {
            if id == 1 {
                std::future::pending::<()>().await;
            }
            id * 2
        };
        let grace = Duration::from_secs(3);
        let server = tokio::spawn(serve(inbox, shutdown.clone(), grace, stuck));
        let client = Client { inbox: inbox_tx };
        let quick = client.submit(0).await.expect("accepted");
        let _never = client.submit(1).await.expect("accepted");
        assert_eq!(quick.await.unwrap(), 0);
        let start = tokio::time::Instant::now();
        shutdown.cancel();
        let err = server.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("1 jobs still running"), "{err}");
        assert_eq!(start.elapsed(), grace, "it gave up exactly at the limit");
    }
}
