//! `unittest.IsolatedAsyncioTestCase` (or pytest-asyncio) -> `#[tokio::test]`: a paused
//! clock for timeouts, a `Barrier` to prove overlap, loom for a hand-made handoff.
//!
//! Python:
//!     class RetryTest(unittest.IsolatedAsyncioTestCase):
//!         async def test_gives_up_after_three_timeouts(self):
//!             loop = asyncio.get_running_loop()
//!             start = loop.time()
//!             answer = await with_retries(never_answers, attempts=3, timeout=5, pause=1)
//!             self.assertIsNone(answer)
//!             self.assertAlmostEqual(loop.time() - start, 17, delta=0.1)  # 17 real seconds
//!
//! Rust: `#[tokio::test]` gives each test a runtime of its own. With `start_paused = true`
//! its clock stands still and jumps to the next timer whenever every task is waiting, so
//! the test above simulates its 17 s in microseconds and asserts them exactly (`==`, not
//! "about"); Python's stdlib has no such clock (the `looptime` pytest plugin fakes one).
//! To prove that two calls overlap, make them meet at a `tokio::sync::Barrier::new(2)`:
//! one after the other, the first waits there forever, and a `timeout` on the paused clock
//! turns that hang into a quick failure. Threads sharing atomics need more than a test
//! run: a run tries the interleavings the scheduler happens to pick, loom tries every one
//! (and every value the memory model lets a load see). The code under test takes its
//! atomics from `loom::sync` when the `loom` feature is on. In a copy,
//! `cargo add loom@0.7 --optional` declares that feature (without it the `cfg` lines
//! warn), and `cargo test --features loom` runs the model. (The demo's own tests check that
//! loom fails a `take` that reads the value before the flag.)
//! Below, each test's body is a plain function, run by `main` too, and called from a
//! `#[tokio::test]` (or `#[test]`) that `cargo test` runs: copy both.
//!
//! Watch: 17 s of retries pass in microseconds of real time; the overlap test passes with
//! two jobs at a time and fails, at once, with one at a time; the handoff on real threads
//! never hands over a value without its flag.
//!
//! Run only this: cargo run -p asyncio-demo -- testing
//! Copy it: cargo add futures@0.3 && cargo add tokio@1 --features full,test-util

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{StreamExt, stream};
#[cfg(feature = "loom")]
use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(feature = "loom"))]
use std::sync::atomic::{AtomicBool, AtomicU64};
use tokio::sync::Barrier;
use tokio::time::{Instant, timeout};

/// Code under test 1: try `call` up to `attempts` times, `timeout` each, `pause` between.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub timeout: Duration,
    pub pause: Duration,
}

impl Retry {
    pub async fn run<T, F: Future<Output = T>>(&self, mut call: impl FnMut() -> F) -> Option<T> {
        for attempt in 1..=self.attempts {
            if let Ok(answer) = timeout(self.timeout, call()).await {
                return Some(answer);
            }
            if attempt < self.attempts {
                tokio::time::sleep(self.pause).await;
            }
        }
        None
    }
}

/// Code under test 2: every job, at most `limit` at a time, results in order.
pub async fn run_all<F: Future>(jobs: Vec<F>, limit: usize) -> Vec<F::Output> {
    stream::iter(jobs).buffered(limit).collect().await
}

/// Code under test 3: one value handed from one thread to another, written, then flagged.
struct Handoff {
    value: AtomicU64,
    ready: AtomicBool,
}

impl Handoff {
    fn new() -> Self {
        Handoff {
            value: AtomicU64::new(0),
            ready: AtomicBool::new(false),
        }
    }

    fn put(&self, value: u64) {
        self.value.store(value, Ordering::Relaxed);
        self.ready.store(true, Ordering::Release); // publishes the store above
    }

    fn take(&self) -> Option<u64> {
        let ready = self.ready.load(Ordering::Acquire); // sees what came before the Release
        ready.then(|| self.value.load(Ordering::Relaxed))
    }
}

/// The retry policy under test: 5 s a try, 1 s between, three tries.
const RETRY: Retry = Retry {
    attempts: 3,
    timeout: Duration::from_secs(5),
    pause: Duration::from_secs(1),
};

