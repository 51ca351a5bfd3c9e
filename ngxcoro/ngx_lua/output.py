"""ngx.say, ngx.print, ngx.flush and ngx.eof (src/ngx_http_lua_output.c).

Each function takes the worker and the Lua arguments and answers in the
protocol of `protocol.py`.  Output goes down util.send_chain_link.
"""
from __future__ import annotations

from ..nginx.core import NGX_ERROR
from .common import CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT, output_filter
from .protocol import ret, err, argerr, check_context, request_ctx, lua_type
from .util import send_chain_link, send_header_if_needed

OUTPUT_CONTEXTS = CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT


def ngx_echo(w, data):
    """ngx.say / ngx.print after the shim has flattened the arguments
    (ngx_http_lua_ngx_echo)."""
    r, ctx, e = request_ctx(w, OUTPUT_CONTEXTS, "no request object found")
    if e:
        return e
    if r.header_only:
        return ret(None, b"header only")
    if ctx.eof:
        return ret(None, b"seen eof")
    if not data:
        rc = send_header_if_needed(r, ctx)
    else:
        ctx.seen_body_data = True
        rc = send_chain_link(r, ctx, data)
    if rc == NGX_ERROR or rc >= 300:
        return ret(None, b"nginx output filter error")
    return ret(1)


def ngx_flush(w, *args):
    """ngx.flush(wait?) (ngx_http_lua_ngx_flush).  The model's client reads
    everything at once, so flush(true) never has to wait."""
    r = w.cur_r
    ctx = r.ctx
    if len(args) > 1:
        return err(f"attempt to pass {len(args)} arguments, but accepted 0 or 1")
    wait = False
    if args and r is r.main:
        if not isinstance(args[0], bool):
            return argerr(1, f"boolean expected, got {lua_type(args[0])}")
        wait = args[0]
    msg = check_context(ctx, OUTPUT_CONTEXTS)
    if msg:
        return err(msg)
    if ctx.cur_co_ctx is None:
        return err("no co ctx found")
    if r.header_only:
        return ret(None, b"header only")
    if ctx.eof:
        return ret(None, b"seen eof")
    if ctx.buffering:
        return ret(None, b"buffering")
    if (not r.header_sent and not ctx.header_sent) or (not ctx.seen_body_data and not wait):
        return ret(None, b"nothing to flush")
    rc = output_filter(r, b"", flush=True)           # a flush buf
    if rc == NGX_ERROR or rc >= 300:
        return ret(None, b"nginx output filter error")
    return ret(1)


def ngx_eof(w, *args):
    """ngx.eof (ngx_http_lua_ngx_eof): send the last buf now."""
    r = w.cur_r
    ctx = r.ctx
    if args:
        return err("no argument is expected")
    if ctx.eof:                                 # before the context check, as in C
        return ret(None, b"seen eof")
    msg = check_context(ctx, OUTPUT_CONTEXTS)
    if msg:
        return err(msg)
    rc = send_chain_link(r, ctx, None)
    if rc == NGX_ERROR or rc >= 300:
        return ret(None, b"nginx output filter error")
    return ret(1)


API = {"output": ngx_echo, "flush": ngx_flush, "eof": ngx_eof}
