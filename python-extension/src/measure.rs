//! The measuring side of the `release-gil` section. The lesson is `release_gil.rs` (this
//! crate's library, built as the Python module `rust_cpu`); the Python that calls it is
//! `python/threads.py`. Here: find an interpreter, put the built module and the script in
//! a temporary folder, run the script, check every answer it reports, print the figures
//! and the claims. Nothing to copy from here: the lesson part of this file is empty.

// --- run and measure ---

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use serde::Deserialize;

use common::child::wait_or_kill;
use common::cli::{NoOptions, Section, SectionResult, UsageError};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{self, Interpreter};
use common::timing::{Secs, speedup};

pub const SECTION: Section = Section::new(
    "release-gil",
    "threads calling a C extension that releases the GIL (numpy, polars)",
    "a PyO3 module runs compute(n) holding the GIL (threads ~1.0x) or releasing it (~Nx), beside pure Python",
    run,
)
.usage_check(interpreter_check)
.cpu_bound();

/// The guides' size: `pool.map(compute, [10**6] * 4)`.
const N: u64 = 1_000_000;
// The module's loop wraps at 2**64 (n above about 3.8 million); Python's integers do not.
const _: () = assert!(
    N < 3_000_000,
    "the answers would differ between Rust and Python"
);
/// One thread's run of each job lasts about this long (the script calibrates the calls).
const SECONDS: f64 = 0.25;
/// Every run is repeated; the best time counts (like `timeit`).
const ROUNDS: usize = 3;
/// A stuck interpreter never hangs the demo.
const LIMIT: Duration = Duration::from_secs(120);
/// The driver, embedded, so the binary works wherever it is.
const DRIVER: &str = include_str!("../python/threads.py");
/// The module is built for the stable ABI of CPython 3.9 and newer (`abi3-py39`).
const MIN_MINOR: u32 = 9;
/// The script's jobs, in its order.
const PURE: &str = "python";
const HOLDING: &str = "rust_holding_gil";
const RELEASING: &str = "rust_releasing_gil";

fn run() -> SectionResult {
    let python = interpreter()?;
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads_for(usable);
    let report = run_driver(&python, threads)?;
    ensure!(
        report.n == N && report.threads == threads && report.rounds == ROUNDS,
        "threads.py ran n = {}, {} threads, {} rounds; asked for {N}, {threads}, {ROUNDS}",
        report.n,
        report.threads,
        report.rounds
    );
    let pure = report.measured(PURE)?;
    let holding = report.measured(HOLDING)?;
    let releasing = report.measured(RELEASING)?;

    let info = &report.python;
    figure(
        "interpreter",
        format!(
            "{} {} ({}), GIL {}, switch interval {} ms",
            info.implementation,
            info.version,
            info.executable,
            if info.gil_enabled { "on" } else { "off" },
            info.switch_interval_ms
        ),
    );
    figure(
        "the job",
        format!(
            "compute({N}) = sum(i * i for i in range(n)), every answer checked; best of {ROUNDS}"
        ),
    );
    figure(
        "threads",
        format!(
            "1, then {threads} sharing the same calls ({usable} usable core{})",
            if usable == 1 { "" } else { "s" }
        ),
    );
    for (name, m) in [
        ("pure Python", &pure),
        ("Rust, holding the GIL", &holding),
        ("Rust, releasing the GIL", &releasing),
    ] {
        figure(name, m.line(threads));
    }
    let per_call_ratio = pure.per_call.as_secs_f64() / holding.per_call.as_secs_f64().max(1e-12);
    figure(
        "per call, Rust vs Python",
        format!("{per_call_ratio:.0}x faster"),
    );

    takeaway_if(
        &Evidence::new(
            pure.speedup < 1.2,
            "pure-Python threads below 1.2x",
            format!("{:.2}x", pure.speedup),
        ),
        format!(
            "pure Python: {threads} threads {:.2}x: they take turns holding the GIL, one runs bytecode at a time",
            pure.speedup
        ),
    );
    takeaway_if(
        &Evidence::faster(
            "Rust holding the GIL, a call",
            holding.per_call,
            "pure Python",
            pure.per_call,
            3.0,
        )
        .and(Evidence::new(
            holding.speedup < 1.2,
            "Rust holding the GIL below 1.2x from threads",
            format!("{:.2}x", holding.speedup),
        )),
        format!(
            "Rust holding the GIL: {per_call_ratio:.0}x faster a call, still {:.2}x from {threads} threads: no other thread runs until a call returns",
            holding.speedup
        ),
    );
    takeaway_if(
        &Evidence::scaling(releasing.speedup, threads).cpu(threads),
        format!(
            "Rust releasing the GIL (py.detach): {threads} Python threads computed at once ({:.2}x), which is how numpy and polars speed up plain threads",
            releasing.speedup
        ),
    );
    Ok(())
}

