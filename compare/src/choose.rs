//! The guides' central question, "which model do I use?" (a flowchart, a decision matrix,
//! lists of best practices and pitfalls) -> Rust's rules of thumb, each checked against the
//! rows of `compare` that back it.
//!
//! Python (the guides' flowchart, as code):
//!     if cpu_bound:                                # compute: bypass the GIL
//!         with Pool() as pool: pool.map(crunch, chunks)
//!     elif few_waits:                              # a handful of downloads or queries
//!         with ThreadPoolExecutor() as ex: list(ex.map(download, urls))
//!     else:                                        # many waits, many connections
//!         await asyncio.gather(*(fetch(u) for u in urls))
//!     # mixed: inside asyncio, await loop.run_in_executor(pool, blocking_part)
//!
//! Where Rust differs: there is no GIL, so CPU work stays in one process (rayon or
//! threads) and processes are mostly for isolation; an in-process database (SQLite) is CPU
//! work, not a wait (a database server's queries are waits, as the guides assume: rule 6
//! is judged on compare's server row where PostgreSQL was there, else on the SQLite rows).
//! The rest agrees with the guides: threads for a few blocking waits, tokio for many,
//! tokio with rayon or `spawn_blocking` for mixed work. Rust adds one warning: a blocking
//! call inside a task compiles and runs, and stalls its worker thread.
//!
//! Below: the rules, the guides' flowchart and decision matrix beside Rust's answer, and
//! the guides' best practices and pitfalls mapped to the sections that show them, as data.
//! The run checks every rule against compare's rows: this run's (only the rows the rules
//! read, at quick sizes, unless an earlier section of the run measured them) or those of an
//! earlier `compare --format json` (`--from FILE.json`, which measures nothing).
//!
//! Watch: alone (`main`), the six rules, the flowchart's leaves and the matrix's scenarios
//! with Rust's answer. In compare, under each rule the cells it reads; then `→` where the
//! rows back it, `not shown in this run:` where this machine's rows disagree with it, or
//! `not decided in this run:` for a rule on CPU rows when the machine was busy.
//!
//! Run only this: cargo run --release -p compare -- choose
//! Copy it: std only, nothing to add

/// A rule of thumb: the workload, the guides' answer, Rust's, and why they differ (or not).
pub struct Rule {
    pub workload: &'static str,
    pub python: &'static str,
    pub rust: &'static str,
    pub why: &'static str,
}

/// Rust's rules of thumb, in the order the run checks them.
pub const RULES: [Rule; 6] = [
    Rule {
        workload: "CPU work (compute, images, number crunching)",
        python: "multiprocessing",
        rust: "rayon's par_iter, or threads, in one process",
        why: "no GIL: threads run Rust on every core; processes add start-up, copying and memory",
    },
    Rule {
        workload: "a few blocking waits (a handful of downloads or queries)",
        python: "threading",
        rust: "std::thread (scoped threads) or a small pool",
        why: "the same answer: a thread per wait is cheap at this count and needs no runtime",
    },
    Rule {
        workload: "many waits or connections (1000 downloads, a server)",
        python: "asyncio",
        rust: "tokio: a task per wait or connection",
        why: "the same answer: a task is a few hundred bytes, a thread a stack each",
    },
    Rule {
        workload: "mixed: waits with CPU or blocking parts",
        python: "asyncio + run_in_executor",
        rust: "tokio, with CPU on rayon and blocking calls in spawn_blocking",
        why: "the same shape; in Rust a blocking call inside a task compiles, and stalls a worker",
    },
    Rule {
        workload: "isolation: a crash, an abort or a leak must not take the rest down",
        python: "multiprocessing",
        rust: "processes: this binary re-run with a --role",
        why: "Python's processes buy speed and isolation; Rust's threads already use every core, so processes buy isolation, and speed only where one process serialises on a lock of its own (SQLite's full scans in Database queries (few))",
    },
    Rule {
        workload: "database queries, and when not to mix models",
        python: "threading for a few, asyncio with an async driver for many; avoid mixing models unless necessary",
        rust: "one model: a server's queries on tokio with an async driver and a pool, or on threads with a connection each while they are few; SQLite in the process on a thread pool, a connection per thread",
        why: "a server's query is a wait: with a few connections the server sets the pace, threads or tasks alike, and an async driver is for many waiting at once (a task is a few hundred bytes, a thread a stack). SQLite in the process is CPU work, not a wait: a hand-off per query (tokio + spawn_blocking) costs more than it saves",
    },
];

/// The guides' flowchart, and what Rust answers at each leaf (an index into [`RULES`]).
/// The last two leaves are not in the flowchart: the guides' hybrid example and their
/// notes on processes.
pub const FLOWCHART: [(&str, &str, usize); 5] = [
    ("CPU-bound (compute)", "multiprocessing", 0),
    ("I/O-bound (few)", "threading", 1),
    ("I/O-bound (many)", "asyncio", 2),
    ("mixed (their hybrid example)", "asyncio + thread pool", 3),
    ("isolation (their notes)", "multiprocessing", 4),
];

/// Rust's answer to each scenario of the guides' decision matrix: the rule (an index into
/// [`RULES`]), the model, and why it differs from the guides' pick, where it does.
pub const MATRIX: [(&str, usize, &str, &str); 8] = [
    ("Download 5 files", 1, "threads", ""),
    ("Download 1000 files", 2, "tokio", ""),
    (
        "Process 100 images",
        0,
        "rayon or threads",
        "no GIL, and no copying of the images to workers",
    ),
    ("Web scraping", 3, "tokio + rayon", ""),
    ("Number crunching", 0, "rayon or threads", "no GIL"),
    (
        "Database queries (few)",
        1,
        "threads, a connection each",
        "",
    ),
    (
        "Database queries (many)",
        5,
        "a thread pool, a connection per thread",
        "SQLite runs in the process: a query is CPU work, not a wait; a database server's queries are waits (compare's server row, where PostgreSQL is there)",
    ),
    ("Real-time server", 2, "tokio", ""),
];

/// A best practice or pitfall of the guides, its Rust counterpart, and the sections that
/// show it (`crate section`; none: every demo).
pub struct Practice {
    pub guide: &'static str,
    pub rust: &'static str,
    pub shown_in: &'static [&'static str],
}

