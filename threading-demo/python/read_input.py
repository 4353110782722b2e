"""Python twin of `threading-demo read-input`: a thread reading lines into a queue.Queue
while a worker thread computes, and the main loop answering each line as it comes.

As in the Rust demo, nobody types: a "typist" writes L lines into a pipe, one every G
seconds, then closes it; the reader thread reads the pipe as it would read sys.stdin. The
typist is a child process, as a terminal is: a typist thread here would take the GIL to
write and hand it to the reader as it sleeps again, hiding the wait measured. Each line
carries the time it was written (time.perf_counter, the system's monotonic clock). The
worker sums squares in chunks for about B seconds (its chunk count calibrated here).
The reader, woken by the line, must take the GIL from the computing worker, which hands it
over every sys.getswitchinterval() (5 ms): that wait is in the delay measured, from the
line written to its answer.

    python3 read_input.py [--lines 8] [--gap 0.025] [--busy 0.4]

Prints one JSON line:
    worst_delay_s      the longest delay from a line written to its answer, while the worker computed
    mean_delay_s       the mean of those delays
    answered_working   lines answered while the worker computed
    work_s             how long the worker computed
    switch_s           sys.getswitchinterval()
    model, job         what ran, and the flags it was given
"""
import argparse
import json
import queue
import subprocess
import sys
import threading
import time

CHUNK = 100_000


def squares(start, stop):
    return sum(i * i for i in range(start, stop))


def answer(line, done, of):
    progress = f"worker: {done}/{of} chunks"
    try:
        n = int(line.strip())
    except ValueError:
        return f"{line.strip()!r} is not a number ({progress})"
    return f"{n} squared is {n * n} ({progress})"


TYPIST = """
import sys, time
lines, gap = sys.argv[1].split(","), float(sys.argv[2])
print("ready", flush=True)
for line in lines:
    time.sleep(gap)
    print(line, repr(time.perf_counter()), flush=True)
"""


def typed_by_nobody(lines, gap):
    """A child process writes `lines` into a pipe, one every `gap` seconds, each with the
    time it was written; returns the read end."""
    typist = subprocess.Popen(
        [sys.executable, "-c", TYPIST, ",".join(lines), repr(gap)],
        stdout=subprocess.PIPE,
        text=True,
    )
    typist.stdout.readline()  # "ready": the interpreter has started
    return typist.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--gap", type=float, default=0.025)
    parser.add_argument("--busy", type=float, default=0.4)
    args = parser.parse_args()

    def timed_chunk():
        start = time.perf_counter()
        squares(0, CHUNK)
        return time.perf_counter() - start

    chunks = max(4, round(args.busy / min(timed_chunk() for _ in range(3))))
    events = queue.Queue()

    def read_input(stream):
        for line in stream:  # blocks this thread only
            if not line.strip():
                break
            value, written_at = line.split()
            events.put(("line", value, float(written_at)))
        events.put(("eof", None, None))

    def work():
        total = 0
        for k in range(chunks):
            total += squares(k * CHUNK, (k + 1) * CHUNK)
            events.put(("progress", k + 1, None))
        events.put(("done", total, None))

    lines = ["3", "12", "x", "1000", "7", "65536", "42", "9"]
    lines = (lines * (args.lines // len(lines) + 1))[: args.lines]
    stream = typed_by_nobody(lines, args.gap)
    began = time.perf_counter()
    threading.Thread(target=read_input, args=(stream,), daemon=True).start()
    threading.Thread(target=work).start()

    done, total, input_open, delays, work_s = 0, None, True, [], None
    while input_open or total is None:  # the main loop: answer each line as it comes
        kind, value, written_at = events.get()
        if kind == "line":
            answer(value, done, chunks)
            delays.append((time.perf_counter() - written_at, total is None))
        elif kind == "eof":
            input_open = False
        elif kind == "progress":
            done = value
        else:
            total, work_s = value, time.perf_counter() - began

    n = chunks * CHUNK
    assert total == (n - 1) * n * (2 * n - 1) // 6, "the worker's total is wrong"
    assert len(delays) == args.lines, "a line went unanswered"
    working = [d for d, busy in delays if busy]
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(json.dumps({
        "worst_delay_s": max(working, default=0.0),
        "mean_delay_s": sum(working) / len(working) if working else 0.0,
        "answered_working": len(working),
        "work_s": work_s,
        "switch_s": sys.getswitchinterval(),
        "model": "threading.Thread reading a pipe (a child process typing) into queue.Queue,"
        " a CPU-bound worker thread"
        + (" (GIL)" if gil else " (free-threaded, no GIL)"),
        "job": {"lines": args.lines, "gap": args.gap, "busy": args.busy},
    }))


if __name__ == "__main__":
    main()
