//! Python's `multiprocessing`, in Rust. `cargo run -p multiprocessing-demo -- --list` shows
//! the sections; each lives in its own file, named after the Python idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod child;
mod crash_isolation;
mod manager_dict;
mod pipe;
mod pool_map;
mod process_basics;
mod queue;
mod rayon;
mod serialization_cost;
mod shared_memory;
mod startup_cost;

const SECTIONS: &[Section] = &[
    Section::new(
        "process-basics",
        "Process(target=f, args).start() / join() / exitcode",
        "re-run this binary as a child with a role; read its exit code",
        process_basics::run,
    ),
    Section::new(
        "queue",
        "multiprocessing.Queue: q.put() in children, q.get() in the parent",
        "a typed IPC channel whose sender is cloned into three children",
        queue::run,
    ),
    Section::new(
        "pipe",
        "parent_conn, child_conn = multiprocessing.Pipe()",
        "two typed channels, one each way: the child mails its sender to the parent",
        pipe::run,
    ),
    Section::new(
        "shared-memory",
        "Value / Array / shared_memory.SharedMemory",
        "64 MiB shared with a child without copying, against the same bytes as a message",
        shared_memory::run,
    ),
    Section::new(
        "pool-map",
        "Pool(n).map(compute, inputs, chunksize)",
        "worker processes fed chunks, results in input order; against sequential and rayon",
        pool_map::run,
    ),
    Section::new(
        "manager-dict",
        "Manager().dict(), d[key] = value in children",
        "a manager process owns the map; children send it requests, one at a time",
        manager_dict::run,
    ),
    Section::new(
        "startup-cost",
        "Process creation overhead (~0.1 s per process)",
        "spawn + join of a process, a thread and a tokio task, measured",
        startup_cost::run,
    ),
    Section::new(
        "serialization-cost",
        "pickle: q.put(big_structure) vs shared memory",
        "bytes and time to send 50,000 records as JSON, serde, flat bytes, shared memory",
        serialization_cost::run,
    ),
    Section::new(
        "crash-isolation",
        "p.exitcode < 0 after a crash; BrokenProcessPool",
        "children that panic and abort; the pool replaces dead workers and finishes",
        crash_isolation::run,
    ),
    Section::new(
        "rayon",
        "Pool(cpu_count()).map(compute, inputs) for CPU work",
        "no GIL: par_iter and join on all cores in one process, speedup and efficiency",
        rayon::run,
    ),
];

/// The parts this binary plays when it is started as a child process. The runner checks
/// for `--role NAME` before anything else: this is `if __name__ == "__main__":` in Rust.
const ROLES: &[Role] = &[
    Role::new("square", process_basics::square),
    Role::new("queue-worker", queue::worker),
    Role::new("pipe-child", pipe::child_end),
    Role::new("shm-reader", shared_memory::reader),
    Role::new("counter-client", shared_memory::counter_client),
    Role::new("pool-worker", pool_map::worker),
    Role::new("manager", manager_dict::manager),
    Role::new("dict-worker", manager_dict::worker),
    Role::new("noop", startup_cost::noop),
    Role::new("decoder", serialization_cost::decoder),
    Role::new("crasher", crash_isolation::crasher),
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
