"""Python twin of `asyncio-demo gather`: N coroutines that each wait, gathered.

    python3 gather.py [--tasks 10] [--wait 0.5]

Runs the guide's `fetch_data` N times with `asyncio.gather` (results in input order),
then again as tasks collected with `asyncio.as_completed` (in finishing order, as a
JoinSet hands them back).

Prints one JSON line:
    waited_s    the N waits added up (each call's own time, summed)
    gather_s    asyncio.gather, start to last result
    tasks_s     create_task + as_completed, start to last result
    speedup     waited_s / gather_s: how many waits overlapped
"""
import argparse
import asyncio
import json
import time


async def fetch_data(i, wait, spent):
    start = time.perf_counter()
    await asyncio.sleep(wait)  # the "network"
    spent.append(time.perf_counter() - start)
    return i


async def main(n, wait):
    spent = []
    start = time.perf_counter()
    results = await asyncio.gather(*(fetch_data(i, wait, spent) for i in range(n)))
    gather_s = time.perf_counter() - start
    assert results == list(range(n)), "results out of input order"

    start = time.perf_counter()
    tasks = [asyncio.create_task(fetch_data(i, wait, [])) for i in range(n)]
    done = [await t for t in asyncio.as_completed(tasks)]
    tasks_s = time.perf_counter() - start
    assert sorted(done) == results, "a task's result went missing"
    return sum(spent), gather_s, tasks_s


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--wait", type=float, default=0.5)
    args = parser.parse_args()
    waited, gathered, tasks = asyncio.run(main(args.tasks, args.wait))
    print(json.dumps({
        "model": "asyncio.gather; create_task + as_completed",
        "models": {
            "gather_s": "asyncio.gather of the coroutines",
            "tasks_s": "asyncio.create_task each, then as_completed",
            "speedup": "asyncio.gather",
        },
        "job": {"tasks": args.tasks, "wait": args.wait},
        "waited_s": waited,
        "gather_s": gathered,
        "tasks_s": tasks,
        "speedup": waited / gathered,
    }))
