"""The event loop: a virtual clock, nginx's timer tree and posted events
(src/event/ngx_event_timer.c, ngx_event_posted.c).

nginx keeps timers in a red-black tree keyed by deadline in milliseconds,
and a timer with the same deadline as an existing one goes to its right,
so equal deadlines fire in the order they were armed
(src/event/ngx_event_timer.c, ngx_rbtree_insert_timer_value).  A heap of
(deadline, arming sequence) gives the same order.  Time only moves when a
timer fires, so a run is instant and the same every time.

A turn of the loop (`run_once` runs it one handler at a time) is nginx's:
the I/O events ready when it begins, every timer due, then the posted events
(`post_event`: ngx_posted_events, where semaphore wake-ups run).

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
    __slots__ = ("deadline", "seq", "handler", "label", "active", "kind", "owner", "cancelable")

    def __init__(self, deadline, seq, handler, label, kind="", owner="", cancelable=False):
        self.deadline, self.seq, self.handler, self.label = deadline, seq, handler, label
        self.kind, self.owner = kind, owner
        self.active = True
        # ev->cancelable: does not keep an exiting worker alive (the model's own
        # timers for the client and the master are, they are not the worker's)
        self.cancelable = cancelable


class Event:
    """The part of ngx_event_t a posted event needs: its handler and the
    `posted` flag."""
    __slots__ = ("handler", "label", "posted")

    def __init__(self, handler, label=""):
        self.handler, self.label, self.posted = handler, label, False


class Loop:
    def __init__(self):
        self.now_ms = 0                  # virtual ms since the start of the run
        self._heap = []
        self._seq = itertools.count()
        self.order = None                # learner-chosen completion order (labels), or None
        self._ready = deque()            # I/O events for the next turn: (handler, label)
        self._io = deque()               # those of this turn, not yet handled
        self._posted = deque()           # ngx_posted_events: Event objects
        self._step = 1                   # where this turn is: 1 I/O, 2 timers, 3 posted
        self.horizon_ms = None           # the client's timeout: nothing runs at or after it
        self.at_horizon = False          # the loop stopped there with a timer still armed
        self.armed = {}                  # (owner, kind, delay_ms) -> timers armed so far
        self._turn_ended = False         # end_turn: the next run_once begins a turn
        self.turn_no = 0                 # turns begun (an epoll_wait each)
        # observers' lists (snapshots): each gets every timer armed, deleted or expired
        self.timer_watchers = []

    def add_timer(self, delay_ms, handler, label="", kind="", owner="", cancelable=False):
        """ngx_add_timer: `handler()` runs `delay_ms` virtual ms from now.
        `label` names it for a completion order; `kind` and `owner` say what
        it is for (pictures)."""
        t = Timer(self.now_ms + delay_ms, next(self._seq), handler, label, kind, owner,
                  cancelable)
        key = (owner, kind, delay_ms)
        self.armed[key] = self.armed.get(key, 0) + 1
        heapq.heappush(self._heap, (t.deadline, t.seq, t))
        for seen in self.timer_watchers:
            seen.append(t)
        return t

    def del_timer(self, t):
        """ngx_del_timer."""
        t.active = False
        for seen in self.timer_watchers:
            seen.append(t)

    def post(self, handler, label=""):
        """An I/O event becomes ready (a connection accepted, a client's EOF
        read): epoll hands it over in the next turn's ngx_process_events."""
        self._ready.append((handler, label))

    def post_now(self, handler, label=""):
        """An I/O event that became ready with the one being handled (epoll's
        ready list has it next): it runs next in this turn (in the next turn
        when no I/O step is under way)."""
        (self._io if self._step == 1 else self._ready).appendleft((handler, label))

    def post_again(self, handler, label=""):
        """A level-triggered event epoll reports again: epoll_wait put it back
        on the ready list when it handed it over, before anything that became
        ready during this turn, so it leads the next turn."""
        self._ready.appendleft((handler, label))

    def post_event(self, ev):
        """ngx_post_event(ev, &ngx_posted_events): `ev.handler()` runs in this
        turn's posted-events step.  An event already posted stays where it
        is (nginx logs "update posted event")."""
        if not ev.posted:
            ev.posted = True
            self._posted.append(ev)

    def delete_posted_event(self, ev):
        """ngx_delete_posted_event."""
        if ev.posted:
            ev.posted = False
            self._posted.remove(ev)

    def posted_events(self):
        """The posted events in the order they will run (for snapshots)."""
        return list(self._posted)

    def no_timers_left(self):
        """ngx_event_no_timers_left: True when every armed timer is cancelable
        (an exiting worker may then exit)."""
        return not any(t.active and not t.cancelable for _, _, t in self._heap)

    def turn_over(self):
        """Is the loop between two turns (ngx_process_events_and_timers has
        returned): no I/O event of this turn left, no timer due in it, nothing
        posted?  The worker's cycle looks at its flags there."""
        if self._io or self._posted:
            return False
        t = self.next_timer()
        return self._step == 3 or t is None or t.deadline > self.now_ms

    def pending(self):
        """Armed timers in firing order (for snapshots)."""
        return [t for _, _, t in sorted(self._heap) if t.active]

    def next_timer(self):
        """The timer to fire next, still armed: the earliest, unless a
        completion order says another listed timer must finish before it."""
        while self._heap and not self._heap[0][2].active:
            heapq.heappop(self._heap)
        if not self._heap:
            return None
        t = self._heap[0][2]
        if self.order and t.label in self.order and self.order[0] != t.label:
            t = next((x for _, _, x in sorted(self._heap)
                      if x.active and x.label == self.order[0]), t)
        return t

    def _expire(self, t):
        """ngx_event_expire_timers, for one timer."""
        if self.order and t.label in self.order:
            self.order.remove(t.label)
        if t is self._heap[0][2]:
            heapq.heappop(self._heap)
        else:                                   # the order picked another one
            self._heap.remove((t.deadline, t.seq, t))
            heapq.heapify(self._heap)
        t.active = False
        for seen in self.timer_watchers:
            seen.append(t)
        t.handler()

    def run_once(self):
        """One handler of ngx_process_events_and_timers (one a call, so the
        worker can stop a turn that never ends).  A turn is three steps:
        1. the I/O events ready when it began (ngx_process_events);
        2. every timer due, earliest first (ngx_event_expire_timers): the
           clock stands still meanwhile, so a 0 ms timer armed now is due too;
        3. the posted events, FIFO, with those posted meanwhile
           (ngx_event_process_posted).
        Then the next turn: with no I/O ready, epoll_wait sleeps until the
        next timer, and the clock moves there.  False when nothing is left
        or the next timer is at the horizon."""
        if self._turn_ended:
            self._turn_ended = False
            if not self._next_turn(self.next_timer()):
                return False
        while True:
            if self._step == 1 and self._io:
                handler, _ = self._io.popleft()
                handler()
                return True
            t = self.next_timer()
            if self._step <= 2 and t is not None and t.deadline <= self.now_ms:
                self._step = 2
                self._expire(t)
                return True
            if self._posted:
                self._step = 3
                ev = self._posted.popleft()
                ev.posted = False
                ev.handler()
                return True
            if not self._next_turn(t):
                return False

    def _next_turn(self, t):
        """The next turn begins: with no I/O ready, epoll_wait sleeps until
        the next timer `t` and the clock moves there.  False when nothing is
        left or `t` is at the horizon."""
        self._step = 1
        self.turn_no += 1
        if not self._ready:
            if t is None:
                return False
            if self.horizon_ms is not None and t.deadline >= self.horizon_ms:
                self.at_horizon = True
                return False
            self.now_ms = max(self.now_ms, t.deadline)
        self._io, self._ready = self._ready, deque()
        return True

    def end_turn(self):
        """The worker's cycle did work between two turns (its graceful
        shutdown): what that posted waits for the next turn, which begins with
        epoll_wait (until the next timer), then the timers due, then the
        posted events (ngx_process_events_and_timers)."""
        self._turn_ended = True

    def finish_turn(self, limit):
        """Run the rest of this turn (its due timers, then its posted events)
        without starting the next one: at most `limit` handlers."""
        for _ in range(limit):
            t = self.next_timer()
            if self._step <= 2 and t is not None and t.deadline <= self.now_ms:
                self._step = 2
                self._expire(t)
            elif self._posted:
                self._step = 3
                ev = self._posted.popleft()
                ev.posted = False
                ev.handler()
            else:
                break
        self._step = 1

    def epoch_seconds(self):
        return (EPOCH_MS + self.now_ms) / 1000.0