/// The guides' pitfalls.
pub const PITFALLS: [Practice; 9] = [
    Practice {
        guide: "a blocking call (time.sleep, CPU work) inside async def",
        rust: "the same trap, and nothing warns: tokio::time::sleep, spawn_blocking, rayon",
        shown_in: &["asyncio-demo blocking-pitfall", "hybrid-demo cpu-offload"],
    },
    Practice {
        guide: "shared state without locks (race conditions)",
        rust: "a data race does not compile (Send / Sync); a race condition does: a read and a write under two separate locks, or two processes on one file, lose updates in safe Rust. A Mutex held across the whole update, an atomic, a channel, a file lock",
        shown_in: &[
            "threading-demo send-sync",
            "threading-demo race-condition",
            "multiprocessing-demo file-lock",
        ],
    },
    Practice {
        guide: "mixing threads and asyncio without care",
        rust: "spawn_blocking, a Handle or a channel from plain threads; never block_on inside",
        shown_in: &["hybrid-demo run-in-executor", "hybrid-demo thread-to-loop"],
    },
    Practice {
        guide: "threads do not help CPU-bound work (the GIL)",
        rust: "they do: no GIL, one thread per core",
        shown_in: &["threading-demo no-gil", "threading-demo gil"],
    },
    Practice {
        guide: "deadlocks",
        rust: "the same risk: one lock order; std's Mutex is not reentrant",
        shown_in: &["threading-demo deadlock", "threading-demo rlock"],
    },
    Practice {
        guide: "processes: more memory, start-up overhead, harder IPC",
        rust: "the same costs, smaller: a native binary, serde instead of pickle",
        shown_in: &[
            "multiprocessing-demo startup-cost",
            "multiprocessing-demo serialization-cost",
        ],
    },
    Practice {
        guide: "overusing processes for lightweight tasks",
        rust: "threads or rayon: no GIL to escape",
        shown_in: &["multiprocessing-demo par-iter", "compare benchmark-table"],
    },
    Practice {
        guide: "asyncio is not for CPU-bound work",
        rust: "tokio's workers use every core, but a long computation stalls its worker: rayon",
        shown_in: &["hybrid-demo cpu-offload", "hybrid-demo pipeline"],
    },
    Practice {
        guide: "mixing models unless necessary",
        rust: "one model; tokio + rayon only where waits and CPU meet",
        shown_in: &["compare choose", "hybrid-demo pipeline"],
    },
];

/// The guides' best practices.
pub const BEST_PRACTICES: [Practice; 10] = [
    Practice {
        guide: "choose the right tool for the workload",
        rust: "the rules above, checked on your machine",
        shown_in: &["compare choose", "compare decision-matrix"],
    },
    Practice {
        guide: "start simple: threading before multiprocessing",
        rust: "threads first; without a GIL they are often the end",
        shown_in: &[
            "threading-demo thread-basics",
            "threading-demo scoped-threads",
        ],
    },
    Practice {
        guide: "use executors (ThreadPoolExecutor, Pool), not raw threads",
        rust: "a thread pool, rayon, tokio's JoinSet",
        shown_in: &["futures-demo submit", "multiprocessing-demo pool-map"],
    },
    Practice {
        guide: "limit concurrency",
        rust: "a Semaphore, a bounded channel, a fixed pool",
        shown_in: &["asyncio-demo semaphore", "asyncio-demo rate-limit"],
    },
    Practice {
        guide: "handle exceptions",
        rust: "a Result from every task; a panic is an Err at join",
        shown_in: &["futures-demo exceptions", "asyncio-demo exceptions"],
    },
    Practice {
        guide: "use thread- and process-safe data structures",
        rust: "channels (std, crossbeam, tokio, ipc-channel); the types say what is safe",
        shown_in: &["threading-demo queue", "multiprocessing-demo queue"],
    },
    Practice {
        guide: "test thoroughly; debug with logging",
        rust: "tokio's paused clock, loom, tracing: RUST_LOG=debug, --trace FILE",
        shown_in: &[],
    },
    Practice {
        guide: "avoid deadlocks when locking",
        rust: "one lock order; a guard's Drop releases the lock",
        shown_in: &["threading-demo deadlock", "threading-demo lock"],
    },
    Practice {
        guide: "prefer asyncio for new high-concurrency I/O",
        rust: "tokio",
        shown_in: &["asyncio-demo many-connections", "asyncio-demo download"],
    },
    Practice {
        guide: "if __name__ == \"__main__\": for multiprocessing",
        rust: "the --role dispatch at the top of main",
        shown_in: &[
            "multiprocessing-demo process-basics",
            "futures-demo process-pool",
        ],
    },
];

/// The flowchart beside Rust's answer: a heading, then a line per leaf.
pub fn flowchart_lines() -> Vec<String> {
    let head = format!("{:32} {:24} Rust", "the guides' flowchart", "they say");
    let leaves = FLOWCHART.iter().map(|(leaf, python, rule)| {
        format!(
            "{leaf:32} {python:24} {} (rule {})",
            RULES[*rule].rust,
            rule + 1
        )
    });
    std::iter::once(head).chain(leaves).collect()
}

/// The guides' pitfalls or best practices (`what`) beside Rust's: a heading, then a line
/// each with the sections that show it.
pub fn practice_lines(what: &str, list: &[Practice]) -> Vec<String> {
    let head = format!("the guides' {what} -> Rust [where it is shown]");
    let lines = list.iter().map(|p| {
        let shown = match p.shown_in {
            [] => "every demo".to_owned(),
            shown => shown.join(", "),
        };
        format!("- {} -> {} [{shown}]", p.guide, p.rust)
    });
    std::iter::once(head).chain(lines).collect()
}

/// The rules, the flowchart, the matrix and the practices, printed: what `compare choose`
/// checks.
fn main() {
    for (k, rule) in RULES.iter().enumerate() {
        println!("{}. {} -> {}", k + 1, rule.workload, rule.rust);
        println!("   (the guides: {}) {}", rule.python, rule.why);
    }
    println!("\n{}\n", flowchart_lines().join("\n"));
    for (scenario, rule, rust, why) in MATRIX {
        let differs = match why {
            "" => String::new(),
            why => format!(" (not the guides' answer: {why})"),
        };
        println!("{scenario}: {rust}, rule {}{differs}", rule + 1);
    }
    for lines in [
        practice_lines("pitfalls", &PITFALLS),
        practice_lines("best practices", &BEST_PRACTICES),
    ] {
        println!("\n{}", lines.join("\n"));
    }
}

