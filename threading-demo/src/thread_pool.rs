//! `ThreadPoolExecutor(max_workers=3)` + `executor.map` for I/O -> a fixed set of worker
//! threads sharing one job channel, inside `thread::scope`.
//!
//! Python (the guide's example):
//!     def download_file(file_id):
//!         time.sleep(0.5)                          # network latency
//!         return f"file_{file_id}.dat"
//!     with ThreadPoolExecutor(max_workers=3) as executor:
//!         results = list(executor.map(download_file, range(5)))
//!     # 5 x 0.5 s = 2.5 s one after another; ~1.0 s on 3 workers (2 batches)
//!
//! Rust: std has no thread pool, but the pattern is short: `workers` threads pull
//! `(index, input)` from one crossbeam channel and send `(index, result)` back; the results
//! are put back in input order, as `executor.map` promises. `thread::scope` plays the
//! `with` block: it joins every worker before it returns, and lets the workers borrow the
//! function instead of needing it `'static`. A job that panics is not caught: the scope
//! re-raises the panic in the caller once the workers are joined, as `executor.map`
//! re-raises a job's exception. (For CPU-bound work use rayon's pool; for
//! many waits, async tasks: see the asyncio and futures demos.) Threads waiting on I/O
//! take no CPU, so the GIL or its absence changes nothing here.
//!
//! Watch: 3 downloads start together, 2 more when the first finish: two batches of 0.5 s,
//! about 1.0 s in all against 2.5 s one after another; results in input order.
//!
//! Run only this: cargo run -p threading-demo -- thread-pool
//! Copy it: cargo add anyhow@1 crossbeam-channel@0.5 tracing@0.1

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use crossbeam_channel::unbounded;

/// `executor.map(f, inputs)` on `workers` threads: results in input order.
///
/// A panic in `f` is not caught: it ends that worker, `thread::scope` joins the others and
/// then panics in the caller, as `executor.map` re-raises a job's exception when its
/// result is read. (To keep going past a failed job instead, return a `Result` from `f`,
/// or wrap it in `std::panic::catch_unwind`.)
pub fn pool_map<T, R>(
    workers: usize,
    inputs: impl IntoIterator<Item = T>,
    f: impl Fn(T) -> R + Sync,
) -> anyhow::Result<Vec<R>>
where
    T: Send,
    R: Send,
{
    let (jobs_tx, jobs_rx) = unbounded();
    for job in inputs.into_iter().enumerate() {
        jobs_tx
            .send(job)
            .map_err(|_| anyhow!("the job queue is closed"))?;
    }
    drop(jobs_tx); // workers stop when the queue is empty
    let (results_tx, results_rx) = unbounded();
    thread::scope(|s| {
        for w in 0..workers.max(1) {
            let (jobs_rx, results_tx, f) = (jobs_rx.clone(), results_tx.clone(), &f);
            thread::Builder::new()
                .name(format!("pool-{w}"))
                .spawn_scoped(s, move || {
                    for (index, input) in jobs_rx {
                        tracing::debug!(job = index, "pool worker took a job");
                        let _ = results_tx.send((index, f(input)));
                    }
                })
                .context("spawning a pool worker")?;
        }
        anyhow::Ok(())
    })?; // every worker has been joined here (and a panic in one re-raised)
    drop(results_tx);
    // Every job sent its result: put each at its input's place.
    let mut done: Vec<(usize, R)> = results_rx.iter().collect();
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, result)| result).collect())
}

