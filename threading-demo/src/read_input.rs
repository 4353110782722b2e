//! A thread reading `input()` into a `queue.Queue` while a worker computes -> a reader
//! thread sending each line over `mpsc`, and a main loop that answers it at once.
//!
//! Python:
//!     events = queue.Queue()
//!     def read_input():                     # blocks reading: only this thread waits
//!         for line in sys.stdin:
//!             if not line.strip(): break        # an empty line ends, as EOF does
//!             events.put(("line", line.strip(), time.perf_counter()))
//!         events.put(("eof", None, None))
//!     def work():
//!         for k, chunk in enumerate(chunks):
//!             crunch(chunk); events.put(("progress", k + 1, None))
//!         events.put(("done", total, None))
//!     threading.Thread(target=read_input, daemon=True).start()
//!     threading.Thread(target=work).start()
//!     while True:                           # the main loop: answer each line as it comes
//!         kind, value, read_at = events.get()
//!         ...
//!
//! Rust: the same three parts on one `std::sync::mpsc` channel (an enum for the kinds; the
//! senders' `Drop` ends it, no sentinel). The difference is the wait: in CPython the reader,
//! woken by a line, must take the GIL back from the computing worker, which hands it over
//! only every 5 ms (`sys.getswitchinterval()`), then the main loop must take it in turn, so
//! an answer comes milliseconds late (`--python` measures it). Here the reader and the loop
//! run beside the worker and answer within microseconds. Neither language can interrupt a
//! thread blocked in a read: Python marks it `daemon=True`; in Rust a thread not joined
//! ends with `main`. This loop ends when the worker is done and the input has ended (end of
//! file, or an empty line), so the reader has returned by then.
//!
//! Where the lines come from: in a terminal, what you type (a number and Enter while the
//! worker computes, for about 5 s in the demo; an empty line ends). Anywhere else (a pipe,
//! CI, the tests) nobody is typing, so it feeds itself: a thread writes eight lines, 25 ms
//! apart, into an OS pipe (`std::io::pipe`), which the reader thread reads as it would
//! read stdin. With no input at all (`< /dev/null`) it still feeds itself: it never waits
//! for lines that will not come.
//!
//! Watch: each line answered (its square, and the worker's progress) microseconds after it
//! was read, while the worker is still computing; then the worker's checked total. In the
//! demo: the worst delay from a line written to its answer, and a timeline where each of
//! the typist's writes and the main thread's answer fall in the same column, between the
//! worker's chunks.
//!
//! Run only this: cargo run -p threading-demo -- read-input
//! Copy it: cargo add anyhow@1 tracing@0.1

use std::hint::black_box;
use std::io::{self, BufRead, BufReader, IsTerminal, PipeReader, Read, Write};
use std::ops::Range;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// What the main loop hears, from either thread: one queue, like Python's `queue.Queue`.
#[derive(Debug)]
pub enum Event {
    /// A line the reader read, and when it read it.
    Line(String, Instant),
    /// The input has ended (end of file, or an empty line).
    InputEnded,
    /// The worker finished chunk number `.0` (from 1).
    Progress(usize),
    /// The worker's total.
    Done(u64),
}

/// The reader thread: send each line of `input` the moment it is read.
pub fn read_lines(input: impl BufRead, events: Sender<Event>) {
    for line in input.lines().map_while(Result::ok) {
        if line.trim().is_empty() {
            break;
        }
        if events.send(Event::Line(line, Instant::now())).is_err() {
            return; // the main loop has gone
        }
    }
    let _ = events.send(Event::InputEnded);
}

/// The worker thread: `crunch` each chunk, reporting progress, then the total.
pub fn work(chunks: Vec<Range<u64>>, crunch: impl Fn(Range<u64>) -> u64, events: Sender<Event>) {
    let mut total = 0u64;
    for (k, chunk) in chunks.into_iter().enumerate() {
        total = total.wrapping_add(tracing::info_span!("chunk", k).in_scope(|| crunch(chunk)));
        let _ = events.send(Event::Progress(k + 1));
    }
    let _ = events.send(Event::Done(total));
}

/// The answer to one line: a number's square, with the worker's progress.
pub fn answer(line: &str, done: usize, of: usize) -> String {
    let progress = format!("worker: {done}/{of} chunks");
    match line.trim().parse::<u64>() {
        Ok(n) => format!("{n} squared is {} ({progress})", u128::from(n).pow(2)),
        Err(_) => format!("{:?} is not a number ({progress})", line.trim()),
    }
}

