"""ngx.req.set_uri (src/ngx_http_lua_uri.c).

With `jump` true (rewrite_by_lua only) it records the new URI and yields;
run_thread acts on it (util.handle_rewrite_jump) and nginx finds the
location again.
"""
from __future__ import annotations

from .common import CONTEXT_REWRITE
from .protocol import ret, err, argerr, yield_to_run_thread, check_context, lua_type, to_str


def req_set_uri(w, *args):
    """ngx.req.set_uri(uri, jump?) (ngx_http_lua_ngx_req_set_uri)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2, 3):
        return err(f"expecting 1, 2 or 3 arguments but seen {len(args)}")
    if not isinstance(args[0], (bytes, int, float)):
        return argerr(1, f"string expected, got {lua_type(args[0])}")
    uri = to_str(args[0])
    if not uri:
        return err("attempt to use zero-length uri")
    jump = len(args) > 1 and bool(args[1])
    if jump:
        msg = check_context(ctx, CONTEXT_REWRITE)
        if msg:
            return err("API disabled in the context of "
                       f"{msg.rsplit(' ', 1)[-1]}")
    r.uri = uri
    if jump:
        r.uri_changed = True
        w.fire("set_uri_jump", uri=uri)
        return yield_to_run_thread()
    r.uri_changed = False
    return ret()


API = {"set_uri": req_set_uri}
