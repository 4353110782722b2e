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
//! Thousands of threads need address space, not only memory: each takes its stack, guard
//! pages and a signal stack, and glibc gives each of the first 8 x cores threads a malloc
//! arena of 64 MiB. Under an address-space limit (`ulimit -v`) a spawn past it fails, or
//! worse, aborts the process inside the new thread (std cannot map its signal stack), so
//! [`threads_that_fit`] checks the limit (`rlimit::getrlimit(Resource::AS)`) before
//! spawning.
//!
//! Watch: five threads and five tasks each sleep 0.1 s (the guide's 2 s, scaled down); the
//! timeline shows the five bars of each overlapping, about 0.1 s for five, not 0.5 s. A
//! blocking sleep inside tasks runs them one at a time until `spawn_blocking` takes it off
//! the loop. Then 10,000 parked threads against 10,000 parked tasks: the time to start them,
//! the memory each takes, and the time to wake and join them all.
//!
//! Run only this: cargo run -p asyncio-demo -- green-threads
//! Copy it: cargo add rlimit@0.11 tracing@0.1 && cargo add tokio@1 --features full

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

/// Address space a thread takes besides its stack: a guard page, the signal stack std
/// maps for it and its guard (about 20 KiB, measured), rounded up.
pub const THREAD_EXTRA: u64 = 32 * 1024;
/// The malloc arena glibc gives each of a process's first 8 x cores threads (64-bit).
const ARENA: u64 = 64 << 20;
/// Kept for the rest of the program: its code, heap, runtime threads.
const PROGRAM: u64 = 256 << 20;

/// How many of `want` threads of `stack` bytes fit under an address-space limit of `limit`
/// bytes (`None`: no limit) on a machine of `cores` cores, with glibc's arenas and the rest
/// of the program kept aside. Checked before spawning: a spawn past the limit may abort.
/// glibc counts the machine's online cores, which `available_parallelism` undercounts
/// under an affinity mask (`taskset`): pass the larger when you know it.
pub fn threads_that_fit(want: usize, stack: usize, limit: Option<u64>, cores: usize) -> usize {
    let Some(limit) = limit else {
        return want;
    };
    let arenas = ARENA * 8 * cores as u64;
    let room = limit.saturating_sub(arenas + PROGRAM);
    want.min((room / (stack as u64 + THREAD_EXTRA)) as usize)
}

/// The soft address-space limit (`ulimit -v`) in bytes, `None` when there is none.
pub fn address_space_limit() -> Option<u64> {
    let (soft, _hard) = rlimit::getrlimit(rlimit::Resource::AS).ok()?;
    (soft != rlimit::INFINITY).then_some(soft)
}

/// The twin of `if __name__ == "__main__":` the guide's program both ways, a blocking call
/// in tasks with and without `spawn_blocking`, then 10,000 of each parked.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let nap = Duration::from_millis(100);
    let start = std::time::Instant::now();
    let threads =
        joinall_threads(5, move |n| worker_blocking(n, nap)).map_err(|_| "a worker panicked")?;
    println!(
        "5 threads, blocking sleep: {threads:?} in {:.0?}",
        start.elapsed()
    );
    let start = std::time::Instant::now();
    let tasks = rt.block_on(joinall_tasks(5, |n| worker_async(n, nap)))?;
    println!(
        "5 tasks, sleep().await: {tasks:?} in {:.0?}",
        start.elapsed()
    );
    let start = std::time::Instant::now();
    rt.block_on(blocking_in_tasks(5, move |n| worker_blocking(n, nap / 5)))?;
    println!(
        "thread::sleep(20 ms) in 5 tasks: {:.0?}, one at a time",
        start.elapsed()
    );
    let start = std::time::Instant::now();
    rt.block_on(blocking_off_the_loop(5, move |n| {
        worker_blocking(n, nap / 5)
    }))?;
    println!("the same in spawn_blocking: {:.0?}", start.elapsed());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fit = threads_that_fit(10_000, 64 * 1024, address_space_limit(), cores);
    let start = std::time::Instant::now();
    let threads = park_threads(fit, 64 * 1024, |_| start.elapsed());
    println!(
        "{} of 10,000 threads parked in {:.0?}",
        threads.started, threads.while_parked
    );
    let start = std::time::Instant::now();
    let tasks = rt.block_on(park_tasks(10_000, |_| start.elapsed()));
    println!(
        "{} of 10,000 tasks parked in {:.0?}",
        tasks.started, tasks.while_parked
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::claim::Machine;
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
)
.main(|| main().report());

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

