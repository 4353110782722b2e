//! The measuring side of the `release-gil` section. The lesson is `release_gil.rs` (this
//! crate's library, built as the Python module `rust_cpu`); the Python that calls it is
//! `python/threads.py`. Here: find an interpreter, put the built module in a temporary
//! folder, run the script, check every answer it reports, print the figures and the
//! claims. Nothing to copy from here: the lesson part of this file is empty.

// --- run and measure ---

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, ensure};
use serde::Deserialize;

use common::claim::Machine;
use common::cli::{NoOptions, Section, SectionResult, UsageError};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{self, Interpreter, Judge, Twin, Unit, Verdict, flags};
use common::timing::{Secs, speedup};

pub const SECTION: Section = Section::new(
    "release-gil",
    "threads calling a C extension that releases the GIL (numpy, polars)",
    "a PyO3 module runs compute(n) holding the GIL (threads ~1.0x) or releasing it (~Nx), beside pure Python",
    run,
)
.usage_check(|_: &NoOptions| interpreter().map(drop))
// Its Python side: `--python` and `--python-exe PATH` choose the interpreter that runs it.
.twin(&DRIVER)
.cpu_bound();

/// The guides' size: `pool.map(compute, [10**6] * 4)`.
const N: u64 = 1_000_000;
/// One thread's run of each job lasts about this long (the script calibrates the calls).
const SECONDS: f64 = 0.25;
/// Every run is repeated; the best time counts (like `timeit`).
const ROUNDS: usize = 3;
/// The driver, embedded, run as a twin is (time-limited, its model and job checked).
const DRIVER: Twin = Twin::new("threads.py", include_str!("../python/threads.py"), &[]);
/// The module is built for the stable ABI of CPython 3.9 and newer (`abi3-py39`).
const MIN_MINOR: u32 = 9;
/// The script's jobs, in its order.
const PURE: &str = "python";
const HOLDING: &str = "rust_holding_gil";
const RELEASING: &str = "rust_releasing_gil";

/// What one run measured, every answer checked.
struct Figures {
    python: PythonInfo,
    usable: usize,
    threads: usize,
    pure: Measured,
    holding: Measured,
    releasing: Measured,
    /// Rust holding the GIL against pure Python, a call: who is ahead, if this run can say.
    per_call: Verdict,
}

fn run() -> SectionResult {
    let figures = measure()?;
    report(&figures);
    claims(&figures);
    Ok(())
}

fn measure() -> anyhow::Result<Figures> {
    let python = interpreter()?;
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads_for(usable);
    let report = run_driver(&python, threads)?;
    let (pure, holding) = (report.measured(PURE)?, report.measured(HOLDING)?);
    let per_call = judge().verdict(
        holding.per_call.as_secs_f64(),
        pure.per_call.as_secs_f64(),
        Unit::Secs,
        true,
        holding.spread.max(pure.spread),
    );
    Ok(Figures {
        releasing: report.measured(RELEASING)?,
        python: report.python,
        usable,
        threads,
        pure,
        holding,
        per_call,
    })
}

/// The module is optimised in the dev profile too (opt-level 1, the workspace's
/// Cargo.toml), so a verdict is held for an unoptimised build (opt-level 0, read by
/// build.rs) or a busy machine, not for every dev build.
fn judge() -> Judge {
    if env!("MODULE_OPT_LEVEL") == "0" {
        Judge::dev_build()
    } else {
        Judge::from_machine(&Machine::sample())
    }
}

fn report(f: &Figures) {
    let (info, threads, usable) = (&f.python, f.threads, f.usable);
    let gil = if info.gil_enabled { "on" } else { "off" };
    figure(
        "interpreter",
        format!(
            "{} {} ({}), GIL {gil}, switch interval {} ms",
            info.implementation, info.version, info.executable, info.switch_interval_ms
        ),
    );
    figure(
        "the job",
        format!(
            "compute({N}) = sum(i * i for i in range(n)), every answer checked; best of {ROUNDS}"
        ),
    );
    let plural = if usable == 1 { "" } else { "s" };
    figure(
        "threads",
        format!("1, then {threads} sharing the same calls ({usable} usable core{plural})"),
    );
    for (name, m) in [
        ("pure Python", &f.pure),
        ("Rust, holding the GIL", &f.holding),
        ("Rust, releasing the GIL", &f.releasing),
    ] {
        figure(name, m.line(threads));
    }
    let (rust, python) = (Secs(f.holding.per_call), Secs(f.pure.per_call));
    figure(
        "a call, Rust vs Python",
        format!("{rust} vs {python}: {}", f.per_call),
    );
}