/// Test 1's body: a call that never answers is given up on after exactly `expected`.
pub async fn assert_gives_up_after(retry: Retry, expected: Duration) {
    let start = Instant::now(); // tokio's Instant: the paused clock
    let answer: Option<()> = retry.run(std::future::pending).await; // never answers
    assert_eq!(answer, None);
    assert_eq!(start.elapsed(), expected);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_three_timeouts() {
    assert_gives_up_after(RETRY, Duration::from_secs(17)).await; // 5 + 1 + 5 + 1 + 5
}

/// Test 2's body: whether `run_all` had both jobs going at once. Each waits at a barrier of
/// two; one at a time, the first waits forever, and the paused clock reaches the 10 s
/// timeout at once.
pub async fn two_jobs_overlap(limit: usize) -> bool {
    let barrier = Barrier::new(2);
    let jobs = vec![barrier.wait(), barrier.wait()];
    let finished = timeout(Duration::from_secs(10), run_all(jobs, limit)).await;
    finished.is_ok()
}

#[tokio::test(start_paused = true)]
async fn run_all_runs_two_jobs_at_once() {
    assert!(two_jobs_overlap(2).await);
}

#[tokio::test(start_paused = true)]
async fn the_overlap_test_fails_one_at_a_time() {
    assert!(
        !two_jobs_overlap(1).await,
        "the test must catch a limit of 1"
    );
}

/// Test 3 on real threads, `rounds` times: what `take` saw while `put` ran (nothing yet,
/// or the value), counted. A run samples a few interleavings; loom tries them all.
fn handoff_on_threads(rounds: u32) -> [u32; 2] {
    let mut seen = [0, 0];
    for _ in 0..rounds {
        let handoff = Handoff::new();
        let taken = std::thread::scope(|s| {
            s.spawn(|| handoff.put(42));
            handoff.take()
        });
        assert!(matches!(taken, None | Some(42)), "took {taken:?}");
        seen[usize::from(taken.is_some())] += 1;
    }
    seen
}

#[cfg(not(feature = "loom"))]
#[test]
fn the_handoff_on_real_threads() {
    handoff_on_threads(100);
}

/// Test 3 under loom: `take` sees nothing yet or 42, never the 0 before it, in every
/// interleaving of the two threads.
#[cfg(feature = "loom")]
#[test]
fn the_handoff_under_loom_never_shows_a_value_without_its_flag() {
    loom::model(|| {
        let handoff = loom::sync::Arc::new(Handoff::new());
        let writer = loom::thread::spawn({
            let handoff = handoff.clone();
            move || handoff.put(42)
        });
        let taken = handoff.take();
        assert!(matches!(taken, None | Some(42)), "took {taken:?}");
        writer.join().unwrap();
        assert_eq!(handoff.take(), Some(42));
    });
}

/// What `#[tokio::test(start_paused = true)]` builds for each test.
fn paused_runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(true);
    builder.build().expect("a runtime")
}

/// The twin of `if __name__ == "__main__":` the tests' bodies, run and timed.
fn main() {
    if cfg!(feature = "loom") {
        println!("built for loom: run `cargo test --features loom`");
        return;
    }
    let wall = std::time::Instant::now();
    paused_runtime().block_on(assert_gives_up_after(RETRY, Duration::from_secs(17)));
    println!(
        "test 1: gave up after 17 s on the paused clock, in {:.1?} of real time",
        wall.elapsed()
    );
    let [two, one] = [2, 1].map(|limit| paused_runtime().block_on(two_jobs_overlap(limit)));
    println!("test 2: two jobs at a time overlap: {two}; one at a time: {one} (caught)");
    let [none, some] = handoff_on_threads(1000);
    println!(
        "test 3: 1000 handoffs on real threads: {none} saw nothing yet, {some} saw 42, none saw 0"
    );
}

// --- run and measure ---

use std::process::ExitCode;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "testing",
    "IsolatedAsyncioTestCase, pytest-asyncio",
    "#[tokio::test] on a paused clock (17 s in microseconds), a Barrier proves overlap, loom for atomics",
    run,
)
.main(|| {
    main();
    ExitCode::SUCCESS
})
.twin(&TWIN);

/// `--python`: the same retry test with unittest.IsolatedAsyncioTestCase, on the loop's
/// real clock, at the sizes Python's suite would shrink it to.
const TWIN: Twin = Twin::new(
    "testing.py",
    include_str!("../python/testing.py"),
    &["wall_s", "waited_s"],
);

