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
* each cosocket (``sock_<n>``): a small box with its peer, its state, what is
  buffered and its timeouts; the coroutine waiting on it has a dashed edge to it;
* each ngx.semaphore (``sem_<name>``): a small rounded box with its resources,
  count(), whether its wake-up event is posted (then tinted), and its wait
  queue head first; a dashed edge "waits #k" from each waiting coroutine.
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

Where the pieces are: palette.py (colours, fonts, shapes, sizes, defaults),
labels.py (HTML-like labels as text), graph_requests.py (connection, timers,
requests, ctx, posted_threads), graph_coroutines.py (the coroutine tree);
legend.py draws the key (``graph.legend`` and ``graph.legend_dot`` are it too).
"""
from __future__ import annotations
from __future__ import annotations

import re

import graphviz

# the palette's names are still readable as graph.OKABE_ITO, graph.CHANGED ...
from .palette import (OKABE_ITO, STATUS_FILL, STATUS_BORDER, POSTED_FILL, CHANGED,  # noqa: F401
                      CHANGED_BG, CURRENT, INK, DIM, FONT, KIND_TEXT, KIND_SHAPE,
                      GRAPH_ATTR, NODE_ATTR, EDGE_ATTR)
from .labels import _Body, _h, _wrap
from .graph_requests import _RequestSide
from .graph_coroutines import _CoroutineTree
from .legend import legend, legend_dot  # noqa: F401  (kept as graph.legend / graph.legend_dot)

__all__ = ["to_dot", "graph", "universe", "frames_dot", "legend_dot", "legend",
           "OKABE_ITO", "STATUS_FILL", "node_names", "current_and_posted", "MAX_COROUTINES"]

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


def current_and_posted(snap, names, nodes):
    """The nodes of a snapshot's current coroutines (each ctx's cur_co_ctx)
    and of its posted ones, {node: place in its posted_threads list (0 =
    head)}.  `names` and `nodes` are the snapshot's coroutine names and
    node_names; a name stands for the latest coroutine called that."""
    current, posted = set(), {}
    for r in snap["requests"]:
        ctx = r["ctx"]
        if ctx is None:
            continue
        if ctx["cur_co_ctx"]:
            j = _latest(names, ctx["cur_co_ctx"])
            if j is not None:
                current.add(nodes[j])
        for k, name in enumerate(ctx["posted_threads"]):
            j = _latest(names, name)
            if j is not None:
                posted.setdefault(nodes[j], k)
    return current, posted


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
    posted_max}], "connections", "timers_max", "semaphores": [names]}``.  The layout parent of a
    coroutine is the first parent_co_ctx it ever has, else its creator (from
    the ``user_coroutine_create`` event), else none (an entry thread)."""
    snapshots = [s for s in snapshots if s is not None]
    cos, reqs = [], []
    entry_owner = {}
    conns = []
    timers_max = 0
    sems = []
    socks = []
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
        for x in s.get("semaphores", ()):
            if x["name"] not in sems:
                sems.append(x["name"])
        for x in s.get("sockets", ()):
            if x["name"] not in socks:
                socks.append(x["name"])
    by_node = {}
    for u in cos:
        # an entry thread: a handler's, or a timer's in its fake request (made by
        # another coroutine, but its ctx's entry_co_ctx, drawn under that ctx)
        u["entry"] = u["kind"] == "entry" or u["name"] in entry_owner
        if u["parent"] is None and not u["entry"]:
            u["parent"] = u["_creator"]
        by_node[u["node"]] = u
    for u in cos:                                   # the request a coroutine belongs to
        seen, x = set(), u
        while not x["entry"] and x["parent"] in by_node and x["node"] not in seen:
            seen.add(x["node"])
            x = by_node[x["parent"]]
        if x["entry"] and x["name"] in entry_owner:
            u["request"] = entry_owner[x["name"]]
        else:
            u["request"] = x["_focus"]
    for u in cos:
        # a timer's thread before its fake request exists: drawn from its creator
        u["creator"] = u["_creator"] if u["entry"] and u["kind"] != "entry" else None
        del u["_focus"], u["_creator"]
    return {"steps": len(snapshots), "coroutines": cos, "requests": reqs,
            "connections": sorted(conns), "timers_max": timers_max, "semaphores": sems,
            "sockets": socks}


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


class _Builder(_RequestSide, _CoroutineTree):
    """One frame's DOT statements: the bookkeeping and the caption here, the
    request side in graph_requests.py, the coroutine tree in graph_coroutines.py."""

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
    def _resolve_parent(self, node, c):
        if c["parent"] is None:
            return None
        i = self.nodes.index(node)
        j = _latest(self.names, c["parent"], i)
        return self.nodes[j] if j is not None else None

    def build(self):
        s, g = self.s, self.g
        if self.caption:
            g.attr(label=self._caption(), labelloc="t", labeljust="l")
        self.current, self.posted = current_and_posted(s, self.names, self.nodes)
        self._connections()
        self._timers()
        for i, ur in enumerate(self.u["requests"]):
            self._request(i, ur)
        self._coroutines()
        self._semaphores()
        self._sockets()
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



def _fits(u, snap):
    """Does this universe describe this snapshot's run (same names, in order)?"""
    if len(u["coroutines"]) < len(snap["coroutines"]) or len(u["requests"]) < len(snap["requests"]):
        return False
    for uc, c in zip(u["coroutines"], snap["coroutines"]):
        if uc["name"] != c["name"]:
            return False
    return True
