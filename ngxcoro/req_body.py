"""Reading the request body (nginx's ngx_http_read_client_request_body and
src/ngx_http_lua_req_body.c).

The body's pieces arrive on the virtual clock, each `delay` seconds after
the one before (the first after the headers).  nginx's reader takes a reference (r->main->count++);
ngx.req.read_body gives it back at once, so reading never changes the
count, and it parks the coroutine with NGX_AGAIN, not NGX_DONE.
"""
from __future__ import annotations

from functools import partial

from .coroutine import check_context, err
from .model import NGX_OK, NGX_AGAIN, CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .scheduler import cleanup_pending_operation


class ReqBody:
    def __init__(self, worker):
        self.w = worker

    def arrived_by(self, r):
        """The virtual ms at which the last piece of r's body is in."""
        return int(round(sum(d for d, _ in r.body_pieces) * 1000))

    def read_client_request_body(self, r, post_handler):
        """ngx_http_read_client_request_body: count++, then either the body
        is all here (post_handler now, NGX_OK) or NGX_AGAIN and post_handler
        runs when the last piece arrives."""
        http = self.w.http
        http.count_change(r, +1, "read client request body")
        if r is not r.main or r.request_body is not None or not r.body_pieces:
            if r.request_body is None and r is r.main:
                r.request_body = b""
            post_handler(r)
            return NGX_OK
        ready = self.arrived_by(r)
        if ready <= self.w.loop.now_ms:
            r.request_body = b"".join(p for _, p in r.body_pieces)
            post_handler(r)
            return NGX_OK
        r.body_timer = self.w.loop.add_timer(ready - self.w.loop.now_ms,
                                             partial(self.body_arrived, r, post_handler),
                                             label="client body", kind="request body",
                                             owner=r.uri)
        return NGX_AGAIN

    def body_arrived(self, r, post_handler):
        """ngx_http_read_client_request_body_handler, once the body is complete."""
        r.body_timer = None
        r.request_body = b"".join(p for _, p in r.body_pieces)
        self.w.fire("body_arrived", uri=r.unparsed_uri)
        post_handler(r)
        self.w.run_posted_requests(r.connection)

    # ---------------------------------------------------------- the Lua API
    def read_body(self, *args):
        """ngx.req.read_body() (ngx_http_lua_ngx_req_read_body)."""
        w = self.w
        r, ctx = w.cur_r, w.cur_r.ctx
        if args:
            return err(f"expecting 0 arguments, but got {len(args)}")
        msg = check_context(ctx, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
        if msg:
            return err(msg)
        coctx = ctx.cur_co_ctx
        if coctx is None:
            return err("no co ctx found")
        w.fire("read_body")
        rc = self.read_client_request_body(r, self.post_read)
        if rc >= 300:
            ctx.exit_code = rc
            ctx.exited = True
            return (1,)
        w.http.count_change(r, -1, "ngx.req.read_body gives the reader's reference back")
        if rc == NGX_AGAIN:
            ctx.waiting_more_body = True
            ctx.downstream = coctx
            cleanup_pending_operation(coctx)
            coctx.cleanup = partial(self.cleanup, r)
            coctx.waiting = "ngx.req.read_body()"
            return (1,)
        return (0,)

    def post_read(self, r):
        """ngx_http_lua_req_body_post_read: wake the reader."""
        ctx = r.ctx
        self.w.fire("body_post_read", c=r.main.count)
        if ctx.waiting_more_body:
            ctx.waiting_more_body = False
            ctx.cur_co_ctx = ctx.downstream
            ctx.cur_co_ctx.cleanup = None
            ctx.cur_co_ctx.waiting = ""
            if ctx.entered_content_phase:
                self.read_body_resume(r)
            else:
                ctx.resume_handler = self.read_body_resume
                self.w.phases.core_run_phases(r)

    def read_body_resume(self, r):
        """ngx_http_lua_read_body_resume."""
        from .api import resume_tail
        return resume_tail(self.w, r, 0)

    def cleanup(self, r, coctx):
        """ngx_http_lua_req_body_cleanup: the reader was killed."""
        if getattr(r, "body_timer", None) is not None:
            self.w.loop.del_timer(r.body_timer)
            r.body_timer = None
        if r.ctx is not None:
            r.ctx.waiting_more_body = False

    def get_body_data(self, *args):
        """ngx.req.get_body_data()."""
        r = self.w.cur_r
        return (0, r.request_body if r.request_body else None, r.request_body is not None)
