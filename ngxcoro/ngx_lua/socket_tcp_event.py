"""The event side of ngx.socket.tcp (src/ngx_http_lua_socket_tcp.c, second
part): ngx_http_lua_socket_tcp_handler, the peer connection's read and write
handler, runs the operation's handler (connected, read, dummy), which calls
handle_{conn,read}_{success,error}; those wake the waiting coroutine the
way every I/O wait does (the wake-up recipe): cur_co_ctx and resume_handler
set, then r->write_event_handler, which resumes at once in the content
phase and timers and through the phase engine before it.  The resume
handlers push the operation's return values and run the thread.
"""
from __future__ import annotations

from ..nginx import phases, request
from .util import resume_tail
from .socket_tcp import FT_ERROR, FT_TIMEOUT, del_timer, socket_tcp_finalize


# --------------------------------------------------------- event handlers
def socket_tcp_handler(u, write):
    """ngx_http_lua_socket_tcp_handler: c->read / c->write's handler."""
    r = u.request
    if r is None:
        return
    r.worker.fire("sock_handler", u=u, uri=r.log_uri, wev=int(write))
    (u.write_event_handler if write else u.read_event_handler)(r, u)
    request.run_posted_requests(r.connection)


def dummy_handler(r, u):
    """ngx_http_lua_socket_dummy_handler."""


def connected_handler(r, u):
    """ngx_http_lua_socket_connected_handler: the connect's outcome."""
    w = r.worker
    if u.write_timedout:
        u.write_timedout = False
        if u.conf["log_errors"]:
            w.log_error("error", "lua tcp socket connect timed out, when connecting to "
                                 f"{u.host}:{u.port}", r)
        return handle_conn_error(r, u, FT_TIMEOUT)
    del_timer(w, u, "write")
    pc = u.pc
    if pc.error:                             # ngx_http_lua_socket_test_connect
        if u.conf["log_errors"]:
            w.log_error("error", f"connect() failed ({pc.error})", r)
        u.socket_errno = pc.error.split(": ", 1)[1].lower()
        return handle_conn_error(r, u, FT_ERROR)
    w.fire("sock_connected", u=u)
    handle_conn_success(r, u)


def _wake(r, coctx, resume, u, side):
    """r->write_event_handler(r) with ctx->cur_co_ctx and resume_handler set:
    the content phase's wev handler resumes at once; before it, the phase
    engine runs the lua phase handler, which resumes."""
    ctx = r.ctx
    coctx.cleanup = None
    coctx.waiting = ""
    ctx.resume_handler = resume
    ctx.cur_co_ctx = coctx
    r.worker.fire("sock_wake", u=u, co=coctx, side=side)
    if r.write_event_handler is request.empty_handler:
        return                      # the request is done (ngx_http_finalize_request)
    if ctx.entered_content_phase:
        resume(r)
    else:
        phases.core_run_phases(r)


def handle_conn_success(r, u):
    """ngx_http_lua_socket_handle_conn_success."""
    u.read_event_handler = u.write_event_handler = dummy_handler
    if u.conn_waiting:
        u.conn_waiting = False
        coctx, u.write_co_ctx = u.write_co_ctx, None
        _wake(r, coctx, conn_resume, u, "conn")


def handle_conn_error(r, u, ft):
    """ngx_http_lua_socket_handle_conn_error: the socket is closed at once."""
    r.worker.fire("sock_conn_error", u=u)
    u.ft_type |= ft
    socket_tcp_finalize(r, u)
    u.read_event_handler = u.write_event_handler = dummy_handler
    if u.conn_waiting:
        u.conn_waiting = False
        coctx, u.write_co_ctx = u.write_co_ctx, None
        _wake(r, coctx, conn_resume, u, "")


def handle_read_success(r, u):
    """ngx_http_lua_socket_handle_read_success."""
    u.read_event_handler = dummy_handler
    if u.read_waiting:
        u.read_waiting = False
        coctx, u.read_co_ctx = u.read_co_ctx, None
        _wake(r, coctx, read_resume, u, "read")


def handle_read_error(r, u, ft):
    """ngx_http_lua_socket_handle_read_error: the read side stays open."""
    r.worker.fire("sock_read_error", u=u)
    u.ft_type |= ft
    u.read_event_handler = dummy_handler
    if u.read_waiting:
        u.read_waiting = False
        coctx, u.read_co_ctx = u.read_co_ctx, None
        _wake(r, coctx, read_resume, u, "")


def resume_helper(r, side):
    """ngx_http_lua_socket_tcp_resume_helper: push the operation's return
    values, then run the thread (resume_tail)."""
    ctx = r.ctx
    coctx = ctx.cur_co_ctx
    u = coctx.sock_u
    r.worker.fire("sock_resume", u=u, co=coctx)
    prepare = u.read_prepare_retvals if side == "read" else u.write_prepare_retvals
    vals = prepare(r, u)
    r.worker.vm.push_values(coctx.co, *vals)
    return resume_tail(r, len(vals))


def conn_resume(r):
    """ngx_http_lua_socket_tcp_conn_resume."""
    return resume_helper(r, "conn")


def read_resume(r):
    """ngx_http_lua_socket_tcp_read_resume."""
    return resume_helper(r, "read")