// --- run and measure ---

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use common::claim::{Evidence, Machine as Load};
use common::cli::{Section, SectionResult, UsageError};
use common::print::{takeaway, takeaway_if};

use crate::jobs::Sizes;
use crate::models::Model;
use crate::report::{self, Report, mem, secs, wrap};
use crate::rows_file::{Measured, MeasuredRow, parse, read_from};
use crate::session::{Format, Options, PG_POOL, measure_rows};
use crate::table::CLOSE;
use crate::{benchmark_table, decision_matrix};

pub const SECTION: Section<Options> = Section::with_options(
    "choose",
    "which model? the flowchart, decision matrix, best practices, pitfalls",
    "Rust's rules of thumb, each checked against the rows that back it",
    run,
)
.usage_check(check_from)
.owns_options(&["from"])
.main(|| {
    main();
    ExitCode::SUCCESS
});
// Not `.cpu_bound()`: with `--from` nothing is measured. When it measures rows itself it
// says what the runner would have said about a busy machine (`this_run`).

/// "As fast as": within this factor of the fastest cell. Wider than the tables' 10 % tie:
/// the waiting rows take tens of milliseconds at quick sizes, where a few milliseconds of
/// start-up are noise.
const AS_FAST: f64 = 1.3;

/// The rows the rules read: (section, scenario).
const CPU: (&str, &str) = ("benchmark-table", "CPU-bound");
const FEW: (&str, &str) = ("decision-matrix", "Download 5 files");
const MANY: (&str, &str) = ("decision-matrix", "Download 1000 files");
const IMAGES: (&str, &str) = ("decision-matrix", "Process 100 images");
const SCRAPING: (&str, &str) = ("decision-matrix", "Web scraping");
const QUERIES: (&str, &str) = ("decision-matrix", "Database queries (many)");
const SERVER: (&str, &str) = ("decision-matrix", "Real-time server");
const NEEDED: [(&str, &str); 7] = [CPU, FEW, MANY, IMAGES, SCRAPING, QUERIES, SERVER];
/// Read instead of [`QUERIES`] where the rows have it (PostgreSQL was there).
const PG: (&str, &str) = ("decision-matrix", crate::jobs::SERVER_ROW);

/// What a rule's check found: the cells it read, whether they back it, and the claim.
struct Check {
    lines: Vec<String>,
    evidence: Evidence,
    claim: String,
    /// It reads CPU rows (computation, in-process SQLite): a busy machine holds it.
    cpu: bool,
}

impl Check {
    /// A rule whose rows are not all there.
    fn missing(rows: &[(&str, &str)]) -> Check {
        let names: Vec<String> = rows.iter().map(|(s, r)| format!("{s} / {r}")).collect();
        Check {
            lines: vec![],
            evidence: Evidence::new(
                false,
                format!("the rows {}", names.join(", ")),
                "not all of them (run compare, or choose alone, to measure them)",
            ),
            claim: String::new(),
            cpu: false,
        }
    }
}

/// Every rule checked against `measured`, in the order of [`RULES`].
fn check_all(measured: &Measured) -> Vec<Check> {
    let row = |(section, scenario): (&str, &str)| {
        measured
            .rows
            .iter()
            .find(|r| r.section == section && r.scenario == scenario)
    };
    let cores = measured.machine.cores;
    vec![
        row(CPU).map_or_else(|| Check::missing(&[CPU]), |r| cpu_rule(r, cores)),
        row(FEW).map_or_else(|| Check::missing(&[FEW]), few_waits_rule),
        match (row(MANY), row(SERVER)) {
            (Some(many), Some(server)) => many_waits_rule(many, server),
            _ => Check::missing(&[MANY, SERVER]),
        },
        row(SCRAPING).map_or_else(|| Check::missing(&[SCRAPING]), mixed_rule),
        match (row(CPU), row(IMAGES)) {
            (Some(cpu), Some(images)) => processes_rule(cpu, images),
            _ => Check::missing(&[CPU, IMAGES]),
        },
        match (row(PG), row(QUERIES)) {
            (Some(server), _) => server_rule(server),
            (None, Some(sqlite)) => no_mixing_rule(sqlite),
            (None, None) => Check::missing(&[QUERIES]),
        },
    ]
}

const IN_PROCESS: [Model; 3] = [Model::Threads, Model::ThreadPool, Model::Rayon];
const TOKIO: [Model; 2] = [Model::Tokio, Model::Hybrid];

/// A cell that did not run reads as never finishing: no claim rests on it.
fn or_never(s: Option<f64>) -> f64 {
    s.unwrap_or(f64::INFINITY)
}

fn dur(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() { s.max(0.0) } else { 1e9 })
}

/// The fastest of `models` on `row` (`models[0]` and never, if none ran).
fn best(row: &MeasuredRow, models: &[Model]) -> (Model, f64) {
    row.best_of(models).unwrap_or((models[0], f64::INFINITY))
}

/// `fast` at least `at_least` times faster than `slow` (named `slow_name`) on `row`, and
/// by more than either cell's own runs varied.
fn faster(row: &MeasuredRow, fast: Model, slow: Model, slow_name: &str, at_least: f64) -> Evidence {
    let at_least = at_least.max(row.spread(fast)).max(row.spread(slow));
    let time = |m| dur(or_never(row.seconds(m)));
    Evidence::faster(fast.name(), time(fast), slow_name, time(slow), at_least)
}

/// The best of `models` on `row`, and whether it is as fast as the fastest cell.
fn as_fast(row: &MeasuredRow, models: &[Model], name: &str) -> (Model, f64, Evidence) {
    let (model, time) = best(row, models);
    let (fastest, f) = row.fastest().unwrap_or((model, time));
    let evidence = Evidence::new(
        time.is_finite() && time <= f * AS_FAST,
        format!(
            "{name} within {:.0} % of the fastest cell on {}",
            (AS_FAST - 1.0) * 100.0,
            row.scenario
        ),
        format!(
            "{} {} against {} {}",
            model.name(),
            secs(time),
            fastest.name(),
            secs(f)
        ),
    );
    (model, time, evidence)
}

