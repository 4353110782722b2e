//! Python beside Rust, measured in the same run: `DEMO SECTION --python`.
//!
//! A section whose lesson is a figure can have a *Python twin*: a short standard-library
//! Python file beside it (`CRATE/python/NAME.py`) that does the same job on the same inputs
//! and prints its figures as one JSON line (`{"elapsed_s": 2.41, "peak_bytes": 149000000}`):
//! seconds in fields ending `_s`, memory in bytes in fields ending `_bytes`. The
//! section declares it below its marker and lists it on its `Section`:
//!
//! ```text
//! const TWIN: Twin = Twin::new("tasks.py", include_str!("../python/tasks.py"), &["elapsed_s", "peak_mb"]);
//! pub const SECTION: Section = Section::new(...).twin(&TWIN);
//! ...
//! TWIN.compare(&flags(&[("--tasks", &100_000)]), &[Pair::secs("100,000 tasks", "elapsed_s", rust_secs), ...])?;
//! ```
//!
//! `compare` does nothing unless the run was started with `--python` (or `--python-exe
//! PATH`); then it runs the twin with the chosen interpreter and prints the two columns,
//! Rust and Python, with who is ahead by how much. The runner finds the interpreter before
//! any section runs: none found is one line and exit code 2. `--python` with no section
//! names runs the sections that have a twin.
//!
//! The script is embedded in the binary (`include_str!`) and written to the run's private
//! `TMPDIR` when it runs, so the binary works wherever it is, and a `multiprocessing` twin
//! with the spawn start method (macOS, Windows) can re-import it by path.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use crate::timing::{Bytes, Secs};

/// A Python interpreter that was found and asked what it is.
#[derive(Clone, Debug)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// A free-threaded build (`python3.13t`) running without the GIL.
    pub free_threaded: bool,
    /// A free-threaded build that has the GIL switched back on (`PYTHON_GIL=1`).
    pub free_threaded_build_with_gil: bool,
}

static CHOSEN: OnceLock<Interpreter> = OnceLock::new();

/// The interpreter of this run when it was started with `--python` or `--python-exe`.
pub fn chosen() -> Option<&'static Interpreter> {
    CHOSEN.get()
}

/// Set by the runner once the interpreter is found (the first call wins).
pub(crate) fn choose(interpreter: Interpreter) {
    let _ = CHOSEN.set(interpreter);
}

/// Asks the interpreter what it is; one JSON line back.
const PROBE: &str = "import json, sys, sysconfig\n\
ft = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))\n\
gil = getattr(sys, '_is_gil_enabled', lambda: True)()\n\
print(json.dumps({'version': sys.version.split()[0], 'major': sys.version_info[0], 'ft': ft, 'gil': gil}))";

/// No usable interpreter: the one line the runner prints (exit code 2).
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// The interpreter at `exe`, or the first of `python3`, `python` on `PATH` that is Python 3.
pub fn find(exe: Option<&Path>) -> Result<Interpreter, NotFound> {
    if let Some(exe) = exe {
        return probe(exe).map_err(|e| {
            NotFound(format!(
                "--python-exe {}: not a usable Python 3 interpreter ({e})",
                exe.display()
            ))
        });
    }
    for name in ["python3", "python"] {
        if let Ok(found) = probe(Path::new(name)) {
            return Ok(found);
        }
    }
    Err(NotFound(
        "--python: no Python 3 interpreter found (tried python3 and python on PATH); install one or point to it with --python-exe PATH".to_owned(),
    ))
}

/// How long the interpreter may take to say what it is.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

fn probe(exe: &Path) -> anyhow::Result<Interpreter> {
    let mut cmd = Command::new(exe);
    cmd.args(["-c", PROBE]).stdin(Stdio::null());
    let out = output_within(cmd, PROBE_LIMIT)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_context(|| format!("no answer within {}: killed it", Secs(PROBE_LIMIT)))?;
    if !out.status.success() {
        bail!("it exited with {}", out.status);
    }
    let map = last_json_object(&String::from_utf8_lossy(&out.stdout))?;
    if map.get("major").and_then(Value::as_u64) != Some(3) {
        bail!("it is not Python 3");
    }
    let ft = map.get("ft").and_then(Value::as_bool).unwrap_or(false);
    let gil = map.get("gil").and_then(Value::as_bool).unwrap_or(true);
    Ok(Interpreter {
        path: exe.to_path_buf(),
        version: map
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("3")
            .to_owned(),
        free_threaded: ft && !gil,
        free_threaded_build_with_gil: ft && gil,
    })
}

/// An interpreter for tests, or `None` with a line on stderr saying the test skips its
/// Python part and why.
pub fn for_tests() -> Option<Interpreter> {
    match find(None) {
        Ok(found) => Some(found),
        Err(e) => {
            eprintln!("skipped the Python part: {e}");
            None
        }
    }
}

