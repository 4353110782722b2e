//! `asyncio.create_task` on coroutines that share a plain object -> `spawn_local` on a
//! `LocalSet`, for tasks that hold an `Rc` (not `Send`).
//!
//! Python:
//!     seen = []                                # a plain list, no lock: one thread
//!     async def square(i):
//!         await asyncio.sleep(0.05)
//!         seen.append(i * i)
//!     await asyncio.gather(*(asyncio.create_task(square(i)) for i in range(10)))
//!
//! Rust: the plain shared list is `Rc<RefCell<Vec<u64>>>`: a count without atomics, a
//! borrow checked at run time, no lock. Neither may leave its thread, so neither is
//! `Send`. `tokio::spawn` may run a task on any worker thread and move it to another at an
//! `.await`, so it takes only `Send` futures, whatever the runtime. This does not compile:
//!
//!     pub fn square_later(seen: std::rc::Rc<std::cell::RefCell<Vec<u64>>>) {
//!         tokio::spawn(async move {
//!             tokio::task::yield_now().await;
//!             seen.borrow_mut().push(4);
//!         });
//!     }
//!
//! rustc says:
//!
//!     error: future cannot be sent between threads safely
//!     the trait `Send` is not implemented for `Rc<RefCell<Vec<u64>>>`
//!     note: captured value is not `Send`
//!     has type `Rc<RefCell<Vec<u64>>>` which is not `Send`
//!
//! (The tests compile it with rustc and check these lines, and that `spawn_local` in its
//! place compiles.) Which to choose:
//! - `LocalSet` + `tokio::task::spawn_local`: a part of the program holds `!Send` state
//!   (`Rc`, `RefCell`, a handle a C library ties to its thread). The set's tasks run on the
//!   thread that awaits `local.run_until(..)`, only while it is awaited; the rest of the
//!   program keeps the multi-thread runtime.
//! - `#[tokio::main(flavor = "local")]` (a `LocalRuntime`, tokio 1.51 and later): the whole
//!   program on one thread, asyncio's model; `spawn_local` works anywhere in it, no set
//!   needed. A plain current-thread runtime is not enough: its `tokio::spawn` still asks for
//!   `Send`.
//! - `tokio::spawn` with `Arc<Mutex<..>>`: the tasks should spread over every core.
//!
//! Watch: ten tasks of 50 ms share a list; with `spawn_local` all of them finish on one
//! thread, with `tokio::spawn` on whichever workers ran them (tasks this short may all
//! finish on one worker before another steals any); both ways take about one wait.
//!
//! Run only this: cargo run -p asyncio-demo -- local-tasks
//! Copy it: cargo add tokio@1 --features full

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, ThreadId};
use std::time::Duration;

use tokio::task::{JoinError, LocalSet};
use tokio::time::{Instant, sleep};

/// What each task appended: its square and the thread it finished on.
pub type Seen = Vec<(u64, ThreadId)>;

/// `n` tasks share one `Rc<RefCell<..>>`: `spawn_local` on a `LocalSet`, all on this thread.
pub async fn with_local_set(n: u64, wait: Duration) -> Result<Seen, JoinError> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let local = LocalSet::new();
    local
        .run_until(async {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let seen = Rc::clone(&seen); // a plain count bump, no atomic
                    tokio::task::spawn_local(async move {
                        sleep(wait).await;
                        seen.borrow_mut().push((i * i, thread::current().id())); // no lock
                    })
                })
                .collect();
            for task in tasks {
                task.await?;
            }
            Ok::<_, JoinError>(())
        })
        .await?;
    Ok(seen.take())
}

/// The `Send` way: `Arc<Mutex<..>>` and `tokio::spawn`, on any worker thread.
pub async fn with_spawn(n: u64, wait: Duration) -> Result<Seen, JoinError> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                sleep(wait).await;
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.push((i * i, thread::current().id()));
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(seen)
}

/// How many threads the tasks finished on.
pub fn threads(seen: &Seen) -> usize {
    seen.iter().map(|(_, t)| t).collect::<HashSet<_>>().len()
}

