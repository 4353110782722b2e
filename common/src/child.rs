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
