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
//! reads, so `tokio::fs::read` is `std::fs::read` sent to the blocking thread pool with
//! `spawn_blocking`: the loop stays free, but every call pays a hop to another thread and
//! back. Many small operations are faster as one `spawn_blocking` closure that does them all
//! with `std::fs`. Plain `std::fs` inside async code blocks the loop, as `open()` does.
//!
//! Watch: the heartbeat is late by the whole read with `std::fs` on the loop, and on time
//! for the other two; tokio::fs runs on blocking-pool threads (counted from the runtime's
//! `on_thread_start` hook); one `spawn_blocking` for the batch avoids a hop per file and is
//! usually the fastest.
//!
//! Run only this: cargo run -p asyncio-demo -- file-io

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use common::cli::{SectionResult, figure, takeaway};
use common::timeline::thread_id_lane;
use common::timing::{Heartbeat, Secs, timed_async};
use common::workload::{file_bytes, verify_file};

const FILES: u64 = 500;
const SIZE: usize = 4 * 1024;
const TICK: Duration = Duration::from_millis(1);

/// A folder of test files, removed when dropped (`Drop` instead of `with TemporaryDirectory()`).
pub struct Folder(PathBuf);

impl Folder {
    pub fn create(files: u64, size: usize) -> anyhow::Result<Folder> {
        let dir = std::env::temp_dir().join(format!(
            "asyncio-demo-file-io-{}-{}",
            std::process::id(),
            common::timeline::now_us()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let folder = Folder(dir);
        for id in 0..files {
            std::fs::write(folder.file(id), file_bytes(id, size))?;
        }
        Ok(folder)
    }

    pub fn file(&self, id: u64) -> PathBuf {
        self.0.join(format!("{id}.bin"))
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(id: u64, size: usize, data: &[u8]) -> anyhow::Result<()> {
    anyhow::ensure!(verify_file(id, size, data), "file {id} read back wrong");
    Ok(())
}

/// Wrong: `std::fs` straight from async code. The loop waits for every read.
pub async fn read_on_the_loop(paths: &[(u64, PathBuf)], size: usize) -> anyhow::Result<()> {
    for (id, path) in paths {
        check(*id, size, &std::fs::read(path)?)?;
    }
    Ok(())
}

/// `aiofiles`: each `tokio::fs::read` is one trip to the blocking pool.
pub async fn read_with_tokio_fs(paths: &[(u64, PathBuf)], size: usize) -> anyhow::Result<()> {
    for (id, path) in paths {
        check(*id, size, &tokio::fs::read(path).await?)?;
    }
    Ok(())
}

/// `asyncio.to_thread(read_all)`: one trip for the whole batch; returns the thread it ran on.
pub async fn read_in_spawn_blocking(
    paths: Vec<(u64, PathBuf)>,
    size: usize,
) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        for (id, path) in &paths {
            check(*id, size, &std::fs::read(path)?)?;
        }
        Ok(thread_id_lane())
    })
    .await?
}

/// A current-thread runtime whose extra threads (all from the blocking pool) are recorded.
fn runtime_recording_threads()
-> anyhow::Result<(tokio::runtime::Runtime, Arc<Mutex<BTreeSet<String>>>)> {
    let started = Arc::new(Mutex::new(BTreeSet::new()));
    let record = started.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("tokio-blocking")
        .on_thread_start(move || {
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(thread_id_lane());
        })
        .build()
        .context("building the runtime")?;
    Ok((runtime, started))
}

fn lanes(threads: &Mutex<BTreeSet<String>>) -> usize {
    threads.lock().unwrap_or_else(|e| e.into_inner()).len()
}

async fn with_heartbeat<T>(
    fut: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Duration, Duration)> {
    let heartbeat = Heartbeat::start(TICK);
    tokio::time::sleep(TICK * 2).await;
    let (value, took) = timed_async(fut).await;
    tokio::time::sleep(TICK * 2).await;
    Ok((value?, took, heartbeat.worst_lateness()))
}

pub fn run() -> SectionResult {
    let folder = Folder::create(FILES, SIZE)?;
    let paths: Vec<(u64, PathBuf)> = (0..FILES).map(|id| (id, folder.file(id))).collect();
    let (runtime, threads) = runtime_recording_threads()?;
    println!(
        "  {FILES} files of {} KiB in {}; the loop runs on {}",
        SIZE / 1024,
        folder.0.parent().unwrap_or(Path::new("/")).display(),
        thread_id_lane()
    );
    runtime.block_on(async {
        // One untimed pass first, so every timed pass finds the files in the page cache.
        read_in_spawn_blocking(paths.clone(), SIZE).await?;
        let before = lanes(&threads);
        let ((), took, late) = with_heartbeat(read_on_the_loop(&paths, SIZE)).await?;
        figure(
            "std::fs on the loop",
            format!("{}, heartbeat {} late", Secs(took), Secs(late)),
        );

        let ((), took, late) = with_heartbeat(read_with_tokio_fs(&paths, SIZE)).await?;
        let started = lanes(&threads) - before;
        figure(
            "tokio::fs, one hop a file",
            format!("{}, heartbeat {} late", Secs(took), Secs(late)),
        );
        figure(
            "  blocking-pool threads",
            format!("{} in all ({started} new)", lanes(&threads)),
        );

        let (thread, took, late) =
            with_heartbeat(read_in_spawn_blocking(paths.clone(), SIZE)).await?;
        figure(
            "std::fs in spawn_blocking",
            format!("{}, heartbeat {} late, on {thread}", Secs(took), Secs(late)),
        );
        anyhow::Ok(())
    })?;
    anyhow::ensure!(
        lanes(&threads) >= 1,
        "tokio::fs should have used the blocking pool"
    );
    takeaway(
        "file I/O blocks in Rust too: tokio::fs hands each call to a thread; batch many small ones in one spawn_blocking",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_ways_read_the_right_bytes_and_tokio_fs_uses_the_pool() {
        let folder = Folder::create(5, 1000).unwrap();
        let dir = folder.0.clone();
        let paths: Vec<_> = (0..5).map(|id| (id, folder.file(id))).collect();
        let (runtime, threads) = runtime_recording_threads().unwrap();
        runtime.block_on(async {
            read_on_the_loop(&paths, 1000).await.unwrap();
            assert_eq!(lanes(&threads), 0, "std::fs ran on the loop's own thread");
            read_with_tokio_fs(&paths, 1000).await.unwrap();
            assert!(
                lanes(&threads) >= 1,
                "tokio::fs ran on a blocking-pool thread"
            );
            let thread = read_in_spawn_blocking(paths.clone(), 1000).await.unwrap();
            assert!(thread.starts_with("tokio-blocking"), "{thread}");
            assert!(
                read_on_the_loop(&paths, 999).await.is_err(),
                "a size mismatch is caught"
            );
        });
        drop(folder);
        assert!(!dir.exists(), "the folder is removed on drop");
    }
}
