"""Python twin of `threading-demo thread-pool`: F simulated downloads of L seconds each, one
after another, then with ThreadPoolExecutor(max_workers=W).map.

    python3 thread_pool.py [--files 5] [--workers 3] [--latency 0.5]

Prints one JSON line:
    one_by_one_s    the downloads one after another
    pool_s          executor.map over the W workers
    speedup         one_by_one_s / pool_s
    most_at_once    the most downloads waiting at the same moment (at most W)
    model, job      what ran, and the flags it was given
"""
import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_now = 0
_most = 0


def download_file(file_id, latency):
    global _now, _most
    with _lock:
        _now += 1
        _most = max(_most, _now)
    try:
        time.sleep(latency)  # the network: the GIL is released while it waits
        return f"file_{file_id}.dat"
    finally:
        with _lock:
            _now -= 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    ids = range(args.files)
    expected = [f"file_{i}.dat" for i in ids]

    start = time.perf_counter()
    sequential = [download_file(i, args.latency) for i in ids]
    one_by_one = time.perf_counter() - start
    assert sequential == expected, sequential

    _most = 0
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as executor:
        pooled = list(executor.map(lambda i: download_file(i, args.latency), ids))
    pooled_s = time.perf_counter() - start
    assert pooled == expected, f"the pool returned {pooled}"
    assert _most <= args.workers, f"{_most} at once on {args.workers} workers"

    print(json.dumps({
        "one_by_one_s": one_by_one,
        "pool_s": pooled_s,
        "speedup": one_by_one / pooled_s,
        "most_at_once": _most,
        "model": f"ThreadPoolExecutor(max_workers={args.workers}).map, time.sleep as the network",
        "models": {
            "one_by_one_s": "a plain loop on the main thread, time.sleep as the network",
        },
        "job": {"files": args.files, "workers": args.workers, "latency": args.latency},
    }))
