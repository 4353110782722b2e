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

fn probe(exe: &Path) -> anyhow::Result<Interpreter> {
    let out = Command::new(exe)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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

    /// Write `source` to a fresh temporary directory as `file_name`, run it with `args`,
    /// and parse the last line of its standard output as a JSON object. A script that
    /// fails is an error naming the file, its exit status and its last line on stderr.
    pub fn run_json(
        &self,
        file_name: &str,
        source: &str,
        args: &[String],
    ) -> anyhow::Result<Map<String, Value>> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "python-twin-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating {} for {file_name}", dir.display()))?;
        let script = dir.join(file_name);
        let result = (|| {
            std::fs::write(&script, source)
                .with_context(|| format!("writing {}", script.display()))?;
            let out = self
                .command()
                .arg(&script)
                .args(args)
                .current_dir(&dir)
                .output()
                .with_context(|| format!("running {} {file_name}", self.path.display()))?;
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
#[derive(Debug)]
pub struct Twin {
    pub file: &'static str,
    pub source: &'static str,
    pub fields: &'static [&'static str],
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
        }
    }

    /// With `--python`: run the twin with `args`, check it printed its fields, and print
    /// Rust's figures beside Python's. Without it: nothing. Call it after the section has
    /// printed its own figures.
    pub fn compare(&self, args: &[String], pairs: &[Pair]) -> anyhow::Result<()> {
        let Some(python) = chosen() else {
            return Ok(());
        };
        let figures = self.run(python, args)?;
        print!(
            "{}",
            side_by_side(&python.label(), self.file, pairs, &figures)?
        );
        Ok(())
    }

    /// Run the twin and check that its JSON line has every documented field as a number.
    pub fn run(&self, python: &Interpreter, args: &[String]) -> anyhow::Result<Map<String, Value>> {
        let figures = python.run_json(self.file, self.source, args)?;
        for field in self.fields {
            if figures.get(*field).and_then(Value::as_f64).is_none() {
                bail!(
                    "{} printed no number '{field}' (its documented fields: {})",
                    self.file,
                    self.fields.join(", ")
                );
            }
        }
        Ok(figures)
    }

    /// For tests: run the twin with small `args` when an interpreter is found, panic if it
    /// fails or lacks a documented field, and return its figures; `None` (with a line on
    /// stderr) when there is no Python on this machine.
    pub fn run_for_test(&self, args: &[&str]) -> Option<Map<String, Value>> {
        let python = for_tests()?;
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        match self.run(&python, &args) {
            Ok(figures) => Some(figures),
            Err(e) => panic!("{e:#}"),
        }
    }
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
    pub label: String,
    pub field: &'static str,
    pub rust: f64,
    pub unit: Unit,
    /// The two sides ran jobs of different sizes (the label says which): both figures are
    /// shown, and no side is said to be ahead.
    pub different_jobs: bool,
}

impl Pair {
    pub fn new(label: impl Into<String>, field: &'static str, rust: f64, unit: Unit) -> Self {
        Pair {
            label: label.into(),
            field,
            rust,
            unit,
            different_jobs: false,
        }
    }

