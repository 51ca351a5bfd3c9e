"""Snapshots: every scheduler step as a self-contained piece of plain data.

`Snapshots(worker)` is a listener (see trace.Hooks).  At each event it
records everything a picture of that step needs -- the event and a sentence
about it, where the model is (the C function and the line of ngxcoro's own
source), each coroutine with its status, parent and current Lua line,
posted_threads in order, the ctx fields, r->count, timers, subrequests and
the response so far -- so any step can be drawn without its neighbours.
Names are stable ("entry", "t1", "co2", ...): no ids, no addresses.
"""
from __future__ import annotations

import os
import sys

from ..nginx.core import rc_name
from ..ngx_lua.common import CONTEXT_NAMES, CoStatus
from .cfunctions import C_FUNCTIONS

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# modules that fire or listen, never a step's place
_OBSERVERS = ("ngxcoro.worker", "ngxcoro.trace.")

# events that are not steps of their own
QUIET = {"log"}

EXPLAIN = {
    "phase_handler": "the {phase} phase handler starts a new entry thread (r->count {c})",
    "run_thread": "run_thread resumes {co} (r->count {c})",
    "resume_returned": "lua_resume returned {rv_text} for {co}",
    "co_op": "{co} yielded with co_op {op}: {op_text}",
    "user_thread_spawn": "ngx.thread.spawn: {child} is created by {parent}; {parent} goes to the "
                         "tail of posted_threads and {child} runs first",
    "user_coroutine_create": "{child} is created by {parent}",
    "user_coroutine_resume": "coroutine.resume: {parent} asks run_thread to resume {child}",
    "user_coroutine_yield": "coroutine.yield in {child}",
    "thread_yield": "coroutine.yield in the light thread {co}: a time slice",
    "post_thread": "post_thread appends {co} at the tail of posted_threads (walking the list)",
    "run_posted_thread": "run_posted_threads pops {co} ({status})",
    "coroutine_done": "{co} {done_text}",
    "thread_ended": "{co} ended normally",
    "zombie": "{co} ended before its parent {parent} waited: it becomes a zombie",
    "back_to_parent": "{co} hands its results to {parent}, which resumes in the same run_thread",
    "thread_delete": "del_thread: {co} loses its registry reference",
    "user_thread_wait": "ngx.thread.wait: {parent} waits for {child}",
    "sleep": "ngx.sleep arms a {ms} ms timer for {co} and yields",
    "timer_expired": "the timer of {label} fires at {t_ms} ms",
    "sleep_cleanup": "the pending ngx.sleep of {co} is cancelled",
    "finalize_threads": "finalize_threads deletes every thread of the handler",
    "request_cleanup": "request_cleanup (forcible={forcible})",
    "reset_ctx": "reset_ctx: the ctx is cleared for a new handler (posted_threads is kept)",
    "run_thread_returned": "run_thread returned {rc_text}",
    "finalize_request": "finalize_request(r, {rc_text}) on {uri} with r->count {c}",
    "count": "r->count {delta:+d} -> {c}: {cause}",
    "close_request": "close_request: r->count {c} -> {c_after}",
    "free_request": "the request is freed: its cleanup handlers run",
    "close_connection": "the connection is closed: c->destroyed = 1",
    "terminate_request": "terminate_request: the connection will be closed",
    "send_last_buf": "the last buf of the response is sent",
    "exit": "ngx.exit({code}) records the exit and yields",
    "handle_exit": "run_thread acts on ngx.exit({code}): every thread of the handler dies",
    "exec": "ngx.exec(\"{uri}\") records the redirect and yields",
    "handle_exec": "run_thread acts on ngx.exec: every thread dies, then an internal redirect",
    "internal_redirect": "internal redirect to {uri} (r->count +1)",
    "redirect": "ngx.redirect to {uri} with {code}",
    "capture": "ngx.location.capture from {uri} (r->count {c})",
    "subrequest": "subrequest {uri} is created and posted",
    "posted_request": "ngx_http_run_posted_requests runs {uri}",
    "post_subrequest": "the subrequest {uri} is done (rc {rc}): its parent is posted at the head",
    "wake_parent": "the parent {uri} is woken",
    "subrequests_done": "all subrequests of {co} are done: it resumes with their results",
    "read_body": "ngx.req.read_body starts reading the request body",
    "body_arrived": "the rest of the request body has arrived",
    "body_post_read": "the body reader's post handler runs",
    "useless_wev": "a write event with nothing to do (useless lua write event handler)",
    "hang": "nothing is left that could wake the request",
    "load_error": "the Lua code of {chunk} does not compile: nginx answers 500",
    "set_uri_jump": "ngx.req.set_uri(\"{uri}\", true) yields for a rewrite jump",
    "handle_rewrite_jump": "run_thread acts on the rewrite jump: threads die, the ctx starts afresh",
}
OP_TEXT = {"NOP": "an API blocked, run_thread returns NGX_AGAIN",
           "USER_THREAD_RESUME": "spawn, run the new light thread now",
           "USER_CORO_RESUME": "resume, pass the arguments to the target and run it",
           "USER_CORO_YIELD": "yield, back to the resumer (or a time slice)"}
RV_TEXT = {0: "0 (finished)", 1: "1 (LUA_YIELD)", 2: "2 (LUA_ERRRUN)"}


def _module(frame):
    return frame.f_globals.get("__name__", "")


def _name(v):
    if hasattr(v, "co_status"):
        return v.name
    if hasattr(v, "log_uri"):
        return v.uri
    return v


