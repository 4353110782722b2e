//! `multiprocessing.Lock()` around a read-modify-write shared by processes -> `File::lock`
//! on the shared file itself (std, since Rust 1.89).
//!
//! Python:
//!     def add(path, times, lock):
//!         for _ in range(times):
//!             with lock:
//!                 with open(path, "r+") as f:
//!                     n = int(f.read())
//!                     time.sleep(0.0001)       # some work on n
//!                     f.seek(0)
//!                     f.write(str(n + 1))
//!
//!     if __name__ == "__main__":
//!         lock = multiprocessing.Lock()
//!         ps = [Process(target=add, args=("count.txt", 100, lock)) for _ in range(4)]
//!         for p in ps: p.start()
//!         for p in ps: p.join()          # count.txt: 400; without the lock, less
//!
//! Python hands the `Lock` (a semaphore the children inherit) to each child. A Rust child
//! is this program started afresh (`--role file-adder`), so the lock must be something
//! every process can name: the file itself. `file.lock()` takes an exclusive lock on it
//! (`flock` on Linux and macOS, `LockFileEx` on Windows) and blocks while another process
//! holds it; `file.unlock()`, closing the file, or the process dying releases it. (A
//! Python `Lock` held by a killed child stays locked.) On Unix the lock is advisory: it
//! holds back only processes that also call `lock()`. There is no guard type: unlock
//! yourself, or scope the `File`.
//!
//! Without the lock, two processes read the same number, both write number + 1, and one
//! increment is lost. The work between reading and writing (a 100 µs sleep here) widens
//! that window, as real work on the value would; the children wait at a start gate (their
//! standard input closing) so they really run at the same time.
//!
//! The parent joins its children with a time limit, as `p.join(timeout)` does: a child
//! that never finishes (stuck, or stopped with `kill -STOP`) is killed and reported, and
//! the program ends instead of waiting forever.
//!
//! Watch: with the lock the file ends at exactly children x increments, and takes longer
//! (the work is done one process at a time); without it, many increments are lost (how
//! many varies from run to run).
//!
//! Run only this: cargo run -p multiprocessing-demo -- file-lock
//! Copy it: cargo add anyhow@1

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The count at the start of the file: a `u64`, 8 bytes, little-endian.
pub fn read_count(file: &mut File) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

pub fn write_count(file: &mut File, n: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&n.to_le_bytes())
}

/// `n = read(); work; write(n + 1)`: steps another process can come between. `work` is
/// how long the program spends on the value in between.
pub fn add_one(file: &mut File, work: Duration) -> io::Result<()> {
    let n = read_count(file)?;
    std::thread::sleep(work);
    write_count(file, n + 1)
}

/// `with lock:` around the same steps.
pub fn add_one_locked(file: &mut File, work: Duration) -> io::Result<()> {
    file.lock()?; // blocks while another process holds it
    let added = add_one(file, work);
    file.unlock()?;
    added
}

/// The child's side: open the shared file and add one, `times` times.
pub fn add(path: &Path, times: u64, work: Duration, locked: bool) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    for _ in 0..times {
        if locked {
            add_one_locked(&mut file, work)?;
        } else {
            add_one(&mut file, work)?;
        }
    }
    Ok(())
}

/// The child's side, `--role file-adder PATH TIMES WORK_US locked|unlocked`: wait at the
/// start gate (standard input closing), then `add`.
pub fn adder(args: &[String]) -> anyhow::Result<()> {
    let [path, times, work_us, mode] = args else {
        anyhow::bail!("file-adder needs PATH TIMES WORK_US locked|unlocked");
    };
    let number = |s: &String| -> anyhow::Result<u64> {
        s.parse().with_context(|| format!("'{s}' is not a number"))
    };
    let (times, work) = (number(times)?, Duration::from_micros(number(work_us)?));
    let locked = match mode.as_str() {
        "locked" => true,
        "unlocked" => false,
        other => anyhow::bail!("'{other}': say locked or unlocked"),
    };
    io::stdin().read_to_end(&mut Vec::new())?; // the start gate
    add(Path::new(path), times, work, locked).with_context(|| format!("adding to {path}"))
}

