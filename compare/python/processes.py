"""compare's `processes` cell in Python: multiprocessing.Pool() with os.cpu_count() workers;
Pool.map pickles each item (an image's pixels too) to a worker process. The server starts
os.cpu_count() processes that accept on one shared listening socket.

    python3 processes.py JOB_JSON      (one JSON line out; see jobs.py)
"""
import multiprocessing
import os
import time
from functools import partial

import jobs


def workers_peak():
    """The worker processes' peak memory, added up (read while they are alive)."""
    peaks = [jobs.peak_rss(p.pid) for p in multiprocessing.active_children()]
    return sum(p for p in peaks if p is not None) or None


def run_items(job):
    n = jobs.items(job)
    images = jobs.inputs(job)
    start = time.perf_counter()
    with multiprocessing.Pool() as pool:
        answers = pool.starmap(partial(jobs.item, job), zip(range(n), images))
        seconds = time.perf_counter() - start
        peak = workers_peak()
    jobs.report("multiprocessing.Pool().starmap, items pickled" + jobs.how(job).replace("per thread", "per process"), os.cpu_count() or 1, seconds, sum(answers), peak)


def serve_share(server, share, done):
    """A server process: its share of the connections, a thread per connection. It gives up
    after 70 s without a client, as compare's own cells do, so none outlives a killed run."""
    from concurrent.futures import ThreadPoolExecutor
    server.settimeout(70)
    with ThreadPoolExecutor(max_workers=max(share, 1)) as pool:
        handled = [pool.submit(jobs.echo, server.accept()[0]) for _ in range(share)]
        done.put(sum(f.result() for f in handled))


def serve(job):
    server = jobs.listen()
    clients, workers = job["clients"], os.cpu_count() or 1
    done = multiprocessing.Queue()
    start = time.perf_counter()
    procs = [
        multiprocessing.Process(target=serve_share, args=(server, clients // workers + (k < clients % workers), done))
        for k in range(workers)
    ]
    for p in procs:
        p.start()
    echoed = sum(done.get() for _ in procs)
    peak = workers_peak()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a server process failed: exit code {p.exitcode}")
    jobs.report("multiprocessing.Process workers on one shared listening socket, a thread per connection", workers, time.perf_counter() - start, echoed, peak)


if __name__ == "__main__":
    job = jobs.job_from_args()
    serve(job) if job["kind"] == "serve" else run_items(job)