impl Interpreter {
    /// `Python 3.11.7`, `Python 3.13.1 free-threaded`.
    pub fn label(&self) -> String {
        if self.free_threaded {
            format!("Python {} free-threaded", self.version)
        } else if self.free_threaded_build_with_gil {
            format!("Python {} (free-threaded build, GIL on)", self.version)
        } else {
            format!("Python {}", self.version)
        }
    }

    /// The interpreter as a command: no `.pyc` files left behind, output not buffered.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Write `source` to a fresh folder in the temporary folder as `file_name`, run it
    /// with `args` for at most `limit`, and parse the last line of its standard output as a
    /// JSON object. A script that fails is an error naming the file, its exit status and
    /// its last line on stderr; one that runs past `limit` (or is stopped) is killed.
    ///
    /// The folder also holds a `sitecustomize.py` (on `PYTHONPATH`) that ends the
    /// interpreter within a moment when its parent is gone: a demo killed by a signal
    /// leaves no twin running.
    pub fn run_json(
        &self,
        file_name: &str,
        source: &str,
        args: &[String],
        limit: Duration,
    ) -> anyhow::Result<Map<String, Value>> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "python-twin-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        // Not `create_dir_all`: a temporary folder that does not exist is the user's to fix.
        std::fs::create_dir(&dir)
            .with_context(|| format!("creating {} for {file_name}", dir.display()))?;
        let script = dir.join(file_name);
        let result = (|| {
            std::fs::write(&script, source)
                .with_context(|| format!("writing {}", script.display()))?;
            std::fs::write(dir.join("sitecustomize.py"), WATCH_PARENT)
                .with_context(|| format!("writing {}", dir.display()))?;
            let mut cmd = self.command();
            cmd.arg(&script)
                .args(args)
                .current_dir(&dir)
                .env("PYTHONPATH", &dir)
                .env("DEMO_TWIN_PARENT", std::process::id().to_string());
            let out = output_within(cmd, limit)
                .with_context(|| format!("running {} {file_name}", self.path.display()))?;
            let Some(out) = out else {
                bail!(
                    "{file_name}: no answer within {}: stopped or stuck; killed it",
                    Secs(limit)
                );
            };
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
                bail!(
                    "{file_name} failed ({}): {}",
                    out.status,
                    last.unwrap_or("no message")
                );
            }
            last_json_object(&String::from_utf8_lossy(&out.stdout))
                .with_context(|| format!("{file_name} printed no JSON line"))
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}

/// Imported by every twin's interpreter at start-up (`sitecustomize`, found on
/// `PYTHONPATH`): a daemon thread that ends the process once the demo process named in
/// `DEMO_TWIN_PARENT` is no longer among its ancestors (the demo was killed). An ancestor,
/// not the parent: a launcher such as pyenv's shim may stand between them.
const WATCH_PARENT: &str = r#"import os, threading, time

def _below(target):
    pid = os.getpid()
    for _ in range(64):
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return True  # cannot tell: keep running
        if pid == target:
            return True
        if pid <= 1:
            return False
    return True

def _watch(target):
    while _below(target):
        time.sleep(0.2)
    os._exit(1)

_target = os.environ.get("DEMO_TWIN_PARENT", "")
if _target.isdigit():
    threading.Thread(target=_watch, args=(int(_target),), name="watch-demo", daemon=True).start()
"#;

/// `cmd.output()`, bounded: `None` when the process ran past `limit` (counted while this
/// process runs, so Ctrl-Z then `fg` is not a timeout) and was killed.
fn output_within(
    mut cmd: Command,
    limit: Duration,
) -> std::io::Result<Option<std::process::Output>> {
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = crate::child::wait_or_kill(&mut child, limit)?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(status.map(|status| std::process::Output {
        status,
        stdout,
        stderr,
    }))
}

fn last_json_object(stdout: &str) -> anyhow::Result<Map<String, Value>> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("no output")?;
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => bail!("the last line is JSON but not an object: {line}"),
        Err(e) => bail!("the last line is not JSON ({e}): {line}"),
    }
}

/// A twin's command line from flag and value pairs:
/// `flags(&[("--tasks", &100_000), ("--sleep", &1.0)])` is `--tasks 100000 --sleep 1`.
pub fn flags(pairs: &[(&str, &dyn std::fmt::Display)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, value)| [(*flag).to_owned(), value.to_string()])
        .collect()
}