class Snapshots:
    """Listener: `frames` is the list of snapshots, one per step."""

    def __init__(self, worker):
        self.w = worker
        self.frames = []
        self.last_rc = None
        self.executing = None                 # inside lua_resume of this co ctx

    def __call__(self, event, data):
        if event == "resume":
            self.executing = data["co"].name
            return
        if event == "resume_returned":
            self.executing = None
        if event in QUIET:
            return
        if event in ("run_thread_returned", "finalize_request"):
            self.last_rc = data.get("rc")
        self.frames.append(self.take(event, data))

    # ----------------------------------------------------------------- where
    def where(self):
        """The model function that fired, its file and line, and the C
        function it stands for (trace/cfunctions.py; a helper's caller's)."""
        f = sys._getframe(2)
        while f is not None and (_module(f).startswith(_OBSERVERS)
                                 or not f.f_code.co_filename.startswith(_PKG_DIR)):
            f = f.f_back
        if f is None:
            return None
        here = f
        c_name = None
        while f is not None and c_name is None and f.f_code.co_filename.startswith(_PKG_DIR):
            c_name = C_FUNCTIONS.get(_module(f)[len("ngxcoro."):] + "." + f.f_code.co_name)
            f = f.f_back
        code = here.f_code
        rel = os.path.relpath(code.co_filename, os.path.dirname(_PKG_DIR)).replace(os.sep, "/")
        return {"file": rel, "line": here.f_lineno, "function": code.co_name, "c_function": c_name}

    # ------------------------------------------------------------------ take
    def take(self, event, data):
        w = self.w
        d = {k: _name(v) for k, v in data.items()}
        r = w.cur_r
        snap = {
            "step": len(self.frames),
            "event": event,
            "data": d,
            "explain": self.explain(event, d),
            "where": self.where(),
            "t_ms": w.loop.now_ms,
            "phase": r.phase if r is not None else "",
            "focus": r.uri if r is not None else None,
            "focus_index": self.request_index(r),
            "executing": self.executing,
            "requests": self.requests(),
            "coroutines": self.coroutines(),
            "timers": [{"label": t.label, "deadline_ms": t.deadline, "kind": t.kind,
                        "owner": t.owner} for t in w.loop.pending()],
            "rc": rc_name(self.last_rc) if self.last_rc is not None else None,
            "output": self.output(),
            "log_lines": len(w.error_log),
        }
        return snap

    def explain(self, event, d):
        d = dict(d)
        d.setdefault("t_ms", self.w.loop.now_ms)
        if "rc" in d and isinstance(d["rc"], int):
            d["rc_text"] = rc_name(d["rc"])
        if "op" in d:
            d["op_text"] = OP_TEXT.get(d["op"], "")
        if "rv" in d:
            d["rv_text"] = RV_TEXT.get(d["rv"], str(d["rv"]))
        if "success" in d:
            d["done_text"] = "finished" if d["success"] else "failed"
        if event == "close_request":
            d["c_after"] = d["c"] - 1
        for k in ("co", "parent", "child"):
            d.setdefault(k, "-")
            if d[k] is None:
                d[k] = "-"
        try:
            return EXPLAIN.get(event, event.replace("_", " ")).format(**d)
        except (KeyError, IndexError, ValueError):
            return event.replace("_", " ")

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
                "ctx": None if ctx is None else {
                    "cur_co_ctx": ctx.cur_co_ctx.name if ctx.cur_co_ctx else None,
                    "entry_co_ctx": ctx.entry_co_ctx.name,
                    "co_op": ctx.co_op.name,
                    "uthreads": ctx.uthreads,
                    "posted_threads": [c.name for c in ctx.posted_list()],
                    "context": CONTEXT_NAMES.get(ctx.context, ""),
                    "exited": ctx.exited,
                    "exit_code": ctx.exit_code,
                    "exec_uri": ctx.exec_uri,
                    "no_abort": ctx.no_abort,
                    "eof": ctx.eof,
                },
            })
        return out

    def coroutines(self):
        """Every co ctx the run has known, in creation order."""
        out = []
        vm = self.w.vm
        for coctx in self.w.all_co_ctx():
            where = vm.where(coctx.co) if coctx.co and coctx.co_status != CoStatus.DEAD else None
            kind = coctx.kind or "entry"
            line = None
            if where and where[0] in self.w.chunk_lines:
                line = self.w.chunk_lines[where[0]] + where[1] - 1
            out.append({
                "request": self.request_index(coctx.req),
                "creator": coctx.creator.name if coctx.creator else None,
                "name": coctx.name,
                "kind": kind,
                "status": coctx.co_status.lua_name,
                "parent": coctx.parent_co_ctx.name if coctx.parent_co_ctx else None,
                "is_wrap": coctx.is_wrap,
                "waited_by_parent": coctx.waited_by_parent,
                "zombies": [z.name for z in coctx.zombie_child_threads],
                "waiting": coctx.waiting,
                "pending_subreqs": coctx.pending_subreqs,
                "lua_line": f"{where[0]}:{where[1]}" if where else None,
                "config_line": line,
            })
        return out

    def output(self):
        r = self.w.main_r or (self.w.requests[0] if self.w.requests else None)
        if r is None:
            return {"status": None, "sent": "", "held": ""}
        wire = r.connection.wire
        return {"status": wire.status, "sent": bytes(wire.body).decode("utf-8", "replace"),
                "held": wire.held().decode("utf-8", "replace"),
                "complete": wire.complete}
