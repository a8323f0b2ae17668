#!/usr/bin/env python3
"""Sends lines built to make a JSON parser work hard to a running incidentd and measures them.

Starts nothing: point it at a node that runs (a debug build is fine).

    python3 Benchmarks/probe_hostile_lines.py --node 127.0.0.1:7400 --peer 127.0.0.1:7401 [--token T]

Each hostile line is one JSON object of many distinct keys (~1 MiB, ~85,000 keys):
  1. client port, before authentication, holding "auth" (once parsed twice on an event loop);
  2. client port, after authentication (--token, or anonymous on loopback);
  3. peer port, as the first line (a hello).
For each it prints the time from the first byte sent to the node's answer, the answer, and the
slowest and median `status` latency of another client polling every 20 ms meanwhile.
Python standard library only.
"""
import argparse
import json
import socket
import statistics
import threading
import time

from probe_common import host_port, Lines



def many_keys(prefix, size):
    parts = [prefix]
    n = len(prefix)
    i = 0
    while n < size:
        member = ',"k%d":0' % i
        parts.append(member)
        n += len(member)
        i += 1
    parts.append("}\n")
    return "".join(parts).encode(), i



def send_reading(sock, data, is_answer, timeout=120.0):
    """Writes `data` while reading lines, until one matches `is_answer` or the node closes.
    Returns (seconds to the answer, the lines read)."""
    sock.setblocking(False)
    start = time.monotonic()
    sent, buf, lines = 0, b"", []
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while time.monotonic() - start < timeout:
        for key, events in sel.select(1.0):
            if events & selectors.EVENT_READ:
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    chunk = None
                except ConnectionResetError:
                    return time.monotonic() - start, lines
                if chunk == b"":
                    return time.monotonic() - start, lines
                if chunk:
                    buf += chunk
                    while b"\n" in buf:
                        line, _, buf = buf.partition(b"\n")
                        lines.append(line)
                        if is_answer(line):
                            return time.monotonic() - start, lines
            if events & selectors.EVENT_WRITE and sent < len(data):
                try:
                    sent += sock.send(data[sent : sent + 65536])
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    sel.modify(sock, selectors.EVENT_READ)
            elif sent >= len(data):
                sel.modify(sock, selectors.EVENT_READ)
    return None, lines


class StatusPoller(threading.Thread):
    def __init__(self, node, token):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(node)
        self.lines = Lines(self.sock, timeout=60.0)
        if token:
            self.sock.sendall((json.dumps({"op": "auth", "token": token}) + "\n").encode())
            self.lines.read()
        self.latencies = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            self.sock.sendall(b'{"op":"status"}\n')
            if self.lines.read() is None:
                break
            self.latencies.append(time.monotonic() - start)
            time.sleep(0.02)


def code_of(line):
    try:
        value = json.loads(line)
    except ValueError:
        return line[:80]
    if isinstance(value, dict):
        if isinstance(value.get("error"), dict):
            return value["error"].get("code")
        if value.get("type") == "error":
            return value.get("code")
        if "type" in value:
            return value["type"]
        if value.get("ok") is True:
            return "ok"
    return str(value)[:80]


def probe(name, node, token, action):
    poller = StatusPoller(node, token)
    poller.start()
    time.sleep(0.2)
    took, answer = action()
    time.sleep(0.2)
    poller.stop.set()
    poller.join(5)
    lat = poller.latencies or [float("nan")]
    took_text = "no answer" if took is None else "%.3f s" % took
    print(
        "%-34s answered %-10s -> %-22s status: %d answered, slowest %.1f ms, median %.1f ms"
        % (name, took_text, answer, len(poller.latencies), max(lat) * 1000, statistics.median(lat) * 1000)
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node", required=True, type=host_port, help="client address HOST:PORT")
    ap.add_argument("--peer", type=host_port, help="peer address HOST:PORT")
    ap.add_argument("--token", help="an hq (or any) token, when the node requires one")
    ap.add_argument("--bytes", type=int, default=(1 << 20) - 64, help="size of each hostile line (default just under 1 MiB)")
    args = ap.parse_args()

    pre_auth, keys = many_keys('{"op":"auth","token":"x"', args.bytes)
    print("hostile lines: %d bytes, %d distinct keys" % (len(pre_auth), keys))

    def client_before_auth():
        with socket.create_connection(args.node) as s:
            return lambda_answer(send_reading(s, pre_auth, lambda l: True))

    def client_after_auth():
        line, _ = many_keys('{"op":"status"', args.bytes)
        with socket.create_connection(args.node) as s:
            if args.token:
                s.sendall((json.dumps({"op": "auth", "token": args.token}) + "\n").encode())
                Lines(s, timeout=60.0).read()
            return lambda_answer(send_reading(s, line, lambda l: True))

    def peer_hello():
        line, _ = many_keys('{"type":"hello"', args.bytes)
        with socket.create_connection(args.peer) as s:
            return lambda_answer(send_reading(s, line, lambda l: b'"type":"error"' in l))

    def lambda_answer(result):
        took, lines = result
        codes = [code_of(l) for l in lines]
        return took, ",".join(c for c in codes if c) or "(closed)"

    probe("client, before auth", args.node, args.token, client_before_auth)
    probe("client, after auth", args.node, args.token, client_after_auth)
    if args.peer:
        probe("peer, as hello", args.node, args.token, peer_hello)


if __name__ == "__main__":
    main()
