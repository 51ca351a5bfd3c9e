"""ngx.req.set_uri (src/ngx_http_lua_uri.c).

With `jump` true (rewrite_by_lua only) it records the new URI and yields;
run_thread acts on it (util.handle_rewrite_jump) and nginx finds the
location again.
"""
from __future__ import annotations

from .common import CONTEXT_REWRITE
from .control import check_if_abortable
from .protocol import (ret, err, argerr, yield_to_run_thread, check_context, lua_type, to_str,
                       check_unsafe_uri_bytes, escape_log)


def req_set_uri(w, *args):
    """ngx.req.set_uri(uri, jump?, binary?) (ngx_http_lua_ngx_req_set_uri)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2, 3):
        return err(f"expecting 1, 2 or 3 arguments but seen {len(args)}")
    if r.connection.log_context:                            # ngx_http_lua_check_fake_request
        return err("API disabled in the current context")
    if lua_type(args[0]) not in ("string", "number"):      # luaL_checklstring
        return argerr(1, f"string expected, got {lua_type(args[0])}")
    uri = to_str(args[0])
    if not uri:
        return err("attempt to use zero-length uri")
    if len(args) == 3 and not isinstance(args[2], bool):   # luaL_checktype(L, 3, ...)
        return argerr(3, f"boolean expected, got {lua_type(args[2])}")
    raw = args[0] if isinstance(args[0], bytes) else uri.encode()
    bad = None if len(args) == 3 and args[2] else check_unsafe_uri_bytes(raw)
    if bad is not None:
        return err(f'unsafe byte "0x{bad:02x}" in uri "{escape_log(raw)}" '
                   "(maybe you want to set the 'binary' argument?)")
    if len(args) >= 2 and not isinstance(args[1], bool):
        return argerr(2, f"boolean expected, got {lua_type(args[1])}")
    jump = len(args) > 1 and args[1]
    if jump:
        msg = check_context(ctx, CONTEXT_REWRITE)
        if msg:
            return err(msg)
        abort = check_if_abortable(ctx)       # ngx_http_lua_check_if_abortable
        if abort:
            return abort
    r.uri = uri
    if jump:
        r.uri_changed = True
        w.fire("set_uri_jump", uri=uri)
        return yield_to_run_thread()
    r.uri_changed = False
    return ret()


API = {"set_uri": req_set_uri}