/// A section's Python twin: the file name, its source (embedded), and the fields its JSON
/// line always has.
///
/// Besides its figures, the JSON line must carry:
/// - `"model"`: the Python model that ran, in words a reader can look up
///   (`"asyncio.gather"`, `"urllib + ThreadPoolExecutor(100), a connection per request"`);
///   `"models": {"field": "..."}` names it per figure where the figures differ;
/// - `"job"`: the sizes it ran, one key per flag it was given (`--tasks 10` is
///   `"tasks": 10`, `--per-task` is `"per_task"`): checked against the flags, so a twin
///   that ignores a size cannot be compared as the same job.
///
/// It may add `"FIELD_spread"`, the largest over the smallest of its repeats of a figure:
/// a verdict then needs a ratio beyond it.
#[derive(Debug)]
pub struct Twin {
    pub file: &'static str,
    pub source: &'static str,
    pub fields: &'static [&'static str],
    /// The longest the script may take before it is killed and the section fails.
    pub limit: Duration,
}

impl Twin {
    pub const fn new(
        file: &'static str,
        source: &'static str,
        fields: &'static [&'static str],
    ) -> Self {
        Twin {
            file,
            source,
            fields,
            limit: Duration::from_secs(120),
        }
    }

    /// A twin that may take longer (or must take less) than the default 120 s.
    pub const fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// With `--python`: run the twin with `args`, check it printed its fields and ran the
    /// job it was given, and print Rust's figures beside Python's. Without it: nothing.
    /// Call it after the section has printed its own figures.
    pub fn compare(&self, args: &[String], pairs: &[Pair]) -> anyhow::Result<()> {
        let Some(python) = chosen() else {
            return Ok(());
        };
        let figures = self.run(python, args)?;
        let judge = Judge::now(pairs.iter().any(|p| p.cpu || p.timer));
        print!(
            "{}",
            side_by_side(&python.label(), self.file, pairs, &figures, &judge)?
        );
        Ok(())
    }

    /// Run the twin and check that its JSON line has every documented field as a number,
    /// its model, and the job it was given.
    pub fn run(&self, python: &Interpreter, args: &[String]) -> anyhow::Result<Map<String, Value>> {
        let figures = python.run_json(self.file, self.source, args, self.limit)?;
        for field in self.fields {
            if figures.get(*field).and_then(Value::as_f64).is_none() {
                bail!(
                    "{} printed no number '{field}' (its documented fields: {})",
                    self.file,
                    self.fields.join(", ")
                );
            }
        }
        if !figures.get("model").is_some_and(Value::is_string) {
            bail!(
                "{} printed no \"model\": the Python model it ran, in words",
                self.file
            );
        }
        check_job(self.file, args, &figures)?;
        Ok(figures)
    }

    /// For tests: run the twin with small `args` when an interpreter is found, panic if it
    /// fails, lacks a documented field or echoes another job, and return its figures;
    /// `None` (with a line on stderr) when there is no Python on this machine.
    pub fn run_for_test(&self, args: &[&str]) -> Option<Map<String, Value>> {
        let python = for_tests()?;
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        match self.run(&python, &args) {
            Ok(figures) => Some(figures),
            Err(e) => panic!("{e:#}"),
        }
    }
}

/// The twin's `"job"` must echo every `--flag value` it was given.
fn check_job(file: &str, args: &[String], figures: &Map<String, Value>) -> anyhow::Result<()> {
    let job = figures.get("job").and_then(Value::as_object);
    let Some(job) = job else {
        bail!("{file} printed no \"job\": the sizes it ran, one key per flag");
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let Some(name) = flag.strip_prefix("--") else {
            continue;
        };
        let key = name.replace('-', "_");
        let asked = rest.next().map_or("", String::as_str);
        let ran = job.get(&key);
        let same = match (ran, asked.parse::<f64>()) {
            (Some(Value::Number(n)), Ok(a)) => n
                .as_f64()
                .is_some_and(|n| (n - a).abs() <= 1e-9 * a.abs().max(1.0)),
            (Some(Value::String(s)), _) => s == asked,
            (Some(Value::Bool(b)), _) => b.to_string() == asked,
            _ => false,
        };
        if !same {
            let ran = ran.map_or("nothing".to_owned(), Value::to_string);
            bail!(
                "{file} was asked for {flag} {asked} and says it ran {key} = {ran}: not the same job"
            );
        }
    }
    Ok(())
}

/// What a figure measures, for its unit and for which side is ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds: less is better.
    Secs,
    /// Bytes of memory (a peak, the cost of one task): less is better.
    Bytes,
    /// A speedup over one worker (`1.95x`): more is better.
    Speedup,
    /// Things per second: more is better.
    PerSec,
    /// A count that should be the same on both sides (answers, lost updates).
    Count,
}

