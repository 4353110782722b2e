"""Python twin of `multiprocessing-demo pool-map`: the guides' `compute(n)` over many
inputs, sequentially, with `Pool(workers).map`, and with a thread pool (rayon's place).

    python3 pool_map.py [--item 20000] [--inputs 512] [--workers N] [--chunksize C] [--rounds 3]

Each way runs `--rounds` times, the ways taken in turn; each keeps its best round. The
pool is started inside the timed part (`with Pool(workers) as pool:`), as in the Rust
section. Every result is checked against the closed form n(n-1)(2n-1)/6.

Prints one JSON line (with "model", "models", the "job" it ran and each time's
"FIELD_spread", its slowest round over its fastest):
    sequential_s     [compute(n) for n in inputs]
    pool_s           Pool(workers).map(compute, inputs, chunksize), pool start included
    threads_s        ThreadPoolExecutor(workers).map(compute, inputs), same chunks
    pool_speedup     sequential_s / pool_s
    threads_speedup  sequential_s / threads_s (the GIL keeps it near 1)
    workers          the worker count used
"""
import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool


def compute(n):
    return sum(i * i for i in range(n))


def compute_chunk(chunk):
    return [compute(n) for n in chunk]


def timed(f):
    start = time.perf_counter()
    result = f()
    return result, time.perf_counter() - start


def with_pool(inputs, workers, chunksize):
    with Pool(workers) as pool:
        return pool.map(compute, inputs, chunksize)


def with_threads(inputs, workers, chunksize):
    chunks = [inputs[i:i + chunksize] for i in range(0, len(inputs), chunksize)]
    with ThreadPoolExecutor(workers) as pool:
        return [r for part in pool.map(compute_chunk, chunks) for r in part]


def main(item, count, workers, chunksize, rounds):
    inputs = [item] * count
    want = [(n - 1) * n * (2 * n - 1) // 6 for n in inputs]
    times = {"sequential": [], "pool": [], "threads": []}
    for _ in range(rounds):
        for name, run in [
            ("sequential", lambda: [compute(n) for n in inputs]),
            ("pool", lambda: with_pool(inputs, workers, chunksize)),
            ("threads", lambda: with_threads(inputs, workers, chunksize)),
        ]:
            results, took = timed(run)
            assert results == want, f"{name}: wrong results"
            times[name].append(took)
    return {name: (min(ts), max(ts) / min(ts)) for name, ts in times.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--item", type=int, default=20_000)
    parser.add_argument("--inputs", type=int, default=512)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--chunksize", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    chunksize = args.chunksize or max(1, -(-args.inputs // (4 * args.workers)))
    best = main(args.item, args.inputs, args.workers, chunksize, args.rounds)
    (seq, seq_spread), (pool, pool_spread), (threads, threads_spread) = (
        best["sequential"], best["pool"], best["threads"])
    print(json.dumps({
        "model": f"multiprocessing.Pool({args.workers}).map, chunksize {chunksize}",
        "models": {
            "sequential_s": "a list comprehension on one thread",
            "threads_s": f"ThreadPoolExecutor({args.workers}).map over the same chunks (one GIL)",
            "threads_speedup": f"ThreadPoolExecutor({args.workers}).map (one GIL)",
        },
        "job": {"item": args.item, "inputs": args.inputs, "workers": args.workers,
                "chunksize": chunksize, "rounds": args.rounds},
        "sequential_s": seq,
        "sequential_s_spread": seq_spread,
        "pool_s": pool,
        "pool_s_spread": pool_spread,
        "threads_s": threads,
        "threads_s_spread": threads_spread,
        "pool_speedup": seq / pool,
        "pool_speedup_spread": seq_spread * pool_spread,
        "threads_speedup": seq / threads,
        "threads_speedup_spread": seq_spread * threads_spread,
        "workers": args.workers,
    }))
