"""Python twin of `multiprocessing-demo startup-cost`: start + join of a process, a thread
and an asyncio task, averaged per unit.

    python3 startup_cost.py [--processes 50] [--threads 1000] [--tasks 20000]

Processes are started with the "spawn" method (a fresh interpreter that imports this
module: the default on macOS and Windows), and, where the platform has it, with "fork"
(Linux's default before 3.14): `--processes` of each.

Prints one JSON line (with "model", "models" and the "job" it ran):
    spawn_process_s   Process(target=noop).start(); .join(), spawn method, per process
    fork_process_s    the same with the fork method (0 where there is no fork)
    thread_s          Thread(target=noop).start(); .join(), per thread
    task_s            await asyncio.create_task(noop()), per task
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import threading
import time


def noop():
    pass


def per_process(method, rounds):
    ctx = mp.get_context(method)
    ok = 0
    start = time.perf_counter()
    for _ in range(rounds):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        ok += p.exitcode == 0
    took = time.perf_counter() - start
    assert ok == rounds, f"only {ok} of {rounds} {method} processes exited cleanly"
    return took / rounds


def per_thread(rounds):
    start = time.perf_counter()
    for _ in range(rounds):
        t = threading.Thread(target=noop)
        t.start()
        t.join()
    return (time.perf_counter() - start) / rounds


async def noop_async():
    return 1


async def per_task(rounds):
    start = time.perf_counter()
    ok = 0
    for _ in range(rounds):
        ok += await asyncio.create_task(noop_async())
    assert ok == rounds, "a task went missing"
    return (time.perf_counter() - start) / rounds


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=20000)
    args = parser.parse_args()
    has_fork = "fork" in mp.get_all_start_methods()
    print(json.dumps({
        "model": "multiprocessing.Process, threading.Thread, asyncio.create_task",
        "models": {
            "spawn_process_s": "multiprocessing.get_context('spawn').Process: start + join",
            "fork_process_s": "multiprocessing.get_context('fork').Process: start + join",
            "thread_s": "threading.Thread: start + join",
            "task_s": "await asyncio.create_task(noop())",
        },
        "job": {"processes": args.processes, "threads": args.threads, "tasks": args.tasks},
        "spawn_process_s": per_process("spawn", args.processes),
        "fork_process_s": per_process("fork", args.processes) if has_fork else 0.0,
        "thread_s": per_thread(args.threads),
        "task_s": asyncio.run(per_task(args.tasks)),
    }))
