"""One scheduler step as a Graphviz picture.

    >>> import ngxcoro
    >>> from ngxcoro.viz import graph
    >>> res = ngxcoro.run_lua("ngx.thread.spawn(function() ngx.sleep(0.1) end)", snapshots=True)
    >>> frames = graph.frames_dot(res.snapshots)        # one DOT text per step
    >>> frames[0].startswith("digraph step")
    True

What is drawn (rankdir=LR, left to right):

* the connection (``conn_<n>``: ``c->destroyed``; status and body bytes sent so
  far, bytes held back) and the pending timers with their virtual deadlines
  (``timers``);
* every request (``req_<i>``, i = creation order): URI, ``r->count`` in large type
  (on the main request; a subrequest uses its main request's), phase,
  header_sent, done, freed; a subrequest hangs off its parent;
* each request's ngx_lua ctx (``ctx_<i>``: context, cur_co_ctx, co_op, uthreads,
  exited/exit code/exec URI) and its ``posted_threads`` list as a chain of nodes
  (``posted_<i>_<k>``, head first);
* the coroutine tree (``co_entry``, ``co_t1``, ``co_co1``, ...; a name the run
  reuses gets ``_2``, ``_3``): entry threads are square boxes with a double
  border, light threads rounded boxes, plain coroutines ellipses.  The status
  is shown three ways: the fill colour (Okabe-Ito palette), the status in
  capitals, and the border (solid alive, dashed DEAD, dotted ZOMBIE).  A
  zombie's edge from its parent is dotted and says "zombie list".
* ``cur_co_ctx`` gets a thick blue border and the line ``<< cur_co_ctx``.
* With ``prev`` (the step before), whatever changed gets a thick vermillion
  border and a ``* was ...`` line (or ``* new``); the SVG element also gets the
  class ``changed``.  Without ``prev`` nothing is highlighted.

Layout stability: pass ``universe=universe(snapshots)`` (``frames_dot`` does)
and every node the run will ever have is emitted at every step -- requests,
ctxs, coroutines and posted-list slots that do not exist yet are invisible
placeholders with the label they will have -- so dot places things in the same
spots from step to step.  Nodes have fixed minimum sizes (coroutines a fixed
box, table cells minimum widths, a caption of always four lines), edges are
emitted in creation order with ``ordering=out``, an invisible edge keeps the
label it will have (edge labels take room in dot's ranks), and labels that
come and go on coroutine edges are ``xlabel``s, which are placed after the
layout.  Runs with more than ``max_coroutines`` (12) coroutines show the
first 12, plus the current and posted ones; the rest are folded into one
summary node per parent (with a reserved slot for the current one).

Only HTML-like labels (never ``shape=record``), only ASCII text (dot's width
tables warn on other characters), no graph attributes graphviz-pure lacks.
The DOT text is a pure function of its arguments: byte-identical across runs.
"""
from __future__ import annotations

import re
from html import escape as _esc

import graphviz

__all__ = ["to_dot", "graph", "universe", "frames_dot", "legend_dot", "legend",
           "OKABE_ITO", "STATUS_FILL", "node_names", "MAX_COROUTINES"]

# Okabe & Ito (2008), "Color Universal Design"
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
    "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
    "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}


def _tint(hex_colour, keep):
    """`keep` of the colour, the rest white: calm fills that keep their hue."""
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c * keep + 255 * (1 - keep)):02X}" for c in rgb)


# co_status -> (fill, border style); the status word is always printed too
STATUS_FILL = {
    "running": _tint(OKABE_ITO["bluish_green"], 0.40),
    "suspended": _tint(OKABE_ITO["sky_blue"], 0.45),
    "normal": _tint(OKABE_ITO["yellow"], 0.55),
    "zombie": _tint(OKABE_ITO["reddish_purple"], 0.45),
    "dead": "#E4E4E4",
}
STATUS_BORDER = {"dead": "dashed", "zombie": "dotted"}
POSTED_FILL = _tint(OKABE_ITO["orange"], 0.45)
CHANGED = OKABE_ITO["vermillion"]
CHANGED_BG = _tint(OKABE_ITO["vermillion"], 0.22)
CURRENT = OKABE_ITO["blue"]
INK = "#333333"
DIM = "#888888"
FONT = "Helvetica"

KIND_TEXT = {"entry": "entry thread", "uthread": "light thread", "coroutine": "coroutine"}
KIND_SHAPE = {"entry": ("box", 2), "uthread": ("box", 1), "coroutine": ("ellipse", 1)}

CO_WIDTH, CO_HEIGHT = "1.55", "0.9"        # inches: room for the 5 lines a node has at most
MAX_TIMER_ROWS = 6
CTX_W = 118                # points: room for USER_THREAD_RESUME
TIMER_W, TIMER_KEY_W = 64, 50   # keep the timers narrower than the request beside it
MAX_COROUTINES = 12        # more than this: quiet coroutines are folded


# ================================================================ universe
def _san(name):
    return re.sub(r"[^A-Za-z0-9]+", "_", str(name)).strip("_") or "x"


def node_names(coroutines):
    """Stable node names for a snapshot's coroutine list (creation order):
    ``co_<name>``, and ``co_<name>_<k>`` for the k-th coroutine of a reused name."""
    out, used, seen = [], set(), {}
    for c in coroutines:
        base = "co_" + _san(c["name"])
        seen[base] = seen.get(base, 0) + 1
        node = base if seen[base] == 1 else f"{base}_{seen[base]}"
        while node in used:
            node += "_"
        used.add(node)
        out.append(node)
    return out


