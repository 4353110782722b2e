//! `asyncio.create_task(coro)` on a coroutine that reads the caller's locals ->
//! `tokio::spawn` takes only futures that own what they use (`'static`).
//!
//! Python:
//!     names = ["ada", "grace", "alan", "barbara"]
//!     async def length(i):
//!         await asyncio.sleep(0.1)
//!         return len(names[i])             # reads the caller's list, no questions asked
//!     tasks = [asyncio.create_task(length(i)) for i in range(len(names))]
//!     total = sum(await asyncio.gather(*tasks))
//!
//! Rust: a spawned task may outlive the function that spawned it, so `tokio::spawn` takes
//! only futures that own everything they use (`'static`): both errors below are about
//! lifetimes. (Its other bound, `Send`, because the task may move between worker threads,
//! is the one `mutex-across-await` runs into: a std `MutexGuard` held across `.await`.)
//! Borrowing a local into a task does not compile:
//!
//!     pub async fn count_later(names: Vec<String>) -> usize {
//!         let task = tokio::spawn(async { names.len() });
//!         task.await.unwrap()
//!     }
//!
//! rustc says (E0373):
//!
//!     error[E0373]: async block may outlive the current function, but it borrows `names`, which is owned by the current function
//!     help: to force the async block to take ownership of `names` (and any other referenced variables), use the `move` keyword
//!
//! Adding `move` to a block that holds only a reference is refused too:
//!
//!     pub async fn count_later(names: Vec<String>) -> usize {
//!         let names = &names;
//!         let task = tokio::spawn(async move { names.len() });
//!         task.await.unwrap()
//!     }
//!
//! rustc says (E0597):
//!
//!     error[E0597]: `names` does not live long enough
//!     borrowed value does not live long enough
//!     argument requires that `names` is borrowed for `'static`
//!
//! The fixes, below: `move` an `Arc` clone into each task (shared, read-only), or `move` each
//! value into its own task of a `JoinSet` (no sharing at all), or do not spawn: `join_all` on
//! futures that borrow runs them together on the current task, and borrows are fine there.
//! (The tests compile both snippets with rustc and check these lines.)
//!
//! Watch: the three ways give the same total and each takes about one 0.1 s wait, not four:
//! the timeline's bars overlap within each way.
//!
//! Run only this: cargo run -p asyncio-demo -- spawn-send
//! Copy it: cargo add futures@0.3 tracing@0.1 && cargo add tokio@1 --features full

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::task::{JoinError, JoinSet};
use tracing::Instrument;

/// Fix 1: one `Arc` of the list; each task gets its own clone, moved in.
pub async fn with_arc(names: Vec<String>, wait: Duration) -> Result<usize, JoinError> {
    let names = Arc::new(names);
    let mut handles = Vec::new();
    for i in 0..names.len() {
        let names = Arc::clone(&names); // a new owner for the task, not a copy of the list
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(wait)
                .instrument(tracing::info_span!("length", way = "Arc", i))
                .await;
            names[i].len()
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await?;
    }
    Ok(total)
}

/// Fix 2: each task owns its `String` outright; a `JoinSet` collects them.
pub async fn with_joinset(names: Vec<String>, wait: Duration) -> Result<usize, JoinError> {
    let mut set = JoinSet::new();
    for (i, name) in names.into_iter().enumerate() {
        set.spawn(async move {
            tokio::time::sleep(wait)
                .instrument(tracing::info_span!("length", way = "JoinSet", i))
                .await;
            name.len()
        });
    }
    let mut total = 0;
    while let Some(length) = set.join_next().await {
        total += length?;
    }
    Ok(total)
}

/// Fix 3: no spawn. The futures borrow `names`; `join_all` polls them on this task, so
/// nothing outlives the borrow. Concurrent (the waits overlap), not on other threads.
pub async fn borrowed(names: &[String], wait: Duration) -> usize {
    let lengths = names.iter().enumerate().map(|(i, name)| async move {
        tokio::time::sleep(wait)
            .instrument(tracing::info_span!("length", way = "join_all", i))
            .await;
        name.len()
    });
    join_all(lengths).await.into_iter().sum()
}

fn names() -> Vec<String> {
    ["ada", "grace", "alan", "barbara"]
        .map(String::from)
        .to_vec()
}

