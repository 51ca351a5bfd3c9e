"""body_filter_by_lua* and ngx.arg (src/ngx_http_lua_bodyfilterby.c).

ngx_http_lua_body_filter sits on top of the body filter chain (the worker
puts it there once any body_filter_by_lua* exists).  Each buffer chain the
content sends through ngx_http_output_filter is one call of the chunk, a
plain protected call in context BODY_FILTER: ngx.arg[1] is the chain's
data, ngx.arg[2] its eof flag (last_buf, or last_in_chain in a
subrequest), and assigning them replaces what goes on to the next filter.
The model's chain is one buffer: [data, last, flush], or None when the Lua
code cleared it.
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR
from .common import CONTEXT_BODY_FILTER
from .headerfilterby import add_cleanup
from .logby import create_ctx, protected_call
from .protocol import ret, err, argerr, check_context, lua_type, tonumber

# what resty/core/param.lua's error() raises when ngx.arg is read elsewhere
RESTY_PARAM_ERROR = b"/usr/share/lua/5.1/resty/core/param.lua:93: API disabled in the current context"


def body_filter(r, data, flush, last, nxt):
    """ngx_http_lua_body_filter.  After the Lua code set the eof flag
    (seen_last_in_filter) later chains are consumed unseen; lua-nginx-module
    0.10.23 then leaves ctx->context at BODY_FILTER, so the content's next
    output call is refused (scenario 622)."""
    w = r.worker
    if data is None:                    # no chain (ngx_http_writer): nothing to filter
        return nxt(r, data, flush, last)
    chunk = w.location_setting(r, "body_filter_by_lua", None)
    runs = (chunk is not None and not r.header_only
            and not (r.ctx is not None and r.ctx.seen_last_in_filter))
    w.fire("body_filter", uri=r.uri, chunk=chunk.chunkname if runs else None)
    if chunk is None or r.header_only:
        return nxt(r, data, flush, last)
    ctx = create_ctx(r)
    add_cleanup(r, ctx)
    old_context = ctx.context
    ctx.context = CONTEXT_BODY_FILTER
    if ctx.seen_last_in_filter:
        return NGX_OK
    ctx.filter_chain = [bytes(data), last, flush]
    rc = body_filter_by_chunk(r, chunk)
    ctx.context = old_context
    if rc != NGX_OK:
        return NGX_ERROR
    out, ctx.filter_chain = ctx.filter_chain, None
    if out is None:
        return NGX_OK
    return nxt(r, out[0], out[2], out[1])


def body_filter_by_chunk(r, chunk):
    """ngx_http_lua_body_filter_by_chunk: an error, or a chunk returning
    ngx.ERROR or a code >= 300, makes the filter fail."""
    error, values = protected_call(r, chunk)
    if error is None and values is None:
        return NGX_ERROR
    if error is not None:
        r.worker.log_error("error", f"failed to run body_filter_by_lua*: {error}", r)
        return NGX_ERROR
    try:                                # lua_tointeger of what the chunk returned
        rc = int(float(values[0])) if values and values[0] is not None else 0
    except ValueError:
        rc = 0
    if rc == NGX_ERROR or rc >= 300:
        return NGX_ERROR
    return NGX_OK


def get_param(w, idx):
    """ngx_http_lua_ffi_get_body_filter_param_body (and _eof): ngx.arg[idx],
    read by resty/core/param.lua, which raises outside body_filter_by_lua*
    (set_by_lua* is not modelled)."""
    ctx = w.cur_r.ctx
    if ctx is None or not ctx.context & CONTEXT_BODY_FILTER:
        return ret(None, RESTY_PARAM_ERROR)
    chain = ctx.filter_chain
    n = tonumber(idx)
    if n == 1:
        return ret(chain[0] if chain is not None else b"")
    if n == 2:
        return ret(bool(chain is not None and chain[1]))
    return ret(None)


def set_param(w, idx, value):
    """ngx_http_lua_body_filter_param_set (after ngx_http_lua_param_set's
    context check): ngx.arg[idx] = value (the shim made a number or an
    array table a string)."""
    ctx = w.cur_r.ctx
    if ctx is None:
        return err("ctx not found")
    msg = check_context(ctx, CONTEXT_BODY_FILTER)
    if msg:
        return err(msg)
    n = tonumber(idx)
    if n is None:
        return argerr(2, f"number expected, got {lua_type(idx)}")
    if int(n) not in (1, 2):
        return err(f"bad index: {int(n)}")
    chain = ctx.filter_chain
    if int(n) == 2:
        if value is not None and value is not False:
            ctx.seen_last_in_filter = True
            ctx.filter_chain = [chain[0] if chain else b"", True, chain[2] if chain else False]
        else:
            if chain is not None:
                chain[1] = False
            ctx.seen_last_in_filter = False
        return ret()
    if value is not None and not isinstance(value, bytes):
        return err(f"bad chunk data type: {lua_type(value)}")
    last = bool(chain and chain[1])
    flush = bool(chain and chain[2])
    if value:
        ctx.filter_chain = [value, last, flush]
    elif last or flush:
        ctx.filter_chain = [b"", last, flush]
    else:
        ctx.filter_chain = None
    if last:
        ctx.seen_last_in_filter = True
    return ret()


API = {"arg_get": get_param, "arg_set": set_param}
