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
//! lesson functions take the read as a parameter (`std::fs::read` in your code); `main`
//! and the demo pass [`simulated_slow_disk`], which sleeps 3 ms before each read: a
//! simulation, not your disk.
//!
//! Watch: with the simulated slow disk, a ticker task that wants to tick every 1 ms gets in
//! about no tick while `std::fs` reads on the loop, and hundreds while either offloaded
//! version reads. The same files from the page cache take a few ms either way, and
//! `tokio::fs::read`'s hop a file makes it the slowest there.
//!
//! Run only this: cargo run -p asyncio-demo -- file-io
//! Copy it: cargo add anyhow@1 tracing@0.1 && cargo add tokio@1 --features full

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// A SIMULATED slow disk: every read sleeps 3 ms first (as a network filesystem or a busy
/// drive might take), inside a `read` span.
pub fn simulated_slow_disk(path: &Path) -> std::io::Result<Vec<u8>> {
    let _span = tracing::info_span!("read").entered();
    std::thread::sleep(Duration::from_millis(3));
    std::fs::read(path)
}

/// The page cache: a plain read, in a `read` span.
pub fn cached_read(path: &Path) -> std::io::Result<Vec<u8>> {
    let _span = tracing::info_span!("read").entered();
    std::fs::read(path)
}

/// Runs `work` beside a task that wants to tick every millisecond on the same loop: its
/// output, and how many ticks got in meanwhile.
pub async fn with_ticker<T>(work: impl Future<Output = T>) -> (T, u64) {
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    tokio::task::yield_now().await; // the ticker is running
    let out = work.await;
    ticker.abort();
    (out, ticks.load(Ordering::Relaxed))
}

/// The bytes of test file `id`.
pub fn contents(id: u64, size: usize) -> Vec<u8> {
    (0..size).map(|k| (id as usize * 31 + k) as u8).collect()
}

/// A folder of test files, removed when dropped (`Drop` instead of `with TemporaryDirectory()`).
pub struct Folder(PathBuf);

impl Folder {
    /// A new folder of `files` files of `size` bytes inside `parent` (which must exist).
    pub fn create_in(parent: &Path, files: u64, size: usize) -> std::io::Result<Folder> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let name = format!(
            "file-io-{}-{}",
            std::process::id(),
            now.map_or(0, |d| d.as_nanos())
        );
        let folder = Folder(parent.join(name));
        std::fs::create_dir(&folder.0)?;
        for id in 0..files {
            std::fs::write(folder.file(id), contents(id, size))?;
        }
        Ok(folder)
    }

    pub fn file(&self, id: u64) -> PathBuf {
        self.0.join(format!("{id}.bin"))
    }

    pub fn paths(&self, files: u64) -> Vec<PathBuf> {
        (0..files).map(|id| self.file(id)).collect()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The twin of `if __name__ == "__main__":` 100 files of 16 KiB, on the simulated slow
/// disk, each way, on one loop thread as in asyncio.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let folder = Folder::create_in(&std::env::temp_dir(), 100, 16 * 1024)?;
    let paths = folder.paths(100);
    println!("100 files on a SIMULATED slow disk (a 3 ms sleep before each read):");
    let start = tokio::time::Instant::now();
    let (files, ticks) = with_ticker(read_on_the_loop(&paths, simulated_slow_disk)).await;
    println!(
        "  std::fs on the loop: {} files in {:.0?}, {ticks} ticks got in",
        files?.len(),
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let (files, ticks) = with_ticker(read_one_hop_each(&paths, simulated_slow_disk)).await;
    println!(
        "  a hop a file: {} files in {:.0?}, {ticks} ticks got in",
        files?.len(),
        start.elapsed()
    );
    let start = tokio::time::Instant::now();
    let (files, ticks) =
        with_ticker(read_in_spawn_blocking(paths.clone(), simulated_slow_disk)).await;
    println!(
        "  one spawn_blocking: {} files in {:.0?}, {ticks} ticks got in",
        files?.len(),
        start.elapsed()
    );
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, timed_async};

pub const SECTION: Section = Section::new(
    "file-io",
    "aiofiles / asyncio.to_thread(open(...).read)",
    "file reads still block: std::fs on the loop, a blocking-pool hop a file (tokio::fs), one spawn_blocking",
    run,
)
.main(|| main().report());

const FILES: u64 = 100;
const SIZE: usize = 16 * 1024;
/// The offloaded reads must let in at least this many times the ticks of the blocked one.
const MIN_RATIO: u64 = 10;

/// The test folder in `parent`; a missing `parent` is one line, never created.
fn folder_in(parent: &Path) -> anyhow::Result<Folder> {
    anyhow::ensure!(
        parent.is_dir(),
        "the temporary folder {} does not exist (set TMPDIR to an existing folder)",
        parent.display()
    );
    Ok(Folder::create_in(parent, FILES, SIZE)?)
}

/// A current-thread runtime (one loop thread, as in asyncio) whose blocking pool's threads
/// are named as such.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("tokio-blocking")
        .build()
}

