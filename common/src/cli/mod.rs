//! The section runner every demo binary uses.
//!
//! A demo declares its sections (name, the Python construct it mirrors, a one-line
//! summary, the function to run, the lesson's own `main`) and hands them to [`Demo::main`]:
//!
//! ```text
//! cargo run -p threading-demo                      # every section, in learning order
//! cargo run -p threading-demo -- --list            # name, Python counterpart, summary
//! cargo run -p threading-demo -- lock semaphore    # only these
//! cargo run -p threading-demo -- lock --lesson     # the lesson's own main, as copied
//! cargo run -p threading-demo -- --help
//! cargo run -p threading-demo -- --interactive     # a numbered menu
//! cargo run -p threading-demo -- --trace target/run.json  # a Chrome / Perfetto trace
//! RUST_LOG=debug cargo run -p threading-demo       # who did what, on stderr
//! ```
//!
//! On a terminal a run of several sections stops after each one: Enter runs the next, `a`
//! all the rest, `q` stops. Without a terminal (a pipe, CI) it runs them all.
//!
//! A user's mistake (unknown section, bad option value) gets one line on stderr naming what
//! is valid, and exit code 2. A section that fails (returns an error or panics) is
//! reported, the others still run, and the binary exits 1.
//!
//! Demos that re-run their own binary as a child process (the `multiprocessing` way)
//! declare [`Role`]s: `DEMO --role NAME ARGS...` runs that role instead of the sections.
//! [`crate::child::role_command`] builds the command that starts one.
//!
//! The parts, one file each: `parse` (the command line: a [`Request`] or one line of
//! bad input), `run` (the banner loop, one section at a time on a terminal), `menu`
//! (`--interactive`), `role` (a child process's part), `text` (fitting the terminal).
//! [`Demo::main`] is all of it. A demo that prints data (`compare --format json`) calls
//! [`Demo::main_with`] with its own body and runs the loop with [`Output::Quiet`], so
//! standard output holds only the data.
//!
//! Started from `main`, a run of sections is supervised ([`crate::supervise`]): the binary
//! re-runs itself with a private `TMPDIR`, and removes it and stops what the run left
//! running however the run ends, Ctrl-C included. The supervisor reads the command line
//! only as far as it must; the run checks the rest (the Python interpreter, each section's
//! own checks of the options). A write error on standard output is a failure (exit code 1,
//! one line), except a closed pipe (`demo | head`), a quiet stop.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::python::Twin;
use crate::stdio;
use crate::supervise;

mod menu;
mod parse;
mod role;
mod run;
pub mod text;

use parse::{Checks, Rejection, Request};
pub use run::Output;

/// What a section returns: `Ok` when it ran and its results checked out.
pub type SectionResult = anyhow::Result<()>;

/// A mistake in what the user asked for, found by a section itself (an option that only
/// makes sense with another, a file that does not parse). The runner prints it as one line
/// and exits with code 2, like any other bad input.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Demo-wide options for demos that have none.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NoOptions {}

/// One concept, one file: what the runner needs to list and run it.
pub struct Section<O: 'static = NoOptions> {
    /// Kebab-case name used on the command line (`race-condition`).
    pub name: &'static str,
    /// The Python construct it mirrors (`shared_counter += 1 / with lock:`).
    pub python: &'static str,
    /// One line: what the section shows.
    pub summary: &'static str,
    /// Its figures need every usable core: the runner warns first when the machine is busy.
    pub cpu_bound: bool,
    run: Run<O>,
    check: Option<UsageCheck<O>>,
    /// Long names of the demo options only this section reads (`url`, `requests`).
    owns: &'static [&'static str],
    /// Its Python side with `--python`: a twin run beside it, or cells of its own.
    python_side: PythonSide,
    /// The lesson's own `main` (what the file runs as when copied into a project of its
    /// own), run instead of `run` with `--lesson`.
    lesson: Option<fn() -> ExitCode>,
}

