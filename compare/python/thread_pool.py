"""compare's `thread-pool` cell in Python: ThreadPoolExecutor() with its default workers,
min(32, os.cpu_count() + 4); the server's pool handles that many connections at once.

    python3 thread_pool.py JOB_JSON    (one JSON line out; see jobs.py)
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import jobs


def run_items(job):
    n = jobs.items(job)
    images = jobs.inputs(job)
    # A server job's pool: as many threads as its connections (ThreadPoolExecutor(10)).
    workers = job["pool"] if job["kind"] == "pg" else min(32, (os.cpu_count() or 1) + 4)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(lambda i: jobs.item(job, i, images[i]), range(n)))
    seconds = time.perf_counter() - start
    name = f"ThreadPoolExecutor({workers})" if job["kind"] == "pg" else "ThreadPoolExecutor()"
    jobs.report(name + ".map" + jobs.how(job), workers, seconds, sum(answers))


def serve(job):
    server = jobs.listen()
    start = time.perf_counter()
    with ThreadPoolExecutor() as pool:
        handled = [pool.submit(jobs.echo, server.accept()[0]) for _ in range(job["clients"])]
        echoed = sum(f.result() for f in handled)
    workers = min(32, (os.cpu_count() or 1) + 4)
    jobs.report("ThreadPoolExecutor(), a worker per connection", workers, time.perf_counter() - start, echoed)


if __name__ == "__main__":
    job = jobs.job_from_args()
    serve(job) if job["kind"] == "serve" else run_items(job)
