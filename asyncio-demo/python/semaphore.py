"""Python twin of `asyncio-demo semaphore`: N calls gathered under asyncio.Semaphore(limit).

    python3 semaphore.py [--calls 50] [--limit 10] [--wait 0.1]

Each call waits inside `async with sem:`; a counter around the wait records the most
calls inside at once.

Prints one JSON line:
    model           the Python model that ran
    job             the sizes it ran: calls, limit, wait
    elapsed_s       all calls, start to last result
    max_in_flight   the most calls inside the semaphore at the same time
"""
import argparse
import asyncio
import json
import time


async def main(calls, limit, wait):
    sem = asyncio.Semaphore(limit)
    inside = most = 0

    async def fetch(i):
        nonlocal inside, most
        async with sem:  # at most `limit` in here at once
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(wait)
            inside -= 1
            return i

    start = time.perf_counter()
    results = await asyncio.gather(*(fetch(i) for i in range(calls)))
    elapsed = time.perf_counter() - start
    assert results == list(range(calls)), "a call went missing"
    assert most <= limit, f"{most} inside with a limit of {limit}"
    return elapsed, most


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--wait", type=float, default=0.1)
    args = parser.parse_args()
    elapsed, most = asyncio.run(main(args.calls, args.limit, args.wait))
    print(json.dumps({
        "model": f"asyncio.gather under asyncio.Semaphore({args.limit})",
        "job": {"calls": args.calls, "limit": args.limit, "wait": args.wait},
        "elapsed_s": elapsed,
        "max_in_flight": most,
    }))
