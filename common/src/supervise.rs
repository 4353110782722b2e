//! Clean stops: a demo run leaves no temporary file behind, even after Ctrl-C or SIGTERM.
//!
//! A signal ends a process without running any `Drop`, so a section's temporary folder
//! (SQLite files, file-io's files, the host file) and the sockets ipc-channel makes in
//! folders of its own would stay in `/tmp`. So the runner of a demo binary is a small
//! supervisor: it makes a private folder, re-runs the binary as a child with `TMPDIR`
//! pointing there (children of the demo inherit it), waits, forwards SIGINT, SIGTERM and
//! SIGHUP, then removes the folder and exits with the child's code (128 + the signal's
//! number when a signal ended it). Standard input, output and error are inherited: a
//! terminal, a pipe and `| head` behave as without it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Set in the supervised child, so that it runs the sections instead of supervising again.
pub const SUPERVISED_ENV: &str = "DEMO_SUPERVISED";

/// This process is the child of a supervisor.
pub(crate) fn is_supervised() -> bool {
    std::env::var_os(SUPERVISED_ENV).is_some()
}

/// A private folder `NAME-PID` under the temporary folder, removed on drop.
struct PrivateTmp(PathBuf);

impl PrivateTmp {
    fn create(name: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = format!("{name}-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(dir);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateTmp(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run this binary again with `args` (after the program name) under supervision; `None`
/// when that cannot be set up (no usable temporary folder, no runtime): then the caller
/// runs the sections itself, as before.
pub(crate) fn run(name: &str, args: &[OsString]) -> Option<ExitCode> {
    let exe = std::env::current_exe().ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let tmp = PrivateTmp::create(name).ok()?;
    let code = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // A signal ignored when we started (`nohup`, a background job of a script) stays
        // ignored, here and in the child: no handler for it.
        let ignored = ignored_signals();
        let listen = |kind: SignalKind| {
            let number = kind.as_raw_value();
            let is_ignored = (1..64).contains(&number) && ignored & (1 << (number - 1)) != 0;
            if is_ignored {
                Ok(None)
            } else {
                signal(kind).map(Some)
            }
        };
        let mut int = listen(SignalKind::interrupt()).ok()?;
        let mut term = listen(SignalKind::terminate()).ok()?;
        let mut hup = listen(SignalKind::hangup()).ok()?;
        let mut child = tokio::process::Command::new(&exe)
            .args(args.iter().skip(1))
            .env("TMPDIR", tmp.path())
            .env(SUPERVISED_ENV, "1")
            .spawn()
            .ok()?;
        let pid = child.id();
        loop {
            let sig = tokio::select! {
                status = child.wait() => return Some(status),
                _ = recv(&mut int) => "INT",
                _ = recv(&mut term) => "TERM",
                _ = recv(&mut hup) => "HUP",
            };
            // A terminal's Ctrl-C reaches the whole process group; `kill PID` reaches only
            // this one: pass it on, so the child ends (or handles it) as it would alone.
            let forwarded = pid.is_some_and(|pid| {
                std::process::Command::new("kill")
                    .args(["-s", sig, &pid.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            });
            if !forwarded {
                let _ = child.start_kill();
            }
        }
    });
    let status = match code {
        Some(Ok(status)) => status,
        Some(Err(e)) => {
            eprintln!("{name}: waiting for the run: {e}");
            return Some(ExitCode::FAILURE);
        }
        None => {
            // Spawning failed: nothing ran, so run in this process instead.
            return None;
        }
    };
    drop(runtime);
    drop(tmp);
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Some(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The next delivery of a signal we listen to; never, for one we do not.
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The signals this process ignores (bit N-1 for signal N), read from `/proc/self/status`;
/// none where that cannot be read.
fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(line.trim(), 16).ok()
        })
        .unwrap_or(0)
}