/// The twin's job: the same three tries, timeouts cut tenfold so its real wait is bearable.
const SHRUNK: Retry = Retry {
    attempts: 3,
    timeout: Duration::from_millis(500),
    pause: Duration::from_millis(100),
};

fn run() -> SectionResult {
    anyhow::ensure!(!cfg!(feature = "loom"), "built for loom: run the tests");
    let test = |retry: Retry, expected| {
        timed(|| paused_runtime().block_on(assert_gives_up_after(retry, expected))).1
    };
    let full = Duration::from_secs(17);
    let wall = test(RETRY, full);
    let shrunk = SHRUNK.timeout * 3 + SHRUNK.pause * 2;
    let wall_shrunk = test(SHRUNK, shrunk);
    let ([two, one], overlap_wall) =
        timed(|| [2, 1].map(|limit| paused_runtime().block_on(two_jobs_overlap(limit))));
    anyhow::ensure!(two && !one, "overlap test: limit 2 {two}, limit 1 {one}");
    let [none, some] = handoff_on_threads(1000);
    figure(
        "test 1: retries give up",
        format!("after {} simulated, in {} real", Secs(full), Secs(wall)),
    );
    figure(
        "test 1, shrunk tenfold",
        format!(
            "after {} simulated, in {} real",
            Secs(shrunk),
            Secs(wall_shrunk)
        ),
    );
    figure(
        "test 2: overlap",
        format!(
            "2 at a time pass, 1 at a time fail (10 s timeout), both in {}",
            Secs(overlap_wall)
        ),
    );
    figure(
        "test 3: 1000 real handoffs",
        format!("{none} saw nothing yet, {some} saw 42, never 0"),
    );
    TWIN.compare(
        &flags(&[
            ("--attempts", &SHRUNK.attempts),
            ("--timeout", &SHRUNK.timeout.as_secs_f64()),
            ("--pause", &SHRUNK.pause.as_secs_f64()),
        ]),
        &[Pair::secs(
            "the retry test, 1.7 s of waits",
            "wall_s",
            wall_shrunk.as_secs_f64(),
        )],
    )?;
    takeaway_if(
        &Evidence::new(
            wall < full / 1000,
            format!("the 17 s test under {}", Secs(full / 1000)),
            Secs(wall),
        ),
        "on the paused clock a timeout test costs no waiting, and asserts times exactly",
    );
    Ok(())
}

#[cfg(test)]
#[cfg(not(feature = "loom"))]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_answer_in_time_is_returned_on_the_first_try() {
        let start = Instant::now();
        let answer = RETRY.run(|| async { 7 }).await;
        assert_eq!((answer, start.elapsed()), (Some(7), Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_try_is_retried_after_the_pause() {
        let mut tries = 0;
        let start = Instant::now();
        let answer = RETRY
            .run(|| {
                tries += 1;
                let wait = if tries == 1 { 60 } else { 2 };
                async move { tokio::time::sleep(Duration::from_secs(wait)).await }
            })
            .await;
        assert_eq!(answer, Some(()));
        assert_eq!(start.elapsed(), Duration::from_secs(5 + 1 + 2));
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let args = ["--attempts", "2", "--timeout", "0.02", "--pause", "0.01"];
        if let Some(figures) = TWIN.run_for_test(&args) {
            let waited = figures["waited_s"].as_f64().unwrap();
            assert!(waited >= 0.049, "{waited}");
            assert!(figures["wall_s"].as_f64().unwrap() >= waited);
        }
    }
}

/// The model's teeth: a `take` that reads the value before the flag is wrong, and loom
/// finds the interleaving that shows it (`put` runs between the two reads).
#[cfg(test)]
#[cfg(feature = "loom")]
mod loom_tests {
    use super::*;

    #[test]
    #[should_panic(expected = "took Some(0)")]
    fn loom_finds_a_take_that_reads_the_value_before_the_flag() {
        loom::model(|| {
            let handoff = loom::sync::Arc::new(Handoff::new());
            let writer = loom::thread::spawn({
                let handoff = handoff.clone();
                move || handoff.put(42)
            });
            let value = handoff.value.load(Ordering::Relaxed);
            let taken = handoff.ready.load(Ordering::Acquire).then_some(value);
            assert!(matches!(taken, None | Some(42)), "took {taken:?}");
            writer.join().unwrap();
        });
    }
}