/// One way of reading: its time, the ticks that got in, and where its reads ran.
async fn case<E: Into<anyhow::Error>>(
    name: &str,
    fut: impl Future<Output = Result<Vec<Vec<u8>>, E>>,
) -> anyhow::Result<(u64, Recorded)> {
    let recording = Recording::start();
    let ((files, ticks), took) = timed_async(with_ticker(fut)).await;
    let reads = recording.finish().named(&["read"]);
    let files = files.map_err(Into::into)?;
    let right = files
        .iter()
        .enumerate()
        .all(|(id, data)| *data == contents(id as u64, SIZE));
    anyhow::ensure!(
        files.len() == FILES as usize && right,
        "{name}: a file read back wrong"
    );
    let threads = match reads.lane_count(Lanes::ThreadId) {
        0 => "tokio's blocking pool".to_owned(),
        1 => reads.spans()[0].thread_id.clone(),
        n => format!("{n} blocking-pool threads"),
    };
    figure(
        name,
        format!(
            "{}, the ticker got in {ticks} times, reads on {threads}",
            Secs(took)
        ),
    );
    Ok((ticks, reads))
}

fn run() -> SectionResult {
    let folder = folder_in(&std::env::temp_dir())?;
    let paths = folder.paths(FILES);
    runtime()?.block_on(async {
        println!("  {FILES} files of {} KiB on a SIMULATED slow disk (a 3 ms sleep before each read), a ticker of 1 ms beside:", SIZE / 1024);
        let (on_loop, reads) = case("std::fs on the loop", read_on_the_loop(&paths, simulated_slow_disk)).await?;
        anyhow::ensure!(reads.lane_count(Lanes::ThreadId) == 1, "std::fs on the loop left the loop's thread");
        let (hops, _) = case("a hop a file, as tokio::fs", read_one_hop_each(&paths, simulated_slow_disk)).await?;
        let (batch, _) = case("one spawn_blocking", read_in_spawn_blocking(paths.clone(), simulated_slow_disk)).await?;
        println!("  the same files from the page cache (no simulated delay):");
        case("  std::fs on the loop", read_on_the_loop(&paths, cached_read)).await?;
        case("  tokio::fs::read", read_with_tokio_fs(&paths)).await?;
        takeaway_if(
            &Evidence::new(
                hops.min(batch) >= on_loop.max(1) * MIN_RATIO,
                format!("at least {MIN_RATIO}x the ticks with the offloaded reads than with std::fs on the loop"),
                format!("{on_loop} ticks against {hops} and {batch}"),
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
        let folder = Folder::create_in(&std::env::temp_dir(), 5, 1000).unwrap();
        let dir = folder.0.clone();
        let paths = folder.paths(5);
        let expected: Vec<Vec<u8>> = (0..5).map(|id| contents(id, 1000)).collect();
        runtime().unwrap().block_on(async {
            // A local recording sees only this thread's spans: the loop's.
            let recording = Recording::local();
            assert_eq!(
                read_on_the_loop(&paths, cached_read).await.unwrap(),
                expected
            );
            let reads = recording.finish().named(&["read"]);
            assert_eq!(reads.len(), 5, "std::fs ran on the loop's own thread");
            assert_eq!(read_with_tokio_fs(&paths).await.unwrap(), expected);
            assert_eq!(
                read_one_hop_each(&paths, cached_read).await.unwrap(),
                expected
            );
            let recording = Recording::start();
            let files = read_in_spawn_blocking(paths.clone(), cached_read)
                .await
                .unwrap();
            assert_eq!(files, expected);
            let reads = recording.finish().named(&["read"]);
            assert!(
                reads
                    .spans()
                    .iter()
                    .any(|s| s.thread.starts_with("tokio-blocking")),
                "spawn_blocking ran on a blocking-pool thread"
            );
        });
        drop(folder);
        assert!(!dir.exists(), "the folder is removed on drop");
    }

    #[test]
    fn a_blocked_loop_lets_no_tick_in() {
        runtime().unwrap().block_on(async {
            let ((), blocked) =
                with_ticker(async { std::thread::sleep(Duration::from_millis(30)) }).await;
            assert_eq!(blocked, 0);
            let ((), free) = with_ticker(tokio::time::sleep(Duration::from_millis(30))).await;
            assert!(free > 0, "ticks while the work awaits");
        });
    }

    #[test]
    fn a_missing_temporary_folder_is_reported_not_created() {
        let missing = std::env::temp_dir().join(format!("no-such-dir-{}", std::process::id()));
        let parent = missing.join("tmp");
        let error = folder_in(&parent).err().unwrap();
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
