//! A C extension that releases the GIL (`Py_BEGIN_ALLOW_THREADS`) -> a Rust function in a
//! Python module (PyO3) that runs its loop inside `py.detach(|| ...)`.
//!
//! Python:
//!     import threading
//!     import rust_cpu                          # this file, built as a Python module
//!
//!     def compute(n):                          # the guides' CPU job, pure Python
//!         return sum(i * i for i in range(n))
//!
//!     def worker(job, calls):
//!         for _ in range(calls):
//!             job(1_000_000)
//!
//!     for job in (compute, rust_cpu.compute_holding_gil, rust_cpu.compute_releasing_gil):
//!         threads = [threading.Thread(target=worker, args=(job, 4)) for _ in range(2)]
//!         for t in threads: t.start()
//!         for t in threads: t.join()           # about 1.0x, 1.0x, 2x against one thread
//!
//! When you keep Python and want its threads to use every core, move the hot loop into an
//! extension module that lets go of the GIL while it runs. The GIL guards the interpreter's
//! objects, not machine code: a function may release it while it works only on data it
//! owns (here two integers) and take it back to build its result. C spells that
//! `Py_BEGIN_ALLOW_THREADS ... Py_END_ALLOW_THREADS`; PyO3 spells it `py.detach(|| work)`
//! (`allow_threads` before PyO3 0.26). Rust adds a check C has not: the closure may not
//! capture the `Python<'py>` token or anything bound to it (`Bound<'py, T>`), so code that
//! touches Python objects without the GIL does not compile.
//!
//! Python's integers never overflow; Rust's do, and a release build wraps them silently
//! (`compute(10**7)` in a `u64` would return 1291890006563070912, not
//! 333333283333335000000). So the sum is kept in a `u128`, which PyO3 converts to a Python
//! int, with checked addition: the answer is Python's to the digit, and a sum past 2**128
//! (n above about 10**13, hours of work) raises `OverflowError` instead of a wrong number.
//!
//! The same function without `detach` holds the GIL for the whole call. Each call is as
//! fast (machine code instead of bytecode: 85-90 times faster than pure Python on the
//! development machine), but a second thread cannot even enter until the first returns,
//! so threads still give about 1.0x.
//! Pure Python is worse off in a different way: the GIL changes hands every 5 ms
//! (`sys.getswitchinterval()`), so the threads interleave, but only one runs at a time.
//!
//! This is the whole trick behind Python's fast libraries:
//! - numpy releases the GIL inside its loops over arrays (ufuncs such as `a * a`, sorting,
//!   the BLAS behind `a @ b`): Python threads that each work on their own arrays run on
//!   every core;
//! - polars runs a query with the GIL released (and on its own Rust thread pool), so a
//!   `collect()` in one Python thread does not stop the others;
//! - pydantic-core validates in Rust but reads and builds Python objects all along, so it
//!   keeps the GIL: it is the middle case, much faster a call, no faster from threads on a
//!   regular Python (on a free-threaded 3.13t build, which it supports, it is).
//!
//! A free-threaded Python (3.13t and newer) has no GIL to release; it cannot load this
//! module, which is built for the stable ABI (`abi3`: one build for every CPython from
//! 3.9, no Python headers needed to compile it).
//!
//! Watch: the three speedups (pure Python and Rust holding the GIL about 1.0x, Rust
//! releasing it about the number of threads) and the time a call (Rust dozens of times
//! faster than Python, whether it holds the GIL or not). The results are checked against
//! the closed form before any figure is printed.
//!
//! Run only this: cargo run -p python-extension -- release-gil

use std::ops::Range;

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;

/// The sum of the squares of `numbers`, exact, or `None` past `u128::MAX`. Each square of
/// a `u64` fits in a `u128`; the addition is checked. `black_box` keeps the optimiser
/// from replacing the loop by its closed form: the point is to burn CPU in proportion to
/// the count, as the Python loop does.
pub fn sum_of_squares(numbers: Range<u64>) -> Option<u128> {
    let mut acc = 0u128;
    for i in numbers {
        let i = u128::from(std::hint::black_box(i));
        acc = acc.checked_add(i * i)?;
    }
    Some(acc)
}

/// What Python sees instead of a wrapped number.
fn too_big(n: u64) -> PyErr {
    PyOverflowError::new_err(format!(
        "sum(i * i for i in range({n})) does not fit in 128 bits"
    ))
}

/// `rust_cpu.compute_holding_gil(n)`: the loop runs while this thread holds the GIL, so
/// no other Python thread runs until it returns. (A call from Python arrives holding the
/// GIL; a function that does not give it back keeps it to the end: the default.)
#[pyfunction]
fn compute_holding_gil(n: u64) -> PyResult<u128> {
    sum_of_squares(0..n).ok_or_else(|| too_big(n))
}

/// `rust_cpu.compute_releasing_gil(n)`: the GIL is released for the loop and taken back
/// to return the result. The closure gets only `n` (a `u64` is `Send`): it could not
/// capture `py` or a Python object even by mistake.
#[pyfunction]
fn compute_releasing_gil(py: Python<'_>, n: u64) -> PyResult<u128> {
    py.detach(|| sum_of_squares(0..n)).ok_or_else(|| too_big(n))
}

/// The module: `import rust_cpu` runs this once, via the `PyInit_rust_cpu` symbol the
/// macro exports from the shared library.
#[pymodule]
fn rust_cpu(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compute_holding_gil, m)?)?;
    m.add_function(wrap_pyfunction!(compute_releasing_gil, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    // Plain Rust tests only: a test that called into Python would need libpython linked
    // into the test binary, and the extension module is built not to link it. The module
    // itself is tested by running it in Python (`tests/cli.rs`).
    use super::*;

    #[test]
    fn the_loop_matches_the_closed_form() {
        for n in [0u64, 1, 2, 4, 1_000, 1_000_000, 10_000_000] {
            let n128 = u128::from(n);
            let exact = n128.saturating_sub(1) * n128 * (2 * n128).saturating_sub(1) / 6;
            assert_eq!(sum_of_squares(0..n), Some(exact), "n = {n}");
        }
        // Past 2**64, where a u64 would have wrapped: Python's answer, to the digit.
        assert_eq!(
            sum_of_squares(0..10_000_000),
            Some(333_333_283_333_335_000_000)
        );
    }

    #[test]
    fn a_sum_past_128_bits_is_none_not_a_wrapped_number() {
        // Squares of numbers near 2**64 are near 2**128: the second one overflows.
        assert_eq!(sum_of_squares(u64::MAX - 4..u64::MAX), None);
        assert!(sum_of_squares(u64::MAX - 1..u64::MAX).is_some());
    }

    #[test]
    fn the_loop_does_the_workspaces_job() {
        // `common`'s loop adds in a wrapping u64: the same answers where it does not wrap.
        for n in [0, 3, 12_345, 3_000_000] {
            assert_eq!(
                sum_of_squares(0..n),
                Some(u128::from(common::workload::sum_of_squares(n))),
                "n = {n}"
            );
        }
    }
}
