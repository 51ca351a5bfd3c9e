"""The scheduler: run_thread and its friends (src/ngx_http_lua_util.c).

`run_thread` is a trampoline: coroutine.resume / yield and ngx.thread.spawn set `ctx.co_op`
and yield to it, and it resumes the next coroutine itself; an API that blocks (ngx.sleep,
...) yields with co_op NOP and run_thread returns NGX_AGAIN, leaving the wake-up to the
event loop.  The C function's labels (user_co_done, propagate_error, done) are helpers
below it, each returning (rc, None) to leave run_thread or (None, nrets) to go round
again (by.py has the content handler's twin of run_posted_threads)."""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE
from ..nginx import request, phases, response, body as request_body
from .common import (LUA_YIELD, LUA_OK, CoStatus, CoOp, PostedThread, LuaCtx, is_thread, output_filter,
                     coroutine_alive, entry_thread_alive, zero_co_ctx, CONTEXT_TIMER, CONTEXT_YIELDABLE)
from .fake_request import finalize_fake_request
from .. import whatif

RUNNING, DEAD, ZOMBIE = CoStatus.RUNNING, CoStatus.DEAD, CoStatus.ZOMBIE
NOP, USER_THREAD_RESUME = CoOp.NOP, CoOp.USER_THREAD_RESUME
ERR_NAMES = {2: "runtime error", 3: "syntax error", 5: "error handler error"}


# --- ngx_http_lua_run_thread -----------------------------------------------
def run_thread(r, ctx, nrets):
    """ngx_http_lua_run_thread: resume ctx.cur_co_ctx until something blocks: NGX_AGAIN
    (parked), NGX_DONE (parked, count +1), NGX_OK, NGX_ERROR or a status.  (`if traced:`
    before a probe: untraced, building its arguments would cost more than the work.)"""
    w, vm, traced = r.worker, r.worker.vm, r.worker.traced
    w.enter_request(r)
    if traced: w.fire("run_thread", r=r, c=r.main.count, co=ctx.cur_co_ctx)
    if ctx.cur_co_ctx.thread_spawn_yielded:
        ctx.cur_co_ctx.thread_spawn_yielded = False
        nrets = 1
    while True:
        orig = ctx.cur_co_ctx
        if orig.propagate_error:                         # a wrap child failed
            orig.propagate_error = False
            rc, nrets = propagate_error(r, ctx)
        else:
            if traced: w.fire("resume", co=orig, nrets=nrets)
            rv, _, real = vm.resume_top(orig.co, nrets, ctx.context & CONTEXT_YIELDABLE and r.id)
            orig = orig if real is None else w.coctx_by_id[real]   # the fast path's (vm.lua)
            if traced: w.fire("resume_returned", co=orig, rv=rv)
            if rv == LUA_YIELD:
                rc, nrets = thread_yielded(r, ctx, orig)
            elif rv == LUA_OK:
                rc, nrets = thread_ended(r, ctx, orig)
            else:
                rc, nrets = thread_failed(r, ctx, orig, rv)
        if rc is not None:
            return rc


def thread_yielded(r, ctx, orig):
    """ngx_http_lua_run_thread, `case LUA_YIELD`: an abort, or act on co_op."""
    w = r.worker
    if r.uri_changed:
        return handle_rewrite_jump(r, ctx), None
    if ctx.exited:
        return handle_exit(r, ctx), None
    if ctx.exec_uri:
        return handle_exec(r, ctx), None

    op, ctx.co_op = ctx.co_op, NOP
    if w.traced: w.fire("co_op", co=orig, op=op.name)
    if op is NOP:                                        # an API blocked
        ctx.cur_co_ctx = None
        return NGX_AGAIN, None
    if op is USER_THREAD_RESUME:                         # spawn: run the child now
        return None, w.vm.top(ctx.cur_co_ctx.co)
    if op == CoOp.USER_CORO_RESUME:                      # resume: args go to the target
        return None, w.vm.xmove_all(orig.co, ctx.cur_co_ctx.co)

    # CoOp.USER_CORO_YIELD
    if is_thread(ctx, orig):                             # a time slice
        w.fire("thread_yield", co=orig)
        w.vm.settop0(orig.co)
        orig.co_status = RUNNING
        if ctx.posted_threads:
            post_thread(r, ctx, orig)
            ctx.cur_co_ctx = None
            return NGX_AGAIN, None
        return None, 0
    parent = orig.parent_co_ctx                          # back to the resumer
    n = w.vm.xmove_all(orig.co, parent.co, None if orig.is_wrap else True)
    ctx.cur_co_ctx = parent
    return None, n


