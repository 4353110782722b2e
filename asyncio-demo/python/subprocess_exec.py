"""Python twin of `asyncio-demo subprocess`: child processes at once under a limit.

    python3 subprocess_exec.py [--children 6] [--at-once 3] [--script "echo started; sleep 0.2; echo done"]

Runs N children (`sh -c SCRIPT`) with asyncio.create_subprocess_exec, at most `at_once`
alive at a time (an asyncio.Semaphore), each one's stdout read line by line while it runs
and its exit code awaited within a timeout (killed past it); then the same one at a time.

Prints one JSON line:
    at_once_s       the N children, `at_once` at a time, start to last exit
    one_by_one_s    the same, one at a time
    speedup         one_by_one_s / at_once_s
"""
import argparse
import asyncio
import json
import time


async def run_child(script, timeout, limit):
    async with limit:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", script, stdout=asyncio.subprocess.PIPE
        )

        async def read_and_wait():
            lines = [line async for line in proc.stdout]  # as each is printed
            return lines, await proc.wait()

        try:
            return await asyncio.wait_for(read_and_wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return None


async def batch(children, at_once, script):
    limit = asyncio.Semaphore(at_once)
    start = time.perf_counter()
    done = await asyncio.gather(*(run_child(script, 5.0, limit) for _ in range(children)))
    took = time.perf_counter() - start
    assert all(d is not None and d[1] == 0 for d in done), "a child failed"
    return took


async def main(children, at_once, script):
    return await batch(children, at_once, script), await batch(children, 1, script)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=6)
    parser.add_argument("--at-once", type=int, default=3)
    parser.add_argument("--script", default="echo started; sleep 0.2; echo done")
    args = parser.parse_args()
    together, alone = asyncio.run(main(args.children, args.at_once, args.script))
    print(json.dumps({
        "model": "asyncio.create_subprocess_exec under an asyncio.Semaphore, gathered",
        "job": {"children": args.children, "at_once": args.at_once, "script": args.script},
        "at_once_s": together,
        "one_by_one_s": alone,
        "speedup": alone / together,
    }))
