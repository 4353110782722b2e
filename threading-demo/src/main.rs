//! Python's `threading` module, in Rust. `cargo run -p threading-demo -- --list` shows the
//! sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Section};

mod event;
mod lock;
mod race_condition;
mod rlock;
mod scoped_threads;
mod semaphore;
mod thread_basics;

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
];

fn main() -> ExitCode {
    Demo {
        name: "threading-demo",
        about: "Python's threading module, in Rust: threads, locks, semaphores, events, queues, pools, no GIL",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