def thread_ended(r, ctx, co):
    """ngx_http_lua_run_thread, `rv == 0`: the coroutine returned."""
    w = r.worker
    cleanup_pending_operation(co)
    if w.traced: w.fire("coroutine_done", co=co, success=True)
    co.co_status = DEAD
    if co.zombie_child_threads:
        cleanup_zombie_child_uthreads(r, ctx, co)
    if w.traced: w.fire("thread_ended", co=co)           # "lua light thread ended normally"

    if co is ctx.entry_co_ctx:
        w.vm.settop0(co.co)
        del_thread(r, ctx, co)
        if ctx.uthreads:
            ctx.cur_co_ctx = None
            return NGX_AGAIN, None
        return done(r, ctx), None
    if co.is_uthread:
        return uthread_finished(r, ctx, co, True)
    return user_co_done(r, ctx, co, True)


def uthread_finished(r, ctx, co, success):
    """A light thread ended or failed: to its waiting parent, a zombie, or deleted."""
    w = r.worker
    parent = co.parent_co_ctx
    if parent is not None and coroutine_alive(parent):
        if co.waited_by_parent:
            co.waited_by_parent = False
            return user_co_done(r, ctx, co, success)
        post_zombie_thread(r, parent, co)
        w.vm.insert_bool(co.co, success)
        co.co_status = ZOMBIE
        w.fire("zombie", parent=parent, co=co)
        ctx.cur_co_ctx = None
        return NGX_AGAIN, None

    del_thread(r, ctx, co)
    ctx.uthreads -= 1
    if ctx.uthreads == 0 and not entry_thread_alive(ctx):
        return done(r, ctx), None
    ctx.cur_co_ctx = None
    return NGX_AGAIN, None


def user_co_done(r, ctx, co, success):
    """ngx_http_lua_run_thread, label `user_co_done`: the resumer (or waiting
    parent) gets the values, after `success` unless it is a coroutine.wrap."""
    w = r.worker
    parent = co.parent_co_ctx
    if parent is None:
        return no_parent(r, ctx, co), None
    n = w.vm.xmove_all(co.co, parent.co, None if co.is_wrap else success)
    if co.is_uthread:
        del_thread(r, ctx, co)
        ctx.uthreads -= 1
    ctx.cur_co_ctx = parent
    parent.co_status = RUNNING
    if w.traced: w.fire("back_to_parent", co=co, parent=parent)  # "lua user thread ended normally"
    return None, n


def thread_failed(r, ctx, co, rv):
    """ngx_http_lua_run_thread, an error: mark the coroutine dead, then propagate."""
    w = r.worker
    ctx.cur_co_ctx = co
    cleanup_pending_operation(co)
    w.fire("coroutine_done", co=co, success=False)
    co.co_status = DEAD
    if co.is_uthread or co.is_wrap or co is ctx.entry_co_ctx:
        ctx.err = ERR_NAMES.get(rv, "unknown error")
        ctx.msg = w.vm.errmsg(co.co) or "unknown reason"
        ctx.trace = w.vm.thread_traceback(co)
    return propagate_error(r, ctx)


def propagate_error(r, ctx):
    """ngx_http_lua_run_thread, label `propagate_error`: who pays for the error."""
    w = r.worker
    co = ctx.cur_co_ctx
    if co.is_uthread or co is ctx.entry_co_ctx:
        w.log_error("error", f"lua {'user' if co.is_uthread else 'entry'} thread aborted: "
                             f"{ctx.err}: {ctx.msg}\n{ctx.trace}", r)
        if co.is_uthread:
            return uthread_finished(r, ctx, co, False)
        w.vm.settop0(co.co)                              # the entry thread
        request_cleanup(r, ctx, False)
        if ctx.no_abort:
            ctx.no_abort = False
            return NGX_ERROR, None
        return (NGX_ERROR if r.header_sent else 500), None

    parent = co.parent_co_ctx
    if parent is None:
        return no_parent(r, ctx, co), None
    parent.co_status = RUNNING
    ctx.cur_co_ctx = parent
    if co.is_wrap:                                       # the resumer fails too
        parent.propagate_error = True
        return None, 0
    return None, w.vm.xmove(co.co, parent.co, 1, False)  # resume() -> false, err


