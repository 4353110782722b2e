"""Python twin of `futures-demo process-pool`: compute_factorial (n! modulo a prime, as a
loop) on a ThreadPoolExecutor and on a ProcessPoolExecutor, for a few large chunks (the
speedup over one thread) and for many tiny jobs (the cost per job of each pool).

    python3 process_pool.py [--workers 2] [--n 1000000] [--tiny-jobs 4000] [--tiny-n 10]

Prints one JSON line:
    one_thread_s           one large job on the main thread (best of 2)
    threads_speedup        (jobs x one_thread_s) / the thread pool's time for the jobs
    processes_speedup      the same for the process pool
    tiny_threads_job_s     the thread pool's time per tiny job
    tiny_processes_job_s   the process pool's time per tiny job
    FIELD_spread           slowest / fastest of the two rounds behind each figure
    model, models, job     the Python that ran, and the sizes it was given
"""
import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

P = 1_000_000_007


def compute_factorial(n):
    acc = 1
    for k in range(1, n + 1):
        acc = acc * k % P
    return acc


def best_of(runs, fn):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), max(times) / min(times), result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--tiny-jobs", type=int, default=4000)
    parser.add_argument("--tiny-n", type=int, default=10)
    args = parser.parse_args()

    big = [args.n] * (2 * args.workers)
    tiny = [args.tiny_n] * args.tiny_jobs
    one, one_spread, expected = best_of(2, lambda: compute_factorial(args.n))
    with ThreadPoolExecutor(args.workers) as threads, ProcessPoolExecutor(args.workers) as processes:
        assert list(processes.map(compute_factorial, [5, 6, 7, 8])) == [120, 720, 5040, 40320]
        t_threads, threads_spread, got = best_of(2, lambda: list(threads.map(compute_factorial, big)))
        assert got == [expected] * len(big)
        t_processes, processes_spread, got = best_of(2, lambda: list(processes.map(compute_factorial, big)))
        assert got == [expected] * len(big)
        small = compute_factorial(args.tiny_n)
        tiny_threads, tiny_threads_spread, got = best_of(2, lambda: list(threads.map(compute_factorial, tiny)))
        assert got == [small] * len(tiny)
        tiny_processes, tiny_processes_spread, got = best_of(2, lambda: list(processes.map(compute_factorial, tiny)))
        assert got == [small] * len(tiny)

    total = one * len(big)
    w = args.workers
    print(json.dumps({
        "model": f"concurrent.futures, {w} workers; compute_factorial in pure Python",
        "models": {
            "one_thread_s": "a plain call on the main thread",
            "threads_speedup": f"ThreadPoolExecutor({w}).map (one GIL)",
            "processes_speedup": f"ProcessPoolExecutor({w}).map (arguments pickled)",
            "tiny_threads_job_s": f"ThreadPoolExecutor({w}).map",
            "tiny_processes_job_s": f"ProcessPoolExecutor({w}).map (arguments pickled)",
        },
        "job": {"workers": w, "n": args.n, "tiny_jobs": args.tiny_jobs, "tiny_n": args.tiny_n},
        "one_thread_s": one,
        "one_thread_s_spread": one_spread,
        "threads_speedup": total / t_threads,
        "threads_speedup_spread": one_spread * threads_spread,
        "processes_speedup": total / t_processes,
        "processes_speedup_spread": one_spread * processes_spread,
        "tiny_threads_job_s": tiny_threads / len(tiny),
        "tiny_threads_job_s_spread": tiny_threads_spread,
        "tiny_processes_job_s": tiny_processes / len(tiny),
        "tiny_processes_job_s_spread": tiny_processes_spread,
    }))