fn claims(f: &Figures) {
    let (pure, holding, threads) = (&f.pure, &f.holding, f.threads);
    let below = |name: &str, m: &Measured| {
        Evidence::new(
            m.speedup < 1.2,
            format!("{name} below 1.2x from threads"),
            format!("{:.2}x", m.speedup),
        )
    };
    takeaway_if(
        &below("pure-Python threads", pure),
        format!(
            "pure Python: {threads} threads {:.2}x: they take turns holding the GIL, one runs bytecode at a time",
            pure.speedup
        ),
    );
    let ratio = pure.per_call.as_secs_f64() / holding.per_call.as_secs_f64().max(1e-12);
    let faster = match &f.per_call {
        Verdict::NotDecided(why) => Evidence::new(
            false,
            "a run that can compare Rust with Python a call",
            format!("{ratio:.0}x apart"),
        )
        .because(why),
        _ => Evidence::faster(
            "Rust holding the GIL, a call",
            holding.per_call,
            "pure Python",
            pure.per_call,
            3.0,
        ),
    };
    takeaway_if(
        &faster.and(below("Rust holding the GIL", holding)),
        format!(
            "Rust holding the GIL: {ratio:.0}x faster a call, still {:.2}x from {threads} threads: no other thread runs until a call returns",
            holding.speedup
        ),
    );
    takeaway_if(
        &Evidence::scaling(f.releasing.speedup, threads).cpu(threads),
        format!(
            "Rust releasing the GIL (py.detach): {threads} Python threads computed at once ({:.2}x), which is how numpy and polars speed up plain threads",
            f.releasing.speedup
        ),
    );
}

/// Threads to run: every usable core, at least 2 (one core shows the claim failing, with
/// the reason), at most 8.
fn threads_for(usable: usize) -> usize {
    usable.clamp(2, 8)
}

/// The interpreter of `--python-exe PATH` (found by the runner), else `python3` or
/// `python` on `PATH`, if the module can load in it. Checked before anything runs.
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

/// The shared library cargo built from `release_gil.rs`: beside this binary (`cargo
/// build`, `cargo run`) or only in `deps/` (`cargo test`); the newer is this build's.
fn built_module(exe_dir: &Path) -> Option<PathBuf> {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    let file = format!("{DLL_PREFIX}python_extension{DLL_SUFFIX}");
    [exe_dir.join(&file), exe_dir.join("deps").join(&file)]
        .into_iter()
        .filter_map(|p| Some((p.metadata().and_then(|m| m.modified()).ok()?, p)))
        .max()
        .map(|(_, path)| path)
}

/// The file name Python imports it by (`import rust_cpu`); on macOS cargo builds a
/// `.dylib`, which Python loads under the `.so` name.
const MODULE_FILE: &str = if cfg!(windows) {
    "rust_cpu.pyd"
} else {
    "rust_cpu.abi3.so"
};

/// Copy the module into a fresh temporary folder, run the script with `threads` threads
/// and that folder as `--module-dir`, and read its JSON line.
fn run_driver(python: &Interpreter, threads: usize) -> anyhow::Result<Report> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let built = built_module(exe.parent().context("this binary has no folder")?).context(
        "the extension module is missing: it is this crate's library, built by `cargo build -p python-extension`",
    )?;
    let dir = tempfile::Builder::new()
        .prefix("python-extension-")
        .tempdir()
        .context("making a temporary folder")?;
    std::fs::copy(&built, dir.path().join(MODULE_FILE))
        .with_context(|| format!("copying {}", built.display()))?;
    let args = flags(&[
        ("--threads", &threads),
        ("--n", &N),
        ("--seconds", &SECONDS),
        ("--rounds", &ROUNDS),
        ("--module-dir", &dir.path().display()),
    ]);
    let line = DRIVER.run(python, &args)?;
    serde_json::from_value(line.into()).context("reading threads.py's JSON line")
}