def no_parent(r, ctx, co):
    """ngx_http_lua_run_thread, label `no_parent`: a defensive path."""
    w = r.worker
    w.vm.settop0(co.co)
    co.co_status = DEAD
    request_cleanup(r, ctx, False)
    w.log_error("error", "lua handler aborted: user coroutine has no parent", r)
    return NGX_ERROR if r.header_sent else 500


def done(r, ctx):
    """ngx_http_lua_run_thread, label `done`: every thread of the handler has ended."""
    if ctx.entered_content_phase and r.connection.fd != -1:
        rc = send_chain_link(r, ctx, None)                   # the last buf
        if rc == NGX_ERROR or rc >= 300:
            return rc
    return NGX_OK


# --- the posted FIFO -------------------------------------------------------
def post_thread(r, ctx, coctx):
    """ngx_http_lua_post_thread: append at the tail, found by walking the list."""
    pt = PostedThread(coctx)
    if ctx.posted_threads is None:
        ctx.posted_threads = pt
    elif r.worker.what_if == whatif.PREPENDS:    # what-if, not nginx: at the head
        whatif.prepend(r, ctx, pt)
    else:
        p = ctx.posted_threads
        while p.next is not None:
            p = p.next
        p.next = pt
    if r.worker.traced: r.worker.fire("post_thread", co=coctx)
    return NGX_OK


def run_posted_threads(c, r, ctx, nreqs):
    """ngx_http_lua_run_posted_threads: for every caller but the content handler."""
    w = r.worker
    while True:
        if c.destroyed and w.what_if == whatif.NO_DESTROYED_CHECK:  # what-if, not nginx: no test
            return whatif.use_after_free(r, "run_posted_threads", "ctx->posted_threads")
        if c.destroyed or c.requests != nreqs:
            return NGX_DONE
        pt = ctx.posted_threads
        if pt is None:
            return NGX_DONE
        ctx.posted_threads = pt.next
        if w.traced: w.fire("run_posted_thread", co=pt.co_ctx, status=pt.co_ctx.co_status.lua_name)
        if pt.co_ctx.co_status != RUNNING:
            continue
        ctx.cur_co_ctx = pt.co_ctx
        rc = run_thread(r, ctx, 0)
        if w.traced: w.fire("run_thread_returned", rc=rc)
        if rc == NGX_AGAIN:
            continue
        if rc == NGX_DONE:
            finalize_request(r, NGX_DONE)
            continue
        if ctx.entered_content_phase:
            finalize_request(r, rc)
        return rc


# --- zombies, deletion and cleanup -----------------------------------------
def post_zombie_thread(r, parent, coctx):
    """ngx_http_lua_post_zombie_thread: the parent keeps a finished child."""
    parent.zombie_child_threads.append(coctx)


def cleanup_zombie_child_uthreads(r, ctx, coctx):
    """ngx_http_lua_cleanup_zombie_child_uthreads."""
    for child in coctx.zombie_child_threads:
        if child.co_ref:
            del_thread(r, ctx, child)
            ctx.uthreads -= 1
    coctx.zombie_child_threads = []


def del_thread(r, ctx, coctx):
    """ngx_http_lua_del_thread: drop the registry ref; an entry state is cached."""
    if not coctx.co_ref:
        return
    w, vm = r.worker, r.worker.vm
    if coctx is ctx.entry_co_ctx and len(vm.cached_lua_threads) < vm.lua_thread_cache_max_entries:
        vm.cached_lua_threads.append(coctx.L)
        vm.reset(coctx.co)                      # lua_resetthread
    coctx.co_ref = False
    coctx.co_status = DEAD
    if w.traced: w.fire("thread_delete", co=coctx)   # the probe; after the fields, for pictures


def cleanup_pending_operation(coctx):
    """ngx_http_lua_cleanup_pending_operation: cancel a sleep, a body read..."""
    if coctx.cleanup is not None:
        f, coctx.cleanup, coctx.waiting = coctx.cleanup, None, ""
        f(coctx)


def finalize_threads(r, ctx):
    """ngx_http_lua_finalize_threads: light threads in creation order, entry last."""
    r.worker.fire("finalize_threads")
    coctx = ctx.on_abort_co_ctx
    if coctx is not None and coctx.co_ref:
        if coctx.co_status != CoStatus.SUSPENDED:   # in uthreads once it started
            cleanup_pending_operation(coctx)
            ctx.uthreads -= 1
        del_thread(r, ctx, coctx)
        ctx.on_abort_co_ctx = None
    for coctx in ctx.user_co_ctx:
        if coctx.co_ref:
            cleanup_pending_operation(coctx)
            del_thread(r, ctx, coctx)
            ctx.uthreads -= 1
    # ctx->user_co_ctx = NULL; a co ctx is still found from its lua_State (lua_getexdata2:
    # "cannot resume dead coroutine"), and a pending operation still resumes it (top:0 c:0)
    ctx.user_co_ctx = []
    entry = ctx.entry_co_ctx
    if entry.co_ref:
        cleanup_pending_operation(entry)
        del_thread(r, ctx, entry)


