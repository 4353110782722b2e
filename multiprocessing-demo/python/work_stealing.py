"""Python twin of `multiprocessing-demo work-stealing`: uneven tasks (a few cost FACTOR
times the rest) with `Pool(workers).map`, in fixed chunks (`chunksize=len // workers`,
one chunk per worker) and with `chunksize=1` (each task to whichever worker is free).

    python3 work_stealing.py [--tasks 64] [--heavy 4] [--factor 50] [--unit 40000]
                             [--workers N] [--rounds 3]

The first HEAVY tasks cost FACTOR * UNIT, the rest UNIT; a task of cost c computes
sum(i * i for i in range(c)). Each way runs --rounds times, the ways in turn, and keeps its
best round; the pool is started inside the timed part (`with Pool(workers) as pool:`), as
the Rust side starts its threads. Every result is checked against n(n-1)(2n-1)/6.

Prints one JSON line (with "model", "models", the "job" it ran and each time's
"FIELD_spread", its slowest round over its fastest):
    sequential_s       [work(c) for c in costs]
    fixed_s            Pool(workers).map(work, costs, chunksize=ceil(len / workers))
    stealing_s         Pool(workers).map(work, costs, chunksize=1)
    fixed_speedup      sequential_s / fixed_s
    stealing_speedup   sequential_s / stealing_s
"""
import argparse
import json
import os
import time
from multiprocessing import Pool


def work(cost):
    return sum(i * i for i in range(cost))


def with_pool(costs, workers, chunksize):
    with Pool(workers) as pool:
        return pool.map(work, costs, chunksize)


def main(costs, workers, rounds):
    want = [(n - 1) * n * (2 * n - 1) // 6 if n else 0 for n in costs]
    fixed = -(-len(costs) // workers)
    ways = {
        "sequential": lambda: [work(c) for c in costs],
        "fixed": lambda: with_pool(costs, workers, fixed),
        "stealing": lambda: with_pool(costs, workers, 1),
    }
    times = {name: [] for name in ways}
    for _ in range(rounds):
        for name, run in ways.items():
            start = time.perf_counter()
            results = run()
            times[name].append(time.perf_counter() - start)
            assert results == want, f"{name}: wrong results"
    return fixed, {name: (min(ts), max(ts) / min(ts)) for name, ts in times.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--heavy", type=int, default=4)
    parser.add_argument("--factor", type=int, default=50)
    parser.add_argument("--unit", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if min(args.tasks, args.workers, args.rounds) < 1:
        parser.error("--tasks, --workers and --rounds: at least 1")
    costs = [args.unit * args.factor if i < args.heavy else args.unit for i in range(args.tasks)]
    fixed, best = main(costs, args.workers, args.rounds)
    (seq, seq_spread), (fix, fix_spread), (steal, steal_spread) = (
        best["sequential"], best["fixed"], best["stealing"])
    print(json.dumps({
        "model": f"multiprocessing.Pool({args.workers}).map",
        "models": {
            "sequential_s": "a list comprehension on one thread",
            "fixed_s": f"Pool({args.workers}).map, chunksize={fixed} (one chunk per worker)",
            "fixed_speedup": f"Pool({args.workers}).map, chunksize={fixed}",
            "stealing_s": f"Pool({args.workers}).map, chunksize=1 (each task to a free worker)",
            "stealing_speedup": f"Pool({args.workers}).map, chunksize=1",
        },
        "job": {"tasks": args.tasks, "heavy": args.heavy, "factor": args.factor,
                "unit": args.unit, "workers": args.workers, "rounds": args.rounds},
        "sequential_s": seq,
        "sequential_s_spread": seq_spread,
        "fixed_s": fix,
        "fixed_s_spread": fix_spread,
        "stealing_s": steal,
        "stealing_s_spread": steal_spread,
        "fixed_speedup": seq / fix,
        "fixed_speedup_spread": seq_spread * fix_spread,
        "stealing_speedup": seq / steal,
        "stealing_speedup_spread": seq_spread * steal_spread,
    }))
