"""The Lua phase handlers (src/ngx_http_lua_rewriteby.c, _accessby.c,
_contentby.c).

Each `*_by_chunk` creates the entry thread, calls run_thread and answers
its return code -- the seed's access_by_chunk and its siblings, one function
each.  Each `*_handler` is what nginx's phase engine calls: the first time
it runs the chunk, later it calls ctx->resume_handler (a sleep, a body read
or a subrequest finished).  The content handler's own posted-threads loop,
ngx_http_lua_content_run_posted_threads, is here with its C file.
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED
from ..nginx import body, phases, request
from .common import LuaCtx, CoStatus, CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .control import rd_check_broken_connection
from .util import (run_thread, run_posted_threads, reset_ctx, request_cleanup, finalize_request,
                   new_thread, generic_phase_post_read, send_chain_link, wev_handler)


def get_ctx(r):
    """ngx_http_get_module_ctx, or ngx_http_lua_create_ctx."""
    if r.ctx is None:
        r.ctx = LuaCtx(resume_handler=wev_handler)
        if r is not r.main or r.connection is not r.worker.main_r.connection:
            r.ctx.entry_co_ctx.name = f"entry:{r.uri}"
    return r.ctx


def start_chunk(r, ctx, chunk, context, phase):
    """The part the three *_by_chunk share: load the chunk, make its entry
    thread (the content handler resets the ctx first, rewrite and access
    after new_thread), register the cleanup, set the context.  False when
    the chunk does not compile (nginx answers 500)."""
    w = r.worker
    if w.chunk_index(chunk) is None:
        return False
    if phase == "content":
        reset_ctx(r, ctx)
    co, L = new_thread(r, ctx, chunk)
    if phase != "content":
        reset_ctx(r, ctx)
    entry = ctx.entry_co_ctx
    entry.co, entry.L = co, L
    entry.req = r
    entry.co_ref = True
    entry.co_status = CoStatus.RUNNING
    w.coctx_by_id[co] = entry
    ctx.cur_co_ctx = entry
    setattr(ctx, f"entered_{phase}_phase", True)
    if ctx.cleanup is None:                           # ngx_http_cleanup_add
        def lua_request_cleanup_handler(req):
            if ctx.cleanup is lua_request_cleanup_handler:
                request_cleanup(r, ctx, False)
        ctx.cleanup = lua_request_cleanup_handler
        r.main.cleanups.insert(0, lua_request_cleanup_handler)   # LIFO, as nginx runs them
    ctx.context = context
    r.read_event_handler = (rd_check_broken_connection           # None: ngx_http_block_reading
                            if w.location_setting(r, "lua_check_client_abort", False) else None)
    w.fire("phase_handler", phase=phase, c=r.main.count, uri=r.uri)
    return True


def read_body_first(r, ctx, post_read):
    """lua_need_request_body: read the body before the chunk runs.
    Returns None to go on, or the handler's return code."""
    if not r.worker.location_setting(r, "lua_need_request_body", False) or ctx.read_body_done:
        return None
    rc = body.read_client_request_body(r, post_read)
    if rc == NGX_ERROR or rc >= 300:
        return rc
    if rc == NGX_AGAIN:
        ctx.waiting_more_body = True
        return NGX_DONE
    return None


def header_sent_done(r, ctx):
    """What the rewrite and access handlers answer once the chunk is over:
    with a header sent, the response is complete (200, after the last buf);
    None when no header went out."""
    if not r.header_sent:
        return None
    if not ctx.eof:
        rc = send_chain_link(r, ctx, None)
        if rc == NGX_ERROR or rc >= 300:
            return rc
    return 200


# ----------------------------------------------------------------- rewrite
def rewrite_handler(r):
    """ngx_http_lua_rewrite_handler."""
    loc = r.location
    if r.uri_changed or loc is None or loc.rewrite_by_lua is None:
        return NGX_DECLINED
    ctx = get_ctx(r)
    if ctx.entered_rewrite_phase:
        rc = ctx.resume_handler(r)
        if rc == NGX_OK:
            rc = NGX_DECLINED
        return rewrite_done(r, ctx, rc)
    rc = read_body_first(r, ctx, generic_phase_post_read)
    if rc is not None:
        return rc
    return rewrite_by_chunk(r, ctx)


def rewrite_by_chunk(r, ctx):
    """ngx_http_lua_rewrite_by_chunk."""
    if not start_chunk(r, ctx, r.location.rewrite_by_lua, CONTEXT_REWRITE, "rewrite"):
        return 500
    c = r.connection
    nreqs = c.requests

    rc = run_thread(r, ctx, 0)
    r.worker.fire("run_thread_returned", rc=rc)
    if rc == NGX_ERROR or rc > NGX_OK:
        return rc
    if rc == NGX_AGAIN:
        rc = run_posted_threads(c, r, ctx, nreqs)
    elif rc == NGX_DONE:
        finalize_request(r, NGX_DONE)
        rc = run_posted_threads(c, r, ctx, nreqs)
    return rewrite_done(r, ctx, rc)


