//! Plain threads talking to the event loop: `Handle::spawn`, a channel sender used from
//! sync code, and `Handle::block_on` outside the runtime.
//!
//! Python ("can you mix threads and asyncio?"):
//!     loop = asyncio.get_running_loop()               # captured on the loop's thread
//!     def worker(i):                                  # runs in a plain threading.Thread
//!         loop.call_soon_threadsafe(queue.put_nowait, i)              # hand over an item
//!         fut = asyncio.run_coroutine_threadsafe(square(i), loop)     # run a coroutine there
//!         return fut.result(timeout=5)                                 # and wait for it
//!
//! Rust: a `tokio::runtime::Handle` is the `loop` object; clone it into any thread.
//! `handle.spawn(fut)` is `run_coroutine_threadsafe`, and the thread waits for the
//! `JoinHandle` with `handle.block_on(...)`, allowed because a plain thread is outside the
//! runtime. A channel sender is `call_soon_threadsafe`'s twin: `blocking_send` from sync
//! code, `recv().await` on the loop. Unlike asyncio, nothing here is "not thread-safe by
//! convention": `Handle` and `Sender` are `Send + Sync`, and the compiler refuses what
//! is not.
//!
//! The classic mistake is `block_on` *inside* the runtime (in async code, or a sync
//! function called from it): the thread that should drive the loop would wait on itself.
//! Tokio refuses with a panic instead of deadlocking; the section catches it and shows the
//! two fixes: `.await` it, or move the sync code to `spawn_blocking`, where `block_on` is
//! allowed.
//!
//! Watch: every item the threads sent arrives on the loop, every answer comes back to its
//! thread, the round trip thread -> loop -> thread is timed, and the mistake is caught.
//!
//! Run only this: cargo run -p hybrid-demo -- thread-to-loop
//! Copy it: cargo add anyhow@1 tracing@0.1 && cargo add tokio@1 --features full

use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;

/// Async work that lives on the loop.
async fn square(i: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    i * i
}

/// An item a thread hands to the loop: (thread, sequence number).
pub type Item = (u64, u64);

/// What one plain thread got back from the loop.
#[derive(Debug, PartialEq, Eq)]
pub struct Answers {
    pub spawned: u64,
    pub blocked_on: u64,
}

/// A plain (sync) worker thread's body: talks to the loop three ways.
pub fn worker(
    i: u64,
    handle: &Handle,
    items: &mpsc::Sender<Item>,
    items_per_thread: u64,
) -> anyhow::Result<Answers> {
    // 1. call_soon_threadsafe: hand items to the loop; waits only if the channel is full.
    for k in 0..items_per_thread {
        items
            .blocking_send((i, k))
            .map_err(|_| anyhow!("the loop stopped listening"))?;
    }
    // 2. run_coroutine_threadsafe + fut.result(): a task on the loop, awaited from here.
    let task = handle.spawn(square(i));
    let spawned = handle
        .block_on(task)
        .context("the task on the loop failed")?;
    // 3. Drive async work from this thread with the runtime's timers and I/O.
    let blocked_on = handle.block_on(async move { square(i + 1).await - 1 });
    tracing::debug!(thread = i, spawned, blocked_on, "worker got its answers");
    Ok(Answers {
        spawned,
        blocked_on,
    })
}

/// Start `threads` plain threads that talk to the loop of `runtime`, each sending
/// `items_per_thread` items; the loop collects them. Returns the items (as received) and
/// each thread's answers.
pub fn threads_and_loop(
    runtime: &Runtime,
    threads: u64,
    items_per_thread: u64,
) -> anyhow::Result<(Vec<Item>, Vec<Answers>)> {
    let (items, mut inbox) = mpsc::channel::<Item>(4);
    let collector = runtime.spawn(async move {
        let mut received = Vec::new();
        while let Some(item) = inbox.recv().await {
            received.push(item);
        }
        received // every sender is gone: all threads finished
    });
    let answers = std::thread::scope(|s| {
        let threads: Vec<_> = (0..threads)
            .map(|i| {
                let (handle, items) = (runtime.handle().clone(), items.clone());
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn_scoped(s, move || worker(i, &handle, &items, items_per_thread))
            })
            .collect::<Result<_, _>>()?;
        drop(items); // the threads hold the only senders now
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow!("a worker thread panicked"))?)
            .collect::<anyhow::Result<Vec<Answers>>>()
    })?;
    let received = runtime.block_on(collector)?;
    Ok((received, answers))
}

