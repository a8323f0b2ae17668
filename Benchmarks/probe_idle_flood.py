#!/usr/bin/env python3
"""Idle-connection flood against a running node's client port (docs/SECURITY.md, "Connection floods").

Opens N connections that never send a byte (they never authenticate), keeps them open, then
measures how often a real client gets an answer: M times it connects, authenticates when a token
is given (else relies on anonymous hq on loopback), asks `status` and waits for the answer.
With --refill, each idle connection the node pushes out is opened again before the next
request, so the flood stays at N. Standard library only.

    python3 Benchmarks/probe_idle_flood.py --node 127.0.0.1:7400 --idle 64 --requests 20
"""
import argparse
import json
import socket
import sys
import time

from probe_common import host_port



def open_idle(addr):
    s = socket.create_connection(addr, timeout=5)
    s.setblocking(False)
    return s


def alive(s):
    """Whether the node still holds the idle connection (no answer, no close)."""
    try:
        data = s.recv(4096)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False if data == b"" or data else True


def real_request(addr, token, timeout):
    start = time.monotonic()
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            f = s.makefile("rwb")
            if token:
                f.write(json.dumps({"op": "auth", "token": token}).encode() + b"\n")
                f.flush()
                answer = json.loads(f.readline() or b"{}")
                if not answer.get("ok", False):
                    return False, (answer.get("error") or {}).get("code", "closed"), time.monotonic() - start
            f.write(b'{"op":"status"}\n')
            f.flush()
            answer = json.loads(f.readline() or b"{}")
            ok = answer.get("ok", False) and "node" in answer
            return ok, None if ok else (answer.get("error") or {}).get("code", "closed"), time.monotonic() - start
    except (OSError, ValueError) as e:
        return False, type(e).__name__, time.monotonic() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node", required=True, type=host_port, help="client address HOST:PORT of a running node")
    p.add_argument("--idle", type=int, default=64, help="idle connections to open (N)")
    p.add_argument("--requests", type=int, default=20, help="real client requests to measure (M)")
    p.add_argument("--token", default=None, help="client token (default: anonymous, loopback only)")
    p.add_argument("--refill", action="store_true", help="reopen idle connections the node closes")
    p.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()

    idle = []
    refused_at_open = 0
    for _ in range(a.idle):
        try:
            idle.append(open_idle(a.node))
        except OSError:
            refused_at_open += 1
    time.sleep(0.2)
    held = sum(alive(s) for s in idle)
    print(f"opened {len(idle)} idle connections ({refused_at_open} failed to connect); node holds {held}")

    ok = 0
    errors = {}
    latencies = []
    for _ in range(a.requests):
        if a.refill:
            kept = [s for s in idle if alive(s)]
            for s in idle:
                if s not in kept:
                    s.close()
            while len(kept) < a.idle:
                try:
                    kept.append(open_idle(a.node))
                except OSError:
                    break
            idle = kept
        success, code, seconds = real_request(a.node, a.token, a.timeout)
        latencies.append(seconds)
        if success:
            ok += 1
        else:
            errors[code] = errors.get(code, 0) + 1
    still = sum(alive(s) for s in idle)
    latencies.sort()
    median = latencies[len(latencies) // 2] * 1000 if latencies else 0
    print(f"real client: {ok}/{a.requests} answered; errors: {errors or 'none'}; median {median:.1f} ms, max {latencies[-1] * 1000 if latencies else 0:.1f} ms")
    print(f"idle connections still held by the node: {still}/{len(idle)}")
    for s in idle:
        s.close()
    return 0 if ok == a.requests else 1


if __name__ == "__main__":
    sys.exit(main())
