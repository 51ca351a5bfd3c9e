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


# The debug-log words of ngxcoro.realnginx.normalise_debug (scheduler-semantics
# section 6.1) that both sides can say: what run_thread, the posted loops and
# nginx's finalize path did, in order.  Left out: NEWTHREAD/HANDLER (thread
# cache and first-request artefacts), YIELD/SAY, POSTED_REQ/WAKE_PARENT.
TRACE_WORDS = ("RUN ", "RESUMED ", "OP ", "SLEEP", "CAPTURE ", "SUBREQ ", "POST_SUBREQ ",
               "SUBREQ_RESUME", "FINALIZE ", "CLOSE_REQ ", "TERMINATE ", "EXIT ",
               "HANDLE_EXIT ", "EXEC ", "LAST_BUF", "ENDED", "TO_PARENT", "DELETE",
               "REQ_CLEANUP ")
_OPS = {"USER_THREAD_RESUME": "spawn-child", "USER_CORO_RESUME": "coro-resume",
        "USER_CORO_YIELD": "coro-yield"}


def _uri(u):
    return u[:-1] if u.endswith("?") else u


# how each model event reads in nginx's debug log (normalised)
_DEBUG_WORDS = {
    "run_thread": "RUN c={c}", "resume_returned": "RESUMED rv={rv}", "sleep": "SLEEP {ms}",
    "sleep_cleanup": "SLEEP_CANCELLED", "capture": "CAPTURE c={c}",
    "post_subrequest": "POST_SUBREQ rc={rc} c={c}", "subrequests_done": "SUBREQ_RESUME",
    "close_request": "CLOSE_REQ c={c}", "terminate_request": "TERMINATE c={c}",
    "exit": "EXIT {code}", "handle_exit": "HANDLE_EXIT {code}", "send_last_buf": "LAST_BUF",
    "thread_ended": "ENDED", "back_to_parent": "TO_PARENT", "thread_delete": "DELETE",
    "request_cleanup": "REQ_CLEANUP forcible={forcible}",
}


class DebugTrace:
    """The model's steps as the lines nginx's debug log would show for them,
    in the words of ngxcoro.realnginx.normalise_debug (so the two compare
    line for line)."""

    def __init__(self):
        self.lines = []

    def __call__(self, event, d):
        if event in _DEBUG_WORDS:
            line = _DEBUG_WORDS[event].format(**d)
        elif event == "co_op":
            line = _OPS.get(d["op"]) and f"OP {_OPS[d['op']]}"
        elif event == "timer_expired":                 # echo_sleep's timer logs nothing
            line = "SLEEP_EXPIRED" if d.get("co") is not None else None
        elif event == "subrequest":
            line = f"SUBREQ {_uri(d['uri'])}"
        elif event == "finalize_request":
            line = f"FINALIZE rc={d['rc']} uri={_uri(d['uri'])} a={d['a']} c={d['c']}"
        elif event == "exec":
            line = f"EXEC {d['uri']}" + (f"?{d['args']}" if d.get("args") else "")
        else:
            line = None
        if line:
            self.lines.append(line)


def trace_words(debug):
    """realnginx.normalise_debug's lines kept to TRACE_WORDS, thread ids dropped."""
    return [x.split(" T")[0] if x.startswith("DELETE") else x
            for x in debug if x.startswith(TRACE_WORDS)]
