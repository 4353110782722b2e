//! Python's `threading` module, in Rust. `cargo run -p threading-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod daemon_threads;
mod deadlock;
mod event;
mod lock;
mod no_gil;
mod queue;
mod race_condition;
mod rlock;
mod scoped_threads;
mod semaphore;
mod thread_basics;
mod thread_local;
mod thread_pool;
mod web_download;

const SECTIONS: &[Section] = &[
    Section::new(
        "thread-basics",
        "threading.Thread(target, args).start() / join()",
        "spawn named threads, join them, get their return values",
        thread_basics::run,
    ),
    Section::new(
        "scoped-threads",
        "(no Python twin)",
        "thread::scope: threads borrow local data, no Arc, joined at the }",
        scoped_threads::run,
    ),
    Section::new(
        "race-condition",
        "shared_counter += 1 / with lock:",
        "`+= 1` does not compile; load + store loses updates (counted); Mutex, fetch_add do not",
        race_condition::run,
    ),
    Section::new(
        "lock",
        "threading.Lock() / with lock:",
        "Mutex owns its data, the guard is the with block; poisoning; RwLock readers",
        lock::run,
    ),
    Section::new(
        "rlock",
        "threading.RLock()",
        "std Mutex is not reentrant; parking_lot::ReentrantMutex; lock once, pass &mut down",
        rlock::run,
    ),
    Section::new(
        "semaphore",
        "threading.Semaphore(N) / with sem:",
        "at most N of M threads inside: Mutex + Condvar semaphore, loom-checked",
        semaphore::run,
    ),
    Section::new(
        "event",
        "threading.Event() set() / wait(timeout)",
        "one set() wakes every waiter; wait_timeout returns false; Condvar, loom-checked",
        event::run,
    ),
    Section::new(
        "daemon-threads",
        "Thread(daemon=True) vs non-daemon",
        "a thread not joined dies when main returns, shown in a child process",
        daemon_threads::run,
    ),
    Section::new(
        "queue",
        "queue.Queue(maxsize) / task_done() / join()",
        "bounded channel (backpressure), WaitGroup as join(), drop the senders to stop",
        queue::run,
    ),
    Section::new(
        "thread-pool",
        "ThreadPoolExecutor(max_workers=3).map",
        "5 downloads of 0.5 s on 3 workers: two batches, ~1.0 s against 2.5 s",
        thread_pool::run,
    ),
    Section::new(
        "web-download",
        "threading.Thread + requests.get(url)",
        "a thread per page, reqwest's blocking client, a local server, bytes checked",
        web_download::run,
    ),
    Section::new(
        "no-gil",
        "the GIL: no speedup for CPU-bound threads",
        "Rust threads do speed it up: one per core, measured speedup and efficiency",
        no_gil::run,
    ),
    Section::new(
        "deadlock",
        "two locks in opposite order",
        "try_lock_for (acquire(timeout=)) says 'would deadlock'; a global lock order fixes it",
        deadlock::run,
    ),
    Section::new(
        "thread-local",
        "threading.local()",
        "thread_local!: one value per thread, built on first use, dropped at thread exit",
        thread_local::run,
    ),
];

/// The parts this binary plays when re-run as a child process (`--role NAME`).
const ROLES: &[Role] = &[Role::new("daemon-child", daemon_threads::child)];

fn main() -> ExitCode {
    Demo {
        name: "threading-demo",
        about: "Python's threading module, in Rust: threads, locks, semaphores, events, queues, pools, no GIL",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