/// The main loop: answer each line as it arrives, calling `reply(answer, delay since the
/// line was read, whether the worker was still computing)`. Returns the worker's total once
/// the worker is done and the input has ended (`None` if the worker stopped without one).
pub fn main_loop(
    events: Receiver<Event>,
    of: usize,
    mut reply: impl FnMut(&str, Duration, bool),
) -> Option<u64> {
    let (mut done, mut total, mut input_open) = (0, None, true);
    while input_open || total.is_none() {
        // `recv` fails once every sender is dropped: both threads have returned.
        match events.recv().ok()? {
            Event::Line(line, read_at) => {
                let _span = tracing::info_span!("answer").entered();
                let text = answer(&line, done, of);
                reply(&text, read_at.elapsed(), total.is_none());
            }
            Event::InputEnded => input_open = false,
            Event::Progress(k) => done = k,
            Event::Done(sum) => total = Some(sum),
        }
    }
    total
}

/// All of it: a reader thread on `input`, a worker thread on `chunks`, this thread
/// answering. Returns the worker's total.
pub fn answer_while_working(
    input: impl Read + Send + 'static,
    chunks: Vec<Range<u64>>,
    crunch: impl Fn(Range<u64>) -> u64 + Send + 'static,
    reply: impl FnMut(&str, Duration, bool),
) -> anyhow::Result<Option<u64>> {
    let (tx, rx) = mpsc::channel();
    let of = chunks.len();
    let to_main = tx.clone();
    let reader = thread::Builder::new()
        .name("reader".into())
        .spawn(move || read_lines(BufReader::new(input), to_main))?;
    let worker = thread::Builder::new()
        .name("worker".into())
        .spawn(move || work(chunks, crunch, tx))?;
    let total = main_loop(rx, of, reply);
    for thread in [reader, worker] {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a thread panicked"))?;
    }
    Ok(total)
}

/// Nobody at the keyboard: a thread writes `lines` into a pipe, one every `gap`, then closes
/// it (end of file). Returns the read end, which reads like stdin.
pub fn typed_by_nobody(lines: &[&str], gap: Duration) -> io::Result<PipeReader> {
    let (read_end, mut write_end) = io::pipe()?;
    let lines: Vec<String> = lines.iter().map(|line| format!("{line}\n")).collect();
    thread::Builder::new()
        .name("typist".into())
        .spawn(move || {
            for line in lines {
                thread::sleep(gap);
                let _typed = tracing::info_span!("type").entered();
                if write_end.write_all(line.as_bytes()).is_err() {
                    return; // the reader has gone
                }
            }
        })?;
    Ok(read_end)
}

/// `crunch(chunk)`: the sum of `i * i` over a range, wrapping (`black_box` keeps the
/// compiler from replacing the loop by its formula: the point is to burn CPU).
pub fn crunch(range: Range<u64>) -> u64 {
    let mut sum = 0u64;
    for i in range {
        sum = sum.wrapping_add(black_box(i).wrapping_mul(i));
    }
    sum
}

/// 60 million squares in 12 chunks on the worker, while this thread answers the lines
/// typed (in a terminal) or fed through a pipe (anywhere else).
fn main() -> anyhow::Result<()> {
    let input: Box<dyn Read + Send> = if io::stdin().is_terminal() {
        println!("type a number and Enter while the worker computes; an empty line ends");
        Box::new(io::stdin())
    } else {
        let lines = ["3", "12", "x", "1000", "7", "65536", "42", "9"];
        Box::new(typed_by_nobody(&lines, Duration::from_millis(25))?)
    };
    let n: u64 = 60_000_000;
    let chunks = (0..12).map(|k| n * k / 12..n * (k + 1) / 12).collect();
    let total = answer_while_working(input, chunks, crunch, |text, delay, working| {
        let when = if working {
            "while working"
        } else {
            "after the work"
        };
        println!("{text}: answered {delay:.1?} after it was read, {when}");
    })?;
    let n = u128::from(n);
    let expected = ((n - 1) * n * (2 * n - 1) / 6) as u64;
    anyhow::ensure!(total == Some(expected), "the worker's total {total:?}");
    println!("worker's total {expected}, checked");
    Ok(())
}

// --- run and measure ---

use std::process::Termination;