/// One row of the side-by-side table: Rust's figure, and the twin's JSON field to put
/// beside it.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The figure, named for both sides (`10 waits of 0.5 s, gathered`); the Python model
    /// comes from the twin.
    pub label: String,
    pub field: &'static str,
    pub rust: f64,
    pub unit: Unit,
    /// The two sides ran jobs of different sizes (the label says which): both figures are
    /// shown, and no side is said to be ahead.
    pub different_jobs: bool,
    /// The figure is CPU work on the Rust side: a dev build (Rust unoptimised) or a busy
    /// machine holds the verdict.
    pub cpu: bool,
    /// The figure is timers and wake-ups (sleeps overlapping): a busy machine holds the
    /// verdict, a dev build does not.
    pub timer: bool,
    /// The largest over the smallest of Rust's repeats of this figure (1.0: one run).
    pub spread: f64,
    /// The Python package the twin needs for this figure, when it is optional: a twin
    /// without it leaves the field out and says so in `"missing"` (see [`Pair::if_installed`]).
    pub package: Option<&'static str>,
}

impl Pair {
    pub fn new(label: impl Into<String>, field: &'static str, rust: f64, unit: Unit) -> Self {
        Pair {
            label: label.into(),
            field,
            rust,
            unit,
            different_jobs: false,
            cpu: false,
            timer: false,
            spread: 1.0,
            package: None,
        }
    }

    /// The twin prints this figure only when the Python package `package` is installed.
    /// Without it the twin leaves the field out and names the package in its `"missing"`
    /// object with the command that installs it (`"missing": {"asyncpg": "pip install
    /// asyncpg"}`); the row then says `not installed: pip install asyncpg` instead of
    /// failing the table. A field that is missing without that note is still an error.
    pub fn if_installed(mut self, package: &'static str) -> Self {
        self.package = Some(package);
        self
    }

    /// Rust and Python ran different sizes for this figure (a time that grows with the
    /// size): print both, compare neither.
    pub fn different_jobs(mut self) -> Self {
        self.different_jobs = true;
        self
    }

    /// The Rust side of this figure is CPU work: in a dev build, or on a busy machine, no
    /// side is said to be ahead.
    pub fn cpu(mut self) -> Self {
        self.cpu = true;
        self
    }

    /// The figure is timers and wake-ups (how well sleeps overlap): on a busy machine the
    /// scheduler's delays decide it, so no side is said to be ahead.
    pub fn timer(mut self) -> Self {
        self.timer = true;
        self
    }

    /// Rust's repeats of this figure ranged over `spread` (largest / smallest): a verdict
    /// needs a ratio beyond it.
    pub fn spread(mut self, spread: f64) -> Self {
        self.spread = spread.max(1.0);
        self
    }

    pub fn secs(label: impl Into<String>, field: &'static str, rust: f64) -> Self {
        Pair::new(label, field, rust, Unit::Secs)
    }
    pub fn bytes(label: impl Into<String>, field: &'static str, rust: f64) -> Self {
        Pair::new(label, field, rust, Unit::Bytes)
    }
    pub fn speedup(label: impl Into<String>, field: &'static str, rust: f64) -> Self {
        Pair::new(label, field, rust, Unit::Speedup)
    }
    pub fn per_sec(label: impl Into<String>, field: &'static str, rust: f64) -> Self {
        Pair::new(label, field, rust, Unit::PerSec)
    }
    pub fn count(label: impl Into<String>, field: &'static str, rust: f64) -> Self {
        Pair::new(label, field, rust, Unit::Count)
    }
}

/// A figure with its unit, as the tables print it.
pub fn show(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Secs => Secs(Duration::from_secs_f64(value.max(0.0))).to_string(),
        Unit::Bytes => Bytes(value.max(0.0) as u64).to_string(),
        Unit::Speedup => format!("{value:.2}x"),
        Unit::PerSec if value >= 10_000.0 => format!("{:.0}k/s", value / 1e3),
        Unit::PerSec => format!("{value:.0}/s"),
        Unit::Count => format!("{value:.0}"),
    }
}

/// Within this ratio neither side is said to be ahead, even with no repeats to show the
/// noise: run-to-run noise is about as large.
pub const EVEN: f64 = 1.05;

/// Who is ahead, held to the same evidence as a takeaway.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// `Rust 2.19x faster`, `Python uses 3.0x as much`.
    Ahead(String),
    /// Within [`EVEN`]: neither.
    Even(f64),
    /// Counts: the same on both sides.
    Same,
    /// Counts that differ, by this much.
    Differ(f64),
    /// The sides ran different sizes.
    NotCompared,
    /// The run cannot support a verdict: why (`a dev build: ...`, `a busy machine: ...`,
    /// `1.12x apart, within the repeats' spread of 1.25x`).
    NotDecided(String),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Ahead(text) => f.write_str(text),
            Verdict::Even(r) => write!(f, "even ({r:.2}x)"),
            Verdict::Same => f.write_str("same"),
            Verdict::Differ(d) => write!(f, "differ by {d:.0}"),
            Verdict::NotCompared => f.write_str("different sizes: not compared"),
            Verdict::NotDecided(why) => write!(f, "not decided in this run: {why}"),
        }
    }
}

