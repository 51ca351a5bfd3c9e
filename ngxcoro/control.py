"""Leaving a handler early: ngx.exit, ngx.exec, ngx.redirect and
ngx.req.set_uri(uri, true) (src/ngx_http_lua_control.c, _uri.c, lua-resty-core's
ngx.exit), and what run_thread does about them (handle_exec and
handle_rewrite_jump; handle_exit is in scheduler.py).

Each API only records a request-wide intention and yields; run_thread acts
on it whichever thread asked.
"""
from __future__ import annotations

from .coroutine import check_context, err, argerr
from .model import (NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, CONTEXT_YIELDABLE, CoStatus,
                    CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT)
from .scheduler import cleanup_pending_operation, request_cleanup

ABORTABLE_CONTEXTS = CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT
REDIRECT_CODES = (301, 302, 303, 307, 308)


def _lua_type(v):
    from .api import _lua_type
    return _lua_type(v)


def _str(v):
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


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
def exit(w, *args):
    """ngx.exit(status) (lua-resty-core ngx.exit -> ngx_http_lua_ffi_exit)."""
    from .api import _tonumber
    r, ctx = w.cur_r, w.cur_r.ctx
    if not args or _tonumber(args[0]) is None:
        got = _lua_type(args[0]) if args else "no value"
        return argerr(1, f"number expected, got {got}")
    status = int(_tonumber(args[0]))
    msg = check_context(ctx, CONTEXT_YIELDABLE)
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
    return (1,)


# ------------------------------------------------------------------ ngx.exec
def exec(w, *args):
    """ngx.exec(uri, args?) (ngx_http_lua_ngx_exec)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2):
        return err(f"expecting one or two arguments, but got {len(args)}")
    if not isinstance(args[0], bytes) or not args[0]:
        return err("The uri argument is empty" if args[0] == b"" else
                   f"bad argument #1 to 'exec' (string expected, got {_lua_type(args[0])})")
    abort = check_if_abortable(ctx)
    if abort:
        return abort
    uri, _, uargs = _str(args[0]).partition("?")
    if len(args) == 2 and args[1] is not None:
        extra = _str(args[1]) if isinstance(args[1], (bytes, int, float)) else None
        if extra is None:
            return err("bad argument #2 to 'exec' (string, number, or table expected)")
        uargs = f"{uargs}&{extra}" if uargs else extra
    if r.header_sent or ctx.header_sent:
        return err("attempt to call ngx.exec after sending out response headers")
    ctx.exec_uri, ctx.exec_args = uri, uargs
    w.fire("exec", uri=uri, args=uargs)
    return (1,)


def handle_exec(w, r, ctx):
    """ngx_http_lua_handle_exec: kill every thread, then redirect inside
    nginx; the new location runs now, and the count it took makes this NGX_DONE."""
    w.fire("handle_exec", uri=ctx.exec_uri)
    co = ctx.cur_co_ctx
    cleanup_pending_operation(co)
    w.fire("coroutine_done", co=co, success=True)
    co.co_status = CoStatus.DEAD
    request_cleanup(r, ctx, True)
    r.write_event_handler = lambda req: None
    if ctx.exec_uri.startswith("@"):
        if ctx.exec_args:
            w.log_error("warn", f"query strings {ctx.exec_args} ignored when exec'ing named "
                                f"location {ctx.exec_uri}", r)
        r.ctx = None                           # every module's ctx is zeroed
        rc = w.http.named_location(r, ctx.exec_uri)
    else:
        rc = w.http.internal_redirect(r, ctx.exec_uri, ctx.exec_args)
    if rc == NGX_ERROR or rc >= 300:
        return rc
    return NGX_DONE


# -------------------------------------------------------------- ngx.redirect
def redirect(w, *args):
    """ngx.redirect(uri, status?) (ngx_http_lua_ngx_redirect)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2):
        return err(f"expecting one or two arguments, but got {len(args)}")
    if not isinstance(args[0], bytes):
        return argerr(1, f"string expected, got {_lua_type(args[0])}")
    code = 302
    if len(args) == 2:
        code = int(args[1]) if isinstance(args[1], (int, float)) else -1
        if code not in REDIRECT_CODES:
            return err("only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, "
                       "ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and "
                       "ngx.HTTP_TEMPORARY_REDIRECT are allowed")
    abort = check_if_abortable(ctx)
    if abort:
        return abort
    if r.header_sent or ctx.header_sent:
        return err("attempt to call ngx.redirect after sending out the headers")
    r.location_header = _str(args[0])
    r.headers_out_status = code
    ctx.exit_code = code
    ctx.exited = True
    w.fire("redirect", uri=r.location_header, code=code)
    return (1,)


# ------------------------------------------------------------- set_uri jump
def set_uri(w, *args):
    """ngx.req.set_uri(uri, jump?) (ngx_http_lua_ngx_req_set_uri)."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if len(args) not in (1, 2, 3):
        return err(f"expecting 1 argument but seen {len(args)}")
    if not isinstance(args[0], (bytes, int, float)):
        return argerr(1, f"string expected, got {_lua_type(args[0])}")
    uri = _str(args[0])
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
        return (1,)
    r.uri_changed = False
    return (0,)


def handle_rewrite_jump(w, r, ctx):
    """ngx_http_lua_handle_rewrite_jump: kill every thread, start the ctx
    afresh (posted_threads included), and let nginx find the location again."""
    w.fire("handle_rewrite_jump", uri=r.uri)
    co = ctx.cur_co_ctx
    cleanup_pending_operation(co)
    w.fire("coroutine_done", co=co, success=True)
    co.co_status = CoStatus.DEAD
    request_cleanup(r, ctx, True)
    w.phases.init_ctx(r, ctx)
    return NGX_OK
