//! File I/O in asyncio ("file operations still block"; `aiofiles` uses a thread pool) ->
//! `tokio::fs` (runs on tokio's blocking pool) against `std::fs` inside `spawn_blocking`.
//!
//! Python:
//!     async def load(paths):
//!         for p in paths:
//!             data = open(p, "rb").read()                    # blocks the loop
//!         async with aiofiles.open(p, "rb") as f:            # a thread does the read
//!             data = await f.read()
//!         return await asyncio.to_thread(read_all, paths)    # one hop for the whole batch
//!
//! Rust: the same three choices. Operating systems offer no portable non-blocking file
//! reads, so `tokio::fs::read(path)` is `spawn_blocking(move || std::fs::read(path))`: the
//! loop stays free, but every call pays a hop to a blocking-pool thread and back. Many small
//! operations are faster as one `spawn_blocking` closure that does them all with `std::fs`.
//! Plain `std::fs` inside async code blocks the loop, as `open()` does, for as long as the
//! disk takes. A file in the page cache reads in microseconds, too short to notice; a slow
//! disk (a network filesystem, a busy or sleeping drive) takes milliseconds a read. The
//! lesson functions take the read as a parameter (`std::fs::read` in your code); the demo
//! passes one that waits 3 ms first, a simulated slow disk.
//!
//! Watch: with the slow disk, the heartbeat (a task that wants to tick every 1 ms) is late
//! by the whole batch with `std::fs` on the loop, at least 10x later than with either
//! offloaded version, which stay near its lateness with nothing running (the baseline).
//! The same files from the page cache take a few ms either way, and `tokio::fs::read`'s hop
//! a file makes it the slowest there.
//!
//! Run only this: cargo run -p asyncio-demo -- file-io

use std::path::{Path, PathBuf};

/// A way to read a whole file: `std::fs::read` in real code.
pub type Read = fn(&Path) -> std::io::Result<Vec<u8>>;

/// Wrong: a blocking read straight from async code. The loop waits for every read.
pub async fn read_on_the_loop(paths: &[PathBuf], read: Read) -> std::io::Result<Vec<Vec<u8>>> {
    paths.iter().map(|path| read(path)).collect()
}

/// `aiofiles`: each read is one trip to the blocking pool and back, as `tokio::fs` does.
pub async fn read_one_hop_each(paths: &[PathBuf], read: Read) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    for path in paths {
        let path = path.clone();
        files.push(tokio::task::spawn_blocking(move || read(&path)).await??);
    }
    Ok(files)
}

/// The same with `tokio::fs::read` itself (its `read` is `std::fs::read`).
pub async fn read_with_tokio_fs(paths: &[PathBuf]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    for path in paths {
        files.push(tokio::fs::read(path).await?);
    }
    Ok(files)
}

/// `asyncio.to_thread(read_all)`: one trip for the whole batch.
pub async fn read_in_spawn_blocking(
    paths: Vec<PathBuf>,
    read: Read,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let read_all = move || {
        paths
            .iter()
            .map(|p| read(p))
            .collect::<std::io::Result<Vec<_>>>()
    };
    Ok(tokio::task::spawn_blocking(read_all).await??)
}

// --- run and measure ---

use std::time::Duration;

use anyhow::Context;
use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording, now_us};
use common::timing::{Heartbeat, Secs, timed_async};
use common::workload::{file_bytes, verify_file};

pub const SECTION: Section = Section::new(
    "file-io",
    "aiofiles / asyncio.to_thread(open(...).read)",
    "file reads still block: std::fs on the loop, a blocking-pool hop a file (tokio::fs), one spawn_blocking",
    run,
);

const FILES: u64 = 100;
const SIZE: usize = 16 * 1024;
const TICK: Duration = Duration::from_millis(1);
/// How long the simulated slow disk takes before each read.
const SEEK: Duration = Duration::from_millis(3);
/// The blocked heartbeat must be at least this many times later than the offloaded ones.
const MIN_RATIO: u32 = 10;

