//! A section's run, captured as the terminal shows it (standard output and standard error
//! through one pipe, in the order written), with what the label says about it: the
//! machine, the date, the build profile and how busy the machine was meanwhile.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// One run of one section, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// What ran, as a reader would type it after `cargo run -p DEMO --`.
    pub command: String,
    /// Everything it printed.
    pub output: String,
    /// `exit status: 0`, or what ended it.
    pub status: String,
    pub ok: bool,
    pub secs: f64,
    /// `AMD EPYC 7B13 (2 cores)`.
    pub machine: String,
    /// UTC, `2026-12-01 03:41`.
    pub date: String,
    /// `dev` or `release`, or `stand-in` for a fake run made by a test.
    pub profile: String,
    /// The 1-minute load average before and after the run.
    pub load: (f64, f64),
    /// Cores' worth of CPU that other processes used while it ran.
    pub others: Option<f64>,
    /// `Python 3.11.7` when the run included the twin (`--python`).
    pub python: Option<String>,
}

impl Capture {
    /// The label printed above the output.
    pub fn label(&self) -> String {
        if self.profile == "stand-in" {
            return format!(
                "A stand-in run, not a measurement: this page was built by the book's test, \
                 which writes a fake output instead of running `{}` (so that the test is quick). \
                 `cargo run -p book` puts the real run here.",
                self.command
            );
        }
        let others = self.others.map_or(String::new(), |o| {
            format!("; other processes used {o:.1} cores meanwhile")
        });
        let python = self
            .python
            .as_ref()
            .map_or(String::new(), |p| format!(", the twin on {p}"));
        let status = if self.ok {
            String::new()
        } else {
            format!(" It ended with {}.", self.status)
        };
        format!(
            "Recorded by `cargo run -p book` on {}, {} UTC: `{}`, {} build{python}, {}; \
             load average {:.1} at the start, {:.1} at the end{others}.{status}",
            self.machine,
            self.date,
            self.command,
            self.profile,
            duration(self.secs),
            self.load.0,
            self.load.1
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "command": self.command, "status": self.status, "ok": self.ok, "secs": self.secs,
            "machine": self.machine, "date": self.date, "profile": self.profile,
            "load": [self.load.0, self.load.1], "others": self.others, "python": self.python,
        })
    }

    /// A capture written by [`Capture::save`]: its label from `NAME.json`, the output from
    /// `NAME.txt` as it is now (a test may have changed it).
    pub fn load(dir: &Path, demo: &str, section: &str) -> Result<Capture> {
        let (text, meta) = paths(dir, demo, section);
        let output =
            std::fs::read_to_string(&text).with_context(|| format!("{}", text.display()))?;
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(&meta).with_context(|| format!("{}", meta.display()))?,
        )?;
        let s = |k: &str| meta[k].as_str().unwrap_or_default().to_owned();
        let f = |v: &Value| v.as_f64().unwrap_or_default();
        Ok(Capture {
            command: s("command"),
            output,
            status: s("status"),
            ok: meta["ok"].as_bool().unwrap_or(false),
            secs: f(&meta["secs"]),
            machine: s("machine"),
            date: s("date"),
            profile: s("profile"),
            load: (f(&meta["load"][0]), f(&meta["load"][1])),
            others: meta["others"].as_f64(),
            python: meta["python"].as_str().map(str::to_owned),
        })
    }

    /// Writes `DIR/DEMO/SECTION.txt` (the output) and `.json` (the label's facts); returns
    /// the text file's path, which the page includes.
    pub fn save(&self, dir: &Path, demo: &str, section: &str) -> Result<PathBuf> {
        let (text, meta) = paths(dir, demo, section);
        std::fs::create_dir_all(text.parent().unwrap())?;
        std::fs::write(&text, &self.output)?;
        std::fs::write(&meta, serde_json::to_string_pretty(&self.to_json())?)?;
        Ok(text)
    }
}

/// `0.7 s`, `42 ms`.
pub fn duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else {
        format!("{secs:.1} s")
    }
}

pub fn paths(dir: &Path, demo: &str, section: &str) -> (PathBuf, PathBuf) {
    let base = dir.join(demo);
    (
        base.join(format!("{section}.txt")),
        base.join(format!("{section}.json")),
    )
}

/// What every label of one build shares.
pub struct RunSetup {
    pub machine: String,
    pub profile: String,
    pub python: Option<String>,
    /// The folder runs start in (the workspace root).
    pub cwd: PathBuf,
    /// A run that has not ended after this is killed (and the page says so).
    pub limit: Duration,
}

