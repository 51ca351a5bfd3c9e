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

import bisect
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
_SAN_RE = re.compile(r"[^A-Za-z0-9]+")
_SANE = {}                 # name -> its sanitized form (a run has few distinct names)


def _san(name):
    out = _SANE.get(name)
    if out is None:
        out = _SAN_RE.sub("_", str(name)).strip("_") or "x"
        if len(_SANE) < 100_000:
            _SANE[name] = out
    return out


def node_names(coroutines):
    """Stable node names for a snapshot's coroutine list (creation order):
    ``co_<name>``, and ``co_<name>_<k>`` for the k-th coroutine of a reused name."""
    nodes = CoNodes()
    nodes.extend(coroutines)
    return nodes.nodes


class CoNodes:
    """node_names of a run's coroutine list kept up to date as the run is
    walked (trace.snapshot.walk): a name is only ever appended, so a step
    costs what changed at it.  `names`, `nodes` (node_names), `place`
    (node -> index) and `latest(name, before)` (_latest without the scan)."""

    def __init__(self):
        self.names, self.nodes, self.place = [], [], {}
        self._seen, self._used, self._at = {}, set(), {}

    def extend(self, coroutines):
        """Append the coroutines past the ones known (in creation order)."""
        names, nodes, seen, used = self.names, self.nodes, self._seen, self._used
        for c in coroutines[len(names):]:
            name = c["name"]
            base = "co_" + _san(name)
            seen[base] = seen.get(base, 0) + 1
            node = base if seen[base] == 1 else f"{base}_{seen[base]}"
            while node in used:
                node += "_"
            used.add(node)
            self.place[node] = len(nodes)
            self._at.setdefault(name, []).append(len(names))
            names.append(name)
            nodes.append(node)

    def update(self, coroutines, changed):
        """Follow one step (`changed` as walk() gives it).  True when the names
        known before moved (a coroutine was renamed, or the list is not a
        recorded run's): then every node is named again, as node_names would."""
        names = self.names
        if changed is None or len(coroutines) < len(names) or any(
                i < len(names) and coroutines[i]["name"] != names[i] for i in changed):
            self.__init__()
            self.extend(coroutines)
            return True
        self.extend(coroutines)
        return False

    def latest(self, name, before=None):
        """Index of the most recent coroutine called `name` (below `before`)."""
        at = self._at.get(name)
        if not at:
            return None
        if before is None:
            return at[-1]
        k = bisect.bisect_left(at, before)
        return at[k - 1] if k else None


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
    return _current_and_posted(snap, lambda name: _latest(names, name), nodes)


def _current_and_posted(snap, latest, nodes):
    """current_and_posted with `latest(name)` for the look-up (CoNodes.latest)."""
    current, posted = set(), {}
    for r in snap["requests"]:
        ctx = r["ctx"]
        if ctx is None:
            continue
        if ctx["cur_co_ctx"]:
            j = latest(ctx["cur_co_ctx"])
            if j is not None:
                current.add(nodes[j])
        for k, name in enumerate(ctx["posted_threads"]):
            j = latest(name)
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
    from ..trace.snapshot import Steps, walk
    if not isinstance(snapshots, Steps):
        snapshots = [s for s in snapshots if s is not None]
    cos, reqs = [], []
    entry_owner = {}
    conns = []
    timers_max = 0
    sems = []
    socks = []
    names = CoNodes()
    steps = 0
    last = [None, None, None]            # requests, semaphores, sockets of the step before
    # linear in (steps + changes): a coroutine is looked at when its entry changed,
    # a part (requests, semaphores, sockets) when it is not the step before's
    for _k, s, changed in walk(snapshots):
        steps += 1
        coroutines = s["coroutines"]
        if names.update(coroutines, changed):
            changed = range(len(coroutines))
        nodes = names.nodes
        requests = s["requests"]
        if requests is not last[0]:
            last[0] = requests
            for i, r in enumerate(requests):
                if i == len(reqs):
                    reqs.append({"node": f"req_{i}", "uri": r["uri"], "args": r.get("args"),
                                 "parent": _req_parent(requests, i),
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
            child = names.latest(d.get("child"))
            par = names.latest(d.get("parent"), child) if child is not None else None
            if child is not None and par is not None:
                creator = (child, nodes[par])
        focus = None
        for i in changed:
            c = coroutines[i]
            if i == len(cos):
                if focus is None:
                    focus = _focus_index(s)
                cos.append({"node": nodes[i], "name": c["name"], "kind": c["kind"], "parent": None,
                            "request": None, "_focus": focus, "_creator": None})
            u = cos[i]
            u["kind"] = c["kind"]
            if u["parent"] is None and c["parent"] is not None:
                j = names.latest(c["parent"], i)
                if j is not None:
                    u["parent"] = nodes[j]
        if creator is not None and cos[creator[0]]["_creator"] is None:
            cos[creator[0]]["_creator"] = creator[1]
        timers_max = max(timers_max, len(s["timers"]))
        for j, key, seen in ((1, "semaphores", sems), (2, "sockets", socks)):
            part = s.get(key, ())
            if part is not last[j]:
                last[j] = part
                for x in part:
                    if x["name"] not in seen:
                        seen.append(x["name"])
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
    return {"steps": steps, "coroutines": cos, "requests": reqs,
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
