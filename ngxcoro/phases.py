"""The phase engine and the Lua phase handlers.

nginx runs a request through one list of phase handlers (src/http/
ngx_http_core_module.c ngx_http_core_run_phases); each handler's checker
decides whether to go on to the next one or to stop and wait for an event.
lua-nginx-module's handlers sit at the end of the rewrite and access phases
and in the content phase (src/ngx_http_lua_rewriteby.c, _accessby.c,
_contentby.c).  Each `*_by_chunk` creates the entry thread, calls
run_thread and answers its return code: the seed's access_by_chunk and its
siblings, one function each.
"""
from __future__ import annotations

from .model import (NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED, LuaCtx,
                    CoStatus, CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT)
from .scheduler import (run_thread, run_posted_threads, content_run_posted_threads,
                        reset_ctx, request_cleanup, finalize_request)


class Phases:
    def __init__(self, worker):
        self.w = worker
        # ngx_http_core_main_conf_t.phase_engine.handlers, as (phase, checker)
        self.engine = [
            ("find_config", self.find_config_phase),
            ("rewrite", self.rewrite_module_phase),
            ("rewrite", self.lua_rewrite_phase),
            ("post_rewrite", self.post_rewrite_phase),
            ("access", self.lua_access_phase),
            ("content", self.content_phase),
        ]
        self.location_rewrite_index = 1

    # ================================================================ engine
    def core_run_phases(self, r):
        """ngx_http_core_run_phases: run handlers from r.phase_handler on
        until a checker says stop (NGX_OK)."""
        while r.phase_handler < len(self.engine):
            phase, checker = self.engine[r.phase_handler]
            r.phase = phase
            if checker(r) == NGX_OK:
                return

    def handler(self, r):
        """ngx_http_handler: a (re)started request runs from the first phase."""
        r.phase_handler = 0
        r.write_event_handler = self.core_run_phases
        self.core_run_phases(r)

    def find_config_phase(self, r):
        """ngx_http_core_find_config_phase: pick the location for r.uri."""
        r.uri_changed = False
        server = self.w.config.servers[0]
        r.location = server.find_location(r.uri)
        if r.location is not None and r.location.internal and not r.internal:
            self.w.http.finalize_request(r, 404)
            return NGX_OK
        r.phase_handler += 1
        return NGX_AGAIN

    def rewrite_module_phase(self, r):
        """ngx_http_rewrite_handler for the directives the model knows:
        `set` and `return` (src/http/modules/ngx_http_rewrite_module.c)."""
        rc = self.w.echo.rewrite_module(r)
        return self.rewrite_checker(r, rc)

    def rewrite_checker(self, r, rc):
        """ngx_http_core_rewrite_phase."""
        if rc == NGX_DECLINED:
            r.phase_handler += 1
            return NGX_AGAIN
        if rc == NGX_DONE:
            return NGX_OK
        self.w.http.finalize_request(r, rc)
        return NGX_OK

    def lua_rewrite_phase(self, r):
        return self.rewrite_checker(r, self.rewrite_handler(r))

    def post_rewrite_phase(self, r):
        """ngx_http_core_post_rewrite_phase: a changed URI finds its location again."""
        if not r.uri_changed:
            r.phase_handler += 1
            return NGX_AGAIN
        r.uri_changes -= 1
        if r.uri_changes == 0:
            self.w.log_error("error", "rewrite or internal redirection cycle while processing "
                                      f"\"{r.uri}\"", r)
            self.w.http.finalize_request(r, 500)
            return NGX_OK
        r.phase_handler = 0
        return NGX_AGAIN

    def lua_access_phase(self, r):
        """ngx_http_core_access_phase (satisfy all) around the Lua access handler."""
        if r is not r.main:                     # subrequests skip the access phase
            r.phase_handler += 1
            return NGX_AGAIN
        rc = self.access_handler(r)
        if rc in (NGX_DECLINED, NGX_OK):
            r.phase_handler += 1
            return NGX_AGAIN
        if rc in (NGX_AGAIN, NGX_DONE):
            return NGX_OK
        self.w.http.finalize_request(r, rc)
        return NGX_OK

    def content_phase(self, r):
        """ngx_http_core_content_phase."""
        name = (r.location.content_handler or "") if r.location is not None else ""
        if name.startswith("content_by_lua"):
            handler = self.content_handler
        elif name.startswith("echo"):
            handler = self.w.echo.content_handler
        elif name == "proxy_pass":
            handler = self.w.echo.proxy_handler
        elif name:
            raise self.w.unsupported(f'the content handler "{name}"')
        else:
            handler = None
        if handler is not None:
            r.write_event_handler = lambda req: None      # ngx_http_request_empty_handler
            self.w.http.finalize_request(r, handler(r))
            return NGX_OK
        self.w.http.finalize_request(r, self.w.echo.static_handler(r))
        return NGX_OK

    # =================================================================== lua
    def get_ctx(self, r):
        """ngx_http_get_module_ctx, or ngx_http_lua_create_ctx."""
        if r.ctx is None:
            r.ctx = LuaCtx(resume_handler=self.w.http.wev_handler)
            if r is not r.main or r.connection is not self.w.requests[0].connection:
                r.ctx.entry_co_ctx.name = f"entry:{r.uri}"
        return r.ctx

    def init_ctx(self, r, ctx):
        """ngx_http_lua_init_ctx: everything back to zero (posted_threads too)."""
        fresh = LuaCtx(resume_handler=self.w.http.wev_handler)
        for name in LuaCtx.__dataclass_fields__:
            if name != "entry_co_ctx":
                setattr(ctx, name, getattr(fresh, name))
        from .scheduler import zero_co_ctx
        zero_co_ctx(ctx.entry_co_ctx)

    def new_thread(self, r, ctx, chunk):
        """ngx_http_lua_new_thread: the Lua coroutine and lua_State for an
        entry thread (the co ctx is the ctx's embedded one)."""
        w = self.w
        return w.vm.new_entry(w.chunk_index(chunk)), w.vm.new_state(cached_ok=True)

    def start_chunk(self, r, ctx, chunk, context, phase):
        """The part the three *_by_chunk share: load the chunk, make its entry
        thread (the content handler resets the ctx first, rewrite and access
        after new_thread), register the cleanup, set the context.  False when
        the chunk does not compile (nginx answers 500)."""
        if self.w.chunk_index(chunk) is None:
            return False
        if phase == "content":
            reset_ctx(r, ctx)
        co, L = self.new_thread(r, ctx, chunk)
        if phase != "content":
            reset_ctx(r, ctx)
        entry = ctx.entry_co_ctx
        entry.co, entry.L = co, L
        entry.req = r
        entry.co_ref = True
        entry.co_status = CoStatus.RUNNING
        self.w.coctx_by_id[co] = entry
        ctx.cur_co_ctx = entry
        setattr(ctx, f"entered_{phase}_phase", True)
        if ctx.cleanup is None:                           # ngx_http_cleanup_add
            def lua_request_cleanup_handler(req):
                if ctx.cleanup is lua_request_cleanup_handler:
                    request_cleanup(r, ctx, False)
            ctx.cleanup = lua_request_cleanup_handler
            r.main.cleanups.insert(0, lua_request_cleanup_handler)   # LIFO, as nginx runs them
        ctx.context = context
        self.w.fire("phase_handler", phase=phase, c=r.main.count)
        return True

    def read_body_first(self, r, ctx, post_read):
        """lua_need_request_body: read the body before the chunk runs.
        Returns None to go on, or the handler's return code."""
        if not self.w.location_setting(r, "lua_need_request_body", False) or ctx.read_body_done:
            return None
        rc = self.w.req_body.read_client_request_body(r, post_read)
        if rc == NGX_ERROR or rc >= 300:
            return rc
        if rc == NGX_AGAIN:
            ctx.waiting_more_body = True
            return NGX_DONE
        return None

    def generic_phase_post_read(self, r):
        """ngx_http_lua_generic_phase_post_read (rewrite and access)."""
        ctx = r.ctx
        ctx.read_body_done = True
        self.w.http.count_change(r, -1, "generic_phase_post_read")
        if ctx.waiting_more_body:
            ctx.waiting_more_body = False
            self.core_run_phases(r)

    def content_phase_post_read(self, r):
        """ngx_http_lua_content_phase_post_read."""
        ctx = r.ctx
        ctx.read_body_done = True
        if ctx.waiting_more_body:
            ctx.waiting_more_body = False
            self.w.http.finalize_request(r, self.content_handler(r))
        else:
            self.w.http.count_change(r, -1, "content_phase_post_read")

    # ------------------------------------------------------------- rewrite
    def rewrite_handler(self, r):
        """ngx_http_lua_rewrite_handler."""
        loc = r.location
        if r.uri_changed or loc is None or loc.rewrite_by_lua is None:
            return NGX_DECLINED
        ctx = self.get_ctx(r)
        if ctx.entered_rewrite_phase:
            rc = ctx.resume_handler(r)
            if rc == NGX_OK:
                rc = NGX_DECLINED
            return self.rewrite_done(r, ctx, rc)
        rc = self.read_body_first(r, ctx, self.generic_phase_post_read)
        if rc is not None:
            return rc
        return self.rewrite_by_chunk(r, ctx)

    def rewrite_by_chunk(self, r, ctx):
        """ngx_http_lua_rewrite_by_chunk."""
        if not self.start_chunk(r, ctx, r.location.rewrite_by_lua, CONTEXT_REWRITE, "rewrite"):
            return 500
        c = r.connection
        nreqs = c.requests

        rc = run_thread(r, ctx, 0)
        self.w.fire("run_thread_returned", rc=rc)
        if rc == NGX_ERROR or rc > NGX_OK:
            return rc
        if rc == NGX_AGAIN:
            rc = run_posted_threads(c, r, ctx, nreqs)
        elif rc == NGX_DONE:
            finalize_request(r, NGX_DONE)
            rc = run_posted_threads(c, r, ctx, nreqs)
        return self.rewrite_done(r, ctx, rc)

    def rewrite_done(self, r, ctx, rc):
        """The tail rewrite_by_chunk and the re-entered handler share."""
        if rc in (NGX_OK, NGX_DECLINED):
            if r.header_sent:
                if not ctx.eof:
                    rc = self.w.http.send_chain_link(r, ctx, None)
                    if rc == NGX_ERROR or rc >= 300:
                        return rc
                return 200
            r.write_event_handler = self.core_run_phases
            ctx.entered_rewrite_phase = False
            return NGX_DECLINED
        return rc

    # -------------------------------------------------------------- access
    def access_handler(self, r):
        """ngx_http_lua_access_handler."""
        loc = r.location
        if loc is None or loc.access_by_lua is None:
            return NGX_DECLINED
        ctx = self.get_ctx(r)
        if ctx.entered_access_phase:
            rc = ctx.resume_handler(r)
            if rc == NGX_ERROR or rc == NGX_DONE or rc > NGX_OK:
                return rc
            if rc == NGX_OK:
                return self.access_done(r, ctx)
            return NGX_DECLINED
        rc = self.read_body_first(r, ctx, self.generic_phase_post_read)
        if rc is not None:
            return rc
        return self.access_by_chunk(r, ctx)

    def access_by_chunk(self, r, ctx):
        """ngx_http_lua_access_by_chunk: the function the seed walks through."""
        if not self.start_chunk(r, ctx, r.location.access_by_lua, CONTEXT_ACCESS, "access"):
            return 500
        c = r.connection
        nreqs = c.requests

        rc = run_thread(r, ctx, 0)
        self.w.fire("run_thread_returned", rc=rc)
        if rc == NGX_ERROR or rc > NGX_OK:
            return rc
        if rc in (NGX_AGAIN, NGX_DONE):
            if rc == NGX_DONE:
                finalize_request(r, NGX_DONE)
            rc = run_posted_threads(c, r, ctx, nreqs)
            if rc == NGX_ERROR or rc == NGX_DONE or rc > NGX_OK:
                return rc
            if rc != NGX_OK:
                return NGX_DECLINED
        return self.access_done(r, ctx)

    def access_done(self, r, ctx):
        """NGX_OK from the access handler: a sent header means the response
        is complete (200), otherwise go on to the next phase."""
        if r.header_sent:
            if not ctx.eof:
                rc = self.w.http.send_chain_link(r, ctx, None)
                if rc == NGX_ERROR or rc >= 300:
                    return rc
            return 200
        return NGX_OK

    # ------------------------------------------------------------- content
    def content_handler(self, r):
        """ngx_http_lua_content_handler."""
        ctx = self.get_ctx(r)
        if ctx.entered_content_phase:
            return ctx.resume_handler(r)
        rc = self.read_body_first(r, ctx, self.content_phase_post_read)
        if rc is not None:
            return rc
        return self.content_by_chunk(r, ctx)

    def content_by_chunk(self, r, ctx):
        """ngx_http_lua_content_by_chunk."""
        if not self.start_chunk(r, ctx, r.location.content_by_lua, CONTEXT_CONTENT, "content"):
            return 500

        rc = run_thread(r, ctx, 0)
        self.w.fire("run_thread_returned", rc=rc)
        if rc == NGX_ERROR or rc >= NGX_OK:
            return rc
        if rc == NGX_AGAIN:
            return content_run_posted_threads(r, ctx, 0)
        if rc == NGX_DONE:
            return content_run_posted_threads(r, ctx, 1)
        return NGX_OK

    def content_wev_handler(self, r):
        """ngx_http_lua_content_wev_handler."""
        r.ctx.resume_handler(r)
