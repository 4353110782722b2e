//! `async with lock:` around an `await` -> a `std::sync::MutexGuard` across `.await` is
//! refused in a spawned task; scope the guard, use `tokio::sync::Mutex`, or give the state
//! to one task.
//!
//! Python:
//!     lock = asyncio.Lock()
//!     served, log = 0, []
//!     async def save(seen):                 # writing to a log: 10 or 20 ms
//!         await asyncio.sleep(0.01 if seen % 2 == 0 else 0.02)
//!         log.append(seen)
//!     async def serve():
//!         global served
//!         async with lock:
//!             seen = served + 1
//!             await save(seen)
//!             served = seen
//!     async def count():
//!         global served
//!         served += 1                       # no await inside: no lock needed in asyncio
//!
//! Rust: asyncio runs every task on one thread and switches only at an `await`, so a
//! read-modify-write with no `await` inside (`count` above) needs no lock there. tokio's
//! default multi-thread runtime runs tasks in parallel on several threads: the same
//! `+= 1` needs a `Mutex` or an atomic, and the compiler insists (a task cannot borrow the
//! counter mutably, and an `Arc` gives only shared access). With a lock, the next trap is
//! the `await` inside it. A `std::sync::MutexGuard` must be unlocked on the thread that
//! locked it, so it is not `Send`; a future that holds one across `.await` is not `Send`
//! either (the task could resume on another worker thread), and `tokio::spawn` refuses it.
//! This does not compile:
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
//! The three fixes, below, and what each does to the log:
//! 1. Scope the guard: take the number in a block that ends before the `.await`, then
//!    save. A std `Mutex` is the fastest lock when no `.await` is inside. But this is not
//!    the guide's program: the saves now overlap, so they land in the log in the order they
//!    finish (the quick even ones first), not 1, 2, 3. Use it when that order does not
//!    matter.
//! 2. `tokio::sync::Mutex`: its guard may be held across `.await` (it is `Send`). The
//!    guide's program exactly: the log in order, and every task waits its turn.
//! 3. No shared lock: one task owns the counter, the others send it requests over an
//!    `mpsc` channel and get their number back on a `oneshot`. The saves overlap, as in 1.
//!
//! Watch: ten tasks finish in about one save (20 ms) with the scoped guard and the owning
//! task, their logs out of order; about 150 ms (every save, one after another) when the
//! tokio guard is held across the wait, its log in order. Then the same contention (tasks
//! hammering one counter, no `.await` inside) on std's and tokio's mutex, in ns per lock.
//!
//! Run only this: cargo run -p asyncio-demo -- mutex-across-await
//! Copy it: cargo add tracing@0.1 && cargo add tokio@1 --features full

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// The log `save` appends to.
pub type Log = Arc<Mutex<Vec<u64>>>;

/// The wait the guide puts inside the lock: writing `seen` to the log takes `wait` for an
/// odd number and half of it for an even one, as real writes vary.
async fn save(seen: u64, wait: Duration, log: &Log, way: &'static str) {
    let took = if seen.is_multiple_of(2) {
        wait / 2
    } else {
        wait
    };
    tokio::time::sleep(took)
        .instrument(tracing::info_span!("save", lane = way, seen))
        .await;
    log.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
}

/// Fix 1: the std guard lives in a block that ends before the `.await`.
pub async fn serve_scoped(served: Arc<Mutex<u64>>, log: Log, wait: Duration) {
    let seen = {
        let mut n = served.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    }; // unlocked here: the saves overlap
    save(seen, wait, &log, "scoped").await;
}

/// Fix 2: tokio's guard is `Send`: held across the save, so the tasks take turns.
pub async fn serve_held(served: Arc<tokio::sync::Mutex<u64>>, log: Log, wait: Duration) {
    let mut n = served.lock().await;
    save(*n + 1, wait, &log, "held").await;
    *n += 1;
}

/// Fix 3: a task owns the count; each request carries a `oneshot` for its number.
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

