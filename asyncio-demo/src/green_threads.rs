//! gevent / eventlet: `monkey.patch_all()`, `gevent.spawn(worker, i)`, `gevent.joinall(jobs)`
//! -> OS threads running the same blocking code, or tokio tasks with `async` / `.await`.
//!
//! Python:
//!     from gevent import monkey; monkey.patch_all()   # first, before other imports
//!     import gevent, time
//!     def worker(n):
//!         time.sleep(2)               # patched: switches to another greenlet, no blocking
//!         return n
//!     jobs = [gevent.spawn(worker, i) for i in range(5)]
//!     gevent.joinall(jobs)            # about 2 s for all five, not 10 s
//!
//! `monkey.patch_all()` replaces blocking functions of the standard library (`time.sleep`,
//! `socket`, `select`, `threading`, ...) at run time with versions that hand the thread to
//! another greenlet while they wait, underneath code that never asked for it. Rust has no
//! twin, by design: a blocking call and a non-blocking one are different functions with
//! different types, fixed at compile time. `std::thread::sleep` returns `()` after the wait;
//! `tokio::time::sleep` returns a future that waits only when `.await`ed, and only inside
//! `async` code. Nothing can be swapped underneath. Rust did have green threads (libgreen,
//! std's I/O behind a swappable runtime); they were removed before 1.0 (RFC 230, 2014): the
//! indirection cost every native call, and an innocent-looking call could still block a
//! scheduler thread. So the guide's program, two ways:
//! - OS threads run the same blocking worker, unpatched: a parked thread costs a small
//!   stack and a kernel task, no interpreter, so thousands at once are fine. 10,000 are
//!   started below with an explicit 64 KiB stack each (`thread::Builder::stack_size`; the
//!   default is 2 MiB of address space, of which only the touched pages become resident).
//!   RSS does not count the kernel's side (a 16 KiB kernel stack and a task struct each).
//! - tokio tasks on a current-thread runtime (gevent's hub is one thread too): an `async fn`
//!   worker, `tokio::time::sleep(..).await`, the handles awaited in order. A blocking call
//!   inside a task is not patched for you: it stops every task on the loop until it
//!   returns. Wrap it in `spawn_blocking` (measured briefly below; `blocking-pitfall` shows
//!   it with a heartbeat).
//!
//! Stackful coroutines, the nearest thing to greenlets (the `may` crate, 0.3.51), were tried
//! in a scratch project outside this workspace and are not shown, because:
//! - `may::coroutine::spawn` is an `unsafe fn` (this workspace forbids `unsafe`); its `go!`
//!   macro hides the `unsafe` block, by the maintainer's design (may issue #109, asking for
//!   an explicit `unsafe`, is open). The hazard is real: a coroutine's stack moves between
//!   scheduler threads, and the compiler's `Send` checks cannot see it. Measured there: a
//!   `thread_local!` reference kept across a yield pointed into another thread's storage in
//!   38 to 325 of 2,000 coroutines (3 runs, 2 workers); may issue #6 shows an `Rc` used from
//!   two threads. Any library's thread-local (a thread RNG, a current-span stack) is exposed
//!   the same way.
//! - It does not patch std either: five `std::thread::sleep(300 ms)` in coroutines on 2
//!   workers took 900 ms (three waves); only may's own sleep, net and sync types switch.
//! - What works: five `may::coroutine::sleep(300 ms)` took 310 ms; 10,000 parked coroutines
//!   started in 0.12 s at about 7.6 KiB of RSS each (release build, 32 KiB default stacks);
//!   a stack overflow hit the guard page and came back as an error from `join`.
//! - One maintainer; its last release (0.3.51, May 2025) was 18 months old when tried.
//!
//! Threads already cover "blocking code, many at once" and tasks "very many waits"; an
//! unsafe spawn buys no case that neither covers.
//!
//! Watch: five threads and five tasks each sleep 0.1 s (the guide's 2 s, scaled down); the
//! timeline shows the five bars of each overlapping, about 0.1 s for five, not 0.5 s. A
//! blocking sleep inside tasks runs them one at a time until `spawn_blocking` takes it off
//! the loop. Then 10,000 parked threads against 10,000 parked tasks: the time to start them,
//! the memory each takes, and the time to wake and join them all.
//!
//! Run only this: cargo run -p asyncio-demo -- green-threads

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::task::JoinError;
use tracing::Instrument;

