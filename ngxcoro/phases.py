"""The phase engine and the Lua phase handlers.

nginx runs a request through its phases (src/http/ngx_http_core_module.c
ngx_http_core_run_phases); lua-nginx-module's handlers sit in the rewrite,
access and content phases (src/ngx_http_lua_rewriteby.c, _accessby.c,
_contentby.c).  Each `*_by_chunk` creates the entry thread, calls
run_thread and answers its return code; that answer is the point of the
seed's access_by_chunk.
"""
from __future__ import annotations

from .model import (NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED, CoCtx, CoStatus,
                    LuaCtx, CONTEXT_CONTENT)
from .scheduler import run_thread, content_run_posted_threads, reset_ctx, request_cleanup


class Phases:
    def __init__(self, worker):
        self.w = worker

    # ------------------------------------------------------------ engine
    def core_run_phases(self, r):
        """ngx_http_core_run_phases: run the location's handlers from
        r.phase_handler on, until one of them parks or ends the request."""
        handlers = self.handlers(r)
        while r.phase_handler < len(handlers):
            phase, handler = handlers[r.phase_handler]
            r.phase = phase
            if handler(r) == NGX_OK:              # the checker says: stop here
                return
        self.w.http.finalize_request(r, 404)

    def handlers(self, r):
        """The (phase, checker) list of r's location."""
        loc = r.location
        out = []
        if loc is not None and getattr(loc, "content_by_lua", None) is not None:
            out.append(("content", self.content_phase))
        else:
            out.append(("content", self.static_content_phase))
        return out

    def content_phase(self, r):
        """ngx_http_core_content_phase with a content handler."""
        r.write_event_handler = None
        self.w.http.finalize_request(r, self.content_handler(r))
        return NGX_OK

    def static_content_phase(self, r):
        """No content handler: nginx's static module would look for a file."""
        self.w.http.finalize_request(r, 404)
        return NGX_OK

    # ------------------------------------------------------------ lua
    def get_ctx(self, r):
        """ngx_http_get_module_ctx, or ngx_http_lua_create_ctx."""
        if r.ctx is None:
            r.ctx = LuaCtx(resume_handler=self.w.http.wev_handler)
        return r.ctx

    def new_thread(self, r, ctx, chunk):
        """ngx_http_lua_new_thread: the entry thread of a phase handler."""
        w = self.w
        co = w.vm.new_entry(w.chunk_index(chunk))
        coctx = CoCtx(co=co, L=w.vm.new_state(cached_ok=True), name="entry",
                      co_status=CoStatus.RUNNING, co_ref=True)
        w.coctx_by_id[co] = coctx
        return coctx

    def register_cleanup(self, r, ctx):
        """ngx_http_cleanup_add(r) with ngx_http_lua_request_cleanup_handler."""
        if not ctx.cleanup_registered:
            ctx.cleanup_registered = True

            def lua_request_cleanup(req):
                if ctx.cleanup_registered:
                    request_cleanup(req, ctx, False)
            r.main.cleanups.append(lua_request_cleanup)

    def content_handler(self, r):
        """ngx_http_lua_content_handler."""
        ctx = self.get_ctx(r)
        if ctx.entered_content_phase:
            return ctx.resume_handler(r)
        return self.content_by_chunk(r, ctx)

    def content_by_chunk(self, r, ctx):
        """ngx_http_lua_content_by_chunk."""
        w = self.w
        chunk = r.location.content_by_lua
        if w.chunk_index(chunk) is None:
            return 500
        reset_ctx(r, ctx)
        ctx.entry_co_ctx = self.new_thread(r, ctx, chunk)
        ctx.cur_co_ctx = ctx.entry_co_ctx
        ctx.entered_content_phase = True
        self.register_cleanup(r, ctx)
        ctx.context = CONTEXT_CONTENT
        w.fire("phase_handler", phase="content", c=r.main.count)

        rc = run_thread(r, ctx, 0)
        w.fire("run_thread_returned", rc=rc)
        if rc == NGX_ERROR or rc >= NGX_OK:
            return rc
        if rc == NGX_AGAIN:
            return content_run_posted_threads(r, ctx, 0)
        if rc == NGX_DONE:
            return content_run_posted_threads(r, ctx, 1)
        return NGX_OK
