//! `async with lock:` around an `await` -> a `std::sync::MutexGuard` across `.await` is
//! refused in a spawned task; scope the guard, use `tokio::sync::Mutex`, or give the state
//! to one task.
//!
//! Python:
//!     lock = asyncio.Lock()
//!     served = 0
//!     async def serve():
//!         global served
//!         async with lock:
//!             seen = served + 1
//!             await asyncio.sleep(0.02)    # e.g. write `seen` to a log
//!             served = seen
//!
//! Rust: a `std::sync::MutexGuard` must be unlocked on the thread that locked it, so it is
//! not `Send`; a future that holds one across `.await` is not `Send` either (the task could
//! resume on another worker thread), and `tokio::spawn` refuses it. This does not compile:
//!
//!     pub fn serve(served: std::sync::Arc<std::sync::Mutex<u64>>) {
//!         tokio::spawn(async move {
//!             let mut n = served.lock().unwrap();
//!             tokio::time::sleep(std::time::Duration::from_millis(20)).await;
//!             *n += 1;
//!         });
//!     }
//!
//! rustc says:
//!
//!     error: future cannot be sent between threads safely
//!     the trait `Send` is not implemented for `std::sync::MutexGuard<'_, u64>`
//!     note: future is not `Send` as this value is used across an await
//!     has type `std::sync::MutexGuard<'_, u64>` which is not `Send`
//!
//! (The tests compile this snippet with rustc and check these lines; clippy's
//! `await_holding_lock` flags the same code where no spawn is involved.)
//! The three fixes, below:
//! 1. Scope the guard: do the shared update in a block that ends before the `.await`
//!    (the usual answer; a std `Mutex` is the fastest lock when no `.await` is inside).
//! 2. `tokio::sync::Mutex`: its guard may be held across `.await` (it is `Send`), for when
//!    the wait itself must be inside the lock. Every task then waits its turn.
//! 3. No shared lock: one task owns the counter, the others send it requests over an
//!    `mpsc` channel and get answers back on a `oneshot`.
//!
//! Watch: ten tasks each waiting 20 ms finish in about 20 ms with the scoped guard and the
//! owning task, and about 200 ms when the tokio guard is held across the wait (the
//! timeline's `held` lane shows them one after another). Then the same contention (tasks
//! hammering one counter, no `.await` inside) on std's and tokio's mutex, in ns per lock.
//!
//! Run only this: cargo run -p asyncio-demo -- mutex-across-await

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// The wait the guide puts inside the lock (writing a log line, a database call).
async fn save(seen: u64, wait: Duration, way: &'static str) {
    tokio::time::sleep(wait)
        .instrument(tracing::info_span!("save", lane = way, seen))
        .await;
}

/// Fix 1: the std guard lives in a block that ends before the `.await`.
pub async fn serve_scoped(served: Arc<std::sync::Mutex<u64>>, wait: Duration) {
    let seen = {
        let mut n = served.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    }; // unlocked here
    save(seen, wait, "scoped").await;
}

/// Fix 2: tokio's guard is `Send`: held across the wait, so the tasks take turns.
pub async fn serve_held(served: Arc<tokio::sync::Mutex<u64>>, wait: Duration) {
    let mut n = served.lock().await;
    save(*n + 1, wait, "held").await;
    *n += 1;
}

/// Fix 3: a task owns the count; each request carries a `oneshot` for the answer.
pub fn spawn_counter() -> mpsc::Sender<oneshot::Sender<u64>> {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<u64>>(64);
    tokio::spawn(async move {
        let mut served = 0;
        while let Some(reply) = rx.recv().await {
            served += 1;
            let _ = reply.send(served); // the asker may have gone: fine
        }
    });
    tx
}

pub async fn serve_by_message(counter: mpsc::Sender<oneshot::Sender<u64>>, wait: Duration) {
    let (reply, answer) = oneshot::channel();
    if counter.send(reply).await.is_err() {
        return; // the counter task has stopped
    }
    if let Ok(seen) = answer.await {
        save(seen, wait, "by message").await;
    }
}