def request_cleanup(r, ctx, forcible):
    """ngx_http_lua_request_cleanup: disarm the request cleanup, finalize_threads."""
    r.worker.fire("request_cleanup", forcible=int(forcible))
    if r.connection.log_context and ctx.context == CONTEXT_TIMER:     # a timer's fake request
        r.worker.running_timers -= 1
    ctx.cleanup = None
    finalize_threads(r, ctx)


def reset_ctx(r, ctx):
    """ngx_http_lua_reset_ctx: run at the start of every *_by_lua chunk.
    Note what it leaves alone: posted_threads and no_abort."""
    r.worker.fire("reset_ctx")
    finalize_threads(r, ctx)
    zero_co_ctx(ctx.entry_co_ctx)
    ctx.entered_rewrite_phase = ctx.entered_access_phase = ctx.entered_content_phase = False
    ctx.exit_code, ctx.exited = 0, False
    ctx.exec_uri = ctx.exec_args = ""
    ctx.co_op = CoOp.NOP
    ctx.resume_handler = wev_handler


def finalize_request(r, rc):
    """ngx_http_lua_finalize_request: cancel the pending operation, then finalize."""
    if rc == NGX_DONE and r.worker.what_if == whatif.NO_FINALIZE_DONE:  # what-if, not nginx
        return whatif.skip_finalize_done(r)
    ctx = r.ctx
    if ctx is not None and ctx.cur_co_ctx is not None:
        cleanup_pending_operation(ctx.cur_co_ctx)
    if r.connection.fd != -1:
        request.finalize_request(r, rc)
    else:
        finalize_fake_request(r, rc)


# --- request-wide aborts, acted on by run_thread whichever thread asked ----
def abort_current(r, ctx, forcible):
    """What handle_exit, _exec and _rewrite_jump do first: the coroutine is done."""
    co = ctx.cur_co_ctx
    cleanup_pending_operation(co)
    r.worker.fire("coroutine_done", co=co, success=True)
    co.co_status = DEAD
    request_cleanup(r, ctx, forcible)


def handle_exit(r, ctx):
    """ngx_http_lua_handle_exit: ngx.exit / ngx.redirect from any thread."""
    code = ctx.exit_code
    r.worker.fire("handle_exit", code=code)
    abort_current(r, ctx, False)
    if r.connection.fd == -1:
        return code
    if not r.header_sent and not ctx.header_sent and not r.headers_out_status and code >= 200:
        r.headers_out_status = code
    held = ctx.buffering and r.headers_out_status and code not in (NGX_ERROR, 408, 499, 444)
    if held or (code == NGX_OK and ctx.entered_content_phase) or (200 <= code < 300 and code != 204):
        rc = send_chain_link(r, ctx, None)
        if rc == NGX_ERROR or rc >= 300:
            return rc
        if held:                    # HTTP/1.0: the held response goes out as it is
            return 200 if code >= 200 else code
    if (r.header_sent or ctx.header_sent) and code > NGX_OK and code not in (408, 499, 444):
        return NGX_OK if ctx.entered_content_phase else 200
    return code


def handle_exec(r, ctx):
    """ngx_http_lua_handle_exec: threads killed, redirected inside nginx (its count: NGX_DONE)."""
    w = r.worker
    w.fire("handle_exec", uri=ctx.exec_uri)
    abort_current(r, ctx, True)
    r.write_event_handler = lambda req: None
    if ctx.exec_uri.startswith("@"):
        if ctx.exec_args:
            w.log_error("warn", f"query strings {ctx.exec_args} ignored when exec'ing named "
                                f"location {ctx.exec_uri}", r)
        r.ctx = None                           # every module's ctx is zeroed
        rc = phases.named_location(r, ctx.exec_uri)
    else:
        rc = phases.internal_redirect(r, ctx.exec_uri, ctx.exec_args)
    if rc == NGX_ERROR or rc >= 300:
        return rc
    return NGX_DONE


