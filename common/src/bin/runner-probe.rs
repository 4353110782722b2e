//! A tiny demo binary that the runner's own tests drive (`common/tests/runner.rs`): not a
//! lesson. `runner-probe SECTION...` runs sections that print, fail, or hold a temporary
//! file until they are interrupted.

use std::process::ExitCode;
use std::time::Duration;

use common::cli::{Demo, Role, Section, SectionResult};

/// Print a few hundred lines (to fill a pipe or a full disk).
fn print() -> SectionResult {
    for i in 0..500 {
        println!("line {i}");
    }
    Ok(())
}

/// Fail, which makes the runner write to stderr.
fn fail() -> SectionResult {
    anyhow::bail!("failing on purpose")
}

/// Create a temporary folder with a file in it, then wait to be interrupted (at most 60 s).
fn hold_tmp() -> SectionResult {
    let dir = std::env::temp_dir().join(format!("probe-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    std::fs::write(dir.join("held.txt"), "held until the run ends")?;
    std::thread::sleep(Duration::from_secs(60));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Start a child process (`sleep 60`), write its pid to `child.pid` in the temporary
/// folder, then wait to be interrupted (at most 60 s).
fn hold_child() -> SectionResult {
    let mut child = std::process::Command::new("sleep").arg("60").spawn()?;
    let pid_file = std::env::temp_dir().join("child.pid");
    std::fs::write(&pid_file, child.id().to_string())?;
    std::thread::sleep(Duration::from_secs(60));
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// Start this binary as a child (`--role echo`) and check what it says.
fn child() -> SectionResult {
    let out = common::child::role_command("runner-probe", "echo")?
        .arg("hello")
        .output()?;
    anyhow::ensure!(out.status.success(), "the child failed: {}", out.status);
    anyhow::ensure!(out.stdout == b"hello\n", "the child said {:?}", out.stdout);
    Ok(())
}

/// A child role that writes one line.
fn echo(args: &[String]) -> anyhow::Result<()> {
    println!("{}", args.join(" "));
    Ok(())
}

/// A child role that writes until its reader is gone (at most a few MiB, far more than a
/// pipe holds), so a write error is certain whatever the timing.
fn flood(_: &[String]) -> anyhow::Result<()> {
    for i in 0..1_000_000 {
        println!("line {i} of a child whose parent stops reading");
    }
    Ok(())
}

const SECTIONS: &[Section] = &[
    Section::new("print", "print()", "prints 500 lines", print),
    Section::new("fail", "raise", "fails", fail),
    Section::new("child", "multiprocessing.Process", "starts a child", child),
    Section::new(
        "hold-child",
        "subprocess.Popen",
        "holds a child process until stopped",
        hold_child,
    ),
    Section::new(
        "hold-tmp",
        "tempfile",
        "holds a temporary file until stopped",
        hold_tmp,
    ),
];

const ROLES: &[Role] = &[Role::new("echo", echo), Role::new("flood", flood)];

fn main() -> ExitCode {
    Demo {
        name: "runner-probe",
        about: "A tiny demo for the runner's tests",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
