"""Python twin of `multiprocessing-demo shared-memory`: the same 64 MiB handed to a child
as a message and as `shared_memory.SharedMemory`, and a `Value` counter bumped by children.

    python3 shared_memory.py [--size 67108864] [--children 4] [--times 1000]

The data is the Rust section's test data (a 251-byte block, repeated). A child process
takes it either way, says when it holds it, then checks every byte. Best of 3 each way.
As a message: `conn.send_bytes(data)`, raw bytes through a pipe (no pickling: the best
message, as the Rust side's byte channel). As shared memory: only the block's name is sent,
and the child maps the same pages.

Prints one JSON line (with "model", "models", the "job" it ran and the spread of the
hand-overs, their slowest over their fastest):
    message_s      send_bytes until the child holds the bytes, best of 3
    shared_s       send the block's name until the child has it mapped, best of 3
    build_s        SharedMemory(create=True) and copying the data in, best of 3
    speedup        message_s / shared_s
    final_count    Value("i", 0) after CHILDREN processes did TIMES locked increments each
"""
import argparse
import json
import time
from multiprocessing import Pipe, Process, Value, resource_tracker, shared_memory

def test_data(size):
    """The Rust side's `test_data`: the block `i * 31 % 251` for i in 0..251, repeated."""
    block = bytes(i * 31 % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


def attach(name):
    """Map an existing block without owning it: only its creator unlinks it. Python 3.13
    says so with track=False; before, the child's registration lands in the tracker this
    process shares with its parent (started before the child, see main), where the
    creator's unlink clears it."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)
    except TypeError:  # Python < 3.13
        return shared_memory.SharedMemory(name=name)


def reader(conn, size):
    expected = test_data(size)
    while (message := conn.recv()) is not None:
        if message == "message":
            data = conn.recv_bytes()
            conn.send(len(data))  # holding it
            conn.send(data == expected)
        else:
            shm = attach(message)
            view = shm.buf[:size]
            conn.send(len(view))  # mapped: holding it
            conn.send(view == expected)
            view.release()
            shm.close()


def hand_over(conn, send, size):
    start = time.perf_counter()
    send()
    held = conn.recv()
    took = time.perf_counter() - start
    assert held == size, f"the child holds {held} bytes, not {size}"
    assert conn.recv(), "the child read wrong bytes"
    return took


def bump(counter, times):
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def main(size, children, times):
    data = test_data(size)
    builds, blocks = [], []
    for _ in range(3):
        start = time.perf_counter()
        shm = shared_memory.SharedMemory(create=True, size=size)
        shm.buf[:size] = data  # one copy in
        builds.append(time.perf_counter() - start)
        blocks.append(shm)
    build = min(builds)
    shm = blocks[-1]

    conn, child_end = Pipe()  # the blocks above started the resource tracker: shared
    child = Process(target=reader, args=(child_end, size))
    child.start()
    by_message, by_shm = [], []
    for _ in range(3):
        by_message.append(hand_over(
            conn, lambda: (conn.send("message"), conn.send_bytes(data)), size))
        by_shm.append(hand_over(conn, lambda: conn.send(shm.name), size))
    conn.send(None)
    child.join()
    assert child.exitcode == 0, "the reader failed"
    for block in blocks:
        block.close()
        block.unlink()

    counter = Value("i", 0)
    bumpers = [Process(target=bump, args=(counter, times)) for _ in range(children)]
    for p in bumpers:
        p.start()
    for p in bumpers:
        p.join()
    assert counter.value == children * times, f"lost updates: {counter.value}"
    message, shared = min(by_message), min(by_shm)
    message_spread, shared_spread = max(by_message) / message, max(by_shm) / shared
    return {
        "model": "Connection.send_bytes; shared_memory.SharedMemory; Value with its lock",
        "models": {
            "message_s": "Pipe: Connection.send_bytes, raw bytes",
            "shared_s": "shared_memory.SharedMemory: its name sent, the child maps it",
            "build_s": "SharedMemory(create=True) and one copy in",
            "speedup": "send_bytes against SharedMemory",
            "final_count": "Value('i', 0), `with counter.get_lock()` in each child",
        },
        "job": {"size": size, "children": children, "times": times},
        "message_s": message,
        "message_s_spread": message_spread,
        "shared_s": shared,
        "shared_s_spread": shared_spread,
        "build_s": build,
        "build_s_spread": max(builds) / build,
        "speedup": message / shared,
        "speedup_spread": message_spread * shared_spread,
        "final_count": counter.value,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64 << 20)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--times", type=int, default=1000)
    args = parser.parse_args()
    if args.size < 1:
        parser.error("--size: at least 1 byte")
    print(json.dumps(main(args.size, args.children, args.times)))
