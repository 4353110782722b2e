//! `contextvars.ContextVar` (a request id set in the handler, read deep inside) ->
//! `tokio::task_local!` with `.scope()`.
//!
//! Python:
//!     request_id = contextvars.ContextVar("request_id", default="-")
//!     def log(what):                           # deep inside: nobody passed the id down
//!         return f"[req {request_id.get()}] {what}"
//!     async def handle(rid, user):
//!         request_id.set(rid)
//!         lines = [await lookup(user)]         # lookup() calls log()
//!         audit = asyncio.create_task(audit_user(user))  # the task copies the context
//!         lines.append(await audit)            # "[req 7] audited ...": it sees rid
//!         return lines
//!
//! Rust: `task_local!` declares the variable, `REQUEST_ID.scope(id, future)` gives it a
//! value for everything that future awaits, and `REQUEST_ID.try_with(..)` reads it deep
//! inside (an error outside every scope: the `default`). There is no `.set()`: a value
//! lasts as long as its scope, and an inner `scope` shadows it. Two things differ. A task
//! started with `tokio::spawn` does not inherit it (asyncio's `create_task` copies the
//! context), so pass it on by scoping the spawned future again:
//! `tokio::spawn(REQUEST_ID.scope(REQUEST_ID.get(), audit(user)))`. And `thread_local!`
//! (Python's `threading.local()`) is as wrong for tasks as it is for coroutines: many tasks
//! take turns on one thread, and a task may resume on another one.
//!
//! Watch: three requests interleave on one thread and every line carries its own
//! request's id; the audit spawned plainly says `[req -]`, the one scoped again keeps the
//! id; the `thread_local!` version prints the last request's id for all three.
//!
//! Run only this: cargo run -p asyncio-demo -- task-local
//! Copy it: cargo add futures@0.3 && cargo add tokio@1 --features full

use std::cell::Cell;
use std::time::Duration;

use futures::future::join_all;
use tokio::task::JoinError;
use tokio::time::sleep;

tokio::task_local! {
    /// The request being served, for everything its handler awaits.
    static REQUEST_ID: u64;
}

/// `log(what)`, deep inside: reads the id nobody passed in.
fn log(what: &str) -> String {
    match REQUEST_ID.try_with(|id| *id) {
        Ok(id) => format!("[req {id}] {what}"),
        Err(_) => format!("[req -] {what}"), // outside every scope: the ContextVar's default
    }
}

async fn lookup(user: u64) -> String {
    sleep(Duration::from_millis(10)).await; // the database; other requests run meanwhile
    log(&format!("looked up user {user}"))
}

async fn audit(user: u64) -> String {
    sleep(Duration::from_millis(5)).await;
    log(&format!("audited user {user}"))
}

/// The handler: everything awaited inside `scope` sees `id`. Its log lines: the lookup,
/// an audit in a plainly spawned task, and one in a task scoped again.
pub async fn handle(id: u64, user: u64) -> Result<Vec<String>, JoinError> {
    REQUEST_ID
        .scope(id, async move {
            let looked_up = lookup(user).await;
            let lost = tokio::spawn(audit(user)); // a new task: no REQUEST_ID inside
            let kept = tokio::spawn(REQUEST_ID.scope(REQUEST_ID.get(), audit(user)));
            Ok(vec![looked_up, lost.await?, kept.await?])
        })
        .await
}

thread_local! {
    /// The `threading.local()` way: one value per thread, shared by every task on it.
    static THREAD_REQUEST_ID: Cell<u64> = const { Cell::new(0) };
}

/// The same lookup with the id in a thread-local: set it, await, read it back.
pub async fn handle_with_thread_local(id: u64, user: u64) -> String {
    THREAD_REQUEST_ID.set(id);
    sleep(Duration::from_millis(10)).await; // the other requests set theirs here
    format!("[req {}] looked up user {user}", THREAD_REQUEST_ID.get())
}

