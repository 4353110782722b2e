//! Runs the built binary: `--list`, the whole harness on tiny sizes (every cell runs and
//! reports, the JSON has the documented fields, the winner is the fastest cell, the chart
//! is an SVG), bad input.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run, run_ok, section_names,
};
use serde_json::Value;
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_compare");
const MODELS: [&str; 7] = [
    "sequential",
    "threads",
    "thread-pool",
    "processes",
    "tokio",
    "rayon",
    "hybrid",
];

/// Whether compare finds a PostgreSQL server here for its "Database queries (server)" row,
/// as it looks for one: `DATABASE_URL`, else the programs on `PATH` or in Debian's layout.
fn postgres_here() -> bool {
    let path = std::env::var_os("PATH");
    let debian = std::path::Path::new(pg_server::DEBIAN_LAYOUT);
    std::env::var_os("DATABASE_URL").is_some()
        || pg_server::binaries(path.as_deref(), debian).is_some()
}

/// The decision matrix's rows: the guide's 8, and the server row where PostgreSQL is here.
fn matrix_rows() -> usize {
    8 + usize::from(postgres_here())
}

#[test]
fn every_section_is_listed_documented_and_in_the_book() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section_in_the_terminal() {
    let out = run_ok(EXE, &["benchmark-table", "--tiny"]);
    assert!(out.contains("I/O-bound"), "{out}");
    assert!(out.contains("CPU-bound"), "{out}");
    assert!(out.contains('★'), "the fastest cell is marked: {out}");
    assert!(out.contains("every answer checked"), "{out}");
    assert!(out.contains("→ "), "a takeaway: {out}");
    assert!(
        out.contains("no GIL") || out.contains("not shown in this run:"),
        "the CPU row's claim, checked: {out}"
    );
}

#[test]
fn the_json_has_every_cell_with_the_documented_fields_and_the_chart_is_svg() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("table.svg");
    let out = run_ok(
        EXE,
        &[
            "--tiny",
            "--format",
            "json",
            "--chart",
            chart.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_str(&out).expect("stdout is JSON and nothing else");
    for field in [
        "cpu",
        "cores",
        "os",
        "arch",
        "profile",
        "sizes",
        "usable_cores",
    ] {
        assert!(!report["machine"][field].is_null(), "machine.{field}");
    }
    for field in ["load_1m", "online_cores", "others_busy"] {
        assert!(report["machine"].get(field).is_some(), "machine.{field}");
    }
    assert!(report["machine"].get("python").is_none(), "no --python");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        2 + matrix_rows(),
        "benchmark table + decision matrix"
    );
    let server = rows
        .iter()
        .find(|r| r["scenario"] == "Database queries (server)");
    assert_eq!(
        server.is_some(),
        postgres_here(),
        "the server row where PostgreSQL is"
    );
    for row in rows {
        assert!(row.get("python").is_none(), "no --python, no Python cells");
        for field in [
            "section",
            "scenario",
            "workload",
            "python_recommends",
            "python_guide_seconds",
            "rust_winner",
            "agrees",
            "verdict",
            "winner_vs_recommended",
            "cells",
        ] {
            assert!(row.get(field).is_some(), "row.{field}: {row}");
        }
        let cells = row["cells"].as_array().unwrap();
        let names: Vec<&str> = cells.iter().map(|c| c["model"].as_str().unwrap()).collect();
        assert_eq!(names, MODELS);
        let mut fastest = None;
        for c in cells {
            for field in [
                "model",
                "python_family",
                "workers",
                "seconds",
                "peak_rss_bytes",
                "runs",
                "fastest",
                "not_applicable",
            ] {
                assert!(c.get(field).is_some(), "cell.{field}: {c}");
            }
            match c["seconds"].as_f64() {
                // Every cell that applies ran, checked its answer and reported its memory.
                Some(s) => {
                    assert!(s > 0.0);
                    assert_eq!(c["runs"], 1, "tiny sizes run each cell once");
                    assert!(c["peak_rss_bytes"].as_u64().unwrap() > 0, "{c}");
                    if fastest.is_none_or(|(_, best)| s < best) {
                        fastest = Some((c["model"].as_str().unwrap(), s));
                    }
                }
                None => assert!(c["not_applicable"].is_string(), "{c}"),
            }
        }
        let (winner, _) = fastest.unwrap();
        assert_eq!(row["rust_winner"], winner, "the winner is the fastest cell");
        let marked: Vec<_> = cells.iter().filter(|c| c["fastest"] == true).collect();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0]["model"], winner);
    }
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.trim_start().starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("Real-time server"));
}

