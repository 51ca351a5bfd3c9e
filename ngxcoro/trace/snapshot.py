"""Snapshots: every scheduler step as a self-contained piece of plain data.

`Snapshots(worker)` is a listener (see trace.Hooks).  At each event it
records everything a picture of that step needs -- the event and a sentence
about it, where the model is (the C function and the line of ngxcoro's own
source), each coroutine with its status, parent and current Lua line,
posted_threads in order, the ctx fields, r->count, timers, the semaphores
and the loop's posted events, subrequests and the response so far -- so any step can be drawn without its neighbours.
Names are stable ("entry", "t1", "co2", ...): no ids, no addresses.

Linear in the run: a step records only what changed (`Steps`).  The parts
(requests, timers, semaphores, sockets, output, ...) are kept once and
shared by the steps that see the same value (a timer's dict is made once;
the timer list and the output are rebuilt only when the loop's timers or
the response moved).  Of the coroutines, only the co ctxs a change can
reach are compared at a step (`coroutines`), and only those whose fields
changed or that ran get a new entry, their Lua line read again; a dead
one's entry stands, shared by later steps, until one of its fields changes
(that happens: a dead coroutine's zombie list grows, a deleted light
thread's co ctx is given a new life).
`frames` rebuilds a step's full dict on demand, the same dict as ever;
`frames.walk()` goes through the run by its changes, for consumers that keep
per-step state (the stepper: graph.universe, the timeline, the frames).
Every FREEZE_EVERY steps the recorder calls gc.freeze(), so the garbage
collector does not walk the steps again and again; run() calls `thaw()`
(gc.unfreeze()) when the run is over.
"""
from __future__ import annotations

import bisect
import gc
import itertools
import operator
import os
import sys

from ..nginx.core import rc_name
from ..nginx.loop import EPOCH_MS
from ..ngx_lua.common import CONTEXT_NAMES, CoCtx, CoOp, CoStatus
from .cfunctions import C_FUNCTIONS
from .events import EVENTS, explain
from .steps import CHECKPOINT, Steps, walk  # noqa: F401 (the recorded steps; their home)

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# modules that fire or listen, never a step's place
_OBSERVERS = ("ngxcoro.worker", "ngxcoro.trace.")
_QUIET = frozenset(name for name, e in EVENTS.items() if e.quiet)

# the types of field values a step keeps as they are
_PLAIN = frozenset((int, str, float, bool, type(None)))
# a function's code -> (not a step's place: an observer's or not ngxcoro's, ngxcoro's,
# the C function of trace/cfunctions.py it stands for or None)
_CODES = {}


def _module(frame):
    return frame.f_globals.get("__name__", "")


def _code(frame):
    """What `where` reads of a frame's function, once per function (_CODES)."""
    code = frame.f_code
    # (a path as imported: ngxcoro found through sys.path "bench/.." is still ngxcoro)
    in_pkg = os.path.abspath(code.co_filename).startswith(_PKG_DIR)
    info = _CODES[code] = (_module(frame).startswith(_OBSERVERS) or not in_pkg, in_pkg,
                           C_FUNCTIONS.get(_module(frame)[len("ngxcoro."):] + "." + code.co_name))
    return info


def _name(v):
    if type(v) in _PLAIN:
        return v
    if type(v) is CoCtx:
        return v.name
    if hasattr(v, "co_status") or hasattr(v, "wait_queue"):
        return v.name                   # a co ctx or a semaphore
    if hasattr(v, "log_uri"):
        return v.uri
    return v


def _timer(t):
    """A timer's entry (made once: the steps that list it share it)."""
    return {"label": t.label, "deadline_ms": t.deadline, "kind": t.kind, "owner": t.owner}


# the fields of a co ctx whose change makes a new entry (the list is compared by length:
# a zombie child comes or goes)
_CO_FIELDS = operator.attrgetter("co_status", "co", "kind", "parent_co_ctx", "waited_by_parent", "waiting",
                                 "pending_subreqs", "is_wrap", "req", "creator")
