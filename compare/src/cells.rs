//! The harness: every cell of the table (one job, one model) runs in a fresh child process
//! of this binary, so the peak memory it reports is its own.
//!
//! `compare --role cell CELL_JSON` runs one cell and prints one JSON line: the seconds the
//! work took (measured inside the child, after start-up), the answer, and the peak memory
//! of any worker processes it started. The parent checks the answer against the job's
//! known one, then reads the child's peak memory from `wait4`.
//! For a server cell the child prints `listening PORT` first and the parent's clients
//! measure the time.
//!
//! No wait is unbounded. The parent gives a cell [`CELL_LIMIT`] to answer and exit, then
//! kills it (a stopped or frozen child cannot run a watchdog of its own). A child ends
//! itself when its parent is gone, or after the limit and a grace period ([`watchdog`]).
//! Both limits count only time the process was running ([`Limit`]), so a Ctrl-Z of the
//! whole run, however long, does not use them up.
//!
//! With `--python` every row also gets Python cells ([`PythonSide`]): the chosen
//! interpreter runs a script of `compare/python/` (embedded in this binary and written to
//! the run's temporary folder) with the job's JSON as its argument. The script answers as a
//! cell's child does, with one JSON line (`model`, `workers`, `seconds`, `answer`,
//! `own_peak_rss`, `children_peak_rss`, `python`; a server first says `listening PORT`), and
//! is measured, limited, killed and checked exactly as a Rust cell is.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::python::Interpreter;
use common::timing::Stopwatch;
use serde::{Deserialize, Serialize};

use crate::child_side::{CELL_LIMIT, Limit, quiet_if_orphaned, say, watchdog};
use crate::jobs::{Job, cores};
use crate::models::{self, Model, PyModel};
use crate::table::{Cell, Row, Scenario, python_columns, row_from_cells};

/// What a cell's child prints.
#[derive(Debug, Serialize, Deserialize)]
struct CellReport {
    seconds: f64,
    answer: u64,
    /// This process's own peak (`VmHWM`), read just before it exits.
    own_peak_rss: Option<u64>,
    children_peak_rss: Option<u64>,
    /// How many workers it used (the Python scripts say; a Rust cell's parent knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workers: Option<usize>,
    /// The Python model that ran, in words (the Python scripts say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
}