/// Runs `exe args...`, capturing what a terminal would show.
pub fn run(ctx: &RunSetup, exe: &Path, args: &[String], with_python: bool) -> Result<Capture> {
    let (reader, writer) = std::io::pipe()?;
    let load_before = load_average();
    let busy_before = machine_busy_ticks();
    let children_before = children_ticks();
    let start = Instant::now();
    let date = utc_now();
    let mut child = {
        let mut command = Command::new(exe);
        command
            .args(args)
            .current_dir(&ctx.cwd)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            // An 80-column terminal without colours; no log lines of the reader's own.
            .env("COLUMNS", "80")
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE");
        command
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?
        // `command` (and its copies of the pipe's write end) is dropped here.
    };
    let (output, reading) = read_in_background(reader);
    let status = wait_within(&mut child, start, ctx.limit)?;
    let secs = start.elapsed().as_secs_f64();
    // A process it left behind may hold the pipe open: read what came within a moment.
    let waited = Instant::now();
    while !reading.is_finished() && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let run_ticks = children_ticks() - children_before;
    let busy = machine_busy_ticks().zip(busy_before).map(|(a, b)| a - b);
    let output = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    Ok(Capture {
        command: format!(
            "{} {}",
            exe.file_name().unwrap().to_string_lossy(),
            args.join(" ")
        ),
        output,
        ok: status == "exit status: 0",
        status,
        secs,
        machine: ctx.machine.clone(),
        date,
        profile: ctx.profile.clone(),
        load: (load_before, load_average()),
        others: busy.map(|b| ((b - run_ticks) / TICKS / secs).max(0.0)),
        python: if with_python {
            ctx.python.clone()
        } else {
            None
        },
    })
}

/// Everything `reader` yields, gathered by a thread of its own (a process the run left
/// behind may keep the pipe open: the caller need not wait for its end).
fn read_in_background(
    mut reader: std::io::PipeReader,
) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let output = Arc::new(Mutex::new(Vec::new()));
    let gathered = Arc::clone(&output);
    let reading = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            gathered.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (output, reading)
}

/// The child's exit status, or, past `limit` since `start`, a killed child and why.
fn wait_within(child: &mut std::process::Child, start: Instant, limit: Duration) -> Result<String> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.to_string());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(format!(
                "no end within {} s: killed by the book's build",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fake run for the book's test: a short output in a run's shape, with one figure.
pub fn stand_in(demo: &str, section: &str, idiom: &str, with_python: bool) -> Capture {
    let args = if with_python {
        format!("{section} --python")
    } else {
        section.to_owned()
    };
    Capture {
        command: format!("{demo} {args}"),
        output: format!(
            "━━ {section} (1/1) ━━ Python: {idiom}\n  \
             (a stand-in: no section ran to make this page)\n  \
             stand-in figure ........... 1.000 s\n\n\
             {demo}: 1 section(s) in 0.000 s, all passed.\n"
        ),
        status: "exit status: 0".into(),
        ok: true,
        secs: 0.0,
        machine: String::new(),
        date: utc_now(),
        profile: "stand-in".into(),
        load: (0.0, 0.0),
        others: None,
        python: None,
    }
}

/// Linux's clock ticks a second for `/proc` CPU times (USER_HZ; 100 on every platform
/// Linux runs on today).
const TICKS: f64 = 100.0;

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// CPU time every process used so far (all cores, ticks): `/proc/stat`'s first line
/// without idle and iowait.
fn machine_busy_ticks() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    (fields.len() == 8).then(|| fields.iter().sum::<f64>() - fields[3] - fields[4])
}

/// CPU time of this process's waited-for children (and theirs): `/proc/self/stat`'s
/// cutime + cstime.
fn children_ticks() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<f64> = after
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // cutime and cstime are fields 16 and 17; the state (field 3) is not a number.
    fields.get(12).unwrap_or(&0.0) + fields.get(13).unwrap_or(&0.0)
}

/// The CPU model and the online cores: `AMD EPYC 7B13 (2 cores)`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu} ({cores} cores)")
}

/// Now, in UTC: `2026-12-01 03:41`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// `Python 3.11.7` when `python3` runs here.
pub fn python_version() -> Option<String> {
    let out = Command::new("python3").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && text.starts_with("Python 3")).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_holds_what_was_printed_on_both_streams_in_order() {
        let ctx = RunSetup {
            machine: machine(),
            profile: "dev".into(),
            python: None,
            cwd: std::env::temp_dir(),
            limit: Duration::from_secs(30),
        };
        let script = "echo one; echo two >&2; echo three".to_owned();
        let capture = run(&ctx, Path::new("/bin/sh"), &["-c".into(), script], false).unwrap();
        assert_eq!(capture.output, "one\ntwo\nthree\n");
        assert!(capture.ok, "{}", capture.status);
        assert!(capture.label().contains("dev build"), "{}", capture.label());
        let dir = std::env::temp_dir().join(format!("book-run-{}", std::process::id()));
        capture.save(&dir, "d", "s").unwrap();
        let loaded = Capture::load(&dir, "d", "s").unwrap();
        assert_eq!(
            (loaded.output.clone(), loaded.label()),
            (capture.output.clone(), capture.label())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_date_is_a_calendar_date() {
        let now = utc_now();
        assert_eq!(now.len(), 16, "{now}");
        assert!(now.starts_with("20"), "{now}");
    }
}
