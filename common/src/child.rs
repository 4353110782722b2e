//! This binary re-run as a child process, and never waited on forever: the plumbing of the
//! `multiprocessing` lessons, not a lesson.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::awake::AwakeClock;
use crate::trace;

/// The path of demo binary `bin`, to re-run it as a child process.
///
/// In the demo itself that is `std::env::current_exe()`. Under `cargo test` the current
/// executable is the test harness in `target/<profile>/deps/`; the demo binary that cargo
/// built beside it is one folder up.
pub fn demo_exe(bin: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if exe.file_stem().is_some_and(|stem| stem == bin) {
        return Ok(exe);
    }
    let dir = exe
        .parent()
        .ok_or_else(|| io::Error::other("the current executable has no folder"))?;
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let candidate = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found: build it first (cargo build -p {bin})",
                candidate.display()
            ),
        ))
    }
}

/// `demo_exe(bin) --role ROLE`: add the role's arguments and spawn it.
pub fn role_command(bin: &str, role: &str) -> io::Result<Command> {
    let mut cmd = Command::new(demo_exe(bin)?);
    cmd.arg("--role").arg(role);
    if let Some(file) = trace::child_trace_file(role) {
        cmd.env(trace::CHILD_TRACE_ENV, file).env(
            trace::CHILD_TRACE_PARENT_ENV,
            std::process::id().to_string(),
        );
    }
    Ok(cmd)
}

/// Wait at most `limit` for `child`; kill it if it is still running then. Returns its
/// status, or `None` when it had to be killed. Child processes in the demos never hang a run.
/// The limit counts only time this process was running ([`AwakeClock`]): Ctrl-Z then `fg`
/// does not turn into a killed child.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: Duration,
) -> io::Result<Option<std::process::ExitStatus>> {
    let mut clock = AwakeClock::start(Duration::from_secs(1));
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if clock.read() >= limit {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A child process (this binary with `--role NAME`) that reports in lines of words and
/// numbers on its standard output (`port 4711`, `stats 3 0 1 2`) and is told to stop by
/// closing its standard input: how the demos run a server or a crowd of clients in a
/// process of its own, to measure its memory apart. Every read is bounded by `limit` of
/// awake time, and a child still running when this is dropped is killed.
pub struct Talker {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    limit: Duration,
    name: String,
}

impl Talker {
    /// Start `demo --role role args...`.
    pub fn start(
        demo: &str,
        role: &str,
        args: &[String],
        limit: Duration,
    ) -> anyhow::Result<Talker> {
        let mut command = role_command(demo, role)?;
        command
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        Talker::from_command(command, role, limit)
    }

    /// Start `command` (with its standard input and output piped), named `name` in errors.
    fn from_command(mut command: Command, name: &str, limit: Duration) -> anyhow::Result<Talker> {
        use anyhow::Context;
        use std::io::BufRead;
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = io::BufReader::new(stdout).lines().map_while(Result::ok);
            lines.try_for_each(|line| tx.send(line)).ok()
        });
        Ok(Talker {
            child,
            lines,
            limit,
            name: name.to_owned(),
        })
    }

    /// The next line that starts with the word `key` (lines before it are skipped).
    fn line(&self, key: &str) -> anyhow::Result<String> {
        use std::sync::mpsc::RecvTimeoutError;
        let mut clock = AwakeClock::start(Duration::from_secs(1));
        while clock.read() < self.limit {
            match self.lines.recv_timeout(AwakeClock::POLL) {
                Ok(line) if line.split_whitespace().next() == Some(key) => return Ok(line),
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the {} process ended before a '{key}' line", self.name)
                }
            }
        }
        let limit = crate::timing::Secs(self.limit);
        anyhow::bail!(
            "no '{key}' line from the {} process within {limit}",
            self.name
        )
    }

    /// The numbers after `key` on its next line: `stats 3 0 1` -> [3, 0, 1].
    pub fn numbers(&self, key: &str) -> anyhow::Result<Vec<u64>> {
        use anyhow::Context;
        let line = self.line(key)?;
        let numbers: Result<_, _> = line.split_whitespace().skip(1).map(str::parse).collect();
        numbers.with_context(|| format!("a bad line from the {} process: {line}", self.name))
    }

    /// The value after each of `keys` on the next line that starts with the first:
    /// `port 4711 fds 1024` with `["port", "fds"]` -> [4711, 1024].
    pub fn values<const N: usize>(&self, keys: [&str; N]) -> anyhow::Result<[u64; N]> {
        use anyhow::Context;
        let line = self.line(keys[0])?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut values = [0; N];
        for (value, key) in values.iter_mut().zip(keys) {
            let at = words.iter().position(|w| *w == key);
            *value = at
                .and_then(|k| words.get(k + 1)?.parse().ok())
                .with_context(|| {
                    format!(
                        "no number '{key}' in the {} process's line: {line}",
                        self.name
                    )
                })?;
        }
        Ok(values)
    }

    /// Write one line to its standard input (a request: `peak`).
    pub fn say(&mut self, line: &str) -> anyhow::Result<()> {
        use anyhow::Context;
        let stdin = self.child.stdin.as_mut().context("its input is closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Close its standard input: the child's "stop".
    pub fn close_input(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Close its input and wait for it to exit successfully, within the limit.
    pub fn finish(mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        self.close_input();
        let status = wait_or_kill(&mut self.child, self.limit)?;
        let status = status.with_context(|| {
            format!(
                "the {} process did not finish within {} (killed)",
                self.name,
                crate::timing::Secs(self.limit)
            )
        })?;
        anyhow::ensure!(
            status.success(),
            "the {} process failed: {status}",
            self.name
        );
        Ok(())
    }
}

impl Drop for Talker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// End this process with exit code 124 if it is still running after `limit`: a watchdog
/// for child processes, so a stuck child never hangs its parent's run.
pub fn exit_after(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "child".to_owned());
        // Not `eprintln!`: with stderr gone it would panic this thread and never exit.
        let _ = writeln!(io::stderr(), "{name}: gave up after {limit:?}");
        std::process::exit(124);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_talker_is_read_by_key_and_bounded() {
        // Under `cargo test` this binary is the test harness, not a demo: talk to `sh`.
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            "echo noise; echo port 4711 fds 1024; echo stats 3 0 1; read x; echo peak 9; read y || true",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
        let talker = Talker::from_command(sh, "sh", Duration::from_secs(10)).unwrap();
        assert_eq!(talker.values(["port", "fds"]).unwrap(), [4711, 1024]);
        assert_eq!(talker.numbers("stats").unwrap(), [3, 0, 1]);
        let mut talker = talker;
        talker.say("go").unwrap();
        assert_eq!(talker.numbers("peak").unwrap(), [9]);
        talker.finish().unwrap();
        let mut silent = Command::new("sleep");
        silent
            .arg("60")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let silent = Talker::from_command(silent, "sleep", Duration::from_millis(300)).unwrap();
        let e = silent.numbers("port").unwrap_err().to_string();
        assert!(
            e.starts_with("no 'port' line from the sleep process within"),
            "{e}"
        );
    }

    #[test]
    fn wait_or_kill_returns_status_or_kills() {
        let mut quick = Command::new("true").spawn().unwrap();
        assert!(
            wait_or_kill(&mut quick, Duration::from_secs(60))
                .unwrap()
                .unwrap()
                .success()
        );
        let mut slow = Command::new("sleep").arg("60").spawn().unwrap();
        assert!(
            wait_or_kill(&mut slow, Duration::from_millis(20))
                .unwrap()
                .is_none()
        );
    }
}