_OP_NAMES = {op: op.name for op in CoOp}   # (an enum's .name is slow to read)
FREEZE_EVERY = 1024                      # steps between two gc.freeze() of a long run


class Snapshots:
    """Listener: `frames` is the sequence of snapshots (`Steps`), one per
    step, up to `limit` of them (`note()` says when the run went on past
    that)."""

    LIMIT = 20_000                       # the stepper reads a run linearly (walk): 20k steps build in seconds

    def __init__(self, worker, limit=LIMIT, exhaustive=False):
        self.w = worker
        self.limit = limit
        self.exhaustive = exhaustive          # compare every co ctx at every step (tests)
        self.skipped = 0
        self.frames = Steps()
        self.last_rc = None
        self.executing = None                 # inside lua_resume of this co ctx
        self._exec_co = None
        self.frozen = False                   # gc.freeze() called: thaw() after the run
        # the armed timers in firing order: their (deadline, seq) keys and their dicts (one
        # per timer, shared), kept up to date from what the loop says it armed or disarmed
        self._timer_keys, self._timers = None, []
        self._timers_seen = []
        worker.loop.timer_watchers.append(self._timers_seen)
        self._output_key, self._output = None, None
        self._ran = set()                     # co ctxs that ran since their line was read
        self._known = 0                       # how many of w.coctx_by_id are listed
        self._index = {}                      # co ctx -> its place in the list
        self._live = []                       # every co ctx, in creation order
        self._sigs = []                       # their fields at the last step, in that order
        self._named = set()                   # co ctxs the events since the last step named
        self._named_before = set()            # those the step before's events named
        self._watch = set()                   # waiting for subrequests or on a socket
        self._cos = []                        # the entries of the last step
        self._parts = (None,) * 7             # the shared parts of the last step
        self._zombie_names = {}               # co ctx -> (its zombie list, length, last, names)
        self._wheres = {}                     # (code, instruction, C function) -> "where"

    def __call__(self, event, data):
        for v in data.values():
            if type(v) is CoCtx:
                self._named.add(v)
        if event == "resume":
            self.executing = data["co"].name
            self._exec_co = data["co"]
            return
        if event == "resume_returned":
            self.executing, self._exec_co = None, None
            if data.get("co") is not None:
                self._ran.add(data["co"])
        if event in _QUIET:
            return
        if event in ("run_thread_returned", "finalize_request"):
            self.last_rc = data.get("rc")
        if len(self.frames) >= self.limit:
            if not self.skipped:              # no more steps: the loop need not tell the timers
                watchers = self.w.loop.timer_watchers
                watchers[:] = [x for x in watchers if x is not self._timers_seen]
            self.skipped += 1
            return
        self.take(event, data)

    def note(self):
        """One line when steps were left out, else None."""
        return (f"steps: only the first {self.limit:,} are recorded; {self.skipped:,} more "
                "were not" if self.skipped else None)

    # ----------------------------------------------------------------- where
    def where(self):
        """The model function that fired, its file and line, and the C
        function it stands for (trace/cfunctions.py; a helper's caller's).
        What a function's code says (`_code`) is read once; the dict is made
        once per place and shared by the steps fired there."""
        f = sys._getframe(2)
        codes = _CODES
        while f is not None and (codes.get(f.f_code) or _code(f))[0]:
            f = f.f_back
        if f is None:
            return None
        here = f
        c_name = None
        while f is not None and c_name is None:
            _, in_pkg, c_name = codes.get(f.f_code) or _code(f)
            if not in_pkg:
                c_name = None
                break
            f = f.f_back
        key = (here.f_code, here.f_lasti, c_name)     # (f_lineno is worked out: once)
        where = self._wheres.get(key)
        if where is None:
            code = here.f_code
            rel = os.path.relpath(code.co_filename, os.path.dirname(_PKG_DIR)).replace(os.sep, "/")
            where = self._wheres[key] = {"file": rel, "line": here.f_lineno,
                                         "function": code.co_name, "c_function": c_name}
        return where

    # ------------------------------------------------------------------ take
    def take(self, event, data):
        """Record one step: its own values, the parts (kept once while they
        stay the same) and the coroutine entries that changed."""
        w = self.w
        d = {k: v if type(v) in _PLAIN else _name(v) for k, v in data.items()}
        r = w.cur_r
        head = (event, d, explain(event, d, w.loop.now_ms), self.where(), w.loop.now_ms,
                r.phase if r is not None else "", r.uri if r is not None else None,
                self.request_index(r), self.executing,
                rc_name(self.last_rc) if self.last_rc is not None else None, len(w.error_log),
                w.what_if)
        parts = (self.requests(),
                 self.timers(),
                 self.semaphores(), self.sockets(),
                 [ev.label for ev in w.loop.posted_events()],
                 self.output(), self.shared_dicts())
        self._parts = parts = tuple([old if new is old or new == old else new
                                     for new, old in zip(parts, self._parts)])
        changes = self.coroutines()
        self.frames.append(head, parts, changes, self._cos)
        if len(self.frames) % FREEZE_EVERY == 0:
            gc.freeze()                   # what is recorded so far: no collection walks it again
            self.frozen = True

    def thaw(self):
        """After the run: what gc.freeze() set aside is collectable again."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False

    def timers(self):
        """The armed timers in firing order (nginx/loop.py pending()); the same
        list as the step before while no timer was armed, deleted or expired
        since (the loop's timer_watchers), else a copy with those put in or
        taken out at their place (by deadline, then arming order)."""
        seen, keys = self._timers_seen, self._timer_keys
        if keys is None:                                  # the first step
            self._timer_keys = [(t.deadline, t.seq) for t in self.w.loop.pending()]
            self._timers = [_timer(t) for t in self.w.loop.pending()]
            seen.clear()
        elif seen:
            timers = list(self._timers)
            for t in dict.fromkeys(seen):                 # each once: its last state counts
                key = (t.deadline, t.seq)
                i = bisect.bisect_left(keys, key)
                listed = i < len(keys) and keys[i] == key
                if t.active and not listed:
                    keys.insert(i, key)
                    timers.insert(i, _timer(t))
                elif listed and not t.active:
                    del keys[i], timers[i]
            seen.clear()
            self._timers = timers
        return self._timers

    def shared_dicts(self):
        """Each lua_shared_dict's entries by key (ngx_lua/shdict.py Zone.contents): value,
        type, flags, expiry in virtual ms and whether it has expired."""
        now = EPOCH_MS + self.w.loop.now_ms
        return {name: zone.contents(now)
                for name, zone in getattr(self.w, "shdict_zones", {}).items()}

    def request_index(self, r):
        for i, x in enumerate(self.w.requests):
            if x is r:
                return i
        return None

    def requests(self):
        """The main request, its subrequests and any upstream request; `id`
        is the index here, `parent_id` the parent's."""
        out = []
        for i, r in enumerate(self.w.requests):
            ctx = r.ctx
            out.append({
                "id": i,
                "parent_id": self.request_index(r.parent),
                "uri": r.uri,
                "args": r.args,
                "main": r is r.main,
                "parent": r.parent.uri if r.parent is not None else None,
                "count": r.main.count,
                "phase": r.phase,
                "header_sent": r.header_sent,
                "done": r.done,
                "freed": r.freed,
                "destroyed": r.connection.destroyed,
                "connection": r.connection.number,
                "fake": bool(r.connection.log_context),     # a timer's fake request
                # c->data (the request whose output may go out) and r->postponed: the
                # subrequests still to run and the output held behind them (postpone filter)
                "active": r is (r.connection.active or r.connection.data),
                "postponed": [f"subrequest {x.uri}" if hasattr(x, "uri") else
                              f"{sum(len(d) for d, _, _ in x)} bytes held"
                              for x in getattr(r, "postponed", ())],
                "ctx": None if ctx is None else {
                    "cur_co_ctx": ctx.cur_co_ctx.name if ctx.cur_co_ctx else None,
                    "entry_co_ctx": ctx.entry_co_ctx.name,
                    "co_op": _OP_NAMES[ctx.co_op],
                    "uthreads": ctx.uthreads,
                    "posted_threads": [c.name for c in ctx.posted_list()],
                    "context": CONTEXT_NAMES.get(ctx.context, ""),
                    "exited": ctx.exited,
                    "exit_code": ctx.exit_code,
                    "exec_uri": ctx.exec_uri,
                    "no_abort": ctx.no_abort,
                    "eof": ctx.eof,
                    "on_abort_co_ctx": (ctx.on_abort_co_ctx.name
                                        if ctx.on_abort_co_ctx is not None else None),
                },
            })
        return out

    def coroutines(self):
        """The coroutine entries that changed at this step, as (place, entry):
        every co ctx the run has known is listed in creation order; a new
        one is added at the end, one gets a new entry when one of its fields
        changed or it ran (its Lua line).

        Only the co ctxs a change can reach are compared (all of them with
        `exhaustive`): those the events since the step before named, and
        those of the step before (a field may change after its event), the
        one in lua_resume and those that ran, each request's entry and
        current co ctx, the ones waiting for subrequests or on a socket (their
        wake-up names them late), and the parents of all these."""
        by_id, known = self.w.coctx_by_id, self._known
        new = []
        if len(by_id) != known:
            for coctx in itertools.islice(by_id.values(), known, None):   # new, in creation order
                if coctx not in self._index:
                    self._index[coctx] = len(self._live)
                    self._live.append(coctx)
                    self._sigs.append(None)
                    new.append(coctx)
            self._known = len(by_id)
        ran, self._ran = self._ran, set()
        if self._exec_co is not None:
            ran.add(self._exec_co)
        named, self._named = self._named, set()
        if self.exhaustive:
            suspects = set(self._live)
        else:
            suspects = named | self._named_before | ran | self._watch
            suspects.update(new)
            for r in self.w.requests:
                if r.ctx is not None:
                    suspects.add(r.ctx.entry_co_ctx)
                    suspects.add(r.ctx.cur_co_ctx)
            suspects.update([c.parent_co_ctx for c in suspects if c is not None])
        self._named_before = named
        dirty, watch, index, sigs = [], self._watch, self._index, self._sigs
        for c in suspects:
            i = index.get(c)
            if i is None:
                continue
            sig = (_CO_FIELDS(c), len(c.zombie_child_threads))
            if sig != sigs[i] or c in ran:
                sigs[i] = sig
                dirty.append(i)
            if c.pending_subreqs or c.sock_u is not None:
                watch.add(c)
            else:
                watch.discard(c)
        changes = []
        for i in sorted(dirty):
            entry = self._entry(self._live[i])
            if i == len(self._cos):
                self._cos.append(entry)
            else:
                self._cos[i] = entry
            changes.append((i, entry))
        return changes

    def _entry(self, coctx):
        """The entry of one co ctx (that is new, changed or ran)."""
        where = (self.w.vm.where(coctx.co)
                 if coctx.co and coctx.co_status != CoStatus.DEAD else None)
        line = None
        if where and where[0] in self.w.chunk_lines:
            line = self.w.chunk_lines[where[0]] + where[1] - 1
        return {
            "request": self.request_index(coctx.req),
            "creator": coctx.creator.name if coctx.creator else None,
            "name": coctx.name,
            "kind": coctx.kind or "entry",
            "status": coctx.co_status.lua_name,
            "parent": coctx.parent_co_ctx.name if coctx.parent_co_ctx else None,
            "is_wrap": coctx.is_wrap,
            "waited_by_parent": coctx.waited_by_parent,
            "zombies": self._zombies(coctx),
            "waiting": coctx.waiting,
            "pending_subreqs": coctx.pending_subreqs,
            "lua_line": f"{where[0]}:{where[1]}" if where else None,
            "config_line": line,
        }

    def _zombies(self, coctx):
        """The names of a co ctx's zombie children.  Their list only grows
        (ngx_http_lua_post_zombie_thread) until an empty one replaces it
        (cleanup_zombie_child_uthreads): the names listed last time are
        kept, the same list while no zombie came, else a copy with the
        newcomers' names added (not N names again for N zombies)."""
        zs = coctx.zombie_child_threads
        seen = self._zombie_names.get(coctx)
        n = len(zs)
        if seen is not None and seen[0] is zs and n >= seen[1] \
                and (seen[1] == 0 or zs[seen[1] - 1] is seen[2]):
            if n == seen[1]:
                return seen[3]
            names = seen[3] + [z.name for z in zs[seen[1]:]]
        else:
            names = [z.name for z in zs]
        self._zombie_names[coctx] = (zs, n, zs[-1] if zs else None, names)
        return names

    def semaphores(self):
        """Every ngx.semaphore of the run: its resources, its wait queue (head
        first), count() and whether its wake-up event is posted."""
        return [{"name": sem.name, "resources": sem.resource_count,
                 "wait_queue": [c.name for c in sem.wait_queue],
                 "count": sem.resource_count - sem.wait_count,
                 "event_posted": sem.event.posted} for sem in self.w.semaphores]

    def sockets(self):
        """Every cosocket of the run (ngx_lua/socket_tcp.py Upstream), then each
        idle connection in a keepalive pool: its peer, its state (connecting,
        connected, waiting to read or write, closed, pooled), the bytes received
        and not consumed (and a preview), what arrived and is not read yet, its
        timeouts, the coroutine waiting on it, and what a scripted peer at the
        other end is doing (ngxcoro/peers.py)."""
        out = []
        for u in getattr(self.w, "sockets", ()):
            # u->buffer, after what a receive still waiting has taken (u->bufs_in)
            buf = (bytes(u.out) if u.read_waiting else b"") + bytes(u.buffer or b"")
            co = u.read_co_ctx or u.write_co_ctx
            peer = getattr(u.pc, "peer", None)   # a request body socket has none
            out.append({"name": u.name, "peer": f"{u.host}:{u.port}" if u.host else "",
                        "state": u.state(), "buffered": len(buf),
                        "preview": buf[:24].decode("latin-1"),
                        "arrived": len(u.pc.rbuf) if u.pc is not None else 0,
                        "timeouts": dict(zip(("connect", "send", "read"), u.timeouts)),
                        "waiting": co.name if co is not None else None,
                        "reused": u.reused, "peer_state": getattr(peer, "state", None)})
        for key, pool in getattr(self.w, "socket_pools", {}).items():
            for k, item in enumerate(pool.cache):
                pc = item.connection
                out.append({"name": f"pool {key} #{k + 1}", "peer": f"{pc.host}:{pc.port}",
                            "state": "pooled", "buffered": 0, "preview": "",
                            "arrived": len(pc.rbuf), "timeouts": {}, "waiting": None,
                            "reused": item.reused,
                            "peer_state": getattr(pc.peer, "state", None)})
        return out

    def output(self):
        r = self.w.main_r or (self.w.requests[0] if self.w.requests else None)
        if r is None:
            return {"status": None, "sent": "", "held": ""}
        wire = r.connection.wire
        # the body only grows and the held output changes with its size: decoded again
        # only when one of these moved (a long response is not decoded at every step)
        key = (wire, wire.status, len(wire.body), len(wire._held), wire._held_size,
               wire.complete, wire.gone)
        if key != self._output_key:
            self._output_key = key
            self._output = {"status": wire.status,
                            "sent": bytes(wire.body).decode("utf-8", "replace"),
                            "held": wire.held().decode("utf-8", "replace"),
                            "complete": wire.complete, "client_gone": wire.gone}
        return self._output