/// A slow disk: every read waits `SEEK` first (as a network filesystem or a busy drive
/// would), inside a `read` span so the demo sees which thread did it.
fn slow_read(path: &Path) -> std::io::Result<Vec<u8>> {
    let _span = tracing::info_span!("read").entered();
    std::thread::sleep(SEEK);
    std::fs::read(path)
}

/// The page cache: a plain read, in a `read` span.
fn cached_read(path: &Path) -> std::io::Result<Vec<u8>> {
    let _span = tracing::info_span!("read").entered();
    std::fs::read(path)
}

/// A folder of test files, removed when dropped (`Drop` instead of `with TemporaryDirectory()`).
struct Folder(PathBuf);

impl Folder {
    /// A new folder of `files` test files in the temporary folder (`TMPDIR`).
    fn create(files: u64, size: usize) -> anyhow::Result<Folder> {
        Folder::create_in(&std::env::temp_dir(), files, size)
    }

    /// Creates only its own folder, inside `parent`: a missing `parent` is an error (one
    /// line), never created.
    fn create_in(parent: &Path, files: u64, size: usize) -> anyhow::Result<Folder> {
        let dir = parent.join(format!(
            "asyncio-demo-file-io-{}-{}",
            std::process::id(),
            now_us()
        ));
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "the temporary folder {} does not exist (set TMPDIR to an existing folder)",
                parent.display()
            ),
            created => created.with_context(|| format!("creating {}", dir.display()))?,
        }
        let folder = Folder(dir);
        for id in 0..files {
            std::fs::write(folder.file(id), file_bytes(id, size))?;
        }
        Ok(folder)
    }

    fn file(&self, id: u64) -> PathBuf {
        self.0.join(format!("{id}.bin"))
    }

    fn paths(&self, files: u64) -> Vec<PathBuf> {
        (0..files).map(|id| self.file(id)).collect()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file came back whole, in order.
fn check(files: &[Vec<u8>], size: usize) -> anyhow::Result<()> {
    for (id, data) in files.iter().enumerate() {
        anyhow::ensure!(
            verify_file(id as u64, size, data),
            "file {id} read back wrong"
        );
    }
    Ok(())
}

/// A current-thread runtime (one loop thread, as in asyncio) whose blocking pool's threads
/// are named as such.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("tokio-blocking")
        .build()
        .context("building the runtime")
}

/// What one way of reading did: its time, the heartbeat's worst lateness, its `read` spans.
struct Case {
    took: Duration,
    late: Duration,
    reads: Recorded,
}

impl Case {
    /// Where the reads ran: the one thread's name, or how many threads.
    fn threads(&self) -> String {
        match self.reads.lane_count(Lanes::ThreadId) {
            1 => self.reads.spans()[0].thread_id.clone(),
            n => format!("{n} blocking-pool threads"),
        }
    }
}

async fn with_heartbeat<E>(
    fut: impl Future<Output = Result<Vec<Vec<u8>>, E>>,
) -> anyhow::Result<Case>
where
    anyhow::Error: From<E>,
{
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(TICK * 3).await;
    let recording = Recording::start();
    let (files, took) = timed_async(fut).await;
    let reads = recording.finish().named(&["read"]);
    tokio::time::sleep(TICK * 3).await;
    check(&files?, SIZE)?;
    Ok(Case {
        took,
        late: heartbeat.worst_lateness(),
        reads,
    })
}

