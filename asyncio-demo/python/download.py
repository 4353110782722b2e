"""Python twin of `asyncio-demo download`: many GETs to the same server, at most C in
flight, every body read a chunk at a time and checked; against some one at a time.

    python3 download.py --base http://127.0.0.1:PORT --size 16384 [--requests 3000]
                        [--concurrency 100] [--baseline 20] [--max-bytes 67108864]
    python3 download.py --url http://HOST/PATH ...      (any URL: only the status checked)

With aiohttp installed (`pip install aiohttp`), the guide's idiom: one shared
`aiohttp.ClientSession` with a `TCPConnector(limit=C)`, every request a coroutine, all of
them under `asyncio.gather`, each body read with `iter_chunked` (an `asyncio.Semaphore(C)`
as well, so that a request waiting for a connection is not counted in flight).
Without it, the standard library's way (it has no async HTTP client):
`ThreadPoolExecutor(max_workers=C)` and `urllib.request.urlopen`, one thread per request
in flight and a new connection per request (urllib has no pooled session).
"model" says which ran.

With --base, request `id` is BASE/files/{id}: file `id` of the Rust side's test server,
whose bytes are known, so every chunk is compared as it arrives. The baseline fetches
files REQUESTS.. REQUESTS+BASELINE, one at a time, before the timed run.

Prints one JSON line:
    model                 the client that ran
    job                   the flags it was given
    one_at_a_time_per_s   requests a second, one at a time (the baseline)
    per_s                 requests a second, CONCURRENCY at a time
    elapsed_s             the REQUESTS requests, CONCURRENCY at a time
    gain                  per_s / one_at_a_time_per_s
    max_in_flight         the most requests open at once (counted around each)
"""
import argparse
import asyncio
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

try:
    import aiohttp
except ImportError:
    aiohttp = None

CHUNK = 64 * 1024


def pattern():
    """The 251 bytes every test file is a window of (the Rust side's PATTERN)."""
    state, out = 0x2545F491, bytearray()
    for _ in range(251):
        state = (state * 1_664_525 + 1_013_904_223) & 0xFFFFFFFF
        out.append(state >> 24)
    return bytes(out)


class Files:
    """The test server's files: file `id` is `size` bytes of the pattern from id*31 % 251."""

    def __init__(self, base, size):
        self.base, self.size = base.rstrip("/"), size
        self.source = pattern() * (size // 251 + 2)

    def url(self, i):
        return f"{self.base}/files/{i}"

    def expected(self, i):
        start = i * 31 % 251
        return memoryview(self.source)[start:start + self.size]


class AnyUrl:
    def __init__(self, url):
        self.target = url

    def url(self, _):
        return self.target

    def expected(self, _):
        return None


class Body:
    """Checks a body chunk by chunk: the file's bytes in order, at most max_bytes."""

    def __init__(self, target, i, max_bytes):
        self.i, self.want, self.max_bytes, self.received = i, target.expected(i), max_bytes, 0

    def chunk(self, chunk):
        end = self.received + len(chunk)
        if end > self.max_bytes:
            raise ValueError(f"request {self.i}: the body went past {self.max_bytes} bytes")
        if self.want is not None and self.want[self.received:end] != chunk:
            raise ValueError(f"file {self.i} arrived corrupted")
        self.received = end

    def end(self):
        if self.want is not None and self.received != len(self.want):
            raise ValueError(f"file {self.i} arrived with {self.received} bytes, "
                             f"expected {len(self.want)}")
        return self.received


class InFlight:
    """Counts requests open at once (a lock: the threads' version shares it)."""

    def __init__(self):
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_):
        with self.lock:
            self.now -= 1


# aiohttp: one session, the connector's limit, gather.

async def fetch_async(session, limit, target, i, max_bytes, in_flight):
    body = Body(target, i, max_bytes)
    async with limit:
        with in_flight:
            async with session.get(target.url(i)) as response:
                response.raise_for_status()
                async for chunk in response.content.iter_chunked(CHUNK):
                    body.chunk(chunk)
    return body.end()


async def download_all_async(target, ids, concurrency, max_bytes, in_flight):
    # The connector's limit caps connections; the semaphore, the same size, makes the
    # requests in flight countable (a request waiting for a connection is not in flight).
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        sizes = await asyncio.gather(
            *(fetch_async(session, limit, target, i, max_bytes, in_flight) for i in ids))
    return sum(sizes)


# urllib + ThreadPoolExecutor: a thread per request in flight, a connection per request.

def fetch(target, i, max_bytes, in_flight):
    body = Body(target, i, max_bytes)
    with in_flight, urllib.request.urlopen(target.url(i), timeout=30) as response:
        while chunk := response.read(CHUNK):
            body.chunk(chunk)
    return body.end()


def download_all_threads(target, ids, concurrency, max_bytes, in_flight):
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(pool.map(lambda i: fetch(target, i, max_bytes, in_flight), ids))


def download_all(target, ids, concurrency, max_bytes, in_flight):
    if aiohttp is None:
        return download_all_threads(target, ids, concurrency, max_bytes, in_flight)
    return asyncio.run(download_all_async(target, ids, concurrency, max_bytes, in_flight))


def timed(f):
    start = time.perf_counter()
    result = f()
    return result, time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--base", help="the test server: BASE/files/{id}, --size bytes each")
    where.add_argument("--url", help="any http:// URL, fetched every time")
    parser.add_argument("--size", type=int, default=16 * 1024)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=20)
    parser.add_argument("--max-bytes", type=int, default=64 << 20)
    args = parser.parse_args()
    target = Files(args.base, args.size) if args.base else AnyUrl(args.url)
    n, base_n, c = args.requests, args.baseline, args.concurrency

    _, one_s = timed(lambda: download_all(
        target, range(n, n + base_n), 1, args.max_bytes, InFlight()))
    in_flight = InFlight()
    total, many_s = timed(lambda: download_all(target, range(n), c, args.max_bytes, in_flight))
    if args.base:
        assert total == n * args.size, f"{total} bytes, expected {n * args.size}"
    assert in_flight.most <= c
    one_rate, many_rate = base_n / one_s, n / many_s
    model = (f"aiohttp {aiohttp.__version__}: one ClientSession, gather, {c} at a time"
             if aiohttp else
             f"urllib + ThreadPoolExecutor({c}), a connection per request (no aiohttp)")
    job = {"requests": n, "concurrency": c, "baseline": base_n, "max_bytes": args.max_bytes}
    job.update({"base": args.base, "size": args.size} if args.base else {"url": args.url})
    print(json.dumps({
        "model": model,
        "job": job,
        "one_at_a_time_per_s": one_rate,
        "per_s": many_rate,
        "elapsed_s": many_s,
        "gain": many_rate / one_rate,
        "max_in_flight": in_flight.most,
    }))