fn run() -> SectionResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    guide_program(&rt)?;
    blocking_call(&rt)?;
    println!("  stackful coroutines (may): not shown, its spawn is unsafe (the header says why)");
    crowds(&rt)
}

/// The guide's program: five threads, then five tasks, each napping once.
fn guide_program(rt: &tokio::runtime::Runtime) -> SectionResult {
    let expected: Vec<u32> = (0..WORKERS).collect();
    let recording = Recording::start();
    let (threads, took_threads) = timed(|| joinall_threads(WORKERS, |n| worker_blocking(n, NAP)));
    let (tasks, took_tasks) =
        timed(|| rt.block_on(joinall_tasks(WORKERS, |n| worker_async(n, NAP))));
    let recorded = recording.finish();
    let threads = threads.map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
    anyhow::ensure!(
        threads == expected && tasks? == expected,
        "a result went missing"
    );
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
    Ok(())
}

/// A blocking call inside tasks, then wrapped in spawn_blocking.
fn blocking_call(rt: &tokio::runtime::Runtime) -> SectionResult {
    let nap = |n| worker_blocking(n, SHORT_NAP);
    let recording = Recording::start();
    let (inline, took_inline) = timed(|| rt.block_on(blocking_in_tasks(WORKERS, nap)));
    let most_inline = recording.finish().named(&["blocking"]).most_at_once();
    let recording = Recording::start();
    let (wrapped, took_wrapped) = timed(|| rt.block_on(blocking_off_the_loop(WORKERS, nap)));
    let most_wrapped = recording.finish().named(&["blocking"]).most_at_once();
    anyhow::ensure!(
        inline?.len() + wrapped?.len() == 2 * WORKERS as usize,
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
    Ok(())
}

/// What to read while a crowd is parked: the time since `clock` started, and RSS now.
fn reading(clock: Stopwatch) -> impl FnOnce(usize) -> (Duration, Option<u64>) {
    move |_| (clock.elapsed(), current_rss())
}

/// A parked crowd's cost: the time to start it, RSS each over `before`, the time to wake
/// and join it.
fn cost(
    parked: &Parked<(Duration, Option<u64>)>,
    before: Option<u64>,
    clock: Stopwatch,
) -> (Duration, Option<u64>, Duration) {
    let (started_in, during) = parked.while_parked;
    let each = (before.zip(during))
        .filter(|_| parked.started > 0)
        .map(|(b, d)| d.saturating_sub(b) / parked.started as u64);
    (started_in, each, clock.elapsed().saturating_sub(started_in))
}

/// Why fewer than [`CROWD`] threads started: a refused spawn, or the address-space limit.
fn refusal<R>(threads: &Parked<R>, limit: Option<u64>, fit: usize) -> Option<String> {
    match (&threads.spawn_error, limit) {
        (Some(e), _) => Some(format!(
            "the system refused thread {} ({e}): a limit on threads, processes or memory (ulimit -u, ulimit -v, a container's pids limit)",
            threads.started + 1
        )),
        (None, Some(limit)) if fit < CROWD => Some(format!(
            "the address-space limit (ulimit -v) of {} leaves room for {fit} threads of {} each, after glibc's arenas and the program",
            Bytes(limit),
            Bytes(THREAD_STACK as u64 + THREAD_EXTRA)
        )),
        _ => None,
    }
}

/// 10,000 parked units each way. Tasks first: memory freed by the threads would be reused
/// by the tasks and hide their cost.
fn crowds(rt: &tokio::runtime::Runtime) -> SectionResult {
    let (before, clock) = (current_rss(), Stopwatch::start());
    let tasks = rt.block_on(park_tasks(CROWD, reading(clock)));
    let (task_start, task_rss, task_join) = cost(&tasks, before, clock);
    // glibc's arenas follow the online cores, which an affinity mask hides from std.
    let machine = Machine::read();
    let cores = machine.online_cores.unwrap_or(0).max(machine.usable_cores);
    let limit = address_space_limit();
    let fit = threads_that_fit(CROWD, THREAD_STACK, limit, cores);
    let (before, clock) = (current_rss(), Stopwatch::start());
    let threads = park_threads(fit, THREAD_STACK, reading(clock));
    let (thread_start, thread_rss, thread_join) = cost(&threads, before, clock);
    anyhow::ensure!(
        threads.finished == threads.started && (tasks.started, tasks.finished) == (CROWD, CROWD),
        "a parked unit did not finish: threads {}/{}, tasks {}/{CROWD}",
        threads.finished,
        threads.started,
        tasks.finished
    );
    let show = |b: Option<u64>| b.map_or("n/a".to_owned(), |b| Bytes(b).to_string());
    figure(
        format!("{} threads started in", threads.started),
        format!(
            "{} ({} RSS each, stacks of {})",
            Secs(thread_start),
            show(thread_rss),
            Bytes(THREAD_STACK as u64)
        ),
    );
    figure("  then woken and joined in", Secs(thread_join));
    figure(
        format!("{CROWD} tasks started in"),
        format!("{} ({} RSS each)", Secs(task_start), show(task_rss)),
    );
    figure("  then woken and joined in", Secs(task_join));
    let refused = refusal(&threads, limit, fit);
    let evidence = match refused {
        Some(cause) => Evidence::new(
            false,
            format!("{CROWD} threads started"),
            format!("{} started", threads.started),
        )
        .because(cause),
        None => Evidence::new(
            thread_rss
                .zip(task_rss)
                .is_some_and(|(th, ta)| th as f64 >= ta.max(1) as f64 * MIN_RATIO),
            format!("a task at least {MIN_RATIO}x smaller than a thread"),
            format!("{} against {}", show(task_rss), show(thread_rss)),
        )
        .and(Evidence::faster(
            "starting tasks",
            task_start,
            "starting threads",
            thread_start,
            MIN_RATIO,
        )),
    };
    let ratio = thread_rss
        .zip(task_rss)
        .map_or(0.0, |(th, ta)| th as f64 / ta.max(1) as f64);
    takeaway_if(
        &evidence,
        format!(
            "{CROWD} parked threads are fine; tasks are {ratio:.0}x smaller and start {:.0}x faster: tokio for very many waits",
            thread_start.as_secs_f64() / task_start.as_secs_f64().max(1e-9)
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
    fn the_threads_asked_for_fit_the_address_space_limit() {
        let stack = THREAD_STACK;
        assert_eq!(threads_that_fit(CROWD, stack, None, 2), CROWD, "no limit");
        assert_eq!(
            threads_that_fit(CROWD, stack, Some(u64::MAX / 2), 64),
            CROWD
        );
        // `ulimit -v 1500000` on 2 cores: 1 GiB of arenas and 256 MiB for the program leave
        // 184.8 MiB, 1,971 threads of 64 + 32 KiB.
        assert_eq!(
            threads_that_fit(CROWD, stack, Some(1_500_000 * 1024), 2),
            1971
        );
        assert_eq!(
            threads_that_fit(CROWD, stack, Some(1 << 30), 2),
            0,
            "not even the arenas fit"
        );
        let per_thread = stack as u64 + THREAD_EXTRA;
        let room = ARENA * 8 * 4 + PROGRAM + 3 * per_thread;
        assert_eq!(threads_that_fit(CROWD, stack, Some(room), 4), 3);
        assert_eq!(
            threads_that_fit(2, stack, Some(room), 4),
            2,
            "never more than asked"
        );
    }
}
