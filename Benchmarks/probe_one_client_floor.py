#!/usr/bin/env python3
"""What one client's durable append costs before any store logic: the floor under the 1-client row.

`Benchmarks/compare` holds one client's appends to a raw loop (write 510 bytes, fdatasync, again).
A node serves its client over TCP as well, so this probe adds the other half of the floor: a
minimal server in this process's child that reads a line, writes it and calls fdatasync, then
answers, with a blocking client one request at a time. It parses nothing, hashes nothing, signs
nothing and folds nothing: what is left is the loopback round trip with its two wake-ups, and
the disk. In one run, in this order:

  loop, append          the raw loop, the file growing (compare's "fdatasync" row)
  loop, preallocated    the raw loop over a file written and synced beforehand
  tcp, append           the minimal server, the file growing
  tcp, preallocated     the minimal server over a preallocated file (a node's segments are)
  node                  with --node: a blocking client appending one incident.reported per
                        request to a running node (started with fsync: always)

Each prints requests/s, p50 and p99, and its ratio to "loop, append". Files go in --dir (default:
the system's temporary directory), which should be on the disk the node writes to. Standard
library only.

    python3 Benchmarks/probe_one_client_floor.py --node 127.0.0.1:7400 --requests 10000
"""
import argparse
import os
import socket
import sys
import tempfile
import time

from probe_common import Lines, host_port, percentile

PAYLOAD = (b'{"pad":"' + b"x" * 499 + b'"}\n')[:510]
ANSWER = b'{"ok":true,"ids":["probe:1"]}\n'


class ProbeError(Exception):
    """A row could not be measured (no connection, a refused or missing answer)."""


def open_file(path, preallocated, size):
    """A file to append to: growing (O_APPEND), or written with zeros (not just fallocated: no
    extent conversion on the first write) and synced, then written from 0."""
    if not preallocated:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for off in range(0, size, 1 << 20):
        os.write(fd, bytes(min(1 << 20, size - off)))
    os.fsync(fd)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def timed(n, warmup, one):
    """Calls one() warmup times, then n times timed; (requests/s, sorted latencies in seconds)."""
    for i in range(warmup):
        one(i)
    latencies = []
    start = time.perf_counter()
    for i in range(warmup, warmup + n):
        t = time.perf_counter()
        one(i)
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - start
    latencies.sort()
    return n / seconds, latencies


def loop(directory, preallocated, n, warmup):
    path = os.path.join(directory, "floor-loop.dat")
    fd = open_file(path, preallocated, (n + warmup) * len(PAYLOAD))
    try:
        def one(_):
            os.write(fd, PAYLOAD)
            os.fdatasync(fd)
        return timed(n, warmup, one)
    finally:
        os.close(fd)
        os.remove(path)


def serve(listener, path, preallocated, size):
    """The minimal server (in a child process): line in, write + fdatasync, answer out."""
    fd = open_file(path, preallocated, size)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                os.write(fd, line + b"\n")
                os.fdatasync(fd)
                conn.sendall(ANSWER)
    finally:
        os.close(fd)
        os.remove(path)


def client_run(address, n, warmup, line_for):
    """A blocking client, one request in flight: (requests/s, sorted latencies)."""
    try:
        sock = socket.create_connection(address, timeout=30)
    except OSError as e:
        raise ProbeError(f"cannot connect to {address[0]}:{address[1]}: {e}")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lines = Lines(sock)
    try:
        def one(i):
            sock.sendall(line_for(i))
            answer = lines.read()
            if answer is None or not answer.startswith(b'{"ok":true'):
                raise ProbeError(f"refused: {(answer or b'connection closed')[:300]!r}")
        return timed(n, warmup, one)
    finally:
        sock.close()


def minimal_server(directory, preallocated, n, warmup):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address = listener.getsockname()
    path = os.path.join(directory, "floor-tcp.dat")
    child = os.fork()
    if child == 0:
        code = 0
        try:
            serve(listener, path, preallocated, (n + warmup + 16) * len(PAYLOAD))
        except BaseException as e:  # said here: os._exit leaves no traceback
            print(f"minimal server: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            code = 1
        finally:
            os._exit(code)
    listener.close()
    try:
        return client_run(address, n, warmup, lambda _: PAYLOAD)
    finally:
        os.waitpid(child, 0)


def incident(i):
    """One append of one incident.reported (EVENT-TYPES.md), about as long as the bench's."""
    return (
        '{"op":"append","events":[{"type":"incident.reported","sector":"east","data":{'
        f'"incident_id":"floor-{os.getpid()}-{i}","category":"ied","summary":"IED found on the road north of the '
        'camp, convoy halted","occurred_at":"2026-12-07T01:00:00Z","location":{"name":"Gao","lat":16.27,'
        '"lon":-0.04}}}]}\n'
    ).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--node", help="HOST:PORT of a running node's client port (fsync: always)")
    ap.add_argument("--requests", type=int, default=10000, help="timed requests per row (default 10000)")
    ap.add_argument("--warmup", type=int, default=500, help="untimed requests before each row (default 500)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the loop and the server write")
    a = ap.parse_args()
    if a.requests < 1 or a.warmup < 0:
        ap.error("--requests must be at least 1 and --warmup at least 0")
    if not os.path.isdir(a.dir) or not os.access(a.dir, os.W_OK):
        ap.error(f"--dir {a.dir}: not a directory this process can write in")

    rows = [
        ("loop, append", lambda: loop(a.dir, False, a.requests, a.warmup)),
        ("loop, preallocated", lambda: loop(a.dir, True, a.requests, a.warmup)),
        ("tcp, append", lambda: minimal_server(a.dir, False, a.requests, a.warmup)),
        ("tcp, preallocated", lambda: minimal_server(a.dir, True, a.requests, a.warmup)),
    ]
    if a.node:
        rows.append(("node", lambda: client_run(host_port(a.node), a.requests, a.warmup, incident)))
    base = None
    print(f"{'row':<20} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs loop, append':>16}")
    for name, run in rows:
        try:
            rate, latencies = run()
        except ProbeError as e:
            print(f"{name}: {e}", file=sys.stderr)
            return 1
        base = base or rate
        print(f"{name:<20} {rate:>10.0f} {percentile(latencies, 50) * 1e3:>8.3f} "
              f"{percentile(latencies, 99) * 1e3:>8.3f} {rate / base:>15.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