/// 1. CPU work: the best in-process cell scales over sequential on every core, and
///    processes are no faster.
fn cpu_rule(row: &MeasuredRow, cores: usize) -> Check {
    let sequential = or_never(row.seconds(Model::Sequential));
    let (model, time) = best(row, &IN_PROCESS);
    let processes = or_never(row.seconds(Model::Processes));
    let speedup = sequential / time.max(f64::MIN_POSITIVE);
    let evidence = Evidence::scaling(speedup, cores).and(Evidence::new(
        processes * CLOSE >= time,
        format!("processes no more than 10 % faster than {}", model.name()),
        format!("processes {} against {}", secs(processes), secs(time)),
    ));
    use Model::*;
    Check {
        lines: vec![row.line(&[Sequential, Threads, ThreadPool, Rayon, Processes], false)],
        evidence,
        claim: format!(
            "CPU work: {} ran {speedup:.1}x sequential on {cores} cores in one process; processes were no faster ({})",
            model.name(),
            secs(processes)
        ),
        cpu: true,
    }
}

/// 2. A few waits: threads overlap them (far faster than one after another) and are as
///    fast as the fastest cell, tokio included.
fn few_waits_rule(row: &MeasuredRow) -> Check {
    let (model, time, evidence) = as_fast(row, &[Model::Threads, Model::ThreadPool], "threads");
    let sequential = or_never(row.seconds(Model::Sequential));
    let evidence = evidence.and(faster(row, model, Model::Sequential, "sequential", 2.0));
    use Model::*;
    Check {
        lines: vec![row.line(&[Sequential, Threads, ThreadPool, Tokio], false)],
        evidence,
        claim: format!(
            "a few waits: {} took {} ({:.1}x faster than one after another), as fast as any cell: no runtime needed",
            model.name(),
            secs(time),
            sequential / time.max(f64::MIN_POSITIVE),
        ),
        cpu: false,
    }
}

/// 3. Many waits or connections: tokio (alone or with rayon) is as fast as the fastest
///    cell on both rows, and beats a thread per download in time and memory.
fn many_waits_rule(many: &MeasuredRow, server: &MeasuredRow) -> Check {
    let (model, tokio, fast) = as_fast(many, &TOKIO, "tokio");
    let (_, _, serves) = as_fast(server, &TOKIO, "tokio");
    let threads = or_never(many.seconds(Model::Threads));
    let (tokio_mem, threads_mem) = (many.memory(model), many.memory(Model::Threads));
    let lighter = Evidence::new(
        tokio_mem.zip(threads_mem).is_some_and(|(t, th)| t < th),
        format!("tokio lighter than a thread per item on {}", many.scenario),
        format!("{} against {}", mem(tokio_mem), mem(threads_mem)),
    );
    let evidence = fast
        .and(serves)
        .and(faster(
            many,
            model,
            Model::Threads,
            "a thread per download",
            1.0,
        ))
        .and(lighter);
    use Model::*;
    let shown = [Threads, ThreadPool, Tokio, Hybrid];
    Check {
        lines: vec![many.line(&shown, true), server.line(&shown, true)],
        evidence,
        claim: format!(
            "many waits: {} took {} in {}, a thread per download {} in {}; tokio served the clients as fast as any cell",
            model.name(),
            secs(tokio),
            mem(tokio_mem),
            secs(threads),
            mem(threads_mem)
        ),
        cpu: false,
    }
}

/// 4. Mixed work: tokio with the parsing handed to rayon (the hybrid cell) is as fast as
///    the fastest cell, and far faster than rayon alone, whose threads wait one download
///    each.
fn mixed_rule(row: &MeasuredRow) -> Check {
    let (_, hybrid, evidence) = as_fast(row, &[Model::Hybrid], "hybrid");
    let rayon = or_never(row.seconds(Model::Rayon));
    let evidence = evidence.and(faster(row, Model::Hybrid, Model::Rayon, "rayon alone", 2.0));
    use Model::*;
    Check {
        lines: vec![row.line(&[Rayon, Threads, Tokio, Hybrid], false)],
        evidence,
        claim: format!(
            "mixed work: tokio with the parsing on rayon took {}, as fast as any cell and {:.1}x faster than rayon alone",
            secs(hybrid),
            rayon / hybrid.max(f64::MIN_POSITIVE)
        ),
        cpu: false,
    }
}

/// 5. Processes for isolation: on the CPU row no faster than the best in-process cell and
///    heavier; with images to copy, slower.
fn processes_rule(cpu: &MeasuredRow, images: &MeasuredRow) -> Check {
    let (model, time) = best(cpu, &IN_PROCESS);
    let processes = or_never(cpu.seconds(Model::Processes));
    let (p_mem, t_mem) = (cpu.memory(Model::Processes), cpu.memory(model));
    let (img_model, img_time) = best(images, &IN_PROCESS);
    let img_processes = or_never(images.seconds(Model::Processes));
    let evidence = Evidence::new(
        processes * CLOSE >= time && p_mem.zip(t_mem).is_some_and(|(p, t)| p > t),
        format!(
            "on {}, processes no more than 10 % faster than {} and heavier",
            cpu.scenario,
            model.name()
        ),
        format!(
            "{} in {} against {} in {}",
            secs(processes),
            mem(p_mem),
            secs(time),
            mem(t_mem)
        ),
    )
    .and(faster(
        images,
        img_model,
        Model::Processes,
        "processes",
        CLOSE,
    ));
    let memory = p_mem
        .zip(t_mem)
        .map_or(0.0, |(p, t)| p as f64 / t.max(1) as f64);
    let shown = [Model::ThreadPool, Model::Rayon, Model::Processes];
    Check {
        lines: vec![cpu.line(&shown, true), images.line(&shown, true)],
        evidence,
        claim: format!(
            "processes for isolation: no faster on {} at {memory:.1}x the memory, and {:.1}x the time of {} once the images are copied to them; a crash stays in its process (multiprocessing-demo crash-isolation)",
            cpu.scenario,
            img_processes / img_time.max(f64::MIN_POSITIVE),
            img_model.name()
        ),
        cpu: true,
    }
}

