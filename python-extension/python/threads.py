"""Python threads on the guides' CPU job, three ways: pure Python, and the Rust module
rust_cpu (this crate, src/release_gil.rs) holding the GIL and releasing it.

Each job runs the same number of calls on one thread, then split over --threads threads
(the same total work), --rounds times; the JSON line on stdout carries every time and
every total, so the caller keeps the best times and checks the answers, the model it ran
and the job it was given (one key per flag).

    cargo build -p python-extension
    cp target/debug/libpython_extension.so /tmp/rust_cpu.abi3.so
    python3 python-extension/python/threads.py --threads 2 --module-dir /tmp

Standard library only (and rust_cpu).
"""

import argparse
import json
import platform
import sys
import threading
import time


def compute(n):
    """The guides' CPU job in pure Python: bytecode, so it needs the GIL throughout."""
    return sum(i * i for i in range(n))


def run_threads(job, n, threads, calls_each):
    """`threads` threads, each calling job(n) `calls_each` times, started together.
    Returns the seconds until the last one finished, and the sum of every result."""
    results = [0] * threads
    go = threading.Barrier(threads + 1)

    def worker(slot):
        go.wait()
        total = 0
        for _ in range(calls_each):
            total += job(n)
        results[slot] = total

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    start = time.perf_counter()
    go.wait()
    for t in pool:
        t.join()
    return time.perf_counter() - start, sum(results)


def calls_for(job, n, seconds, threads):
    """How many calls of job(n) take about `seconds` on one thread (from the median of
    three timed calls): a multiple of `threads`, so the threads get equal shares."""
    job(n)  # warm up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        job(n)
        times.append(time.perf_counter() - start)
    one = sorted(times)[1]
    calls = max(1, round(seconds / max(one, 1e-9)))
    return -(-calls // threads) * threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--module-dir", default=".", help="the folder holding rust_cpu")
    args = parser.parse_args()
    if args.threads < 1 or args.n < 0 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--threads and --rounds at least 1, --n at least 0, --seconds above 0")
    sys.path.insert(0, args.module_dir)
    import rust_cpu

    jobs = []
    for name, job in [
        ("python", compute),
        ("rust_holding_gil", rust_cpu.compute_holding_gil),
        ("rust_releasing_gil", rust_cpu.compute_releasing_gil),
    ]:
        calls = calls_for(job, args.n, args.seconds, args.threads)
        one_thread, threads, totals = [], [], []
        for _ in range(args.rounds):
            took, total = run_threads(job, args.n, 1, calls)
            one_thread.append(took)
            totals.append(total)
            took, total = run_threads(job, args.n, args.threads, calls // args.threads)
            threads.append(took)
            totals.append(total)
        jobs.append(
            {
                "name": name,
                "calls": calls,
                "one_thread_s": one_thread,
                "threads_s": threads,
                # Strings: the sums outgrow a 64-bit integer, which JSON readers assume.
                "totals": [str(t) for t in totals],
            }
        )

    is_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
    report = {
        "model": "threading.Thread x %d calling compute(n): pure Python, then rust_cpu "
        "holding the GIL, then rust_cpu releasing it" % args.threads,
        "job": {
            "threads": args.threads,
            "n": args.n,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "module_dir": args.module_dir,
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "gil_enabled": is_gil_enabled(),
            "switch_interval_ms": sys.getswitchinterval() * 1000,
        },
        "jobs": jobs,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