/// What `--python` adds to a section.
#[derive(Clone, Copy)]
enum PythonSide {
    None,
    /// A twin script, run after the section with the two columns printed.
    Twin(&'static Twin),
    /// The section runs Python itself (compare's cells).
    Own,
}

impl PythonSide {
    fn some(self) -> bool {
        !matches!(self, PythonSide::None)
    }
}

/// A section's check of the demo's options, run before anything else (see
/// [`Section::usage_check`]).
pub type UsageCheck<O> = fn(&O) -> Result<(), UsageError>;

enum Run<O: 'static> {
    Plain(fn() -> SectionResult),
    WithOptions(fn(&O) -> SectionResult),
}

impl<O> Section<O> {
    /// A section that needs nothing but itself.
    pub const fn new(
        name: &'static str,
        python: &'static str,
        summary: &'static str,
        run: fn() -> SectionResult,
    ) -> Self {
        Section {
            name,
            python,
            summary,
            cpu_bound: false,
            run: Run::Plain(run),
            check: None,
            owns: &[],
            python_side: PythonSide::None,
            lesson: None,
        }
    }

    /// A section that reads the demo's command-line options (`--url`, `--requests`...).
    pub const fn with_options(
        name: &'static str,
        python: &'static str,
        summary: &'static str,
        run: fn(&O) -> SectionResult,
    ) -> Self {
        Section {
            name,
            python,
            summary,
            cpu_bound: false,
            run: Run::WithOptions(run),
            check: None,
            owns: &[],
            python_side: PythonSide::None,
            lesson: None,
        }
    }

    /// Check the demo's options for this section before anything runs: a [`UsageError`]
    /// is one line and exit code 2 with no banner printed, no trace file, no child started
    /// (`--hosts FILE` without `--process I`). Checked only when the section is chosen.
    pub const fn usage_check(mut self, check: fn(&O) -> Result<(), UsageError>) -> Self {
        self.check = Some(check);
        self
    }

    /// The demo options (long names, without `--`) only this section reads. Given on a
    /// command line that does not run this section, they are a usage error instead of
    /// being silently ignored (`asyncio-demo gather --url ...`).
    pub const fn owns_options(mut self, names: &'static [&'static str]) -> Self {
        self.owns = names;
        self
    }

    /// The section's Python twin (`python/NAME.py`): `--python` runs it after the section
    /// and prints the two columns (see [`crate::python`]); `--python` alone runs the
    /// sections that have one.
    pub const fn twin(mut self, twin: &'static Twin) -> Self {
        self.python_side = PythonSide::Twin(twin);
        self
    }

    /// The file name of the section's Python twin (`gather.py`), if it has one.
    pub const fn twin_file(&self) -> Option<&'static str> {
        match self.python_side {
            PythonSide::Twin(twin) => Some(twin.file),
            _ => None,
        }
    }

    /// The section runs Python cells of its own with `--python` (compare's tables): it
    /// runs with `--python` alone, like a section with a twin.
    pub const fn own_python(mut self) -> Self {
        self.python_side = PythonSide::Own;
        self
    }

    /// The lesson's own `fn main` (above the marker): `--lesson` runs it instead of the
    /// measured `run`, exactly as the lesson runs when copied into a project of its own.
    /// Written `.main(|| main().report())` with `std::process::Termination` in scope.
    pub const fn main(mut self, main: fn() -> ExitCode) -> Self {
        self.lesson = Some(main);
        self
    }

    /// Mark a section whose figures need every usable core (speedups, efficiencies): the
    /// runner reads the load first and says when the figures will be noisy.
    pub const fn cpu_bound(mut self) -> Self {
        self.cpu_bound = true;
        self
    }

    /// This section, which reads no options, in a demo whose options are `P`. A section
    /// declares itself in its own file (`pub const SECTION: Section = ...`); a demo with
    /// options lists `gather::SECTION.reads_no_options()`. A section that does read options
    /// is declared with the demo's options type and listed as it is: calling this on one
    /// does not compile (the `const` evaluation fails).
    pub const fn reads_no_options<P>(self) -> Section<P> {
        let run = match self.run {
            Run::Plain(f) => f,
            Run::WithOptions(_) => panic!("a section that reads options is listed as it is"),
        };
        Section {
            name: self.name,
            python: self.python,
            summary: self.summary,
            cpu_bound: self.cpu_bound,
            run: Run::Plain(run),
            check: None,
            owns: self.owns,
            python_side: self.python_side,
            lesson: self.lesson,
        }
    }

    fn call(&self, options: &O) -> SectionResult {
        match &self.run {
            Run::Plain(f) => f(),
            Run::WithOptions(f) => f(options),
        }
    }
}