def _latest(names, name, before=None):
    """Index of the most recent coroutine called `name` (below `before`)."""
    stop = len(names) if before is None else before
    for j in range(stop - 1, -1, -1):
        if names[j] == name:
            return j
    return None


def _req_parent(reqs, i):
    """Index of request i's parent: the latest earlier request with that URI."""
    p = reqs[i]["parent"]
    if p is None:
        return None
    for j in range(i - 1, -1, -1):
        if reqs[j]["uri"] == p:
            return j
    return 0 if i else None


def _focus_index(snap):
    reqs = snap["requests"]
    for j in range(len(reqs) - 1, -1, -1):
        if reqs[j]["uri"] == snap.get("focus"):
            return j
    return 0


def universe(snapshots):
    """Everything the run will ever draw, from all its snapshots (plain data).

    ``{"steps", "coroutines": [{node, name, kind, parent (layout parent node),
    request}], "requests": [{node, uri, parent, connection, has_ctx,
    posted_max}], "connections", "timers_max"}``.  The layout parent of a
    coroutine is the first parent_co_ctx it ever has, else its creator (from
    the ``user_coroutine_create`` event), else none (an entry thread)."""
    snapshots = [s for s in snapshots if s is not None]
    cos, reqs = [], []
    entry_owner = {}
    conns = []
    timers_max = 0
    for s in snapshots:
        names = [c["name"] for c in s["coroutines"]]
        nodes = node_names(s["coroutines"])
        focus = _focus_index(s)
        for i, r in enumerate(s["requests"]):
            if i == len(reqs):
                reqs.append({"node": f"req_{i}", "uri": r["uri"], "args": r.get("args"),
                             "parent": _req_parent(s["requests"], i),
                             "connection": r["connection"], "has_ctx": False, "posted_max": 0})
            u = reqs[i]
            if r["ctx"] is not None:
                u["has_ctx"] = True
                u["posted_max"] = max(u["posted_max"], len(r["ctx"]["posted_threads"]))
                entry_owner.setdefault(r["ctx"]["entry_co_ctx"], i)
            if r["connection"] not in conns:
                conns.append(r["connection"])
        creator = None
        if s["event"] == "user_coroutine_create":
            d = s.get("data") or {}
            child = _latest(names, d.get("child"))
            par = _latest(names, d.get("parent"), child) if child is not None else None
            if child is not None and par is not None:
                creator = (child, nodes[par])
        for i, c in enumerate(s["coroutines"]):
            if i == len(cos):
                cos.append({"node": nodes[i], "name": c["name"], "kind": c["kind"], "parent": None,
                            "request": None, "_focus": focus, "_creator": None})
            u = cos[i]
            u["kind"] = c["kind"]
            if u["parent"] is None and c["parent"] is not None:
                j = _latest(names, c["parent"], i)
                if j is not None:
                    u["parent"] = nodes[j]
            if creator is not None and creator[0] == i and u["_creator"] is None:
                u["_creator"] = creator[1]
        timers_max = max(timers_max, len(s["timers"]))
    by_node = {}
    for u in cos:
        if u["parent"] is None and u["kind"] != "entry":
            u["parent"] = u["_creator"]
        by_node[u["node"]] = u
    for u in cos:                                   # the request a coroutine belongs to
        seen, x = set(), u
        while x["kind"] != "entry" and x["parent"] in by_node and x["node"] not in seen:
            seen.add(x["node"])
            x = by_node[x["parent"]]
        if x["kind"] == "entry" and x["name"] in entry_owner:
            u["request"] = entry_owner[x["name"]]
        else:
            u["request"] = x["_focus"]
    for u in cos:
        del u["_focus"], u["_creator"]
    return {"steps": len(snapshots), "coroutines": cos, "requests": reqs,
            "connections": sorted(conns), "timers_max": timers_max}


