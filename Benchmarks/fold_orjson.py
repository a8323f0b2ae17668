#!/usr/bin/env python3
"""Projection rebuild peer for Benchmarks/compare: parse an exported IncidentLog log (JSONL of
stored event lines, `incidentctl export`) with orjson and fold it into the views an operations
room reads, in plain Python dicts. Prints one JSON object: events, seconds, events_per_s and a
summary of the views (so the fold cannot be optimised away and its result can be checked).

Usage: fold_orjson.py LOG.jsonl [--limit N] [--views FILE]
"""
import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import datetime

import orjson

GROUPS = ("peacekeepers", "national_forces", "civilians", "armed_groups")
KINDS = ("killed", "wounded", "missing")


def parse_time(s):
    # RFC 3339 with a Z, as the node writes recorded_at.
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def fold(lines, limit):
    incidents = {}                      # incident_id -> state
    by_sector_category = defaultdict(int)
    casualties = {g: {k: 0 for k in KINDS} for g in GROUPS}
    casualties_by_sector = defaultdict(lambda: defaultdict(int))
    medevacs = {}                       # medevac_id -> {requested, dispatched, completed, priority, patients}
    medevac_minutes = []                # request -> completion
    consignments = {}                   # consignment_id -> state
    stations = {}                       # station_id -> status
    personnel_moved = defaultdict(int)  # sector -> people
    sightings = defaultdict(int)        # (sector, kind) -> count
    vector = {}                         # origin -> highest seq
    by_type = defaultdict(int)
    n = 0
    for line in lines:
        if n >= limit:
            break
        e = orjson.loads(line)
        n += 1
        t = e["type"]
        by_type[t] += 1
        sector = e["sector"]
        d = e["data"]
        origin = e["origin"]
        if e["seq"] > vector.get(origin, 0):
            vector[origin] = e["seq"]
        if t == "incident.reported":
            inc = incidents.get(d["incident_id"])
            if inc is None:
                incidents[d["incident_id"]] = {
                    "sector": sector, "category": d["category"], "status": "open", "verification": "unverified",
                    "confidence": d.get("confidence"), "occurred_at": d.get("occurred_at"),
                    "admin1": d.get("location", {}).get("admin1"), "reported_at": e["recorded_at"], "updates": 0,
                    "casualties": {g: 0 for g in GROUPS},
                }
                by_sector_category[(sector, d["category"])] += 1
        elif t == "incident.updated":
            inc = incidents.get(d["incident_id"])
            if inc is not None:
                inc["updates"] += 1
                ch = d.get("changes", {})
                if "confidence" in ch:
                    inc["confidence"] = ch["confidence"]
                if "category" in ch and ch["category"] != inc["category"]:
                    by_sector_category[(inc["sector"], inc["category"])] -= 1
                    inc["category"] = ch["category"]
                    by_sector_category[(inc["sector"], inc["category"])] += 1
        elif t == "incident.verified":
            inc = incidents.get(d["incident_id"])
            if inc is not None:
                inc["verification"] = d["status"]
        elif t == "incident.closed":
            inc = incidents.get(d["incident_id"])
            if inc is not None and inc["status"] == "open":
                inc["status"] = "closed"
        elif t == "incident.retracted":
            inc = incidents.get(d["incident_id"])
            if inc is not None and inc["status"] != "retracted":
                inc["status"] = "retracted"
                by_sector_category[(inc["sector"], inc["category"])] -= 1
        elif t == "casualties.reported":
            inc = incidents.get(d["incident_id"])
            for g in GROUPS:
                c = d.get(g)
                if not c:
                    continue
                for k in KINDS:
                    v = c.get(k, 0)
                    if v:
                        casualties[g][k] += v
                        casualties_by_sector[sector][g] += v
                        if inc is not None:
                            inc["casualties"][g] += v
        elif t == "medevac.requested":
            medevacs[d["medevac_id"]] = {
                "requested": e["recorded_at"], "priority": d["priority"], "patients": d["patients"],
                "incident_id": d.get("incident_id"), "sector": sector,
            }
        elif t == "medevac.dispatched":
            m = medevacs.get(d["medevac_id"])
            if m is not None:
                m["dispatched"] = e["recorded_at"]
                m["asset"] = d.get("asset")
        elif t == "medevac.completed":
            m = medevacs.get(d["medevac_id"])
            if m is not None and "completed" not in m:
                m["completed"] = e["recorded_at"]
                m["outcome"] = d.get("outcome")
                medevac_minutes.append((parse_time(m["completed"]) - parse_time(m["requested"])) / 60)
        elif t == "election.material.dispatched":
            consignments[d["consignment_id"]] = {"sector": sector, "items": d.get("items", {}), "delivered": False}
        elif t == "election.material.delivered":
            c = consignments.get(d["consignment_id"])
            if c is not None:
                c["delivered"] = True
                c["seals_intact"] = d.get("seals_intact")
        elif t == "election.personnel.moved":
            personnel_moved[sector] += d.get("count", 0)
        elif t == "polling_station.status":
            stations[d["station_id"]] = d["status"]
        elif t == "intel.sighting":
            sightings[(sector, d.get("kind"))] += 1

    status_counts = defaultdict(int)
    for inc in incidents.values():
        status_counts[inc["status"]] += 1
    mm = sorted(medevac_minutes)
    views = {
        "events": n,
        "by_type": dict(sorted(by_type.items())),
        "incidents": len(incidents),
        "incidents_by_status": dict(sorted(status_counts.items())),
        "open_by_sector_category": {f"{s}/{c}": v for (s, c), v in sorted(by_sector_category.items())},
        "casualties": casualties,
        "casualties_by_sector": {s: dict(v) for s, v in sorted(casualties_by_sector.items())},
        "medevacs": len(medevacs),
        "medevacs_completed": len(mm),
        "medevac_minutes_median": mm[len(mm) // 2] if mm else None,
        "consignments": len(consignments),
        "consignments_delivered": sum(1 for c in consignments.values() if c["delivered"]),
        "polling_stations": len(stations),
        "personnel_moved": dict(sorted(personnel_moved.items())),
        "sightings": sum(sightings.values()),
        "vector": vector,
    }
    return n, views


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--limit", type=int, default=1 << 62, help="fold at most this many events")
    ap.add_argument("--views", help="write the folded views here as JSON")
    a = ap.parse_args()
    with open(a.log, "rb") as f:  # warm the page cache: the peer reads from memory, as a node rebuilding would
        while f.read(1 << 24):
            pass
    # For reference: orjson.loads alone over the same lines, without the fold.
    start = time.perf_counter()
    parsed = 0
    with open(a.log, "rb", buffering=1 << 20) as f:
        loads = orjson.loads
        for line in f:
            if parsed >= a.limit:
                break
            loads(line)
            parsed += 1
    parse_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with open(a.log, "rb", buffering=1 << 20) as f:
        n, views = fold(f, a.limit)
    seconds = time.perf_counter() - start
    if a.views:
        with open(a.views, "w") as out:
            json.dump(views, out, indent=1, sort_keys=True)
    print(json.dumps({
        "events": n, "seconds": round(seconds, 4), "events_per_s": int(n / seconds) if seconds > 0 else 0,
        "parse_only_events_per_s": int(parsed / parse_seconds) if parse_seconds > 0 else 0,
        "incidents": views["incidents"], "medevacs_completed": views["medevacs_completed"],
        "orjson": orjson.__version__, "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
