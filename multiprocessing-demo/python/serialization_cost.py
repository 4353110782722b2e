"""Python twin of `multiprocessing-demo serialization-cost`: a list of records sent to a
child process four ways; the child decodes them and sends back a checksum.

    python3 serialization_cost.py [--records 50000]

The ways, each timed from the start of encoding to the child's checksum back:
    json     json.dumps (an object per record) -> bytes through the Queue -> json.loads
    pickle   q.put(readings): pickled by the Queue, unpickled by the child
    flat     struct.pack("<IQd") per record -> bytes through the Queue -> struct.iter_unpack
    shared   the flat bytes in a SharedMemory block; only its name is sent, the child reads
             the records in place

Prints one JSON line (with "model", "models" and the "job" it ran):
    json_s, pickle_s, flat_s, shared_s         seconds for each way
    json_bytes, pickle_bytes, flat_bytes       bytes each way puts on the wire
"""
import argparse
import json
import pickle
import struct
import time
from array import array
from multiprocessing import Process, Queue, resource_tracker, shared_memory
from typing import NamedTuple

RECORD = struct.Struct("<IQd")  # 20 bytes: sensor, time_us, value
MASK = (1 << 64) - 1


class Reading(NamedTuple):
    sensor: int
    time_us: int
    value: float


def checksum(sensors, times, values):
    """count, and the wrapping u64 sums of sensors, times and the values' bits."""
    bits = array("Q", array("d", values).tobytes())
    return (len(sensors), sum(sensors) & MASK, sum(times) & MASK, sum(bits) & MASK)


def checksum_flat(buf):
    sensors, times, values = zip(*RECORD.iter_unpack(buf))
    return checksum(sensors, times, values)


def checksum_records(records):
    return checksum([r[0] for r in records], [r[1] for r in records], [r[2] for r in records])


def attach(name):
    """Map an existing block without owning it: only its creator unlinks it. Python 3.13
    says so with track=False; before, the child's registration lands in the tracker this
    process shares with its parent (started before the child, see main), where the
    creator's unlink clears it."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)
    except TypeError:  # Python < 3.13
        return shared_memory.SharedMemory(name=name)


def decoder(inbox, replies):
    while (message := inbox.get()) is not None:
        way, payload = message
        if way == "ping":
            sum_ = None
        elif way == "json":
            sum_ = checksum_records([Reading(**r) for r in json.loads(payload)])
        elif way == "pickle":
            sum_ = checksum_records(payload)  # the Queue unpickled it
        elif way == "flat":
            sum_ = checksum_flat(payload)
        else:
            name, size = payload
            shm = attach(name)
            sum_ = checksum_flat(shm.buf[:size])  # read in place (the block may be larger)
            shm.close()
        replies.put(sum_)


def main(n):
    readings = [Reading(i % 64, i, i * 0.5) for i in range(n)]
    want = checksum_records(readings)
    inbox, replies = Queue(), Queue()
    resource_tracker.ensure_running()  # before the child starts, so that it shares it
    child = Process(target=decoder, args=(inbox, replies))
    child.start()
    inbox.put(("ping", None))  # the Queue's feeder thread and the child are up
    assert replies.get(timeout=30) is None
    figures = {}
    blocks = []

    def send(way, encode):
        start = time.perf_counter()
        payload, size = encode()
        inbox.put((way, payload))
        got = replies.get(timeout=30)
        figures[f"{way}_s"] = time.perf_counter() - start
        assert got == want, f"{way}: the child got different data"
        return size

    def as_json():
        text = json.dumps([r._asdict() for r in readings]).encode()
        return text, len(text)

    def as_flat():
        flat = b"".join(RECORD.pack(*r) for r in readings)
        return flat, len(flat)

    def as_shared():
        flat, size = as_flat()
        shm = shared_memory.SharedMemory(create=True, size=size)
        shm.buf[:size] = flat
        blocks.append(shm)
        return (shm.name, size), 0

    figures["json_bytes"] = send("json", as_json)
    send("pickle", lambda: (readings, 0))
    figures["pickle_bytes"] = len(pickle.dumps(readings))  # not timed: what the Queue sent
    figures["flat_bytes"] = send("flat", as_flat)
    send("shared", as_shared)
    inbox.put(None)
    child.join()
    assert child.exitcode == 0, "the decoder failed"
    for shm in blocks:
        shm.close()
        shm.unlink()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    if args.records < 1:
        parser.error("--records: at least 1")
    figures = main(args.records)
    print(json.dumps({
        "model": "multiprocessing.Queue to a Process, four encodings",
        "models": {
            "json_s": "json.dumps -> Queue.put -> json.loads",
            "pickle_s": "Queue.put(readings): pickled and unpickled",
            "flat_s": "struct.pack per record -> Queue.put -> struct.iter_unpack",
            "shared_s": "struct.pack into shared_memory.SharedMemory; its name through the Queue",
            "json_bytes": "json.dumps",
            "flat_bytes": "struct.pack",
        },
        "job": {"records": args.records},
        **figures,
    }))