/// What a verdict of who is ahead needs from this run: a release build for CPU figures,
/// and a machine free enough for CPU and timer figures. Read once per table.
#[derive(Clone, Debug, Default)]
pub struct Judge {
    /// Why the build cannot compare CPU figures (a dev build).
    build_held: Option<String>,
    /// Why the machine cannot compare CPU or timer figures just now (busy, pinned).
    machine_held: Option<String>,
}

impl Judge {
    /// This run's judge: a dev build holds CPU verdicts; with `sensitive_rows` (CPU or
    /// timer figures), a sample of the machine too (others' CPU, not the load average, so
    /// this run's own earlier work does not count against it).
    pub fn now(sensitive_rows: bool) -> Judge {
        let mut judge = if cfg!(debug_assertions) {
            Judge::dev_build()
        } else {
            Judge::free()
        };
        if sensitive_rows {
            judge.machine_held = crate::claim::Machine::sample().cpu_trouble();
        }
        judge
    }

    /// A dev build: CPU figures of unoptimised Rust say nothing about Rust.
    pub fn dev_build() -> Judge {
        Judge {
            build_held: Some("a dev build runs Rust unoptimised; run with --release".to_owned()),
            machine_held: None,
        }
    }

    /// A release build on `machine`: a busy machine or fewer usable cores hold CPU and
    /// timer verdicts.
    pub fn from_machine(machine: &crate::claim::Machine) -> Judge {
        Judge {
            build_held: None,
            machine_held: machine.cpu_trouble(),
        }
    }

    /// Nothing holds a verdict (for tests, and for figures that need neither).
    pub fn free() -> Judge {
        Judge::default()
    }

    /// Why a figure that is CPU work (`cpu`) or timers (`timer`) cannot be compared in this
    /// run, if it cannot.
    pub fn held(&self, cpu: bool, timer: bool) -> Option<&str> {
        let build = self.build_held.as_deref().filter(|_| cpu);
        let machine = self.machine_held.as_deref().filter(|_| cpu || timer);
        build.or(machine)
    }

    /// Who is ahead: `rust` against `python` in `unit`, a CPU figure or not, each side's
    /// repeats spread over `spread` (largest / smallest, 1.0 for one run).
    pub fn verdict(&self, rust: f64, python: f64, unit: Unit, cpu: bool, spread: f64) -> Verdict {
        self.verdict_of(rust, python, unit, self.held(cpu, false), spread)
    }

    /// [`Judge::verdict`] for a [`Pair`] (its CPU and timer marks) and the wider spread.
    pub fn verdict_for(&self, pair: &Pair, python: f64, spread: f64) -> Verdict {
        if pair.different_jobs {
            return Verdict::NotCompared;
        }
        let held = self.held(pair.cpu, pair.timer);
        self.verdict_of(pair.rust, python, pair.unit, held, spread)
    }

    fn verdict_of(
        &self,
        rust: f64,
        python: f64,
        unit: Unit,
        held: Option<&str>,
        spread: f64,
    ) -> Verdict {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        if unit == Unit::Count {
            return if rust == python {
                Verdict::Same
            } else {
                Verdict::Differ((rust - python).abs())
            };
        }
        let (hi, lo) = (rust.max(python), rust.min(python));
        let apart = ratio(hi, lo);
        if let Some(why) = held {
            return Verdict::NotDecided(why.to_owned());
        }
        if apart < EVEN {
            return Verdict::Even(apart);
        }
        if apart < spread {
            return Verdict::NotDecided(format!(
                "{apart:.2}x apart, within the repeats' spread of {spread:.2}x"
            ));
        }
        let text = match unit {
            Unit::Secs if python >= rust => format!("Rust {:.2}x faster", ratio(python, rust)),
            Unit::Secs => format!("Python {:.2}x faster", ratio(rust, python)),
            Unit::Bytes if python >= rust => {
                format!("Python uses {:.1}x as much", ratio(python, rust))
            }
            Unit::Bytes => format!("Rust uses {:.1}x as much", ratio(rust, python)),
            _ if rust >= python => format!("Rust {:.2}x higher", ratio(rust, python)),
            _ => format!("Python {:.2}x higher", ratio(python, rust)),
        };
        Verdict::Ahead(text)
    }
}

/// The Python model behind `field`: the twin's `"models"` entry for it, else its `"model"`.
fn model_of<'a>(figures: &'a Map<String, Value>, field: &str) -> &'a str {
    figures
        .get("models")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .or_else(|| figures.get("model").and_then(Value::as_str))
        .unwrap_or("(not named)")
}