/// Threads to run: every usable core, at least 2 (one core shows the claim failing, with
/// the reason), at most 8.
fn threads_for(usable: usize) -> usize {
    usable.clamp(2, 8)
}

/// Before anything runs: an interpreter the module loads in, or one line and exit code 2.
fn interpreter_check(_: &NoOptions) -> Result<(), UsageError> {
    interpreter().map(drop)
}

/// The interpreter of `--python-exe PATH` (found by the runner), else `python3` or
/// `python` on `PATH`, if the module can load in it.
fn interpreter() -> Result<Interpreter, UsageError> {
    let found = match python::chosen() {
        Some(chosen) => chosen.clone(),
        None => python::find(None).map_err(|_| {
            UsageError(format!(
                "no Python 3 interpreter found (tried python3 and python on PATH): this demo runs Python threads; install Python 3.{MIN_MINOR} or newer, or point to one with --python-exe PATH"
            ))
        })?,
    };
    loadable(&found)?;
    Ok(found)
}

/// Can `python` import an abi3 module built for 3.9+?
fn loadable(python: &Interpreter) -> Result<(), UsageError> {
    let path = python.path.display();
    if python.free_threaded || python.free_threaded_build_with_gil {
        return Err(UsageError(format!(
            "{path} is a free-threaded build (Python {}), which cannot load stable-ABI (abi3) modules such as this one; point to a regular build with --python-exe PATH",
            python.version
        )));
    }
    let mut parts = python.version.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(3)), Some(Ok(minor))) if minor >= MIN_MINOR => Ok(()),
        _ => Err(UsageError(format!(
            "{path} is Python {}; the module needs CPython 3.{MIN_MINOR} or newer (its stable ABI): point to one with --python-exe PATH",
            python.version
        ))),
    }
}

/// The shared library cargo built from `release_gil.rs` beside this binary, and the file
/// name Python imports it by (`import rust_cpu` finds `rust_cpu.abi3.so`; `.pyd` on
/// Windows). On macOS cargo builds a `.dylib`, which Python loads under the `.so` name.
///
/// `cargo build` / `cargo run` put the library beside the binary; `cargo test` leaves it in
/// `deps/` only. The newer of the two is this build's.
fn module_files(exe_dir: &Path) -> (PathBuf, &'static str) {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    let file = format!("{DLL_PREFIX}python_extension{DLL_SUFFIX}");
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let beside = exe_dir.join(&file);
    let in_deps = exe_dir.join("deps").join(&file);
    let built = match (modified(&beside), modified(&in_deps)) {
        (Some(b), Some(d)) if d > b => in_deps,
        (None, Some(_)) => in_deps,
        _ => beside,
    };
    let name = if cfg!(windows) {
        "rust_cpu.pyd"
    } else {
        "rust_cpu.abi3.so"
    };
    (built, name)
}

/// Copy the module and the script into a fresh temporary folder, run the script there
/// with `threads` threads, and parse its JSON line.
fn run_driver(python: &Interpreter, threads: usize) -> anyhow::Result<Report> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let exe_dir = exe.parent().context("this binary has no folder")?;
    let (built, module_name) = module_files(exe_dir);
    ensure!(
        built.is_file(),
        "the extension module {} is missing: it is this crate's library, built by `cargo build -p python-extension`",
        built.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("python-extension-")
        .tempdir()
        .context("making a temporary folder")?;
    std::fs::copy(&built, dir.path().join(module_name))
        .with_context(|| format!("copying {}", built.display()))?;
    let script = dir.path().join("threads.py");
    std::fs::write(&script, DRIVER).context("writing threads.py")?;

    let mut child = python
        .command()
        .arg(&script)
        .args(["--threads", &threads.to_string()])
        .args(["--n", &N.to_string()])
        .args(["--seconds", &SECONDS.to_string()])
        .args(["--rounds", &ROUNDS.to_string()])
        .env("PYTHONPATH", dir.path())
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", python.path.display()))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_or_kill(&mut child, LIMIT).context("waiting for threads.py")?;
    let (stdout, stderr) = (collect(stdout)?, collect(stderr)?);
    let status = status.ok_or_else(|| anyhow!("threads.py gave up after {}", Secs(LIMIT)))?;
    if !status.success() {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        anyhow::bail!(
            "threads.py failed ({status}): {}",
            last.unwrap_or("no message")
        );
    }
    Report::parse(&stdout)
}