use common::cli::{Section, SectionResult};
use common::print::{Evidence, figure, takeaway_if};
use common::python::{Pair, Twin, flags};
use common::timeline::{Lanes, Recorded, Recording};
use common::timing::{Secs, timed};
use common::workload::{split_range, sum_of_squares_expected, sum_of_squares_in};

pub const SECTION: Section = Section::new(
    "read-input",
    "a thread reading input() + queue.Queue",
    "each line typed answered at once while a worker computes",
    run,
)
.main(|| main().report())
.twin(&TWIN);

/// `--python`: the same pipe, lines and worker in CPython, where the GIL delays the answers.
const TWIN: Twin = Twin::new(
    "read_input.py",
    include_str!("../python/read_input.py"),
    &["worst_delay_s", "answered_working", "work_s"],
);

/// What nobody types, one line every `GAP`.
const LINES: [&str; 8] = ["3", "12", "x", "1000", "7", "65536", "42", "9"];
const GAP: Duration = Duration::from_millis(25);
/// The worker computes about this long (in a terminal: `TYPING`), in chunks of `CHUNK`.
const BUSY: Duration = Duration::from_millis(400);
const TYPING: Duration = Duration::from_secs(5);
const CHUNK: u64 = 20_000_000;
/// An answer later than this is a visible stutter.
const LATE: Duration = Duration::from_millis(10);

fn run() -> SectionResult {
    let terminal = io::stdin().is_terminal();
    let busy = if terminal { TYPING } else { BUSY };
    let one = (0..3)
        .map(|_| timed(|| sum_of_squares_in(0..CHUNK)).1)
        .min();
    let one = one.unwrap_or_default();
    let chunks = (busy.as_secs_f64() / one.as_secs_f64().max(1e-6)).clamp(4.0, 1e5) as usize;
    let (n, recording) = (CHUNK * chunks as u64, Recording::start());
    let input = input(terminal, busy)?;
    let (mut replies, mut first) = (Vec::new(), None);
    let total = answer_while_working(
        input,
        split_range(n, chunks),
        sum_of_squares_in,
        |text, since_read, working| {
            if terminal {
                println!("  -> {text}");
            }
            first.get_or_insert_with(|| text.to_owned());
            replies.push((since_read, working));
        },
    );
    let spans = recording.finish().named(&["chunk", "answer", "type"]);
    anyhow::ensure!(total? == Some(sum_of_squares_expected(n)), "a wrong total");
    let took = Secs(spans.filter(|s| s.name == "chunk").extent());
    anyhow::ensure!(
        terminal || replies.len() == LINES.len(),
        "a line unanswered"
    );
    let working = while_working(&spans, &replies);
    let worst = working.iter().max().copied().unwrap_or_default();
    let (answered, in_time, late) = (replies.len(), working.len(), Secs(LATE));
    let from = if terminal { "read" } else { "written" };
    figure("worker", format!("{chunks} chunks, {took} (total checked)"));
    if let Some(first) = first {
        figure("first answer", first);
    }
    figure(
        "lines answered",
        format!("{answered}, {in_time} while it computed"),
    );
    figure(format!("worst delay, {from} -> answer"), Secs(worst));
    spans.print(Lanes::Thread);
    if !terminal {
        compare(worst, in_time)?;
    }
    let worst = Secs(worst);
    takeaway_if(
        &Evidence::new(
            in_time > 0 && worst.0 <= LATE,
            format!("every line answered within {late} while the worker computed"),
            format!("{in_time} answered while it computed, the worst after {worst}"),
        ),
        format!(
            "a reader thread and a channel answer at once (worst {worst}) while another thread computes"
        ),
    );
    Ok(())
}

/// The lines: what is typed in a terminal, or else [`LINES`] fed through a pipe.
fn input(terminal: bool, busy: Duration) -> io::Result<Box<dyn Read + Send>> {
    if !terminal {
        return Ok(Box::new(typed_by_nobody(&LINES, GAP)?));
    }
    let about = Secs(busy);
    println!(
        "  type a number and Enter while the worker computes (for about {about}); an empty line ends"
    );
    Ok(Box::new(io::stdin()))
}

/// `--python`: the same lines through a pipe (typed by a child process), the worker in a
/// thread, under the GIL.
fn compare(worst: Duration, in_time: usize) -> anyhow::Result<()> {
    let job = flags(&[
        ("--lines", &LINES.len()),
        ("--gap", &GAP.as_secs_f64()),
        ("--busy", &BUSY.as_secs_f64()),
    ]);
    let worst = Pair::secs(
        "worst delay, written -> answer",
        "worst_delay_s",
        worst.as_secs_f64(),
    );
    let in_time = Pair::count(
        "lines answered while it computed",
        "answered_working",
        in_time as f64,
    );
    TWIN.compare(&job, &[worst.timer(), in_time.timer()])
}

