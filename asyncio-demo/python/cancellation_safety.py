"""Python twin of `asyncio-demo cancellation-safety`: a read loop raced by a tick.

    python3 cancellation_safety.py [--lines 20] [--pause 0.006] [--tick 0.002]

A sender writes N lines over a local socket, every other one in two pieces `pause` apart.
The reader loops on `asyncio.wait_for(reader.readline(), timeout=tick)`: each timeout
cancels the pending `readline()` (CancelledError inside it) and counts a tick. The bytes
of a half line stay in the StreamReader's buffer, so no line is lost: Python's twin of
Rust's cancel-safe `Lines::next_line`, not of `read_line` in `select!`.

Prints one JSON line:
    sent     lines written
    lost     lines that never arrived whole
    ticks    timeouts that won the race
"""
import argparse
import asyncio
import json


def line(i):
    return f"line {i:03}"


async def send_lines(writer, count, pause):
    for i in range(count):
        text = (line(i) + "\n").encode()
        if i % 2 == 1:
            writer.write(text[:4])
            await writer.drain()
            await asyncio.sleep(pause)
            writer.write(text[4:])
        else:
            writer.write(text)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def read_lines(reader, tick):
    lines, ticks = [], 0
    while True:
        try:
            raw = await asyncio.wait_for(reader.readline(), timeout=tick)
        except asyncio.TimeoutError:
            ticks += 1  # readline() was cancelled; its half line is still in `reader`
            continue
        if not raw:
            break
        lines.append(raw.decode().rstrip("\n"))
    return lines, ticks


async def main(count, pause, tick):
    accepted = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(
        lambda r, w: accepted.set_result((r, w)), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    reader, their_writer = await accepted
    sending = asyncio.create_task(send_lines(writer, count, pause))
    lines, ticks = await read_lines(reader, tick)
    await sending
    their_writer.close()
    server.close()
    await server.wait_closed()
    lost = sum(1 for i in range(count) if line(i) not in lines)
    return lost, ticks


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.006)
    parser.add_argument("--tick", type=float, default=0.002)
    args = parser.parse_args()
    lost, ticks = asyncio.run(main(args.lines, args.pause, args.tick))
    print(json.dumps({
        "model": "asyncio streams: wait_for(reader.readline(), tick) in a loop",
        "job": {"lines": args.lines, "pause": args.pause, "tick": args.tick},
        "sent": args.lines,
        "lost": lost,
        "ticks": ticks,
    }))
