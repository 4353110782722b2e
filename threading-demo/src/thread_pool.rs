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
//! function instead of needing it `'static`. (For CPU-bound work use rayon's pool; for
//! many waits, async tasks: see the asyncio and futures demos.) Threads waiting on I/O
//! take no CPU, so the GIL or its absence changes nothing here.
//!
//! Watch: 3 downloads start together, 2 more when the first finish: two batches of 0.5 s,
//! about 1.0 s in all against 2.5 s one after another; results in input order.
//!
//! Run only this: cargo run -p threading-demo -- thread-pool

use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::{Timeline, thread_lane};
use common::timing::{Secs, speedup, timed};
use common::workload::{download_blocking, verify_file};
use crossbeam_channel::unbounded;

const FILES: u64 = 5;
const WORKERS: usize = 3;
const LATENCY: Duration = Duration::from_millis(500);
const SIZE: usize = 4 * 1024;

/// `executor.map(f, inputs)` on `workers` threads: results in input order.
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
    let mut count = 0;
    for job in inputs.into_iter().enumerate() {
        jobs_tx
            .send(job)
            .map_err(|_| anyhow!("the job queue is closed"))?;
        count += 1;
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
    })
    .map_err(|e| anyhow!("a pool worker failed: {e:#}"))?;
    drop(results_tx);
    // Put each result at its input's place.
    let mut slots: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for (index, result) in results_rx {
        slots[index] = Some(result);
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| anyhow!("job {i} produced no result (its worker panicked?)")))
        .collect()
}

/// The guide's `download_file`: wait like the network, check the bytes, return a name.
fn download_file(id: u64, timeline: &Timeline) -> anyhow::Result<String> {
    let body = timeline.record(thread_lane(), format!("file {id}"), || {
        download_blocking(id, LATENCY, SIZE)
    });
    anyhow::ensure!(verify_file(id, SIZE, &body), "file {id} is corrupt");
    Ok(format!("file_{id}.dat"))
}

pub fn run() -> SectionResult {
    let quiet = Timeline::new();
    let (sequential, one_by_one) = timed(|| {
        (0..FILES)
            .map(|id| download_file(id, &quiet))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let sequential = sequential?;

    let timeline = Timeline::new();
    let (pooled, pool_took) =
        timed(|| pool_map(WORKERS, 0..FILES, |id| download_file(id, &timeline)));
    let pooled = pooled?.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(pooled == sequential, "the pool returned {pooled:?}");
    println!("  results: {pooled:?}");

    let batches = FILES.div_ceil(WORKERS as u64) as u32;
    let ideal = LATENCY * batches;
    let off = (pool_took.as_secs_f64() / ideal.as_secs_f64() - 1.0) * 100.0;
    figure(format!("{FILES} downloads one by one"), Secs(one_by_one));
    figure(
        format!("on {WORKERS} workers"),
        format!("{} (ideal {}, {off:+.1}%)", Secs(pool_took), Secs(ideal)),
    );
    figure("speedup", format!("{:.1}x", speedup(one_by_one, pool_took)));
    timeline.print();
    takeaway(
        "a few threads sharing a job channel are a ThreadPoolExecutor: waits overlap, results keep input order",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let results = pool_map(3, 0..40, |i| {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            thread::yield_now();
            inside.fetch_sub(1, Ordering::SeqCst);
            i
        })
        .unwrap();
        assert_eq!(results, (0..40).collect::<Vec<_>>());
        assert!(most.into_inner() <= 3);
    }

    #[test]
    fn an_empty_input_is_an_empty_result() {
        assert!(pool_map(3, Vec::<u8>::new(), |x| x).unwrap().is_empty());
    }

    #[test]
    fn downloads_are_checked_and_named() {
        let timeline = Timeline::new();
        let names = pool_map(2, 0..3, |id| {
            let body = download_blocking(id, Duration::ZERO, 64);
            anyhow::ensure!(verify_file(id, 64, &body));
            timeline.record(thread_lane(), "x", || ());
            Ok(format!("file_{id}.dat"))
        })
        .unwrap();
        let names: Vec<String> = names.into_iter().collect::<anyhow::Result<_>>().unwrap();
        assert_eq!(names, ["file_0.dat", "file_1.dat", "file_2.dat"]);
    }
}
