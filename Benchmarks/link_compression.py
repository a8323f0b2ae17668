#!/usr/bin/env python3
"""Bytes on the wire per raw byte for the peer link's compression options.

Reads a JSONL file of stored event lines (`incidentctl export > events.jsonl`), groups them into
peer `events` messages of about --sizes raw bytes each (`{"type":"events","events":[…]}\n`, as
PeerMessage encodes them), and sends the messages of one session through:

  - raw deflate (zlib, windowBits -15) at levels 1, 6 and 9, one stream per session, Z_SYNC_FLUSH
    after every message: what PeerDeflateEncoder does;
  - zstd streaming at levels 3, 9 and 19, one frame per session, a block flush after every
    message (needs the `zstandard` package from PyPI; skipped if it is not installed);
  - the same after removing from each event line the fields a receiver can derive
    ("id" from origin:seq, "prev" from the previous event's hash, "hash" by hashing), with the
    same events in each message.

Each flushed message is checked to inflate completely on its own, before the next is sent.
Prints a table: wire bytes / raw bytes (of the full lines), and the seconds the 2000-ish events
would take on a 64 kbit/s link. Only the standard library and zstandard.

  python3 Benchmarks/link_compression.py events.jsonl [--sizes 4096,16384,65536]

Events as measured for the peer-compression change (2000 generated events, one import request,
so one `sig` in the file; live traffic signs every commit and carries more `sig`s):

  swift build --product incidentd --product incidentctl
  .build/debug/incidentd --node-id gao --data-dir /tmp/cmpdata --listen 127.0.0.1:7693 \
      --peer-listen off --fsync never &
  .build/debug/incidentctl bench import --node 127.0.0.1:7693 --events 2000 --warmup 0
  .build/debug/incidentctl export --node 127.0.0.1:7693 > events.jsonl
  kill %1
"""

import argparse
import re
import sys
import zlib

try:
    import zstandard
except ImportError:  # reported in the output
    zstandard = None

LINK_BITS_PER_SECOND = 64_000
PREFIX = b'{"type":"events","events":['
SUFFIX = b"]}\n"

# Stored lines start {"origin":"…","seq":N,"id":"…","prev":"…",… and end …,"hash":"<64 hex>"}
# or …,"hash":"…","sig":"…"}; anchoring keeps a "hash" or "id" inside "data" untouched.
ID_PREV = re.compile(rb'^(\{"origin":"[^"]*","seq":\d+),"id":"[^"]*"(?:,"prev":"[0-9a-f]*")?')
HASH = re.compile(rb',"hash":"[0-9a-f]{64}"(?=(?:,"sig":"[^"]*")?\}$)')


def strip_derivable(line):
    stripped, n1 = ID_PREV.subn(rb"\1", line, count=1)
    stripped, n2 = HASH.subn(b"", stripped, count=1)
    if n1 != 1 or n2 != 1:
        raise ValueError("unexpected event line layout: %r" % line[:120])
    return stripped


def group(lines, target):
    """Consecutive lines per message, about `target` raw bytes each (at least one line)."""
    groups, current, size = [], [], len(PREFIX) + len(SUFFIX)
    for i, line in enumerate(lines):
        if current and size + len(line) + 1 > target:
            groups.append(current)
            current, size = [], len(PREFIX) + len(SUFFIX)
        current.append(i)
        size += len(line) + 1
    if current:
        groups.append(current)
    return groups


def messages(lines, groups):
    return [PREFIX + b",".join(lines[i] for i in g) + SUFFIX for g in groups]


def deflate_wire(msgs, level):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
    d = zlib.decompressobj(-15)
    wire = 0
    for m in msgs:
        out = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        if d.decompress(out) != m:
            raise AssertionError("a sync-flushed message did not inflate on its own")
        wire += len(out)
    return wire


def zstd_wire(msgs, level):
    co = zstandard.ZstdCompressor(level=level).compressobj()
    do = zstandard.ZstdDecompressor().decompressobj()
    wire = 0
    for m in msgs:
        out = co.compress(m) + co.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        if do.decompress(out) != m:
            raise AssertionError("a block-flushed message did not decompress on its own")
        wire += len(out)
    return wire


def label(size):
    return "~%d KiB" % (size // 1024) if size >= 1024 else "~%d B" % size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("--sizes", default="4096,16384,65536", help="target raw message sizes in bytes")
    args = ap.parse_args()
    with open(args.jsonl, "rb") as f:
        lines = [l.rstrip(b"\r\n") for l in f if l.strip()]
    stripped = [strip_derivable(l) for l in lines]
    sizes = [int(s) for s in args.sizes.split(",")]

    codecs = [("deflate", lvl, deflate_wire) for lvl in (1, 6, 9)]
    if zstandard is not None:
        codecs += [("zstd", lvl, zstd_wire) for lvl in (3, 9, 19)]

    print("%d event lines, %d bytes (%.0f bytes/event); derivable fields removed: %d bytes (%.1f%%)"
          % (len(lines), sum(len(l) + 1 for l in lines), sum(len(l) + 1 for l in lines) / len(lines),
             sum(len(l) + 1 for l in stripped), 100.0 * sum(len(l) + 1 for l in stripped) / sum(len(l) + 1 for l in lines)))
    if zstandard is None:
        print("zstandard is not installed (pip install zstandard): zstd rows skipped")
    else:
        print("zstandard %s" % zstandard.__version__)
    print()
    print("wire/raw: bytes on the wire per raw byte of the full messages; s@64k: seconds on a 64 kbit/s link")
    print()
    print("| codec | level | message | messages | raw bytes | wire/raw | s@64k | stripped: wire/raw | s@64k |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        groups = group(lines, size)
        full = messages(lines, groups)
        less = messages(stripped, groups)
        raw = sum(len(m) for m in full)
        avg = raw / len(full)
        print("| none | - | %s (avg %.1f KiB) | %d | %d | 1.000 | %.1f | %.3f | %.1f |"
              % (label(size), avg / 1024, len(full), raw, raw * 8 / LINK_BITS_PER_SECOND,
                 sum(len(m) for m in less) / raw, sum(len(m) for m in less) * 8 / LINK_BITS_PER_SECOND))
        for name, level, fn in codecs:
            w_full, w_less = fn(full, level), fn(less, level)
            print("| %s | %d | %s | %d | %d | %.3f | %.1f | %.3f | %.1f |"
                  % (name, level, label(size), len(full), raw, w_full / raw, w_full * 8 / LINK_BITS_PER_SECOND,
                     w_less / raw, w_less * 8 / LINK_BITS_PER_SECOND))
    # Reference: one deflate stream over everything, no flush at all (the flush-free lower bound).
    blob = b"".join(messages(lines, group(lines, sizes[-1])))
    one = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
    n = len(one.compress(blob) + one.flush(zlib.Z_FINISH))
    print()
    print("reference: deflate 6, one stream, no per-message flush: wire/raw %.3f" % (n / len(blob)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