pub async fn serve_by_message(
    counter: mpsc::Sender<oneshot::Sender<u64>>,
    log: Log,
    wait: Duration,
) {
    let (reply, number) = oneshot::channel();
    if counter.send(reply).await.is_err() {
        return; // the counter task has stopped
    }
    if let Ok(seen) = number.await {
        save(seen, wait, &log, "by message").await;
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
    let count = Arc::new(Mutex::new(0u64));
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

/// Runs `serve` in `tasks` tasks with a fresh log: the log, and how long it took.
pub async fn logged<F>(
    tasks: usize,
    serve: impl Fn(Log) -> F,
) -> Result<(Vec<u64>, Duration), tokio::task::JoinError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let log = Log::default();
    let start = tokio::time::Instant::now();
    spawn_all(tasks, || serve(Arc::clone(&log))).await?;
    let took = start.elapsed();
    let saved = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((saved, took))
}

/// The twin of `if __name__ == "__main__":` ten tasks through each fix, then the two
/// mutexes under contention.
#[tokio::main]
async fn main() -> Result<(), tokio::task::JoinError> {
    let wait = Duration::from_millis(20);
    let served = Arc::new(Mutex::new(0));
    let (log, took) = logged(10, |log| serve_scoped(served.clone(), log, wait)).await?;
    println!("1. std guard scoped: {took:.0?}, log {log:?}");
    let served = Arc::new(tokio::sync::Mutex::new(0));
    let (log, took) = logged(10, |log| serve_held(served.clone(), log, wait)).await?;
    println!("2. tokio guard held: {took:.0?}, log {log:?}");
    let counter = spawn_counter();
    let (log, took) = logged(10, |log| serve_by_message(counter.clone(), log, wait)).await?;
    println!("3. owning task: {took:.0?}, log {log:?}");
    let start = tokio::time::Instant::now();
    let count = hammer_std(4, 25_000).await?;
    println!(
        "std Mutex, 4 tasks x 25,000 locks: {count} in {:.1?}",
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let count = hammer_tokio(4, 25_000).await?;
    println!("tokio Mutex, the same: {count} in {:.1?}", start.elapsed());
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "mutex-across-await",
    "async with lock: ... await ...",
    "a std MutexGuard across .await is refused; scope it, tokio::sync::Mutex, or an owning task; both mutexes measured",
    run,
)
.main(|| main().report());

const TASKS: usize = 10;
const WAIT: Duration = Duration::from_millis(20);
/// Contention: this many tasks (more than 2 cores) each lock this many times.
const HAMMERS: usize = 4;
const EACH: u64 = 25_000;

/// One fix: its name, its log, its time, the most saves at once.
type Fix = (&'static str, Vec<u64>, Duration, usize);

#[tokio::main]
async fn run() -> SectionResult {
    let recording = Recording::start();
    let scoped = Arc::new(Mutex::new(0));
    let one = logged(TASKS, |log| serve_scoped(scoped.clone(), log, WAIT)).await?;
    let held = Arc::new(tokio::sync::Mutex::new(0));
    let two = logged(TASKS, |log| serve_held(held.clone(), log, WAIT)).await?;
    let counter = spawn_counter();
    let three = logged(TASKS, |log| serve_by_message(counter.clone(), log, WAIT)).await?;
    let spans = recording.finish().named(&["save"]);
    let at_once = |way: &str| {
        spans
            .filter(|s| s.field("lane") == Some(way))
            .most_at_once()
    };
    let fixes: [Fix; 3] = [
        ("1. std guard scoped", one.0, one.1, at_once("scoped")),
        ("2. tokio guard held", two.0, two.1, at_once("held")),
        (
            "3. owning task + channel",
            three.0,
            three.1,
            at_once("by message"),
        ),
    ];
    for (name, log, took, most) in &fixes {
        let mut sorted = log.clone();
        sorted.sort_unstable();
        anyhow::ensure!(
            sorted == (1..=TASKS as u64).collect::<Vec<_>>(),
            "{name}: the log is {log:?}"
        );
        figure(
            name,
            format!("{} ({most} at once), log {log:?}", Secs(*took)),
        );
    }
    spans.print(Lanes::Span);
    let (best_std, best_tokio) = contention().await?;
    claims(&fixes, best_std, best_tokio);
    Ok(())
}

/// The same contention on both mutexes, the faster of two rounds each.
async fn contention() -> anyhow::Result<(Duration, Duration)> {
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
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let per_lock = |t: Duration| Secs(t / locks as u32);
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
        format!("{} ({} per lock)", Secs(best_tokio), per_lock(best_tokio)),
    );
    Ok((best_std, best_tokio))
}

fn claims(fixes: &[Fix; 3], best_std: Duration, best_tokio: Duration) {
    let [
        (_, log1, took1, most1),
        (_, log2, took2, most2),
        (_, log3, took3, most3),
    ] = fixes;
    let in_order = |log: &Vec<u64>| log.is_sorted();
    // Five saves of WAIT and five of WAIT / 2, one after another.
    let serial = WAIT * TASKS as u32 * 3 / 4;
    let near = |t: &Duration, ideal: Duration| *t >= ideal / 2 && *t < ideal + ideal / 2;
    takeaway_if(
        &Evidence::new(
            *most2 == 1
                && near(took2, serial)
                && in_order(log2)
                && [*most1, *most3] == [TASKS; 2]
                && near(took1, WAIT)
                && near(took3, WAIT)
                && !in_order(log1)
                && !in_order(log3),
            format!(
                "the held guard one at a time (about {}) with its log in order, the other two all {TASKS} at once (about {}) with theirs out of order",
                Secs(serial),
                Secs(WAIT)
            ),
            format!(
                "{most2} at once in {} held, {most1} and {most3} at once in {} and {}, logs in order: {}, {}, {}",
                Secs(*took2),
                Secs(*took1),
                Secs(*took3),
                in_order(log2),
                in_order(log1),
                in_order(log3)
            ),
        ),
        "a guard held across .await keeps the guide's order but makes every task wait its turn; lock for the update only, or let one task own the state, when the saves may land in any order",
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::compile_fail::{assert_compiles, assert_refused, header_block};

    const SOURCE: &str = include_str!("mutex_across_await.rs");

    #[test]
    fn a_std_guard_across_await_is_refused_by_spawn() {
        let code = header_block(SOURCE, "This does not compile:");
        assert_refused(
            "guard_across_await",
            &code,
            &["tokio"],
            &header_block(SOURCE, "rustc says:"),
        );
        // The control, fix 1: the same update with the guard dropped before the await.
        let scoped = code.replace(
            "let mut n = served.lock().unwrap();",
            "{ *served.lock().unwrap() += 1; }",
        );
        let scoped = scoped.replace("*n += 1;", "");
        assert_compiles("guard_scoped", &scoped, &["tokio"]);
    }

    /// The evens (quick saves) first, each half in some order: every number once.
    fn evens_first(log: &[u64]) {
        let (mut evens, mut odds) = (log[..2].to_vec(), log[2..].to_vec());
        evens.sort_unstable();
        odds.sort_unstable();
        assert_eq!((evens, odds), (vec![2, 4], vec![1, 3, 5]), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_scoped_guard_lets_the_saves_overlap_and_land_out_of_order() {
        let served = Arc::new(Mutex::new(0));
        let (log, took) = logged(5, |log| serve_scoped(served.clone(), log, WAIT))
            .await
            .unwrap();
        assert_eq!(took, WAIT, "five saves, together: the longest one");
        assert_eq!(*served.lock().unwrap(), 5);
        evens_first(&log);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_guard_held_across_the_save_keeps_the_order_one_at_a_time() {
        let served = Arc::new(tokio::sync::Mutex::new(0));
        let (log, took) = logged(5, |log| serve_held(served.clone(), log, WAIT))
            .await
            .unwrap();
        assert_eq!(took, WAIT * 3 + WAIT / 2 * 2, "one after another");
        assert_eq!(log, [1, 2, 3, 4, 5]);
        assert_eq!(*served.lock().await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_owning_task_answers_each_request_once() {
        let counter = spawn_counter();
        let (log, took) = logged(5, |log| serve_by_message(counter.clone(), log, WAIT))
            .await
            .unwrap();
        assert_eq!(took, WAIT);
        evens_first(&log);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_mutexes_count_every_increment_under_contention() {
        assert_eq!(hammer_std(4, 1000).await.unwrap(), 4000);
        assert_eq!(hammer_tokio(4, 1000).await.unwrap(), 4000);
    }
}
