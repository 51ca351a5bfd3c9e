"""init_worker_by_lua* (src/ngx_http_lua_initworkerby.c).

When the worker starts (before it accepts the client's connection) nginx
makes a fake connection (fd -1, the next connection number, so the client's
comes later) and a fake request with the http-level confs, whose Lua ctx
has context INIT_WORKER and no current co ctx; then it runs the chunk as a
lua_pcall on the main state (the globals init_by_lua* set).  APIs outside
that context fail with "API disabled in the context of init_worker_by_lua*";
ngx.timer.at and ngx.timer.every work (their timers' log lines carry no
client or server: the fake connection has no address).  An error is
logged, "[error] init_worker_by_lua error: <msg>" with no connection, and
the worker goes on.  The fake request is never finalized: nginx destroys
the connection's pool when the chunk returns.

Timing: the model starts the worker and the client's request at the same
virtual instant, the worker's first loop turn (the 0 ms timers the chunk
armed) before the request is read, as real nginx does (scenario 761).  On
real nginx the client's request reaches the worker some milliseconds after
the worker started (0 to about 50 measured on the test machine), so the
scenarios keep the timers init_worker_by_lua* arms 100 ms or more away from
what the request does at the same time.
"""
from __future__ import annotations

from .common import CONTEXT_INIT_WORKER, LuaCtx
from .fake_request import create_fake_connection, create_fake_request
from .initby import main_pcall
from .util import wev_handler


def init_worker(w):
    """ngx_http_lua_init_worker: the fake connection and request, then
    ngx_http_lua_init_worker_by_inline."""
    chunk = w.config.init_worker_by_lua
    if chunk is None:
        return
    c = create_fake_connection(w, context="init_worker_by_lua*", addr_text=False)
    r = create_fake_request(w, c, None)
    r.ctx = LuaCtx(resume_handler=wev_handler)
    r.ctx.context = CONTEXT_INIT_WORKER
    r.ctx.cur_co_ctx = None
    w.enter_request(r)
    init_worker_by_inline(w, r, chunk)
    r.freed = c.destroyed = True            # ngx_destroy_pool(c->pool)


def init_worker_by_inline(w, r, chunk):
    """ngx_http_lua_init_worker_by_inline: the chunk under lua_pcall, then
    ngx_http_lua_report."""
    error = main_pcall(w, chunk)
    w.fire("init_worker_by_lua", chunk=chunk.chunkname, error=error)
    if error is not None:
        w.log_error("error", f"init_worker_by_lua error: {error}")
