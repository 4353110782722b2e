"""Python twin of `asyncio-demo download`: many GETs to the same local server, at most C in
flight, every body read a chunk at a time and checked; against a few one at a time.

    python3 download.py --base http://127.0.0.1:PORT --size 16384 [--requests 5000]
                        [--concurrency 100] [--baseline 20] [--max-bytes 67108864]
    python3 download.py --url http://HOST/PATH ...      (any URL: only the status checked)

The standard library has no async HTTP client (aiohttp is not in it), so this is the
guides' other idiom for I/O-bound work: `ThreadPoolExecutor(max_workers=C)` and
`urllib.request.urlopen`, one thread per request in flight. urlopen opens a connection per
request (the standard library has no pooled session).
With --base, request `id` is BASE/files/{id}: file `id` of the Rust side's test server,
whose bytes are known, so every chunk is compared as it arrives. The baseline fetches
files REQUESTS.. REQUESTS+BASELINE, one at a time, before the timed run.

Prints one JSON line:
    one_at_a_time_per_s   requests a second, one at a time (the baseline)
    per_s                 requests a second, CONCURRENCY at a time
    elapsed_s             the REQUESTS requests, CONCURRENCY at a time
    gain                  per_s / one_at_a_time_per_s
    max_in_flight         the most requests open at once (counted around each)
"""
import argparse
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

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


class InFlight:
    def __init__(self):
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_):
        with self.lock:
            self.now -= 1


def fetch(target, i, max_bytes, in_flight):
    """GET request `i`, reading its body a chunk at a time; returns its length."""
    want = target.expected(i)
    received = 0
    with in_flight, urllib.request.urlopen(target.url(i), timeout=30) as response:
        while chunk := response.read(CHUNK):
            if received + len(chunk) > max_bytes:
                raise ValueError(f"request {i}: the body went past {max_bytes} bytes")
            if want is not None and want[received:received + len(chunk)] != chunk:
                raise ValueError(f"file {i} arrived corrupted")
            received += len(chunk)
    if want is not None and received != len(want):
        raise ValueError(f"file {i} arrived with {received} bytes, expected {len(want)}")
    return received


def download_all(target, ids, concurrency, max_bytes, in_flight):
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(pool.map(lambda i: fetch(target, i, max_bytes, in_flight), ids))


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
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=20)
    parser.add_argument("--max-bytes", type=int, default=64 << 20)
    args = parser.parse_args()
    target = Files(args.base, args.size) if args.base else AnyUrl(args.url)
    n, base_n = args.requests, min(args.baseline, args.requests)

    _, one_s = timed(lambda: download_all(
        target, range(n, n + base_n), 1, args.max_bytes, InFlight()))
    in_flight = InFlight()
    total, many_s = timed(lambda: download_all(
        target, range(n), args.concurrency, args.max_bytes, in_flight))
    if args.base:
        assert total == n * args.size, f"{total} bytes, expected {n * args.size}"
    assert in_flight.most <= args.concurrency
    one_rate, many_rate = base_n / one_s, n / many_s
    print(json.dumps({
        "one_at_a_time_per_s": one_rate,
        "per_s": many_rate,
        "elapsed_s": many_s,
        "gain": many_rate / one_rate,
        "max_in_flight": in_flight.most,
    }))