/// The guide's worker, blocking: it really stops its thread for `nap`. No patching.
pub fn worker_blocking(n: u32, nap: Duration) -> u32 {
    thread::sleep(nap);
    n
}

/// The same worker for tokio: `.await` hands the thread back to the loop while it waits.
pub async fn worker_async(n: u32, nap: Duration) -> u32 {
    tokio::time::sleep(nap).await;
    n
}

/// `jobs = [spawn(worker, i) for i in range(n)]; joinall(jobs)` with OS threads: the
/// blocking worker as it is. The results come back in spawn order.
pub fn joinall_threads<T, W>(n: u32, worker: W) -> thread::Result<Vec<T>>
where
    T: Send + 'static,
    W: Fn(u32) -> T + Send + Clone + 'static,
{
    let jobs: Vec<JoinHandle<T>> = (0..n)
        .map(|i| {
            let worker = worker.clone();
            thread::spawn(move || {
                let _span = tracing::info_span!("thread", i).entered();
                worker(i)
            })
        })
        .collect();
    jobs.into_iter().map(JoinHandle::join).collect()
}

/// The same with tokio tasks: an async worker, spawned, the handles awaited in order.
pub async fn joinall_tasks<T, F>(n: u32, worker: impl Fn(u32) -> F) -> Result<Vec<T>, JoinError>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let jobs: Vec<_> = (0..n)
        .map(|i| tokio::spawn(worker(i).instrument(tracing::info_span!("task", i))))
        .collect();
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(job.await?);
    }
    Ok(results)
}

/// Wrong: the blocking worker called inside each task. On one loop thread they run one
/// after another, and nothing else runs meanwhile.
pub async fn blocking_in_tasks<T, W>(n: u32, worker: W) -> Result<Vec<T>, JoinError>
where
    T: Send + 'static,
    W: Fn(u32) -> T + Send + Clone + 'static,
{
    joinall_tasks(n, |i| {
        let worker = worker.clone();
        async move {
            let _span = tracing::info_span!("blocking", i).entered();
            worker(i) // no .await inside: this holds the loop for the whole call
        }
    })
    .await
}

/// Right: each blocking call on tokio's blocking pool (`run_in_executor`), awaited from
/// its task. The loop stays free and the calls overlap.
pub async fn blocking_off_the_loop<T, W>(n: u32, worker: W) -> Result<Vec<T>, JoinError>
where
    T: Send + 'static,
    W: Fn(u32) -> T + Send + Clone + 'static,
{
    joinall_tasks(n, |i| {
        let worker = worker.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let _span = tracing::info_span!("blocking", i).entered();
                worker(i)
            })
            .await
        }
    })
    .await?
    .into_iter()
    .collect()
}

/// How a crowd of parked units went: how many started and then ran to the end, the error
/// that stopped the spawning early (a thread limit), and what `while_parked` returned.
pub struct Parked<R> {
    pub started: usize,
    pub finished: usize,
    pub spawn_error: Option<std::io::Error>,
    pub while_parked: R,
}

/// Start `n` OS threads of `stack` bytes of stack each. Each one reports in, then blocks on
/// a gate (a read lock while this thread holds the write lock). Once every thread that
/// could be spawned has reported, `while_parked(started)` runs; then the gate opens and
/// they are all joined. A failed spawn stops the spawning, it does not panic.
pub fn park_threads<R>(n: usize, stack: usize, while_parked: impl FnOnce(usize) -> R) -> Parked<R> {
    let gate = Arc::new(RwLock::new(()));
    let closed = gate.write().unwrap_or_else(|e| e.into_inner());
    let (report, reports) = mpsc::channel();
    let mut handles = Vec::with_capacity(n);
    let mut spawn_error = None;
    for _ in 0..n {
        let (gate, report) = (Arc::clone(&gate), report.clone());
        let spawned = thread::Builder::new().stack_size(stack).spawn(move || {
            let _ = report.send(());
            drop(gate.read()); // parked here until the gate opens
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                spawn_error = Some(e);
                break;
            }
        }
    }
    drop(report);
    let started = reports.iter().take(handles.len()).count();
    let while_parked = while_parked(started);
    drop(closed); // open the gate
    let finished = handles.into_iter().filter_map(|h| h.join().ok()).count();
    Parked {
        started,
        finished,
        spawn_error,
        while_parked,
    }
}

