"""Python twin of `asyncio-demo task-group`: a TaskGroup whose jobs 1 and 3 fail.

    python3 task_group.py [--jobs 5] [--fail-after 0.05] [--work 1.0]

Jobs 1 and 3 raise ValueError after `fail_after`; the others would run `work`. The
TaskGroup cancels them at the first failure and raises an ExceptionGroup with every error.
Each cancelled job notes when its CancelledError arrived (its `except` / `finally:`).

Prints one JSON line:
    errors       exceptions in the ExceptionGroup
    stop_lag_s   from the first failure to the last sibling's CancelledError
    total_s      the `async with` block, start to end
"""
import argparse
import asyncio
import json
import time

FAILING = (1, 3)


async def job(i, fail_after, work, failed, stopped):
    try:
        await asyncio.sleep(fail_after if i in FAILING else work)
    except asyncio.CancelledError:
        stopped.append(time.perf_counter())  # the task can clean up here
        raise
    if i in FAILING:
        failed.append(time.perf_counter())
        raise ValueError(f"job {i} failed")
    return i


async def main(jobs, fail_after, work):
    failed, stopped, errors = [], [], 0
    start = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as tg:
            for i in range(jobs):
                tg.create_task(job(i, fail_after, work, failed, stopped))
    except* ValueError as group:
        errors = len(group.exceptions)
    total = time.perf_counter() - start
    lag = max(stopped) - min(failed) if stopped and failed else 0.0
    return errors, lag, total


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--fail-after", type=float, default=0.05)
    parser.add_argument("--work", type=float, default=1.0)
    args = parser.parse_args()
    errors, lag, total = asyncio.run(main(args.jobs, args.fail_after, args.work))
    print(json.dumps({
        "model": "asyncio.TaskGroup, except* ValueError (ExceptionGroup)",
        "job": {"jobs": args.jobs, "fail_after": args.fail_after, "work": args.work},
        "errors": errors,
        "stop_lag_s": lag,
        "total_s": total,
    }))
