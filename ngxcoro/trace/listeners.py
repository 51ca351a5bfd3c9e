"""Observation: the hooks the model fires, and listeners that turn them into text.

The scheduler never prints.  At each probe point of lua-nginx-module
(src/ngx_http_lua_probe.h) and at each step worth drawing it calls
`hooks.fire(event, **data)`; with no listener that is one falsy test.  What
each event carries and how each listener words it is in `events.py`.
"""
from __future__ import annotations

from collections import deque

from ..ngx_lua.common import CoCtx
from .events import EVENTS, TRACE_WORDS, debug_lines, debug_words


# what a ring of StapTrace or EventLog keeps: the last RING lines or events
RING = 20_000
# the types of field values an event log keeps as they are
_PLAIN = frozenset((int, str, float, bool, type(None)))


def ring_note(what, ring, seen):
    """One line when a ring dropped some of what it saw, else None (a
    Stream keeps nothing and drops nothing)."""
    if isinstance(ring, Stream):
        return None
    return f"{what}: only the last {len(ring):,} of {seen:,} are kept" if seen > len(ring) else None


class _Table(dict):
    """event -> the listeners that want it, in order; made on first use."""

    def __init__(self, listeners):
        super().__init__()
        self.listeners = listeners

    def __missing__(self, event):
        fs = self[event] = tuple(f for f in self.listeners
                                 if getattr(f, "wants", None) is None or event in f.wants)
        return fs


class Hooks:
    """A list of listeners `f(event, data)`; falsy when nobody listens.  A
    listener with a `wants` attribute (a set of event names) is called for
    those events only: `table[event]` holds the listeners of each event, in
    the order they were added (one dispatch, no test in the listeners).
    Add listeners with `add` (or assign a new `listeners` list): the table
    is made again then, not when the list itself is changed in place."""

    def __init__(self):
        self.listeners = []

    @property
    def listeners(self):
        return self._listeners

    @listeners.setter
    def listeners(self, listeners):
        self._listeners = listeners
        self.table = _Table(listeners)

    def __bool__(self):
        return bool(self._listeners)

    def add(self, listener):
        self._listeners.append(listener)
        self.table = _Table(self._listeners)
        return listener

    def fire(self, event, **data):
        for f in self.table[event]:
            f(event, data)


class Stream:
    """Stands for the ring of a StapTrace or an EventLog when a run streams:
    each item is handed to `write` as it comes ({key: item} with a `key`),
    and nothing is kept."""

    def __init__(self, write, key=None):
        self.write, self.key = write, key

    def append(self, item):
        self.write({self.key: item} if self.key else item)

    def __len__(self):
        return 0

    def __iter__(self):
        return iter(())


def _stap_line(stap, ids, result):
    """A stap line: the registry's template with the lua_State ids of its fields."""
    return stap[0].format(**dict(zip(stap[1], ids)), result=result)