/// The pip command for `pair`'s package when the twin says it is not installed (its
/// `"missing"` object), for a pair marked [`Pair::if_installed`].
fn not_installed<'a>(figures: &'a Map<String, Value>, pair: &Pair) -> Option<&'a str> {
    let missing = figures.get("missing")?.get(pair.package?)?;
    missing.as_str()
}

/// The printed table: a heading, then two lines a pair (the figures and the verdict; the
/// Python model it ran). A pair whose field the twin did not print is an error, unless its
/// package is optional and the twin says it is not installed (one line saying so).
fn side_by_side(
    label: &str,
    file: &str,
    pairs: &[Pair],
    figures: &Map<String, Value>,
    judge: &Judge,
) -> anyhow::Result<String> {
    let width = pairs
        .iter()
        .map(|p| p.label.chars().count() + 4)
        .max()
        .unwrap_or(0)
        .clamp(24, 34);
    let job = if pairs.iter().any(|p| p.different_jobs) {
        "the same job except where the sizes differ"
    } else {
        "same job"
    };
    let mut out = format!(
        "  side by side with python/{file} ({label}, {job}, this run):\n  {:<width$} {:>10} {:>10}\n",
        "", "Rust", "Python"
    );
    for pair in pairs {
        let Some(python) = figures.get(pair.field).and_then(Value::as_f64) else {
            let pip = not_installed(figures, pair)
                .with_context(|| format!("{file} printed no number '{}'", pair.field))?;
            out.push_str(&format!(
                "  {:.<width$} {:>10} {:>10}   not installed: {pip}\n",
                format!("{} ", pair.label),
                show(pair.rust, pair.unit),
                "-",
            ));
            continue;
        };
        let python_spread = figures
            .get(&format!("{}_spread", pair.field))
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        let verdict = judge.verdict_for(pair, python, pair.spread.max(python_spread));
        out.push_str(&format!(
            "  {:.<width$} {:>10} {:>10}   {verdict}\n",
            format!("{} ", pair.label),
            show(pair.rust, pair.unit),
            show(python, pair.unit),
        ));
        out.push_str(&format!(
            "      Python: {}\n",
            model_of(figures, pair.field)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: &str) -> Map<String, Value> {
        last_json_object(json).unwrap()
    }

    #[test]
    fn the_last_line_is_the_json_object() {
        let m = map("warming up\n{\"elapsed_s\": 2.5}\n\n");
        assert_eq!(m["elapsed_s"], 2.5);
        assert!(last_json_object("[1, 2]").is_err());
        assert!(last_json_object("done").is_err());
        assert!(last_json_object("").is_err());
    }

    const FIGURES: &str = r#"{"elapsed_s": 2.4, "peak_bytes": 150000000, "speedup": 1.0, "lost": 0, "model": "asyncio.gather", "models": {"speedup": "2 threading.Thread"}, "job": {}}"#;

    #[test]
    fn the_table_says_who_is_ahead_by_how_much_and_names_the_python_model() {
        let table = side_by_side(
            "Python 3.11.7",
            "tasks.py",
            &[
                Pair::secs("100,000 tasks", "elapsed_s", 1.2),
                Pair::bytes("peak memory", "peak_bytes", 50e6),
                Pair::speedup("2 threads", "speedup", 1.9),
                Pair::count("lost updates", "lost", 0.0),
                Pair::secs("job (Rust n = 1e9, Python 3e7)", "elapsed_s", 0.5).different_jobs(),
            ],
            &map(FIGURES),
            &Judge::free(),
        )
        .unwrap();
        assert!(
            table.contains(
                "python/tasks.py (Python 3.11.7, the same job except where the sizes differ"
            ),
            "{table}"
        );
        assert!(table.contains("Rust 2.00x faster"), "{table}");
        assert!(table.contains("Python uses 3.0x as much"), "{table}");
        assert!(table.contains("Rust 1.90x higher"), "{table}");
        assert!(table.contains("same"), "{table}");
        assert!(table.contains("different sizes: not compared"), "{table}");
        assert!(
            table.contains("1.200 s") && table.contains("2.400 s"),
            "{table}"
        );
        let models: Vec<&str> = table.lines().filter(|l| l.contains("Python: ")).collect();
        assert_eq!(models.len(), 5, "every row names its Python model: {table}");
        assert!(models[0].ends_with("Python: asyncio.gather"), "{table}");
        assert!(models[2].ends_with("Python: 2 threading.Thread"), "{table}");
    }

    #[test]
    fn python_ahead_is_said_too() {
        let j = Judge::free();
        let v = |r, p, u| j.verdict(r, p, u, false, 1.0).to_string();
        assert_eq!(v(2.0, 1.0, Unit::Secs), "Python 2.00x faster");
        assert_eq!(v(10.0, 20.0, Unit::PerSec), "Python 2.00x higher");
        assert_eq!(v(5.0, 3.0, Unit::Count), "differ by 2");
        assert_eq!(v(0.502, 0.501, Unit::Secs), "even (1.00x)");
        assert_eq!(v(10.0, 10.0, Unit::Speedup), "even (1.00x)");
    }

    #[test]
    fn a_cpu_row_is_not_decided_in_a_dev_build_or_on_a_busy_machine() {
        let dev = Judge::dev_build().verdict(0.88, 1.19, Unit::Speedup, true, 1.0);
        assert_eq!(
            dev.to_string(),
            "not decided in this run: a dev build runs Rust unoptimised; run with --release"
        );
        let busy = crate::claim::Machine {
            load_1m: Some(4.6),
            usable_cores: 2,
            online_cores: Some(2),
            others_busy: Some(1.8),
        };
        let held = Judge::from_machine(&busy).verdict(0.88, 1.19, Unit::Speedup, true, 1.0);
        let text = held.to_string();
        assert!(
            text.starts_with(
                "not decided in this run: a busy machine: other processes using 1.8 of 2 cores"
            ),
            "{text}"
        );
        // A figure that is not CPU work is judged as usual on the same machine.
        let wait = Judge::from_machine(&busy).verdict(0.5, 1.0, Unit::Secs, false, 1.0);
        assert_eq!(wait.to_string(), "Rust 2.00x faster");
        let pinned = crate::claim::Machine {
            usable_cores: 1,
            others_busy: Some(0.0),
            ..busy
        };
        let held = Judge::from_machine(&pinned).verdict(1.0, 2.0, Unit::Secs, true, 1.0);
        assert!(
            held.to_string()
                .contains("may use 1 of the machine's 2 cores"),
            "{held}"
        );
    }

    #[test]
    fn a_timer_row_is_held_on_a_busy_machine_but_not_in_a_dev_build() {
        let row = Pair::speedup("waits overlap", "io_speedup", 1.9).timer();
        assert_eq!(
            Judge::dev_build().verdict_for(&row, 1.2, 1.0).to_string(),
            "Rust 1.58x higher"
        );
        let busy = crate::claim::Machine {
            load_1m: Some(4.0),
            usable_cores: 2,
            online_cores: Some(2),
            others_busy: Some(1.5),
        };
        let held = Judge::from_machine(&busy).verdict_for(&row, 1.2, 1.0);
        assert!(
            held.to_string()
                .starts_with("not decided in this run: a busy machine"),
            "{held}"
        );
    }

    #[test]
    fn a_ratio_within_the_repeats_spread_is_not_decided() {
        let j = Judge::free();
        let v = j.verdict(1.0, 1.12, Unit::Secs, false, 1.25);
        assert_eq!(
            v.to_string(),
            "not decided in this run: 1.12x apart, within the repeats' spread of 1.25x"
        );
        assert_eq!(
            j.verdict(1.0, 1.5, Unit::Secs, false, 1.25).to_string(),
            "Rust 1.50x faster"
        );
        // The wider of the two sides' spreads counts: the twin's `FIELD_spread`.
        let figures = map(r#"{"t_s": 1.12, "t_s_spread": 1.3, "model": "m", "job": {}}"#);
        let table =
            side_by_side("P", "t.py", &[Pair::secs("t", "t_s", 1.0)], &figures, &j).unwrap();
        assert!(
            table.contains("within the repeats' spread of 1.30x"),
            "{table}"
        );
    }

    #[test]
    fn the_job_echo_must_match_the_flags() {
        let asked = flags(&[("--tasks", &10), ("--wait", &0.5), ("--per-task", &"x")]);
        let ok = map(r#"{"job": {"tasks": 10, "wait": 0.5, "per_task": "x"}}"#);
        check_job("t.py", &asked, &ok).unwrap();
        let other = map(r#"{"job": {"tasks": 3, "wait": 0.5, "per_task": "x"}}"#);
        let e = check_job("t.py", &asked, &other).unwrap_err().to_string();
        assert_eq!(
            e,
            "t.py was asked for --tasks 10 and says it ran tasks = 3: not the same job"
        );
        let missing = map(r#"{"job": {"tasks": 10, "wait": 0.5}}"#);
        assert!(check_job("t.py", &asked, &missing).is_err());
        assert!(check_job("t.py", &asked, &map(r#"{"x": 1}"#)).is_err());
    }

    #[test]
    fn a_missing_field_is_an_error_naming_it() {
        let e = side_by_side(
            "Python 3",
            "gather.py",
            &[Pair::secs("gather", "elapsed_s", 1.0)],
            &map(r#"{"other": 1}"#),
            &Judge::free(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("gather.py printed no number 'elapsed_s'")
        );
    }

    #[test]
    fn an_optional_row_says_its_package_is_not_installed() {
        let figures = map(
            r#"{"threads_qps": 900, "model": "psycopg", "missing": {"asyncpg": "pip install asyncpg"}, "job": {}}"#,
        );
        let pairs = [
            Pair::per_sec("threads", "threads_qps", 1000.0).if_installed("psycopg"),
            Pair::per_sec("async pool", "pool_qps", 1100.0).if_installed("asyncpg"),
        ];
        let table = side_by_side("P", "db.py", &pairs, &figures, &Judge::free()).unwrap();
        let rows: Vec<&str> = table.lines().collect();
        assert!(rows[2].ends_with("Rust 1.11x higher"), "{table}");
        assert!(
            rows[4].contains("1100/s") && rows[4].ends_with("not installed: pip install asyncpg"),
            "{table}"
        );
        assert_eq!(
            rows.len(),
            5,
            "no Python model line for a row that did not run: {table}"
        );
        // Left out without saying why, or not marked optional: still an error.
        let silent = map(r#"{"threads_qps": 900, "model": "m", "job": {}}"#);
        assert!(side_by_side("P", "db.py", &pairs, &silent, &Judge::free()).is_err());
        let plain = [Pair::per_sec("async pool", "pool_qps", 1100.0)];
        assert!(side_by_side("P", "db.py", &plain, &figures, &Judge::free()).is_err());
    }

    #[test]
    fn a_missing_interpreter_is_one_line_naming_the_way_out() {
        let e = find(Some(Path::new("/nonexistent/python3"))).unwrap_err();
        assert!(e.0.starts_with("--python-exe /nonexistent/python3: not a usable"));
        assert!(!e.0.contains('\n'));
    }

    #[test]
    fn a_twin_runs_and_its_fields_are_checked() {
        const OK: Twin = Twin::new(
            "ok.py",
            "import json, sys\nprint('noise')\nn = int(sys.argv[2])\nprint(json.dumps({'n': n, 'model': 'a loop', 'job': {'n': n}}))\n",
            &["n"],
        );
        const SILENT: Twin = Twin::new("silent.py", "print('{}')\n", &["n"]);
        const NO_MODEL: Twin =
            Twin::new("nomodel.py", "print('{\"n\": 1, \"job\": {}}')\n", &["n"]);
        const FAILS: Twin = Twin::new("fails.py", "raise SystemExit('bad size')\n", &[]);
        let Some(python) = for_tests() else { return };
        let figures = OK.run(&python, &flags(&[("--n", &7)])).unwrap();
        assert_eq!(figures["n"], 7);
        let e = SILENT.run(&python, &[]).unwrap_err().to_string();
        assert!(e.contains("silent.py printed no number 'n'"), "{e}");
        let e = NO_MODEL.run(&python, &[]).unwrap_err().to_string();
        assert!(e.contains("nomodel.py printed no \"model\""), "{e}");
        let e = format!("{:#}", FAILS.run(&python, &[]).unwrap_err());
        assert!(
            e.contains("fails.py failed") && e.contains("bad size"),
            "{e}"
        );
    }

    #[test]
    fn a_twin_past_its_limit_is_killed_and_named() {
        const SLOW: Twin = Twin::new("slow.py", "import time\ntime.sleep(30)\n", &[])
            .limit(Duration::from_millis(300));
        let Some(python) = for_tests() else { return };
        let e = format!("{:#}", SLOW.run(&python, &[]).unwrap_err());
        assert!(e.contains("slow.py: no answer within"), "{e}");
    }

    #[test]
    fn a_twin_ends_when_its_parent_is_gone() {
        // A shell that starts a twin in the background and exits at once: the twin's
        // parent is gone, and the watch in sitecustomize ends it within a moment.
        let Some(python) = for_tests() else { return };
        let dir = std::env::temp_dir().join(format!("watch-parent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sitecustomize.py"), WATCH_PARENT).unwrap();
        let marker = dir.join("still-running");
        let script = format!(
            "import time\nfor _ in range(100):\n    time.sleep(0.1)\nopen({:?}, 'w').close()\n",
            marker.display().to_string()
        );
        let shell = format!(
            "DEMO_TWIN_PARENT=$$ {} -c \"$0\" & echo $!; sleep 0.3",
            python.path.display()
        );
        let out = Command::new("sh")
            .args(["-c", &shell, &script])
            .env("PYTHONPATH", &dir)
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Gone, or a zombie waiting for whoever adopted it to reap it.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        let start = std::time::Instant::now();
        while alive() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "the orphaned twin {pid} is still running");
        assert!(!marker.exists(), "it ran to the end instead of stopping");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
