//! Python's `multiprocessing`, in Rust. `cargo run -p multiprocessing-demo -- --list` shows
//! the sections; each lives in its own file, named after the Python idea it mirrors.

// Every lesson that starts a child includes its own copy of `handshake.rs`, as it does when
// copied into a project of its own (`#[path = "handshake.rs"] mod handshake;`).
#![allow(clippy::duplicate_mod)]

use std::io::Write;
use std::process::ExitCode;

use common::cli::{Demo, Output, Role, Section};

mod child;
mod crash_isolation;
mod factorial;
mod faults;
mod file_lock;
mod manager_dict;
mod own_memory;
mod par_iter;
mod pipe;
mod pool_map;
mod process_basics;
mod queue;
mod serialization_cost;
mod shared_memory;
mod spawn_self;
mod startup_cost;
mod work_stealing;

const SECTIONS: &[Section] = &[
    process_basics::SECTION,
    spawn_self::SECTION,
    own_memory::SECTION,
    queue::SECTION,
    pipe::SECTION,
    shared_memory::SECTION,
    file_lock::SECTION,
    pool_map::SECTION,
    factorial::SECTION,
    manager_dict::SECTION,
    startup_cost::SECTION,
    serialization_cost::SECTION,
    crash_isolation::SECTION,
    par_iter::SECTION,
    work_stealing::SECTION,
];

/// The parts this binary plays when it is started as a child process. The runner checks
/// for `--role NAME` before anything else: this is `if __name__ == "__main__":` in Rust.
/// Each lesson's `main` dispatches its own roles the same way (`SECTION --lesson`).
const ROLES: &[Role] = &[
    Role::new("square", process_basics::square),
    Role::new("sleeper", process_basics::sleeper),
    Role::new("timed-sleeper", process_basics::timed_sleeper),
    Role::new("greeter", spawn_self::greeter_role),
    Role::new("bump", own_memory::bump_role),
    Role::new("file-adder", file_lock::adder),
    Role::new("queue-worker", queue::worker_role),
    Role::new("pipe-child", pipe::child_role),
    Role::new("shm-reader", shared_memory::reader_role),
    Role::new("counter-client", shared_memory::counter_client_role),
    Role::new("pool-worker", pool_map::worker_role),
    Role::new("factorial-worker", factorial::worker_role),
    Role::new("manager", manager_dict::manager_role),
    Role::new("dict-worker", manager_dict::worker_role),
    Role::new("noop", startup_cost::noop),
    Role::new("decoder", serialization_cost::decoder_role),
    Role::new("crasher", crash_isolation::crasher_role),
    Role::new(
        "faulty-pool-worker",
        crash_isolation::faulty_pool_worker_role,
    ),
];

/// The sections whose children connect back through an `IpcOneShotServer`, which needs a
/// usable temporary folder (see `child::one_shot_server`).
const NEED_TEMP_DIR: &[&str] = &[
    spawn_self::SECTION.name,
    queue::SECTION.name,
    pipe::SECTION.name,
    shared_memory::SECTION.name,
    pool_map::SECTION.name,
    factorial::SECTION.name,
    manager_dict::SECTION.name,
    serialization_cost::SECTION.name,
    crash_isolation::SECTION.name,
];

fn main() -> ExitCode {
    Demo {
        name: "multiprocessing-demo",
        about: "Python's multiprocessing, in Rust: processes, IPC, shared memory, pools, crash isolation",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main_with(|chosen| {
        // A missing or read-only TMPDIR: one line before any section starts, not one
        // failure per section.
        let needing: Vec<&str> = chosen
            .sections()
            .map(|s| s.name)
            .filter(|name| NEED_TEMP_DIR.contains(name))
            .collect();
        if !needing.is_empty()
            && let Err(e) = child::check_temp_dir()
        {
            let verb = if needing.len() == 1 { "needs" } else { "need" };
            let _ = writeln!(
                std::io::stderr(),
                "multiprocessing-demo: {e:#}; {} {verb} it: set TMPDIR to a short, writable folder",
                needing.join(", ")
            );
            return ExitCode::FAILURE;
        }
        chosen.run(Output::Banners)
    })
}
