//! The command line: what it asks for ([`Request`]), or one line of bad input with exit
//! code 2 ([`Rejection`]).

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches};

use super::{Demo, UsageError, text};
use crate::python;

/// What the command line asked for.
#[derive(Debug)]
pub(super) enum Request<O> {
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
pub(super) struct Rejection {
    pub(super) message: String,
    pub(super) code: u8,
}

/// How far to check a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checks {
    /// Its shape only (names, options, values): what the supervisor needs to decide to
    /// start a run. Nothing is started and no file is read.
    Shape,
    /// Everything, before any section runs: also the Python interpreter (`--python`) and
    /// each chosen section's own check of the options (which may read a file).
    All,
}

impl<O: clap::Args> Demo<O> {
    fn command(&self) -> clap::Command {
        let width = text::width();
        let flag = |name: &'static str, help: &'static str| {
            Arg::new(name)
                .long(name)
                .action(ArgAction::SetTrue)
                .help(help)
        };
        let cmd = clap::Command::new(self.name)
            .about(self.about)
            .term_width(width)
            .arg(
                Arg::new("sections")
                    .value_name("SECTION")
                    .num_args(0..)
                    .help("Run only these sections, in the order given (default: all)"),
            )
            .arg(
                flag("list", "List the sections with the Python construct each one mirrors")
                    .short('l'),
            )
            .arg(
                flag("interactive", "Choose sections from a numbered menu (needs a terminal)")
                    .short('i')
                    .conflicts_with_all(["sections", "list"]),
            )
            .arg(
                flag("lesson", "Run each chosen section's lesson: its own `main`, as it runs when copied into a project of its own (no measuring)")
                    .conflicts_with_all(["interactive", "python", "python-exe"]),
            )
            .arg(
                Arg::new("trace")
                    .long("trace")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Write a Chrome / Perfetto trace of the run to FILE (child processes: FILE.ROLE-N.json)"),
            )
            .arg(
                flag("python", "Also run each section's Python twin on the same job and print the two side by side (alone: the sections that have one)")
                    .conflicts_with("interactive"),
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
                self.section_table_of(&(0..self.sections.len()).collect::<Vec<_>>(), width),
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

    pub(super) fn parse(
        &self,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        checks: Checks,
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
        let mut sections = self.selected_sections(&matches)?;
        let lesson = matches.get_flag("lesson");
        if lesson {
            self.check_lessons(&sections)?;
            self.check_no_owned_options(&cmd, &matches)?;
        } else {
            self.check_python(&matches, &mut sections, checks)?;
            self.check_owned_options(&cmd, &matches, &sections)?;
            if checks == Checks::All {
                self.check_usage(&sections, &options)?;
            }
        }
        Ok(Request::Run {
            sections,
            options,
            trace,
            lesson,
        })
    }

    /// `--lesson`: every chosen section has a lesson `main`.
    fn check_lessons(&self, sections: &[usize]) -> Result<(), Rejection> {
        let without: Vec<&str> = sections
            .iter()
            .map(|&i| &self.sections[i])
            .filter(|s| s.lesson.is_none())
            .map(|s| s.name)
            .collect();
        if without.is_empty() {
            return Ok(());
        }
        Err(self.usage_error(format!(
            "--lesson: {} {} no lesson `main` of its own; name sections that have one",
            join(&without),
            if without.len() == 1 { "has" } else { "have" }
        )))
    }

    /// `--lesson` runs what a copy runs: an option a section reads for its measured run
    /// (`--serve`) would do nothing, so it is refused.
    fn check_no_owned_options(
        &self,
        cmd: &clap::Command,
        matches: &ArgMatches,
    ) -> Result<(), Rejection> {
        let given = cmd.get_arguments().find(|a| {
            a.get_long()
                .is_some_and(|long| self.sections.iter().any(|s| s.owns.contains(&long)))
                && matches.value_source(a.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
        });
        match given.and_then(|a| a.get_long()) {
            Some(long) => Err(self.usage_error(format!(
                "--{long} is for a section's measured run, and --lesson runs the lesson's own main, which reads no options; drop one of them"
            ))),
            None => Ok(()),
        }
    }

    /// `--python`: find the interpreter (with every check) and, given alone, keep the
    /// sections that have a twin; in a demo where none has, that is one line, exit code 2.
    fn check_python(
        &self,
        matches: &ArgMatches,
        sections: &mut Vec<usize>,
        checks: Checks,
    ) -> Result<(), Rejection> {
        let exe = matches.get_one::<PathBuf>("python-exe");
        if !matches.get_flag("python") && exe.is_none() {
            return Ok(());
        }
        let named = matches.get_many::<String>("sections").is_some();
        if !named {
            if !self.sections.iter().any(|s| s.python_side.some()) {
                return Err(self.usage_error(
                    "--python: no section of this demo has a Python twin; run it without --python (threading-demo, asyncio-demo, multiprocessing-demo, futures-demo and hybrid-demo have twins)".to_owned(),
                ));
            }
            sections.retain(|&i| self.sections[i].python_side.some());
        }
        if checks == Checks::All {
            let found = python::find(exe.map(PathBuf::as_path))
                .map_err(|python::NotFound(e)| self.usage_error(e))?;
            python::choose(found);
        }
        Ok(())
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
        let owners_of = |long: &str, among: &mut dyn Iterator<Item = usize>| -> Vec<&str> {
            among
                .map(|i| &self.sections[i])
                .filter(|s| s.owns.contains(&long))
                .map(|s| s.name)
                .collect()
        };
        // An option several sections own (`--serve`) changes what each does: one at a time.
        for &c in chosen {
            for long in self.sections[c].owns {
                let owners = owners_of(long, &mut chosen.iter().copied());
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
        let mut longs: Vec<&str> = self
            .sections
            .iter()
            .flat_map(|s| s.owns.iter().copied())
            .collect();
        longs.sort_unstable();
        longs.dedup();
        for long in longs {
            let chosen_owners = owners_of(long, &mut chosen.iter().copied());
            if chosen_owners.is_empty() && given(long) {
                let owners = owners_of(long, &mut (0..self.sections.len()));
                let quoted = join_and(owners.iter().map(|o| format!("'{o}'")));
                let (section, it) = if owners.len() == 1 {
                    ("section", "it")
                } else {
                    ("sections", "one of them")
                };
                return Err(self.usage_error(format!(
                    "--{long} is for the {quoted} {section}, which this run does not include; add {it} or drop --{long}"
                )));
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

    pub(super) fn usage_error(&self, message: String) -> Rejection {
        Rejection {
            message: format!("{}: {message}", self.name),
            code: 2,
        }
    }

    /// The rows of these sections (name, Python construct, summary), aligned as in the
    /// full table and fitted to `width` columns: the summary (and, when even that is too
    /// narrow, the Python construct) goes on lines of its own below the name.
    pub(super) fn section_table_of(&self, selected: &[usize], width: usize) -> String {
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
        let mut out = String::new();
        let one_line = 2 + w_name + 2 + w_py + 2;
        for s in selected.iter().map(|&i| &self.sections[i]) {
            if one_line + s.summary.chars().count() <= width {
                out.push_str(&format!(
                    "  {:w_name$}  {:w_py$}  {}\n",
                    s.name, s.python, s.summary
                ));
                continue;
            }
            let indent = 2 + w_name + 2;
            let python = text::wrap(s.python, width.saturating_sub(indent).max(20));
            let mut lines = python.iter();
            out.push_str(&format!(
                "  {:w_name$}  {}\n",
                s.name,
                lines.next().map_or("", String::as_str)
            ));
            for line in lines {
                out.push_str(&format!("{:indent$}{line}\n", ""));
            }
            let deeper = indent + 2;
            for line in text::wrap(s.summary, width.saturating_sub(deeper).max(20)) {
                out.push_str(&format!("{:deeper$}{line}\n", ""));
            }
        }
        out
    }
}

/// The valid name closest to a mistyped one (`thread_basics` -> `thread-basics`), if any is
/// close enough: at most 2 edits, or the same once `_` and case are set aside.
pub(super) fn closest<'a>(name: &str, valid: impl Iterator<Item = &'a str>) -> Option<&'a str> {
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

/// `a, b, c`.
pub(super) fn join(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{DEMO, SECTIONS};
    use super::super::{NoOptions, Role, Section, SectionResult};
    use super::*;
    use crate::python::Twin;

    fn ok() -> SectionResult {
        Ok(())
    }

    fn echo(_: &[String]) -> anyhow::Result<()> {
        Ok(())
    }

    const WITH_ROLES: Demo = Demo {
        name: "test-demo",
        about: "a demo for tests",
        sections: SECTIONS,
        roles: &[Role::new("child", echo)],
    };

    fn parse(args: &[&str]) -> Result<Request<NoOptions>, Rejection> {
        WITH_ROLES.parse(
            std::iter::once("test-demo").chain(args.iter().copied()),
            Checks::All,
        )
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

    const TWIN: Twin = Twin::new("second.py", "", &[]);
    const WITH_TWIN: &[Section] = &[
        Section::new("first-one", "threading.Thread", "starts a thread", ok),
        Section::new("second", "queue.Queue", "passes items", ok).twin(&TWIN),
    ];

    #[test]
    fn python_without_an_interpreter_is_one_line_with_code_2_and_only_a_full_check_looks() {
        const D: Demo = Demo {
            name: "test-demo",
            about: "",
            sections: WITH_TWIN,
            roles: &[],
        };
        let args = [
            "test-demo",
            "--python-exe",
            "/nonexistent/python3",
            "second",
        ];
        let err = D.parse(args, Checks::All).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(!err.message.contains('\n'), "{}", err.message);
        assert!(
            err.message.starts_with(
                "test-demo: --python-exe /nonexistent/python3: not a usable Python 3 interpreter"
            ),
            "{}",
            err.message
        );
        assert!(
            D.parse(args, Checks::Shape).is_ok(),
            "the supervisor leaves the interpreter to the run"
        );
    }

    #[test]
    fn python_alone_runs_the_sections_that_have_a_twin() {
        const D: Demo = Demo {
            name: "twin-demo",
            about: "",
            sections: WITH_TWIN,
            roles: &[],
        };
        let parse = |args: &[&str]| {
            D.parse(
                std::iter::once("twin-demo").chain(args.iter().copied()),
                Checks::Shape,
            )
        };
        match parse(&["--python"]).unwrap() {
            Request::Run { sections, .. } => assert_eq!(sections, [1]),
            other => panic!("{other:?}"),
        }
        match parse(&["--python", "first-one", "second"]).unwrap() {
            Request::Run { sections, .. } => assert_eq!(sections, [0, 1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn python_alone_in_a_demo_without_twins_is_one_line() {
        let err = DEMO
            .parse(["test-demo", "--python"], Checks::Shape)
            .unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message
                .starts_with("test-demo: --python: no section of this demo has a Python twin"),
            "{}",
            err.message
        );
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
    fn section_table_aligns_columns_and_fits_the_width() {
        assert_eq!(
            DEMO.section_table_of(&[0, 1], 80),
            "  first-one  threading.Thread  starts a thread\n  second     queue.Queue       passes items\n"
        );
        let narrow = DEMO.section_table_of(&[0, 1], 32);
        assert_eq!(
            narrow,
            "  first-one  threading.Thread\n               starts a thread\n  second     queue.Queue\n               passes items\n"
        );
        assert!(narrow.lines().all(|l| l.chars().count() <= 32), "{narrow}");
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

    #[test]
    fn a_demo_without_roles_says_so() {
        let err = DEMO
            .parse(["test-demo", "--role", "x"], Checks::All)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("has no roles"), "{}", err.message);
        assert!(!err.message.contains("valid roles"), "{}", err.message);
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
        match demo
            .parse(["opt-demo", "--requests", "5"], Checks::All)
            .unwrap()
        {
            Request::Run { options, .. } => assert_eq!(options.requests, 5),
            other => panic!("{other:?}"),
        }
        let err = demo
            .parse(["opt-demo", "--requests", "many"], Checks::All)
            .unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message.starts_with("opt-demo: invalid value 'many'"),
            "{}",
            err.message
        );
        assert!(!err.message.contains('\n'));
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

    fn needs_requests(o: &Opts) -> Result<(), UsageError> {
        if o.requests == 0 {
            return Err(UsageError("--requests must be at least 1".into()));
        }
        Ok(())
    }

    #[test]
    fn a_usage_check_rejects_before_anything_runs_but_not_in_the_supervisor() {
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
        let err = demo
            .parse(["opt-demo", "--requests", "0"], Checks::All)
            .unwrap_err();
        assert_eq!(err.code, 2);
        assert_eq!(err.message, "opt-demo: --requests must be at least 1");
        assert!(
            demo.parse(["opt-demo", "--requests", "0", "other"], Checks::All)
                .is_ok(),
            "only the chosen sections' checks"
        );
        assert!(
            demo.parse(["opt-demo", "--requests", "0"], Checks::Shape)
                .is_ok(),
            "the supervisor leaves a section's checks (which may read a file) to the run"
        );
        let mut ran = false;
        let code = demo.front_end(["opt-demo", "--requests", "0"], |_| {
            ran = true;
            std::process::ExitCode::SUCCESS
        });
        assert_eq!(code, std::process::ExitCode::from(2));
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
        let Err(rejection) = demo.parse(["enum-demo", "--format", "yaml"], Checks::All) else {
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
            Section::<NoOptions>::new("gather", "", "", ok).reads_no_options(),
        ];
        let demo: Demo<Opts> = Demo {
            name: "owner-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        let Err(r) = demo.parse(["owner-demo", "gather", "--requests", "5"], Checks::All) else {
            panic!("--requests without download");
        };
        assert_eq!(r.code, 2);
        assert_eq!(
            r.message,
            "owner-demo: --requests is for the 'download' section, which this run does not include; add it or drop --requests"
        );
        assert!(
            demo.parse(["owner-demo", "download", "--requests", "5"], Checks::All)
                .is_ok()
        );
        assert!(
            demo.parse(["owner-demo", "--requests", "5"], Checks::All)
                .is_ok(),
            "all sections"
        );
        let Err(r) = demo.parse(["owner-demo", "download", "--requests", "-1"], Checks::All) else {
            panic!("-1 is out of range");
        };
        assert_eq!(r.code, 2);
        assert!(!r.message.contains("unexpected argument"), "{}", r.message);
        assert!(r.message.contains("-1"), "{}", r.message);
    }

    #[test]
    fn lesson_refuses_an_option_only_a_measured_run_reads() {
        #[derive(clap::Args, Debug)]
        struct Opts {
            #[arg(long)]
            serve: bool,
        }
        fn main_ok() -> std::process::ExitCode {
            std::process::ExitCode::SUCCESS
        }
        const S: &[Section<Opts>] = &[Section::with_options("web", "", "", |_| Ok(()))
            .owns_options(&["serve"])
            .main(main_ok)];
        let demo: Demo<Opts> = Demo {
            name: "lesson-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        assert!(
            demo.parse(["lesson-demo", "web", "--lesson"], Checks::All)
                .is_ok()
        );
        let Err(r) = demo.parse(["lesson-demo", "web", "--lesson", "--serve"], Checks::All) else {
            panic!("--serve means nothing to the lesson's main");
        };
        assert_eq!(r.code, 2);
        assert!(
            r.message
                .starts_with("lesson-demo: --serve is for a section's measured run"),
            "{}",
            r.message
        );
    }

    #[test]
    fn an_option_two_sections_own_is_fine_with_either_and_names_both_without() {
        #[derive(clap::Args, Debug)]
        struct Opts {
            #[arg(long)]
            serve: bool,
        }
        const S: &[Section<Opts>] = &[
            Section::with_options("web", "", "", |_| Ok(())).owns_options(&["serve"]),
            Section::with_options("room", "", "", |_| Ok(())).owns_options(&["serve"]),
            Section::<NoOptions>::new("gather", "", "", ok).reads_no_options(),
        ];
        let demo: Demo<Opts> = Demo {
            name: "owners-demo",
            about: "",
            sections: S,
            roles: &[],
        };
        assert!(
            demo.parse(["owners-demo", "web", "--serve"], Checks::All)
                .is_ok()
        );
        assert!(
            demo.parse(["owners-demo", "room", "--serve"], Checks::All)
                .is_ok()
        );
        let Err(r) = demo.parse(["owners-demo", "gather", "--serve"], Checks::All) else {
            panic!("--serve without an owner");
        };
        assert_eq!(r.code, 2);
        assert_eq!(
            r.message,
            "owners-demo: --serve is for the 'web' and 'room' sections, which this run does not include; add one of them or drop --serve"
        );
        // Both owners at once (named, or every section by default): one at a time.
        for args in [
            &["owners-demo", "--serve"][..],
            &["owners-demo", "web", "room", "--serve"],
        ] {
            let Err(r) = demo.parse(args.iter().copied(), Checks::All) else {
                panic!("{args:?} runs two servers");
            };
            assert_eq!(r.code, 2);
            assert_eq!(
                r.message,
                "owners-demo: --serve is for one section at a time, and this run includes 'web', 'room'; name one of them (e.g. 'owners-demo web --serve')"
            );
        }
        assert!(
            demo.parse(["owners-demo", "web", "room"], Checks::All)
                .is_ok()
        );
    }
}
