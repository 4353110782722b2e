//! `threading.local()` -> `thread_local!`.
//!
//! Python:
//!     local = threading.local()
//!     def handle(request):
//!         if not hasattr(local, "conn"):         # first use on this thread
//!             local.conn = connect()
//!         local.count = getattr(local, "count", 0) + 1
//!         local.conn.send(request)
//!
//! Rust: `thread_local!` declares a static whose value is separate on every thread. Each
//! thread builds its own copy from the initialiser on first use (no `hasattr` dance),
//! reaches it through `KEY.with(|v| ...)` (a `Cell` or `RefCell` inside for mutation:
//! no other thread can see it, so no lock is needed), and drops it when the thread ends,
//! like Python deleting a thread's `local` attributes. The values need not be `Send`.
//!
//! Watch: three threads handle 5, 3 and 7 requests; each counts only its own, main's
//! count stays 0; three "connections" are opened, one per thread that used one, and all
//! three are closed when their threads end.
//!
//! Run only this: cargo run -p threading-demo -- thread-local
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use anyhow::anyhow;

/// This thread's name (`handler-0`), or `unnamed`.
fn thread_name() -> String {
    thread::current().name().unwrap_or("unnamed").to_owned()
}

/// How many connections were opened and closed, over all threads.
pub static OPENED: AtomicUsize = AtomicUsize::new(0);
pub static CLOSED: AtomicUsize = AtomicUsize::new(0);

/// A per-thread resource, like `local.conn`: opened lazily, closed when the thread ends.
struct Connection {
    owner: String,
    sent: Vec<String>,
}

impl Connection {
    fn open() -> Self {
        OPENED.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(thread = %thread_name(), "connection opened");
        Connection {
            owner: thread_name(),
            sent: Vec::new(),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        CLOSED.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(owner = %self.owner, sent = self.sent.len(), "connection closed");
    }
}

thread_local! {
    /// `local.count`: starts at 0 on every thread.
    pub static COUNT: Cell<u32> = const { Cell::new(0) };
    /// `local.conn`: built on first use on each thread.
    static CONN: RefCell<Connection> = RefCell::new(Connection::open());
}

pub fn handle(request: &str) {
    COUNT.with(|c| c.set(c.get() + 1));
    CONN.with_borrow_mut(|conn| conn.sent.push(request.to_owned()));
}

/// This thread's count and the owner of this thread's connection.
pub fn mine() -> (u32, String) {
    (COUNT.get(), CONN.with_borrow(|c| c.owner.clone()))
}

/// Each thread handles its number of requests and reports what its locals hold.
pub fn serve(requests_per_thread: &[u32]) -> anyhow::Result<Vec<(String, u32, String)>> {
    thread::scope(|s| {
        let handles = requests_per_thread
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                thread::Builder::new()
                    .name(format!("handler-{k}"))
                    .spawn_scoped(s, move || {
                        for r in 0..n {
                            handle(&format!("request {r}"));
                        }
                        let (count, owner) = mine();
                        (thread_name(), count, owner)
                    })
                    .map_err(|e| anyhow!("spawning a handler: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a handler panicked")))
            .collect()
    })
}

/// Three handler threads serve 5, 3 and 7 requests.
fn main() -> anyhow::Result<()> {
    for (name, count, owner) in serve(&[5, 3, 7])? {
        println!("{name}: local count {count}, connection of {owner}");
    }
    println!("main thread: local count {}", COUNT.get());
    let (opened, closed) = (OPENED.load(Ordering::SeqCst), CLOSED.load(Ordering::SeqCst));
    println!("connections opened {opened}, closed {closed}");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::takeaway;

pub const SECTION: Section = Section::new(
    "thread-local",
    "threading.local()",
    "thread_local!: a value per thread, built on first use",
    run,
)
.main(|| main().report());

fn run() -> SectionResult {
    main()?;
    takeaway(
        "thread_local! gives every thread its own value, built on first use and dropped when the thread ends",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_sees_only_its_own_values() {
        let seen = serve(&[2, 0, 4]).unwrap();
        let counts: Vec<u32> = seen.iter().map(|(_, c, _)| *c).collect();
        assert_eq!(counts, [2, 0, 4]);
        assert!(seen.iter().all(|(name, _, owner)| name == owner));
    }

    #[test]
    fn a_new_thread_starts_from_the_initialiser() {
        handle("on the test thread");
        let fresh = thread::spawn(|| COUNT.get()).join().unwrap();
        assert_eq!(fresh, 0);
        assert_eq!(COUNT.get(), 1);
    }
}