    /// Rust and Python ran different sizes for this figure (a time that grows with the
    /// size): print both, compare neither.
    pub fn different_jobs(mut self) -> Self {
        self.different_jobs = true;
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

fn show(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Secs => Secs(Duration::from_secs_f64(value.max(0.0))).to_string(),
        Unit::Bytes => Bytes(value.max(0.0) as u64).to_string(),
        Unit::Speedup => format!("{value:.2}x"),
        Unit::PerSec if value >= 10_000.0 => format!("{:.0}k/s", value / 1e3),
        Unit::PerSec => format!("{value:.0}/s"),
        Unit::Count => format!("{value:.0}"),
    }
}

/// Within this ratio neither side is said to be ahead: run-to-run noise is about as large.
const EVEN: f64 = 1.05;

/// Who is ahead, and by how much, in words: `Rust 2.19x faster`, or `even (1.02x)`.
fn ahead(rust: f64, python: f64, unit: Unit) -> String {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    let (hi, lo) = (rust.max(python), rust.min(python));
    if unit != Unit::Count && ratio(hi, lo) < EVEN {
        return format!("even ({:.2}x)", ratio(hi, lo));
    }
    match unit {
        Unit::Count if rust == python => "same".to_owned(),
        Unit::Count => format!("differ by {:.0}", (rust - python).abs()),
        Unit::Secs if python >= rust => format!("Rust {:.2}x faster", ratio(python, rust)),
        Unit::Secs => format!("Python {:.2}x faster", ratio(rust, python)),
        Unit::Bytes if python >= rust => {
            format!("Python uses {:.1}x as much", ratio(python, rust))
        }
        Unit::Bytes => format!("Rust uses {:.1}x as much", ratio(rust, python)),
        Unit::Speedup | Unit::PerSec if rust >= python => {
            format!("Rust {:.2}x higher", ratio(rust, python))
        }
        Unit::Speedup | Unit::PerSec => format!("Python {:.2}x higher", ratio(python, rust)),
    }
}

/// The printed table (one line of heading, one per pair). A pair whose field the twin did
/// not print is an error.
fn side_by_side(
    label: &str,
    file: &str,
    pairs: &[Pair],
    figures: &Map<String, Value>,
) -> anyhow::Result<String> {
    let width = pairs
        .iter()
        .map(|p| p.label.chars().count() + 4)
        .max()
        .unwrap_or(0)
        .max(28);
    let job = if pairs.iter().any(|p| p.different_jobs) {
        "the same job except where the sizes differ"
    } else {
        "same job"
    };
    let mut out = format!(
        "  side by side with python/{file} ({label}, {job}, this run):\n  {:<width$} {:>12}  {:>12}\n",
        "", "Rust", "Python"
    );
    for pair in pairs {
        let python = figures
            .get(pair.field)
            .and_then(Value::as_f64)
            .with_context(|| format!("{file} printed no number '{}'", pair.field))?;
        out.push_str(&format!(
            "  {:.<width$} {:>12}  {:>12}   {}\n",
            format!("{} ", pair.label),
            show(pair.rust, pair.unit),
            show(python, pair.unit),
            if pair.different_jobs {
                "different sizes: not compared".to_owned()
            } else {
                ahead(pair.rust, python, pair.unit)
            }
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

    #[test]
    fn the_table_says_who_is_ahead_by_how_much() {
        let figures =
            map(r#"{"elapsed_s": 2.4, "peak_bytes": 150000000, "speedup": 1.0, "lost": 0}"#);
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
            &figures,
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
    }

    #[test]
    fn flags_are_flag_value_pairs_in_order() {
        assert_eq!(
            flags(&[
                ("--tasks", &100_000),
                ("--sleep", &1.5),
                ("--url", &"http://x/")
            ]),
            ["--tasks", "100000", "--sleep", "1.5", "--url", "http://x/"]
        );
    }

    #[test]
    fn python_ahead_is_said_too() {
        assert_eq!(ahead(2.0, 1.0, Unit::Secs), "Python 2.00x faster");
        assert_eq!(ahead(10.0, 20.0, Unit::PerSec), "Python 2.00x higher");
        assert_eq!(ahead(5.0, 3.0, Unit::Count), "differ by 2");
        assert_eq!(ahead(0.502, 0.501, Unit::Secs), "even (1.00x)");
        assert_eq!(ahead(10.0, 10.0, Unit::Speedup), "even (1.00x)");
    }

    #[test]
    fn a_missing_field_is_an_error_naming_it() {
        let e = side_by_side(
            "Python 3",
            "gather.py",
            &[Pair::secs("gather", "elapsed_s", 1.0)],
            &map(r#"{"other": 1}"#),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("gather.py printed no number 'elapsed_s'")
        );
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
            "import json, sys\nprint('noise')\nprint(json.dumps({'n': int(sys.argv[1])}))\n",
            &["n"],
        );
        const SILENT: Twin = Twin::new("silent.py", "print('{}')\n", &["n"]);
        const FAILS: Twin = Twin::new("fails.py", "raise SystemExit('bad size')\n", &[]);
        let Some(python) = for_tests() else { return };
        let figures = OK.run(&python, &["7".to_owned()]).unwrap();
        assert_eq!(figures["n"], 7);
        let e = SILENT.run(&python, &[]).unwrap_err().to_string();
        assert!(e.contains("silent.py printed no number 'n'"), "{e}");
        let e = format!("{:#}", FAILS.run(&python, &[]).unwrap_err());
        assert!(
            e.contains("fails.py failed") && e.contains("bad size"),
            "{e}"
        );
    }
}