class StapTrace:
    """The systemtap "GC script" of the module's test suite (t/StapThread.pm):
    the `stap` line of each probe in the registry.

    A ring, as EventLog.  Ids are small integers given to lua_States in the
    order a probe first mentions them, the parent before the child; hex for
    create/spawn/delete, decimal for terminate.  As the script's
    F(ngx_http_handler), a main request's start while no other main request
    is alive forgets the ids given so far (those of init_worker_by_lua's
    timers, say): numbering starts at 1 again; F(ngx_http_free_request) and
    F(ngx_http_terminate_request) end the request's life.
    """

    def __init__(self, limit=None):
        # the last `limit` lines, each kept as (its registry entry, the ids, the result)
        # and formatted when read (`lines`)
        self._ring = deque(maxlen=limit or RING)
        self._stream = None                          # or where each line goes as it comes
        self.seen = 0
        self._ids = {}
        self._alive = set()                          # alive_reqs: ids of main requests

    @property
    def lines(self):
        """The lines kept (a list), or the Stream they were handed to."""
        if self._stream is not None:
            return self._stream
        return [_stap_line(*x) for x in self._ring]

    @lines.setter
    def lines(self, stream):
        self._stream = stream

    def _bracket(self, event, d):
        """The script's in_req / alive_reqs bookkeeping."""
        r = d.get("r")
        if r is None:
            return
        if event == "http_handler":
            if r.main is r and id(r) not in self._alive:
                self._alive.add(id(r))
                if len(self._alive) == 1:            # in_req == 1: delete ids; cur = 0
                    self._ids = {}
        else:                                        # free_request, terminate_request
            self._alive.discard(id(r))

    def note(self):
        return ring_note("stap lines", self._stream if self._stream is not None else self._ring,
                         self.seen)

    BRACKETS = frozenset(("http_handler", "free_request", "terminate_request"))
    # event -> (its stap line, the fields naming a lua_State, in the registry's order)
    STAP = {name: (e.stap, tuple(k for k in e.fields if k in ("parent", "child", "co")))
            for name, e in EVENTS.items() if e.stap}
    wants = BRACKETS | frozenset(STAP)                # (Hooks)

    def __call__(self, event, d):
        if event in self.BRACKETS:
            self._bracket(event, d)
            return
        stap = self.STAP.get(event)
        if stap is None:
            return
        self.seen += 1
        ids = self._ids
        line = (stap, [ids.setdefault(d[k].L, len(ids) + 1) for k in stap[1]],
                "ok" if d.get("success") else "fail")
        if self._stream is not None:
            self._stream.append(_stap_line(*line))
        else:
            self._ring.append(line)


class EventLog:
    """The request's history as plain dicts: every finalize_request with its
    rc and count, every change of r->main->count with its cause, and the
    scheduler steps, in order (the `events` of --json).  A ring: only the
    last `limit` events are kept, and `note()` says how many went."""

    KEEP = frozenset(name for name, e in EVENTS.items() if e.keep)
    wants = KEEP                                       # (Hooks)

    def __init__(self, clock, limit=None):
        self.events = deque(maxlen=limit or RING)
        self.seen = 0
        self._clock = clock

    def note(self):
        return ring_note("events", self.events, self.seen)

    def __call__(self, event, d):
        if event not in self.KEEP:
            return
        self.seen += 1
        e = {"t_ms": self._clock.now_ms, "event": event}
        for k, v in d.items():
            t = type(v)
            if t in _PLAIN:
                pass
            elif t is CoCtx:
                v = v.name
            elif hasattr(v, "name") and (hasattr(v, "co_status") or hasattr(v, "wait_queue")):
                v = v.name                  # a co ctx or a semaphore
            elif hasattr(v, "unparsed_uri"):
                v = v.unparsed_uri
            e[k] = v
        self.events.append(e)


class DebugTrace:
    """The model's steps as the lines nginx's debug log would show for them,
    in the words the oracle's normaliser gives nginx's lines (events.py), so
    the two compare line for line.  Only the words both sides can say
    (`compared` in the registry) are written."""

    mirrors_log = True          # it stands for the error log file (ngx_lua/initby.py)
    wants = frozenset(name for name, e in EVENTS.items() if e.compared)     # (Hooks)

    def __init__(self):
        self.lines = []

    def __call__(self, event, d):
        e = EVENTS.get(event)
        if e is not None and e.compared:
            line = debug_words(event, d)
            if line:
                self.lines.append(line)


def trace_words(debug):
    """The oracle's normalised debug lines kept to TRACE_WORDS, thread ids dropped."""
    return [x.split(" T")[0] if x.startswith("DELETE") else x
            for x in debug if x.startswith(TRACE_WORDS)]


