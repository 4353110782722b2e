"""Python twin of `threading-demo no-gil`: the sum of squares below n, on one thread and
then split over T threading.Thread workers (one chunk each), the best of R rounds.

    python3 no_gil.py [--n 30000000] [--threads 2] [--rounds 2]

With the GIL only one thread runs bytecode at a time, so T threads take about as long as
one: a speedup near 1.0x. (A free-threaded build, python3.13t, has no GIL.)

Prints one JSON line:
    one_thread_s    best time of the whole sum on the main thread
    threads_s       best time of the sum split over the threads
    speedup         one_thread_s / threads_s
    threads         how many threads ran
"""
import argparse
import json
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


def best(rounds, job, expected):
    fastest = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        total = job()
        fastest = min(fastest, time.perf_counter() - start)
        assert total == expected, f"sum {total}, expected {expected}"
    return fastest


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n, count = args.n, max(args.threads, 1)
    expected = (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0
    one = best(args.rounds, lambda: sum_squares(0, n), expected)
    split = best(args.rounds, lambda: on_threads(n, count), expected)
    print(json.dumps({
        "one_thread_s": one,
        "threads_s": split,
        "speedup": one / split,
        "threads": count,
    }))
