"""Python twin of `asyncio-demo many-connections`: an asyncio echo server and N clients
connected to it at the same time, each side in its own process, memory measured.

    python3 many_connections.py [--connections 10000] [--connecting 256]

The server is `asyncio.start_server(handle)` in a child process (this file with --serve);
the clients are `asyncio.open_connection` in this one, at most CONNECTING opening at once
(an asyncio.Semaphore). Each client sends its number, checks the echo, and stays open
until every client is connected. Both processes raise their open-files limit to the hard
limit first (`ulimit -n`): every connection is a file descriptor at each end.

Prints one JSON line:
    model                 the Python model that ran
    job                   the sizes it ran: connections, connecting
    connected             clients whose echo came back right
    max_live              the most connections inside the server's handler at once
    connect_s             seconds to connect all of them (and check every echo)
    server_peak_bytes     the server process's peak resident memory (Linux: VmHWM)
    clients_peak_bytes    the clients process's peak resident memory
    both_peak_bytes       the two added
    per_connection_bytes  both processes' growth over their memory before, per connection
"""
import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time


def rss_bytes(field):
    """VmRSS (now) or VmHWM (the peak) of this process, from /proc; elsewhere the peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def serve():
    live = most = 0

    async def handle(reader, writer):
        nonlocal live, most
        live += 1
        most = max(most, live)
        try:
            while data := await reader.read(64):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            live -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", f"baseline {rss_bytes('VmRSS:')}", sep="\n", flush=True)
    # Serve until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    print(f"max_live {most}", f"peak {rss_bytes('VmHWM:')}", sep="\n", flush=True)


async def client(port, i, connecting):
    async with connecting:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(i.to_bytes(8, "little"))
    await writer.drain()
    echo = await reader.readexactly(8)
    assert int.from_bytes(echo, "little") == i, f"client {i} got a wrong echo"
    return writer


async def connect_all(port, n, at_once):
    connecting = asyncio.Semaphore(at_once)
    start = time.perf_counter()
    writers = await asyncio.gather(*(client(port, i, connecting) for i in range(n)))
    took = time.perf_counter() - start
    peak = rss_bytes("VmHWM:")
    for writer in writers:  # every client closes its connection
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    return len(writers), took, peak


def read_value(stream, key):
    line = stream.readline().split()
    assert line and line[0] == key, f"expected a '{key}' line from the server, got {line}"
    return int(line[1])


def main(n, at_once):
    server = subprocess.Popen([sys.executable, __file__, "--serve"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = read_value(server.stdout, "port")
        server_base = read_value(server.stdout, "baseline")
        base = rss_bytes("VmRSS:")
        connected, took, peak = asyncio.run(connect_all(port, n, at_once))
        server.stdin.close()  # tells the server to stop
        max_live = read_value(server.stdout, "max_live")
        server_peak = read_value(server.stdout, "peak")
        assert server.wait(timeout=30) == 0, "the server failed"
    finally:
        if server.poll() is None:
            server.kill()
    assert connected == n, f"only {connected} of {n} echoes checked"
    grown = max(server_peak - server_base, 0) + max(peak - base, 0)
    return {
        "model": "asyncio.start_server + asyncio.open_connection, each side in its own process",
        "job": {"connections": n, "connecting": at_once},
        "connected": connected,
        "max_live": max_live,
        "connect_s": took,
        "server_peak_bytes": server_peak,
        "clients_peak_bytes": peak,
        "both_peak_bytes": server_peak + peak,
        "per_connection_bytes": grown / n,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--connecting", type=int, default=256)
    parser.add_argument("--serve", action="store_true", help="be the echo server")
    args = parser.parse_args()
    fds = raise_fd_limit()
    if args.serve:
        asyncio.run(serve())
    else:
        if args.connections + 32 > fds:
            parser.error(f"only {fds} open files allowed (ulimit -n): too few for "
                         f"{args.connections} connections")
        print(json.dumps(main(args.connections, args.connecting)))
