"""Leaving a handler early: ngx.exit, ngx.exec and ngx.redirect
(src/ngx_http_lua_control.c; ngx.exit is lua-resty-core's FFI twin,
ngx_http_lua_ffi_exit).

Each API only records a request-wide intention and yields; run_thread acts
on it whichever thread asked (util.handle_exit, util.handle_exec).
"""
from __future__ import annotations

from ..nginx.core import NGX_ERROR, NGX_AGAIN, NGX_DONE
from .common import (CONTEXT_YIELDABLE, CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT,
                     CONTEXT_HEADER_FILTER)
from .protocol import ret, err, argerr, yield_to_run_thread, check_context, lua_type, tonumber, to_str

ABORTABLE_CONTEXTS = CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT
REDIRECT_CODES = (301, 302, 303, 307, 308)


def check_if_abortable(ctx):
    """ngx_http_lua_check_context for the phases that may abort, then
    ngx_http_lua_check_if_abortable: the error tuple, or None."""
    msg = check_context(ctx, ABORTABLE_CONTEXTS)
    if msg:
        return err(msg)
    if ctx.no_abort:
        return err("attempt to abort with pending subrequests")
    return None


# ------------------------------------------------------------------ ngx.exit
def ngx_exit(w, *args):
    """ngx.exit(status) (lua-resty-core ngx.exit -> ngx_http_lua_ffi_exit)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if not args or tonumber(args[0]) is None:
        got = lua_type(args[0]) if args else "no value"
        return argerr(1, f"number expected, got {got}")
    status = int(tonumber(args[0]))
    msg = check_context(ctx, CONTEXT_YIELDABLE | CONTEXT_HEADER_FILTER)
    if msg:
        return err(msg)
    if status in (NGX_AGAIN, NGX_DONE):
        return err("bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE")
    if ctx.no_abort and status not in (NGX_ERROR, 444, 408, 499):
        return err("attempt to abort with pending subrequests")
    if ((r.header_sent or ctx.header_sent) and status >= 300
            and status not in (408, 499, 444)):
        if status != (r.headers_out_status or 0):
            w.log_error("error", f"attempt to set status {status} via ngx.exit after sending "
                                 f"out the response status {r.headers_out_status or 0}", r)
        status = 200
    ctx.exit_code = status
    ctx.exited = True
    w.fire("exit", code=status)
    if ctx.context & CONTEXT_HEADER_FILTER:     # NGX_DONE: resty.core returns at once
        return ret()
    return yield_to_run_thread()


# ------------------------------------------------------------------ ngx.exec
def ngx_exec(w, *args):
    """ngx.exec(uri, args?) (ngx_http_lua_ngx_exec)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2):
        return err(f"expecting one or two arguments, but got {len(args)}")
    if lua_type(args[0]) not in ("string", "number"):      # luaL_checklstring
        return argerr(1, f"string expected, got {lua_type(args[0])}")
    if args[0] == b"":
        return err("The uri argument is empty")
    abort = check_if_abortable(ctx)
    if abort:
        return abort
    uri, _, uargs = to_str(args[0]).partition("?")
    if len(args) == 2 and args[1] is not None:
        if lua_type(args[1]) not in ("string", "number"):   # a table is encoded in Lua
            return argerr(2, "string, number, or table expected, but got "
                             f"{lua_type(args[1])}")
        extra = to_str(args[1])
        uargs = f"{uargs}&{extra}" if uargs else extra
    if r.header_sent or ctx.header_sent:
        return err("attempt to call ngx.exec after sending out response headers")
    ctx.exec_uri, ctx.exec_args = uri, uargs
    w.fire("exec", uri=uri, args=uargs)
    return yield_to_run_thread()


# -------------------------------------------------------------- ngx.redirect
def ngx_redirect(w, *args):
    """ngx.redirect(uri, status?) (ngx_http_lua_ngx_redirect)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2):
        return err("expecting one or two arguments")
    if lua_type(args[0]) not in ("string", "number"):      # luaL_checklstring
        return argerr(1, f"string expected, got {lua_type(args[0])}")
    code = 302
    if len(args) == 2:
        if tonumber(args[1]) is None:                     # luaL_checknumber
            return argerr(2, f"number expected, got {lua_type(args[1])}")
        code = int(tonumber(args[1]))
        if code not in REDIRECT_CODES:
            return err("only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, "
                       "ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and "
                       "ngx.HTTP_TEMPORARY_REDIRECT are allowed")
    abort = check_if_abortable(ctx)
    if abort:
        return abort
    if r.header_sent or ctx.header_sent:
        return err("attempt to call ngx.redirect after sending out the headers")
    r.location_header = to_str(args[0])
    r.headers_out_status = code
    ctx.exit_code = code
    ctx.exited = True
    w.fire("redirect", uri=r.location_header, code=code)
    return yield_to_run_thread()


API = {"exit": ngx_exit, "exec": ngx_exec, "redirect": ngx_redirect}