def handle_rewrite_jump(r, ctx):
    """ngx_http_lua_handle_rewrite_jump: threads killed, ctx afresh, the location found again."""
    r.worker.fire("handle_rewrite_jump", uri=r.uri)
    abort_current(r, ctx, True)
    init_ctx(r, ctx)
    return NGX_OK


# --- the ctx, entry threads, and waking up ---------------------------------
def init_ctx(r, ctx):
    """ngx_http_lua_init_ctx: everything back to zero (posted_threads too)."""
    fresh = LuaCtx(resume_handler=wev_handler)
    for name in LuaCtx.__dataclass_fields__:
        if name != "entry_co_ctx":
            setattr(ctx, name, getattr(fresh, name))
    zero_co_ctx(ctx.entry_co_ctx)


def new_thread(r, ctx, chunk):
    """ngx_http_lua_new_thread: an entry thread's Lua coroutine and lua_State."""
    w = r.worker
    return w.vm.new_entry(w.chunk_index(chunk)), w.vm.new_state(cached_ok=True)


def generic_phase_post_read(r):
    """ngx_http_lua_generic_phase_post_read (rewrite and access)."""
    ctx = r.ctx
    ctx.read_body_done = True
    request.count_change(r, -1, "generic_phase_post_read")
    if ctx.waiting_more_body:
        ctx.waiting_more_body = False
        phases.core_run_phases(r)


def wev_handler(r):
    """ngx_http_lua_wev_handler: the default resume_handler (nothing to flush: a no-op)."""
    r.worker.fire("useless_wev")
    return NGX_OK if r.ctx.entered_content_phase else NGX_DONE


def resume_tail(r, nrets):
    """The tail every resume handler shares (ngx_http_lua_sleep_resume,
    ngx_http_lua_subrequest_resume, ngx_http_lua_read_body_resume, ...):
    run_thread, then drain posted_threads, then finalize in the content phase."""
    ctx, c, nreqs = r.ctx, r.connection, r.connection.requests
    ctx.resume_handler = wev_handler
    rc = run_thread(r, ctx, nrets)
    if r.worker.traced: r.worker.fire("run_thread_returned", rc=rc)
    if rc == NGX_AGAIN:
        return run_posted_threads(c, r, ctx, nreqs)
    if rc == NGX_DONE:
        finalize_request(r, NGX_DONE)
        return run_posted_threads(c, r, ctx, nreqs)
    if ctx.entered_content_phase:
        finalize_request(r, rc)
        return NGX_DONE
    return rc


# --- the output path -------------------------------------------------------
def send_header_if_needed(r, ctx):
    """ngx_http_lua_send_header_if_needed."""
    if not r.header_sent and not ctx.header_sent:
        r.headers_out_status = r.headers_out_status or 200
        # header_sent set after the filters ran; HTTP/1.0 buffering holds it back
        rc, ctx.header_sent = (NGX_OK, False) if ctx.buffering else (response.send_header(r), True)
        return rc
    return NGX_OK


def send_chain_link(r, ctx, data):
    """ngx_http_lua_send_chain_link: `data` None means the last buf."""
    if ctx.eof:
        return NGX_OK
    r.header_only = r.header_only or r.method == "HEAD"
    if (r.http_version == "HTTP/1.0" and not r.header_sent and not ctx.header_sent and all(
            n.lower() != "content-length" for n, _ in r.headers_out)  # content_length_n < 0
            and r.worker.location_setting(r, "lua_http10_buffering", True)):
        ctx.buffering = True
    rc = send_header_if_needed(r, ctx)
    if rc == NGX_ERROR or rc > NGX_OK:
        return rc
    if r.header_only:     # the header is all (sent now when buffered: send_http10_headers)
        ctx.eof, buffering, ctx.buffering = True, ctx.buffering, False
        if buffering:
            rc, ctx.header_sent = response.send_header(r, content_length=len(ctx.buffered)), True
        return rc
    if data is None:
        ctx.eof = True
        request_body.discard_request_body(r)       # an unread body is discarded (402)
        if ctx.buffering:
            body, ctx.buffering = bytes(ctx.buffered), False
            _, ctx.header_sent = response.send_header(r, content_length=len(body)), True
            output_filter(r, body)               # the buffered chain, then the last buf
        r.worker.fire("send_last_buf")
        return output_filter(r, b"", last=True)
    if ctx.buffering:
        ctx.buffered += data
        return NGX_OK
    return output_filter(r, data)