/// The twin of `if __name__ == "__main__":` the three fixes, each timed.
#[tokio::main]
async fn main() -> Result<(), JoinError> {
    let wait = Duration::from_millis(100);
    let start = tokio::time::Instant::now();
    let total = with_arc(names(), wait).await?;
    println!(
        "spawn + move Arc clones: total {total} in {:.2?}",
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let total = with_joinset(names(), wait).await?;
    println!(
        "JoinSet of owned values: total {total} in {:.2?}",
        start.elapsed()
    );
    let (list, start) = (names(), tokio::time::Instant::now());
    let total = borrowed(&list, wait).await;
    println!(
        "join_all on borrows: total {total} in {:.2?}, {list:?} still ours",
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "spawn-send",
    "asyncio.create_task(coro) sharing a local",
    "tokio::spawn needs futures that own their data ('static): Arc + move, JoinSet, or join_all on borrows",
    run,
)
.main(|| main().report());

const WAIT: Duration = Duration::from_millis(100);

#[tokio::main]
async fn run() -> SectionResult {
    let expected: usize = names().iter().map(String::len).sum();
    let recording = Recording::start();
    let (arc, took_arc) = timed_async(with_arc(names(), WAIT)).await;
    let (set, took_set) = timed_async(with_joinset(names(), WAIT)).await;
    let list = names();
    let (borrow, took_borrow) = timed_async(borrowed(&list, WAIT)).await;
    let spans = recording.finish().named(&["length"]);
    let totals = [arc?, set?, borrow];
    anyhow::ensure!(
        totals == [expected; 3],
        "totals {totals:?}, expected {expected}"
    );
    let n = list.len();
    figure(
        "names",
        format!("{n}, each a {} wait; total length {expected}", Secs(WAIT)),
    );
    figure("spawn + move Arc clones", Secs(took_arc));
    figure("JoinSet, values moved in", Secs(took_set));
    figure("join_all on borrows", Secs(took_borrow));
    spans.print(Lanes::Span);
    let at_once = ["Arc", "JoinSet", "join_all"]
        .map(|way| spans.filter(|s| s.field("way") == Some(way)).most_at_once());
    let near = |t: Duration| t < WAIT + WAIT / 2;
    takeaway_if(
        &Evidence::new(
            at_once == [n; 3] && near(took_arc) && near(took_set) && near(took_borrow),
            format!(
                "{n} waits open at once in each way, each way under {}",
                Secs(WAIT + WAIT / 2)
            ),
            format!(
                "{at_once:?} at once, {}, {} and {}",
                Secs(took_arc),
                Secs(took_set),
                Secs(took_borrow)
            ),
        ),
        "spawned tasks own their data (move an Arc clone or the value itself); borrowing is for join_all, which does not spawn",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::compile_fail::{assert_compiles, assert_refused, header_block};
    use tokio::time::Instant;

    const SOURCE: &str = include_str!("spawn_send.rs");

    #[test]
    fn borrowing_a_local_into_spawn_is_refused_with_e0373() {
        let code = header_block(SOURCE, "does not compile:");
        assert_refused(
            "spawn_borrow",
            &code,
            &["tokio"],
            &header_block(SOURCE, "rustc says (E0373)"),
        );
        // The control: the compiler's own suggestion, `move`, compiles.
        assert_compiles(
            "spawn_move",
            &code.replace("async {", "async move {"),
            &["tokio"],
        );
    }

    #[test]
    fn moving_a_reference_into_spawn_is_refused_with_e0597() {
        let code = header_block(SOURCE, "refused too");
        assert!(code.contains("async move"), "{code}");
        assert_refused(
            "spawn_move_ref",
            &code,
            &["tokio"],
            &header_block(SOURCE, "rustc says (E0597)"),
        );
        let fixed = code.replace(
            "let names = &names;",
            "let names = std::sync::Arc::new(names);",
        );
        assert_compiles("spawn_move_arc", &fixed, &["tokio"]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_three_fixes_agree_and_each_waits_once() {
        let expected: usize = names().iter().map(String::len).sum();
        let start = Instant::now();
        assert_eq!(with_arc(names(), WAIT).await.unwrap(), expected);
        assert_eq!(start.elapsed(), WAIT, "the spawned waits overlap");
        let start = Instant::now();
        assert_eq!(with_joinset(names(), WAIT).await.unwrap(), expected);
        assert_eq!(start.elapsed(), WAIT);
        let list = names();
        let start = Instant::now();
        assert_eq!(borrowed(&list, WAIT).await, expected);
        assert_eq!(start.elapsed(), WAIT);
        assert_eq!(list.len(), 4, "still ours: join_all only borrowed it");
    }

    #[tokio::test(start_paused = true)]
    async fn join_all_on_borrows_stays_on_this_thread() {
        let recording = Recording::local();
        let list = names();
        borrowed(&list, WAIT).await;
        let spans = recording.finish().named(&["length"]);
        assert_eq!(spans.len(), 4);
        assert_eq!(spans.most_at_once(), 4);
        assert_eq!(spans.lane_count(Lanes::ThreadId), 1);
    }
}