type Drain = Option<std::thread::JoinHandle<std::io::Result<String>>>;

/// Read a child's pipe to its end on a thread of its own, so a full pipe never stalls it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Drain {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).map(|_| text)
        })
    })
}

fn collect(drain: Drain) -> anyhow::Result<String> {
    match drain {
        None => Ok(String::new()),
        Some(handle) => handle
            .join()
            .map_err(|_| anyhow!("a pipe reader panicked"))?
            .context("reading threads.py's output"),
    }
}

/// The JSON line `threads.py` prints (its fields are documented in the script).
#[derive(Debug, Deserialize)]
struct Report {
    python: PythonInfo,
    n: u64,
    threads: usize,
    rounds: usize,
    jobs: Vec<Job>,
}

#[derive(Debug, Deserialize)]
struct PythonInfo {
    version: String,
    implementation: String,
    executable: String,
    gil_enabled: bool,
    switch_interval_ms: f64,
}

#[derive(Debug, Deserialize)]
struct Job {
    name: String,
    calls: u64,
    one_thread_s: Vec<f64>,
    threads_s: Vec<f64>,
    /// The sum of every answer of each run, as a decimal string.
    totals: Vec<String>,
}

/// One job's figures: best times of `ROUNDS`, checked answers.
#[derive(Debug)]
struct Measured {
    calls: u64,
    one: Duration,
    many: Duration,
    speedup: f64,
    per_call: Duration,
}

impl Measured {
    fn line(&self, threads: usize) -> String {
        format!(
            "{} calls: 1 thread {}, {threads} threads {}: {:.2}x; {} a call",
            self.calls,
            Secs(self.one),
            Secs(self.many),
            self.speedup,
            Secs(self.per_call)
        )
    }
}

impl Report {
    fn parse(stdout: &str) -> anyhow::Result<Report> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .context("threads.py printed nothing")?;
        serde_json::from_str(line).with_context(|| format!("threads.py printed: {line}"))
    }

    /// The job `name`, its answers checked against the closed form before any time counts.
    fn measured(&self, name: &str) -> anyhow::Result<Measured> {
        let job = self
            .jobs
            .iter()
            .find(|j| j.name == name)
            .with_context(|| format!("threads.py reported no job '{name}'"))?;
        ensure!(job.calls > 0, "{name}: no calls");
        ensure!(
            job.one_thread_s.len() == self.rounds
                && job.threads_s.len() == self.rounds
                && job.totals.len() == 2 * self.rounds,
            "{name}: {} rounds asked, the times and totals do not match",
            self.rounds
        );
        let expected = u128::from(job.calls) * sum_of_squares_exact(self.n);
        for total in &job.totals {
            let total: u128 = total
                .parse()
                .with_context(|| format!("{name}: total '{total}' is not a number"))?;
            ensure!(
                total == expected,
                "{name}: a run's answers summed to {total}, expected {expected}"
            );
        }
        let best = |times: &[f64]| {
            let s = times.iter().copied().fold(f64::INFINITY, f64::min);
            Duration::from_secs_f64(s.max(0.0))
        };
        let (one, many) = (best(&job.one_thread_s), best(&job.threads_s));
        Ok(Measured {
            calls: job.calls,
            one,
            many,
            speedup: speedup(one, many),
            per_call: one / u32::try_from(job.calls).unwrap_or(u32::MAX),
        })
    }
}