/// `p.join(timeout)`: wait for `child` until `deadline`; `None` if it is still running.
pub fn join_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The parent's side: start every child (each reads its standard input to the end before
/// it starts adding), open the gate by closing their inputs, then join them all within
/// `limit`. Children still running then are killed, and that is an error naming them.
pub fn start_together(commands: Vec<Command>, limit: Duration) -> anyhow::Result<Vec<ExitStatus>> {
    let mut children = Vec::new();
    for mut command in commands {
        children.push(
            command
                .stdin(Stdio::piped())
                .spawn()
                .context("starting a child")?,
        );
    }
    for child in &mut children {
        drop(child.stdin.take()); // the gate opens: end of input
    }
    let deadline = Instant::now() + limit;
    let (mut statuses, mut stuck) = (Vec::new(), Vec::new());
    for child in &mut children {
        match join_until(child, deadline)? {
            Some(status) => statuses.push(status),
            None => {
                child.kill()?; // p.kill(): works on a stopped process too
                child.wait()?;
                stuck.push(child.id());
            }
        }
    }
    anyhow::ensure!(
        stuck.is_empty(),
        "children {stuck:?} still running after {limit:?}: killed"
    );
    Ok(statuses)
}

/// `children` copies of `adder` (this program as `--role file-adder`), each adding one
/// `times` times to the count in `path`, started together; returns the final count.
pub fn race(
    path: &Path,
    adder: impl Fn() -> io::Result<Command>,
    (children, times): (usize, u64),
    work: Duration,
    locked: bool,
) -> anyhow::Result<u64> {
    write_count(&mut File::create(path)?, 0)?;
    let mode = if locked { "locked" } else { "unlocked" };
    let mut commands = Vec::new();
    for _ in 0..children {
        let mut command = adder()?;
        let (times, work_us) = (times.to_string(), work.as_micros().to_string());
        command.arg(path).args([&times, &work_us, mode]);
        commands.push(command);
    }
    for status in start_together(commands, Duration::from_secs(10))? {
        anyhow::ensure!(status.success(), "a {mode} adder failed: {status}");
    }
    Ok(read_count(&mut File::open(path)?)?)
}

/// The twin of `if __name__ == "__main__":`: a child adds (`--role file-adder ...`); the
/// parent races four children, with the lock and without.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, _, rest @ ..] = &args[..]
        && flag == "--role"
    {
        return adder(rest); // the only role here
    }
    let adder = || -> io::Result<Command> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["--role", "file-adder"]);
        Ok(command)
    };
    let path = std::env::temp_dir().join(format!("file-lock-{}.count", std::process::id()));
    for locked in [true, false] {
        let count = race(&path, adder, (4, 100), Duration::from_micros(100), locked);
        let how = if locked {
            "with File::lock"
        } else {
            "without a lock"
        };
        println!(
            "4 processes x 100 increments {how}: the file says {}",
            count?
        );
    }
    std::fs::remove_file(&path)?;
    Ok(())
}

// --- run and measure ---

use std::path::PathBuf;
use std::process::Termination;
use std::sync::atomic::{AtomicU64, Ordering};

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::timing::{Secs, timed};

pub const SECTION: Section = Section::new(
    "file-lock",
    "multiprocessing.Lock() around a read-modify-write shared by processes",
    "File::lock on the shared file: the total is exact; without it updates are lost",
    run,
)
.main(|| main().report());

/// A fresh counter file in the temporary folder; removed when dropped.
struct CountFile(PathBuf);

impl CountFile {
    fn new() -> anyhow::Result<CountFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "multiprocessing-demo-file-lock-{}-{n}.count",
            std::process::id()
        );
        let file = CountFile(std::env::temp_dir().join(name));
        write_count(&mut File::create(&file.0)?, 0)?;
        Ok(file)
    }

    #[cfg(test)]
    fn count(&self) -> anyhow::Result<u64> {
        Ok(read_count(&mut File::open(&self.0)?)?)
    }
}

impl Drop for CountFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `race` in a fresh file, with this demo's `--role file-adder` children.
fn race_in_demo(children: usize, times: u64, work: Duration, locked: bool) -> anyhow::Result<u64> {
    let adder = || crate::child::command("file-adder").map_err(io::Error::other);
    race(&CountFile::new()?.0, adder, (children, times), work, locked)
}

const CHILDREN: usize = 4;
const TIMES: u64 = 100;
/// The work on the value between reading and writing it.
const WORK: Duration = Duration::from_micros(100);