#[test]
fn with_a_trace_the_json_still_has_stdout_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("run.json");
    let out = run(
        EXE,
        &[
            "benchmark-table",
            "--tiny",
            "--format",
            "json",
            "--trace",
            trace.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).expect("stdout is JSON and nothing else");
    assert_eq!(report["rows"].as_array().unwrap().len(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace written to"));
    let events: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(events.is_array(), "a Chrome trace");
}

#[test]
fn markdown_is_a_table_per_section() {
    let out = run_ok(EXE, &["decision-matrix", "--tiny", "--format", "markdown"]);
    assert!(out.contains("#### decision-matrix"), "{out}");
    assert!(out.contains("| Download 5 files |"), "{out}");
    assert!(out.contains("| scenario | sequential | threads |"), "{out}");
    assert!(
        !out.contains("benchmark-table"),
        "only the section asked for"
    );
}

#[test]
fn the_terminal_run_of_the_server_row_measures_processes_too() {
    let out = run_ok(EXE, &["--tiny", "--format", "json", "decision-matrix"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    let server = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == "Real-time server")
        .unwrap();
    let processes = server["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "processes")
        .unwrap();
    assert!(processes["seconds"].as_f64().is_some(), "{processes}");
    assert!(processes["not_applicable"].is_null(), "{processes}");
}

const PYTHON_MODELS: [&str; 4] = ["threads", "thread-pool", "processes", "asyncio"];

/// `--python`: every row gets its Python cells (the same job, run by compare/python/*.py),
/// with the documented fields, in the JSON, the Markdown and the chart. Skipped, saying so,
/// where no Python 3 is installed.
#[test]
fn with_python_every_row_has_python_cells() {
    let Some(python) = common::python::for_tests() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("table.svg");
    let exe = python.path.to_str().unwrap();
    let out = run_ok(
        EXE,
        &[
            "--tiny",
            "--python-exe",
            exe,
            "--format",
            "json",
            "--chart",
            chart.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_str(&out).expect("stdout is JSON and nothing else");
    assert_eq!(report["machine"]["python"], python.label());
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 + matrix_rows());
    for row in rows {
        assert_eq!(
            row["cells"].as_array().unwrap().len(),
            MODELS.len(),
            "Rust's cells stay"
        );
        let py = &row["python"];
        for field in [
            "interpreter",
            "winner",
            "agrees",
            "verdict",
            "winner_vs_recommended",
            "rust_speedup",
            "cells",
        ] {
            assert!(py.get(field).is_some(), "python.{field}: {py}");
        }
        if py["winner"] == "none" {
            // No driver installed for the server row: every Python cell says so.
            assert_eq!(row["scenario"], "Database queries (server)", "{py}");
            assert_eq!(py["why_not_decided"], "no Python cell ran", "{py}");
        } else {
            assert!(py["rust_speedup"].as_f64().unwrap() > 0.0, "{py}");
            let verdict = py["rust_vs_python"].as_str().unwrap();
            if cfg!(debug_assertions) {
                assert!(
                    verdict.starts_with("not decided in this run: a dev build"),
                    "{verdict}"
                );
            }
        }
        let cells = py["cells"].as_array().unwrap();
        let names: Vec<&str> = cells.iter().map(|c| c["model"].as_str().unwrap()).collect();
        assert_eq!(names, PYTHON_MODELS, "{}", row["scenario"]);
        for c in cells {
            if let Some(why) = c["not_applicable"].as_str() {
                // The server row's drivers (psycopg, asyncpg) are optional packages.
                assert!(why.starts_with("not installed: pip install"), "{c}");
                assert_eq!(row["scenario"], "Database queries (server)", "{c}");
                continue;
            }
            assert!(c["seconds"].as_f64().unwrap() > 0.0, "{c}");
            assert!(c["peak_rss_bytes"].as_u64().unwrap() > 0, "{c}");
            assert!(c["workers"].as_u64().unwrap() >= 1, "{c}");
            assert_eq!(c["runs"], 1);
            assert!(c["python_family"].is_string());
            assert!(!c["python_model"].as_str().unwrap().is_empty(), "{c}");
        }
        let marked: Vec<&Value> = cells.iter().filter(|c| c["fastest"] == true).collect();
        assert_eq!(marked.len(), usize::from(py["winner"] != "none"));
        if let Some(fastest) = marked.first() {
            assert_eq!(fastest["model"], py["winner"]);
        }
    }
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(
        svg.contains("py thread-pool"),
        "the chart has the Python bars"
    );
    let md = run_ok(
        EXE,
        &[
            "benchmark-table",
            "--tiny",
            "--python-exe",
            exe,
            "--format",
            "markdown",
        ],
    );
    assert!(
        md.contains(&format!("| {} | threads |", python.label())),
        "{md}"
    );
    assert!(md.contains("| CPU-bound |"), "{md}");
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn rejects_bad_options_in_one_line_with_code_2() {
    for args in [
        &["--format", "xml"][..],
        &["--chart", "table.png"],
        &["--chart", "/no/such/folder/table.svg"],
        &["--quick", "--tiny"],
        &["--role", "nobody"],
    ] {
        let out = run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn a_chart_that_is_a_folder_or_the_trace_file_is_refused_before_any_cell_runs() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("d.svg");
    std::fs::create_dir(&folder).unwrap();
    let same = dir.path().join("x.svg");
    let same = same.to_str().unwrap();
    for args in [
        &["--tiny", "--chart", folder.to_str().unwrap()][..],
        &["--tiny", "--trace", same, "--chart", same],
    ] {
        let out = run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "no section ran: {args:?}");
    }
    assert!(!std::path::Path::new(same).exists(), "no trace file left");
}

#[test]
fn a_bad_format_names_the_valid_ones() {
    let out = run(EXE, &["--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("terminal, markdown, json"), "{stderr}");
}

/// `compare --format json > /dev/full`: exit code 1 and one line saying so, never exit 0
/// with the JSON lost.
#[test]
fn a_full_disk_for_the_json_is_a_failure() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // not Linux
    };
    let out = Command::new(EXE)
        .args(["benchmark-table", "--tiny", "--format", "json"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("writing the results"), "{stderr}");
    assert!(last.contains("No space left"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A cell whose parent has gone (its standard output a pipe nobody reads) ends quietly:
/// no panic, nothing on the terminal.
#[test]
fn a_cell_with_no_one_to_answer_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let spec =
        r#"{"model":"threads","job":{"kind":"serve","clients":1,"messages":1,"think_ms":0}}"#;
    let out = Command::new(EXE)
        .args(["--role", "cell", spec])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!out.status.success());
}

#[test]
fn a_worker_role_fails_cleanly_on_bad_input() {
    let out = run(EXE, &["--role", "cell", "not json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading the cell"));
}

/// A line that says a rule's verdict: shown, not shown, or not decided.
fn is_verdict(line: &str) -> bool {
    ["→ ", "not shown in this run:", "not decided in this run:"]
        .iter()
        .any(|v| line.starts_with(v))
}

#[test]
fn choose_checks_every_rule_against_the_rows_it_measures() {
    let out = run_ok(EXE, &["choose", "--tiny"]);
    let verdicts = out.lines().filter(|l| is_verdict(l)).count();
    assert_eq!(
        verdicts,
        6 + 1,
        "a verdict per rule and the takeaway: {out}"
    );
    for part in [
        "1. CPU work",
        "CPU-bound: ",
        "the guides' flowchart",
        "Database queries (many)",
        "the guides' pitfalls",
        "asyncio-demo blocking-pitfall",
        "of 6 rules shown by this run's rows",
    ] {
        // Long lines wrap at 80 columns (no terminal): compare the words.
        let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(part), "{part}: {out}");
    }
}

/// The rows `choose --tiny --format json` writes, measured once for the tests that read
/// them back.
fn tiny_rows() -> Value {
    static ROWS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    ROWS.get_or_init(|| {
        let out = run_ok(EXE, &["choose", "--tiny", "--format", "json"]);
        serde_json::from_str(&out).unwrap()
    })
    .clone()
}

/// The verdict line of rule 1 (CPU work) in `choose --from` output.
fn cpu_rule_line(out: &str) -> &str {
    out.lines()
        .skip_while(|l| !l.contains("1. CPU work"))
        .find(|l| is_verdict(l))
        .unwrap()
}

/// `choose --format json` writes the rows it read; `--from` reads them back, measures
/// nothing, and says where a row disagrees with a rule, or that the machine the rows were
/// measured on was too busy to decide the rules on CPU rows.
#[test]
fn choose_reads_an_earlier_json_and_says_where_a_rule_is_not_shown() {
    let mut report = tiny_rows();
    let rows = report["rows"].as_array().unwrap().len();
    assert_eq!(rows, 7 + usize::from(postgres_here()), "only its rows");
    // Make processes 100 times faster than anything else on the CPU-bound row, on a quiet
    // machine.
    for row in report["rows"].as_array_mut().unwrap() {
        if row["scenario"] == "CPU-bound" {
            for cell in row["cells"].as_array_mut().unwrap() {
                if cell["model"] == "processes" {
                    cell["seconds"] = Value::from(1e-5);
                    cell["slowest_seconds"] = Value::from(1e-5);
                }
            }
        }
    }
    let machine = &mut report["machine"];
    machine["others_busy"] = Value::from(0.0);
    machine["usable_cores"] = machine["cores"].clone();
    machine["online_cores"] = machine["cores"].clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.json");
    std::fs::write(&file, report.to_string()).unwrap();
    let out = run_ok(EXE, &["choose", "--from", file.to_str().unwrap()]);
    assert!(out.contains("each with the rows of"), "{out}");
    let cpu = cpu_rule_line(&out);
    assert!(cpu.starts_with("not shown in this run:"), "{cpu}");
    assert!(cpu.contains("processes 10.0 µs"), "{cpu}");
    assert!(
        !out.contains("just now"),
        "the file's machine, not this one: {out}"
    );
    // The same rows from a busy machine: the rules on CPU rows are not decided.
    report["machine"]["others_busy"] = Value::from(1.9);
    report["machine"]["load_1m"] = Value::from(564.85);
    std::fs::write(&file, report.to_string()).unwrap();
    let out = run_ok(EXE, &["choose", "--from", file.to_str().unwrap()]);
    assert_eq!(
        cpu_rule_line(&out),
        "not decided in this run: those rows were measured on a busy machine (other processes using 1.9 of 2 cores, load average 564.85)".replace("2 cores", &format!("{} cores", report["machine"]["cores"])),
    );
    // Rules 1 and 5 read CPU rows; rule 6 too when it is judged on SQLite's rows.
    let held = if postgres_here() { 2 } else { 3 };
    assert!(out.contains(&format!("({held} not decided)")), "{out}");
}

/// `--from` reads its file once, in the process that runs: a FIFO and a pipe on standard
/// input work, and the size is limited.
#[test]
fn choose_reads_a_fifo_or_standard_input_once() {
    use std::io::Write;
    let json = tiny_rows().to_string();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("rows.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let (path, text) = (fifo.clone(), json.clone());
        // Not joined: if compare never opened the FIFO, the test fails on its own limit.
        std::thread::spawn(move || std::fs::write(path, text));
        let out = run_within(Command::new(EXE).args(["choose", "--from", fifo.to_str().unwrap()]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("each with the rows of"));
    }
    let mut child = Command::new(EXE)
        .args(["choose", "--from", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("each with the rows of /dev/stdin"),
        "{stdout}"
    );
    let big = dir.path().join("big.json");
    std::fs::write(&big, " ".repeat(5 << 20)).unwrap();
    let out = run(EXE, &["choose", "--from", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("over 4 MiB"));
}

/// Run `cmd` for at most 60 s: a hang is a failure, not a stuck test.
fn run_within(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("still running after 60 s: killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A number that is not a figure compare could have printed (`1e308` seconds, negative
/// seconds) is one line and exit code 2, not a panic or a nonsense verdict.
#[test]
fn choose_refuses_numbers_that_are_not_figures() {
    let dir = tempfile::tempdir().unwrap();
    for seconds in [1e308, -4494.0] {
        let mut report = tiny_rows();
        report["rows"][0]["cells"][0]["seconds"] = Value::from(seconds);
        let file = dir.path().join("rows.json");
        std::fs::write(&file, report.to_string()).unwrap();
        let out = run(EXE, &["choose", "--from", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{seconds}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("is not a time"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// A worker whose run is gone (here: a process named in `COMPARE_WATCH`, killed while the
/// worker waits for a slow download) ends quietly, with nothing on the terminal.
#[test]
fn a_worker_whose_run_is_gone_ends_quietly() {
    let server = common::fixture::TestServer::start(Default::default()).unwrap();
    let job = serde_json::json!({
        "kind": "fetch", "base": server.url(""), "count": 2, "latency_ms": 20_000,
        "spread": false, "size": 10, "parse": false,
    });
    let mut run = Command::new("sleep").arg("60").spawn().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", run.id())).unwrap();
    let start = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_owned();
    let worker = Command::new(EXE)
        .args(["--role", "worker", &job.to_string(), "0", "1"])
        .env("COMPARE_WATCH", format!("{}:{start}", run.id()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    run.kill().unwrap();
    run.wait().unwrap();
    let started = std::time::Instant::now();
    let out = worker.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "it noticed"
    );
    assert!(!out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn choose_refuses_a_bad_from_in_one_line_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let garbage = garbage.to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    for args in [
        &["choose", "--from", missing][..],
        &["choose", "--from", garbage],
        &["choose", "--from", garbage, "--format", "json"],
        &["benchmark-table", "--from", garbage],
    ] {
        let out = run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing ran: {args:?}");
    }
}

/// The verdict line of rule 6 (database queries) in `choose` output.
fn database_rule_line(out: &str) -> String {
    let line = out
        .lines()
        .skip_while(|l| !l.contains("6. database queries"))
        .find(|l| is_verdict(l))
        .unwrap();
    line.to_owned()
}

/// `tests/choose-server.json`: rows as a quiet 2-core machine measured them, with the server
/// row (200 queries of 5 ms; 10 blocking threads and the async pool of 10 within 5 %).
/// Rule 6 is judged on it and says what it found; without it, on the SQLite row.
#[test]
fn choose_judges_the_database_rule_on_the_server_row_and_words_it_by_what_it_measured() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/choose-server.json");
    let mut report: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.json");
    let choose = |report: &Value| {
        std::fs::write(&file, report.to_string()).unwrap();
        run_ok(EXE, &["choose", "--from", file.to_str().unwrap()])
    };
    let out = choose(&report);
    let line = database_rule_line(&out);
    assert!(
        line.starts_with(
            "→ database queries, judged on the server row (Database queries (server))"
        ),
        "{line}"
    );
    for part in [
        "10 threads with a blocking connection each took 118.0 ms",
        "tokio with an async pool of 10 112.0 ms",
        "even at 10 connections (1.05x apart)",
        "Thousands of queries waiting at once would favour the async driver",
        "which this row does not measure",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
    assert!(
        out.contains("Database queries (server): sequential 1.105 s"),
        "its cells: {out}"
    );
    // The async pool well ahead: said so, with the figure.
    let server = report["rows"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["scenario"] == "Database queries (server)")
        .unwrap();
    for cell in server["cells"].as_array_mut().unwrap() {
        if cell["model"] == "tokio" {
            cell["seconds"] = Value::from(0.05);
            cell["slowest_seconds"] = Value::from(0.051);
        }
    }
    let line = database_rule_line(&choose(&report));
    assert!(line.starts_with("→ "), "{line}");
    assert!(line.ends_with("the async pool was 2.4x faster"), "{line}");
    assert!(!line.contains("even"), "{line}");
    // A file without the server row (PostgreSQL was not there): the SQLite row, as before.
    report["rows"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["scenario"] != "Database queries (server)");
    let out = choose(&report);
    let line = database_rule_line(&out);
    assert!(
        line.contains("database queries, judged on the SQLite row (Database queries (many), in process; no server row here)"),
        "{line}"
    );
    assert!(out.contains("6 of 6 rules shown"), "{out}");
}

/// Ctrl-C while the decision matrix runs against its private cluster: the run stops, its
/// temporary folder (the cluster's with it) is gone, and so is the postmaster.
#[test]
fn ctrl_c_stops_the_private_cluster_and_removes_its_folder() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Stdio;
    if !postgres_here() || std::env::var_os("DATABASE_URL").is_some() {
        eprintln!("skipped: no private cluster here");
        return;
    }
    // The run's TMPDIR, searchable by the cluster's user when the test runs as root.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    // Started with SIGINT at its default: a shell's background job (a CI runner may be one)
    // inherits it ignored, and the run rightly keeps an inherited ignore.
    let mut compare = Command::new("env")
        .args(["--default-signal=INT", EXE, "decision-matrix", "--quick"])
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let ready = |file: &std::path::Path| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let ready = text.lines().nth(7).is_some_and(|l| l.trim() == "ready");
        ready.then(|| text.lines().next().unwrap().trim().parse::<u32>().unwrap())
    };
    let postmaster = (0..6000)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            assert!(compare.try_wait().unwrap().is_none(), "compare ended early");
            let runs = std::fs::read_dir(tmp.path()).unwrap().flatten();
            let mut clusters = runs.flat_map(|run| {
                std::fs::read_dir(run.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            });
            clusters.find_map(|pg| ready(&pg.path().join("data/postmaster.pid")))
        })
        .expect("no PostgreSQL server came up within 60 s");
    assert!(common::procs::signal(compare.id(), "INT"));
    assert!(!compare.wait().unwrap().success(), "stopped by SIGINT");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let gone = (0..1000).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        common::procs::running(postmaster).is_none()
    });
    assert!(gone, "postmaster {postmaster} still runs");
}
