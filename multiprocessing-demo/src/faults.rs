//! Faults injected on purpose for `crash-isolation` (not a lesson of its own; read that
//! section first): children that panic or abort, and pool workers that die the first time
//! they meet certain inputs.
//!
//! "The first time" is counted across processes: a worker that meets a fatal input
//! creates a marker file for it (`create_new`, which only one process can win) and dies;
//! the replacement worker that retries the input finds the file and computes normally, as
//! when the fault was in the process (a corrupted state, a flaky library), not in the input.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// An input that makes a pool worker panic the first time it is met.
pub const PANICS_FIRST_TIME: u64 = 666_001;
/// An input that makes a pool worker abort (like a segfault) the first time it is met.
pub const ABORTS_FIRST_TIME: u64 = 666_002;

/// Report a panic in one line on stderr, with no backtrace even under `RUST_BACKTRACE=1`:
/// the panic is the demo.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("?");
        eprintln!("(child {}) panicked: {what}", std::process::id());
    }));
}

/// No core file for an `abort()`, on machines that keep them.
pub fn no_core_files() {
    let _ = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0);
}

/// A fresh folder for the marker files of one run (removed by [`Markers::drop`]).
pub struct Markers(PathBuf);

impl Markers {
    pub fn new() -> std::io::Result<Markers> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "multiprocessing-demo-faults-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Markers(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Markers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Called by a faulty pool worker before each `compute(n)`: die if `n` is a fatal input
/// met for the first time (no marker for it in `markers` yet).
pub fn maybe_crash(n: u64, markers: &Path) {
    if n != PANICS_FIRST_TIME && n != ABORTS_FIRST_TIME {
        return;
    }
    let first_time = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(markers.join(n.to_string()))
        .is_ok();
    if !first_time {
        return;
    }
    if n == PANICS_FIRST_TIME {
        quiet_panics();
        panic!("worker {} panics on {n}", std::process::id());
    }
    no_core_files();
    std::process::abort();
}