fn run() -> SectionResult {
    let folder = Folder::create(FILES, SIZE)?;
    let paths = folder.paths(FILES);
    println!(
        "  {FILES} files of {} KiB in {}, on a simulated slow disk ({} before each read)",
        SIZE / 1024,
        std::env::temp_dir().display(),
        Secs(SEEK)
    );
    runtime()?.block_on(async {
        let heartbeat = Heartbeat::start(TICK);
        tokio::time::sleep(TICK * 50).await;
        let baseline = heartbeat.worst_lateness();
        drop(heartbeat);
        figure("heartbeat, nothing running", format!("{} late", Secs(baseline)));

        let on_loop = with_heartbeat(read_on_the_loop(&paths, slow_read)).await?;
        let hops = with_heartbeat(read_one_hop_each(&paths, slow_read)).await?;
        let batch = with_heartbeat(read_in_spawn_blocking(paths.clone(), slow_read)).await?;
        for (name, case) in [
            ("std::fs on the loop", &on_loop),
            ("a hop a file, as tokio::fs", &hops),
            ("one spawn_blocking", &batch),
        ] {
            figure(
                name,
                format!(
                    "{}, heartbeat {} late, reads on {}",
                    Secs(case.took),
                    Secs(case.late),
                    case.threads()
                ),
            );
        }
        anyhow::ensure!(
            on_loop.reads.lane_count(Lanes::ThreadId) == 1,
            "std::fs on the loop should stay on the loop's thread"
        );

        println!("  the same files from the page cache (no slow disk):");
        let cached = with_heartbeat(read_on_the_loop(&paths, cached_read)).await?;
        let tokio_fs = with_heartbeat(read_with_tokio_fs(&paths)).await?;
        figure(
            "  std::fs on the loop",
            format!("{}, heartbeat {} late", Secs(cached.took), Secs(cached.late)),
        );
        figure(
            "  tokio::fs::read",
            format!(
                "{}, heartbeat {} late",
                Secs(tokio_fs.took),
                Secs(tokio_fs.late)
            ),
        );

        let offloaded = hops.late.max(batch.late).max(TICK);
        takeaway_if(
            &Evidence::new(
                on_loop.late >= offloaded * MIN_RATIO,
                format!(
                    "std::fs on the loop late by at least {MIN_RATIO}x the offloaded versions"
                ),
                format!(
                    "{} against {} and {} (baseline {})",
                    Secs(on_loop.late),
                    Secs(hops.late),
                    Secs(batch.late),
                    Secs(baseline)
                ),
            ),
            "file I/O blocks in Rust too: tokio::fs hands each call to a thread; batch many small ones in one spawn_blocking",
        );
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ways_read_the_right_bytes_on_the_threads_they_promise() {
        let folder = Folder::create(5, 1000).unwrap();
        let dir = folder.0.clone();
        let paths = folder.paths(5);
        runtime().unwrap().block_on(async {
            // A local recording sees only this thread's spans: the loop's.
            let recording = Recording::local();
            check(&read_on_the_loop(&paths, cached_read).await.unwrap(), 1000).unwrap();
            let reads = recording.finish().named(&["read"]);
            assert_eq!(reads.len(), 5, "std::fs ran on the loop's own thread");
            check(&read_with_tokio_fs(&paths).await.unwrap(), 1000).unwrap();
            check(&read_one_hop_each(&paths, cached_read).await.unwrap(), 1000).unwrap();
            let recording = Recording::start();
            let files = read_in_spawn_blocking(paths.clone(), cached_read)
                .await
                .unwrap();
            check(&files, 1000).unwrap();
            let reads = recording.finish().named(&["read"]);
            assert!(
                reads
                    .spans()
                    .iter()
                    .any(|s| s.thread.starts_with("tokio-blocking")),
                "spawn_blocking ran on a blocking-pool thread"
            );
            assert!(check(&files, 999).is_err(), "a size mismatch is caught");
        });
        drop(folder);
        assert!(!dir.exists(), "the folder is removed on drop");
    }

    #[test]
    fn a_missing_temporary_folder_is_reported_not_created() {
        let missing = std::env::temp_dir().join(format!("no-such-dir-{}", std::process::id()));
        let parent = missing.join("tmp");
        let error = Folder::create_in(&parent, 1, 10).err().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "the temporary folder {} does not exist (set TMPDIR to an existing folder)",
                parent.display()
            )
        );
        assert!(!missing.exists(), "nothing was created");
    }
}
