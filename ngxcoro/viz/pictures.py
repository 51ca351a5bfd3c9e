"""The stepper's pictures: one graph per step, drawn in windows.

A run may have thousands of steps; drawing every one before the stepper
opens took minutes.  `Pictures(snapshots)` makes the run's universe once
(every node the run will ever draw, so the layout holds still) and draws a
step's graph when asked: `precompute()` the first PRECOMPUTED steps when the
stepper opens (they travel with the page, so an exported notebook shows
them), `window(k)` the WINDOW steps from step k on when the browser asks
the live kernel for a step it has no picture of.

The precomputed SVGs go to the browser packed (`pack_svgs`): each cut into
its node and edge groups, identical groups kept once, zlib'd and base64'd.
"""
from __future__ import annotations

import base64
import json
import re
import zlib

#: pictures drawn when a stepper opens (steps 0 .. PRECOMPUTED-1); the
#: others are drawn by the live kernel when the browser asks for them
PRECOMPUTED = 200
#: pictures drawn per request from the browser (step k and the ones after it)
WINDOW = 24


def _modules():
    from . import graph, render        # graphviz and friends: imported late on purpose
    return graph, render


class Pictures:
    """The graphs of one run's snapshots, drawn on demand."""

    def __init__(self, snaps):
        graph, _ = _modules()
        self.snaps = snaps
        self.universe = graph.universe(snaps) if snaps else None

    def __len__(self):
        return len(self.snaps)

    def dots(self, first, stop):
        """DOT text of steps first .. stop-1, each highlighted against the
        step before it; no caption (the stepper shows the explanation)."""
        graph, _ = _modules()
        stop = min(stop, len(self.snaps))
        if first >= stop:
            return []
        steps = self.snaps[max(0, first - 1):stop]
        prev = steps[0] if first else None
        out = []
        for s in steps[1:] if first else steps:
            out.append(graph.to_dot(s, prev, self.universe, caption=False))
            prev = s
        return out

    def svgs(self, first, stop):
        """SVG text of steps first .. stop-1 (identical graphs drawn once)."""
        _, render = _modules()
        return [_trim_svg(s) for s in render.svgs(self.dots(first, stop))]

    def precompute(self, cap=PRECOMPUTED):
        """(pool, index per step) for steps 0 .. cap-1: the pool holds each
        distinct SVG once, in order of first use (the same run gives the
        same pool)."""
        dots = self.dots(0, cap)
        unique = list(dict.fromkeys(dots))
        _, render = _modules()
        pool = [_trim_svg(s) for s in render.svgs(unique)]
        pos = {d: i for i, d in enumerate(unique)}
        return pool, [pos[d] for d in dots]

    def window(self, k, size=WINDOW):
        """{step: svg} for steps k .. k+size-1 (those that exist)."""
        k = max(0, min(int(k), len(self.snaps) - 1))
        return dict(zip(range(k, k + size), self.svgs(k, k + size)))


def graph_dots(snaps):
    """One DOT text per snapshot, with one universe for the run."""
    return Pictures(snaps).dots(0, len(snaps))


def graph_svgs(snaps):
    """Every snapshot's SVG, deduplicated: (pool, index per snapshot)."""
    return Pictures(snaps).precompute(len(snaps))


# a graph's SVG is a head, one <g> per node / edge / cluster, and a tail
_PIECE = re.compile(r'(?=<g id="[^"]*" class="(?:node|edge|cluster)[^"]*">)')


def intern(pool, index, key, value):
    """The place of `key` in `pool`; `value` is appended the first time."""
    if key not in index:
        index[key] = len(pool)
        pool.append(value)
    return index[key]


def pack_svgs(pool):
    """The SVG pool as one string for the browser: each SVG is cut into its
    node and edge groups, identical groups are kept once (from one step to
    the next most of the picture is unchanged), and the JSON
    {"pieces": [...], "svgs": [[piece, ...], ...]} is zlib-compressed and
    base64-encoded.  stepper.js undoes it with DecompressionStream.
    Deterministic: no timestamps, pieces in order of first use."""
    pieces, index = [], {}
    svgs = [[intern(pieces, index, p, p) for p in _PIECE.split(svg)] for svg in pool]
    raw = json.dumps({"pieces": pieces, "svgs": svgs}, separators=(",", ":"),
                     ensure_ascii=False).encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack_svgs(packed):
    """pack_svgs backwards (for tests and for anyone reading saved state)."""
    d = json.loads(zlib.decompress(base64.b64decode(packed)).decode("utf-8"))
    return ["".join(d["pieces"][k] for k in ks) for ks in d["svgs"]]


def _trim_svg(svg):
    """Drop the XML prolog, DOCTYPE and comments: not needed inline, and the
    Graphviz version must not leak into the saved state."""
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    return svg.strip()
