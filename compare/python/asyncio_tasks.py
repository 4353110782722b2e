"""compare's `asyncio` cell in Python: a task per item, asyncio.gather. Downloads go over
asyncio streams (the standard library's non-blocking sockets; aiohttp does the same with
more HTTP). CPU items run on the event loop itself, one at a time, as a coroutine without
an await does. SQLite has no non-blocking API: each query goes to asyncio.to_thread, as
aiosqlite hands it to a thread.

    python3 asyncio_tasks.py JOB_JSON  (one JSON line out; see jobs.py)
"""
import asyncio
import time
from urllib.parse import urlsplit

import jobs


async def fetch(job, i):
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


async def run_items(job):
    n = jobs.items(job)
    images = jobs.inputs(job)

    async def work(i):
        if job["kind"] == "fetch":
            return await fetch(job, i)
        if job["kind"] == "db":
            return await asyncio.to_thread(jobs.query, job, i)
        return jobs.item(job, i, images[i])

    start = time.perf_counter()
    answers = await asyncio.gather(*(work(i) for i in range(n)))
    jobs.report("asyncio", 1, time.perf_counter() - start, sum(answers))


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
    jobs.report("asyncio", 1, time.perf_counter() - start, sum(echoed))


if __name__ == "__main__":
    job = jobs.job_from_args()
    asyncio.run(serve(job) if job["kind"] == "serve" else run_items(job))