/// The twin of `if __name__ == "__main__":` both ways on tokio's multi-thread runtime.
#[tokio::main]
async fn main() -> Result<(), JoinError> {
    let wait = Duration::from_millis(50);
    let start = Instant::now();
    let seen = with_local_set(10, wait).await?;
    println!(
        "spawn_local on a LocalSet, Rc<RefCell<..>>: {} squares, {} thread, {:.0?}",
        seen.len(),
        threads(&seen),
        start.elapsed()
    );
    let start = Instant::now();
    let seen = with_spawn(10, wait).await?;
    println!(
        "tokio::spawn, Arc<Mutex<..>>: {} squares, {} thread(s), {:.0?}",
        seen.len(),
        threads(&seen),
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "local-tasks",
    "create_task sharing a plain object",
    "tasks holding an Rc (not Send): refused by tokio::spawn, run by spawn_local on a LocalSet",
    run,
)
.main(|| main().report());

const TASKS: u64 = 100;
const WAIT: Duration = Duration::from_millis(50);

#[tokio::main]
async fn run() -> SectionResult {
    let (local, took_local) = timed_async(with_local_set(TASKS, WAIT)).await;
    let (spawned, took_spawned) = timed_async(with_spawn(TASKS, WAIT)).await;
    let (mut local, mut spawned) = (local?, spawned?);
    for seen in [&mut local, &mut spawned] {
        seen.sort_unstable_by_key(|(square, _)| *square);
        let squares: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
        anyhow::ensure!(
            squares == (0..TASKS).map(|i| i * i).collect::<Vec<_>>(),
            "a square went missing"
        );
    }
    let (on_local, on_spawned) = (threads(&local), threads(&spawned));
    anyhow::ensure!(on_local == 1, "spawn_local ran on {on_local} threads");
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    figure(
        format!("{TASKS} tasks of {}", Secs(WAIT)),
        format!("worker threads: {workers}"),
    );
    figure(
        "spawn_local, Rc<RefCell>",
        format!("threads used: {on_local}, {}", Secs(took_local)),
    );
    figure(
        "tokio::spawn, Arc<Mutex>",
        format!("threads used: {on_spawned}, {}", Secs(took_spawned)),
    );
    let near = |t: Duration| t < WAIT * 2;
    takeaway_if(
        &Evidence::new(
            near(took_local) && near(took_spawned),
            format!("both ways under {}", Secs(WAIT * 2)),
            format!("{} and {}", Secs(took_local), Secs(took_spawned)),
        ),
        "spawn_local keeps !Send tasks on one thread, and they still wait concurrently, as asyncio's do",
    );
    takeaway_if(
        &Evidence::new(
            on_spawned > 1,
            "tokio::spawn's tasks on more than 1 worker thread",
            format!("all of them on {on_spawned}"),
        )
        .because(if workers < 2 {
            "the runtime has one worker thread: this process may use one core"
        } else {
            "tasks this short can all finish on the worker that woke them before another \
             one steals any: the runtime moves tasks only when there is work to take"
        }),
        format!(
            "tokio::spawn ran the Send tasks on {on_spawned} worker threads: it may move a task \
             at any .await, which is why it asks for Send"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::compile_fail::{assert_compiles, assert_refused, header_block};

    const SOURCE: &str = include_str!("local_tasks.rs");

    #[test]
    fn spawning_an_rc_is_refused_and_spawn_local_takes_it() {
        let code = header_block(SOURCE, "does not compile:");
        assert_refused(
            "spawn_rc",
            &code,
            &["tokio"],
            &header_block(SOURCE, "rustc says:"),
        );
        let local = code.replace("tokio::spawn(", "tokio::task::spawn_local(");
        assert_compiles("spawn_local_rc", &local, &["tokio"]);
    }

    #[tokio::test(start_paused = true)]
    async fn local_tasks_run_together_on_this_thread() {
        let start = Instant::now();
        let seen = with_local_set(5, WAIT).await.unwrap();
        assert_eq!(start.elapsed(), WAIT, "the five waits overlap");
        assert_eq!(seen.len(), 5);
        assert_eq!(threads(&seen), 1);
        assert_eq!(seen[0].1, thread::current().id());
    }

    #[tokio::test(flavor = "local")]
    async fn a_local_runtime_spawns_local_tasks_without_a_set() {
        let shared = Rc::new(RefCell::new(0));
        let task = tokio::task::spawn_local({
            let shared = Rc::clone(&shared);
            async move { *shared.borrow_mut() += 1 }
        });
        task.await.unwrap();
        assert_eq!(*shared.borrow(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_ways_give_every_square() {
        let mut spawned = with_spawn(20, Duration::from_millis(1)).await.unwrap();
        spawned.sort_unstable_by_key(|(s, _)| *s);
        let squares: Vec<u64> = spawned.iter().map(|(s, _)| *s).collect();
        assert_eq!(squares, (0..20).map(|i| i * i).collect::<Vec<_>>());
    }
}
