"""Observation: hooks the model fires, and listeners that turn them into text.

The scheduler never prints.  At each probe point of lua-nginx-module
(src/ngx_http_lua_probe.h) and at each step worth drawing it calls
`hooks.fire(event, **data)`; with no listener that is one falsy test.

Probe events (named as the C macros, minus `ngx_http_lua_probe_`):
  user_coroutine_create(parent, child)   user_thread_spawn(parent, child)
  user_coroutine_resume(parent, child)   user_coroutine_yield(parent, child)
  thread_yield(co)                       coroutine_done(co, success)
  thread_delete(co)                      run_posted_thread(co, status)
  user_thread_wait(parent, child)
Scheduler steps (the debug-log lines they stand for are in EVENT_TEXT).
"""
from __future__ import annotations

PROBES = ("user_coroutine_create", "user_thread_spawn", "user_coroutine_resume",
          "user_coroutine_yield", "thread_yield", "coroutine_done", "thread_delete",
          "run_posted_thread", "user_thread_wait")


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
    """The systemtap "GC script" of the module's test suite (t/StapThread.pm).

    Ids are small integers given to lua_States in the order a probe first
    mentions them, the parent before the child; hex for create/spawn/delete,
    decimal for terminate.
    """

    def __init__(self):
        self.lines = []
        self._ids = {}

    def _id(self, co):
        return self._ids.setdefault(co.L, len(self._ids) + 1)

    def __call__(self, event, d):
        if event == "user_coroutine_create":
            p, c = self._id(d["parent"]), self._id(d["child"])
            self.lines.append(f"create {c:x} in {p:x}")
        elif event == "user_thread_spawn":
            p, c = self._id(d["parent"]), self._id(d["child"])
            self.lines.append(f"spawn user thread {c:x} in {p:x}")
        elif event == "coroutine_done":
            self.lines.append(f"terminate {self._id(d['co'])}: {'ok' if d['success'] else 'fail'}")
        elif event == "thread_delete":
            self.lines.append(f"delete thread {self._id(d['co']):x}")


class EventLog:
    """The request's history as plain dicts: every finalize_request with its
    rc and count, every change of r->main->count with its cause, and the
    scheduler steps, in order (the `events` of --json)."""

    KEEP = {"finalize_request", "count", "run_thread", "run_thread_returned", "resume_returned",
            "sleep", "timer_expired", "exit", "exec", "request_cleanup", "finalize_threads",
            "post_thread", "run_posted_thread", "coroutine_done", "thread_delete",
            "user_thread_spawn", "user_coroutine_create", "phase_handler", "free_request",
            "terminate_request", "send_last_buf", "hang", "close_request"}

    def __init__(self, clock):
        self.events = []
        self._clock = clock

    def __call__(self, event, d):
        if event not in self.KEEP:
            return
        e = {"t_ms": self._clock.now_ms, "event": event}
        for k, v in d.items():
            if hasattr(v, "name") and hasattr(v, "co_status"):
                v = v.name
            elif hasattr(v, "unparsed_uri"):
                v = v.unparsed_uri
            e[k] = v
        self.events.append(e)
