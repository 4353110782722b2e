"""Python twin of `threading-demo no-gil`: the sum of squares below n, on one thread and
then split over T threading.Thread workers (one chunk each), the best of R rounds.

    python3 no_gil.py [--n 30000000] [--threads 2] [--rounds 2]

With the GIL only one thread runs bytecode at a time, so T threads take about as long as
one: a speedup near 1.0x. The ways around it: processes (multiprocessing), a C or Rust
extension that releases it, or a free-threaded build (python3.13t: no GIL, said in
"model"). PyPy runs this loop faster, but it has a GIL too.

Prints one JSON line:
    one_thread_s    best time of the whole sum on the main thread
    threads_s       best time of the sum split over the threads
    speedup         one_thread_s / threads_s (the best times)
    threads         how many threads ran
    *_spread        largest / smallest over the rounds
    model, models   what ran (per figure where it differs)
    job             the flags it was given
"""
import argparse
import json
import platform
import sys
import threading
import time


def sum_squares(lo, hi):
    return sum(i * i for i in range(lo, hi))


def chunks(n, parts):
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def on_threads(n, count):
    partials = [0] * count

    def work(k, lo, hi):
        partials[k] = sum_squares(lo, hi)

    threads = [
        threading.Thread(target=work, args=(k, lo, hi))
        for k, (lo, hi) in enumerate(chunks(n, count))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(partials)


def timings(rounds, job, expected):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        total = job()
        times.append(time.perf_counter() - start)
        assert total == expected, f"sum {total}, expected {expected}"
    return times


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n, count, rounds = args.n, max(args.threads, 1), max(args.rounds, 1)
    expected = (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0
    one = timings(rounds, lambda: sum_squares(0, n), expected)
    split = timings(rounds, lambda: on_threads(n, count), expected)
    speedups = [o / s for o, s in zip(one, split)]
    check = getattr(sys, "_is_gil_enabled", None)  # 3.13+: False on a free-threaded build
    lock = "under the GIL" if (check() if check else True) else "free-threaded, GIL disabled"
    interpreter = f"{platform.python_implementation()} {platform.python_version()}"
    spread = lambda xs: max(xs) / min(xs)
    print(json.dumps({
        "one_thread_s": min(one),
        "threads_s": min(split),
        "speedup": min(one) / min(split),
        "threads": count,
        "one_thread_s_spread": spread(one),
        "threads_s_spread": spread(split),
        "speedup_spread": spread(speedups),
        "model": f"threading.Thread x{count} on {interpreter}, a pure-Python loop ({lock})",
        "models": {"one_thread_s": f"the same loop on the main thread, {interpreter}"},
        "job": {"n": args.n, "threads": args.threads, "rounds": args.rounds},
    }))