/// A cell measured and checked: its seconds, peak memory and, from a Python script, its
/// workers and the model that ran.
#[derive(Debug)]
pub struct Measured {
    pub seconds: f64,
    pub peak: Option<u64>,
    pub workers: Option<usize>,
    pub model: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CellSpec {
    model: Model,
    job: Job,
}

/// The child's side: `--role cell CELL_JSON`.
pub fn cell_role(args: &[String]) -> anyhow::Result<()> {
    let [spec] = args else {
        bail!("usage: --role cell CELL_JSON");
    };
    watchdog()?;
    quiet_if_orphaned(run_cell_role(spec))
}

fn run_cell_role(spec: &str) -> anyhow::Result<()> {
    let CellSpec { model, job } = serde_json::from_str(spec).context("reading the cell")?;
    let report = if let Job::Serve { clients, .. } = job {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        say(&format!("listening {}", listener.local_addr()?.port()))?;
        let sw = Stopwatch::start();
        let (answer, children_peak_rss) = models::serve(model, listener, clients)?;
        CellReport {
            seconds: sw.elapsed().as_secs_f64(),
            answer,
            own_peak_rss: common::memory::peak_rss(),
            children_peak_rss,
            workers: None,
            model: None,
        }
    } else {
        // An image job's pictures exist before the clock starts, as a Python list would.
        let images = Arc::new(job.images());
        let sw = Stopwatch::start();
        let (answer, children_peak_rss) = models::run(model, &job, images)?;
        CellReport {
            seconds: sw.elapsed().as_secs_f64(),
            answer,
            own_peak_rss: common::memory::peak_rss(),
            children_peak_rss,
            workers: None,
            model: None,
        }
    };
    say(&serde_json::to_string(&report)?)
}

/// The parent's side: run one cell in a child process, killed if it has not answered and
/// exited within `limit`; check its answer.
fn measure(model: Model, job: &Job, limit: Duration) -> anyhow::Result<Measured> {
    let spec = serde_json::to_string(&CellSpec {
        model,
        job: job.clone(),
    })?;
    let mut cell = crate::child_side::role("cell")?;
    cell.arg(spec);
    measure_command(model.name(), cell, job, limit)
}

/// Run the cell process `cell` (a Rust cell or a Python script, named `name`), check its
/// answer, and return what it measured.
fn measure_command(
    name: &str,
    cell: Command,
    job: &Job,
    limit: Duration,
) -> anyhow::Result<Measured> {
    let Ran {
        status,
        peak,
        line,
        client_seconds,
    } = run_cell(cell, job, limit).with_context(|| format!("the {name} cell"))?;
    ensure!(status.success(), "{name} cell failed: {status}");
    let report: CellReport = serde_json::from_str(line.trim())
        .with_context(|| format!("the {name} cell said {line:?}"))?;
    let expected = job.expected()?;
    ensure!(
        report.answer == expected,
        "{name}: wrong answer {} (expected {expected}): its time is not shown",
        report.answer
    );
    // The child's own VmHWM, not wait4's ru_maxrss: Linux carries the parent's peak into a
    // child's ru_maxrss across exec (std spawns with vfork semantics), so a small child of a
    // big parent would report the parent's size.
    let peak = match (report.own_peak_rss.or(peak), report.children_peak_rss) {
        (Some(own), Some(children)) => Some(own + children),
        (own, _) => own,
    };
    Ok(Measured {
        seconds: client_seconds.unwrap_or(report.seconds),
        peak,
        workers: report.workers,
        model: report.model,
    })
}

/// The scripts of `compare --python`, embedded so the binary runs wherever it is: the jobs
/// (the same items and answers as `jobs.rs`) and one script per [`PyModel`].
pub const PYTHON_SCRIPTS: [(&str, &str); 5] = [
    ("jobs.py", include_str!("../python/jobs.py")),
    ("threads.py", include_str!("../python/threads.py")),
    ("thread_pool.py", include_str!("../python/thread_pool.py")),
    ("processes.py", include_str!("../python/processes.py")),
    (
        "asyncio_tasks.py",
        include_str!("../python/asyncio_tasks.py"),
    ),
];

/// `--python`: the chosen interpreter, and the folder its scripts were written to.
#[derive(Clone, Debug)]
pub struct PythonSide {
    pub interpreter: Interpreter,
    pub dir: PathBuf,
}

impl PythonSide {
    /// Write the scripts into `dir` (created if needed) for `interpreter` to run.
    pub fn write(interpreter: Interpreter, dir: &Path) -> anyhow::Result<PythonSide> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, source) in PYTHON_SCRIPTS {
            let path = dir.join(name);
            std::fs::write(&path, source).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(PythonSide {
            interpreter,
            dir: dir.to_path_buf(),
        })
    }

    /// A row's Python cells before they run: those of a server job whose driver is not
    /// installed (psycopg for the threads and processes, asyncpg for asyncio) do not apply,
    /// and say how to install it.
    pub fn cells(&self, job: &Job) -> Vec<Cell<PyModel>> {
        let installed = |module: &str| {
            let mut probe = self.interpreter.command();
            probe.args(["-c", &format!("import {module}")]);
            probe.output().is_ok_and(|o| o.status.success())
        };
        let (psycopg, asyncpg) = match job {
            Job::Pg { .. } => (installed("psycopg"), installed("asyncpg")),
            _ => (true, true),
        };
        let missing = |model| match model {
            PyModel::Asyncio if !asyncpg => Some("not installed: pip install asyncpg"),
            PyModel::Asyncio => None,
            _ if !psycopg => Some("not installed: pip install 'psycopg[binary]'"),
            _ => None,
        };
        PyModel::ALL.map(|m| Cell::new(m, 0, missing(m))).to_vec()
    }

