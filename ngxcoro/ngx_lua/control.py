"""Leaving a handler early: ngx.exit, ngx.exec, ngx.redirect and
ngx.on_abort (src/ngx_http_lua_control.c; ngx.exit is lua-resty-core's FFI
twin, ngx_http_lua_ffi_exit).

Each API only records a request-wide intention and yields; run_thread acts
on it whichever thread asked (util.handle_exit, util.handle_exec).

The client-abort check that runs ngx.on_abort's handler sits here with it:
ngx_http_lua_check_broken_connection, ngx_http_lua_rd_check_broken_connection
and ngx_http_lua_on_abort_resume are functions of ngx_http_lua_util.c in C,
kept beside the API they serve (util.py is full).
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE
from ..nginx import phases
from ..nginx.http_parse import parse_unsafe_uri
from .common import (CONTEXT_YIELDABLE, CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT,
                     CONTEXT_HEADER_FILTER, CONTEXT_NAMES, CONTEXT_TIMER, CoStatus)
from .coroutine import coroutine_create_helper
from .protocol import (ret, err, argerr, yield_to_run_thread, check_context, lua_type, tonumber,
                       to_str, check_unsafe_uri_bytes, escape_log)
from .util import request_cleanup, finalize_request, resume_tail

NGX_HTTP_CLIENT_CLOSED_REQUEST = 499

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
    unsafe = []                # flags = NGX_HTTP_LOG_UNSAFE: the parser logs it
    parsed = parse_unsafe_uri(to_str(args[0]), unsafe)
    if parsed is None:
        w.log_error("error", f'unsafe URI "{unsafe[0]}" was detected', r)
        return err("unsafe uri")
    abort = check_if_abortable(ctx)
    if abort:
        return abort
    uri, uargs = parsed        # args: None without a '?', "" after a bare one
    if len(args) == 2 and args[1] is not None:
        if lua_type(args[1]) not in ("string", "number"):   # a table is encoded in Lua
            return argerr(2, "string, number, or table expected, but got "
                             f"{lua_type(args[1])}")
        extra = to_str(args[1])
        if extra:
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
    raw = args[0] if isinstance(args[0], bytes) else to_str(args[0]).encode()
    bad = check_unsafe_uri_bytes(raw)
    if bad is not None:
        return err(f'unsafe byte "0x{bad:02x}" in redirect uri "{escape_log(raw)}"')
    r.location_header = to_str(args[0])
    # a new Location header in the list, not r->headers_out.location: nginx's
    # header filter does not make it absolute
    r.headers_out.append(["Location", r.location_header.decode("latin-1")
                          if isinstance(r.location_header, bytes) else str(r.location_header)])
    r.headers_out_status = code
    ctx.exit_code = code
    ctx.exited = True
    w.fire("redirect", uri=r.location_header, code=code)
    return yield_to_run_thread()


# -------------------------------------------------------------- ngx.on_abort
def on_abort(w, co):
    """ngx.on_abort(f) (ngx_http_lua_on_abort): `f`'s coroutine (`co`, False
    when f is no Lua function) becomes a light thread that waits, SUSPENDED
    and not counted in ctx->uthreads, for the client to close."""
    r = w.cur_r
    ctx = r.ctx
    # ngx_http_lua_check_fake_request2: a timer's fake request (fd -1, context ngx.timer)
    if r.connection.fd == -1 or ctx.context & CONTEXT_TIMER:
        return err(f"API disabled in the context of {CONTEXT_NAMES.get(ctx.context, 'unknown')}")
    if ctx.on_abort_co_ctx is not None:
        return ret(None, b"duplicate call")
    if not w.location_setting(r, "lua_check_client_abort", False):
        return ret(None, b"lua_check_client_abort is off")
    if co is False:                             # ngx_http_lua_coroutine_create_helper's checks
        return argerr(1, "Lua function expected")
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    coctx = coroutine_create_helper(w, co, True, label="on_abort")
    coctx.co_ref = True
    coctx.is_uthread = True
    ctx.on_abort_co_ctx = coctx
    coctx.co_status = CoStatus.SUSPENDED
    coctx.parent_co_ctx = ctx.cur_co_ctx
    w.fire("on_abort", parent=ctx.cur_co_ctx, child=coctx)
    return ret(1)


def check_broken_connection(r):
    """ngx_http_lua_check_broken_connection for the read event: has the
    client gone?  A recv(MSG_PEEK) of one byte: 0 is its FIN (a client that
    only shut its writing side counts too).  Answers NGX_OK or 499."""
    w = r.worker
    c = r.connection
    w.fire("check_broken_connection", uri=r.uri)
    if c.error:
        return NGX_HTTP_CLIENT_CLOSED_REQUEST
    if not c.wire.gone:                         # data (pipelined) or EAGAIN
        return NGX_OK
    w.fire("client_recv", n=0)
    c.read_eof = True
    w.log_error("info", "client prematurely closed connection", r)
    return NGX_HTTP_CLIENT_CLOSED_REQUEST


def rd_check_broken_connection(r):
    """ngx_http_lua_rd_check_broken_connection: r->read_event_handler while a
    Lua handler runs with lua_check_client_abort on.  Without an on_abort
    handler the request ends at once (threads killed, 499); a handler not yet
    run becomes a running light thread and is resumed now, through
    r->write_event_handler; once run, the abort is ignored."""
    from .by import content_wev_handler         # (by.py imports this module)
    if r.done:
        return
    rc = check_broken_connection(r)
    if rc == NGX_OK:
        return
    ctx = r.ctx
    if ctx is None:
        return
    if ctx.on_abort_co_ctx is None:
        r.connection.error = True
        request_cleanup(r, ctx, False)
        finalize_request(r, rc)
        return
    if ctx.on_abort_co_ctx.co_status != CoStatus.SUSPENDED:
        return                                  # epoll: nothing to delete
    ctx.uthreads += 1
    ctx.resume_handler = on_abort_resume
    ctx.on_abort_co_ctx.co_status = CoStatus.RUNNING
    ctx.cur_co_ctx = ctx.on_abort_co_ctx
    r.worker.fire("on_abort_wake", co=ctx.on_abort_co_ctx)
    r.write_event_handler = (content_wev_handler if ctx.entered_content_phase
                             else phases.core_run_phases)
    r.write_event_handler(r)


def on_abort_resume(r):
    """ngx_http_lua_on_abort_resume: run the handler (the tail every resume
    handler shares: run_thread, posted threads, finalize in the content phase)."""
    r.worker.fire("on_abort_resume", co=r.ctx.cur_co_ctx)
    return resume_tail(r, 0)


API = {"exit": ngx_exit, "exec": ngx_exec, "redirect": ngx_redirect, "on_abort": on_abort}
