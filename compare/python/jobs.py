"""The jobs of compare's table, in plain Python: the same items, the same answers.

Each model file (threads.py, thread_pool.py, processes.py, asyncio_tasks.py) runs
    python3 MODEL.py JOB_JSON
where JOB_JSON is the job as compare's Rust side describes it, e.g.
    {"kind": "sum_squares", "n": 20000000, "chunks": 16}
and prints one JSON line: model (the Python model that ran, in words), workers, seconds,
answer, own_peak_rss, children_peak_rss. The answer is the sum of the item answers
(mod 2**64); compare checks it.
"""
import json
import os
import re
import sqlite3
import sys
import threading
import urllib.request

WRAP = 1 << 64


def job_from_args():
    return json.loads(sys.argv[1])


def items(job):
    """How many items the models share out."""
    kind = job["kind"]
    if kind == "fetch" or kind == "images":
        return job["count"]
    if kind == "db" or kind == "pg":
        return job["queries"]
    if kind == "serve":
        return job["clients"]
    return job["chunks"]


def chunk(n, chunks, i):
    """range i of 0..n cut into `chunks` nearly equal pieces (the first ones one longer)."""
    base, extra = divmod(n, chunks)
    start = i * base + min(i, extra)
    return range(start, start + base + (i < extra))


def sum_squares(n, chunks, i):
    return sum(x * x for x in chunk(n, chunks, i)) % WRAP


def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def count_primes(n, chunks, i):
    return sum(1 for x in chunk(n, chunks, i) if is_prime(x))


def inputs(job):
    """The pictures of an image job, made before the clock starts (None per item otherwise)."""
    n = items(job)
    if job["kind"] != "images":
        return [None] * n
    return [make_image(i, job["width"], job["height"]) for i in range(n)]


def make_image(i, width, height):
    """RGB bytes; pixel (x, y) is coloured by (x + 3y + 7i) % 256."""
    row = bytearray()
    out = bytearray()
    for y in range(height):
        row.clear()
        for x in range(width):
            v = (x + 3 * y + 7 * i) % 256
            row += bytes((v, (v * 7) % 256, 255 - v))
        out += row
    return bytes(out)


def process_image(rgb, width):
    """Grayscale, then a 3 x 3 blur ([1 2 1] across, then down, wrapping); the sum."""
    gray = [(77 * r + 150 * g + 29 * b) >> 8 for r, g, b in zip(rgb[0::3], rgb[1::3], rgb[2::3])]
    rows = [gray[k:k + width] for k in range(0, len(gray), width)]
    across = [[row[x - 1] + 2 * row[x] + row[(x + 1) % width] for x in range(width)] for row in rows]
    h = len(across)
    return sum(
        sum(up) + 2 * sum(mid) + sum(down)
        for up, mid, down in ((across[y - 1], across[y], across[(y + 1) % h]) for y in range(h))
    )


def url(job, i):
    latency = job["latency_ms"] * ((1 + i % 3) if job["spread"] else 1)
    return f"{job['base']}/files/{i}?latency_ms={latency}&size={job['size']}"


WORD = re.compile(rb"[A-Za-z0-9]+")


def page_answer(job, i, body):
    if len(body) != job["size"]:
        raise ValueError(f"file {i}: {len(body)} bytes, expected {job['size']}")
    return len(WORD.findall(body)) if job["parse"] else len(body)


def how(job):
    """What a blocking model's items use, in words: the tail of its "model"."""
    if job["kind"] == "fetch":
        return "; downloads with urllib.request, a connection per download"
    if job["kind"] == "db":
        return "; sqlite3, a connection per thread"
    if job["kind"] == "pg":
        return "; psycopg, a connection per thread"
    return ""


def download(job, i):
    """A blocking download, as requests.get would do it."""
    with urllib.request.urlopen(url(job, i)) as response:
        return page_answer(job, i, response.read())


local = threading.local()


def query(job, q):
    """One SELECT on this thread's own connection (sqlite3 connections stay in their thread)."""
    if getattr(local, "db", None) is None:
        local.db = sqlite3.connect(f"file:{job['path']}?mode=ro", uri=True)
    if job["scan"]:
        sql, args = "SELECT coalesce(sum(v), 0) FROM t WHERE id % 7 = ?", (q % 7,)
    else:
        start = q * 100 % max(job["rows"], 1)
        sql, args = "SELECT coalesce(sum(v), 0) FROM t WHERE id >= ? AND id < ?", (start, start + 100)
    return local.db.execute(sql, args).fetchone()[0]


PG_ROWS = 10_000  # jobs.rs's PG_ROWS: the rows of the server job's table


def pg_id(i):
    """The id query i of a server job looks up."""
    return i * 48_271 % PG_ROWS + 1


def pg_sql(job, placeholder):
    """One row by primary key, after sleep_ms on the server."""
    return f"SELECT value FROM {job['table']}, pg_sleep({job['sleep_ms'] / 1000}) WHERE id = {placeholder}"


def pg_query(job, i):
    """Query i of a server job on this thread's own psycopg connection (blocking)."""
    if getattr(local, "pg", None) is None:
        import psycopg  # optional: compare runs these cells only when it is installed
        local.pg = psycopg.connect(job["url"], autocommit=True)
    return local.pg.execute(pg_sql(job, "%s"), (pg_id(i),)).fetchone()[0]


def item(job, i, image=None):
    """Item i's answer, on the calling thread (blocking)."""
    kind = job["kind"]
    if kind == "sum_squares":
        return sum_squares(job["n"], job["chunks"], i)
    if kind == "primes":
        return count_primes(job["n"], job["chunks"], i)
    if kind == "images":
        return process_image(image, job["width"])
    if kind == "fetch":
        return download(job, i)
    if kind == "db":
        return query(job, i)
    if kind == "pg":
        return pg_query(job, i)
    raise ValueError(f"no items in a {kind} job")


def echo(conn):
    """Echo lines until the client closes; returns how many."""
    lines = 0
    with conn, conn.makefile("rb") as reader:
        for line in reader:
            conn.sendall(line)
            lines += 1
    return lines


def listen():
    """A listening socket on 127.0.0.1, its port told to compare (whose clients connect)."""
    import socket
    server = socket.create_server(("127.0.0.1", 0), backlog=1024)
    print("listening", server.getsockname()[1], flush=True)
    return server


def peak_rss(pid="self"):
    """Peak resident memory (VmHWM) of a process, in bytes; None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def report(model, workers, seconds, answer, children_peak_rss=None):
    print(json.dumps({
        "model": model,
        "workers": workers,
        "seconds": seconds,
        "answer": answer % WRAP,
        "own_peak_rss": peak_rss(),
        "children_peak_rss": children_peak_rss,
        "python": sys.version.split()[0],
    }))


def cores():
    """The cores this process may use (os.cpu_count() ignores an affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
