//! Python's `multiprocessing`, in Rust. `cargo run -p multiprocessing-demo -- --list` shows
//! the sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod child;
mod crash_isolation;
mod faults;
mod manager_dict;
mod par_iter;
mod pipe;
mod pool_map;
mod process_basics;
mod queue;
mod serialization_cost;
mod shared_memory;
mod startup_cost;

const SECTIONS: &[Section] = &[
    process_basics::SECTION,
    queue::SECTION,
    pipe::SECTION,
    shared_memory::SECTION,
    pool_map::SECTION,
    manager_dict::SECTION,
    startup_cost::SECTION,
    serialization_cost::SECTION,
    crash_isolation::SECTION,
    par_iter::SECTION,
];

/// The parts this binary plays when it is started as a child process. The runner checks
/// for `--role NAME` before anything else: this is `if __name__ == "__main__":` in Rust.
const ROLES: &[Role] = &[
    Role::new("square", process_basics::square),
    Role::new("queue-worker", queue::worker_role),
    Role::new("pipe-child", pipe::child_role),
    Role::new("shm-reader", shared_memory::reader_role),
    Role::new("counter-client", shared_memory::counter_client_role),
    Role::new("pool-worker", pool_map::worker_role),
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

fn main() -> ExitCode {
    Demo {
        name: "multiprocessing-demo",
        about: "Python's multiprocessing, in Rust: processes, IPC, shared memory, pools, crash isolation",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
