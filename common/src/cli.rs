//! The section runner every demo binary uses.
//!
//! A demo declares its sections (name, the Python construct it mirrors, a one-line
//! summary, the function to run) and hands them to [`Demo::main`]:
//!
//! ```text
//! cargo run -p threading-demo                      # every section, in learning order
//! cargo run -p threading-demo -- --list            # name, Python counterpart, summary
//! cargo run -p threading-demo -- lock semaphore    # only these
//! cargo run -p threading-demo -- --help
//! cargo run -p threading-demo -- --interactive     # a numbered menu
//! cargo run -p threading-demo -- --trace target/run.json  # a Chrome / Perfetto trace
//! RUST_LOG=debug cargo run -p threading-demo       # who did what, on stderr
//! ```
//!
//! A user's mistake (unknown section, bad option value) gets one line on stderr naming what
//! is valid, and exit code 2. A section that fails (returns an error or panics) is
//! reported, the others still run, and the binary exits 1.
//!
//! Demos that re-run their own binary as a child process (the `multiprocessing` way)
//! declare [`Role`]s: `DEMO --role NAME ARGS...` runs that role instead of the sections.
//! [`crate::child::role_command`] builds the command that starts one.
//!
//! Two halves: the front end ([`Demo::front_end`]: parse, `--list`, `--help`, `--role`
//! dispatch, one-line usage errors with exit code 2, `--trace` and `RUST_LOG`, a quiet stop
//! on a broken pipe) and the banner loop ([`Chosen::run`]: each section under its banner,
//! its time, a summary). [`Demo::main`] is both. A demo that prints data (`compare
//! --format json`) calls the front end with its own body and runs the loop with
//! [`Output::Quiet`], so standard output holds only the data.
//!
//! Started from `main` ([`Demo::main`], [`Demo::main_with`]), a run of sections is
//! supervised ([`crate::supervise`]): the binary re-runs itself with a private `TMPDIR` and
//! removes it however the run ends, Ctrl-C included. A write error on standard output is a
//! failure (exit code 1, one line), except a closed pipe (`demo | head`), a quiet stop.

use std::cell::Cell;
use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches};

use crate::claim::Machine;
use crate::python::{self, Twin};
use crate::stdio::{self, WriteFailure};
use crate::supervise;
use crate::timing::{Secs, Stopwatch};
use crate::trace;

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
    /// Its Python twin, run beside it with `--python`.
    twin: Option<&'static Twin>,
    /// The lesson's own `main` (what the file runs as when copied into a project of its
    /// own), run instead of `run` with `--lesson`.
    lesson: Option<fn() -> ExitCode>,
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
            twin: None,
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
            twin: None,
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
        self.twin = Some(twin);
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

    /// This section in a demo whose options are `P`. A section declares itself in its own
    /// file (`pub const SECTION: Section = ...`) and `main.rs` lists
    /// `gather::SECTION.in_demo()`. Only for sections that read no options: one that does
    /// is declared with the demo's options type and listed as it is.
    pub const fn in_demo<P>(self) -> Section<P> {
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
            twin: self.twin,
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

/// How the banner loop prints around the sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A banner before each section, its time after it, a summary line at the end.
    Banners,
    /// Data output: the runner writes nothing to standard output (its notes and failures
    /// go to stderr), so standard output holds only what the sections print.
    Quiet,
}

/// What the front end chose: the sections, in the order asked, and the demo's options.
pub struct Chosen<'d, O: 'static> {
    demo: &'d Demo<O>,
    indexes: Vec<usize>,
    /// The demo's own options, parsed.
    pub options: O,
    quiet: Cell<bool>,
    /// `--lesson`: run each section's lesson `main` instead of its measured run.
    lesson: bool,
}

impl<O: clap::Args> Chosen<'_, O> {
    /// The chosen sections, in the order asked.
    pub fn sections(&self) -> impl Iterator<Item = &'static Section<O>> + '_ {
        let all: &'static [Section<O>] = self.demo.sections;
        self.indexes.iter().map(move |&i| &all[i])
    }

    /// The banner loop: run each chosen section (a failure is reported and the others still
    /// run; a [`UsageError`] stops with exit code 2). Exit code 1 if any failed.
    pub fn run(&self, output: Output) -> ExitCode {
        if output == Output::Quiet {
            self.quiet.set(true);
        }
        let how = if self.lesson {
            How::Lesson
        } else {
            How::Measured
        };
        self.demo
            .run_sections(&self.indexes, &self.options, output, how)
    }
}

/// How a chosen section runs: its measured `run`, or its lesson's own `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Measured,
    Lesson,
}

/// What the command line asked for.
#[derive(Debug)]
enum Request<O> {
    List {
        sections: Vec<usize>,
    },
    Run {
        sections: Vec<usize>,
        options: O,
        trace: Option<PathBuf>,
        /// `--lesson`: each section's lesson `main`, not its measured run.
        lesson: bool,
    },
    Menu {
        options: O,
        trace: Option<PathBuf>,
    },
    Role {
        index: usize,
        args: Vec<String>,
    },
}

