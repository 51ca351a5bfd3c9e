"""log_by_lua* (src/ngx_http_lua_logby.c).

The NGX_HTTP_LOG_PHASE handler: nginx core runs it when it frees the main
request (ngx_http_free_request -> ngx_http_log_request, wired by the
worker), once any log_by_lua* exists, for every request.  The chunk runs
as a plain protected call on the main VM: no entry thread, no run_thread,
nothing can yield.  `protected_call` is that lua_pcall (with
ngx_http_lua_traceback as the message handler), which the header and body
filters make as well.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from ..nginx.core import NGX_OK, NGX_ERROR, NGX_DECLINED
from .common import CONTEXT_LOG, LuaCtx
from .util import wev_handler


def create_ctx(r):
    """ngx_http_lua_create_ctx, when the request has no Lua ctx yet."""
    if r.ctx is None:
        r.ctx = LuaCtx(resume_handler=wev_handler)
    return r.ctx


def protected_call(r, chunk):
    """lua_pcall of a new closure of `chunk`, with ngx_http_lua_traceback as
    the message handler (debug.traceback's text: no "coroutine N:" line).
    Returns (None, values) or (the error text, None); None, None when the
    chunk does not compile (the load error is logged)."""
    w = r.worker
    index = w.chunk_index(chunk)
    if index is None:
        return None, None
    prev = w.cur_r
    w.enter_request(r)
    co = w.vm.new_entry(index, plain=True)
    try:
        rv = w.vm.resume(co, 0)
        if rv == 0:
            n = w.vm.top(co)
            values = [w.vm.errmsg(co)] if n else []
            w.vm.settop0(co)
            return None, values
        if rv == 1:            # nothing in these phases yields; a raw yield fails so
            w.vm.settop0(co)
            return "attempt to yield across C-call boundary", None
        msg = w.vm.errmsg(co)
        if msg is None:        # ngx_http_lua_traceback keeps a non-string error intact
            w.vm.settop0(co)
            return "unknown reason", None
        trace = w.vm.thread_traceback(SimpleNamespace(co=co, parent_co_ctx=None))
        w.vm.settop0(co)
        return f"{msg}\n" + _pcall_frames(trace, msg), None
    finally:
        if prev is not None and prev is not r:
            w.enter_request(prev)


def _pcall_frames(trace, msg):
    """A dead coroutine's traceback as the pcall's message handler sees it:
    no "coroutine 0:" line, and the failing frame still on its line (a
    runtime error's position is the message's "chunk:N:" prefix)."""
    trace = trace.replace("\ncoroutine 0:", "", 1)
    m = re.match(r"(.+?):(\d+): ", msg)
    if m:
        trace = trace.replace(f"\n\t{m.group(1)}: in ", f"\n\t{m.group(1)}:{m.group(2)}: in ", 1)
    return trace


def log_handler(r):
    """ngx_http_lua_log_handler."""
    w = r.worker
    chunk = w.location_setting(r, "log_by_lua", None)
    w.fire("log_handler", uri=r.uri, c=r.main.count, chunk=chunk and chunk.chunkname)
    if chunk is None:
        return NGX_DECLINED
    ctx = create_ctx(r)
    ctx.context = CONTEXT_LOG
    return log_by_chunk(r, chunk)


def log_by_chunk(r, chunk):
    """ngx_http_lua_log_by_chunk: the chunk under lua_pcall; an error is
    logged and changes nothing else (the response is out)."""
    error, _ = protected_call(r, chunk)
    if error is not None:
        r.worker.log_error("error", f"failed to run log_by_lua*: {error}", r)
        return NGX_ERROR
    return NGX_OK
