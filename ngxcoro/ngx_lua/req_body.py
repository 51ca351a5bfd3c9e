"""ngx.req.read_body and ngx.req.get_body_data (src/ngx_http_lua_req_body.c).

nginx's reader (`ngxcoro.nginx.body`) takes a reference (r->main->count++);
ngx.req.read_body gives it back at once, so reading never changes the
count, and it parks the coroutine with NGX_AGAIN, not NGX_DONE.
"""
from __future__ import annotations

from functools import partial

from ..nginx.core import NGX_AGAIN
from ..nginx import body, phases, request
from .common import CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .protocol import ret, err, yield_to_run_thread, request_co_ctx
from .control import rd_check_broken_connection
from .util import cleanup_pending_operation, resume_tail


def ngx_req_read_body(w, *args):
    """ngx.req.read_body() (ngx_http_lua_ngx_req_read_body)."""
    if args:
        return err(f"expecting 0 arguments, but got {len(args)}")
    r, ctx, coctx, e = request_co_ctx(w, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
    if e:
        return e
    w.fire("read_body")
    rc = body.read_client_request_body(r, req_body_post_read)
    if rc >= 300:
        ctx.exit_code = rc
        ctx.exited = True
        return yield_to_run_thread()
    request.count_change(r, -1, "ngx.req.read_body gives the reader's reference back")
    if rc == NGX_AGAIN:
        ctx.waiting_more_body = True
        ctx.downstream = coctx
        cleanup_pending_operation(coctx)
        coctx.cleanup = partial(req_body_cleanup, r)
        coctx.waiting = "ngx.req.read_body()"
        return yield_to_run_thread()
    return ret()


def req_body_post_read(r):
    """ngx_http_lua_req_body_post_read: wake the reader."""
    ctx = r.ctx
    r.worker.fire("body_post_read", c=r.main.count, wake=bool(ctx.waiting_more_body))
    if ctx.waiting_more_body:
        ctx.waiting_more_body = False
        ctx.cur_co_ctx = ctx.downstream
        ctx.cur_co_ctx.cleanup = None
        ctx.cur_co_ctx.waiting = ""
        r.read_event_handler = (rd_check_broken_connection      # None: ngx_http_block_reading
                                if r.worker.location_setting(r, "lua_check_client_abort", False)
                                else None)
        if ctx.entered_content_phase:
            read_body_resume(r)
        else:
            ctx.resume_handler = read_body_resume
            phases.core_run_phases(r)


def read_body_resume(r):
    """ngx_http_lua_read_body_resume."""
    return resume_tail(r, 0)


def req_body_cleanup(r, coctx):
    """ngx_http_lua_req_body_cleanup: the reader was killed."""
    if getattr(r, "body_timer", None) is not None:
        r.worker.loop.del_timer(r.body_timer)
        r.body_timer = None
    if r.ctx is not None:
        r.ctx.waiting_more_body = False


def get_body_data(w, *args):
    """ngx.req.get_body_data() (ngx_http_lua_ngx_req_get_body_data)."""
    r = w.cur_r
    return ret(r.request_body if r.request_body else None, r.request_body is not None)


API = {"read_body": ngx_req_read_body, "get_body_data": get_body_data}