/// How a command line was rejected: text to show, and the exit code.
#[derive(Debug)]
struct Rejection {
    message: String,
    code: u8,
}

impl<O: clap::Args> Demo<O> {
    /// Parse `std::env::args`, run what was asked, and return the exit code.
    pub fn main(&self) -> ExitCode {
        self.main_with(|chosen| chosen.run(Output::Banners))
    }

    /// [`Demo::main`] with explicit arguments (the first one is the program name).
    pub fn main_from(&self, args: impl IntoIterator<Item = impl Into<OsString>>) -> ExitCode {
        self.front_end(args, |chosen| chosen.run(Output::Banners))
    }

    /// The front end with `body` in place of the banner loop: parse `std::env::args`,
    /// answer `--list`, `--help`, `--role` and bad input (one line, exit code 2) itself, set
    /// up `RUST_LOG` and `--trace`, then hand the chosen sections and options to `body`
    /// (which usually calls [`Chosen::run`]). `--interactive` runs the menu with banners.
    ///
    /// Being `main`, it supervises a run of sections ([`crate::supervise`]).
    pub fn main_with(&self, body: impl FnOnce(&Chosen<'_, O>) -> ExitCode) -> ExitCode {
        let args: Vec<OsString> = std::env::args_os().collect();
        let role = args.get(1).is_some_and(|a| a == "--role");
        let top = !role && !supervise::is_supervised();
        self.front_end_with(args, top, body)
    }

    /// [`Demo::main_with`] with explicit arguments (the first one is the program name).
    pub fn front_end(
        &self,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        body: impl FnOnce(&Chosen<'_, O>) -> ExitCode,
    ) -> ExitCode {
        self.front_end_with(args.into_iter().map(Into::into).collect(), false, body)
    }

    /// The front end, under supervision when `supervise` (and the request runs sections),
    /// with write errors on standard output and error turned into exit codes.
    fn front_end_with(
        &self,
        args: Vec<OsString>,
        supervise: bool,
        body: impl FnOnce(&Chosen<'_, O>) -> ExitCode,
    ) -> ExitCode {
        let role = args.get(1).is_some_and(|a| a == "--role");
        stdio::guarded(self.name, !role, || {
            let request = self.parse(args.iter().cloned());
            if supervise
                && matches!(request, Ok(Request::Run { .. } | Request::Menu { .. }))
                && let Some(code) = supervise::run(self.name, &args)
            {
                return code;
            }
            self.answer(request, body)
        })
    }

    fn answer(
        &self,
        request: Result<Request<O>, Rejection>,
        body: impl FnOnce(&Chosen<'_, O>) -> ExitCode,
    ) -> ExitCode {
        match request {
            Ok(Request::List { sections }) => {
                print!("{}", self.section_table_of(&sections));
                ExitCode::SUCCESS
            }
            Ok(Request::Run {
                sections,
                options,
                trace,
                lesson,
            }) => {
                let chosen = Chosen {
                    demo: self,
                    indexes: sections,
                    options,
                    quiet: Cell::new(false),
                    lesson,
                };
                self.traced(trace.as_deref(), &chosen.quiet, || body(&chosen))
            }
            Ok(Request::Menu { options, trace }) => {
                self.traced(trace.as_deref(), &Cell::new(false), || self.menu(&options))
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

    /// `DEMO --role NAME ARGS...`: logging and the child's trace file, then the role.
    /// A write error on stdout or stderr ends it with exit code 1 and no panic text (the
    /// parent may be gone); a trace file it cannot create leaves it untraced.
    fn run_role(&self, role: &Role, args: &[String]) -> ExitCode {
        let trace = trace::child_trace_path();
        let guard = trace::init(trace.as_deref()).or_else(|_| trace::init(None));
        let _guard = match guard {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("{} --role {}: {e}", self.name, role.name);
                return ExitCode::FAILURE;
            }
        };
        tracing::debug!(
            role = role.name,
            pid = std::process::id(),
            "child process starts"
        );
        match (role.run)(args) {
            Ok(()) => ExitCode::SUCCESS,
            // The parent hung up: nobody is left to read a message.
            Err(e)
                if e.chain().any(|c| {
                    c.downcast_ref::<io::Error>()
                        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
                }) =>
            {
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("{} --role {}: {e:#}", self.name, role.name);
                ExitCode::FAILURE
            }
        }
    }

    /// Run `body` with logging (`RUST_LOG`) and, if asked, a trace file.
    /// A quiet run (`quiet` set by then) says where the trace went on stderr, not stdout.
    fn traced(
        &self,
        trace: Option<&Path>,
        quiet: &Cell<bool>,
        body: impl FnOnce() -> ExitCode,
    ) -> ExitCode {
        let guard = match trace::init(trace) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("{}: {e}", self.name);
                return ExitCode::from(2);
            }
        };
        let code = body();
        if let Err(e) = guard.finish() {
            eprintln!("{}: {e}", self.name);
            return ExitCode::FAILURE;
        }
        if let Some(path) = trace {
            if code == ExitCode::from(2) {
                // Bad input found by a section: no trace of a run that did not happen.
                let _ = std::fs::remove_file(path);
                return code;
            }
            let line = format!(
                "trace written to {} (open it at https://ui.perfetto.dev)",
                path.display()
            );
            if quiet.get() {
                eprintln!("{line}");
            } else {
                let _ = writeln!(io::stdout(), "{line}");
            }
        }
        code
    }

    fn command(&self) -> clap::Command {
        let cmd = clap::Command::new(self.name)
            .about(self.about)
            .arg(
                Arg::new("sections")
                    .value_name("SECTION")
                    .num_args(0..)
                    .help("Run only these sections, in the order given (default: all)"),
            )
            .arg(
                Arg::new("list")
                    .long("list")
                    .short('l')
                    .action(ArgAction::SetTrue)
                    .help("List the sections with the Python construct each one mirrors"),
            )
            .arg(
                Arg::new("interactive")
                    .long("interactive")
                    .short('i')
                    .action(ArgAction::SetTrue)
                    .conflicts_with_all(["sections", "list"])
                    .help("Choose sections from a numbered menu (needs a terminal)"),
            )
            .arg(
                Arg::new("lesson")
                    .long("lesson")
                    .action(ArgAction::SetTrue)
                    .conflicts_with_all(["interactive", "python", "python-exe"])
                    .help("Run each chosen section's lesson: its own `main`, as it runs when copied into a project of its own (no measuring)"),
            )
            .arg(
                Arg::new("trace")
                    .long("trace")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Write a Chrome / Perfetto trace of the run to FILE (child processes: FILE.ROLE-N.json)"),
            )
            .arg(
                Arg::new("python")
                    .long("python")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("interactive")
                    .help("Also run each section's Python twin on the same job and print the two side by side (alone: the sections that have one)"),
            )
            .arg(
                Arg::new("python-exe")
                    .long("python-exe")
                    .value_name("PATH")
                    .value_parser(clap::value_parser!(PathBuf))
                    .conflicts_with("interactive")
                    .help("The Python interpreter for --python (default: python3 on PATH); implies --python"),
            )
            .after_help(format!(
                "Sections, in learning order:\n{}\nExamples:\n  cargo run -p {name}\n  cargo run -p {name} -- {first}\n  cargo run -p {name} -- --list",
                self.section_table(),
                name = self.name,
                first = self.sections.first().map_or("SECTION", |s| s.name),
            ));
        // A doc comment on the options struct would replace `about`: keep the demo's own.
        // `--requests -1` is a value out of range, not an unknown flag: let the value parser
        // say what is valid.
        O::augment_args(cmd).about(self.about).mut_args(|a| {
            if a.get_action().takes_values() {
                a.allow_negative_numbers(true)
            } else {
                a
            }
        })
    }

    fn parse(
        &self,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Result<Request<O>, Rejection> {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        if args.get(1).is_some_and(|a| a == "--role") {
            return self.parse_role(&args[2..]);
        }
        let mut cmd = self.command();
        let matches = cmd
            .try_get_matches_from_mut(&args)
            .map_err(|e| self.reject_clap(&cmd, e))?;
        let options = O::from_arg_matches(&matches).map_err(|e| self.reject_clap(&cmd, e))?;
        if matches.get_flag("list") {
            // `--list NAME...` lists those (an unknown name is bad input, exit code 2).
            let sections = self.selected_sections(&matches)?;
            return Ok(Request::List { sections });
        }
        let trace = matches.get_one::<PathBuf>("trace").cloned();
        if matches.get_flag("interactive") {
            if !io::stdin().is_terminal() {
                return Err(self.usage_error(
                    "--interactive needs a terminal on standard input; run without it to run every section, or name the sections".to_owned(),
                ));
            }
            return Ok(Request::Menu { options, trace });
        }
        let exe = matches.get_one::<PathBuf>("python-exe");
        let with_python = matches.get_flag("python") || exe.is_some();
        let mut sections = self.selected_sections(&matches)?;
        if with_python {
            let found = python::find(exe.map(PathBuf::as_path))
                .map_err(|python::NotFound(e)| self.usage_error(e))?;
            python::choose(found);
            // `--python` alone: the sections that have a twin (all, if none has).
            if matches.get_many::<String>("sections").is_none()
                && self.sections.iter().any(|s| s.twin.is_some())
            {
                sections.retain(|&i| self.sections[i].twin.is_some());
            }
        }
        let lesson = matches.get_flag("lesson");
        if lesson {
            let without: Vec<&str> = sections
                .iter()
                .map(|&i| &self.sections[i])
                .filter(|s| s.lesson.is_none())
                .map(|s| s.name)
                .collect();
            if !without.is_empty() {
                return Err(self.usage_error(format!(
                    "--lesson: {} {} no lesson `main` of its own; name sections that have one",
                    join(&without),
                    if without.len() == 1 { "has" } else { "have" }
                )));
            }
        } else {
            self.check_owned_options(&cmd, &matches, &sections)?;
            self.check_usage(&sections, &options)?;
        }
        Ok(Request::Run {
            sections,
            options,
            trace,
            lesson,
        })
    }

    /// An option that only an unchosen section reads is a mistake, not a no-op.
    fn check_owned_options(
        &self,
        cmd: &clap::Command,
        matches: &ArgMatches,
        chosen: &[usize],
    ) -> Result<(), Rejection> {
        let given = |long: &str| {
            cmd.get_arguments()
                .find(|a| a.get_long() == Some(long))
                .is_some_and(|a| {
                    matches.value_source(a.get_id().as_str())
                        == Some(clap::parser::ValueSource::CommandLine)
                })
        };
        // An option several sections own (`--serve`) changes what each does: one at a time.
        for &c in chosen {
            for long in self.sections[c].owns {
                let owners: Vec<&str> = chosen
                    .iter()
                    .map(|&o| &self.sections[o])
                    .filter(|s| s.owns.contains(long))
                    .map(|s| s.name)
                    .collect();
                if owners.len() > 1 && given(long) {
                    return Err(self.usage_error(format!(
                        "--{long} is for one section at a time, and this run includes {}; name one of them (e.g. '{} {} --{long}')",
                        join(owners.iter().map(|o| format!("'{o}'"))),
                        self.name,
                        owners[0]
                    )));
                }
            }
        }
        for (i, section) in self.sections.iter().enumerate() {
            if chosen.contains(&i) {
                continue;
            }
            for long in section.owns {
                // Another owner among the chosen sections reads it (`--serve`).
                if chosen.iter().any(|&c| self.sections[c].owns.contains(long)) {
                    continue;
                }
                if given(long) {
                    return Err(self.usage_error(format!(
                        "--{long} is for the '{}' section, which this run does not include; add '{}' or drop --{long}",
                        section.name, section.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The chosen sections' own checks of the options, before anything runs.
    fn check_usage(&self, sections: &[usize], options: &O) -> Result<(), Rejection> {
        for &i in sections {
            if let Some(check) = self.sections[i].check {
                check(options).map_err(|UsageError(e)| self.usage_error(e))?;
            }
        }
        Ok(())
    }

    fn parse_role(&self, args: &[OsString]) -> Result<Request<O>, Rejection> {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if self.roles.is_empty() {
            return Err(self.usage_error(
                "has no roles: --role runs a child process of a demo that starts copies of itself; run sections instead (see --list)".to_owned(),
            ));
        }
        let valid = || join(self.roles.iter().map(|r| r.name));
        let Some(name) = args.first() else {
            return Err(self.usage_error(format!("--role needs a name; valid roles: {}", valid())));
        };
        match self.roles.iter().position(|r| r.name == name) {
            Some(index) => Ok(Request::Role {
                index,
                args: args[1..].to_vec(),
            }),
            None => {
                Err(self.usage_error(format!("unknown role '{name}'; valid roles: {}", valid())))
            }
        }
    }

    fn selected_sections(&self, matches: &ArgMatches) -> Result<Vec<usize>, Rejection> {
        let Some(names) = matches.get_many::<String>("sections") else {
            return Ok((0..self.sections.len()).collect());
        };
        names
            .map(|name| {
                self.sections
                    .iter()
                    .position(|s| s.name == name)
                    .ok_or_else(|| {
                        let hint = closest(name, self.sections.iter().map(|s| s.name))
                            .map(|n| format!("did you mean '{n}'? "))
                            .unwrap_or_default();
                        self.usage_error(format!(
                            "unknown section '{name}'; {hint}valid sections: {}",
                            join(self.sections.iter().map(|s| s.name))
                        ))
                    })
            })
            .collect()
    }

    /// One line for any clap error; help and version go to stdout with exit code 0.
    fn reject_clap(&self, cmd: &clap::Command, e: clap::Error) -> Rejection {
        use clap::error::ErrorKind::*;
        if matches!(e.kind(), DisplayHelp | DisplayVersion) {
            return Rejection {
                message: e.render().to_string(),
                code: 0,
            };
        }
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or("invalid arguments");
        let first = first.trim_start_matches("error: ");
        // An enum option's values (`[possible values: terminal, markdown, json]`) are on a
        // later line of clap's message: keep them in the one line.
        if let Some(values) = rendered
            .lines()
            .find_map(|l| l.trim().strip_prefix("[possible values: "))
        {
            let values = values.trim_end_matches(']');
            return self.usage_error(format!("{first}; valid values: {values}"));
        }
        let mut options: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        if !options.iter().any(|o| o == "--help") {
            options.push("--help".to_owned());
        }
        let options = join(options);
        self.usage_error(format!("{first}; valid options: {options}"))
    }

    fn usage_error(&self, message: String) -> Rejection {
        Rejection {
            message: format!("{}: {message}", self.name),
            code: 2,
        }
    }

    fn section_table(&self) -> String {
        self.section_table_of(&(0..self.sections.len()).collect::<Vec<_>>())
    }

    /// The table rows of these sections, aligned as in the full table.
    fn section_table_of(&self, selected: &[usize]) -> String {
        let w_name = self
            .sections
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        let w_py = self
            .sections
            .iter()
            .map(|s| s.python.chars().count())
            .max()
            .unwrap_or(0);
        selected
            .iter()
            .map(|&i| &self.sections[i])
            .map(|s| format!("  {:w_name$}  {:w_py$}  {}\n", s.name, s.python, s.summary))
            .collect()
    }

    fn run_sections(&self, selected: &[usize], options: &O, output: Output, how: How) -> ExitCode {
        let quiet = output == Output::Quiet;
        let total = Stopwatch::start();
        let mut failed = Vec::new();
        for (k, &index) in selected.iter().enumerate() {
            let section = &self.sections[index];
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
            if section.cpu_bound {
                let machine = Machine::sample();
                if let Some(note) = machine.noisy_note(machine.usable_cores.max(2)) {
                    if quiet {
                        eprintln!("{}: {}", section.name, note.trim_start());
                    } else {
                        println!("{note}");
                    }
                }
            }
            let sw = Stopwatch::start();
            tracing::debug!(section = section.name, "section starts");
            let span = tracing::info_span!("section", name = section.name);
            let outcome = span.in_scope(|| {
                catch_unwind(AssertUnwindSafe(|| match (how, section.lesson) {
                    (How::Lesson, Some(main)) => match main() {
                        code if code == ExitCode::SUCCESS => Ok(()),
                        _ => Err(anyhow::anyhow!(
                            "its lesson `main` failed (its error is above)"
                        )),
                    },
                    _ => section.call(options),
                }))
            });
            let took = Secs(sw.elapsed());
            if let Err(payload) = &outcome
                && let Some(failure) = WriteFailure::from_payload(payload.as_ref())
            {
                // `demo | head`: the reader has gone, so stop quietly, like Python's CLI
                // tools. Any other write error (a full disk) loses output: exit code 1.
                return failure.exit(self.name, true);
            }
            match outcome {
                Ok(Ok(())) if quiet => {}
                Ok(Ok(())) => println!("   ({} took {took})", section.name),
                Ok(Err(e)) if e.is::<UsageError>() => {
                    eprintln!("{}: {e}", self.name);
                    return ExitCode::from(2);
                }
                Ok(Err(e)) => {
                    eprintln!("✗ {} failed after {took}: {e:#}", section.name);
                    failed.push(section.name);
                }
                Err(_) => {
                    eprintln!("✗ {} panicked after {took}", section.name);
                    failed.push(section.name);
                }
            }
        }
        let took = Secs(total.elapsed());
        if failed.is_empty() {
            if !quiet {
                println!(
                    "\n{}: {} section(s) in {took}, all passed.",
                    self.name,
                    selected.len()
                );
            }
            ExitCode::SUCCESS
        } else if selected.len() == 1 {
            // The one `✗ NAME failed ...` line has said it all.
            ExitCode::FAILURE
        } else {
            eprintln!(
                "\n{}: {} of {} section(s) failed: {}",
                self.name,
                failed.len(),
                selected.len(),
                failed.join(", ")
            );
            ExitCode::FAILURE
        }
    }
}

impl<O: clap::Args> Demo<O> {
    /// The `--interactive` menu: numbered sections, run what the user picks, until `q`.
    fn menu(&self, options: &O) -> ExitCode {
        let mut code = ExitCode::SUCCESS;
        let stdin = io::stdin();
        loop {
            println!("\n{}: choose sections to run", self.name);
            for (k, s) in self.sections.iter().enumerate() {
                println!(
                    "  {:>2}. {:w$}  {}",
                    k + 1,
                    s.name,
                    s.python,
                    w = self.name_width()
                );
            }
            print!("numbers (e.g. 1 3), a = all, q = quit > ");
            let _ = io::stdout().flush();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                return code;
            }
            match parse_choice(line.trim(), self.sections.len()) {
                Ok(None) => return code,
                Ok(Some(chosen)) => {
                    code = self.run_sections(&chosen, options, Output::Banners, How::Measured);
                    print!("\npress Enter for the menu > ");
                    let _ = io::stdout().flush();
                    let mut enter = String::new();
                    if stdin.lock().read_line(&mut enter).unwrap_or(0) == 0 {
                        return code;
                    }
                }
                Err(message) => println!("{message}"),
            }
        }
    }

    fn name_width(&self) -> usize {
        self.sections
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0)
    }
}

/// A menu answer: `Ok(None)` to quit, or the chosen section indexes.
fn parse_choice(answer: &str, count: usize) -> Result<Option<Vec<usize>>, String> {
    match answer {
        "q" | "quit" => return Ok(None),
        "a" | "all" => return Ok(Some((0..count).collect())),
        _ => {}
    }
    let chosen: Vec<usize> = answer
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if (1..=count).contains(&n) => Ok(n - 1),
            _ => Err(format!(
                "'{w}' is not a section number (1 to {count}), a or q"
            )),
        })
        .collect::<Result<_, _>>()?;
    if chosen.is_empty() {
        return Err(format!("type section numbers (1 to {count}), a or q"));
    }
    Ok(Some(chosen))
}

/// Run `body`, but when stdout is a pipe whose reader has gone (`demo | head`) and a
/// `println!` panics, stop quietly with success: no panic message, no backtrace. Any other
/// write error on stdout (a full disk, `/dev/full`) is one line on stderr and exit code 1;
/// one on stderr is exit code 1. Standard output is flushed and checked at the end.
/// [`Demo::main`] and [`Demo::main_with`] do this already.
pub fn quiet_on_broken_pipe(body: impl FnOnce() -> ExitCode) -> ExitCode {
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    stdio::guarded(&name, true, body)
}

/// The valid name closest to a mistyped one (`thread_basics` -> `thread-basics`), if any is
/// close enough: at most 2 edits, or the same once `_` and case are set aside.
fn closest<'a>(name: &str, valid: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let norm = name.to_lowercase().replace('_', "-");
    valid
        .map(|v| (edit_distance(&norm, v), v))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn join(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> SectionResult {
        Ok(())
    }

    const SECTIONS: &[Section] = &[
        Section::new("first-one", "threading.Thread", "starts a thread", ok),
        Section::new("second", "queue.Queue", "passes items", ok),
    ];

    fn echo(_: &[String]) -> anyhow::Result<()> {
        Ok(())
    }

    const DEMO: Demo = Demo {
        name: "test-demo",
        about: "a demo for tests",
        sections: SECTIONS,
        roles: &[Role::new("child", echo)],
    };

    fn parse(args: &[&str]) -> Result<Request<NoOptions>, Rejection> {
        DEMO.parse(std::iter::once("test-demo").chain(args.iter().copied()))
    }

    #[test]
    fn no_arguments_run_everything_in_order() {
        match parse(&[]).unwrap() {
            Request::Run { sections, .. } => assert_eq!(sections, [0, 1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn named_sections_run_in_the_order_given() {
        match parse(&["second", "first-one"]).unwrap() {
            Request::Run { sections, .. } => assert_eq!(sections, [1, 0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_section_is_one_line_naming_the_valid_ones_with_code_2() {
        let err = parse(&["nope"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert_eq!(
            err.message,
            "test-demo: unknown section 'nope'; valid sections: first-one, second"
        );
    }

    #[test]
    fn unknown_option_is_one_line_with_code_2() {
        let err = parse(&["--frobnicate"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(!err.message.contains('\n'), "{}", err.message);
        assert!(err.message.contains("--frobnicate"), "{}", err.message);
        assert!(err.message.contains("--list"), "{}", err.message);
    }

    #[test]
    fn python_without_an_interpreter_is_one_line_with_code_2() {
        let err = parse(&["--python-exe", "/nonexistent/python3", "second"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(!err.message.contains('\n'), "{}", err.message);
        assert!(
            err.message.starts_with(
                "test-demo: --python-exe /nonexistent/python3: not a usable Python 3 interpreter"
            ),
            "{}",
            err.message
        );
    }

    #[test]
    fn python_alone_runs_the_sections_that_have_a_twin() {
        const TWIN: Twin = Twin::new("second.py", "", &[]);
        const WITH_TWIN: &[Section] = &[
            Section::new("first-one", "threading.Thread", "starts a thread", ok),
            Section::new("second", "queue.Queue", "passes items", ok).twin(&TWIN),
        ];
        const D: Demo = Demo {
            name: "twin-demo",
            about: "",
            sections: WITH_TWIN,
            roles: &[],
        };
        if python::for_tests().is_none() {
            return;
        }
        let parse =
            |args: &[&str]| D.parse(std::iter::once("twin-demo").chain(args.iter().copied()));
        match parse(&["--python"]).unwrap() {
            Request::Run { sections, .. } => assert_eq!(sections, [1]),
            other => panic!("{other:?}"),
        }
        match parse(&["--python", "first-one", "second"]).unwrap() {
            Request::Run { sections, .. } => assert_eq!(sections, [0, 1]),
            other => panic!("{other:?}"),
        }
        assert!(D.sections[1].twin.is_some() && D.sections[0].twin.is_none());
    }

    #[test]
    fn list_and_help() {
        assert!(matches!(parse(&["--list"]).unwrap(), Request::List { .. }));
        match parse(&["--list", "second"]).unwrap() {
            Request::List { sections } => assert_eq!(sections, [1]),
            other => panic!("{other:?}"),
        }
        let err = parse(&["--list", "nope"]).unwrap_err();
        assert_eq!(err.code, 2, "--list with an unknown name is bad input");
        let help = parse(&["--help"]).unwrap_err();
        assert_eq!(help.code, 0);
        assert!(help.message.contains("first-one"), "{}", help.message);
        assert!(help.message.contains("queue.Queue"), "{}", help.message);
    }

    #[test]
    fn section_table_aligns_columns() {
        assert_eq!(
            DEMO.section_table(),
            "  first-one  threading.Thread  starts a thread\n  second     queue.Queue       passes items\n"
        );
    }

    #[test]
    fn roles_are_dispatched_before_anything_else() {
        match parse(&["--role", "child", "a", "b"]).unwrap() {
            Request::Role { index, args } => {
                assert_eq!(index, 0);
                assert_eq!(args, ["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&["--role", "ghost"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert_eq!(
            err.message,
            "test-demo: unknown role 'ghost'; valid roles: child"
        );
    }

    #[derive(clap::Args, Debug)]
    struct Opts {
        #[arg(long, default_value_t = 10)]
        requests: u32,
    }

    fn with_opts(o: &Opts) -> SectionResult {
        anyhow::ensure!(o.requests > 0, "need requests");
        Ok(())
    }

    #[test]
    fn demo_options_are_parsed_and_bad_numbers_rejected() {
        const S: &[Section<Opts>] = &[Section::with_options(
            "dl",
            "aiohttp",
            "downloads",
            with_opts,
        )];
        let demo: Demo<Opts> = Demo {
            name: "opt-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        match demo.parse(["opt-demo", "--requests", "5"]).unwrap() {
            Request::Run { options, .. } => assert_eq!(options.requests, 5),
            other => panic!("{other:?}"),
        }
        let err = demo.parse(["opt-demo", "--requests", "many"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message.starts_with("opt-demo: invalid value 'many'"),
            "{}",
            err.message
        );
        assert!(!err.message.contains('\n'));
    }

    #[test]
    fn menu_answers() {
        assert_eq!(parse_choice("q", 3), Ok(None));
        assert_eq!(parse_choice("a", 3), Ok(Some(vec![0, 1, 2])));
        assert_eq!(parse_choice("3 1", 3), Ok(Some(vec![2, 0])));
        assert_eq!(parse_choice("2,3", 3), Ok(Some(vec![1, 2])));
        assert!(parse_choice("4", 3).unwrap_err().contains("1 to 3"));
        assert!(parse_choice("x", 3).is_err());
        assert!(parse_choice("", 3).is_err());
    }

    #[test]
    fn trace_file_is_parsed_and_interactive_excludes_names() {
        match parse(&["--trace", "out.json", "second"]).unwrap() {
            Request::Run {
                sections, trace, ..
            } => {
                assert_eq!(sections, [1]);
                assert_eq!(trace, Some(PathBuf::from("out.json")));
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&["--interactive", "second"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(!err.message.contains('\n'), "{}", err.message);
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

    fn needs_requests(o: &Opts) -> Result<(), UsageError> {
        if o.requests == 0 {
            return Err(UsageError("--requests must be at least 1".into()));
        }
        Ok(())
    }

    #[test]
    fn a_usage_check_rejects_before_anything_runs() {
        const S: &[Section<Opts>] = &[
            Section::with_options("dl", "", "", with_opts).usage_check(needs_requests),
            Section::with_options("other", "", "", with_opts),
        ];
        let demo: Demo<Opts> = Demo {
            name: "opt-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        let err = demo.parse(["opt-demo", "--requests", "0"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert_eq!(err.message, "opt-demo: --requests must be at least 1");
        assert!(
            demo.parse(["opt-demo", "--requests", "0", "other"]).is_ok(),
            "only the chosen sections' checks"
        );
        let mut ran = false;
        let code = demo.front_end(["opt-demo", "--requests", "0"], |_| {
            ran = true;
            ExitCode::SUCCESS
        });
        assert_eq!(code, ExitCode::from(2));
        assert!(!ran);
    }

    #[test]
    fn a_demo_without_roles_says_so() {
        let demo: Demo = Demo {
            name: "plain-demo",
            about: "",
            sections: SECTIONS,
            roles: &[],
        };
        let err = demo
            .parse(["plain-demo", "--role", "x"])
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("has no roles"), "{}", err.message);
        assert!(!err.message.contains("valid roles"), "{}", err.message);
    }

    #[test]
    fn the_front_end_hands_the_chosen_sections_to_a_body() {
        let mut seen = Vec::new();
        let code = DEMO.front_end(["test-demo", "second", "first-one"], |chosen| {
            seen = chosen.sections().map(|s| s.name).collect();
            chosen.run(Output::Quiet)
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
    fn a_near_miss_gets_a_did_you_mean() {
        let names = ["thread-basics", "lock", "rlock"];
        assert_eq!(
            closest("thread_basics", names.into_iter()),
            Some("thread-basics")
        );
        assert_eq!(closest("Lock", names.into_iter()), Some("lock"));
        assert_eq!(closest("rlok", names.into_iter()), Some("rlock"));
        assert_eq!(closest("no-such-section", names.into_iter()), None);
    }

    #[test]
    fn a_plain_section_joins_a_demo_with_options() {
        #[derive(clap::Args, Debug)]
        struct Opts {}
        const PLAIN: Section = Section::new("plain", "p", "s", ok).cpu_bound();
        const LISTED: &[Section<Opts>] = &[PLAIN.in_demo()];
        assert_eq!(LISTED[0].name, "plain");
        assert!(LISTED[0].cpu_bound);
        assert!(LISTED[0].call(&Opts {}).is_ok());
    }

    #[test]
    fn a_bad_enum_value_names_the_valid_values_in_one_line() {
        #[derive(clap::ValueEnum, Clone, Debug)]
        enum Format {
            Terminal,
            Json,
        }
        #[derive(clap::Args, Debug)]
        struct Opts {
            #[arg(long, value_enum)]
            format: Option<Format>,
        }
        const S: &[Section<Opts>] = &[Section::with_options("s", "", "", |_| Ok(()))];
        let demo: Demo<Opts> = Demo {
            name: "enum-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        let Err(rejection) = demo.parse(["enum-demo", "--format", "yaml"]) else {
            panic!("yaml is not a format");
        };
        assert_eq!(rejection.code, 2);
        assert_eq!(
            rejection.message.lines().count(),
            1,
            "{}",
            rejection.message
        );
        assert!(
            rejection.message.contains("valid values: terminal, json"),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn an_option_of_a_section_not_chosen_is_refused_and_negatives_reach_the_parser() {
        #[derive(clap::Args, Debug)]
        struct Opts {
            #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
            requests: Option<u64>,
        }
        const S: &[Section<Opts>] = &[
            Section::with_options("download", "", "", |_| Ok(())).owns_options(&["requests"]),
            Section::<NoOptions>::new("gather", "", "", ok).in_demo(),
        ];
        let demo: Demo<Opts> = Demo {
            name: "owner-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        let Err(r) = demo.parse(["owner-demo", "gather", "--requests", "5"]) else {
            panic!("--requests without download");
        };
        assert_eq!(r.code, 2);
        assert!(
            r.message
                .contains("--requests is for the 'download' section"),
            "{}",
            r.message
        );
        assert!(
            demo.parse(["owner-demo", "download", "--requests", "5"])
                .is_ok()
        );
        assert!(
            demo.parse(["owner-demo", "--requests", "5"]).is_ok(),
            "all sections"
        );
        let Err(r) = demo.parse(["owner-demo", "download", "--requests", "-1"]) else {
            panic!("-1 is out of range");
        };
        assert_eq!(r.code, 2);
        assert!(!r.message.contains("unexpected argument"), "{}", r.message);
        assert!(r.message.contains("-1"), "{}", r.message);
    }

    #[test]
    fn an_option_two_sections_own_is_fine_with_either() {
        #[derive(clap::Args, Debug)]
        struct Opts {
            #[arg(long)]
            serve: bool,
        }
        const S: &[Section<Opts>] = &[
            Section::with_options("web", "", "", |_| Ok(())).owns_options(&["serve"]),
            Section::with_options("room", "", "", |_| Ok(())).owns_options(&["serve"]),
            Section::<NoOptions>::new("gather", "", "", ok).in_demo(),
        ];
        let demo: Demo<Opts> = Demo {
            name: "owners-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        assert!(demo.parse(["owners-demo", "web", "--serve"]).is_ok());
        assert!(demo.parse(["owners-demo", "room", "--serve"]).is_ok());
        let Err(r) = demo.parse(["owners-demo", "gather", "--serve"]) else {
            panic!("--serve without an owner");
        };
        assert_eq!(r.code, 2);
        // Both owners at once (named, or every section by default): one at a time.
        for args in [
            &["owners-demo", "--serve"][..],
            &["owners-demo", "web", "room", "--serve"],
        ] {
            let Err(r) = demo.parse(args.iter().copied()) else {
                panic!("{args:?} runs two servers");
            };
            assert_eq!(r.code, 2);
            assert_eq!(
                r.message,
                "owners-demo: --serve is for one section at a time, and this run includes 'web', 'room'; name one of them (e.g. 'owners-demo web --serve')"
            );
        }
        assert!(demo.parse(["owners-demo", "web", "room"]).is_ok());
    }
}