/// `tasks` spawned tasks each call `serve`; waits for them all.
pub async fn spawn_all<F>(tasks: usize, serve: impl Fn() -> F) -> Result<(), tokio::task::JoinError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|_| tokio::spawn(serve())).collect();
    for handle in handles {
        handle.await?;
    }
    Ok(())
}

/// Contention without `.await` inside: `tasks` tasks add 1 to one std-mutex counter `each`
/// times.
pub async fn hammer_std(tasks: usize, each: u64) -> Result<u64, tokio::task::JoinError> {
    let count = Arc::new(std::sync::Mutex::new(0u64));
    spawn_all(tasks, || {
        let count = Arc::clone(&count);
        async move {
            for _ in 0..each {
                *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
        }
    })
    .await?;
    Ok(*count.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The same with `tokio::sync::Mutex`.
pub async fn hammer_tokio(tasks: usize, each: u64) -> Result<u64, tokio::task::JoinError> {
    let count = Arc::new(tokio::sync::Mutex::new(0u64));
    spawn_all(tasks, || {
        let count = Arc::clone(&count);
        async move {
            for _ in 0..each {
                *count.lock().await += 1;
            }
        }
    })
    .await?;
    Ok(*count.lock().await)
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "mutex-across-await",
    "async with lock: ... await ...",
    "a std MutexGuard across .await is refused; scope it, tokio::sync::Mutex, or an owning task; both mutexes measured",
    run,
);

const TASKS: usize = 10;
const WAIT: Duration = Duration::from_millis(20);
/// Contention: this many tasks (more than 2 cores) each lock this many times.
const HAMMERS: usize = 4;
const EACH: u64 = 25_000;

#[tokio::main]
async fn run() -> SectionResult {
    let recording = Recording::start();
    let scoped = Arc::new(std::sync::Mutex::new(0));
    let (done, took_scoped) =
        timed_async(spawn_all(TASKS, || serve_scoped(Arc::clone(&scoped), WAIT))).await;
    done?;
    let held = Arc::new(tokio::sync::Mutex::new(0));
    let (done, took_held) =
        timed_async(spawn_all(TASKS, || serve_held(Arc::clone(&held), WAIT))).await;
    done?;
    let counter = spawn_counter();
    let (done, took_message) =
        timed_async(spawn_all(TASKS, || serve_by_message(counter.clone(), WAIT))).await;
    done?;
    let spans = recording.finish().named(&["save"]);
    let scoped = *scoped.lock().unwrap_or_else(|e| e.into_inner());
    let held = *held.lock().await;
    anyhow::ensure!(
        scoped == TASKS as u64 && held == TASKS as u64,
        "lost an update: {scoped} and {held} of {TASKS}"
    );
    let at_once = |way: &str| {
        spans
            .filter(|s| s.field("lane") == Some(way))
            .most_at_once()
    };
    let by_message = spans.filter(|s| s.field("lane") == Some("by message"));
    let mut seen: Vec<u64> = by_message
        .spans()
        .iter()
        .filter_map(|s| s.field("seen")?.parse().ok())
        .collect();
    seen.sort_unstable();
    anyhow::ensure!(
        seen == (1..=TASKS as u64).collect::<Vec<_>>(),
        "the owning task answered {seen:?}"
    );

    // The same contention on both mutexes; the faster of two rounds each.
    let locks = HAMMERS as u64 * EACH;
    let (mut best_std, mut best_tokio) = (Duration::MAX, Duration::MAX);
    for _ in 0..2 {
        let (total, took) = timed_async(hammer_std(HAMMERS, EACH)).await;
        anyhow::ensure!(total? == locks, "std: lost increments");
        best_std = best_std.min(took);
        let (total, took) = timed_async(hammer_tokio(HAMMERS, EACH)).await;
        anyhow::ensure!(total? == locks, "tokio: lost increments");
        best_tokio = best_tokio.min(took);
    }
    let per_lock = |t: Duration| Secs(t / locks as u32);

    figure("tasks", format!("{TASKS}, each waiting {}", Secs(WAIT)));
    figure(
        "1. std guard scoped",
        format!("{} ({} at once)", Secs(took_scoped), at_once("scoped")),
    );
    figure(
        "2. tokio guard held",
        format!("{} ({} at once)", Secs(took_held), at_once("held")),
    );
    figure(
        "3. owning task + channel",
        format!("{} ({} at once)", Secs(took_message), at_once("by message")),
    );
    spans.print(Lanes::Span);
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    figure(
        "contention",
        format!("{HAMMERS} tasks x {EACH} locks on 1 counter, {workers} worker threads"),
    );
    figure(
        "std::sync::Mutex",
        format!("{} ({} per lock)", Secs(best_std), per_lock(best_std)),
    );
    figure(
        "tokio::sync::Mutex",
        format!(
            "{} ({} per lock, {:.1}x std's{})",
            Secs(best_tokio),
            per_lock(best_tokio),
            best_tokio.as_secs_f64() / best_std.as_secs_f64().max(1e-9),
            if cfg!(debug_assertions) {
                "; dev profile"
            } else {
                ""
            }
        ),
    );
    let serial = WAIT * TASKS as u32;
    let near = |t: Duration, ideal: Duration| t >= ideal && t < ideal + ideal / 2;
    takeaway_if(
        &Evidence::new(
            at_once("held") == 1
                && at_once("scoped") == TASKS
                && near(took_held, serial)
                && near(took_scoped, WAIT)
                && at_once("by message") == TASKS
                && near(took_message, WAIT),
            format!(
                "the held guard one at a time (about {}), the scoped guard and the owning task all {TASKS} at once (about {})",
                Secs(serial),
                Secs(WAIT)
            ),
            format!(
                "{} at once in {} held, {} at once in {} scoped, {} at once in {} by message",
                at_once("held"),
                Secs(took_held),
                at_once("scoped"),
                Secs(took_scoped),
                at_once("by message"),
                Secs(took_message)
            ),
        ),
        "a guard held across .await makes every task wait its turn for the whole wait: lock for the update only, or let one task own the state",
    );
    takeaway_if(
        &Evidence::faster(
            "std::sync::Mutex",
            best_std,
            "tokio::sync::Mutex",
            best_tokio,
            1.5,
        ),
        "with no .await inside the lock, std's Mutex is the faster one; tokio's is for holding across .await",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_fail::{assert_compiles, assert_refused, header_block};
    use tokio::time::Instant;

    const SOURCE: &str = include_str!("mutex_across_await.rs");

    #[test]
    fn a_std_guard_across_await_is_refused_by_spawn() {
        let code = header_block(SOURCE, "This does not compile:");
        assert_refused(
            "guard_across_await",
            &code,
            &header_block(SOURCE, "rustc says:"),
        );
        // The control, fix 1: the same update with the guard dropped before the await.
        let scoped = code.replace(
            "let mut n = served.lock().unwrap();",
            "{ *served.lock().unwrap() += 1; }",
        );
        let scoped = scoped.replace("*n += 1;", "");
        assert_compiles("guard_scoped", &scoped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scoped_guard_lets_the_waits_overlap() {
        let served = Arc::new(std::sync::Mutex::new(0));
        let start = Instant::now();
        spawn_all(5, || serve_scoped(Arc::clone(&served), WAIT))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), WAIT, "five waits, together");
        assert_eq!(*served.lock().unwrap(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_guard_held_across_the_wait_serialises_the_tasks() {
        let served = Arc::new(tokio::sync::Mutex::new(0));
        let start = Instant::now();
        spawn_all(5, || serve_held(Arc::clone(&served), WAIT))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), WAIT * 5, "one after another");
        assert_eq!(*served.lock().await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_owning_task_answers_each_request_once() {
        let recording = Recording::local();
        let counter = spawn_counter();
        let start = Instant::now();
        spawn_all(5, || serve_by_message(counter.clone(), WAIT))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), WAIT);
        let mut seen: Vec<String> = recording
            .finish()
            .named(&["save"])
            .spans()
            .iter()
            .filter_map(|s| s.field("seen").map(str::to_owned))
            .collect();
        seen.sort();
        assert_eq!(seen, ["1", "2", "3", "4", "5"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_mutexes_count_every_increment_under_contention() {
        assert_eq!(hammer_std(4, 1000).await.unwrap(), 4000);
        assert_eq!(hammer_tokio(4, 1000).await.unwrap(), 4000);
    }
}
