"""A whole run on one picture: one lane per coroutine over the steps.

    >>> import ngxcoro
    >>> from ngxcoro.viz.timeline import timeline_svg
    >>> res = ngxcoro.run_lua("ngx.thread.spawn(function() ngx.sleep(0.1) end)", snapshots=True)
    >>> timeline_svg(res.snapshots).startswith("<svg")
    True

Hand-built SVG (no Graphviz).  The x axis is the step number, because virtual
time stands still for most steps; the ticks above the lanes say where virtual
time moves ("50 ms").  What a lane shows at each step:

=========  =================================================================
executing  it is cur_co_ctx with status running and not blocked in an API:
           Lua is running in it at this step (full height, bluish green)
blocked    status running but not executing and not posted: parked in an
           API (ngx.sleep, ngx.thread.wait, capture...) or waiting for
           its turn (pale green, half height; the API is written in it)
posted     in its request's posted_threads (orange, full height)
normal     it resumed another coroutine and waits for it (yellow)
suspended  coroutine.yield-ed, or created and never resumed (sky blue)
zombie     ended before its parent waited for it (reddish purple, hatched)
dead       a thin grey line
=========  =================================================================

Every state has its own colour (Okabe-Ito), its own height, and a word in the
segment when there is room and in the segment's tooltip (<title>), so it can
be read without colour.  Above the lanes: the phase (dashed lines where it
changes), virtual-time ticks, finalize_request marks with their rc, and a
lane for the main request's r->count.  The output is deterministic text:
coordinates are rounded, nothing depends on the clock or on ids.  The root
<svg> carries ``data-x0``, ``data-step-width`` and ``data-steps`` so a page can
draw its own cursor; ``cursor=k`` draws one at step k.
"""
from __future__ import annotations

from html import escape as _esc

from .i18n import word
from .labels import _CONTROL

from .palette import INK, KIND_TEXT, OKABE_ITO, STATUS_FILL
from .graph import CoNodes, _current_and_posted, node_names

__all__ = ["timeline_svg", "lane_states", "lane_runs", "STATE_STYLE"]

# state -> (fill, height as a share of the lane, label)
STATE_STYLE = {
    "executing": (OKABE_ITO["bluish_green"], 1.0, "executing"),
    "posted": (OKABE_ITO["orange"], 1.0, "posted"),
    "blocked": (STATUS_FILL["running"], 0.55, "blocked"),
    "normal": (OKABE_ITO["yellow"], 0.75, "normal"),
    "suspended": (OKABE_ITO["sky_blue"], 0.75, "suspended"),
    "zombie": (OKABE_ITO["reddish_purple"], 0.75, "zombie"),
    "dead": ("#9A9A9A", 0.12, "dead"),
}
PHASE_FILL = {"rewrite": "#F4F4F4", "access": "#E9E9E9", "content": "#FFFFFF"}
FONT = "Helvetica, Arial, sans-serif"

LABEL_W = 150          # the lane names
LANE_H = 18
LANE_GAP = 6
TOP = 78               # phases, time ticks, finalize marks, r->count lane


def _h(t):
    """XML-escaped; control characters (no XML at all) written \\xHH."""
    return _esc(str(t).translate(_CONTROL), quote=True)