/// The delays of the answers given while the worker computed (the replies' flag): from the
/// line written (its `type` span, fed through the pipe) or else from the line read.
fn while_working(spans: &Recorded, replies: &[(Duration, bool)]) -> Vec<Duration> {
    let ends = |name| {
        spans
            .filter(|s| s.name == name)
            .spans()
            .iter()
            .map(|s| s.end_us)
            .collect()
    };
    let (typed, answered): (Vec<u64>, Vec<u64>) = (ends("type"), ends("answer"));
    let since_typed = |k: usize| Some(answered.get(k)?.saturating_sub(*typed.get(k)?));
    let delays = replies.iter().enumerate().filter(|(_, reply)| reply.1);
    delays
        .map(|(k, reply)| since_typed(k).map_or(reply.0, Duration::from_micros))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_sends_each_line_then_says_the_input_ended() {
        let (tx, rx) = mpsc::channel();
        read_lines(io::Cursor::new("3\nx\n"), tx);
        let got: Vec<String> = rx
            .iter()
            .map(|e| match e {
                Event::Line(line, _) => line,
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(got, ["3", "x", "InputEnded"]);
    }

    #[test]
    fn an_empty_line_ends_the_input() {
        let (tx, rx) = mpsc::channel();
        read_lines(io::Cursor::new("1\n\n2\n"), tx);
        assert_eq!(rx.iter().count(), 2, "the line 1, then the end");
    }

    #[test]
    fn answers_show_the_square_and_the_progress() {
        assert_eq!(
            answer(" 12 ", 3, 12),
            "12 squared is 144 (worker: 3/12 chunks)"
        );
        assert_eq!(
            answer("x", 0, 4),
            "\"x\" is not a number (worker: 0/4 chunks)"
        );
        assert_eq!(
            answer(&u64::MAX.to_string(), 1, 1),
            format!(
                "{} squared is {} (worker: 1/1 chunks)",
                u64::MAX,
                u128::from(u64::MAX).pow(2)
            )
        );
    }

    #[test]
    fn the_loop_answers_with_the_progress_so_far_and_waits_for_both_ends() {
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        for event in [
            Event::Progress(1),
            Event::Line("2".into(), now),
            Event::Done(5),
            Event::Line("3".into(), now),
            Event::InputEnded,
        ] {
            tx.send(event).unwrap();
        }
        let mut replies = Vec::new();
        let total = main_loop(rx, 2, |text, _, working| {
            replies.push((text.to_owned(), working))
        });
        assert_eq!(total, Some(5));
        assert_eq!(
            replies,
            [
                ("2 squared is 4 (worker: 1/2 chunks)".to_owned(), true),
                ("3 squared is 9 (worker: 1/2 chunks)".to_owned(), false),
            ]
        );
    }

    #[test]
    fn the_loop_ends_when_both_threads_have_gone() {
        let (tx, rx) = mpsc::channel();
        tx.send(Event::InputEnded).unwrap();
        drop(tx); // the worker died without a total
        assert_eq!(main_loop(rx, 1, |_, _, _| {}), None);
    }

    #[test]
    fn lines_from_a_pipe_are_all_answered_and_the_total_is_right() {
        let input = typed_by_nobody(&["4", "5"], Duration::ZERO).unwrap();
        let mut answers = Vec::new();
        let total = answer_while_working(
            input,
            split_range(1_000, 3),
            sum_of_squares_in,
            |text, _, _| answers.push(text.split(" (").next().unwrap_or_default().to_owned()),
        )
        .unwrap();
        assert_eq!(total, Some(sum_of_squares_expected(1_000)));
        assert_eq!(answers, ["4 squared is 16", "5 squared is 25"]);
    }

    #[test]
    fn the_python_twin_prints_its_fields() {
        let figures = TWIN.run_for_test(&["--lines", "2", "--gap", "0.001", "--busy", "0.05"]);
        if let Some(figures) = figures {
            assert!(figures["answered_working"].as_f64().unwrap() <= 2.0);
            assert!(figures["work_s"].as_f64().unwrap() > 0.0);
        }
    }
}