/// The mistake: a sync helper that drives a future with `block_on`. Fine from a plain
/// thread; called from async code on the runtime (a task, or sync code a task calls) it
/// panics: "Cannot start a runtime from within a runtime".
pub fn sync_helper(handle: &Handle) -> u64 {
    handle.block_on(square(3))
}

/// Fix 1: in async code, `.await` instead.
pub async fn async_helper() -> u64 {
    square(3).await
}

/// Fix 2: the same sync code moved to `spawn_blocking`, where `block_on` is allowed.
pub fn block_on_in_spawn_blocking(handle: &Handle) -> anyhow::Result<u64> {
    let inner = handle.clone();
    let task = handle.spawn_blocking(move || sync_helper(&inner));
    Ok(handle.block_on(task)?)
}

/// The start of tokio's message when `block_on` is called inside the runtime.
pub const REFUSAL: &str = "Cannot start a runtime from within a runtime";

/// The text of a panic (`panic!("...")` carries a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload.downcast_ref::<&str>().map(|s| (*s).to_owned());
    text.or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The mistake made on purpose: `sync_helper` called from a task on the runtime. Tokio
/// refuses with a panic (reported on stderr as it happens), and the task's `JoinHandle`
/// hands it back: its message.
pub fn block_on_inside_the_runtime(handle: &Handle) -> anyhow::Result<String> {
    let inner = handle.clone();
    let task = handle.spawn(async move { sync_helper(&inner) });
    match handle.block_on(task) {
        Ok(_) => Err(anyhow!(
            "block_on inside the runtime should have been refused"
        )),
        Err(e) if e.is_panic() => Ok(panic_text(&*e.into_panic())),
        Err(e) => Err(e.into()),
    }
}

/// An "event loop" of one worker thread, as in asyncio, and four plain threads talking to it.
fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (items, answers) = threads_and_loop(&runtime, 4, 5)?;
    println!("the loop received {} items: {items:?}", items.len());
    for (i, answer) in answers.iter().enumerate() {
        println!("thread {i} got back {answer:?}");
    }
    let refused = block_on_inside_the_runtime(runtime.handle())?;
    let first_sentence = refused.split(". ").next().unwrap_or_default();
    println!("block_on inside the runtime, refused: {first_sentence}");
    let fixed = block_on_in_spawn_blocking(runtime.handle())?;
    println!("block_on inside spawn_blocking instead: {fixed}");
    Ok(())
}

// --- run and measure ---

use std::collections::BTreeSet;
use std::process::Termination;
use std::sync::Once;

use common::cli::{Section, SectionResult};
use common::print::{figure, takeaway};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "thread-to-loop",
    "loop.call_soon_threadsafe / run_coroutine_threadsafe",
    "plain threads feed and await the loop; block_on inside it",
    run,
)
.main(|| main().report());

const THREADS: u64 = 4;
const ITEMS_PER_THREAD: u64 = 5;
const ROUND_TRIPS: u32 = 1_000;

/// Tokio's refusal is a panic, which the default hook reports on stderr as it happens; the
/// section prints it in its output instead, so the hook leaves that one message out.
fn quiet_refusals() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panic_text(info.payload()).contains(REFUSAL) {
                previous(info);
            }
        }));
    });
}

