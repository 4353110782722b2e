"""compare's `asyncio` cell in Python: a task per item, asyncio.gather.

Downloads use aiohttp when it is installed (`pip install aiohttp`), with one shared
ClientSession as the guides' `fetch_all` does (its connector keeps up to 100 connections
alive and reuses them). Without it, the standard library has no asynchronous HTTP client:
each download opens its own connection with asyncio streams (`Connection: close`, no
pooling, no limit) and sends a hand-written HTTP/1.1 GET. The JSON line's "model" says
which of the two ran.

CPU items run on the event loop itself, one at a time, as a coroutine without an await
does. SQLite has no non-blocking API: each query goes to asyncio.to_thread, as aiosqlite
hands it to a thread. A PostgreSQL server's queries go through asyncpg, the guides' async
driver: create_pool with the job's pool size, each query inside `async with
pool.acquire()` (compare runs this cell only when asyncpg is installed).

    python3 asyncio_tasks.py JOB_JSON  (one JSON line out; see jobs.py)
"""
import asyncio
import time
from urllib.parse import urlsplit

import jobs

try:
    import aiohttp
except ImportError:
    aiohttp = None


async def fetch_stream(job, i):
    """One download on a connection of its own, over asyncio streams."""
    url = urlsplit(jobs.url(job, i))
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"file {i}: {head.splitlines()[0] if head else b'no answer'!r}")
    return jobs.page_answer(job, i, body)


async def fetch_aiohttp(session, job, i):
    """One download through the shared session (a pooled connection)."""
    async with session.get(jobs.url(job, i)) as response:
        response.raise_for_status()
        body = await response.read()
    return jobs.page_answer(job, i, body)


def model(job):
    """The Python model this job runs under, in words."""
    if job["kind"] == "fetch" and aiohttp:
        return "asyncio.gather, a task per download; aiohttp, one shared ClientSession (pooled, up to 100 connections)"
    if job["kind"] == "fetch":
        return "asyncio.gather, a task per download; asyncio streams, a connection per download, no pooling (aiohttp not installed)"
    if job["kind"] == "db":
        return "asyncio.gather, a task per query; sqlite3 through asyncio.to_thread"
    if job["kind"] == "pg":
        return f"asyncio.gather, a task per query; asyncpg, create_pool({job['pool']})"
    return "asyncio.gather, a task per item; the CPU work on the event loop, one item at a time"


async def run_pg(job):
    """A server job: every query at once under a pool of the job's size."""
    import asyncpg

    n = jobs.items(job)
    sql = jobs.pg_sql(job, "$1")
    start = time.perf_counter()
    pool = await asyncpg.create_pool(job["url"], min_size=job["pool"], max_size=job["pool"])

    async def work(i):
        async with pool.acquire() as conn:
            return await conn.fetchval(sql, jobs.pg_id(i))

    try:
        answers = await asyncio.gather(*(work(i) for i in range(n)))
    finally:
        await pool.close()
    jobs.report(model(job), 1, time.perf_counter() - start, sum(answers))


async def run_items(job):
    if job["kind"] == "pg":
        return await run_pg(job)
    n = jobs.items(job)
    images = jobs.inputs(job)
    start = time.perf_counter()
    session = aiohttp.ClientSession() if aiohttp and job["kind"] == "fetch" else None

    async def work(i):
        if session:
            return await fetch_aiohttp(session, job, i)
        if job["kind"] == "fetch":
            return await fetch_stream(job, i)
        if job["kind"] == "db":
            return await asyncio.to_thread(jobs.query, job, i)
        return jobs.item(job, i, images[i])

    try:
        answers = await asyncio.gather(*(work(i) for i in range(n)))
    finally:
        if session:
            await session.close()
    jobs.report(model(job), 1, time.perf_counter() - start, sum(answers))


async def serve(job):
    clients = job["clients"]
    echoed = []
    all_done = asyncio.Event()

    async def handle(reader, writer):
        lines = 0
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
            lines += 1
        writer.close()
        await writer.wait_closed()
        echoed.append(lines)
        if len(echoed) == clients:
            all_done.set()

    server = await asyncio.start_server(handle, sock=jobs.listen())
    start = time.perf_counter()
    async with server:
        await all_done.wait()
    jobs.report("asyncio.start_server, a task per connection", 1, time.perf_counter() - start, sum(echoed))


if __name__ == "__main__":
    job = jobs.job_from_args()
    asyncio.run(serve(job) if job["kind"] == "serve" else run_items(job))
