"""Python twin of `threading-demo gil`: the real GIL, on the same plan as the Rust section's
hand-made one. S slices of CPU work (each about D long, measured here) and W blocking waits
of L each, run on 1 thread and then split over T threading.Thread workers, R times (the
medians are printed, with the spread of the R).

    python3 gil.py [--slices 32] [--slice 0.005] [--waits 8] [--wait 0.02] [--threads 2]
                   [--rounds 3]

CPU slices hold the GIL (handed over every sys.getswitchinterval(), 5 ms): the T threads
take turns, about 1.0x. time.sleep releases it for the whole wait: the waits overlap, about
Tx. The ways around the GIL: processes (multiprocessing), a C or Rust extension that
releases it (numpy; python-extension in this workspace), or a free-threaded build
(python3.13t), which computes on T cores at once and says so in "model". PyPy is faster
on this loop but has a GIL too.

Prints one JSON line:
    cpu_one_s          the S slices on 1 thread (median of R)
    cpu_threads_s      the S slices split over T threads (median of R)
    cpu_speedup        cpu_one_s / cpu_threads_s, per round (median of R)
    cpu_per_million_s  cpu_one_s for a million squares: the loop's speed, the same job as Rust's
    io_one_s           the W waits on 1 thread (median of R)
    io_threads_s       the W waits split over T threads (median of R)
    io_speedup         io_one_s / io_threads_s, per round (median of R)
    squares            how many squares one slice sums (calibrated to about D here)
    switch_s           sys.getswitchinterval()
    *_spread           largest / smallest of the R rounds
    model, models, job what ran, per figure, and the flags it was given
"""
import argparse
import json
import platform
import statistics
import sys
import threading
import time


def squares(n):
    return sum(i * i for i in range(n))


def timed(job):
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def calibrate(seconds):
    """How many squares take about `seconds` in this interpreter: grow n until one timing
    takes 2 ms, then scale by the median of five timings of it."""
    n = 10_000
    while timed(lambda: squares(n)) < 0.002:
        n *= 4
    took = statistics.median(timed(lambda: squares(n)) for _ in range(5))
    return max(int(n * seconds / took), 1)


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


def spread(xs):
    return max(xs) / min(xs)


def gil_enabled():
    check = getattr(sys, "_is_gil_enabled", None)  # 3.13+: False on a free-threaded build
    return check() if check else True


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--slice", type=float, default=0.005)
    parser.add_argument("--waits", type=int, default=8)
    parser.add_argument("--wait", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count, rounds = max(args.threads, 1), max(args.rounds, 1)
    n = calibrate(args.slice)
    one, split, io_one, io_split = [], [], [], []
    for _ in range(rounds):
        io_split.append(io_run(count, args.waits, args.wait))
        split.append(cpu_run(count, args.slices, n))
        one.append(cpu_run(1, args.slices, n))
        io_one.append(io_run(1, args.waits, args.wait))
    speedups = [o / s for o, s in zip(one, split)]
    io_speedups = [o / s for o, s in zip(io_one, io_split)]
    cpu_one = statistics.median(one)
    lock = "holds the GIL" if gil_enabled() else "free-threaded build, GIL disabled"
    interpreter = f"{platform.python_implementation()} {platform.python_version()}"
    threads = f"threading.Thread x{count}"
    print(json.dumps({
        "cpu_one_s": cpu_one,
        "cpu_threads_s": statistics.median(split),
        "cpu_speedup": statistics.median(speedups),
        "cpu_per_million_s": cpu_one / (n * args.slices / 1e6),
        "io_one_s": statistics.median(io_one),
        "io_threads_s": statistics.median(io_split),
        "io_speedup": statistics.median(io_speedups),
        "squares": n,
        "switch_s": sys.getswitchinterval(),
        "cpu_one_s_spread": spread(one),
        "cpu_per_million_s_spread": spread(one),
        "cpu_speedup_spread": spread(speedups),
        "io_one_s_spread": spread(io_one),
        "io_speedup_spread": spread(io_speedups),
        "model": f"{threads} on {interpreter}, a pure-Python loop ({lock})",
        "models": {
            "cpu_per_million_s": f"sum(i * i ...) on 1 thread, {interpreter}",
            "squares": f"calibrated to --slice on {interpreter}",
            "io_one_s": "time.sleep on 1 thread (releases the GIL)",
            "io_speedup": f"{threads}, time.sleep (releases the GIL)",
        },
        "job": {
            "slices": args.slices,
            "slice": args.slice,
            "waits": args.waits,
            "wait": args.wait,
            "threads": args.threads,
            "rounds": args.rounds,
        },
    }))