def rewrite_done(r, ctx, rc):
    """The tail rewrite_by_chunk and the re-entered handler share."""
    if rc in (NGX_OK, NGX_DECLINED):
        sent = header_sent_done(r, ctx)
        if sent is not None:
            return sent
        r.write_event_handler = phases.core_run_phases
        ctx.entered_rewrite_phase = False
        return NGX_DECLINED
    return rc


# ------------------------------------------------------------------ access
def access_handler(r):
    """ngx_http_lua_access_handler."""
    loc = r.location
    if loc is None or loc.access_by_lua is None:
        return NGX_DECLINED
    ctx = get_ctx(r)
    if ctx.entered_access_phase:
        rc = ctx.resume_handler(r)
        if rc == NGX_ERROR or rc == NGX_DONE or rc > NGX_OK:
            return rc
        if rc == NGX_OK:
            return access_done(r, ctx)
        return NGX_DECLINED
    rc = read_body_first(r, ctx, generic_phase_post_read)
    if rc is not None:
        return rc
    return access_by_chunk(r, ctx)


def access_by_chunk(r, ctx):
    """ngx_http_lua_access_by_chunk: the function the seed walks through."""
    if not start_chunk(r, ctx, r.location.access_by_lua, CONTEXT_ACCESS, "access"):
        return 500
    c = r.connection
    nreqs = c.requests

    rc = run_thread(r, ctx, 0)
    r.worker.fire("run_thread_returned", rc=rc)
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
    return access_done(r, ctx)


def access_done(r, ctx):
    """NGX_OK from the access handler: a sent header means the response
    is complete (200), otherwise go on to the next phase."""
    sent = header_sent_done(r, ctx)
    return NGX_OK if sent is None else sent


# ----------------------------------------------------------------- content
def content_handler(r):
    """ngx_http_lua_content_handler."""
    ctx = get_ctx(r)
    if ctx.entered_content_phase:
        return ctx.resume_handler(r)
    rc = read_body_first(r, ctx, content_phase_post_read)
    if rc is not None:
        return rc
    return content_by_chunk(r, ctx)


def content_by_chunk(r, ctx):
    """ngx_http_lua_content_by_chunk."""
    if not start_chunk(r, ctx, r.location.content_by_lua, CONTEXT_CONTENT, "content"):
        return 500

    rc = run_thread(r, ctx, 0)
    r.worker.fire("run_thread_returned", rc=rc)
    if rc == NGX_ERROR or rc >= NGX_OK:
        return rc
    if rc == NGX_AGAIN:
        return content_run_posted_threads(r, ctx, 0)
    if rc == NGX_DONE:
        return content_run_posted_threads(r, ctx, 1)
    return NGX_OK


def content_run_posted_threads(r, ctx, n):
    """ngx_http_lua_content_run_posted_threads:
    `n` is how many NGX_DONE references are already held."""
    w = r.worker
    while True:
        pt = ctx.posted_threads
        if pt is None:
            break
        ctx.posted_threads = pt.next
        if w.traced:          # (untraced, not even the probe's arguments: util.run_thread)
            w.fire("run_posted_thread", co=pt.co_ctx, status=pt.co_ctx.co_status.lua_name)
        if pt.co_ctx.co_status != CoStatus.RUNNING:
            continue
        ctx.cur_co_ctx = pt.co_ctx
        rc = run_thread(r, ctx, 0)
        if w.traced:
            w.fire("run_thread_returned", rc=rc)
        if rc == NGX_AGAIN:
            continue
        if rc == NGX_DONE:
            n += 1
            continue
        if rc == NGX_OK:
            for _ in range(n):
                finalize_request(r, NGX_DONE)
            return NGX_OK
        return rc

    if n == 1:
        return NGX_DONE
    if n == 0:
        request.count_change(r, +1, "content_run_posted_threads: park the request")
        return NGX_DONE
    for _ in range(n - 1):
        finalize_request(r, NGX_DONE)
    return NGX_DONE


def content_phase_post_read(r):
    """ngx_http_lua_content_phase_post_read."""
    ctx = r.ctx
    ctx.read_body_done = True
    if ctx.waiting_more_body:
        ctx.waiting_more_body = False
        request.finalize_request(r, content_handler(r))
    else:
        request.count_change(r, -1, "content_phase_post_read")


def content_wev_handler(r):
    """ngx_http_lua_content_wev_handler."""
    r.ctx.resume_handler(r)
