//! Clean stops: a demo run leaves no temporary file and no process behind, even after
//! Ctrl-C or SIGTERM.
//!
//! A signal ends a process without running any `Drop`, so a section's temporary folder
//! (SQLite files, file-io's files, the host file) and the sockets ipc-channel makes in
//! folders of its own would stay in `/tmp`, and a child it started (a Python twin, a
//! worker) would run on. So the runner of a demo binary is a small supervisor: it makes a
//! private folder, re-runs the binary as a child with `TMPDIR` pointing there (children of
//! the demo inherit it), waits, forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and
//! SIGUSR2, then removes the folder and exits with the child's code (128 + the signal's
//! number when a signal ended it). While the run lasts it notes every process below it
//! (every 100 ms, from `/proc`); those still running when the run has ended, orphans of a
//! killed run, are stopped (SIGTERM, then SIGKILL a second later). Standard input, output
//! and error are inherited: a terminal, a pipe and `| head` behave as without it.
//!
//! The supervised run watches its side too: when the supervisor is gone (SIGKILL leaves it
//! no time to clean up) the run removes the private folder and stops within a moment,
//! instead of carrying on as an orphan.
//!
//! What it costs: one more start of the binary, a second process of about 12 MiB, and a
//! scan of `/proc` every 100 ms (measured in the book's "How the workspace is built").

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::procs;

/// Set in the supervised child (to the private folder), so that it runs the sections
/// instead of supervising again.
pub const SUPERVISED_ENV: &str = "DEMO_SUPERVISED";

/// This process is the child of a supervisor.
pub(crate) fn is_supervised() -> bool {
    std::env::var_os(SUPERVISED_ENV).is_some()
}

/// A private folder `NAME-PID-NANOS` under the temporary folder, removed on drop.
struct PrivateTmp(PathBuf);

impl PrivateTmp {
    fn create(name: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = format!("{name}-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(dir);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateTmp(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateTmp {
    /// Removed, retried for up to 5 s: a process the run left may still be adding a file
    /// while the folder is emptied. A database server the run started just before it was
    /// killed is one: started within the last 100 ms, it was never seen below the run (so
    /// not stopped here), and its own shutdown (on its parent's death) writes as it goes.
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The signals passed on to the run: a terminal's Ctrl-C reaches the whole process group,
/// but `kill PID` reaches only this process.
const FORWARDED: [(&str, i32); 6] = [
    ("INT", 2),
    ("TERM", 15),
    ("HUP", 1),
    ("QUIT", 3),
    ("USR1", 10),
    ("USR2", 12),
];

/// Run this binary again with `args` (after the program name) under supervision; `None`
/// when that cannot be set up (no usable temporary folder, no runtime): then the caller
/// runs the sections itself, as before.
pub(crate) fn run(name: &str, args: &[OsString]) -> Option<ExitCode> {
    let exe = std::env::current_exe().ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let tmp = PrivateTmp::create(name).ok()?;
    let status = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // A signal ignored when we started (`nohup`, a background job of a script) stays
        // ignored, here and in the child: no handler for it.
        let ignored = ignored_signals();
        let mut listeners = Vec::new();
        for (sig, number) in FORWARDED {
            if ignored & (1 << (number - 1)) == 0 {
                listeners.push((sig, signal(SignalKind::from_raw(number)).ok()?));
            }
        }
        let mut child = tokio::process::Command::new(&exe)
            .args(args.iter().skip(1))
            .env("TMPDIR", tmp.path())
            .env(SUPERVISED_ENV, tmp.path())
            .spawn()
            .ok()?;
        let pid = child.id()?;
        let below = Below::watch(pid);
        loop {
            let received = async {
                let waits = listeners.iter_mut().map(|(sig, l)| {
                    Box::pin(async move {
                        l.recv().await;
                        *sig
                    })
                });
                futures_select_all(waits).await
            };
            let sig = tokio::select! {
                status = child.wait() => return Some((status, below)),
                sig = received => sig,
            };
            if !procs::signal(pid, sig) {
                let _ = child.start_kill();
            }
        }
    });
    let (status, below) = match status {
        Some((Ok(status), below)) => (status, below),
        Some((Err(e), _)) => {
            eprintln!("{name}: waiting for the run: {e}");
            return Some(ExitCode::FAILURE);
        }
        None => return None, // spawning failed: nothing ran, so run in this process instead
    };
    drop(runtime);
    below.stop_leftovers();
    drop(tmp);
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Some(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The first of several futures to finish (tokio has `select!` for a fixed number).
async fn futures_select_all<F: std::future::Future + Unpin>(
    futures: impl Iterator<Item = F>,
) -> F::Output {
    let mut futures: Vec<F> = futures.collect();
    if futures.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(move |cx| {
        for f in &mut futures {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(out);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Every process seen below the run while it lasted: pid -> start time.
struct Below {
    seen: Arc<std::sync::Mutex<BTreeMap<u32, u64>>>,
    done: Arc<AtomicBool>,
    root: u32,
}

impl Below {
    /// Note the processes below `root` every 100 ms, on a thread of its own.
    fn watch(root: u32) -> Below {
        let below = Below {
            seen: Arc::default(),
            done: Arc::default(),
            root,
        };
        let (seen, done) = (below.seen.clone(), below.done.clone());
        std::thread::Builder::new()
            .name("supervise-below".into())
            .spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let all = procs::all();
                    let tree = procs::tree_of(root, &all);
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    for p in tree.iter().filter(|p| p.pid != root) {
                        seen.insert(p.pid, p.start);
                    }
                    drop(seen);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        below
    }

    /// The run has ended: stop what it left running (the same pid and start time as
    /// noted), SIGTERM first, SIGKILL after a second, then wait (2 s at most) until it is
    /// gone.
    fn stop_leftovers(self) {
        self.done.store(true, Ordering::Relaxed);
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()));
        let alive = || -> Vec<u32> {
            seen.iter()
                .filter(|&(&pid, &start)| {
                    pid != self.root && procs::running(pid).is_some_and(|p| p.start == start)
                })
                .map(|(&pid, _)| pid)
                .collect()
        };
        let left = alive();
        if left.is_empty() {
            return;
        }
        tracing::debug!(?left, "stopping processes the run left behind");
        for &pid in &left {
            procs::signal(pid, "TERM");
        }
        for _ in 0..20 {
            if alive().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in alive() {
            procs::signal(pid, "KILL");
        }
        // Gone, not only signalled, before the folder they may write in is removed.
        for _ in 0..40 {
            if alive().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// In the supervised run: when the supervisor is gone (killed before it could clean up),
/// remove the private folder and stop, within about 200 ms.
pub(crate) fn watch_supervisor(name: &'static str) {
    let Some(folder) = std::env::var_os(SUPERVISED_ENV).map(PathBuf::from) else {
        return;
    };
    let supervisor = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("watch-supervisor".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                if std::os::unix::process::parent_id() != supervisor {
                    break;
                }
            }
            // Only a folder the supervisor made: `NAME-PID-NANOS` in the temporary folder.
            let ours = folder.file_name().is_some_and(|f| {
                f.to_string_lossy()
                    .starts_with(&format!("{name}-{supervisor}-"))
            });
            if ours {
                let _ = std::fs::remove_dir_all(&folder);
            }
            eprintln!("{name}: the supervising process is gone: stopping");
            std::process::exit(129);
        });
}

/// The signals this process ignores (bit N-1 for signal N), read from `/proc/self/status`;
/// none where that cannot be read.
fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(line.trim(), 16).ok()
        })
        .unwrap_or(0)
}