fn run() -> SectionResult {
    let total = CHILDREN as u64 * TIMES;
    println!(
        "  {CHILDREN} processes x {TIMES} read-modify-writes of one file (a u64), {} of work in each, started together",
        Secs(WORK)
    );
    let (locked, t_locked) = timed(|| race_in_demo(CHILDREN, TIMES, WORK, true));
    let locked = locked?;
    anyhow::ensure!(
        locked == total,
        "with the lock the count is {locked}, not {total}"
    );
    let (unlocked, t_unlocked) = timed(|| race_in_demo(CHILDREN, TIMES, WORK, false));
    let unlocked = unlocked?;
    anyhow::ensure!(
        unlocked <= total,
        "without the lock the count is {unlocked}, above {total}"
    );
    let lost = total - unlocked;
    figure(
        "File::lock each time",
        format!("{locked} of {total}   {}", Secs(t_locked)),
    );
    figure(
        "no lock",
        format!("{unlocked} of {total}   {}", Secs(t_unlocked)),
    );
    figure("updates lost without it", lost);
    let shown = Evidence::new(
        lost > 0,
        "some updates lost without the lock (two processes reading the same count)",
        "none lost: no process came between another's read and write this time",
    )
    .cpu(2);
    takeaway_if(
        &shown,
        format!(
            "File::lock makes read-modify-write one step across processes: all {total} kept; without it {lost} were lost"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_the_lock_every_increment_counts() {
        assert_eq!(race_in_demo(3, 100, Duration::ZERO, true).unwrap(), 300);
        assert_eq!(race_in_demo(2, 20, WORK, true).unwrap(), 40);
    }

    #[test]
    fn without_the_lock_the_count_never_goes_over() {
        assert!(race_in_demo(2, 50, WORK, false).unwrap() <= 100);
    }

    #[test]
    fn a_stopped_child_is_killed_and_reported_within_the_limit() {
        // Two real adders and one child that stops itself (`kill -STOP`), all at the gate.
        let file = CountFile::new().unwrap();
        let mut commands = Vec::new();
        for _ in 0..2 {
            let mut adder = crate::child::command("file-adder").unwrap();
            adder.arg(&file.0).args(["10", "0", "locked"]);
            commands.push(adder);
        }
        let mut stopper = Command::new("sh");
        stopper.args(["-c", "kill -STOP $$"]);
        commands.push(stopper);
        let limit = Duration::from_millis(500);
        let started = Instant::now();
        let err = start_together(commands, limit).unwrap_err().to_string();
        // A generous bound: the point is that it ends, not how fast.
        assert!(started.elapsed() < limit + Duration::from_secs(10), "{err}");
        let pids: Vec<u32> = err
            .split(['[', ']'])
            .nth(1)
            .map(|list| list.split(", ").filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default();
        assert_eq!(pids.len(), 1, "only the stopped child is reported: {err}");
        assert!(
            !Path::new(&format!("/proc/{}", pids[0])).exists(),
            "killed and reaped"
        );
        assert_eq!(
            file.count().unwrap(),
            20,
            "the other two finished their work"
        );
    }

    #[test]
    fn two_readers_before_two_writers_lose_one_update() {
        // The interleaving the unlocked processes hit, played step by step.
        let file = CountFile::new().unwrap();
        let open = || OpenOptions::new().read(true).write(true).open(&file.0);
        let (mut a, mut b) = (open().unwrap(), open().unwrap());
        let seen_a = read_count(&mut a).unwrap();
        let seen_b = read_count(&mut b).unwrap();
        write_count(&mut a, seen_a + 1).unwrap();
        write_count(&mut b, seen_b + 1).unwrap();
        assert_eq!(file.count().unwrap(), 1, "two increments, one kept");
    }

    #[test]
    fn a_locked_file_holds_back_a_second_opener_until_unlocked() {
        let file = CountFile::new().unwrap();
        let open = || OpenOptions::new().read(true).write(true).open(&file.0);
        let (a, b) = (open().unwrap(), open().unwrap());
        a.lock().unwrap();
        assert!(matches!(
            b.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        a.unlock().unwrap();
        b.try_lock().unwrap();
        drop(b); // closing releases it
        a.try_lock().unwrap();
    }

    #[test]
    fn bad_adder_arguments_are_errors() {
        assert!(adder(&["x".to_owned()]).is_err());
        let err = adder(&["p".into(), "5".into(), "0".into(), "maybe".into()]).unwrap_err();
        assert!(err.to_string().contains("locked or unlocked"), "{err}");
    }
}
