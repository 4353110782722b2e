//! Crash isolation: placeholder, filled in below.

/// An input that makes a pool worker panic the first time it sees it.
pub const PANICS_FIRST_TIME: u64 = 666_001;
/// An input that makes a pool worker abort (like a segfault) the first time it sees it.
pub const ABORTS_FIRST_TIME: u64 = 666_002;

/// Called by the pool worker before each `compute(n)`: the faults this section injects.
pub fn maybe_crash(n: u64, attempt: u32) {
    if attempt > 0 {
        return; // a retry runs clean: the fault was in the process, not in the input
    }
    match n {
        PANICS_FIRST_TIME => panic!("worker {} panics on {n}", std::process::id()),
        ABORTS_FIRST_TIME => std::process::abort(),
        _ => {}
    }
}
