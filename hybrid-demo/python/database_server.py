"""Python twin of `hybrid-demo database-server`: the same jobs on the same PostgreSQL server
(the table demo_items the Rust side made), the guide's two Python ways:

  1. psycopg (blocking): one connection, one query at a time; then a
     ThreadPoolExecutor(N) whose tasks each take one of N connections opened up front;
  2. asyncpg: create_pool(min_size=N, max_size=N), then asyncio.gather over every lookup,
     each inside `async with pool.acquire()`.

Both packages are optional: the twin runs the designs of those installed, names what ran
in "model", and lists what is missing with its pip command in "missing" (and on stderr).
The jobs: Q lookups by primary key, then S lookups that each wait W seconds on the
server (pg_sleep), every value checked against the rows' known values.

    python3 database_server.py --dsn URL [--queries 3000] [--slow-queries 200]
                               [--sleep 0.005] [--pool 10]

Prints one JSON line, for JOB in fast, slow and DESIGN in one, threads (psycopg) and
pool (asyncpg), when its package is installed:
    JOB_DESIGN_qps       queries per second
    JOB_DESIGN_p50_s     the median query's time on its connection (once it has one)
    JOB_DESIGN_p99_s     the 99th percentile
    model, models, job, missing
"""
import argparse
import asyncio
import json
import queue
import sys
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import psycopg
except ImportError:
    psycopg = None
try:
    import asyncpg
except ImportError:
    asyncpg = None

ROWS = 100_000


def ids(n):
    return [k * 48_271 % ROWS + 1 for k in range(n)]


def value(i):
    return i * 7919 % 1_000_003


def figures(prefix, took, times, got, want):
    assert got == want, f"{prefix}: the values add up to {got}, not {want}"
    times.sort()
    at = lambda q: times[min(int(len(times) * q), len(times) - 1)]
    return {f"{prefix}_qps": len(times) / took, f"{prefix}_p50_s": at(0.5), f"{prefix}_p99_s": at(0.99)}


def lookup(conn, sql, i, times):
    start = time.perf_counter()
    (v,) = conn.execute(sql, (i,)).fetchone()
    times.append(time.perf_counter() - start)
    return v


def one_at_a_time(dsn, sql, keys):
    with psycopg.connect(dsn, autocommit=True) as conn:
        times = []
        start = time.perf_counter()
        got = sum(lookup(conn, sql, i, times) for i in keys)
        return time.perf_counter() - start, times, got


def on_threads(dsn, sql, keys, n):
    conns = queue.Queue()
    for _ in range(n):
        conns.put(psycopg.connect(dsn, autocommit=True))
    times = []  # list.append is atomic under the GIL

    def fetch(i):
        conn = conns.get()
        try:
            return lookup(conn, sql, i, times)
        finally:
            conns.put(conn)

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            start = time.perf_counter()
            got = sum(pool.map(fetch, keys))
            took = time.perf_counter() - start
    finally:
        while not conns.empty():
            conns.get().close()
    return took, times, got


async def gathered(dsn, sql, keys, n):
    pool = await asyncpg.create_pool(dsn, min_size=n, max_size=n)
    times = []

    async def fetch(i):
        async with pool.acquire() as conn:
            start = time.perf_counter()
            v = await conn.fetchval(sql, i)
            times.append(time.perf_counter() - start)
            return v

    try:
        start = time.perf_counter()
        got = sum(await asyncio.gather(*(fetch(i) for i in keys)))
        return time.perf_counter() - start, times, got
    finally:
        await pool.close()


def main(args):
    where = "FROM demo_items WHERE id"
    slow_from = f"FROM demo_items, pg_sleep({args.sleep}) WHERE id"
    jobs = [("fast", args.queries, where), ("slow", args.slow_queries, slow_from)]
    models, missing = {}, {}
    out = {}
    for job, n, clause in jobs:
        keys = ids(n)
        want = sum(value(i) for i in keys)
        if psycopg is not None:
            sql = f"SELECT value {clause} = %s"
            out |= figures(f"{job}_one", *one_at_a_time(args.dsn, sql, keys), want)
            out |= figures(f"{job}_threads", *on_threads(args.dsn, sql, keys, args.pool), want)
        if asyncpg is not None:
            sql = f"SELECT value {clause} = $1"
            out |= figures(f"{job}_pool", *asyncio.run(gathered(args.dsn, sql, keys, args.pool)), want)
    names = {
        "one": f"psycopg {getattr(psycopg, '__version__', '')}, one connection, one query at a time",
        "threads": f"psycopg {getattr(psycopg, '__version__', '')} + ThreadPoolExecutor({args.pool}), a connection per task",
        "pool": f"asyncpg {getattr(asyncpg, '__version__', '')}: create_pool({args.pool}) + asyncio.gather",
    }
    for field in out:
        models[field] = names[field.split("_")[1]]
    if psycopg is None:
        missing["psycopg"] = "pip install 'psycopg[binary]'"
    if asyncpg is None:
        missing["asyncpg"] = "pip install asyncpg"
    for name, pip in missing.items():
        print(f"database_server.py: {name} is not installed ({pip}): its designs did not run", file=sys.stderr)
    found = [p for p in ("psycopg", "asyncpg") if p not in missing]
    out["model"] = " and ".join(found) + " against PostgreSQL" if found else "nothing: neither psycopg nor asyncpg is installed"
    out["models"] = models
    out["missing"] = missing
    out["job"] = {
        "dsn": args.dsn,
        "queries": args.queries,
        "slow_queries": args.slow_queries,
        "sleep": args.sleep,
        "pool": args.pool,
    }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--slow-queries", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.005)
    parser.add_argument("--pool", type=int, default=10)
    print(json.dumps(main(parser.parse_args())))