/// 6, on the server row: 10 threads with a blocking connection each against tokio's async
///    pool of 10, both far faster than one query at a time; the claim says which was
///    ahead, or that they were even (and what would favour the async driver, unmeasured).
fn server_rule(row: &MeasuredRow) -> Check {
    use Model::*;
    let seconds = |m| or_never(row.seconds(m));
    let (threads, tokio) = (seconds(ThreadPool), seconds(Tokio));
    let pool = row.cell(ThreadPool).and_then(|c| c.workers);
    let pool = pool.unwrap_or(PG_POOL);
    let apart = threads.max(tokio) / threads.min(tokio).max(f64::MIN_POSITIVE);
    let waits = |m| faster(row, m, Sequential, "one query at a time", 2.0);
    let mut evidence = waits(ThreadPool).and(waits(Tokio));
    let found = if apart <= AS_FAST {
        format!(
            "even at {pool} connections ({apart:.2}x apart): the server sets the pace. Thousands of queries waiting at once would favour the async driver (a task each, where threads need a stack each), which this row does not measure"
        )
    } else if tokio < threads {
        evidence = evidence.and(faster(row, Tokio, ThreadPool, "the threads", AS_FAST));
        format!("the async pool was {apart:.1}x faster")
    } else {
        evidence = evidence.and(faster(row, ThreadPool, Tokio, "the async pool", AS_FAST));
        format!("the blocking threads were {apart:.1}x faster")
    };
    Check {
        lines: vec![row.line(&[Sequential, Threads, ThreadPool, Tokio, Hybrid], true)],
        evidence,
        claim: format!(
            "database queries, judged on the server row ({}): {pool} threads with a blocking connection each took {}, tokio with an async pool of {pool} {}, one query at a time {}: {found}",
            row.scenario,
            secs(threads),
            secs(tokio),
            secs(seconds(Sequential))
        ),
        cpu: false,
    }
}

/// 6, without a server row. Not mixing: with nothing to wait for, handing each query from
///    tokio to `spawn_blocking` (the hybrid cell) is slower than one model alone.
fn no_mixing_rule(row: &MeasuredRow) -> Check {
    let hybrid = or_never(row.seconds(Model::Hybrid));
    use Model::*;
    let shown = [Sequential, ThreadPool, Rayon, Hybrid];
    let (model, time) = best(row, &shown[..3]);
    let evidence = faster(row, model, Hybrid, "tokio + spawn_blocking", CLOSE);
    Check {
        lines: vec![row.line(&shown, false)],
        evidence,
        claim: format!(
            "database queries, judged on the SQLite row ({}, in process; no server row here): don't mix for nothing: queries handed one by one from tokio to spawn_blocking took {}, {:.1}x the time of {} alone ({})",
            row.scenario,
            secs(hybrid),
            hybrid / time.max(f64::MIN_POSITIVE),
            model.name(),
            secs(time)
        ),
        cpu: true,
    }
}

/// Where the rows come from.
enum Source<'a> {
    ThisRun,
    File(&'a Path),
}

/// `--from`'s rows, read once by the usage check (before any banner), for `run`.
static FROM: Mutex<Option<Measured>> = Mutex::new(None);

/// `--from FILE.json`: only in the terminal format, and a file `compare --format json`
/// wrote, holding at least one row the rules read. Read here, once, and kept for `run`.
fn check_from(options: &Options) -> Result<(), UsageError> {
    let Some(path) = &options.from else {
        return Ok(());
    };
    if options.format != Format::Terminal || options.chart.is_some() {
        return Err(UsageError(
            "--from prints the rules to the terminal: drop --format and --chart (they print this run's rows)".into(),
        ));
    }
    let measured = read_from(path, &NEEDED)?;
    *FROM.lock().unwrap_or_else(|p| p.into_inner()) = Some(measured);
    Ok(())
}

fn run(options: &Options) -> SectionResult {
    let (measured, source) = match &options.from {
        Some(path) => {
            let read = FROM.lock().unwrap_or_else(|p| p.into_inner()).take();
            (
                read.map_or_else(|| read_from(path, &NEEDED), Ok)?,
                Source::File(path),
            )
        }
        None => (this_run(options)?, Source::ThisRun),
    };
    if options.format != Format::Terminal {
        // Data formats: the rows measured went into the data; nothing to print here.
        return Ok(());
    }
    let width = report::width();
    let held = match source {
        Source::ThisRun => options.shared.reading().and_then(|m| m.cpu_trouble()),
        Source::File(_) => file_trouble(&measured.machine.load()),
    };
    let (shown, open) = print_rules(&measured, &source, held.as_deref(), width);
    print_block(&flowchart_lines(), width);
    print_matrix(&measured, width);
    print_block(&practice_lines("pitfalls", &PITFALLS), width);
    print_block(&practice_lines("best practices", &BEST_PRACTICES), width);
    println!();
    let rows = match source {
        Source::ThisRun => "this run's rows".to_owned(),
        Source::File(path) => format!("the rows of {}", path.display()),
    };
    let open = match open {
        0 => String::new(),
        n => format!(" ({n} not decided)"),
    };
    takeaway(format!(
        "{shown} of {} rules shown by {rows}{open}; where one is not, measure your own workload before you choose",
        RULES.len()
    ));
    Ok(())
}

/// Why a file's rows cannot decide the rules that read CPU rows: the machine they were
/// measured on, as the file's `machine` says (not this machine now).
fn file_trouble(m: &Load) -> Option<String> {
    let online = m.online_cores.unwrap_or(m.usable_cores);
    if m.usable_cores < 2 || m.usable_cores < online {
        return Some(format!(
            "those rows were measured with {} of the machine's {online} cores usable",
            m.usable_cores
        ));
    }
    m.is_busy().then(|| {
        format!(
            "those rows were measured on a busy machine ({})",
            when_measured(m)
        )
    })
}

/// A file's machine reading in words, as it was when the rows were measured.
fn when_measured(m: &Load) -> String {
    let online = m.online_cores.unwrap_or(m.usable_cores);
    let busy = m
        .others_busy
        .map(|b| format!("other processes using {b:.1} of {online} cores"));
    let load = m.load_1m.map(|l| format!("load average {l:.2}"));
    let both: Vec<String> = busy.into_iter().chain(load).collect();
    match both.is_empty() {
        true => format!("{online} cores"),
        false => both.join(", "),
    }
}