/// The guide's `download_file`: wait like the network (`fetch` is the network), return
/// the file's name.
pub fn download_file(
    id: u64,
    fetch: impl Fn(u64) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<String> {
    let _span = tracing::info_span!("download", id).entered();
    let body = fetch(id)?;
    tracing::debug!(id, bytes = body.len(), "downloaded");
    Ok(format!("file_{id}.dat"))
}

/// The guide's example: 5 downloads of 0.5 s on 3 workers.
fn main() -> anyhow::Result<()> {
    let network = |_id| {
        thread::sleep(Duration::from_millis(500)); // network latency
        Ok(vec![0u8; 1024])
    };
    let start = Instant::now();
    let results = pool_map(3, 0..5, |id| download_file(id, network))?;
    let results = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    println!("{results:?} in {:.2?}", start.elapsed());
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recording};
use common::timing::{Secs, speedup, timed};
use common::workload::{download_blocking, verify_file};

pub const SECTION: Section = Section::new(
    "thread-pool",
    "ThreadPoolExecutor(3).map",
    "5 downloads of 0.5 s on 3 workers: ~1.0 s, not 2.5 s",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same downloads with `ThreadPoolExecutor(max_workers=3).map`.
const TWIN: Twin = Twin::new(
    "thread_pool.py",
    include_str!("../python/thread_pool.py"),
    &["one_by_one_s", "pool_s", "speedup", "most_at_once"],
);

const FILES: u64 = 5;
const WORKERS: usize = 3;
const LATENCY: Duration = Duration::from_millis(500);
const SIZE: usize = 4 * 1024;

/// The simulated network: `LATENCY` of waiting, then bytes that are checked.
fn network(id: u64) -> anyhow::Result<Vec<u8>> {
    let body = download_blocking(id, LATENCY, SIZE);
    anyhow::ensure!(verify_file(id, SIZE, &body), "file {id} is corrupt");
    Ok(body)
}

fn run() -> SectionResult {
    let (sequential, one_by_one) = timed(|| {
        (0..FILES)
            .map(|id| download_file(id, network))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let recording = Recording::start();
    let (pooled, pool_took) =
        timed(|| pool_map(WORKERS, 0..FILES, |id| download_file(id, network)));
    let downloads = recording.finish().named(&["download"]);
    let pooled = pooled?.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(pooled == sequential?, "the pool returned {pooled:?}");
    let most = downloads.most_at_once();
    anyhow::ensure!(
        most <= WORKERS,
        "{most} downloads at once on {WORKERS} workers"
    );
    println!("  results: {pooled:?}");
    let ideal = LATENCY * FILES.div_ceil(WORKERS as u64) as u32;
    let s = speedup(one_by_one, pool_took);
    figure(format!("{FILES} downloads one by one"), Secs(one_by_one));
    figure(
        format!("on {WORKERS} workers"),
        format!("{} (ideal {})", Secs(pool_took), Secs(ideal)),
    );
    figure(
        "speedup",
        format!("{s:.1}x; {most} at once (max_workers {WORKERS})"),
    );
    downloads.print(Lanes::Thread);
    TWIN.compare(
        &flags(&[
            ("--files", &FILES),
            ("--workers", &WORKERS),
            ("--latency", &LATENCY.as_secs_f64()),
        ]),
        &[
            Pair::secs(
                format!("{FILES} downloads one by one"),
                "one_by_one_s",
                one_by_one.as_secs_f64(),
            ),
            Pair::secs(
                format!("on {WORKERS} workers"),
                "pool_s",
                pool_took.as_secs_f64(),
            ),
            Pair::speedup("speedup", "speedup", s),
            Pair::count("most downloads at once", "most_at_once", most as f64),
        ],
    )?;
    takeaway_if(
        &Evidence::new(
            most == WORKERS && pool_took < ideal + LATENCY / 2,
            format!("{WORKERS} waits at once, in about {}", Secs(ideal)),
            format!("{most} at once, {}", Secs(pool_took)),
        ),
        "a few threads sharing a job channel are a ThreadPoolExecutor: waits overlap, results keep input order",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::gauge::Gauge;

    #[test]
    fn results_come_back_in_input_order_even_when_finished_out_of_order() {
        // Job 0 cannot finish before job 4 has: completion order differs from input order.
        let (last_tx, last_rx) = crossbeam_channel::bounded::<()>(1);
        let results = pool_map(2, 0..5u64, |i| {
            match i {
                0 => last_rx.recv().unwrap(),
                4 => last_tx.send(()).unwrap(),
                _ => {}
            }
            i * 10
        })
        .unwrap();
        assert_eq!(results, [0, 10, 20, 30, 40]);
    }

    #[test]
    fn never_more_than_max_workers_at_once() {
        let gauge = Gauge::new();
        let results = pool_map(3, 0..40, |i| {
            let _inside = gauge.enter();
            thread::yield_now();
            i
        })
        .unwrap();
        assert_eq!(results, (0..40).collect::<Vec<_>>());
        assert!((1..=3).contains(&gauge.max()), "{}", gauge.max());
    }

    #[test]
    fn an_empty_input_is_an_empty_result() {
        assert!(pool_map(3, Vec::<u8>::new(), |x| x).unwrap().is_empty());
    }

    #[test]
    fn a_panicking_job_panics_in_the_caller_after_the_others_finish() {
        let finished = std::sync::atomic::AtomicUsize::new(0);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool_map(2, 0..6, |i| {
                if i == 3 {
                    panic!("job 3 fails (the test expects this)");
                }
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        }));
        assert!(outcome.is_err(), "the panic reached the caller");
        // Job 3's worker stopped; the other worker drained the rest of the queue.
        assert_eq!(finished.into_inner(), 5);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let figures = TWIN.run_for_test(&["--files", "5", "--workers", "3", "--latency", "0.01"]);
        if let Some(figures) = figures {
            let most = figures["most_at_once"].as_u64().unwrap();
            assert!((1..=3).contains(&most), "{most}");
        }
    }

    #[test]
    fn downloads_are_checked_and_named() {
        let fetch = |id| {
            let body = download_blocking(id, Duration::ZERO, 64);
            anyhow::ensure!(verify_file(id, 64, &body));
            Ok(body)
        };
        let names = pool_map(2, 0..3, |id| download_file(id, fetch)).unwrap();
        let names: Vec<String> = names.into_iter().collect::<anyhow::Result<_>>().unwrap();
        assert_eq!(names, ["file_0.dat", "file_1.dat", "file_2.dat"]);
        let broken = download_file(7, |_| anyhow::bail!("connection reset"));
        assert!(broken.is_err());
    }
}