    /// Run `model`'s script on `job` in a fresh interpreter, measured and checked as a Rust
    /// cell is: its seconds, peak memory (the interpreter's plus its worker processes'),
    /// workers and the model that ran.
    pub fn measure(&self, model: PyModel, job: &Job, limit: Duration) -> anyhow::Result<Measured> {
        let mut cell = self.interpreter.command();
        cell.arg(self.dir.join(model.script()))
            .arg(serde_json::to_string(job)?)
            .current_dir(&self.dir);
        measure_command(&format!("Python {}", model.name()), cell, job, limit)
    }
}

/// A finished cell process: its exit status and peak memory, its report line and, for a
/// server, the clients' seconds.
#[derive(Debug)]
struct Ran {
    status: ExitStatus,
    peak: Option<u64>,
    line: String,
    client_seconds: Option<f64>,
}

/// Start `cell`, talk to it ([`talk_to_cell`]) and wait for it to exit, at most `limit`
/// in all; kill it then, or as soon as talking to it fails.
fn run_cell(mut cell: Command, job: &Job, limit: Duration) -> anyhow::Result<Ran> {
    let mut child = cell
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a cell process")?;
    let talked = talk_within(&mut child, job, limit);
    if talked.is_err() {
        // A stopped child dies of SIGKILL too. A server cell stops waiting for clients.
        let _ = child.kill();
    }
    // The child has closed its standard output (exited) or been killed: this returns at once.
    let (status, peak) = common::memory::wait_with_peak_rss(child)?;
    let (line, client_seconds) = talked?;
    Ok(Ran {
        status,
        peak,
        line,
        client_seconds,
    })
}

/// [`talk_to_cell`] on a thread of its own, then read the child's output to its end (the
/// child exiting), while this thread keeps the time: an error once `limit` is used up.
fn talk_within(
    child: &mut Child,
    job: &Job,
    limit: Duration,
) -> anyhow::Result<(String, Option<f64>)> {
    let out = child.stdout.take().context("no stdout")?;
    let job = job.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("cell".to_owned())
        .spawn(move || {
            let mut out = BufReader::new(out);
            let talked = talk_to_cell(&job, &mut out).and_then(|talked| {
                let mut rest = String::new();
                out.read_to_string(&mut rest)?;
                ensure!(rest.trim().is_empty(), "more output: {rest:?}");
                Ok(talked)
            });
            // Nobody receives once the parent has given up: the cell was killed.
            let _ = tx.send(talked);
        })
        .context("starting a thread to talk to the cell")?;
    let mut left = Limit::new(limit);
    loop {
        match rx.recv_timeout(left.step()) {
            Ok(talked) => return talked,
            Err(RecvTimeoutError::Timeout) if left.is_up() => bail!(
                "no answer within {} s: stopped or stuck; killed it",
                limit.as_secs_f64()
            ),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the thread talking to it panicked"),
        }
    }
}

/// Read the cell's report line; for a server cell, first run the clients against it.
/// Returns the report line and, for a server, the clients' seconds.
fn talk_to_cell(job: &Job, out: &mut impl BufRead) -> anyhow::Result<(String, Option<f64>)> {
    let mut line = String::new();
    out.read_line(&mut line)?;
    let Job::Serve {
        clients,
        messages,
        think_ms,
    } = *job
    else {
        return Ok((line, None));
    };
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("the server cell said {line:?}"))?
        .parse()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sw = Stopwatch::start();
    // No timeout of their own: the caller kills a cell that takes too long, which ends
    // the clients' connections.
    let echoed = rt
        .block_on(models::drive_clients(addr, clients, messages, think_ms))
        .context("the clients failed")?;
    let seconds = sw.elapsed().as_secs_f64();
    ensure!(echoed == clients * messages, "clients got {echoed} echoes");
    line.clear();
    out.read_line(&mut line)?;
    Ok((line, Some(seconds)))
}