/// This run's rows: those an earlier section measured, and the ones missing measured now
/// (at quick sizes unless --full or --tiny), through the JSON `--format json` prints.
fn this_run(options: &Options) -> anyhow::Result<Measured> {
    let (rows, _) = options.shared.results();
    // The server row too, unless this run has already looked for a server.
    let server = (!options.shared.server_looked_for()).then_some(PG);
    let missing: Vec<(&str, &str)> = NEEDED
        .into_iter()
        .chain(server)
        .filter(|&(section, scenario)| {
            !rows
                .iter()
                .any(|r| r.section == section && r.scenario == scenario)
        })
        .collect();
    if !missing.is_empty() {
        // What the runner says before a CPU-bound section, said only when measuring.
        let machine = common::claim::Machine::sample();
        if let Some(note) = machine.noisy_note(machine.usable_cores.max(2)) {
            if options.format == Format::Terminal {
                println!("{note}");
            } else {
                eprintln!("choose: {}", note.trim_start());
            }
        }
        let sizes = match options.sizes() {
            Sizes::Full if !options.full => Sizes::Quick,
            sizes => sizes,
        };
        measure_rows(options, sizes, true, |env| {
            benchmark_table::scenarios(env)
                .into_iter()
                .chain(decision_matrix::scenarios(env))
                .filter(|s| missing.contains(&(s.section, s.name)))
                .collect()
        })?;
    }
    let (rows, machine) = options.shared.results();
    let machine = machine.unwrap_or_else(|| crate::report::Machine::here(options.sizes()));
    let json = report::json(&Report {
        machine: &machine,
        rows: &rows,
    })?;
    parse(&json).map_err(anyhow::Error::msg)
}

/// Each rule with the cells it reads and its verdict (a rule that reads CPU rows is not
/// decided when `held` says why); returns how many were shown, and how many not decided.
fn print_rules(
    measured: &Measured,
    source: &Source,
    held: Option<&str>,
    width: usize,
) -> (usize, usize) {
    let m = &measured.machine;
    match source {
        Source::ThisRun => println!("  The rules of thumb, each with this run's rows:"),
        Source::File(path) => {
            println!(
                "  The rules of thumb, each with the rows of {}:",
                path.display()
            );
            println!(
                "  (measured on {}, {} cores, {}, {} build, {} sizes)",
                m.cpu, m.cores, m.os, m.profile, m.sizes
            );
        }
    }
    let (mut shown, mut open) = (0, 0);
    for (k, (rule, check)) in RULES.iter().zip(check_all(measured)).enumerate() {
        println!();
        let head = format!("{}. {} -> {}", k + 1, rule.workload, rule.rust);
        print!("{}", wrap(&head, width, "  ", "     "));
        let why = format!("(the guides: {}) {}", rule.python, rule.why);
        print!("{}", wrap(&why, width, "     ", "     "));
        for line in &check.lines {
            print!("{}", wrap(line, width, "     ", "       "));
        }
        if let Some(why) = held.filter(|_| check.cpu) {
            println!("not decided in this run: {why}");
            open += 1;
            continue;
        }
        shown += usize::from(match source {
            Source::ThisRun => takeaway_if(&check.evidence, &check.claim),
            Source::File(_) => {
                let load = m.load();
                let cause = format!(
                    "no sign of a busy machine when those rows were measured ({}); figures vary from run to run, measure again",
                    when_measured(&load)
                );
                let evidence = check.evidence.clone().because(cause);
                println!("{}", evidence.verdict(&check.claim, None));
                evidence.holds()
            }
        });
    }
    println!();
    for row in &measured.rows {
        let key = (row.section.as_str(), row.scenario.as_str());
        if NEEDED.contains(&key) || key == PG {
            let first = format!("  {:26}", row.scenario);
            print!("{}", wrap(&row.workload, width, &first, &" ".repeat(28)));
        }
    }
    (shown, open)
}

/// Rust's answer for the server row, beside the guide's matrix where the rows have it.
const SERVER_ANSWER: &str = "tokio, an async driver and a pool (rule 6)";

fn print_matrix(measured: &Measured, width: usize) {
    let rust: Vec<String> = MATRIX
        .iter()
        .map(|(_, rule, rust, _)| format!("{rust} (rule {})", rule + 1))
        .collect();
    let server = measured
        .rows
        .iter()
        .find(|r| (r.section.as_str(), r.scenario.as_str()) == PG);
    let answers = rust.iter().map(String::as_str);
    let w = answers.chain(server.map(|_| SERVER_ANSWER));
    let w = w.map(|r| r.chars().count()).max().unwrap_or(0);
    println!();
    println!(
        "  {:25} {:16} {:w$} fastest here",
        "the decision matrix", "they say", "Rust"
    );
    for ((scenario, _, _, differs), rust) in MATRIX.iter().zip(&rust) {
        let pick = decision_matrix::MATRIX
            .iter()
            .find(|m| m.0 == *scenario)
            .map_or(String::new(), |m| format!("{:?}", m.1).to_lowercase());
        let fastest = measured
            .rows
            .iter()
            .find(|r| r.section == "decision-matrix" && r.scenario == *scenario)
            .and_then(MeasuredRow::fastest)
            .map_or("not measured", |(m, _)| m.name());
        println!("  {scenario:25} {pick:16} {rust:w$} {fastest}");
        if !differs.is_empty() {
            let indent = " ".repeat(28);
            print!("{}", wrap(&format!("≠ {differs}"), width, &indent, &indent));
        }
    }
    if let Some(row) = server {
        let fastest = row.fastest().map_or("not measured", |(m, _)| m.name());
        println!(
            "  {:25} {:16} {SERVER_ANSWER:w$} {fastest}",
            PG.1, "asyncio"
        );
    }
}

