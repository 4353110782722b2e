"""Python twin of `hybrid-demo cpu-offload`: a heartbeat task ticks every T seconds on the
asyncio event loop while a CPU-bound job (the sum of squares below n, in C chunks) runs
three ways: inline in a coroutine (the loop is frozen), and with each chunk handed to
`loop.run_in_executor`, first on a ThreadPoolExecutor, then on a ProcessPoolExecutor, both
with W workers. How late the heartbeat got says whether the loop stayed free.

    python3 cpu_offload.py [--n 12000000] [--chunks 16] [--workers 2] [--tick 0.005]

Prints one JSON line:
    inline_s            the job run inline on the loop
    inline_late_s       the heartbeat's worst lateness meanwhile (about the whole job)
    threads_s           the job on the ThreadPoolExecutor
    threads_late_s      worst lateness meanwhile (the loop waits its turn for the GIL)
    threads_speedup     inline_s / threads_s (about 1.0x: the GIL)
    processes_s         the job on the ProcessPoolExecutor (workers already started)
    processes_late_s    worst lateness meanwhile
    processes_speedup   inline_s / processes_s (up to W)
    workers             W
    model, models, job  the Python that ran, and the sizes it was given
"""
import argparse
import asyncio
import json
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor


def sum_chunk(lo, hi):
    return sum(i * i for i in range(lo, hi))


def split(n, parts):
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        end = start + base + (1 if k < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


class Heartbeat:
    """A task that wakes every `period` and remembers how late it woke."""

    def __init__(self, period):
        self.period, self.worst, self.ticks = period, 0.0, 0
        self.task = asyncio.create_task(self.beat())

    async def beat(self):
        loop = asyncio.get_running_loop()
        due = loop.time() + self.period
        while True:
            await asyncio.sleep(max(due - loop.time(), 0))
            now = loop.time()
            self.worst = max(self.worst, now - due)
            self.ticks += 1
            due = max(due + self.period, now)


async def observe(job, tick, expected):
    heartbeat = Heartbeat(tick)
    await asyncio.sleep(2 * tick)  # the heartbeat is ticking before the job starts
    start = time.perf_counter()
    total = await job()
    took = time.perf_counter() - start
    await asyncio.sleep(0.001)  # a tick that came due while the loop was blocked fires now
    heartbeat.task.cancel()
    assert total == expected, f"sum {total}, expected {expected}"
    return took, heartbeat.worst


async def main(n, chunks, workers, tick):
    loop = asyncio.get_running_loop()
    bounds = split(n, chunks)
    expected = (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0

    async def inline():
        return sum(sum_chunk(lo, hi) for lo, hi in bounds)  # blocks the loop

    def offloaded(pool):
        async def job():
            parts = await asyncio.gather(
                *(loop.run_in_executor(pool, sum_chunk, lo, hi) for lo, hi in bounds)
            )
            return sum(parts)
        return job

    figures = {
        "model": f"asyncio + loop.run_in_executor, pure-Python sum in {chunks} chunks",
        "models": {
            "inline_s": "the sum inline in a coroutine (the loop frozen)",
            "inline_late_s": "the sum inline in a coroutine (the loop frozen)",
            "threads_late_s": f"run_in_executor(ThreadPoolExecutor({workers})) (one GIL)",
            "threads_speedup": f"run_in_executor(ThreadPoolExecutor({workers})) (one GIL)",
            "processes_late_s": f"run_in_executor(ProcessPoolExecutor({workers}))",
            "processes_speedup": f"run_in_executor(ProcessPoolExecutor({workers}))",
        },
        "job": {"n": n, "chunks": chunks, "workers": workers, "tick": tick},
        "workers": workers,
    }
    figures["inline_s"], figures["inline_late_s"] = await observe(inline, tick, expected)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        took, late = await observe(offloaded(pool), tick, expected)
    figures.update(threads_s=took, threads_late_s=late)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # Start the worker processes first: the job's time is the job's, not their start.
        await asyncio.gather(*(loop.run_in_executor(pool, sum_chunk, 0, 1) for _ in range(workers)))
        took, late = await observe(offloaded(pool), tick, expected)
    figures.update(processes_s=took, processes_late_s=late)
    figures["threads_speedup"] = figures["inline_s"] / figures["threads_s"]
    figures["processes_speedup"] = figures["inline_s"] / figures["processes_s"]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12_000_000)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tick", type=float, default=0.005)
    args = parser.parse_args()
    if args.chunks < 1 or args.workers < 1:
        parser.error("--chunks and --workers must be at least 1")
    figures = asyncio.run(main(args.n, args.chunks, args.workers, args.tick))
    print(json.dumps(figures))
