"""header_filter_by_lua* (src/ngx_http_lua_headerfilterby.c).

ngx_http_lua_header_filter sits on top of the header filter chain (the
worker puts it there once any header_filter_by_lua* or body_filter_by_lua*
exists) and runs for every header sent, subrequests included.  The chunk is
a plain protected call (logby.protected_call) in context HEADER_FILTER: it
may change ngx.status and ngx.header before the header goes on, and
ngx.exit(status) there finalizes the request with that status through
ngx_http_filter_finalize_request.
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DECLINED
from ..nginx import response
from .common import CONTEXT_HEADER_FILTER
from .logby import create_ctx, protected_call
from .util import request_cleanup


def add_cleanup(r, ctx):
    """Register lua's request cleanup (ngx_http_cleanup_add), once per ctx."""
    if ctx.cleanup is None:
        def lua_request_cleanup_handler(req):
            if ctx.cleanup is lua_request_cleanup_handler:
                request_cleanup(r, ctx, False)
        ctx.cleanup = lua_request_cleanup_handler
        r.main.cleanups.insert(0, lua_request_cleanup_handler)


def header_filter(r, nxt):
    """ngx_http_lua_header_filter."""
    w = r.worker
    chunk = w.location_setting(r, "header_filter_by_lua", None)
    w.fire("header_filter", uri=r.uri, chunk=chunk and chunk.chunkname)
    if chunk is None:
        return nxt(r)
    ctx = create_ctx(r)
    add_cleanup(r, ctx)
    old_context = ctx.context
    ctx.context = CONTEXT_HEADER_FILTER
    rc = header_filter_by_chunk(r, ctx, chunk)
    ctx.context = old_context
    if rc == NGX_DECLINED:
        return NGX_OK
    if rc != NGX_OK:
        return NGX_ERROR
    return nxt(r)


def header_filter_by_chunk(r, ctx, chunk):
    """ngx_http_lua_header_filter_by_chunk: an ngx.exit with a new code
    finalizes the request with it (the error page goes out through this
    filter again, which then lets it pass)."""
    w = r.worker
    old_exit_code = ctx.exit_code
    error, values = protected_call(r, chunk)
    if error is None and values is None:
        return 500                          # the chunk does not compile
    if error is not None:
        w.log_error("error", f"failed to run header_filter_by_lua*: {error}", r)
        return NGX_ERROR
    if ctx.exited and ctx.exit_code != old_exit_code:
        if ctx.exit_code == NGX_ERROR:
            return NGX_ERROR
        rc = response.filter_finalize_request(r, ctx.exit_code)
        if rc in (NGX_ERROR, NGX_AGAIN):
            return rc
        return NGX_DECLINED
    return NGX_OK