/// The twin of `if __name__ == "__main__":` three requests at once on one thread, as
/// asyncio runs them, with the id in a task-local, then in a thread-local.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), JoinError> {
    println!("task_local!:");
    for lines in join_all((1..=3).map(|id| handle(id, 100 + id))).await {
        for line in lines? {
            println!("  {line}");
        }
    }
    println!("thread_local!:");
    for line in join_all((1..=3).map(|id| handle_with_thread_local(id, 100 + id))).await {
        println!("  {line}");
    }
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};

pub const SECTION: Section = Section::new(
    "task-local",
    "contextvars.ContextVar",
    "tokio::task_local! + .scope(): a request id read deep inside; spawn does not inherit it",
    run,
)
.main(|| main().report());

const REQUESTS: u64 = 100;

/// How many of `lines` name request `id` (`None`: no request).
fn naming(lines: &[&String], id: Option<u64>) -> usize {
    let tag = id.map_or("[req -]".to_owned(), |id| format!("[req {id}]"));
    lines.iter().filter(|l| l.starts_with(&tag)).count()
}

/// A task per request on the multi-thread runtime, as a server spawns them: tasks take
/// turns on the worker threads and may resume on another one.
#[tokio::main]
async fn run() -> SectionResult {
    let ids = 1..=REQUESTS;
    let tasks: Vec<_> = ids.clone().map(|id| tokio::spawn(handle(id, id))).collect();
    let (mut right, mut lost, mut kept) = (0, 0, 0);
    for (id, task) in ids.clone().zip(tasks) {
        let lines = task.await??;
        right += naming(&[&lines[0]], Some(id));
        lost += naming(&[&lines[1]], None);
        kept += naming(&[&lines[2]], Some(id));
    }
    let tasks = ids
        .clone()
        .map(|id| tokio::spawn(handle_with_thread_local(id, id)));
    let mut own = 0;
    for (id, task) in ids.zip(tasks.collect::<Vec<_>>()) {
        own += naming(&[&task.await?], Some(id));
    }
    let n = REQUESTS as usize;
    anyhow::ensure!(
        right == n && lost == n && kept == n,
        "task_local!: {right} right, {lost} lost, {kept} kept of {n}"
    );
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    figure(
        format!("{n} requests, a task each"),
        format!("worker threads: {workers}"),
    );
    figure("task_local!, own id", format!("{right} of {n} lookups"));
    figure("spawned task, id", format!("none in {lost} of {n}"));
    figure("spawned in scope(..)", format!("own id in {kept} of {n}"));
    figure("thread_local!, own id", format!("{own} of {n} lookups"));
    takeaway_if(
        &Evidence::new(
            own < n / 2,
            "most thread-local reads to see another request's id",
            format!("{own} of {n} saw their own"),
        ),
        "a task-local follows its own task; a thread-local is shared by every task on the thread; a spawned task starts with no task-locals",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn interleaved_requests_each_log_their_own_id() {
        let all = join_all([7, 8].map(|id| handle(id, id * 10))).await;
        let [seven, eight] = [&all[0], &all[1]].map(|r| r.as_ref().unwrap());
        assert_eq!(seven[0], "[req 7] looked up user 70");
        assert_eq!(eight[0], "[req 8] looked up user 80");
        assert_eq!(eight[2], "[req 8] audited user 80");
    }

    #[tokio::test(start_paused = true)]
    async fn a_spawned_task_has_no_id_until_scoped_again() {
        let lines = handle(3, 30).await.unwrap();
        assert_eq!(lines[1], "[req -] audited user 30");
        assert_eq!(lines[2], "[req 3] audited user 30");
    }

    #[tokio::test(start_paused = true)]
    async fn outside_every_scope_the_default_and_an_inner_scope_shadows() {
        assert_eq!(log("x"), "[req -] x");
        let inner = REQUEST_ID.scope(1, REQUEST_ID.scope(2, async { log("x") }));
        assert_eq!(inner.await, "[req 2] x");
    }

    #[tokio::test(start_paused = true)]
    async fn a_thread_local_is_shared_by_the_tasks_on_the_thread() {
        let lines = join_all((1..=3).map(|id| handle_with_thread_local(id, id))).await;
        assert!(lines.iter().all(|l| l.starts_with("[req 3]")), "{lines:?}");
    }
}