/// The JSON line `threads.py` prints (its fields are documented in the script).
#[derive(Debug, Deserialize)]
struct Report {
    python: PythonInfo,
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
    /// The slowest one-thread round over the fastest.
    spread: f64,
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
    /// The job `name`, its answers checked against the closed form before any time counts.
    fn measured(&self, name: &str) -> anyhow::Result<Measured> {
        let job = self
            .jobs
            .iter()
            .find(|j| j.name == name)
            .with_context(|| format!("threads.py reported no job '{name}'"))?;
        ensure!(job.calls > 0, "{name}: no calls");
        ensure!(
            job.one_thread_s.len() == ROUNDS
                && job.threads_s.len() == ROUNDS
                && job.totals.len() == 2 * ROUNDS,
            "{name}: {ROUNDS} rounds asked, the times and totals do not match"
        );
        let expected = u128::from(job.calls) * sum_of_squares_exact(N);
        for total in &job.totals {
            let total: u128 = total
                .parse()
                .with_context(|| format!("{name}: total '{total}' is not a number"))?;
            ensure!(
                total == expected,
                "{name}: a run's answers summed to {total}, expected {expected}"
            );
        }
        let fold = |times: &[f64], f: fn(f64, f64) -> f64, from: f64| {
            Duration::from_secs_f64(times.iter().copied().fold(from, f).max(0.0))
        };
        let (one, many) = (
            fold(&job.one_thread_s, f64::min, f64::INFINITY),
            fold(&job.threads_s, f64::min, f64::INFINITY),
        );
        let slowest = fold(&job.one_thread_s, f64::max, 0.0);
        Ok(Measured {
            calls: job.calls,
            one,
            many,
            speedup: speedup(one, many),
            per_call: one / u32::try_from(job.calls).unwrap_or(u32::MAX),
            spread: slowest.as_secs_f64() / one.as_secs_f64().max(1e-12),
        })
    }
}

/// `sum(i * i for i in range(n))` exactly: (n - 1) n (2n - 1) / 6.
fn sum_of_squares_exact(n: u64) -> u128 {
    let n = u128::from(n);
    n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job whose rounds took 0.30, 0.25, 0.27 s on one thread and half that on threads.
    fn job(name: &str, calls: u64, total: u128) -> Job {
        Job {
            name: name.to_owned(),
            calls,
            one_thread_s: vec![0.30, 0.25, 0.27],
            threads_s: vec![0.2, 0.125, 0.13],
            totals: vec![total.to_string(); 2 * ROUNDS],
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
            jobs,
        }
    }

    #[test]
    fn right_answers_give_the_best_times() {
        let exact = sum_of_squares_exact(N);
        assert_eq!(exact, 333_332_833_333_500_000);
        let r = report(vec![job(RELEASING, 10, 10 * exact)]);
        let m = r.measured(RELEASING).unwrap();
        assert_eq!(m.one, Duration::from_millis(250));
        assert_eq!(m.many, Duration::from_millis(125));
        assert!((m.speedup - 2.0).abs() < 1e-9);
        assert_eq!(m.per_call, Duration::from_millis(25));
        assert!((m.spread - 1.2).abs() < 1e-9, "{}", m.spread);
    }

    #[test]
    fn a_wrong_answer_or_a_missing_job_is_an_error() {
        let exact = sum_of_squares_exact(N);
        let mut wrong = job(PURE, 10, 10 * exact);
        wrong.totals[3] = (10 * exact + 1).to_string();
        let r = report(vec![wrong]);
        let e = r.measured(PURE).unwrap_err().to_string();
        assert!(e.contains(&format!("expected {}", 10 * exact)), "{e}");
        assert!(r.measured(HOLDING).is_err());
        let mut short = job(HOLDING, 10, 10 * exact);
        short.threads_s.pop();
        assert!(report(vec![short]).measured(HOLDING).is_err());
    }

    #[test]
    fn the_json_line_parses() {
        let total = (2 * sum_of_squares_exact(N)).to_string();
        let line = format!(
            r#"{{"model": "threading.Thread x 2", "job": {{}}, "python": {{"version": "3.11.7", "implementation": "CPython", "executable": "/x/python3", "gil_enabled": true, "switch_interval_ms": 5.0}}, "jobs": [{{"name": "python", "calls": 2, "one_thread_s": [0.1, 0.1, 0.1], "threads_s": [0.1, 0.1, 0.1], "totals": ["{total}", "{total}", "{total}", "{total}", "{total}", "{total}"]}}]}}"#
        );
        let r: Report = serde_json::from_str(&line).unwrap();
        assert_eq!(r.jobs[0].calls, 2);
        assert!(r.measured(PURE).is_ok());
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
    fn the_module_is_found_and_named_for_python() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(built_module(dir.path()), None);
        let file = format!(
            "{}python_extension{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        std::fs::create_dir(dir.path().join("deps")).unwrap();
        std::fs::write(dir.path().join("deps").join(&file), "").unwrap();
        assert_eq!(
            built_module(dir.path()),
            Some(dir.path().join("deps").join(&file))
        );
        assert!(MODULE_FILE.starts_with("rust_cpu."), "{MODULE_FILE}");
    }
}
