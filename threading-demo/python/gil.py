"""Python twin of `threading-demo gil`: the real GIL, on the same plan as the Rust section's
hand-made one. S slices of CPU work (each about D long, measured here) and W blocking waits
of L each, run on 1 thread and then split over T threading.Thread workers.

    python3 gil.py [--slices 32] [--slice 0.005] [--waits 8] [--wait 0.02] [--threads 2]

CPU slices hold the GIL (handed over every sys.getswitchinterval(), 5 ms): the T threads
take turns, about 1.0x. time.sleep releases it for the whole wait: the waits overlap, about
Tx. (A free-threaded build, python3.13t, computes on T cores at once.)

Prints one JSON line:
    cpu_one_s       the S slices on 1 thread
    cpu_threads_s   the S slices split over T threads
    cpu_speedup     cpu_one_s / cpu_threads_s
    io_one_s        the W waits on 1 thread
    io_threads_s    the W waits split over T threads
    io_speedup      io_one_s / io_threads_s
    squares         how many squares one slice sums (calibrated to about D here)
    switch_s        sys.getswitchinterval()
"""
import argparse
import json
import sys
import threading
import time


def squares(n):
    return sum(i * i for i in range(n))


def calibrate(seconds):
    """How many squares take about `seconds` in this interpreter."""
    n = 10_000
    while True:
        start = time.perf_counter()
        squares(n)
        took = time.perf_counter() - start
        if took >= 0.002:
            return max(int(n * seconds / took), 1)
        n *= 4


def on_threads(count, body):
    threads = [threading.Thread(target=body, name=f"t-{k}") for k in range(count)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def cpu_run(count, slices, n):
    per_thread = slices // count
    results = []  # list.append is atomic under the GIL
    def crunch():
        for _ in range(per_thread):
            results.append(squares(n))
    took = on_threads(count, crunch)
    expected = (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0
    assert len(results) == per_thread * count, "a slice went missing"
    assert all(r == expected for r in results), "a slice summed wrong"
    return took


def io_run(count, waits, seconds):
    per_thread = waits // count
    def fetch():
        for _ in range(per_thread):
            time.sleep(seconds)  # releases the GIL while it waits
    return on_threads(count, fetch)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--slice", type=float, default=0.005)
    parser.add_argument("--waits", type=int, default=8)
    parser.add_argument("--wait", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    count = max(args.threads, 1)
    n = calibrate(args.slice)
    cpu_one = cpu_run(1, args.slices, n)
    io_one = io_run(1, args.waits, args.wait)
    cpu_threads = cpu_run(count, args.slices, n)
    io_threads = io_run(count, args.waits, args.wait)
    print(json.dumps({
        "cpu_one_s": cpu_one,
        "cpu_threads_s": cpu_threads,
        "cpu_speedup": cpu_one / cpu_threads,
        "io_one_s": io_one,
        "io_threads_s": io_threads,
        "io_speedup": io_one / io_threads,
        "squares": n,
        "switch_s": sys.getswitchinterval(),
    }))