def _width(text):
    """How many Latin letters wide `text` is (a CJK character is about two)."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


def _label(state):
    """A state's word in the widgets' language (i18n.py), e.g. "blocked"."""
    return word(state) if state in STATE_STYLE else state


def _f(x):
    """Coordinates as short, stable text."""
    x = round(x, 2)
    return str(int(x)) if x == int(x) else f"{x:.2f}".rstrip("0")


def _state(c, node, current, posted):
    st = c["status"]
    if st in ("dead", "zombie", "normal", "suspended"):
        return st
    if node in current and not c["waiting"]:
        return "executing"
    if node in posted:
        return "posted"
    return "blocked"


def lane_states(snapshots):
    """(lanes, states): lanes = [(node, name, kind)] in creation order (the
    last snapshot's coroutines); states[k][i] = (state, detail) of lane i at
    step k, or None before the coroutine exists.  (A steps x lanes table:
    timeline_svg uses lane_runs, which is linear.)"""
    lanes, runs, n = lane_runs(snapshots)
    states = [[None] * len(lanes) for _ in range(n)]
    for i, lane in enumerate(runs):
        for start, end, val in lane:
            for k in range(start, end):
                states[k][i] = val
    return lanes, states


def lane_runs(snapshots):
    """(lanes, runs, steps): lanes as lane_states has them; runs[i] =
    [(start, end_exclusive, (state, detail) or None)], lane i's states as
    runs of equal values (what _runs makes of lane_states' column i).

    Linear in (steps + changes) (trace.snapshot.walk): at a step only the
    lanes whose coroutine entry changed, and those that are or were the
    step before current or posted, are looked at; the others keep their
    state (it depends on nothing else)."""
    from ..trace.snapshot import walk
    names = CoNodes()
    opened = []                          # per lane: [(start, value)], a new one where it changes
    special = set()                      # lanes current or posted at the step before
    n = 0
    for k, s, changed in walk(snapshots):
        n = k + 1
        cos = s["coroutines"]
        if names.update(cos, changed):
            changed = range(max(len(cos), len(opened)))
        nodes, place = names.nodes, names.place
        current, posted = _current_and_posted(s, names.latest, nodes)
        now = {place[x] for x in current}
        now.update(place[x] for x in posted)
        for i in sorted(special.union(changed, now)):
            if i == len(opened):
                opened.append([(0, None)] if k else [])
            val = ((_state(cos[i], nodes[i], current, posted), cos[i]["waiting"] or "")
                   if i < len(cos) else None)
            lane = opened[i]
            if not lane or lane[-1][1] != val:
                lane.append((k, val))
        special = now
    if not n:
        return [], [], 0
    last = snapshots[-1]["coroutines"]
    lanes = [(x, c["name"], c["kind"]) for x, c in zip(node_names(last), last)]
    runs = []
    for lane in opened[:len(lanes)]:
        ends = [start for start, _ in lane[1:]] + [n]
        runs.append([(start, end, val) for (start, val), end in zip(lane, ends)])
    return lanes, runs, n


def _facts(snapshots):
    """What the timeline reads of each step besides the lanes: phase, t_ms,
    event, rc, data and the main request's r->count (one pass, no
    coroutine list copied)."""
    from ..trace.snapshot import walk
    out, last, count = [], None, None
    for _k, s, _changed in walk(snapshots):
        if s["requests"] is not last:        # a recorded run shares unchanged parts
            last = s["requests"]
            main = next((r for r in last if r["main"]), None)
            count = main["count"] if main is not None else None
        out.append({"phase": s["phase"], "t_ms": s["t_ms"], "event": s["event"], "rc": s["rc"],
                    "data": s.get("data"), "count": count})
    return out


def _runs(values):
    """[(start, end_exclusive, value)] for runs of equal values."""
    out, start = [], 0
    for k in range(1, len(values) + 1):
        if k == len(values) or values[k] != values[start]:
            out.append((start, k, values[start]))
            start = k
    return out


def _nice_step(n, width):
    """A step-tick spacing giving ticks at least ~40 px apart."""
    for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if k * width >= 40:
            return k
    return 10000


def timeline_svg(snapshots, cursor=None, title=None):
    """The run as an SVG document (text), one lane per coroutine."""
    n = len(snapshots)
    lanes, lane_rows, _ = lane_runs(snapshots)
    steps = _facts(snapshots)
    sw = min(14.0, max(1.0, 1100.0 / max(n, 1)))          # px per step
    x0 = LABEL_W
    plot_w = sw * n
    lanes_top = TOP + 4
    legend_y = lanes_top + len(lanes) * (LANE_H + LANE_GAP) + 14
    width = max(x0 + plot_w + 20, 830)
    height = legend_y + 40
    out = []
    a = out.append
    a(f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
      f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="{FONT}" font-size="11" '
      f'data-x0="{_f(x0)}" data-step-width="{_f(sw)}" data-steps="{n}" class="ngxcoro-timeline">')
    a('<defs><pattern id="ngxcoro-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
      'patternTransform="rotate(45)"><rect width="4" height="4" fill="#CC79A7"/>'
      '<line x1="0" y1="0" x2="0" y2="4" stroke="#FFFFFF" stroke-width="1.5"/></pattern></defs>')
    a(f'<rect x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="#FFFFFF"/>')
    a(f'<text x="8" y="16" font-weight="bold" fill="{INK}">{_h(title or word("timeline"))}'
      f'<tspan font-weight="normal" fill="#666666">{_h(word("timeline sub", n=n))}</tspan></text>')
    if n == 0:
        a("</svg>")
        return "\n".join(out) + "\n"

    def X(k):
        return x0 + k * sw

    plot_bottom = legend_y - 14
    # ---- phase bands and boundaries
    phases = [s["phase"] or "-" for s in steps]
    a('<g class="phases">')
    for start, end, ph in _runs(phases):
        a(f'<rect x="{_f(X(start))}" y="24" width="{_f((end - start) * sw)}" '
          f'height="{_f(plot_bottom - 24)}" fill="{PHASE_FILL.get(ph, "#FFFFFF")}"/>')
        if start:
            a(f'<line x1="{_f(X(start))}" y1="24" x2="{_f(X(start))}" y2="{_f(plot_bottom)}" '
              f'stroke="#666666" stroke-dasharray="4 3"/>')
        a(f'<text x="{_f(X(start) + 3)}" y="34" fill="#444444" font-style="italic">{_h(ph)}</text>')
    a("</g>")
    # ---- virtual time: a tick where t_ms moves, and at step 0
    a('<g class="time">')
    a(f'<text x="{_f(x0 - 6)}" y="48" text-anchor="end" fill="#666666">virtual time</text>')
    last_x = -1e9
    for k, s in enumerate(steps):
        if k == 0 or s["t_ms"] != steps[k - 1]["t_ms"]:
            x = X(k)
            a(f'<line x1="{_f(x)}" y1="40" x2="{_f(x)}" y2="{_f(plot_bottom)}" stroke="#B0B0B0" '
              f'stroke-width="0.8"/>')
            if x - last_x >= 38:
                a(f'<text x="{_f(x + 2)}" y="48" fill="#444444">{_h(s["t_ms"])} ms</text>')
                last_x = x
    a("</g>")
    # ---- the client's close (ngxcoro.run's abort_at): a red line through the lanes
    for k, s in enumerate(steps):
        if s["event"] == "client_close":
            x = X(k)
            a(f'<g class="client-close"><line x1="{_f(x)}" y1="24" x2="{_f(x)}" '
              f'y2="{_f(plot_bottom)}" stroke="{OKABE_ITO["vermillion"]}" stroke-width="1.5">'
              f'<title>{_h(word("client closed at", k=k, t=s["t_ms"]))}'
              f'</title></line><text x="{_f(x + 3)}" y="34" fill="{OKABE_ITO["vermillion"]}">'
              f'{_h(word("client closed"))}</text></g>')
    # ---- finalize_request marks
    a('<g class="finalize">')
    a(f'<text x="{_f(x0 - 6)}" y="62" text-anchor="end" fill="#666666">finalize_request</text>')
    last_x = -1e9
    for k, s in enumerate(steps):
        if s["event"] == "finalize_request":
            x = X(k) + sw / 2
            rc = s["rc"] or "?"
            short = rc.replace("NGX_", "")
            uri = (s.get("data") or {}).get("uri", "")
            a(f'<path d="M{_f(x - 4)},52 L{_f(x + 4)},52 L{_f(x)},58 Z" fill="{INK}">'
              f'<title>{_h(word("finalize tip", k=k, rc=rc, uri=uri))}</title></path>')
            if x - last_x >= 34:
                a(f'<text x="{_f(x)}" y="67" text-anchor="middle" font-size="9" fill="{INK}">'
                  f'{_h(short)}</text>')
                last_x = x
    a("</g>")
    # ---- r->count of the main request
    counts = [s["count"] for s in steps]
    a('<g class="count">')
    a(f'<text x="{_f(x0 - 6)}" y="{_f(TOP - 1)}" text-anchor="end" fill="#666666">r-&gt;count</text>')
    for start, end, cnt in _runs(counts):
        if cnt is None:
            continue
        x = X(start)
        a(f'<rect x="{_f(x)}" y="{_f(TOP - 10)}" width="{_f((end - start) * sw)}" height="12" '
          f'fill="none" stroke="#888888" stroke-width="0.6"/>')
        if (end - start) * sw >= 9:
            a(f'<text x="{_f(x + 2)}" y="{_f(TOP - 1)}" font-size="10" font-weight="bold" '
              f'fill="{INK}">{cnt}</text>')
    a("</g>")
    # ---- lanes
    a('<g class="lanes">')
    for i, (node, name, kind) in enumerate(lanes):
        y = lanes_top + i * (LANE_H + LANE_GAP)
        kind_text = _h(word(KIND_TEXT.get(kind, "coroutine")))
        a(f'<g class="lane" id="lane-{_h(node)}">')
        a(f'<text x="8" y="{_f(y + LANE_H - 5)}" fill="{INK}"><tspan font-weight="bold">{_h(name)}'
          f'</tspan><tspan font-size="9" fill="#666666"> {kind_text}</tspan></text>')
        a(f'<line x1="{_f(x0)}" y1="{_f(y + LANE_H)}" x2="{_f(x0 + plot_w)}" y2="{_f(y + LANE_H)}" '
          f'stroke="#E0E0E0"/>')
        for start, end, val in lane_rows[i]:
            if val is None:
                continue
            state, detail = val
            fill, share, _ = STATE_STYLE[state]
            label = _label(state)
            h = max(2.0, LANE_H * share)
            w = (end - start) * sw
            ry = y + LANE_H - h
            paint = "url(#ngxcoro-hatch)" if state == "zombie" else fill
            tip = f"{name}: {label}" + (word("lane in", detail=detail) if detail and state == "blocked"
                                        else "")
            tip += word("lane step", start=start) + (word("lane to", end=end - 1) if end - start > 1
                                                     else "")
            a(f'<rect x="{_f(X(start))}" y="{_f(ry)}" width="{_f(w)}" height="{_f(h)}" '
              f'fill="{paint}" class="{state}"><title>{_h(tip)}</title></rect>')
            text = detail if (state == "blocked" and detail) else label
            if state != "dead" and w >= 7 * _width(text) + 6:
                colour = "#FFFFFF" if state == "executing" else INK
                a(f'<text x="{_f(X(start) + 3)}" y="{_f(y + LANE_H - 4)}" font-size="9" '
                  f'fill="{colour}">{_h(text)}</text>')
        a("</g>")
    a("</g>")
    # ---- step axis
    a('<g class="steps">')
    every = _nice_step(n, sw)
    a(f'<line x1="{_f(x0)}" y1="{_f(plot_bottom)}" x2="{_f(x0 + plot_w)}" y2="{_f(plot_bottom)}" '
      f'stroke="#666666"/>')
    for k in range(0, n, every):
        x = X(k) + sw / 2
        a(f'<line x1="{_f(x)}" y1="{_f(plot_bottom)}" x2="{_f(x)}" y2="{_f(plot_bottom + 4)}" '
          f'stroke="#666666"/>')
        a(f'<text x="{_f(x)}" y="{_f(plot_bottom + 13)}" text-anchor="middle" font-size="9" '
          f'fill="#666666">{k}</text>')
    a(f'<text x="{_f(x0 - 6)}" y="{_f(plot_bottom + 13)}" text-anchor="end" fill="#666666">{_h(word("axis step"))}</text>')
    a("</g>")
    if cursor is not None and 0 <= cursor < n:
        x = X(cursor) + sw / 2
        a(f'<line class="cursor" x1="{_f(x)}" y1="24" x2="{_f(x)}" y2="{_f(plot_bottom)}" '
          f'stroke="{OKABE_ITO["blue"]}" stroke-width="2"/>')
    # ---- legend
    a('<g class="legend">')
    lx, ly = 8, legend_y + 14
    for state in ("executing", "blocked", "posted", "normal", "suspended", "zombie", "dead"):
        fill, share, _ = STATE_STYLE[state]
        label = _h(_label(state))
        h = max(2.0, 12 * share)
        paint = "url(#ngxcoro-hatch)" if state == "zombie" else fill
        a(f'<rect x="{lx}" y="{_f(ly + 12 - h)}" width="18" height="{_f(h)}" fill="{paint}"/>')
        a(f'<text x="{lx + 22}" y="{ly + 11}" fill="{INK}">{label}</text>')
        lx += 30 + 7 * _width(_label(state))
    a(f'<path d="M{lx + 2},{ly + 2} L{lx + 10},{ly + 2} L{lx + 6},{ly + 8} Z" fill="{INK}"/>')
    a(f'<text x="{lx + 14}" y="{ly + 11}" fill="{INK}">finalize_request (rc)</text>')
    lx += 150
    a(f'<line x1="{lx}" y1="{ly}" x2="{lx}" y2="{ly + 12}" stroke="#666666" stroke-dasharray="4 3"/>')
    a(f'<text x="{lx + 5}" y="{ly + 11}" fill="{INK}">{_h(word("phase change"))}</text>')
    a("</g>")
    a("</svg>")
    return "\n".join(out) + "\n"