/// A part the binary plays when it is re-run as a child process: `DEMO --role NAME ARGS...`.
pub struct Role {
    pub name: &'static str,
    /// Gets the arguments after the role name.
    pub run: fn(&[String]) -> anyhow::Result<()>,
}

impl Role {
    pub const fn new(name: &'static str, run: fn(&[String]) -> anyhow::Result<()>) -> Self {
        Role { name, run }
    }
}

/// A demo binary: its name, what it mirrors, its sections in learning order, its roles.
pub struct Demo<O: 'static = NoOptions> {
    /// The binary's name (`threading-demo`).
    pub name: &'static str,
    /// One line for `--help`: which Python model it mirrors.
    pub about: &'static str,
    pub sections: &'static [Section<O>],
    pub roles: &'static [Role],
}

/// The sections a command line chose, in the order asked, and the demo's options: what a
/// demo's own body ([`Demo::main_with`]) gets.
pub struct Selection<'d, O: 'static> {
    demo: &'d Demo<O>,
    indexes: Vec<usize>,
    /// The demo's own options, parsed.
    pub options: O,
    /// `--lesson`: run each section's lesson `main` instead of its measured run.
    lesson: bool,
}

impl<O: clap::Args> Selection<'_, O> {
    /// The chosen sections, in the order asked.
    pub fn sections(&self) -> impl Iterator<Item = &'static Section<O>> + '_ {
        let all: &'static [Section<O>] = self.demo.sections;
        self.indexes.iter().map(move |&i| &all[i])
    }

    /// The banner loop: run each chosen section (a failure is reported and the others still
    /// run; a [`UsageError`] stops with exit code 2). Exit code 1 if any failed.
    pub fn run(&self, output: Output) -> ExitCode {
        let how = if self.lesson {
            run::How::Lesson
        } else {
            run::How::Measured
        };
        self.demo
            .run_sections(&self.indexes, &self.options, output, how)
    }
}

impl<O: clap::Args> Demo<O> {
    /// Parse `std::env::args`, run what was asked, and return the exit code.
    pub fn main(&self) -> ExitCode {
        self.main_with(|selection| selection.run(Output::Banners))
    }