# ================================================================= helpers
def _h(text):
    """HTML-escaped and ASCII (other characters as &#NNN;)."""
    return _esc(str(text), quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _yn(v):
    return "yes" if v else "no"


def _line(text, size=None, bold=False, italic=False, colour=None):
    t = _h(text)
    if bold:
        t = f"<B>{t}</B>"
    if italic:
        t = f"<I>{t}</I>"
    attrs = ""
    if size:
        attrs += f' POINT-SIZE="{size}"'
    if colour:
        attrs += f' COLOR="{colour}"'
    return f"<FONT{attrs}>{t}</FONT>" if attrs else t


def _html(rows):
    return "<" + "<BR/>".join(rows) + ">"


def _row(key, value, changed=False, was=None, big=False, note=None, width=72, key_width=None,
         key_html=None):
    """A two-cell table row.  A changed value gets a tinted cell and, on a small
    line of its own (so the node hardly grows), '* was ...' or `note`.  The
    value cell has a minimum width so short values do not make the node jump."""
    v = _h(value)
    if big:
        v = f'<FONT POINT-SIZE="22"><B>{v}</B></FONT>'
    w = f' WIDTH="{width}"' if width else ""
    k = f'<TD ALIGN="LEFT" WIDTH="{key_width}">' if key_width else '<TD ALIGN="LEFT">'
    if changed:
        note = note or (f"* was {was}" if was is not None else "* changed")
        v += f'<BR ALIGN="LEFT"/><FONT POINT-SIZE="8" COLOR="{CHANGED}">{_h(note)}</FONT>'
        return (f'<TR>{k}{key_html or _h(key)}</TD>'
                f'<TD ALIGN="LEFT" BALIGN="LEFT" BGCOLOR="{CHANGED_BG}"{w}>{v}</TD></TR>')
    return f'<TR>{k}{key_html or _h(key)}</TD><TD ALIGN="LEFT"{w}>{v}</TD></TR>'


def _timer_key(label):
    """A long timer label ("echo_sleep /sub_sleep2") on two small lines."""
    if len(label) <= 8:
        return None
    return '<FONT POINT-SIZE="8">' + '<BR ALIGN="LEFT"/>'.join(_h(p) for p in label.split(" ", 1)) + "</FONT>"


def _table(title, rows, bg="white", title_bg="#EEEEEE", colour=INK, changed=False):
    border = 3 if changed else 1
    return (f'<<TABLE BORDER="{border}" COLOR="{CHANGED if changed else colour}" CELLBORDER="0" '
            f'CELLSPACING="0" CELLPADDING="3" BGCOLOR="{bg}">'
            f'<TR><TD COLSPAN="2" BGCOLOR="{title_bg}">{title}</TD></TR>'
            + "".join(rows) + "</TABLE>>")


def _wrap(text, width=100):
    words, lines, cur = str(text).split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines or [""]


# ====================================================================== to_dot
def to_dot(snap, prev=None, universe=None, *, max_coroutines=MAX_COROUTINES, caption=True):
    """DOT source of one step (`snap`), highlighting what changed since `prev`.

    `universe` (from ``universe(snapshots)``) reserves the places of nodes that
    do not exist yet, so the layout holds still between steps; without it
    only what the snapshot has is drawn."""
    lines = _Builder(snap, prev, universe, max_coroutines, caption).build()
    return _header() + "".join(lines) + "}\n"


def graph(snap, prev=None, universe=None, *, max_coroutines=MAX_COROUTINES, caption=True):
    """The same picture as `to_dot`, as a ``graphviz.Digraph``.  In a notebook
    it renders with ngxcoro.viz.render (Debian dot or graphviz-pure), not with
    whatever `dot` is on PATH."""
    lines = _Builder(snap, prev, universe, max_coroutines, caption).build()
    return _Frame("step", graph_attr=GRAPH_ATTR, node_attr=NODE_ATTR, edge_attr=EDGE_ATTR,
                  body=lines)


_HEADER = []


def _header():
    """The DOT text before the body (graph, node and edge defaults), as the
    graphviz package writes it -- so to_dot(...) == graph(...).source."""
    if not _HEADER:
        src = _Frame("step", graph_attr=GRAPH_ATTR, node_attr=NODE_ATTR, edge_attr=EDGE_ATTR).source
        _HEADER.append(src[:src.rindex("}")])
    return _HEADER[0]


class _Frame(graphviz.Digraph):
    """A Digraph whose notebook display uses ngxcoro.viz.render."""

    def _repr_image_svg_xml(self):
        from . import render
        return render.svg(self.source)


def frames_dot(snapshots, *, max_coroutines=MAX_COROUTINES, caption=True):
    """DOT text for every step of a run, with one universe and highlights
    against the step before."""
    u = universe(snapshots)
    out, prev = [], None
    for s in snapshots:
        out.append(to_dot(s, prev, u, max_coroutines=max_coroutines, caption=caption))
        prev = s
    return out


def _q(value):
    """A DOT attribute value: HTML-like labels as they are, the rest quoted."""
    v = str(value)
    if v.startswith("<") and v.endswith(">"):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Body:
    """Collects DOT statements as text (the graphviz package's own quoting is
    ten times slower, and we quote nothing but our own names and labels)."""

    def __init__(self):
        self.lines = []

    @staticmethod
    def _attrs(attrs):
        return " [" + " ".join(f"{k}={_q(v)}" for k, v in attrs.items()) + "]" if attrs else ""

    def node(self, name, **attrs):
        self.lines.append(f"\t{name}{self._attrs(attrs)}\n")

    def edge(self, a, b, **attrs):
        self.lines.append(f"\t{a} -> {b}{self._attrs(attrs)}\n")

    def attr(self, **attrs):
        self.lines.append(f"\tgraph{self._attrs(attrs)}\n")


GRAPH_ATTR = {"rankdir": "LR", "ordering": "out", "nodesep": "0.22", "ranksep": "0.45",
              "fontname": FONT, "fontsize": "11", "bgcolor": "white", "pad": "0.15"}
NODE_ATTR = {"fontname": FONT, "fontsize": "10", "color": INK, "fontcolor": INK, "penwidth": "1"}
EDGE_ATTR = {"fontname": FONT, "fontsize": "9", "color": DIM, "fontcolor": "#555555",
             "arrowsize": "0.7"}


class _Builder:
    def __init__(self, snap, prev, universe_, max_coroutines, caption):
        self.s, self.p = snap, prev
        self.u = universe_ if universe_ is not None else universe([snap])
        if not _fits(self.u, snap):
            self.u = universe([snap])
        self.max_co = max_coroutines
        self.caption = caption
        self.g = _Body()
        self.names = [c["name"] for c in snap["coroutines"]]
        self.nodes = node_names(snap["coroutines"])
        self.co_by_node = dict(zip(self.nodes, snap["coroutines"]))
        if prev is not None:
            pn = node_names(prev["coroutines"])
            self.prev_co = dict(zip(pn, prev["coroutines"]))
            self.prev_req = {f"req_{i}": r for i, r in enumerate(prev["requests"])}
        else:
            self.prev_co, self.prev_req = None, None

    # ------------------------------------------------------------ bookkeeping
    def _resolve(self, name):
        j = _latest(self.names, name)
        return None if j is None else self.nodes[j]

    def build(self):
        s, g = self.s, self.g
        if self.caption:
            g.attr(label=self._caption(), labelloc="t", labeljust="l")
        self.current = set()
        self.posted = {}
        for r in s["requests"]:
            ctx = r["ctx"]
            if ctx is not None:
                if ctx["cur_co_ctx"]:
                    n = self._resolve(ctx["cur_co_ctx"])
                    if n:
                        self.current.add(n)
                for k, name in enumerate(ctx["posted_threads"]):
                    n = self._resolve(name)
                    if n:
                        self.posted.setdefault(n, k)
        self._connections()
        self._timers()
        for i, ur in enumerate(self.u["requests"]):
            self._request(i, ur)
        self._coroutines()
        return g.lines

    def _caption(self):
        s = self.s
        steps = self.u.get("steps")
        of = f" of {steps - 1}" if steps and steps > 1 else ""
        head = (f"step {s['step']}{of}   t = {s['t_ms']} ms   phase: {s['phase'] or '-'}"
                f"   last rc: {s['rc'] or '-'}")
        rows = [f'<B>{_h(head)}</B>']
        lines = _wrap(f"{s['event']}: {s['explain']}")
        if len(lines) > 2:
            lines = lines[:2]
            lines[1] += " ..."
        rows += [_h(line) for line in lines] + [" "] * (2 - len(lines))
        w = s.get("where") or {}
        fn = w.get("c_function") or w.get("function") or "-"
        rows.append(f'<FONT POINT-SIZE="9" COLOR="#555555">in {_h(fn)} '
                    f'({_h(w.get("file", "-"))}:{_h(w.get("line", "-"))})</FONT>')
        return "<" + '<BR ALIGN="LEFT"/>'.join(rows) + '<BR ALIGN="LEFT"/>>'

    # ------------------------------------------------------------ connection
    def _connections(self):
        s, g = self.s, self.g
        by_conn = {}
        for i, r in enumerate(s["requests"]):
            by_conn.setdefault(r["connection"], (i, r))
        prev_by_conn = {}
        if self.p is not None:
            for r in self.p["requests"]:
                prev_by_conn.setdefault(r["connection"], r)
        out = s.get("output") or {}
        for n in self.u["connections"]:
            node = f"conn_{n}"
            if n not in by_conn:
                g.node(node, label="conn", style="invis")
                continue
            i, r = by_conn[n]
            pr = prev_by_conn.get(n)
            ch = pr is not None and pr["destroyed"] != r["destroyed"]
            rows = [_row("c->destroyed", "1 (closed)" if r["destroyed"] else "0",
                         ch, "0" if ch and not r["destroyed"] else None)]
            if n == self.u["connections"][0]:
                status = out.get("status")
                sent = len(out.get("sent") or "")
                held = len(out.get("held") or "")
                done = " (all)" if out.get("complete") else ""
                rows.append(_row("status sent", status if status is not None else "-"))
                rows.append(_row("body sent", f"{sent} B{done}"))
                rows.append(_row("held back", f"{held} B"))
            bg = "#E4E4E4" if r["destroyed"] else "white"
            g.node(node, label=_table(f"<B>connection #{n}</B>", rows, bg=bg, changed=ch),
                   shape="plain", id=node, **({"class": "changed"} if ch else {}))
        first = f"conn_{self.u['connections'][0]}" if self.u["connections"] else None
        if first:
            g.edge(first, "timers", style="invis")

    # ---------------------------------------------------------------- timers
    def _timers(self):
        s, g = self.s, self.g
        now = s["t_ms"]
        timers = sorted(s["timers"], key=lambda t: (t["deadline_ms"], t["label"]))
        prev_labels = None
        if self.p is not None:
            prev_labels = [(t["label"], t["deadline_ms"]) for t in self.p["timers"]]
        now_labels = [(t["label"], t["deadline_ms"]) for t in timers]
        rows = []
        shown_new = False
        for t in timers[:MAX_TIMER_ROWS]:
            new = prev_labels is not None and (t["label"], t["deadline_ms"]) not in prev_labels
            shown_new = shown_new or new
            rows.append(_row(t["label"], f"{t['deadline_ms']} ms (+{t['deadline_ms'] - now})",
                             new, note="* new", width=TIMER_W, key_width=TIMER_KEY_W,
                             key_html=_timer_key(t["label"])))
        if len(timers) > MAX_TIMER_ROWS:
            rows.append(_row("...", f"{len(timers) - MAX_TIMER_ROWS} more"))
        if not timers:
            rows.append('<TR><TD COLSPAN="2"><I>none pending</I></TD></TR>')
        notes = []
        if prev_labels is not None:
            gone = [lab for lab, dl in prev_labels if (lab, dl) not in now_labels]
            if gone:
                notes.append("* gone: " + ", ".join(gone[:3]) + (" ..." if len(gone) > 3 else ""))
            hidden = [lab for lab, dl in now_labels[MAX_TIMER_ROWS:] if (lab, dl) not in prev_labels]
            if hidden:
                notes.append("* new: " + ", ".join(hidden[:3]) + (" ..." if len(hidden) > 3 else ""))
        rows += [f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="{CHANGED}">'
                 f'{_h(n)}</FONT></TD></TR>' for n in notes]
        reserve = min(self.u["timers_max"], MAX_TIMER_ROWS + 1) - max(len(rows), 1)
        rows += ['<TR><TD COLSPAN="2"> </TD></TR>'] * max(reserve, 0)
        ch = prev_labels is not None and sorted(prev_labels) != sorted(now_labels)
        title = f"<B>timers</B> (now {now} ms)"
        g.node("timers", label=_table(title, rows, changed=ch), shape="plain", id="timers",
               **({"class": "changed"} if ch else {}))

    # --------------------------------------------------------------- request
    def _request(self, i, ur):
        s, g = self.s, self.g
        node = ur["node"]
        if i >= len(s["requests"]):            # not yet created: same size, invisible
            fake = {"uri": ur["uri"], "args": ur.get("args"), "main": ur["parent"] is None,
                    "count": 0, "phase": "content", "header_sent": False, "done": False,
                    "freed": False}
            # room for the "* new" it will have, but no highlight in an invisible node
            label = self._request_label(fake, None, True).replace(CHANGED, INK).replace("* new", "- new")
            g.node(node, label=label, shape="plain", style="invis")
            self._request_edges(i, ur, visible=False)
            if ur["has_ctx"]:
                self._ctx(i, ur, None)
            return
        r = s["requests"][i]
        pr = self.prev_req.get(node) if self.prev_req is not None else None
        fresh = self.prev_req is not None and pr is None
        keys = ("count", "phase", "header_sent", "done", "freed", "uri", "destroyed")
        changed = fresh or (pr is not None and any(pr[k] != r[k] for k in
                                                  (keys if r["main"] else keys[1:])))
        g.node(node, label=self._request_label(r, pr, fresh, changed), shape="plain", id=node,
               **({"class": "changed"} if changed else {}))
        self._request_edges(i, ur, visible=True)
        if ur["has_ctx"]:
            self._ctx(i, ur, r["ctx"])

    @staticmethod
    def _request_label(r, pr, fresh, changed=False):
        def ch(key):
            return pr is not None and pr[key] != r[key]

        uri = r["uri"] + (f"?{r['args']}" if r.get("args") else "")
        title = f"<B>{'request' if r['main'] else 'subrequest'} {_h(uri)}</B>"
        if fresh:
            title += f' <FONT POINT-SIZE="9" COLOR="{CHANGED}">* new</FONT>'
        rows = []
        if r["main"]:
            rows.append(_row("r->count", r["count"], ch("count"), pr and pr["count"], big=True))
        rows.append(_row("phase", r["phase"] or "-", ch("phase"), pr and (pr["phase"] or "-")))
        rows.append(_row("header_sent", _yn(r["header_sent"]), ch("header_sent"),
                         pr and _yn(pr["header_sent"])))
        df = f"{_yn(r['done'])} / {_yn(r['freed'])}"
        dch = ch("done") or ch("freed")
        rows.append(_row("done / freed", df, dch, pr and f"{_yn(pr['done'])} / {_yn(pr['freed'])}"))
        bg = "#E4E4E4" if r["freed"] else "white"
        return _table(title, rows, bg=bg, changed=changed)

    def _request_edges(self, i, ur, visible):
        g = self.g
        if ur["parent"] is not None:
            # the same label when invisible: edge labels take room in the layout
            attrs = {"label": "subrequest"} if visible else {"label": "subrequest", "style": "invis"}
            g.edge(f"req_{ur['parent']}", ur["node"], **attrs)
        else:
            g.edge(f"conn_{ur['connection']}", ur["node"], **({} if visible else {"style": "invis"}))

    # ------------------------------------------------------------------- ctx
    def _ctx(self, i, ur, ctx):
        g = self.g
        node = f"ctx_{i}"
        if ctx is None:                        # not yet created: same size, invisible
            fake = {"cur_co_ctx": None, "co_op": "NOP", "uthreads": 0, "context": "content_by_lua*",
                    "exited": False, "exit_code": 0, "exec_uri": ""}
            rows = [_row("cur_co_ctx", "NULL", width=CTX_W), _row("co_op", "NOP", width=CTX_W),
                    _row("uthreads", 0, width=CTX_W)]
            g.node(node, label=_table(f"<B>ctx</B> {fake['context']}", rows), shape="plain",
                   style="invis")
            g.edge(ur["node"], node, label="ctx", style="invis")
            self._posted(i, ur, [], None, visible=False)
            return
        pctx = None
        if self.prev_req is not None and ur["node"] in self.prev_req:
            pctx = self.prev_req[ur["node"]]["ctx"]
        fresh = self.prev_req is not None and pctx is None

        def ch(key):
            return pctx is not None and pctx[key] != ctx[key]

        def was(key, fmt=str):
            return fmt(pctx[key]) if pctx is not None else None

        none = lambda v: v if v else "NULL"                      # noqa: E731
        w = CTX_W
        rows = [
            _row("cur_co_ctx", none(ctx["cur_co_ctx"]), ch("cur_co_ctx"), was("cur_co_ctx", none), width=w),
            _row("co_op", ctx["co_op"], ch("co_op"), was("co_op"), width=w),
            _row("uthreads", ctx["uthreads"], ch("uthreads"), was("uthreads"), width=w),
        ]
        if ctx["exited"] or ch("exited"):
            rows.append(_row("exited", f"yes, code {ctx['exit_code']}", ch("exited") or ch("exit_code"),
                             "no" if pctx is not None and not pctx["exited"] else None, width=w))
        if ctx["exec_uri"] or ch("exec_uri"):
            rows.append(_row("exec_uri", ctx["exec_uri"] or "-", ch("exec_uri"), was("exec_uri"),
                             width=w))
        changed = fresh or any(ch(k) for k in ("cur_co_ctx", "co_op", "uthreads", "exited",
                                                 "exit_code", "exec_uri", "context"))
        title = f"<B>ctx</B> {_h(ctx['context'] or '(no handler yet)')}"
        if fresh:
            title += f' <FONT POINT-SIZE="9" COLOR="{CHANGED}">* new</FONT>'
        elif ch("context"):
            title += f' <FONT POINT-SIZE="9" COLOR="{CHANGED}">* was {_h(pctx["context"] or "none")}</FONT>'

        g.node(node, label=_table(title, rows, changed=changed), shape="plain", id=node,
               **({"class": "changed"} if changed else {}))
        g.edge(ur["node"], node, label="ctx")
        self._posted(i, ur, ctx["posted_threads"], pctx["posted_threads"] if pctx else None,
                     visible=True)

    def _posted(self, i, ur, posted, prev_posted, visible):
        """posted_threads: an anchor node and one node per entry, head first;
        slots up to the longest list the run has are kept as invisible nodes."""
        g = self.g
        anchor = f"posted_{i}"
        ctx = f"ctx_{i}"
        changed = prev_posted is not None and list(prev_posted) != list(posted)
        if not visible:
            g.node(anchor, label="posted_threads", shape="box", style="invis", width="1.35",
                   height="0.55")
        else:
            text = ["posted_threads"]
            if not posted:
                text.append("(empty)")
            if changed:
                was = ", ".join(prev_posted[:3]) + (", ..." if len(prev_posted) > 3 else "")
                text.append(f"* was [{was}]" if prev_posted else "* was empty")
            rows = [_line(text[0], bold=True)]
            rows += [_line(t, size=9, colour=CHANGED if t.startswith("*") else None) for t in text[1:]]
            g.node(anchor, label=_html(rows), shape="box", style="rounded", width="1.35", height="0.55",
                   color=CHANGED if changed else DIM, penwidth="3" if changed else "1",
                   id=anchor, **({"class": "changed"} if changed else {}))
        g.edge(ctx, anchor, style="invis" if not visible else "solid", arrowhead="none")
        prev_node = anchor
        for k in range(max(ur["posted_max"], len(posted))):
            node = f"posted_{i}_{k}"
            if k < len(posted):
                name = posted[k]
                new = prev_posted is not None and (k >= len(prev_posted) or prev_posted[k] != name)
                rows = [_line(name, bold=True),
                        _line("head" if k == 0 else f"#{k + 1}", size=9)]
                if new:
                    rows.append(_line("* new here", size=9, colour=CHANGED))
                g.node(node, label=_html(rows), shape="box", style="filled", fillcolor=POSTED_FILL,
                       color=CHANGED if new else INK, penwidth="3" if new else "1",
                       width="0.9", height="0.5", id=node, **({"class": "changed"} if new else {}))
                g.edge(prev_node, node, label="next" if k else "head")
            else:
                g.node(node, label="x\nhead", shape="box", style="invis", width="0.9", height="0.5")
                g.edge(prev_node, node, label="next" if k else "head", style="invis")
            prev_node = node

    # ------------------------------------------------------------ coroutines
    def _coroutines(self):
        s, g = self.s, self.g
        ucos = self.u["coroutines"]
        present = dict(zip(self.nodes, s["coroutines"]))
        big = len(ucos) > self.max_co
        by_node = {u["node"]: u for u in ucos}
        shown, shown_nodes, folded = [], set(), {}
        loud_in = {}
        for idx, u in enumerate(ucos):
            node = u["node"]
            if not big or idx < self.max_co:
                shown.append(u)
                shown_nodes.add(node)
                continue
            anc = u["parent"]                 # fold under the nearest ancestor drawn
            while anc is not None and anc not in shown_nodes and anc in by_node:
                anc = by_node[anc]["parent"]
            key = anc if anc in shown_nodes else f"ctx_{u['request']}"
            if self._loud(node, present.get(node)):
                shown.append(u)
                shown_nodes.add(node)
                loud_in[key] = loud_in.get(key, 0) + 1
            else:
                folded.setdefault(key, []).append(u)
        for u in shown:
            self._co_node(u, present.get(u["node"]))
        for u in shown:
            self._co_edge(u, present.get(u["node"]), shown_nodes)
        for parent, us in folded.items():          # dict order: first folded child first
            if not loud_in.get(parent):
                # the place a current folded coroutine takes, kept when there is none
                g.node(f"spot_{parent}", label="spot", shape="box", style="invis", width=CO_WIDTH,
                       height=CO_HEIGHT)
                g.edge(parent, f"spot_{parent}", style="invis")
            self._fold(parent, us, present)

    def _loud(self, node, c):
        """A coroutine worth its own node even in a folded picture: the current
        one and the posted ones.  (Not every one that changed: in a big run
        that is a different one at nearly every step, and the picture would
        never hold still; the fold's counts say what changed.)"""
        return c is not None and (node in self.current or node in self.posted)

    def _co_changes(self, node, c):
        """(is_new, [what changed]) against the step before."""
        if self.prev_co is None:
            return False, []
        pc = self.prev_co.get(node)
        if pc is None:
            return True, []
        out = []
        if pc["status"] != c["status"]:
            out.append(f"was {pc['status'].upper()}")
        if pc["parent"] != c["parent"]:
            out.append(f"parent was {pc['parent'] or 'NULL'}")
        if pc["zombies"] != c["zombies"]:
            out.append("zombie list changed")
        if pc["waiting"] != c["waiting"]:
            out.append(f"was in {pc['waiting']}" if pc["waiting"] else "now blocked")
        if pc["waited_by_parent"] != c["waited_by_parent"]:
            out.append("waited_by_parent changed")
        if pc["pending_subreqs"] != c["pending_subreqs"]:
            out.append(f"was {pc['pending_subreqs']} subreqs")
        return False, out

    def _co_node(self, u, c):
        g = self.g
        node = u["node"]
        kind_now = c["kind"] if c is not None else u["kind"]
        shape, periph = KIND_SHAPE.get(kind_now, ("box", 1))
        base = {"shape": shape, "peripheries": str(periph), "width": CO_WIDTH, "height": CO_HEIGHT,
                "margin": "0.06,0.04"}
        if c is None:
            g.node(node, label=f"{u['name']}\nnot yet\n\n", style="invis", **base)
            return
        status = c["status"]
        kind = KIND_TEXT.get(c["kind"], c["kind"]) + (" (wrap)" if c.get("is_wrap") else "")
        rows = [f'<B>{_h(c["name"])}</B> <FONT POINT-SIZE="8">{_h(kind)}</FONT>',
                f'<B>{_h(status.upper())}</B>']
        detail = []
        if c["waiting"]:
            detail.append(f"in {c['waiting']}")
        if c["pending_subreqs"]:
            detail.append(f"{c['pending_subreqs']} subreq pending")
        if c["zombies"]:
            z = c["zombies"]
            detail.append("zombies: " + (", ".join(z) if len(z) <= 3 else f"{len(z)} ({z[0]} ... {z[-1]})"))
        if c["waited_by_parent"]:
            detail.append("waited by parent")
        if node in self.posted:
            detail.append(f"posted #{self.posted[node] + 1}")
        if c.get("config_line") and status not in ("dead",):
            detail.append(f"line {c['config_line']}")
        new, changes = self._co_changes(node, c)
        cur = node in self.current
        marks = []
        if cur:
            marks.append(f'<FONT COLOR="{CURRENT}"><B>&lt;&lt; cur_co_ctx</B></FONT>')
        if new:
            marks.append(_line("* new", size=9, colour=CHANGED, bold=True))
        elif changes:
            marks.append(_line("* " + changes[0], size=9, colour=CHANGED, bold=True))
        rows += [_line(d, size=9) for d in detail[:3 - len(marks)]] + marks
        style = ["filled"] + ([STATUS_BORDER[status]] if status in STATUS_BORDER else [])
        if kind_now == "uthread":
            style.insert(0, "rounded")
        changed = new or bool(changes)
        colour = CHANGED if changed else (CURRENT if cur else INK)
        classes = " ".join(x for x in ("changed" if changed else "", "current" if cur else "",
                                       status) if x)
        g.node(node, label=_html(rows), style=",".join(style),
               fillcolor=STATUS_FILL.get(status, "white"), color=colour,
               penwidth="3" if (changed or cur) else "1",
               fontcolor="#555555" if status == "dead" else INK, id=node,
               **{"class": classes}, **base)

    def _co_edge(self, u, c, shown_nodes):
        g = self.g
        node = u["node"]
        lp = u["parent"]
        src = lp if lp in shown_nodes else f"ctx_{u['request']}"
        if lp is None and u["kind"] == "entry":
            src = f"ctx_{u['request']}" if self.u["requests"][u["request"]]["has_ctx"] else \
                f"req_{u['request']}"
        # Tree edges say what they are in an xlabel, placed after the layout,
        # so a label that comes and goes ("zombie list") does not move things.
        if c is None:
            if u["kind"] == "entry" and lp is None:
                g.edge(src, node, label="entry_co_ctx", style="invis")
            else:
                g.edge(src, node, style="invis")
            return
        actual = self._resolve_parent(node, c)
        prev_c = self.prev_co.get(node) if self.prev_co is not None else None
        new_edge = self.prev_co is not None and (prev_c is None or prev_c["parent"] != c["parent"])
        hl = {"color": CHANGED, "penwidth": "2.5", "class": "changed"} if new_edge else {}
        zombie_of = None
        if actual and actual in self.co_by_node and c["name"] in self.co_by_node[actual]["zombies"]:
            zombie_of = actual
        if u["kind"] == "entry" and lp is None:
            g.edge(src, node, label="entry_co_ctx")
            return
        if actual is None:
            # created, never resumed: parent_co_ctx is still NULL
            g.edge(src, node, style="dotted", xlabel="created", **hl)
        elif actual == lp or actual == src:
            if zombie_of:
                g.edge(src, node, style="dotted", xlabel="zombie list",
                       **{"color": OKABE_ITO["reddish_purple"], "penwidth": "2", **hl})
            else:
                g.edge(src, node, **hl)
        else:
            g.edge(src, node, style="invis")
            g.edge(actual, node, constraint="false", xlabel="parent",
                   style="dotted" if zombie_of else "solid", **hl)

    def _resolve_parent(self, node, c):
        if c["parent"] is None:
            return None
        i = self.nodes.index(node)
        j = _latest(self.names, c["parent"], i)
        return self.nodes[j] if j is not None else None

    def _fold(self, parent, us, present):
        g = self.g
        def count(cos):
            out = {}
            for u in us:
                c = cos.get(u["node"])
                key = c["status"] if c is not None else "not yet created"
                out[key] = out.get(key, 0) + 1
            return out

        counts = count(present)
        changed = self.prev_co is not None and count(self.prev_co) != counts
        order = ["running", "suspended", "normal", "zombie", "dead", "not yet created"]
        rows = [f'<B>{len(us)} more</B> <FONT POINT-SIZE="8">({_h(us[0]["name"])} ... '
                f'{_h(us[-1]["name"])})</FONT>']
        rows += [_line(f"{counts[k]} {k.upper() if k in STATUS_FILL else k}", size=9)
                 for k in order if k in counts]
        if changed:
            rows.append(_line("* counts changed", size=9, colour=CHANGED, bold=True))
        node = f"fold_{parent}"
        g.node(node, label=_html(rows), shape="box", style="rounded,dashed",
               color=CHANGED if changed else DIM, penwidth="3" if changed else "1",
               width=CO_WIDTH, height=CO_HEIGHT, id=node, **({"class": "changed"} if changed else {}))
        g.edge(parent, node, style="dashed", xlabel="folded")


def _fits(u, snap):
    """Does this universe describe this snapshot's run (same names, in order)?"""
    if len(u["coroutines"]) < len(snap["coroutines"]) or len(u["requests"]) < len(snap["requests"]):
        return False
    for uc, c in zip(u["coroutines"], snap["coroutines"]):
        if uc["name"] != c["name"]:
            return False
    return True


# ================================================================== legend
def legend():
    """The key to the pictures, as a Digraph: one row each for the kinds of
    coroutine, the statuses, the markers and the edges."""
    g = _Frame("legend", graph_attr={"rankdir": "TB", "fontname": FONT, "fontsize": "11",
                                     "nodesep": "0.18", "ranksep": "0.18", "label": "<<B>key</B>>",
                                     "labelloc": "t", "labeljust": "l", "bgcolor": "white",
                                     "pad": "0.1"},
               node_attr={"fontname": FONT, "fontsize": "10", "color": INK, "fontcolor": INK,
                          "height": "0.4"},
               edge_attr={"fontname": FONT, "fontsize": "9", "color": DIM, "fontcolor": "#555555",
                          "arrowsize": "0.7"})
    rows = []
    kinds = []
    for kind in ("entry", "uthread", "coroutine"):
        shape, periph = KIND_SHAPE[kind]
        g.node(f"k_{kind}", label=KIND_TEXT[kind], shape=shape, peripheries=str(periph),
               style="rounded" if kind == "uthread" else "solid", width="1.3")
        kinds.append(f"k_{kind}")
    rows.append(kinds)
    statuses = []
    for status in ("running", "suspended", "normal", "zombie", "dead"):
        style = ["rounded", "filled"] + ([STATUS_BORDER[status]] if status in STATUS_BORDER else [])
        g.node(f"s_{status}", label=f"<<B>{status.upper()}</B>>", shape="box", style=",".join(style),
               fillcolor=STATUS_FILL[status], width="1.0")
        statuses.append(f"s_{status}")
    rows.append(statuses)
    g.node("m_cur", label=f'<<FONT COLOR="{CURRENT}"><B>&lt;&lt; cur_co_ctx</B></FONT>>', shape="box",
           style="rounded", color=CURRENT, penwidth="3")
    g.node("m_changed", label=f'<<FONT COLOR="{CHANGED}"><B>* changed</B></FONT> (* was ...)>',
           shape="box", style="rounded", color=CHANGED, penwidth="3")
    g.node("m_posted", label="<<B>t1</B><BR/>posted_threads entry>", shape="box", style="filled",
           fillcolor=POSTED_FILL)
    rows.append(["m_cur", "m_changed", "m_posted"])
    g.node("m_parent", label="parent", shape="box", style="rounded", color=DIM, width="0.7")
    g.node("m_child", label="child", shape="box", style="rounded", color=DIM, width="0.7")
    g.node("m_created", label="created, not\nresumed yet", shape="box", style="rounded", color=DIM)
    g.node("m_zombie", label="zombie child", shape="box", style="rounded", color=DIM)
    g.edge("m_parent", "m_child", label="parent_co_ctx")
    g.edge("m_child", "m_created", style="dotted", label="created")
    g.edge("m_created", "m_zombie", style="dotted", penwidth="2", color=OKABE_ITO["reddish_purple"],
           label="zombie list")
    rows.append(["m_parent", "m_child", "m_created", "m_zombie"])
    for k, row in enumerate(rows):
        g.body.append("\t{rank=same; " + "; ".join(row) + "}\n")
        for a, b in zip(row, row[1:]):
            if k < 3:
                g.edge(a, b, style="invis")
        if k:
            g.edge(rows[k - 1][0], row[0], style="invis")
    return g


def legend_dot():
    """DOT source of the key (shapes, status colours and borders, markers)."""
    return legend().source