/// A heading and its lines, the long ones wrapped to `width`.
fn print_block(lines: &[String], width: usize) {
    println!();
    for line in lines {
        print!("{}", wrap(line, width, "  ", "    "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Env;
    use crate::rows_file::MAX_BYTES;

    /// A report with the rows the rules read; `cells(scenario)` gives each row's
    /// (model, seconds, peak MiB).
    fn report(cores: usize, cells: impl Fn(&str) -> Vec<(&'static str, f64, u64)>) -> String {
        let rows: Vec<serde_json::Value> = NEEDED
            .iter()
            .map(|&(section, scenario)| {
                let cells: Vec<serde_json::Value> = cells(scenario)
                    .into_iter()
                    .map(|(model, seconds, mib)| {
                        serde_json::json!({
                            "model": model, "seconds": seconds, "peak_rss_bytes": mib << 20,
                            "python_family": "threading", "workers": 2, "runs": 1,
                            "fastest": false, "not_applicable": null,
                        })
                    })
                    .collect();
                serde_json::json!({
                    "section": section, "scenario": scenario, "workload": "w",
                    "python_recommends": "asyncio", "python_guide_seconds": {},
                    "rust_winner": "tokio", "agrees": true, "verdict": "agrees",
                    "winner_vs_recommended": 1.0, "cells": cells,
                })
            })
            .collect();
        serde_json::json!({
            "machine": {
                "cpu": "test CPU", "cores": cores, "os": "linux", "arch": "x86_64",
                "profile": "release", "sizes": "quick", "load_1m": 0.1,
                "usable_cores": cores, "online_cores": cores, "others_busy": 0.0,
            },
            "rows": rows,
        })
        .to_string()
    }

    /// Rows as a quiet 2-core machine measures them: every rule backed.
    fn backing(scenario: &str) -> Vec<(&'static str, f64, u64)> {
        match scenario {
            "CPU-bound" => vec![
                ("sequential", 0.160, 4),
                ("threads", 0.085, 5),
                ("thread-pool", 0.084, 5),
                ("processes", 0.086, 13),
                ("rayon", 0.082, 5),
                ("hybrid", 0.083, 6),
            ],
            "Download 5 files" => vec![
                ("sequential", 0.200, 6),
                ("threads", 0.044, 6),
                ("thread-pool", 0.043, 6),
                ("tokio", 0.042, 6),
            ],
            "Download 1000 files" | "Real-time server" => vec![
                ("sequential", 0.860, 6),
                ("threads", 0.087, 16),
                ("thread-pool", 0.150, 6),
                ("tokio", 0.035, 12),
            ],
            "Process 100 images" => vec![
                ("thread-pool", 0.021, 26),
                ("rayon", 0.022, 25),
                ("processes", 0.032, 52),
            ],
            "Web scraping" => vec![
                ("threads", 0.023, 8),
                ("rayon", 0.230, 6),
                ("tokio", 0.024, 9),
                ("hybrid", 0.026, 9),
            ],
            "Database queries (many)" => vec![
                ("sequential", 0.0027, 6),
                ("thread-pool", 0.0028, 7),
                ("rayon", 0.0032, 7),
                ("hybrid", 0.019, 18),
            ],
            _ => vec![],
        }
    }

    fn verdicts(json: &str) -> Vec<bool> {
        check_all(&parse(json).unwrap())
            .iter()
            .map(|c| c.evidence.holds())
            .collect()
    }

    #[test]
    fn rows_like_a_quiet_machine_back_every_rule() {
        assert_eq!(verdicts(&report(2, backing)), [true; 6]);
    }

    #[test]
    fn rows_that_disagree_contradict_only_their_rules() {
        // Processes win the CPU row by far, and a thread per download beats tokio.
        let json = report(2, |scenario| {
            let mut cells = backing(scenario);
            for (model, seconds, _) in &mut cells {
                match (scenario, *model) {
                    ("CPU-bound", "processes") => *seconds = 0.040,
                    ("Download 1000 files", "threads") => *seconds = 0.010,
                    _ => {}
                }
            }
            cells
        });
        assert_eq!(
            verdicts(&json),
            [false, true, false, true, false, true],
            "rules 1, 3 and 5 read the changed cells"
        );
        let checks = check_all(&parse(&json).unwrap());
        let line = checks[0].evidence.verdict(&checks[0].claim, None);
        assert!(line.starts_with("not shown in this run:"), "{line}");
        assert!(line.contains("processes 40.0 ms"), "{line}");
    }

    #[test]
    fn one_core_cannot_back_the_cpu_rule() {
        assert_eq!(
            verdicts(&report(1, backing)),
            [false, true, true, true, true, true]
        );
    }

    /// The rows of [`backing`] and a server row of these (model, seconds).
    fn with_server(cells: &[(&str, f64)]) -> Measured {
        let mut json: serde_json::Value = serde_json::from_str(&report(2, backing)).unwrap();
        let cells: Vec<serde_json::Value> = cells
            .iter()
            .map(|(model, seconds)| {
                serde_json::json!({"model": model, "seconds": seconds, "peak_rss_bytes": 10 << 20, "workers": 10})
            })
            .collect();
        let row = serde_json::json!({
            "section": "decision-matrix", "scenario": "Database queries (server)",
            "workload": "w", "cells": cells,
        });
        json["rows"].as_array_mut().unwrap().push(row);
        parse(&json.to_string()).unwrap()
    }

    #[test]
    fn rule_6_is_judged_on_the_server_row_where_there_is_one() {
        let rule_6 = |cells: &[(&str, f64)]| check_all(&with_server(cells)).remove(5);
        let even = rule_6(&[
            ("sequential", 1.1),
            ("thread-pool", 0.118),
            ("tokio", 0.112),
        ]);
        assert!(even.evidence.holds() && !even.cpu, "waits, not CPU work");
        assert!(
            even.claim.contains("judged on the server row"),
            "{}",
            even.claim
        );
        assert!(
            even.claim.contains("even at 10 connections"),
            "{}",
            even.claim
        );
        let ahead = rule_6(&[("sequential", 1.1), ("thread-pool", 0.1), ("tokio", 0.2)]);
        assert!(ahead.evidence.holds());
        assert!(
            ahead
                .claim
                .ends_with("the blocking threads were 2.0x faster"),
            "{}",
            ahead.claim
        );
        // Neither faster than one query at a time: the waits did not overlap.
        let serial = rule_6(&[("sequential", 0.1), ("thread-pool", 0.1), ("tokio", 0.1)]);
        let line = serial.evidence.verdict(&serial.claim, None);
        assert!(line.starts_with("not shown in this run:"), "{line}");
        assert!(line.contains("than one query at a time"), "{line}");
        // Without it, the SQLite row, held on a busy machine as CPU work.
        let sqlite = check_all(&parse(&report(2, backing)).unwrap()).remove(5);
        assert!(sqlite.cpu && sqlite.claim.contains("judged on the SQLite row"));
    }

    #[test]
    fn a_missing_row_is_not_shown_and_says_which() {
        let json = report(2, |scenario| match scenario {
            "Web scraping" => vec![],
            _ => backing(scenario),
        });
        let mut measured = parse(&json).unwrap();
        measured.rows.retain(|r| r.scenario != "Real-time server");
        let checks = check_all(&measured);
        let holds: Vec<bool> = checks.iter().map(|c| c.evidence.holds()).collect();
        assert_eq!(holds, [true, true, false, false, true, true]);
        let line = checks[2].evidence.verdict("", None);
        assert!(line.contains("Real-time server"), "{line}");
    }

    #[test]
    fn a_bad_or_missing_file_is_a_one_line_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "{\"rows\": [1, 2]}\n").unwrap();
        let empty = dir.path().join("empty.json");
        let mut no_rows: serde_json::Value = serde_json::from_str(&report(2, backing)).unwrap();
        no_rows["rows"] = serde_json::json!([]);
        std::fs::write(&empty, no_rows.to_string()).unwrap();
        for (path, says) in [
            (&missing, "cannot read it"),
            (&garbage, "not the JSON of compare --format json"),
            (&empty, "none of the rows"),
        ] {
            let UsageError(e) = read_from(path, &NEEDED).unwrap_err();
            assert!(e.contains(says), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let good = dir.path().join("good.json");
        std::fs::write(&good, report(2, backing)).unwrap();
        assert_eq!(read_from(&good, &NEEDED).unwrap().rows.len(), NEEDED.len());
    }

    fn write(dir: &Path, name: &str, json: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, json).unwrap();
        path
    }

    #[test]
    fn every_number_must_be_a_figure_compare_could_print() {
        let dir = tempfile::tempdir().unwrap();
        let good: serde_json::Value = serde_json::from_str(&report(2, backing)).unwrap();
        let with = |pointer: &str, value: serde_json::Value| {
            let mut json = good.clone();
            *json.pointer_mut(pointer).unwrap() = value;
            json.to_string()
        };
        for (pointer, value, says) in [
            (
                "/rows/0/cells/0/seconds",
                serde_json::json!(1e308),
                "seconds 1e308 is not a time",
            ),
            (
                "/rows/0/cells/0/seconds",
                serde_json::json!(-4494.0),
                "seconds -4494 is not a time",
            ),
            (
                "/rows/0/cells/0/seconds",
                serde_json::json!(0.0),
                "seconds 0 is not a time",
            ),
            ("/machine/cores", serde_json::json!(0), "core count"),
            ("/machine/load_1m", serde_json::json!(-1.0), "load"),
            ("/machine/others_busy", serde_json::json!(1e300), "busy"),
        ] {
            let path = write(dir.path(), "bad.json", &with(pointer, value));
            let UsageError(e) = read_from(&path, &NEEDED).unwrap_err();
            assert!(e.contains(says), "{pointer}: {e}");
            assert!(e.contains("not the JSON of compare --format json"), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let mut slowest = good.clone();
        slowest["rows"][0]["cells"][1]["slowest_seconds"] = serde_json::json!(0.2);
        assert!(read_from(&write(dir.path(), "ok.json", &slowest.to_string()), &NEEDED).is_ok());
    }

    #[test]
    fn a_file_over_the_limit_is_refused_after_reading_only_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let big = " ".repeat(MAX_BYTES as usize + 10) + &report(2, backing);
        let UsageError(e) = read_from(&write(dir.path(), "big.json", &big), &NEEDED).unwrap_err();
        assert!(e.contains("over 4 MiB"), "{e}");
    }

    #[test]
    fn a_file_s_machine_is_the_machine_it_was_measured_on_not_this_one_now() {
        let busy = Load {
            load_1m: Some(564.85),
            usable_cores: 2,
            online_cores: Some(2),
            others_busy: Some(1.9),
        };
        let why = file_trouble(&busy).unwrap();
        assert_eq!(
            why,
            "those rows were measured on a busy machine (other processes using 1.9 of 2 cores, load average 564.85)"
        );
        assert!(!why.contains("just now"));
        let quiet = Load {
            others_busy: Some(0.0),
            ..busy
        };
        assert_eq!(file_trouble(&quiet), None);
        let pinned = Load {
            usable_cores: 1,
            ..quiet
        };
        assert!(
            file_trouble(&pinned)
                .unwrap()
                .contains("1 of the machine's 2 cores")
        );
    }

    #[test]
    fn the_rules_on_cpu_rows_are_the_ones_a_busy_machine_holds() {
        let checks = check_all(&parse(&report(2, backing)).unwrap());
        let cpu: Vec<bool> = checks.iter().map(|c| c.cpu).collect();
        assert_eq!(cpu, [true, false, false, false, true, true]);
    }

    #[test]
    fn a_lead_within_the_cells_own_spread_does_not_back_a_rule() {
        // Threads 4.5x faster than sequential, but sequential's two runs were 5x apart.
        let mut json: serde_json::Value = serde_json::from_str(&report(2, backing)).unwrap();
        let few = json["rows"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|r| r["scenario"] == "Download 5 files")
            .unwrap();
        few["cells"][0]["slowest_seconds"] = serde_json::json!(1.0);
        let checks = check_all(&parse(&json.to_string()).unwrap());
        let line = checks[1].evidence.verdict(&checks[1].claim, None);
        assert!(line.starts_with("not shown in this run:"), "{line}");
        assert!(
            line.contains("at least 5x faster than sequential"),
            "{line}"
        );
    }

    #[test]
    fn the_rules_read_rows_the_sections_measure() {
        let env = Env::for_tests();
        let rows: Vec<(&str, &str)> = benchmark_table::scenarios(&env)
            .into_iter()
            .chain(decision_matrix::scenarios(&env))
            .map(|s| (s.section, s.name))
            .collect();
        for needed in NEEDED {
            assert!(rows.contains(&needed), "{needed:?}");
        }
    }

    #[test]
    fn the_matrix_follows_the_guides_scenarios_and_names_real_rules() {
        let ours: Vec<&str> = MATRIX.iter().map(|m| m.0).collect();
        let theirs: Vec<&str> = decision_matrix::MATRIX.iter().map(|m| m.0).collect();
        assert_eq!(ours, theirs);
        assert!(MATRIX.iter().all(|m| m.1 < RULES.len()));
        assert!(FLOWCHART.iter().all(|f| f.2 < RULES.len()));
    }

    #[test]
    fn every_section_named_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for p in PITFALLS.iter().chain(&BEST_PRACTICES) {
            for shown in p.shown_in {
                let (krate, section) = shown.split_once(' ').unwrap();
                let file = root
                    .join(krate)
                    .join("src")
                    .join(format!("{}.rs", section.replace('-', "_")));
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{shown}: {}: {e}", file.display()));
                assert!(
                    text.contains(&format!("-- {section}")),
                    "{shown}: not a section"
                );
            }
        }
    }
}
