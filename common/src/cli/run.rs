//! The banner loop: each chosen section under its banner, its time after it, a summary at
//! the end; on a terminal, one section at a time.

use std::io::{self, BufRead, IsTerminal, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;

use super::{Demo, Section, SectionResult, UsageError};
use crate::claim::Machine;
use crate::stdio::WriteFailure;
use crate::timing::{Secs, Stopwatch};

/// How the banner loop prints around the sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A banner before each section, its time after it, a summary line at the end; on a
    /// terminal, a pause between sections.
    Banners,
    /// Data output: the runner writes nothing to standard output (its notes and failures
    /// go to stderr), so standard output holds only what the sections print.
    Quiet,
}

/// How a chosen section runs: its measured `run`, or its lesson's own `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum How {
    Measured,
    Lesson,
}

/// How a section's run ended, for the loop.
enum Reported {
    Passed,
    Failed,
    /// Stop the run with this exit code (a closed pipe, a full disk, a usage error).
    Stop(ExitCode),
}

/// What the reader answered between two sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Enter: run the next one and ask again.
    One,
    /// `a`: run all the rest without asking.
    All,
    /// `q`: stop here.
    Stop,
}

/// Ask, between two sections, whether to go on: Enter, `a` or `q` (the end of input is
/// `a`, an unknown answer asks again).
pub(super) fn ask_next(
    next: &str,
    position: (usize, usize),
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> Next {
    loop {
        let _ = write!(
            out,
            "\n── next: {next} ({}/{}) · Enter: run it · a: all the rest · q: stop > ",
            position.0, position.1
        );
        let _ = out.flush();
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return Next::All,
            Ok(_) => {}
        }
        match line.trim() {
            "" => return Next::One,
            "a" | "all" => return Next::All,
            "q" | "quit" => return Next::Stop,
            _ => {}
        }
    }
}

impl<O: clap::Args> Demo<O> {
    pub(super) fn run_sections(
        &self,
        selected: &[usize],
        options: &O,
        output: Output,
        how: How,
    ) -> ExitCode {
        let quiet = output == Output::Quiet;
        // One at a time where a reader is watching: a terminal on both ends.
        let mut pause =
            !quiet && selected.len() > 1 && io::stdin().is_terminal() && io::stdout().is_terminal();
        let total = Stopwatch::start();
        let mut waited = std::time::Duration::ZERO;
        let mut failed = Vec::new();
        let mut ran = 0;
        for (k, &index) in selected.iter().enumerate() {
            let section = &self.sections[index];
            if pause && k > 0 {
                let asked = Stopwatch::start();
                let answer = ask_next(
                    section.name,
                    (k + 1, selected.len()),
                    &mut io::stdin().lock(),
                    &mut io::stdout(),
                );
                waited += asked.elapsed();
                match answer {
                    Next::One => {}
                    Next::All => pause = false,
                    Next::Stop => break,
                }
            }
            if !quiet {
                // A blank line between sections, none above the first.
                println!(
                    "{}━━ {} ({}/{}) ━━ Python: {}",
                    if k == 0 { "" } else { "\n" },
                    section.name,
                    k + 1,
                    selected.len(),
                    section.python
                );
            }
            if section.cpu_bound && how == How::Measured {
                self.say_if_busy(section, quiet);
            }
            let sw = Stopwatch::start();
            let outcome = run_one(section, options, how);
            ran += 1;
            match self.report(section, outcome, Secs(sw.elapsed()), quiet, how) {
                Reported::Passed => {}
                Reported::Failed => failed.push(section.name),
                Reported::Stop(code) => return code,
            }
        }
        // The time the sections took, not the reader's pauses between them.
        let took = Secs(total.elapsed().saturating_sub(waited));
        self.summary(ran, selected.len(), &failed, took, quiet)
    }

