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
        "the data race does not compile; a lost-update race does, counted; Mutex and fetch_add fix it",
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
        "std Mutex is not reentrant (try_lock shows it); parking_lot's ReentrantMutex; lock once",
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
        "one thread sets, every waiter wakes; wait_timeout returns false: Condvar, loom-checked",
        event::run,
    ),
    Section::new(
        "daemon-threads",
        "Thread(daemon=True) vs non-daemon",
        "a thread not joined dies when main returns: a child process shows what each wrote",
        daemon_threads::run,
    ),
    Section::new(
        "queue",
        "queue.Queue(maxsize) / task_done() / join()",
        "bounded crossbeam channel (backpressure), WaitGroup as join(), drop the senders to stop",
        queue::run,
    ),
    Section::new(
        "thread-pool",
        "ThreadPoolExecutor(max_workers=3).map",
        "5 downloads of 0.5 s on 3 workers: two batches, about 1.0 s against 2.5 s",
        thread_pool::run,
    ),
    Section::new(
        "web-download",
        "threading.Thread + requests.get(url)",
        "one thread per page with reqwest's blocking client against a local server, bytes verified",
        web_download::run,
    ),
    Section::new(
        "no-gil",
        "the GIL: threads do not speed up CPU-bound work",
        "in Rust they do: the same sum on 1 thread and on one per core, speedup and efficiency",
        no_gil::run,
    ),
    Section::new(
        "deadlock",
        "two locks in opposite order / lock.acquire(timeout=...)",
        "reproduced with timed locks and reported as 'would deadlock', fixed by a global lock order",
        deadlock::run,
    ),
    Section::new(
        "thread-local",
        "threading.local()",
        "thread_local!: a value per thread, built on first use, dropped when the thread ends",
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