/// `sum(i * i for i in range(n))` exactly: (n - 1) n (2n - 1) / 6.
fn sum_of_squares_exact(n: u64) -> u128 {
    let n = u128::from(n);
    if n == 0 {
        return 0;
    }
    (n - 1) * n * (2 * n - 1) / 6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, calls: u64, total: u128) -> Job {
        Job {
            name: name.to_owned(),
            calls,
            one_thread_s: vec![0.30, 0.25],
            threads_s: vec![0.2, 0.125],
            totals: vec![total.to_string(); 4],
        }
    }

    fn report(jobs: Vec<Job>) -> Report {
        Report {
            python: PythonInfo {
                version: "3.11.7".into(),
                implementation: "CPython".into(),
                executable: "/usr/bin/python3".into(),
                gil_enabled: true,
                switch_interval_ms: 5.0,
            },
            n: 1_000,
            threads: 2,
            rounds: 2,
            jobs,
        }
    }

    #[test]
    fn right_answers_give_the_best_times() {
        let exact = sum_of_squares_exact(1_000);
        assert_eq!(exact, 332_833_500);
        let r = report(vec![job(RELEASING, 10, 10 * exact)]);
        let m = r.measured(RELEASING).unwrap();
        assert_eq!(m.one, Duration::from_millis(250));
        assert_eq!(m.many, Duration::from_millis(125));
        assert!((m.speedup - 2.0).abs() < 1e-9);
        assert_eq!(m.per_call, Duration::from_millis(25));
    }

    #[test]
    fn a_wrong_answer_or_a_missing_job_is_an_error() {
        let exact = sum_of_squares_exact(1_000);
        let mut wrong = job(PURE, 10, 10 * exact);
        wrong.totals[3] = (10 * exact + 1).to_string();
        let r = report(vec![wrong]);
        let e = r.measured(PURE).unwrap_err().to_string();
        assert!(e.contains("expected 3328335000"), "{e}");
        assert!(r.measured(HOLDING).is_err());
        let mut short = job(HOLDING, 10, 10 * exact);
        short.threads_s.pop();
        assert!(report(vec![short]).measured(HOLDING).is_err());
    }

    #[test]
    fn the_json_line_parses() {
        let line = r#"{"python": {"version": "3.11.7", "implementation": "CPython", "executable": "/x/python3", "gil_enabled": true, "switch_interval_ms": 5.0}, "n": 1000, "threads": 2, "rounds": 1, "jobs": [{"name": "python", "calls": 2, "one_thread_s": [0.1], "threads_s": [0.1], "totals": ["665667000", "665667000"]}]}"#;
        let r = Report::parse(&format!("a warning\n{line}\n")).unwrap();
        assert_eq!(r.jobs[0].calls, 2);
        assert!(r.measured(PURE).is_ok());
        assert!(Report::parse("not json").is_err());
        assert!(Report::parse("").is_err());
    }

    #[test]
    fn the_closed_form_is_the_loop() {
        for n in [0u64, 1, 2, 3, 10, 1_000] {
            let looped: u128 = (0..n).map(|i| u128::from(i * i)).sum();
            assert_eq!(sum_of_squares_exact(n), looped, "n = {n}");
        }
    }

    fn interpreter(version: &str, free_threaded: bool) -> Interpreter {
        Interpreter {
            path: PathBuf::from("/opt/python3"),
            version: version.to_owned(),
            free_threaded,
            free_threaded_build_with_gil: false,
        }
    }

    #[test]
    fn the_module_loads_in_cpython_3_9_and_newer_with_a_gil() {
        assert!(loadable(&interpreter("3.9.0", false)).is_ok());
        assert!(loadable(&interpreter("3.13.1", false)).is_ok());
        let old = loadable(&interpreter("3.8.18", false)).unwrap_err().0;
        assert!(
            old.contains("3.8.18") && old.contains("3.9 or newer"),
            "{old}"
        );
        let ft = loadable(&interpreter("3.13.1", true)).unwrap_err().0;
        assert!(ft.contains("free-threaded"), "{ft}");
        assert!(loadable(&interpreter("two", false)).is_err());
    }

    #[test]
    fn threads_cover_the_cores_within_bounds() {
        assert_eq!(threads_for(1), 2);
        assert_eq!(threads_for(2), 2);
        assert_eq!(threads_for(6), 6);
        assert_eq!(threads_for(64), 8);
    }

    #[test]
    fn the_module_file_is_named_for_python() {
        let (built, name) = module_files(Path::new("/t/debug"));
        if cfg!(target_os = "linux") {
            assert_eq!(built, Path::new("/t/debug/libpython_extension.so"));
        }
        assert!(name.starts_with("rust_cpu."), "{name}");
    }
}
