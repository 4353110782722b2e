"""Python twin of `asyncio-demo tasks`: N tasks that each sleep, gathered.

    python3 tasks.py [--tasks 100000] [--sleep 1.0]

Prints one JSON line:
    model           the Python model that ran
    job             the sizes it ran: tasks, sleep
    elapsed_s       seconds from the first create_task to the last result
    peak_bytes      the process's peak resident memory (Linux: VmHWM)
    per_task_bytes  growth of the peak over the memory before the tasks, per task
"""
import argparse
import asyncio
import json
import resource
import sys
import time


def rss_kib(field):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    # Not Linux: ru_maxrss is the peak (KiB on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


async def sleeper(i, seconds):
    await asyncio.sleep(seconds)
    return i


async def main(n, seconds):
    start = time.perf_counter()
    tasks = [asyncio.create_task(sleeper(i, seconds)) for i in range(n)]
    results = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    assert sum(results) == n * (n - 1) // 2, "a task's result went missing"
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--sleep", type=float, default=1.0)
    args = parser.parse_args()
    before = rss_kib("VmRSS:")
    elapsed = asyncio.run(main(args.tasks, args.sleep))
    peak = rss_kib("VmHWM:")
    print(json.dumps({
        "model": "asyncio.create_task each, then asyncio.gather",
        "job": {"tasks": args.tasks, "sleep": args.sleep},
        "elapsed_s": elapsed,
        "peak_bytes": peak * 1024,
        "per_task_bytes": max(peak - before, 0) * 1024 / args.tasks,
    }))