/// The same with `n` tokio tasks, parked on a tokio `RwLock` (on the runtime this is called from).
pub async fn park_tasks<R>(n: usize, while_parked: impl FnOnce(usize) -> R) -> Parked<R> {
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let closed = gate.write().await;
    let (report, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (gate, report) = (Arc::clone(&gate), report.clone());
            tokio::spawn(async move {
                let _ = report.send(());
                drop(gate.read().await); // parked here until the gate opens
            })
        })
        .collect();
    drop(report);
    let mut started = 0;
    while started < n && reports.recv().await.is_some() {
        started += 1;
    }
    let while_parked = while_parked(started);
    drop(closed);
    let mut finished = 0;
    for handle in handles {
        finished += usize::from(handle.await.is_ok());
    }
    Parked {
        started,
        finished,
        spawn_error: None,
        while_parked,
    }
}

// --- run and measure ---

use common::cli::{Section, SectionResult};
use common::memory::current_rss;
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Bytes, Secs, Stopwatch, timed};

pub const SECTION: Section = Section::new(
    "green-threads",
    "gevent.spawn / joinall, monkey.patch_all()",
    "no monkey-patching in Rust: threads run blocking code, tasks await; 10,000 of each measured",
    run,
);

const WORKERS: u32 = 5;
const NAP: Duration = Duration::from_millis(100);
/// The short nap of the blocking-in-a-task comparison.
const SHORT_NAP: Duration = Duration::from_millis(20);
const CROWD: usize = 10_000;
const THREAD_STACK: usize = 64 * 1024;
/// Tasks must be at least this many times cheaper (memory) and faster to start than threads.
const MIN_RATIO: f64 = 5.0;

/// Five units that each nap `nap` overlapped: all five at once, about one nap in all.
fn overlapped(most: usize, took: Duration, nap: Duration) -> bool {
    most == WORKERS as usize && took >= nap && took < nap * 2
}

/// Time since the spawning began and memory, read while a crowd is parked.
struct Reading {
    took: Duration,
    rss: Option<u64>,
}

impl Reading {
    fn now(clock: &Stopwatch) -> Reading {
        Reading {
            took: clock.elapsed(),
            rss: current_rss(),
        }
    }
}

/// 10000 -> "10,000".
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn per_unit(before: Option<u64>, during: Option<u64>, units: usize) -> Option<u64> {
    Some(during?.saturating_sub(before?) / (units.max(1) as u64))
}

