"""compare's `threads` cell in Python: a threading.Thread per item (per connection for the
server). Threads wait together; on CPU work the GIL lets one run Python at a time.

    python3 threads.py JOB_JSON        (one JSON line out; see jobs.py)
"""
import threading
import time

import jobs


def run_items(job):
    n = jobs.items(job)
    images = jobs.inputs(job)
    # A thread per item; a server job caps them (a connection each, within its limit),
    # each thread then taking every workers-th query.
    workers = min(n, job["threads"]) if job["kind"] == "pg" else n
    answers = [None] * n

    def work(k):
        for i in range(k, n, workers):
            answers[i] = jobs.item(job, i, images[i])

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if None in answers:
        raise SystemExit("a thread failed (its traceback is above)")
    each = f"per query, at most {workers}" if job["kind"] == "pg" else "per item"
    jobs.report(f"a threading.Thread {each}" + jobs.how(job), workers, seconds, sum(answers))


def serve(job):
    server = jobs.listen()
    echoed = []
    start = time.perf_counter()
    handlers = []
    for _ in range(job["clients"]):
        conn, _ = server.accept()
        t = threading.Thread(target=lambda c=conn: echoed.append(jobs.echo(c)))
        t.start()
        handlers.append(t)
    for t in handlers:
        t.join()
    jobs.report("a threading.Thread per connection", job["clients"], time.perf_counter() - start, sum(echoed))


if __name__ == "__main__":
    job = jobs.job_from_args()
    serve(job) if job["kind"] == "serve" else run_items(job)