    /// The front end with `body` in place of the banner loop: parse `std::env::args`,
    /// answer `--list`, `--help`, `--role` and bad input (one line, exit code 2) itself, set
    /// up `RUST_LOG` and `--trace`, then hand the chosen sections and options to `body`
    /// (which usually calls [`Selection::run`]). `--interactive` runs the menu with banners.
    ///
    /// Being `main`, it supervises a run of sections ([`crate::supervise`]).
    pub fn main_with(&self, body: impl FnOnce(&Selection<'_, O>) -> ExitCode) -> ExitCode {
        let args: Vec<OsString> = std::env::args_os().collect();
        let role = args.get(1).is_some_and(|a| a == "--role");
        if supervise::is_supervised() {
            supervise::watch_supervisor(self.name);
        }
        let top = !role && !supervise::is_supervised();
        self.front_end_with(args, top, body)
    }

    /// [`Demo::main_with`] with explicit arguments (the first one is the program name),
    /// unsupervised: for tests and for a demo that supervises itself.
    pub fn front_end(
        &self,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        body: impl FnOnce(&Selection<'_, O>) -> ExitCode,
    ) -> ExitCode {
        self.front_end_with(args.into_iter().map(Into::into).collect(), false, body)
    }

    /// The front end, under supervision when `supervise` (and the request runs sections),
    /// with write errors on standard output and error turned into exit codes. The
    /// supervisor parses only the command line's shape; the run it starts checks the rest.
    fn front_end_with(
        &self,
        args: Vec<OsString>,
        supervise: bool,
        body: impl FnOnce(&Selection<'_, O>) -> ExitCode,
    ) -> ExitCode {
        let role = args.get(1).is_some_and(|a| a == "--role");
        stdio::guarded(self.name, !role, || {
            if supervise {
                let shape = self.parse(args.iter().cloned(), Checks::Shape);
                if !matches!(shape, Ok(Request::Run { .. } | Request::Menu { .. })) {
                    return self.respond(shape, body);
                }
                if let Some(code) = supervise::run(self.name, &args) {
                    return code;
                }
            }
            let request = self.parse(args.iter().cloned(), Checks::All);
            self.respond(request, body)
        })
    }

    /// Carry out what the command line asked for.
    fn respond(
        &self,
        request: Result<Request<O>, Rejection>,
        body: impl FnOnce(&Selection<'_, O>) -> ExitCode,
    ) -> ExitCode {
        match request {
            Ok(Request::List { sections }) => {
                print!("{}", self.section_table_of(&sections, text::width()));
                ExitCode::SUCCESS
            }
            Ok(Request::Run {
                sections,
                options,
                trace,
                lesson,
            }) => {
                let selection = Selection {
                    demo: self,
                    indexes: sections,
                    options,
                    lesson,
                };
                self.with_logging(trace.as_deref(), || body(&selection))
            }
            Ok(Request::Menu { options, trace }) => {
                self.with_logging(trace.as_deref(), || self.menu(&options))
            }
            Ok(Request::Role { index, args }) => self.run_role(&self.roles[index], &args),
            Err(Rejection { message, code: 0 }) => {
                print!("{message}");
                ExitCode::SUCCESS
            }
            Err(Rejection { message, code }) => {
                eprintln!("{message}");
                ExitCode::from(code)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> SectionResult {
        Ok(())
    }

    pub(super) const SECTIONS: &[Section] = &[
        Section::new("first-one", "threading.Thread", "starts a thread", ok),
        Section::new("second", "queue.Queue", "passes items", ok),
    ];

    pub(super) const DEMO: Demo = Demo {
        name: "test-demo",
        about: "a demo for tests",
        sections: SECTIONS,
        roles: &[],
    };

    #[test]
    fn the_front_end_hands_the_chosen_sections_to_a_body() {
        let mut seen = Vec::new();
        let code = DEMO.front_end(["test-demo", "second", "first-one"], |selection| {
            seen = selection.sections().map(|s| s.name).collect();
            selection.run(Output::Quiet)
        });
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(seen, ["second", "first-one"]);
        let mut ran = false;
        let code = DEMO.front_end(["test-demo", "nope"], |_| {
            ran = true;
            ExitCode::SUCCESS
        });
        assert_eq!(code, ExitCode::from(2), "bad input never reaches the body");
        assert!(!ran);
    }

    #[test]
    fn a_plain_section_joins_a_demo_with_options() {
        #[derive(clap::Args, Debug)]
        struct Opts {}
        const PLAIN: Section = Section::new("plain", "p", "s", ok).cpu_bound();
        const LISTED: &[Section<Opts>] = &[PLAIN.reads_no_options()];
        assert_eq!(LISTED[0].name, "plain");
        assert!(LISTED[0].cpu_bound);
        assert!(LISTED[0].call(&Opts {}).is_ok());
    }

    fn lesson_main() -> ExitCode {
        ExitCode::SUCCESS
    }

    #[test]
    fn lesson_runs_the_lessons_own_main_and_refuses_sections_without_one() {
        const S: &[Section] = &[
            Section::new("with-main", "", "", || anyhow::bail!("the measured run"))
                .main(lesson_main),
            Section::new("without", "", "", ok),
        ];
        let demo: Demo = Demo {
            name: "lesson-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        let code = demo.front_end(["lesson-demo", "with-main", "--lesson"], |s| {
            s.run(Output::Quiet)
        });
        assert_eq!(code, ExitCode::SUCCESS, "the lesson's main ran, not run()");
        let code = demo.front_end(["lesson-demo", "with-main"], |s| s.run(Output::Quiet));
        assert_eq!(code, ExitCode::FAILURE, "without --lesson, run() runs");
        let Err(r) = demo.parse(["lesson-demo", "without", "--lesson"], Checks::All) else {
            panic!("a section without a main");
        };
        assert_eq!(r.code, 2);
        assert_eq!(
            r.message,
            "lesson-demo: --lesson: without has no lesson `main` of its own; name sections that have one"
        );
    }
}