fn run() -> SectionResult {
    // The "event loop": one worker thread, as in asyncio.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("event-loop")
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();

    let (received, answers) = threads_and_loop(&runtime, THREADS, ITEMS_PER_THREAD)?;
    let distinct: BTreeSet<_> = received.iter().collect();
    let items = received.len();
    anyhow::ensure!(
        items as u64 == THREADS * ITEMS_PER_THREAD && distinct.len() == items,
        "the loop received {items} items ({} distinct)",
        distinct.len()
    );
    let right = |i: u64| Answers {
        spawned: i * i,
        blocked_on: (i + 1) * (i + 1) - 1,
    };
    anyhow::ensure!(
        (0..).zip(&answers).all(|(i, a)| *a == right(i)),
        "wrong answers {answers:?}"
    );
    let (trips, took) = timed(|| {
        (0..ROUND_TRIPS).try_for_each(|k| {
            let back = handle.block_on(handle.spawn(async move { k + 1 }))?;
            anyhow::ensure!(back == k + 1, "round trip {k} came back as {back}");
            Ok(())
        })
    });
    trips?;
    quiet_refusals();
    let mistake = block_on_inside_the_runtime(&handle)?;
    let awaited = handle.block_on(handle.spawn(async_helper()))?;
    let fixed = block_on_in_spawn_blocking(&handle)?;
    anyhow::ensure!(
        awaited == 9 && fixed == 9,
        "the fixes gave {awaited} and {fixed}"
    );

    figure(
        "items sent by threads",
        format!("{items} from {THREADS} threads, all received by the loop"),
    );
    figure(
        "answers back",
        "all right (Handle::spawn, Handle::block_on)",
    );
    figure(
        "round trip",
        format!(
            "{} each, thread -> loop -> thread ({ROUND_TRIPS} trips)",
            Secs(took / ROUND_TRIPS)
        ),
    );
    let first_sentence = mistake.split(". ").next().unwrap_or(&mistake);
    figure("block_on inside the loop", "refused with a panic, caught:");
    println!("      \"{first_sentence}\"");
    figure(
        "fix 1: .await it instead",
        format!("fine, returned {awaited}"),
    );
    figure(
        "fix 2: in spawn_blocking",
        format!("fine, block_on returned {fixed}"),
    );
    takeaway(
        "clone a Handle into threads: spawn and block_on from outside the loop; inside it, .await (or spawn_blocking)",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_thread_runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn every_item_reaches_the_loop_and_every_answer_its_thread() {
        let runtime = one_thread_runtime();
        let (received, answers) = threads_and_loop(&runtime, THREADS, ITEMS_PER_THREAD).unwrap();
        let mut sorted = received.clone();
        sorted.sort();
        let expected: Vec<_> = (0..THREADS)
            .flat_map(|i| (0..ITEMS_PER_THREAD).map(move |k| (i, k)))
            .collect();
        assert_eq!(sorted, expected, "each item exactly once");
        // Items from one thread arrive in the order that thread sent them.
        for i in 0..THREADS {
            let from_i: Vec<u64> = received
                .iter()
                .filter(|(t, _)| *t == i)
                .map(|(_, k)| *k)
                .collect();
            assert_eq!(from_i, (0..ITEMS_PER_THREAD).collect::<Vec<_>>());
        }
        for (i, a) in answers.iter().enumerate() {
            let i = i as u64;
            assert_eq!(a.spawned, i * i);
            assert_eq!(a.blocked_on, (i + 1) * (i + 1) - 1);
        }
    }

    #[test]
    fn block_on_inside_the_runtime_is_refused_and_the_fix_works() {
        let runtime = one_thread_runtime();
        let message = block_on_inside_the_runtime(runtime.handle()).unwrap();
        assert!(
            message.contains("runtime from within a runtime"),
            "{message}"
        );
        assert_eq!(runtime.block_on(async_helper()), 9);
        assert_eq!(block_on_in_spawn_blocking(runtime.handle()).unwrap(), 9);
        // The runtime is still healthy after the caught panic.
        assert_eq!(runtime.block_on(square(4)), 16);
    }
}
