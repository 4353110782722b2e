"""Python twin of `futures-demo map`: the sum of squares below n in C chunks, mapped over a
ThreadPoolExecutor(max_workers=W) against one thread (the best of R rounds), then
executor.map's first failure and submit's one outcome per item on ["3", "1", "x", "4", "y"].

    python3 map.py [--n 20000000] [--chunks 16] [--workers 2] [--rounds 2]

Prints one JSON line:
    sequential_s    best time of the chunks mapped on this thread
    pool_s          best time of executor.map over the W workers
    speedup         sequential_s / pool_s (about 1.0x: the GIL)
    failures        how many of the five inputs failed under submit (2)
    first_failure   the input position executor.map raised for (2: "x")
    FIELD_spread    slowest / fastest of the rounds, for the three timings
    model, models   the Python that ran; job: the sizes it was given
"""
import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

INPUTS = ["3", "1", "x", "4", "y"]


def sum_chunk(bounds):
    lo, hi = bounds
    return sum(i * i for i in range(lo, hi))


def split(n, parts):
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        end = start + base + (1 if k < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def best(rounds, job, check):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = job()
        times.append(time.perf_counter() - start)
        check(result)
    return min(times), max(times) / min(times)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000_000)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n = args.n
    chunks = split(n, max(args.chunks, 1))
    expected = (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0
    sequential = list(map(sum_chunk, chunks))

    def check(totals):
        assert totals == sequential, "wrong totals or order"
        assert sum(totals) == expected, "wrong sum"

    with ThreadPoolExecutor(max_workers=args.workers) as executor:
        seq_s, seq_spread = best(args.rounds, lambda: list(map(sum_chunk, chunks)), check)
        pool_s, pool_spread = best(args.rounds, lambda: list(executor.map(sum_chunk, chunks)), check)

        # map raises the first failure, in input order, when its result is read.
        first_failure = -1
        results = executor.map(int, INPUTS)
        for position in range(len(INPUTS)):
            try:
                next(results)
            except ValueError:
                first_failure = position
                break
        # submit: one future per item, each failure handled alone.
        futures = [executor.submit(int, s) for s in INPUTS]
        failures = 0
        for f in futures:
            try:
                f.result()
            except ValueError:
                failures += 1
    assert first_failure == 2 and failures == 2, (first_failure, failures)

    print(json.dumps({
        "model": f"ThreadPoolExecutor(max_workers={args.workers}).map, pure-Python sum (one GIL)",
        "models": {"sequential_s": "the built-in map on one thread, pure-Python sum"},
        "job": {"n": n, "chunks": args.chunks, "workers": args.workers, "rounds": args.rounds},
        "sequential_s": seq_s,
        "sequential_s_spread": seq_spread,
        "pool_s": pool_s,
        "pool_s_spread": pool_spread,
        "speedup": seq_s / pool_s,
        "speedup_spread": seq_spread * pool_spread,
        "failures": failures,
        "first_failure": first_failure,
    }))
