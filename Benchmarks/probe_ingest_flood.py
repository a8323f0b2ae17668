#!/usr/bin/env python3
"""Floods a running incidentd's client `ingest` with unsigned chained events and reports its RSS.

Starts nothing: point it at a node that runs and trusts ORIGIN's key (a debug build is fine).

    python3 Benchmarks/probe_ingest_flood.py --node 127.0.0.1:7400 --origin gao \
        [--pid PID] [--connections 12] [--mib 24] [--token T] [--bundle FILE]

Unsigned events need no key: an event's `hash` is the SHA-256 of its own bytes, and an unsigned
event of a trusted origin is held until the signed event that ends its run arrives. So the probe
writes ORIGIN's events 1, 2, 3 … chained by `prev`, never signed (or, with --bundle, the lines
of a bundle from `incidentctl export --bundle` with their `sig` removed, which leaves their hashes
valid). Each of --connections connections sends --mib MiB of them in ~900 KiB `ingest` requests
and stays open until all have sent theirs; then all close.

It prints what the node answered (pending, refused codes, skipped) and, with --pid (the node's
process id, on this machine), the node's RSS before, at its peak and 3 s after the connections
closed. A node that bounds what a connection holds refuses the run `unsigned_run_too_long` after
a few MiB and skips the rest; RSS comes back near its baseline after the close.
Python standard library only.
"""
import argparse
import datetime
import hashlib
import json
import re
import socket
import threading
import time

from probe_common import host_port, Lines



def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def generated_lines(origin, total_bytes, padding=4000):
    """ORIGIN's events 1…n, unsigned and chained, about `total_bytes` of lines in all."""
    recorded = datetime.datetime(2025, 11, 29, tzinfo=datetime.timezone.utc)
    recorded_at = recorded.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    wall = int(recorded.timestamp() * 1000)
    origin_json = json.dumps(origin)
    filler = "x" * padding
    lines, prev, size, seq = [], None, 0, 0
    while size < total_bytes:
        seq += 1
        prefix = '{"origin":%s,"seq":%d,"id":"%s:%d"' % (origin_json, seq, origin, seq)
        if prev:
            prefix += ',"prev":"%s"' % prev
        prefix += ',"hlc":"%d-0","recorded_at":"%s","type":"incident.reported","sector":"east"' % (wall + seq, recorded_at)
        prefix += ',"data":{"incident_id":"flood-%d","note":"%s"}' % (seq, filler)
        digest = hashlib.sha256((prefix + "}").encode()).hexdigest()
        line = (prefix + ',"hash":"%s"}' % digest).encode()
        lines.append(line)
        prev = digest
        size += len(line)
    return lines


def bundle_lines(path):
    """A bundle's lines with their signatures removed (the hash does not cover `sig`)."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\n")
            if raw:
                out.append(re.sub(rb',"sig":"[^"]*"', b"", raw))
    return out


def requests_of(lines, limit=900 << 10):
    out, chunk, size = [], [], 0
    for line in lines:
        if chunk and size + len(line) > limit:
            out.append(b'{"op":"ingest","events":[' + b",".join(chunk) + b"]}\n")
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        out.append(b'{"op":"ingest","events":[' + b",".join(chunk) + b"]}\n")
    return out



def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True, help="the node's client API, HOST:PORT")
    parser.add_argument("--origin", default="gao", help="an origin the node trusts (default gao)")
    parser.add_argument("--pid", type=int, help="the node's process id, to read its RSS")
    parser.add_argument("--connections", type=int, default=12)
    parser.add_argument("--mib", type=int, default=24, help="MiB of unsigned events per connection")
    parser.add_argument("--token", help="an hq token (default: anonymous on loopback)")
    parser.add_argument("--bundle", help="use this bundle's lines, unsigned, instead of generated ones")
    args = parser.parse_args()

    lines = bundle_lines(args.bundle) if args.bundle else generated_lines(args.origin, args.mib << 20)
    requests = requests_of(lines)
    print("%d events, %d MiB, in %d requests per connection; %d connections"
          % (len(lines), sum(map(len, lines)) >> 20, len(requests), args.connections))

    baseline = rss_kib(args.pid) if args.pid else None
    peak = [baseline or 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            r = rss_kib(args.pid)
            if r:
                peak[0] = max(peak[0], r)
            time.sleep(0.05)

    if args.pid:
        threading.Thread(target=sample, daemon=True).start()

    results = []
    lock = threading.Lock()
    sent_all = threading.Barrier(args.connections)

    def client():
        sock = socket.create_connection(host_port(args.node))
        reader = Lines(sock)
        pending, codes, skipped, errors = 0, {}, 0, []
        if args.token:
            sock.sendall(b'{"op":"auth","token":%s}\n' % json.dumps(args.token).encode())
            reader.read()
        for request in requests:
            sock.sendall(request)
            answer = reader.read()
            if answer is None:
                errors.append("closed")
                break
            r = json.loads(answer)
            if not r.get("ok"):
                errors.append(r.get("error", {}).get("code"))
                continue
            pending = r.get("pending", 0)
            for x in r.get("refused", []):
                codes[x["code"]] = codes.get(x["code"], 0) + 1
            skipped += len(r.get("skipped", []))
        try:
            sent_all.wait(timeout=300)
        except threading.BrokenBarrierError:
            pass
        sock.close()
        with lock:
            results.append((pending, codes, skipped, errors))

    threads = [threading.Thread(target=client) for _ in range(args.connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    time.sleep(3)
    after = rss_kib(args.pid) if args.pid else None
    done.set()

    codes = {}
    for _, c, _, _ in results:
        for k, v in c.items():
            codes[k] = codes.get(k, 0) + v
    print("sent in %.1f s; held at the end (pending) per connection: %s" % (elapsed, sorted(r[0] for r in results)))
    print("refused: %s; skipped: %d; errors: %s" % (codes, sum(r[2] for r in results), [e for r in results for e in r[3]]))
    if args.pid:
        print("RSS: baseline %d MiB, peak %d MiB, 3 s after close %d MiB"
              % ((baseline or 0) >> 10, peak[0] >> 10, (after or 0) >> 10))


if __name__ == "__main__":
    main()
