"""Python twin of `hybrid-demo database`: the same SQLite files the Rust section made (its
`items` table, WAL mode), the same load, from asyncio with the sqlite3 module, two ways:

  1. one database thread, as aiosqlite does it: a ThreadPoolExecutor(max_workers=1) whose
     thread owns the one connection; every query is `await loop.run_in_executor(db, ...)`;
  2. `await loop.run_in_executor(None, ...)`: the loop's default thread pool, one
     connection per pool thread (sqlite3 connections stay in the thread that made them).

W writer tasks insert R rows each while Q reader tasks count the rows K times each, all at
once; then every row is read back and checked, and T `SELECT 1` one after another give one
query's round trip. Each file's table is emptied first (the Rust side already checked its
rows), so the twin writes the very rows the Rust side wrote.

    python3 database.py --thread-db PATH --pool-db PATH
                        [--writers 8] [--rows 150] [--readers 4] [--reads 150] [--trips 300]

Prints one JSON line:
    thread_s, pool_s                the concurrent load on each design
    thread_qps, pool_qps            its queries per second
    thread_trip_s, pool_trip_s      one query's round trip on an idle database
    thread_rows, pool_rows          rows read back and checked (W x R)
    pool_connections                connections the default pool's threads opened
    model, models, job              the Python that ran, and the sizes and files it was given
"""
import argparse
import asyncio
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def open_db(path):
    # isolation_level=None: autocommit, one transaction per statement, like the Rust side.
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    assert mode == "wal", f"journal_mode is {mode}"
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Connections:
    """One connection per thread that asks, opened on its first query."""

    def __init__(self, path):
        self.path, self.local, self.opened = path, threading.local(), 0
        self.lock = threading.Lock()

    def get(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = open_db(self.path)
            with self.lock:
                self.opened += 1
        return conn


def payload(writer, seq):
    return f"writer {writer} row {seq}"


def insert(conns, writer, seq):
    conns.get().execute(
        "INSERT INTO items (writer, seq, payload) VALUES (?, ?, ?)",
        (writer, seq, payload(writer, seq)),
    )


def count(conns):
    return conns.get().execute("SELECT COUNT(*) FROM items").fetchone()[0]


def select_one(conns):
    return conns.get().execute("SELECT 1").fetchone()[0]


def all_rows(conns):
    return conns.get().execute("SELECT writer, seq, payload FROM items").fetchall()


def empty(conns):
    conns.get().execute("DELETE FROM items")


async def design(path, executor, args):
    loop = asyncio.get_running_loop()
    conns = Connections(path)

    def call(query, *params):
        return loop.run_in_executor(executor, query, conns, *params)

    await call(empty)

    async def writer(w):
        for seq in range(args.rows):
            await call(insert, w, seq)

    async def reader():
        seen = 0
        for _ in range(args.reads):
            now = await call(count)
            assert now >= seen, "a reader saw the row count go down"
            seen = now

    start = time.perf_counter()
    await asyncio.gather(
        *(writer(w) for w in range(args.writers)),
        *(reader() for _ in range(args.readers)),
    )
    took = time.perf_counter() - start

    rows = await call(all_rows)
    expected = {(w, s) for w in range(args.writers) for s in range(args.rows)}
    assert len(rows) == len(expected), f"{len(rows)} rows read back, {len(expected)} written"
    assert {(w, s) for w, s, _ in rows} == expected, "rows differ from those written"
    assert all(text == payload(w, s) for w, s, text in rows), "a row holds the wrong text"

    start = time.perf_counter()
    for _ in range(args.trips):
        assert await call(select_one) == 1
    trip = (time.perf_counter() - start) / args.trips

    queries = args.writers * args.rows + args.readers * args.reads
    return took, queries / took, trip, len(rows), conns.opened


async def main(args):
    one_thread = "asyncio + sqlite3, a ThreadPoolExecutor(1) owning one connection (aiosqlite's shape)"
    default_pool = "asyncio + sqlite3, run_in_executor(None, ...), a connection per pool thread"
    figures = {
        "model": "asyncio + the sqlite3 module (SQLite in this process)",
        "models": {
            **{f: one_thread for f in ("thread_s", "thread_qps", "thread_trip_s", "thread_rows")},
            **{f: default_pool for f in ("pool_s", "pool_qps", "pool_trip_s", "pool_rows", "pool_connections")},
        },
        "job": {
            "thread_db": args.thread_db,
            "pool_db": args.pool_db,
            "writers": args.writers,
            "rows": args.rows,
            "readers": args.readers,
            "reads": args.reads,
            "trips": args.trips,
        },
    }
    # Design 1: aiosqlite's shape, one thread that owns the connection.
    with ThreadPoolExecutor(max_workers=1) as db_thread:
        took, qps, trip, rows, _ = await design(args.thread_db, db_thread, args)
    figures.update(thread_s=took, thread_qps=qps, thread_trip_s=trip, thread_rows=rows)
    # Design 2: the loop's default executor (None), a connection per pool thread.
    took, qps, trip, rows, opened = await design(args.pool_db, None, args)
    figures.update(pool_s=took, pool_qps=qps, pool_trip_s=trip, pool_rows=rows)
    figures["pool_connections"] = opened
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--thread-db", required=True)
    parser.add_argument("--pool-db", required=True)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rows", type=int, default=150)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--reads", type=int, default=150)
    parser.add_argument("--trips", type=int, default=300)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
