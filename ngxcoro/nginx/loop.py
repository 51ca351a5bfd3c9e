"""The event loop: a virtual clock, nginx's timer tree and posted events
(src/event/ngx_event_timer.c, ngx_event_posted.c).

nginx keeps timers in a red-black tree keyed by deadline in milliseconds,
and a timer with the same deadline as an existing one goes to its right,
so equal deadlines fire in the order they were armed
(src/event/ngx_event_timer.c, ngx_rbtree_insert_timer_value).  A heap of
(deadline, arming sequence) gives the same order.  Time only moves when a
timer fires, so a run is instant and the same every time.

A run has a horizon: the client's timeout (`horizon_ms`).  nginx has no
such thing; its client does.  A timer due at or after the horizon would
fire after the client gave up and closed, so the loop stops before it
(`run_once` answers False and sets `at_horizon`).  What each owner armed is
counted (`armed`), so a coroutine that re-arms its timer forever can be named.
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque

EPOCH_MS = 1_672_531_200_000     # 2023-01-01 00:00:00 UTC: ngx.now() at the start of a run


class Timer:
    __slots__ = ("deadline", "seq", "handler", "label", "active", "kind", "owner")

    def __init__(self, deadline, seq, handler, label, kind="", owner=""):
        self.deadline, self.seq, self.handler, self.label = deadline, seq, handler, label
        self.kind, self.owner = kind, owner
        self.active = True


class Loop:
    def __init__(self):
        self.now_ms = 0                  # virtual ms since the start of the run
        self._heap = []
        self._seq = itertools.count()
        self.order = None                # learner-chosen completion order (labels), or None
        self._posted = deque()           # ngx_posted_events: run before the clock moves
        self.horizon_ms = None           # the client's timeout: nothing runs at or after it
        self.at_horizon = False          # the loop stopped there with a timer still armed
        self.armed = {}                  # (owner, kind, delay_ms) -> timers armed so far

    def add_timer(self, delay_ms, handler, label="", kind="", owner=""):
        """ngx_add_timer: `handler()` runs `delay_ms` virtual ms from now.
        `label` names it for a completion order; `kind` and `owner` say what
        it is for (pictures)."""
        t = Timer(self.now_ms + delay_ms, next(self._seq), handler, label, kind, owner)
        key = (owner, kind, delay_ms)
        self.armed[key] = self.armed.get(key, 0) + 1
        heapq.heappush(self._heap, (t.deadline, t.seq, t))
        return t

    @staticmethod
    def del_timer(t):
        """ngx_del_timer."""
        t.active = False

    def post(self, handler, label=""):
        """ngx_post_event: `handler()` runs in the next loop iteration, at
        the current time (an I/O event that is ready now)."""
        self._posted.append((handler, label))

    def pending(self):
        """Armed timers in firing order (for snapshots)."""
        return [t for _, _, t in sorted(self._heap) if t.active]

    def next_timer(self):
        """The timer to fire next: the earliest, unless a completion order
        says another listed timer must finish before it."""
        while self._heap and not self._heap[0][2].active:
            heapq.heappop(self._heap)
        if not self._heap:
            return None
        t = self._heap[0][2]
        if self.order and t.label in self.order and self.order[0] != t.label:
            first = next((x for _, _, x in sorted(self._heap)
                          if x.active and x.label == self.order[0]), None)
            if first is not None:
                t = first
        if self.order and t.label in self.order:
            self.order.remove(t.label)
        if t is self._heap[0][2]:
            heapq.heappop(self._heap)
        else:                                   # the order picked another one
            self._heap.remove((t.deadline, t.seq, t))
            heapq.heapify(self._heap)
        return t

    def run_once(self):
        """ngx_process_events_and_timers, minus the I/O: run a posted event,
        or fire the next timer."""
        if self._posted:
            handler, _ = self._posted.popleft()
            handler()
            return True
        t = self.next_timer()
        if t is None:
            return False
        if self.horizon_ms is not None and t.deadline >= self.horizon_ms:
            heapq.heappush(self._heap, (t.deadline, t.seq, t))     # still armed
            self.at_horizon = True
            return False
        self.now_ms = max(self.now_ms, t.deadline)
        t.active = False
        t.handler()
        return True

    def epoch_seconds(self):
        return (EPOCH_MS + self.now_ms) / 1000.0