    /// Say how a section ended (its time, or why it failed); a full disk, a closed pipe or
    /// a usage error stops the run.
    fn report(
        &self,
        section: &Section<O>,
        outcome: std::thread::Result<SectionResult>,
        took: Secs,
        quiet: bool,
        how: How,
    ) -> Reported {
        if let Err(payload) = &outcome
            && let Some(failure) = WriteFailure::from_payload(payload.as_ref())
        {
            // `demo | head`: the reader has gone, so stop quietly, like Python's CLI
            // tools. Any other write error (a full disk) loses output: exit code 1.
            return Reported::Stop(failure.exit(self.name, true));
        }
        match outcome {
            Ok(Ok(())) if quiet => Reported::Passed,
            Ok(Ok(())) => {
                if how == How::Measured
                    && crate::python::chosen().is_some()
                    && !section.python_side.some()
                {
                    println!("  (no Python twin for this section: --python adds nothing here)");
                }
                println!("   ({} took {took})", section.name);
                Reported::Passed
            }
            Ok(Err(e)) if e.is::<UsageError>() => {
                eprintln!("{}: {e}", self.name);
                Reported::Stop(ExitCode::from(2))
            }
            Ok(Err(e)) => {
                eprintln!("✗ {} failed after {took}: {e:#}", section.name);
                Reported::Failed
            }
            Err(_) => {
                eprintln!("✗ {} panicked after {took}", section.name);
                Reported::Failed
            }
        }
    }

    /// The runner's note before a CPU-bound section when the machine is busy or this
    /// process may use fewer cores.
    fn say_if_busy(&self, section: &Section<O>, quiet: bool) {
        let machine = Machine::sample();
        if let Some(note) = machine.noisy_note(machine.usable_cores.max(2)) {
            if quiet {
                eprintln!("{}: {}", section.name, note.trim_start());
            } else {
                println!("{note}");
            }
        }
    }

    fn summary(
        &self,
        ran: usize,
        chosen: usize,
        failed: &[&str],
        took: Secs,
        quiet: bool,
    ) -> ExitCode {
        if failed.is_empty() {
            if !quiet {
                let stopped = if ran < chosen {
                    format!(" (stopped after {ran} of {chosen})")
                } else {
                    String::new()
                };
                println!(
                    "\n{}: {ran} section(s) in {took}, all passed{stopped}.",
                    self.name
                );
            }
            ExitCode::SUCCESS
        } else if ran == 1 {
            // The one `✗ NAME failed ...` line has said it all.
            ExitCode::FAILURE
        } else {
            eprintln!(
                "\n{}: {} of {ran} section(s) failed: {}",
                self.name,
                failed.len(),
                failed.join(", ")
            );
            ExitCode::FAILURE
        }
    }
}

/// Run one section (its measured `run`, or its lesson's `main`) inside a `section` span,
/// catching a panic.
fn run_one<O>(section: &Section<O>, options: &O, how: How) -> std::thread::Result<SectionResult> {
    tracing::debug!(section = section.name, "section starts");
    let span = tracing::info_span!("section", name = section.name);
    span.in_scope(|| {
        catch_unwind(AssertUnwindSafe(|| match (how, section.lesson) {
            (How::Lesson, Some(main)) => match main() {
                code if code == ExitCode::SUCCESS => Ok(()),
                _ => Err(anyhow::anyhow!(
                    "its lesson `main` failed (its error is above)"
                )),
            },
            _ => section.call(options),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::DEMO;
    use super::super::{NoOptions, Section};
    use super::*;

    #[test]
    fn between_sections_enter_runs_one_a_all_q_stops() {
        let ask = |typed: &str| {
            let mut out = Vec::new();
            let next = ask_next("lock", (2, 5), &mut typed.as_bytes(), &mut out);
            (next, String::from_utf8(out).unwrap())
        };
        let (next, prompt) = ask("\n");
        assert_eq!(next, Next::One);
        assert!(prompt.contains("next: lock (2/5)"), "{prompt}");
        assert_eq!(ask("a\n").0, Next::All);
        assert_eq!(ask("q\n").0, Next::Stop);
        assert_eq!(ask("").0, Next::All, "the end of input runs the rest");
        let (next, prompt) = ask("x\nq\n");
        assert_eq!(next, Next::Stop);
        assert_eq!(
            prompt.matches("next: lock").count(),
            2,
            "asks again: {prompt}"
        );
    }

    fn bad_usage() -> SectionResult {
        Err(UsageError("--hosts needs --process".into()).into())
    }

    #[test]
    fn a_usage_error_from_a_section_exits_2() {
        const S: &[Section] = &[Section::new("picky", "", "", bad_usage)];
        let demo: Demo = Demo {
            name: "picky-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        assert_eq!(
            demo.run_sections(&[0], &NoOptions {}, Output::Banners, How::Measured),
            ExitCode::from(2)
        );
    }

    #[test]
    fn every_section_runs_without_a_terminal() {
        // Under `cargo test` standard input is not a terminal: no pause.
        assert_eq!(
            DEMO.run_sections(&[0, 1], &NoOptions {}, Output::Banners, How::Measured),
            ExitCode::SUCCESS
        );
    }
}
