//! For the demos that use ipc-channel (multiprocessing-demo, futures-demo's process pool):
//! its `IpcOneShotServer::new` panics (an assertion inside the crate, with a backtrace)
//! when it cannot make its socket's folder in the temporary folder: a missing, read-only or
//! full `TMPDIR`. [`check_temp_dir`] says what is wrong in one line first;
//! [`without_ipc_panic`] catches the panic if it comes anyway. No lesson is about this.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, bail};

/// The temporary folder can hold ipc-channel's sockets: it exists, is a folder, is
/// writable (a folder is made in it and removed, as ipc-channel will), its path is UTF-8
/// and short enough for a Unix socket address (108 bytes, with `/.tmpXXXXXX/socket`).
pub fn check_temp_dir() -> anyhow::Result<()> {
    check_socket_dir(&std::env::temp_dir())
}

pub(crate) fn check_socket_dir(dir: &Path) -> anyhow::Result<()> {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let problem = if dir.to_str().is_none() {
        Some("its path is not UTF-8".to_owned())
    } else if dir.as_os_str().len() + "/.tmpXXXXXX/socket".len() >= 108 {
        Some(format!(
            "its path is {} bytes, too long for a Unix socket path in it (at most 89)",
            dir.as_os_str().len()
        ))
    } else {
        let probe = dir.join(format!(
            ".ipc-probe-{}-{}",
            std::process::id(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&probe) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&probe);
                None
            }
            Err(e) => Some(e.to_string()),
        }
    };
    match problem {
        None => Ok(()),
        Some(why) => bail!(
            "the temporary folder {} (TMPDIR) cannot hold ipc-channel's sockets: {why}",
            dir.display()
        ),
    }
}

thread_local! {
    /// Set while [`without_ipc_panic`] runs on this thread.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`; a panic raised inside ipc-channel's own code becomes an error and is not
/// printed. Any other panic is printed as usual (and still returned as an error).
pub fn without_ipc_panic<R>(f: impl FnOnce() -> R) -> anyhow::Result<R> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_ipc_channel = info
                .location()
                .is_some_and(|l| l.file().contains("ipc-channel"));
            if !(in_ipc_channel && CATCHING.with(Cell::get)) {
                previous(info);
            }
        }));
    });
    CATCHING.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    outcome.map_err(|payload| {
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        anyhow!("ipc-channel failed: {text}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_temp_dir_is_one_clear_error_not_a_panic() {
        // Other folders than TMPDIR: tests run in parallel and share the environment.
        assert!(check_temp_dir().is_ok());
        let missing = check_socket_dir(Path::new("/nonexistent/tmp")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/tmp (TMPDIR)"),
            "{missing}"
        );
        let a_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert!(check_socket_dir(&a_file).is_err());
        let long = std::env::temp_dir().join("x".repeat(100));
        let err = check_socket_dir(&long).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        let err = without_ipc_panic(|| -> u32 { panic!("not from ipc-channel") }).unwrap_err();
        assert!(err.to_string().contains("not from ipc-channel"), "{err}");
        assert_eq!(without_ipc_panic(|| 7).unwrap(), 7);
    }
}
