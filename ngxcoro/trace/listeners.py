"""Observation: the hooks the model fires, and listeners that turn them into text.

The scheduler never prints.  At each probe point of lua-nginx-module
(src/ngx_http_lua_probe.h) and at each step worth drawing it calls
`hooks.fire(event, **data)`; with no listener that is one falsy test.  What
each event carries and how each listener words it is in `events.py`.
"""
from __future__ import annotations

from collections import deque

from .events import EVENTS, TRACE_WORDS, debug_words


# what a ring of StapTrace or EventLog keeps: the last RING lines or events
RING = 20_000


def ring_note(what, ring, seen):
    """One line when a ring dropped some of what it saw, else None."""
    return f"{what}: only the last {len(ring):,} of {seen:,} are kept" if seen > len(ring) else None


class Hooks:
    """A list of listeners `f(event, data)`; falsy when nobody listens."""

    def __init__(self):
        self.listeners = []

    def __bool__(self):
        return bool(self.listeners)

    def add(self, listener):
        self.listeners.append(listener)
        return listener

    def fire(self, event, **data):
        for f in self.listeners:
            f(event, data)


class StapTrace:
    """The systemtap "GC script" of the module's test suite (t/StapThread.pm):
    the `stap` line of each probe in the registry.

    A ring, as EventLog.  Ids are small integers given to lua_States in the
    order a probe first mentions them, the parent before the child; hex for
    create/spawn/delete, decimal for terminate.
    """

    def __init__(self, limit=None):
        self.lines = deque(maxlen=limit or RING)     # the last `limit` lines
        self.seen = 0
        self._ids = {}

    def note(self):
        return ring_note("stap lines", self.lines, self.seen)

    def __call__(self, event, d):
        e = EVENTS.get(event)
        if e is None or not e.stap:
            return
        self.seen += 1
        ids = {k: self._ids.setdefault(d[k].L, len(self._ids) + 1)
               for k in e.fields if k in ("parent", "child", "co")}
        self.lines.append(e.stap.format(**ids, result="ok" if d.get("success") else "fail"))


class EventLog:
    """The request's history as plain dicts: every finalize_request with its
    rc and count, every change of r->main->count with its cause, and the
    scheduler steps, in order (the `events` of --json).  A ring: only the
    last `limit` events are kept, and `note()` says how many went."""

    KEEP = frozenset(name for name, e in EVENTS.items() if e.keep)

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
            if hasattr(v, "name") and hasattr(v, "co_status"):
                v = v.name
            elif hasattr(v, "unparsed_uri"):
                v = v.unparsed_uri
            e[k] = v
        self.events.append(e)


class DebugTrace:
    """The model's steps as the lines nginx's debug log would show for them,
    in the words the oracle's normaliser gives nginx's lines (events.py), so
    the two compare line for line.  Only the words both sides can say
    (`compared` in the registry) are written."""

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