fn run() -> SectionResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let expected: Vec<u32> = (0..WORKERS).collect();

    // The guide's program: threads, then tasks.
    let recording = Recording::start();
    let (threads, took_threads) = timed(|| joinall_threads(WORKERS, |n| worker_blocking(n, NAP)));
    let (tasks, took_tasks) =
        timed(|| rt.block_on(joinall_tasks(WORKERS, |n| worker_async(n, NAP))));
    let recorded = recording.finish();
    let threads = threads.map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
    anyhow::ensure!(threads == expected, "threads returned {threads:?}");
    anyhow::ensure!(tasks? == expected, "a task's result went missing");
    let most_threads = recorded.named(&["thread"]).most_at_once();
    let most_tasks = recorded.named(&["task"]).most_at_once();
    figure(
        "5 threads, blocking sleep",
        format!("{} ({most_threads} at once)", Secs(took_threads)),
    );
    figure(
        "5 tasks, sleep().await",
        format!("{} ({most_tasks} at once)", Secs(took_tasks)),
    );
    recorded.named(&["thread", "task"]).print(Lanes::Span);
    takeaway_if(
        &Evidence::new(
            overlapped(most_threads, took_threads, NAP) && overlapped(most_tasks, took_tasks, NAP),
            format!(
                "five at once, each way in about one nap ({}), not five",
                Secs(NAP)
            ),
            format!(
                "{most_threads} threads at once in {}, {most_tasks} tasks at once in {}",
                Secs(took_threads),
                Secs(took_tasks)
            ),
        ),
        "no patching needed: threads wait together in blocking code, tasks in async code",
    );

    // A blocking call inside tasks, then wrapped in spawn_blocking.
    let recording = Recording::start();
    let (inline, took_inline) = timed(|| {
        rt.block_on(blocking_in_tasks(WORKERS, |n| {
            worker_blocking(n, SHORT_NAP)
        }))
    });
    let most_inline = recording.finish().named(&["blocking"]).most_at_once();
    let recording = Recording::start();
    let (wrapped, took_wrapped) = timed(|| {
        rt.block_on(blocking_off_the_loop(WORKERS, |n| {
            worker_blocking(n, SHORT_NAP)
        }))
    });
    let most_wrapped = recording.finish().named(&["blocking"]).most_at_once();
    anyhow::ensure!(
        inline? == expected && wrapped? == expected,
        "a result went missing"
    );
    figure(
        "thread::sleep in 5 tasks",
        format!("{} ({most_inline} at once)", Secs(took_inline)),
    );
    figure(
        "the same in spawn_blocking",
        format!("{} ({most_wrapped} at once)", Secs(took_wrapped)),
    );
    takeaway_if(
        &Evidence::new(
            most_inline == 1
                && took_inline >= SHORT_NAP * WORKERS
                && overlapped(most_wrapped, took_wrapped, SHORT_NAP),
            format!(
                "one at a time (about {}) inline, five at once (about {}) with spawn_blocking",
                Secs(SHORT_NAP * WORKERS),
                Secs(SHORT_NAP)
            ),
            format!(
                "{most_inline} at once in {}, {most_wrapped} at once in {}",
                Secs(took_inline),
                Secs(took_wrapped)
            ),
        ),
        "a blocking call in a task holds the loop; spawn_blocking moves it off (see blocking-pitfall)",
    );

    println!("  stackful coroutines (may): not shown, its spawn is unsafe (the header says why)");

    // 10,000 parked units: start-up time and memory each. Tasks first: memory freed by
    // the threads would be reused by the tasks and hide their cost.
    let (rss0, clock) = (current_rss(), Stopwatch::start());
    let tasks = rt.block_on(park_tasks(CROWD, |_| Reading::now(&clock)));
    let k_read = &tasks.while_parked;
    let task_rss = per_unit(rss0, k_read.rss, tasks.started);
    let task_end = clock.elapsed().saturating_sub(k_read.took);
    let (rss0, clock) = (current_rss(), Stopwatch::start());
    let threads = park_threads(CROWD, THREAD_STACK, |_| Reading::now(&clock));
    let thread_end = clock.elapsed().saturating_sub(threads.while_parked.took);
    let t_read = &threads.while_parked;
    let thread_rss = per_unit(rss0, t_read.rss, threads.started);
    anyhow::ensure!(
        threads.finished == threads.started && tasks.finished == CROWD && tasks.started == CROWD,
        "a parked unit did not finish: threads {}/{}, tasks {}/{CROWD}",
        threads.finished,
        threads.started,
        tasks.finished
    );
    let show = |b: Option<u64>| b.map_or("n/a".to_owned(), |b| Bytes(b).to_string());
    figure(
        format!("{} threads started in", grouped(threads.started)),
        format!(
            "{} ({} RSS each, stacks of {})",
            Secs(t_read.took),
            show(thread_rss),
            Bytes(THREAD_STACK as u64)
        ),
    );
    figure("  then woken and joined in", Secs(thread_end));
    figure(
        format!("{} tasks started in", grouped(tasks.started)),
        format!("{} ({} RSS each)", Secs(k_read.took), show(task_rss)),
    );
    figure("  then woken and joined in", Secs(task_end));
    let evidence = match &threads.spawn_error {
        Some(e) => Evidence::new(
            false,
            format!("{} threads started", grouped(CROWD)),
            format!(
                "{} started, then the spawn failed: {e}",
                grouped(threads.started)
            ),
        )
        .because(format!(
            "the system refused thread {} (a limit on threads, processes or memory: ulimit -u, ulimit -v, a container's pids limit)",
            grouped(threads.started + 1)
        )),
        None => {
            let memory = match (thread_rss, task_rss) {
                (Some(th), Some(ta)) => Evidence::new(
                    th as f64 >= ta.max(1) as f64 * MIN_RATIO,
                    format!("a task at least {MIN_RATIO}x smaller than a thread"),
                    format!("{} against {}", Bytes(ta), Bytes(th)),
                ),
                _ => Evidence::new(false, "an RSS reading", "none on this system"),
            };
            memory.and(Evidence::faster(
                "starting tasks",
                k_read.took,
                "starting threads",
                t_read.took,
                MIN_RATIO,
            ))
        }
    };
    let ratio = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => a as f64 / b.max(1) as f64,
        _ => 0.0,
    };
    takeaway_if(
        &evidence,
        format!(
            "{} parked threads are fine; tasks are {:.0}x smaller and start {:.0}x faster: tokio for very many waits",
            grouped(CROWD),
            ratio(thread_rss, task_rss),
            t_read.took.as_secs_f64() / k_read.took.as_secs_f64().max(1e-9)
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    /// Counts units inside at once. `wait_for_all` blocks until `want` have arrived (or a
    /// generous timeout, so a serial implementation fails instead of hanging).
    #[derive(Default)]
    struct Inside {
        /// (inside now, arrived so far)
        counts: Mutex<(usize, usize)>,
        arrived: Condvar,
        most: AtomicUsize,
    }

    impl Inside {
        fn enter(&self) {
            let mut counts = self.counts.lock().unwrap();
            counts.0 += 1;
            counts.1 += 1;
            self.most.fetch_max(counts.0, Ordering::SeqCst);
            self.arrived.notify_all();
        }
        fn leave(&self) {
            self.counts.lock().unwrap().0 -= 1;
        }
        fn wait_for_all(&self, want: usize) {
            let counts = self.counts.lock().unwrap();
            let _ = self
                .arrived
                .wait_timeout_while(counts, Duration::from_secs(10), |c| c.1 < want)
                .unwrap();
        }
    }

    #[test]
    fn threads_run_the_blocking_worker_all_at_once() {
        let inside = Arc::new(Inside::default());
        let seen = Arc::clone(&inside);
        let results = joinall_threads(WORKERS, move |n| {
            seen.enter();
            seen.wait_for_all(WORKERS as usize); // a blocking wait, like time.sleep
            seen.leave();
            n * 10
        })
        .unwrap();
        assert_eq!(results, vec![0, 10, 20, 30, 40], "spawn order");
        assert_eq!(inside.most.load(Ordering::SeqCst), WORKERS as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_sleep_together_one_nap_for_five() {
        let start = tokio::time::Instant::now();
        let recording = Recording::local();
        let results = joinall_tasks(WORKERS, |n| worker_async(n, NAP))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), NAP, "five naps at once take one");
        assert_eq!(results, (0..WORKERS).collect::<Vec<_>>());
        let tasks = recording.finish().named(&["task"]);
        assert_eq!(tasks.len(), WORKERS as usize);
        assert_eq!(tasks.most_at_once(), WORKERS as usize);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocking_call_in_tasks_runs_them_one_at_a_time() {
        let inside = Arc::new(Inside::default());
        let seen = Arc::clone(&inside);
        let results = blocking_in_tasks(WORKERS, move |n| {
            seen.enter();
            thread::yield_now(); // no await: no other task can start meanwhile
            seen.leave();
            n
        })
        .await
        .unwrap();
        assert_eq!(results, (0..WORKERS).collect::<Vec<_>>());
        assert_eq!(inside.most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spawn_blocking_lets_the_blocking_calls_overlap() {
        let inside = Arc::new(Inside::default());
        let seen = Arc::clone(&inside);
        let results = blocking_off_the_loop(WORKERS, move |n| {
            seen.enter();
            seen.wait_for_all(WORKERS as usize);
            seen.leave();
            n
        })
        .await
        .unwrap();
        assert_eq!(results, (0..WORKERS).collect::<Vec<_>>());
        assert_eq!(inside.most.load(Ordering::SeqCst), WORKERS as usize);
    }

    #[test]
    fn parked_threads_all_start_wait_and_finish() {
        let parked = park_threads(200, THREAD_STACK, |started| started);
        assert!(parked.spawn_error.is_none());
        assert_eq!(
            parked.while_parked, 200,
            "all reported in before the gate opened"
        );
        assert_eq!((parked.started, parked.finished), (200, 200));
    }

    #[tokio::test(start_paused = true)]
    async fn parked_tasks_all_start_wait_and_finish() {
        let parked = park_tasks(1000, |started| started).await;
        assert_eq!(parked.while_parked, 1000);
        assert_eq!((parked.started, parked.finished), (1000, 1000));
    }

    #[test]
    fn a_failed_thread_spawn_is_reported_not_a_panic() {
        let parked = park_threads(3, 1 << 62, |started| started); // no such stack fits
        assert!(parked.spawn_error.is_some());
        assert_eq!(
            (parked.started, parked.finished, parked.while_parked),
            (0, 0, 0)
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(7), "7");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(10_000), "10,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn a_unit_count_of_zero_or_a_missing_reading_does_not_divide_by_zero() {
        assert_eq!(per_unit(Some(100), Some(1100), 10), Some(100));
        assert_eq!(per_unit(Some(100), Some(50), 0), Some(0));
        assert_eq!(per_unit(None, Some(50), 3), None);
    }
}
