//! The guide's `Pool(cpu_count()).map(heavy_computation, [50000] * 4)`: factorials with
//! exact big integers (`num_bigint::BigUint`), computed in worker processes and sent back.
//!
//! Python:
//!     def heavy_computation(num):
//!         result = 1
//!         for i in range(1, num + 1):
//!             result *= i
//!         return result
//!
//!     if __name__ == "__main__":
//!         with multiprocessing.Pool(processes=multiprocessing.cpu_count()) as pool:
//!             results = pool.map(heavy_computation, [50000, 50000, 50000, 50000])
//!         sys.set_int_max_str_digits(0)        # Python 3.11+: str() refuses over 4,300 digits
//!         print(len(str(results[0])))          # 213237 digits
//!
//! Python's `int` grows without limit; Rust's integers have a fixed width (`u64` holds up
//! to 20!, `u128` up to 34!). `num_bigint::BigUint` is the arbitrary-size integer, and the
//! guide's loop reads the same: `result *= i`. 50000! has 213,237 decimal digits, 708,357
//! bits.
//!
//! Each result has to come back from its worker process: Python pickles the int, here the
//! worker sends its bytes (`to_bytes_le`, 86 KiB) over an ipc-channel and the parent
//! rebuilds it (`from_bytes_le`). The worker says how long it computed and when it sent,
//! so the parent can see what the trip cost beside the work. Part of the trip is serde
//! walking the `Vec<u8>` a byte at a time (a few milliseconds in a dev build);
//! `serialization-cost` shows the ways around that (flat bytes, shared memory).
//!
//! The pool is `pool-map`'s, made small: a task inbox per worker, one result channel back,
//! the next input to whichever worker answers, results put back by index; a worker that
//! dies is an error naming its exit status.
//!
//! Watch: the four jobs spread over the workers' pids, with equal results; sending a
//! result back costs a tiny fraction of computing it. (`main` computes 20000!, 77,338
//! digits; the demo runs the guide's 50000! and checks every result: digit count,
//! trailing zeros, known values past `u64`, one timeline lane per pid.)
//!
//! Run only this: cargo run -p multiprocessing-demo -- factorial
//! Copy it: cargo add anyhow@1 ipc-channel@0.23 num-bigint@0.5 tracing@0.1 && cargo add serde@1 --features derive
//! Copy beside it: handshake.rs

#[path = "handshake.rs"]
mod handshake;

use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use handshake::PATIENCE;
use ipc_channel::TryRecvError;
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

/// The guide's `heavy_computation(num)`.
pub fn factorial(num: u64) -> BigUint {
    let mut result = BigUint::from(1u32);
    for i in 1..=num {
        result *= i;
    }
    result
}

/// Parent -> worker.
#[derive(Serialize, Deserialize)]
pub enum Task {
    Hello { results: IpcSender<Done> },
    Compute { index: usize, num: u64 },
    Stop,
}

/// Worker -> parent: one result, as bytes, with what it cost the worker.
#[derive(Serialize, Deserialize)]
pub struct Done {
    pub pid: u32,
    pub index: usize,
    /// The factorial, `to_bytes_le()`: what crosses between the processes.
    pub bytes: Vec<u8>,
    pub compute: Duration,
    /// Turning the number into bytes.
    pub encode: Duration,
    /// When the worker sent it (comparable between processes on one machine).
    pub sent_at: SystemTime,
}

/// The worker's side, in the child process: answer each `Compute` until `Stop`.
pub fn worker(inbox: IpcReceiver<Task>) -> anyhow::Result<()> {
    let Task::Hello { results } = handshake::recv(&inbox).context("waiting for Hello")? else {
        bail!("expected Hello first");
    };
    while let Ok(Task::Compute { index, num }) = inbox.recv() {
        let started = Instant::now();
        let value = factorial(num);
        let computed = Instant::now();
        let bytes = value.to_bytes_le(); // Python: pickle.dumps(result)
        let done = Done {
            pid: std::process::id(),
            index,
            bytes,
            compute: computed - started,
            encode: computed.elapsed(),
            sent_at: SystemTime::now(),
        };
        if results.send(done).is_err() {
            break; // the pool is gone: nobody to answer
        }
    }
    Ok(()) // Stop, or the pool hung up
}

/// One result as the parent got it: the number and what its trip cost.
pub struct Trip {
    pub pid: u32,
    pub value: BigUint,
    pub bytes: usize,
    pub compute: Duration,
    pub encode: Duration,
    /// From the worker's send to the parent's receive.
    pub travel: Duration,
    /// Rebuilding the number from the bytes.
    pub decode: Duration,
}

