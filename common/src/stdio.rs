//! Standard output and error that cannot be written: the runner's plumbing, not a lesson.
//!
//! `println!` panics when it cannot write. Only a closed pipe (`demo | head`: the reader
//! has gone, `ErrorKind::BrokenPipe`) is a quiet stop with success, as Python's command-line
//! tools do. Any other error on standard output (a full disk, `/dev/full`, EIO) loses
//! output a script would keep, so it is a failure: one line on stderr, exit code 1. An error
//! on stderr itself is exit code 1 with nothing to say.
//!
//! A stdout closed by the shell (`demo >&-`) is not seen: Rust's runtime reopens a closed
//! standard stream on `/dev/null` before `main`, and that cannot be told apart from a
//! `/dev/null` a caller chose (Python's `subprocess.DEVNULL` opens it the same way).

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;

const STDOUT: &str = "failed printing to stdout";
const STDERR: &str = "failed printing to stderr";

/// A panic that is really a failed write to standard output or error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteFailure {
    /// Standard output is a pipe whose reader has gone.
    ReaderGone,
    /// Any other standard output error, as text (`No space left on device (os error 28)`).
    Stdout(String),
    /// Standard error could not be written.
    Stderr,
}

impl WriteFailure {
    /// Read a panic message: `Some` when it is `println!`'s or `eprintln!`'s.
    pub(crate) fn from_message(text: &str) -> Option<Self> {
        if let Some(rest) = text.strip_prefix(STDOUT) {
            let error = rest.trim_start_matches(':').trim();
            return Some(if is_broken_pipe(error) {
                WriteFailure::ReaderGone
            } else {
                WriteFailure::Stdout(error.to_owned())
            });
        }
        text.starts_with(STDERR).then_some(WriteFailure::Stderr)
    }

    pub(crate) fn from_payload(payload: &(dyn std::any::Any + Send)) -> Option<Self> {
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())?;
        Self::from_message(text)
    }

    /// Say it (where stderr still works) and give the exit code: success when the reader
    /// has gone, 1 otherwise. `quiet_pipe` false (a child process): a gone reader is 1 too.
    pub(crate) fn exit(&self, name: &str, quiet_pipe: bool) -> ExitCode {
        match self {
            WriteFailure::ReaderGone if quiet_pipe => ExitCode::SUCCESS,
            WriteFailure::ReaderGone | WriteFailure::Stderr => ExitCode::FAILURE,
            WriteFailure::Stdout(e) => {
                let _ = writeln!(io::stderr(), "{name}: cannot write standard output: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// `Broken pipe (os error 32)` -> true: the OS error number read back, so the test is on
/// `ErrorKind::BrokenPipe`, not on the message's language.
fn is_broken_pipe(error: &str) -> bool {
    error
        .rsplit_once("(os error ")
        .and_then(|(_, code)| code.trim_end_matches(')').parse::<i32>().ok())
        .is_some_and(|code| io::Error::from_raw_os_error(code).kind() == io::ErrorKind::BrokenPipe)
}

/// Install (once) a panic hook that stays silent for failed writes to stdout or stderr: the
/// runner reports those itself, in one line or not at all.
pub(crate) fn silence_write_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .payload_as_str()
                .is_none_or(|m| WriteFailure::from_message(m).is_none())
            {
                default(info);
            }
        }));
    });
}

/// Run `body`; turn a failed write to stdout or stderr into its exit code (see the module
/// header), then flush standard output and check that too: text a `print!` left in the
/// buffer is output like any other.
pub(crate) fn guarded(name: &str, quiet_pipe: bool, body: impl FnOnce() -> ExitCode) -> ExitCode {
    silence_write_panics();
    let code = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(payload) => match WriteFailure::from_payload(payload.as_ref()) {
            Some(failure) => return failure.exit(name, quiet_pipe),
            None => std::panic::resume_unwind(payload),
        },
    };
    match io::stdout().flush() {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            WriteFailure::ReaderGone.exit(name, quiet_pipe)
        }
        Err(e) => WriteFailure::Stdout(e.to_string()).exit(name, quiet_pipe),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_is_a_gone_reader() {
        assert_eq!(
            WriteFailure::from_message("failed printing to stdout: Broken pipe (os error 32)"),
            Some(WriteFailure::ReaderGone)
        );
        assert_eq!(
            WriteFailure::from_message(
                "failed printing to stdout: No space left on device (os error 28)"
            ),
            Some(WriteFailure::Stdout(
                "No space left on device (os error 28)".into()
            ))
        );
        assert_eq!(
            WriteFailure::from_message(
                "failed printing to stdout: Bad file descriptor (os error 9)"
            ),
            Some(WriteFailure::Stdout(
                "Bad file descriptor (os error 9)".into()
            ))
        );
        assert_eq!(
            WriteFailure::from_message("failed printing to stderr: Broken pipe (os error 32)"),
            Some(WriteFailure::Stderr)
        );
        assert_eq!(WriteFailure::from_message("index out of bounds"), None);
    }

    #[test]
    fn a_gone_reader_is_success_for_the_runner_and_failure_for_a_child() {
        assert_eq!(WriteFailure::ReaderGone.exit("t", true), ExitCode::SUCCESS);
        assert_eq!(WriteFailure::ReaderGone.exit("t", false), ExitCode::FAILURE);
        assert_eq!(WriteFailure::Stderr.exit("t", true), ExitCode::FAILURE);
    }

    #[test]
    fn a_guarded_write_panic_becomes_an_exit_code() {
        let code = guarded("t", true, || {
            panic!("failed printing to stdout: No space left on device (os error 28)")
        });
        assert_eq!(code, ExitCode::FAILURE);
        let code = guarded("t", true, || {
            panic!("failed printing to stdout: Broken pipe (os error 32)")
        });
        assert_eq!(code, ExitCode::SUCCESS);
        let other = catch_unwind(|| guarded("t", true, || panic!("a real bug")));
        assert!(other.is_err(), "other panics go on");
    }
}