/// Measure every model on `scenario`, and with `python` every Python model too. `progress`
/// hears `Some(what)` before each cell and `None` after it.
pub fn measure_row(
    scenario: &Scenario,
    python: Option<&PythonSide>,
    mut progress: impl FnMut(Option<&str>),
) -> anyhow::Result<Row> {
    let cores = cores();
    let mut cells: Vec<Cell> = Model::ALL
        .iter()
        .map(|&model| {
            Cell::new(
                model,
                model.workers_for(&scenario.job, cores),
                model.not_applicable(&scenario.job),
            )
        })
        .collect();
    let mut py_cells: Vec<Cell<PyModel>> = match python {
        Some(python) => python.cells(&scenario.job),
        None => Vec::new(),
    };
    // Rounds go across the models (all once, then all again), so a burst of load from
    // elsewhere hits one round of everyone rather than every round of one model.
    for _round in 0..scenario.runs {
        for (cell, model) in cells.iter_mut().zip(Model::ALL) {
            progress(Some(&format!("{} / {}", scenario.name, model.name())));
            if cell.not_applicable.is_some() {
                progress(None);
                continue;
            }
            let m = measure(model, &scenario.job, CELL_LIMIT)
                .with_context(|| format!("{}, {}", scenario.name, model.name()))?;
            tracing::debug!(
                row = scenario.name,
                model = model.name(),
                seconds = m.seconds,
                "cell"
            );
            cell.record(m.seconds, m.peak);
            progress(None);
        }
        // The Python cells in the same round, so the same burst of load hits both sides.
        for (cell, model) in py_cells.iter_mut().zip(PyModel::ALL) {
            let Some(python) = python else { break };
            progress(Some(&format!(
                "{} / Python {}",
                scenario.name,
                model.name()
            )));
            if cell.not_applicable.is_some() {
                progress(None);
                continue;
            }
            let m = python
                .measure(model, &scenario.job, CELL_LIMIT)
                .with_context(|| format!("{}, Python {}", scenario.name, model.name()))?;
            cell.workers = m.workers.unwrap_or(cell.workers);
            cell.python_model = m.model;
            cell.record(m.seconds, m.peak);
            progress(None);
        }
    }
    let mut row = row_from_cells(scenario, cells);
    if let Some(python) = python {
        row.python = Some(python_columns(&row, python.interpreter.label(), py_cells));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: Job = Job::SumSquares { n: 10, chunks: 2 };

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn a_cell_that_answers_and_exits_is_read() {
        let ran = run_cell(sh("echo answer"), &JOB, CELL_LIMIT).unwrap();
        assert!(ran.status.success());
        assert_eq!(ran.line.trim(), "answer");
        assert_eq!(ran.client_seconds, None);
    }

    #[test]
    fn a_cell_that_never_answers_is_killed_at_the_limit() {
        let err = run_cell(sh("exec sleep 600"), &JOB, Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("killed it"), "{err:#}");
    }

    #[test]
    fn a_stopped_cell_is_killed_at_the_limit() {
        // The child stops itself (as `kill -STOP` would): no watchdog of its own can run.
        let err = run_cell(sh("kill -STOP $$"), &JOB, Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("stopped or stuck"), "{err:#}");
    }

    #[test]
    fn a_cell_stopped_after_its_answer_is_killed_too() {
        let err = run_cell(
            sh("echo answer; kill -STOP $$"),
            &JOB,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.to_string().contains("killed it"), "{err:#}");
    }

    #[test]
    fn more_than_the_report_is_an_error() {
        let err = run_cell(sh("echo answer; echo more"), &JOB, CELL_LIMIT).unwrap_err();
        assert!(err.to_string().contains("more output"), "{err:#}");
    }
}

/// The Python scripts, run for real with tiny sizes when an interpreter is found (the test
/// says it skipped otherwise): every model on every kind of job gets the known answer, and
/// its JSON line has the documented fields.
#[cfg(test)]
mod python_tests {
    use super::*;
    use common::fixture::{ServerConfig, TestServer};
    use serde_json::Value;

    /// One job of each kind, tiny; the server and SQLite file they use.
    fn tiny_jobs(server: &TestServer, db: &Path) -> Vec<Job> {
        let db = db.to_string_lossy().into_owned();
        vec![
            Job::SumSquares {
                n: 10_007,
                chunks: 5,
            },
            Job::Primes {
                n: 2_000,
                chunks: 3,
            },
            Job::Images {
                count: 3,
                width: 256,
                height: 3,
            },
            Job::Fetch {
                base: server.url(""),
                count: 4,
                latency_ms: 1,
                spread: true,
                size: 700,
                parse: true,
            },
            Job::Db {
                path: db.clone(),
                queries: 5,
                rows: 300,
                scan: true,
            },
            Job::Db {
                path: db,
                queries: 5,
                rows: 300,
                scan: false,
            },
        ]
    }

    #[test]
    fn every_python_script_answers_every_job_with_the_documented_fields() {
        let Some(interpreter) = common::python::for_tests() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let python = PythonSide::write(interpreter, &dir.path().join("python")).unwrap();
        let server = TestServer::start(ServerConfig::default()).unwrap();
        let db = dir.path().join("t.sqlite");
        crate::jobs::create_db(&db, 300).unwrap();
        let probe = python
            .interpreter
            .command()
            .args(["-c", "import aiohttp"])
            .output();
        let has_aiohttp = probe.unwrap().status.success();
        for job in tiny_jobs(&server, &db) {
            for model in PyModel::ALL {
                let out = python
                    .interpreter
                    .command()
                    .arg(python.dir.join(model.script()))
                    .arg(serde_json::to_string(&job).unwrap())
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{model:?} {job:?}: {stderr}");
                let stdout = String::from_utf8_lossy(&out.stdout);
                let lines: Vec<&str> = stdout.lines().collect();
                assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
                let report: Value = serde_json::from_str(lines[0]).unwrap();
                let idiom = match model {
                    PyModel::Threads => "threading.Thread",
                    PyModel::ThreadPool => "ThreadPoolExecutor",
                    PyModel::Processes => "multiprocessing.",
                    PyModel::Asyncio => "asyncio.",
                };
                let named = report["model"].as_str().unwrap();
                assert!(named.contains(idiom), "{model:?} {job:?}: {named}");
                if model == PyModel::Asyncio && matches!(job, Job::Fetch { .. }) {
                    // aiohttp when it is installed, said either way.
                    let label = match has_aiohttp {
                        true => "aiohttp, one shared ClientSession",
                        false => "a connection per download, no pooling (aiohttp not installed)",
                    };
                    assert!(named.contains(label), "{named}");
                }
                assert_eq!(
                    report["answer"],
                    job.expected().unwrap(),
                    "{model:?} {job:?}"
                );
                assert!(report["seconds"].as_f64().unwrap() >= 0.0);
                assert!(report["workers"].as_u64().unwrap() >= 1);
                assert!(report["own_peak_rss"].as_u64().unwrap() > 0, "{report}");
                assert!(report["python"].is_string());
                if model == PyModel::Processes {
                    assert!(
                        report["children_peak_rss"].as_u64().unwrap() > 0,
                        "{report}"
                    );
                } else {
                    assert!(report["children_peak_rss"].is_null(), "{report}");
                }
            }
        }
    }

    #[test]
    fn a_server_row_s_python_cells_need_their_drivers_installed() {
        use std::os::unix::fs::PermissionsExt;
        // An "interpreter" that has psycopg but not asyncpg.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python3");
        std::fs::write(
            &fake,
            "#!/bin/sh\ncase \"$2\" in *asyncpg*) exit 1;; esac\nexit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let python = PythonSide {
            interpreter: Interpreter {
                path: fake,
                version: "3.11.7".into(),
                free_threaded: false,
                free_threaded_build_with_gil: false,
            },
            dir: dir.path().to_owned(),
        };
        let pg = Job::Pg {
            url: String::new(),
            table: "t".into(),
            queries: 1,
            sleep_ms: 0,
            pool: 1,
            threads: 1,
        };
        let reasons = |job| {
            python
                .cells(job)
                .iter()
                .map(|c| c.not_applicable)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reasons(&pg),
            [None, None, None, Some("not installed: pip install asyncpg")]
        );
        assert_eq!(reasons(&Job::SumSquares { n: 1, chunks: 1 }), [None; 4]);
    }

    /// The scripts against a private PostgreSQL cluster, where PostgreSQL and the drivers
    /// are installed: every answer checked.
    #[test]
    fn the_python_scripts_query_a_postgresql_server() {
        let Some(interpreter) = common::python::for_tests() else {
            return;
        };
        let path = std::env::var_os("PATH");
        let debian = Path::new(pg_server::DEBIAN_LAYOUT);
        let Some(server) = pg_server::Server::find_with(None, path.as_deref(), debian).unwrap()
        else {
            eprintln!("skipped: PostgreSQL is not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let python = PythonSide::write(interpreter, dir.path()).unwrap();
        crate::jobs::create_pg_table(server.url(), "py_items").unwrap();
        let job = Job::Pg {
            url: server.url().to_owned(),
            table: "py_items".into(),
            queries: 12,
            sleep_ms: 1,
            pool: 3,
            threads: 5,
        };
        for (cell, model) in python.cells(&job).iter().zip(PyModel::ALL) {
            if let Some(why) = cell.not_applicable {
                eprintln!("Python {}: skipped: {why}", model.name());
                continue;
            }
            let m = python.measure(model, &job, CELL_LIMIT).unwrap(); // the answer checked
            let named = m.model.unwrap();
            let driver = if model == PyModel::Asyncio {
                "asyncpg"
            } else {
                "psycopg"
            };
            assert!(named.contains(driver), "{named}");
            // Threads capped at 5, a pool of 3, Pool()'s os.cpu_count(), one event loop.
            let workers = match model {
                PyModel::Threads => 5,
                PyModel::ThreadPool => 3,
                PyModel::Processes => m.workers.unwrap_or(0).max(1),
                PyModel::Asyncio => 1,
            };
            assert_eq!(m.workers, Some(workers), "{named}");
        }
        server.stop();
    }

    #[test]
    fn python_cells_are_measured_and_checked_as_rust_ones_are() {
        let Some(interpreter) = common::python::for_tests() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let python = PythonSide::write(interpreter, dir.path()).unwrap();
        // The server: the script says `listening PORT`, this side's clients talk to it.
        let serve = Job::Serve {
            clients: 3,
            messages: 2,
            think_ms: 0,
        };
        for model in PyModel::ALL {
            let m = python.measure(model, &serve, CELL_LIMIT).unwrap();
            assert!(m.seconds > 0.0 && m.peak.unwrap() > 0, "{model:?}");
            assert!(m.workers.unwrap() >= 1);
            assert!(m.model.unwrap().contains("connection"), "{model:?}");
        }
        // A wrong answer is an error, not a time.
        let wrong = Job::Primes { n: 100, chunks: 2 };
        let mut cell = python.interpreter.command();
        cell.arg(python.dir.join("threads.py")).arg(
            serde_json::to_string(&Job::Primes {
                n: 1_000,
                chunks: 2,
            })
            .unwrap(),
        );
        let err = measure_command("Python threads", cell, &wrong, CELL_LIMIT).unwrap_err();
        assert!(err.to_string().contains("wrong answer 168"), "{err:#}");
        // A row with --python gets a Python cell per model, judged.
        let scenario = crate::table::Scenario {
            section: "t",
            name: "row",
            workload: String::new(),
            python: crate::models::PythonFamily::Multiprocessing,
            python_seconds: vec![],
            runs: 1,
            job: Job::SumSquares {
                n: 1_000,
                chunks: 4,
            },
        };
        let row = measure_row(&scenario, Some(&python), |_| {}).unwrap();
        let py = row.python.unwrap();
        let names: Vec<&str> = py.cells.iter().map(|c| c.model.name()).collect();
        assert_eq!(names, ["threads", "thread-pool", "processes", "asyncio"]);
        assert!(py.cells.iter().all(|c| c.seconds.is_some() && c.runs == 1));
        assert_eq!(py.cells.iter().filter(|c| c.fastest).count(), 1);
        assert!(py.rust_speedup.is_some());
        assert!(py.interpreter.starts_with("Python 3"));
    }
}