/// `multiprocessing.Pool(processes=n)`; dropping it stops the workers (`with` ends).
pub struct Pool {
    workers: Vec<(Child, IpcSender<Task>)>,
    results: IpcReceiver<Done>,
}

impl Pool {
    /// `start` starts one worker process and returns it with the sending end of its inbox.
    pub fn new(
        size: usize,
        mut start: impl FnMut() -> anyhow::Result<(Child, IpcSender<Task>)>,
    ) -> anyhow::Result<Pool> {
        let (results_tx, results) = ipc::channel()?;
        let mut pool = Pool {
            workers: Vec::new(),
            results,
        };
        for _ in 0..size.max(1) {
            let (child, inbox) = start()?;
            inbox.send(Task::Hello {
                results: results_tx.clone(),
            })?;
            pool.workers.push((child, inbox));
        }
        Ok(pool)
    }

    /// `pool.map(heavy_computation, nums)`: the results in input order.
    pub fn map(&mut self, nums: &[u64]) -> anyhow::Result<Vec<Trip>> {
        let mut next = 0; // the next input to hand out
        let mut slots: Vec<Option<Trip>> = (0..nums.len()).map(|_| None).collect();
        let mut open = Vec::new(); // one span per job in flight: its bar in a timeline
        for worker in 0..self.workers.len() {
            if next < nums.len() {
                open.push(self.send(worker, next, nums[next])?);
                next += 1;
            }
        }
        for _ in 0..nums.len() {
            let done = self.next_result()?;
            let received = SystemTime::now();
            open.retain(|(index, _)| *index != done.index); // closes its span
            let decoding = Instant::now();
            let value = BigUint::from_bytes_le(&done.bytes); // pickle.loads
            let trip = Trip {
                pid: done.pid,
                value,
                bytes: done.bytes.len(),
                compute: done.compute,
                encode: done.encode,
                travel: received.duration_since(done.sent_at).unwrap_or_default(),
                decode: decoding.elapsed(),
            };
            slots[done.index] = Some(trip);
            // The worker that answered is free: give it the next input.
            if next < nums.len() {
                let worker = self
                    .workers
                    .iter()
                    .position(|(child, _)| child.id() == done.pid)
                    .context("a result from an unknown worker")?;
                open.push(self.send(worker, next, nums[next])?);
                next += 1;
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| slot.with_context(|| format!("no result for input {i}")))
            .collect()
    }

    /// Hand input `index` to a worker; the span stays open until its result is back.
    fn send(
        &mut self,
        worker: usize,
        index: usize,
        num: u64,
    ) -> anyhow::Result<(usize, tracing::Span)> {
        let (child, inbox) = &self.workers[worker];
        let span = tracing::info_span!("job", worker = child.id(), num);
        match inbox.send(Task::Compute { index, num }) {
            Ok(()) => Ok((index, span)),
            Err(e) => Err(self.dead_worker().unwrap_or_else(|| e.into())),
        }
    }

    /// The next result; an error when a worker has died or none came for `PATIENCE`.
    fn next_result(&mut self) -> anyhow::Result<Done> {
        let waiting = Instant::now();
        loop {
            match self.results.try_recv_timeout(Duration::from_millis(50)) {
                Ok(done) => return Ok(done),
                Err(TryRecvError::Empty) => {}
                // Every worker's end is gone.
                Err(e) => return Err(self.dead_worker().unwrap_or_else(|| e.into())),
            }
            if let Some(status) = self.exited()? {
                return Err(status);
            }
            if waiting.elapsed() > PATIENCE {
                bail!("no result for {PATIENCE:?}: a worker is stuck");
            }
        }
    }

    /// A worker that has exited, said in one line.
    fn exited(&mut self) -> anyhow::Result<Option<anyhow::Error>> {
        for (child, _) in &mut self.workers {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(anyhow::anyhow!(
                    "worker pid {} died: {status}",
                    child.id()
                )));
            }
        }
        Ok(None)
    }

    /// After a channel error: the worker that died, if one did. Its channel closes a
    /// moment before its exit status is ready, so this looks for 200 ms.
    fn dead_worker(&mut self) -> Option<anyhow::Error> {
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            if let Ok(Some(died)) = self.exited() {
                return Some(died);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

impl Drop for Pool {
    /// Ask every worker to stop, then join each (bounded: one that does not exit is killed).
    fn drop(&mut self) {
        for (_, inbox) in &self.workers {
            let _ = inbox.send(Task::Stop);
        }
        for (child, _) in &mut self.workers {
            let _ = handshake::join(child);
        }
    }
}

/// The twin of `if __name__ == "__main__":`: a child (`--role factorial-worker SERVER`)
/// computes what it is sent; the parent maps four inputs over the pool. 20000, not the
/// guide's 50000: a copy builds num-bigint unoptimised, where 50000! takes a second.
fn main() -> anyhow::Result<()> {
    if let Some((_, server)) = handshake::role() {
        return worker(handshake::connect(&server)?); // the only role here
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = || handshake::start(handshake::this_program("factorial-worker")?);
    let trips = Pool::new(cpus, start)?.map(&[20_000; 4])?;
    let pids: Vec<u32> = trips.iter().map(|t| t.pid).collect();
    println!("Pool({cpus}).map(heavy_computation, [20000] * 4): computed in pids {pids:?}");
    let digits = trips[0].value.to_string().len(); // len(str(results[0]))
    let same = trips.iter().all(|t| t.value == trips[0].value);
    println!("factorial(20000) has {digits} digits; all four equal: {same}");
    let (one, trip) = (
        &trips[0],
        trips[0].encode + trips[0].travel + trips[0].decode,
    );
    println!(
        "sending one back ({} bytes) took {trip:.2?}; computing it {:.2?}",
        one.bytes, one.compute
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Recorded, Recording};
use common::timing::{Secs, speedup, timed};

use crate::child;
use crate::pool_map::pool_timeline;

pub const SECTION: Section = Section::new(
    "factorial",
    "Pool(cpu_count()).map(heavy_computation, [50000] * 4)",
    "exact big-integer factorials in worker processes; what sending them back costs",
    run,
)
.main(|| main().report())
.cpu_bound();

/// `--role factorial-worker SERVER`: `main`'s child branch.
pub fn worker_role(args: &[String]) -> anyhow::Result<()> {
    child::serve(args, |server| worker(handshake::connect(server)?))
}

/// A pool of `size` `--role factorial-worker` children.
fn pool(size: usize) -> anyhow::Result<Pool> {
    Pool::new(size, || {
        handshake::start(child::command("factorial-worker")?)
    })
}

/// The guide's input, and what its factorial must look like.
const NUM: u64 = 50_000;
const JOBS: usize = 4;
/// Decimal digits of factorial(50000) (Python: `len(str(n))`, after
/// `sys.set_int_max_str_digits(0)` from 3.11 on).
const DIGITS: usize = 213_237;
/// Its trailing zeros: one per factor 5 (50000/5 + 50000/25 + ... = 12,499).
const ZEROS: usize = 12_499;
/// Known values, two of them past `u64::MAX` (about 1.8e19).
const KNOWN: [(u64, &str); 5] = [
    (0, "1"),
    (5, "120"),
    (20, "2432902008176640000"),
    (21, "51090942171709440000"),
    (25, "15511210043330985984000000"),
];

/// Checks a factorial(50000) by its decimal form.
fn check_50000(value: &BigUint) -> anyhow::Result<()> {
    let text = value.to_string();
    let zeros = text.len() - text.trim_end_matches('0').len();
    anyhow::ensure!(
        text.len() == DIGITS && zeros == ZEROS,
        "factorial({NUM}): {} digits and {zeros} trailing zeros, not {DIGITS} and {ZEROS}",
        text.len()
    );
    Ok(())
}

/// One run: the parent's own factorial (the reference, and one job's time), the pool's
/// start, and the map of `JOBS` jobs with its spans.
struct Figures {
    cpus: usize,
    bits: u64,
    one: Duration,
    started: Duration,
    took: Duration,
    trips: Vec<Trip>,
    jobs: Recorded,
}

fn measure() -> anyhow::Result<Figures> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (want, one) = timed(|| factorial(NUM));
    check_50000(&want)?;
    let (pool, started) = timed(|| pool(cpus));
    let mut pool = pool?;
    let known = pool.map(&KNOWN.map(|(n, _)| n))?;
    for ((n, text), trip) in KNOWN.iter().zip(&known) {
        anyhow::ensure!(trip.value.to_string() == *text, "factorial({n}) is wrong");
    }
    let recording = Recording::start();
    let (trips, took) = timed(|| pool.map(&[NUM; JOBS]));
    let jobs = recording.finish().named(&["job"]);
    let trips = trips?;
    anyhow::ensure!(
        trips.iter().all(|t| t.value == want),
        "a worker's factorial({NUM}) differs"
    );
    let bits = want.bits();
    Ok(Figures {
        cpus,
        bits,
        one,
        started,
        took,
        trips,
        jobs,
    })
}

fn run() -> SectionResult {
    let f = measure()?;
    let mut pids: Vec<u32> = f.trips.iter().map(|t| t.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    let cpus = f.cpus;
    println!(
        "  Pool({cpus}).map over [{NUM}] * {JOBS}: computed in pids {pids:?}; the parent (pid {}) computed one itself, to check them",
        std::process::id()
    );
    println!(
        "  factorial({NUM}): {DIGITS} digits, {ZEROS} trailing zeros, {} bits: all {JOBS} equal; factorial(25) = {} (past u64)",
        f.bits, KNOWN[4].1
    );
    pool_timeline(&f.jobs).print();
    figure("start the pool", Secs(f.started));
    figure("one job, in the parent", Secs(f.one));
    figure(format!("map of {JOBS} jobs"), Secs(f.took));
    let sp = speedup(f.one * JOBS as u32, f.took);
    figure("speedup over one by one", format!("{sp:.2}x"));
    let (bytes, share) = report_trip(&f.trips);
    let cheap = Evidence::new(
        share < 0.05,
        "sending a result back under 5% of computing it",
        format!("{:.2}%", 100.0 * share),
    );
    takeaway_if(
        &Evidence::scaling(sp, cpus.min(JOBS)).and(cheap),
        format!(
            "BigUint makes the guide's loop exact; {cpus} processes took the {JOBS} jobs {sp:.1}x faster, \
             and {bytes} bytes back cost {:.2}% of the work: big results are cheap beside big computations",
            100.0 * share
        ),
    );
    Ok(())
}

/// What sending one result back cost, averaged and printed: its size, and the trip's
/// share of the work.
fn report_trip(trips: &[Trip]) -> (usize, f64) {
    let n = trips.len() as u32;
    let avg = |f: fn(&Trip) -> Duration| trips.iter().map(f).sum::<Duration>() / n;
    let (compute, encode, travel, decode) = (
        avg(|t| t.compute),
        avg(|t| t.encode),
        avg(|t| t.travel),
        avg(|t| t.decode),
    );
    let bytes = trips[0].bytes;
    println!("  sending one result back (average of {n}):");
    figure(
        "  size",
        format!("{bytes} bytes ({:.1} KiB)", bytes as f64 / 1024.0),
    );
    figure("  compute, in the worker", Secs(compute));
    figure("  to bytes, in the worker", Secs(encode));
    figure("  through the channel", Secs(travel));
    figure("  from bytes, in the parent", Secs(decode));
    let share = (encode + travel + decode).as_secs_f64() / compute.as_secs_f64();
    figure(
        "  the trip against the work",
        format!("{:.2}%", 100.0 * share),
    );
    (bytes, share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factorials_are_exact() {
        for (n, text) in KNOWN {
            assert_eq!(factorial(n).to_string(), text);
        }
        // 21! no longer fits a u64; 20! does.
        assert!(u64::try_from(factorial(20)).is_ok());
        assert!(u64::try_from(factorial(21)).is_err());
        // n! = n * (n-1)!
        assert_eq!(factorial(300), factorial(299) * 300u32);
    }

    #[test]
    fn the_digit_and_zero_counts_of_50000_factorial() {
        check_50000(&factorial(NUM)).unwrap();
        // Legendre's formula for the trailing zeros.
        let zeros: u64 = (1..)
            .map(|k| NUM / 5u64.pow(k))
            .take_while(|&z| z > 0)
            .sum();
        assert_eq!(zeros, ZEROS as u64);
        assert!(check_50000(&factorial(1000)).is_err());
    }

    #[test]
    fn the_pool_returns_exact_results_in_input_order_from_other_processes() {
        let mut pool = pool(2).unwrap();
        let nums = [300, 0, 25, 5, 1000, 21];
        let recording = Recording::local();
        let trips = pool.map(&nums).unwrap();
        let jobs = recording.finish().named(&["job"]);
        assert_eq!(trips.len(), nums.len());
        for (n, trip) in nums.iter().zip(&trips) {
            assert_eq!(trip.value, factorial(*n), "factorial({n})");
            assert_eq!(trip.bytes, trip.value.to_bytes_le().len());
            assert_ne!(trip.pid, std::process::id());
        }
        let mut pids: Vec<u32> = trips.iter().map(|t| t.pid).collect();
        pids.sort();
        pids.dedup();
        assert!(pids.len() <= 2, "two workers: {pids:?}");
        assert_eq!(jobs.len(), nums.len(), "one span per job");
        assert!(
            jobs.most_at_once() <= 2,
            "two workers, two jobs at once at most"
        );
        // The same pool serves a second map.
        assert_eq!(pool.map(&[4]).unwrap()[0].value, BigUint::from(24u32));
    }

    #[test]
    fn a_worker_that_dies_is_an_error_not_a_hang() {
        let mut pool = pool(1).unwrap();
        let (child, _) = &mut pool.workers[0];
        child.kill().unwrap();
        let err = pool.map(&[10]).err().expect("no worker left").to_string();
        assert!(err.contains("died") && err.contains("signal: 9"), "{err}");
    }
}