class DebugLog:
    """nginx's debug lines for the model's steps, written to the worker's
    error log at level debug (the worker calls it when its error_log level
    is debug).  Lines go to the request's connection (``*N``, no ", client:"
    suffix: nginx adds that only above debug) or, for the registry's
    `cycle` lines, to the cycle log.

    Two values the events do not carry are followed here:

    top      lua_gettop(L) of the main Lua state, which "lua run thread,
             top:%d" prints: a worker's first request finds 9 values there
             (nginx 1.22.1 + ngx_lua 0.10.23, as recorded), until
             run_thread's lua_settop(L, 0) clears them when an entry thread
             or a light thread ends or aborts (ngx_http_lua_util.c), or
             after the lua_pcall of a log or filter chunk
    ref      the registry ref "lua deleting light thread %p (ref %d)"
             prints: luaL_ref of the coroutines table, taken by an entry
             thread (kept while its lua_State is cached) and by a light
             thread (given back by del_thread, reused last-in first-out);
             plain coroutines take none
    resuming "lua run thread returned %d" is written by the resume handlers
             only (ngx_http_lua_sleep_resume, _subrequest_resume,
             _read_body_resume): the first run_thread_returned after their
             wake-up (a body post read with no reader waiting wakes nobody:
             ngx.req.read_body found the body whole), not those of the phase handlers or of
             run_posted_threads
    """

    HANDLER_TOP = 9
    PCALLS = frozenset(("log_handler", "header_filter", "body_filter"))
    WAKE_UPS = frozenset(("timer_expired", "subrequests_done", "body_post_read",
                          "on_abort_resume", "sema_wake", "sema_timeout", "sock_wake"))
    ABORTS = ("lua user thread aborted", "lua entry thread aborted", "lua handler aborted")

    def __init__(self, worker):
        self.w = worker
        self.top = self.HANDLER_TOP
        self.resuming = False
        self.refs = {}                      # lua_State number -> ref
        self.free_refs = []

    def _ref(self, co):
        if co.L not in self.refs:
            self.refs[co.L] = self.free_refs.pop() if self.free_refs else len(self.refs) + 1
        return self.refs[co.L]

    def _request(self, d, co):
        """A timer's fake request, when the line is one of its own (its own *N)."""
        r = d.get("r") or getattr(co, "req", None)
        if r is None:                       # the current request, while a timer's runs
            r = self.w.cur_r if self.w.cur_r is not None and not self.w.cur_r.freed else None
        return r if r is not None and r.connection.log_context else None

    def __call__(self, event, d):
        co = d.get("co")
        if event == "phase_handler":
            self.resuming = False
        elif event == "run_thread" and co is not None and co.kind not in ("uthread", "coroutine"):
            self._ref(co)                   # an entry thread (ngx_http_lua_new_thread)
        elif event in ("user_thread_spawn", "on_abort", "timer_create", "timer_next"):
            self._ref(d.get("child") or co)    # a light thread's, a handler's or a timer's thread
        elif event in self.WAKE_UPS and (event != "timer_expired" or co is not None) \
                and d.get("wake", True):        # a body already read wakes nobody
            self.resuming = True
        elif event == "log" and str(d.get("msg", "")).startswith(self.ABORTS):
            self.top = 0
        elif event in self.PCALLS and d.get("chunk"):
            self.top = 0                    # the lua_settop(L, 0) after the lua_pcall
        elif event == "run_thread_returned":
            if not self.resuming:
                return
            self.resuming = False
        e = EVENTS.get(event)
        if e is None or e.line is None:
            return
        reqs = self.w.requests
        r = None if e.cycle or not reqs else self._request(d, co) or self.w.main_r or reqs[0]
        ref = self.refs.get(co.L) if event in ("thread_delete", "free_timer_thread") else None
        for text in debug_lines(event, d, self.top, ref):
            self.w.log_error("debug", text, r)
        if (event == "thread_delete" and co.is_uthread or event == "free_timer_thread") \
                and co.L in self.refs:
            self.free_refs.append(self.refs.pop(co.L))      # luaL_unref
        if event == "thread_ended" and (co.is_uthread or co.kind not in ("uthread", "coroutine")):
            self.top = 0
