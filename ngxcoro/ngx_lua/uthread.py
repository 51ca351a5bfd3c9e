"""ngx.thread.spawn / wait / kill (src/ngx_http_lua_uthread.c).

The Python halves of the shims in lua/uthread.lua.
"""
from __future__ import annotations

from .common import CoOp, CoStatus, CONTEXT_YIELDABLE
from .coroutine import coroutine_create_helper
from .protocol import ret, err, argerr, yield_to_run_thread, from_stack, request_ctx
from .util import post_thread, del_thread, cleanup_pending_operation


def spawn(w, co):
    """ngx_http_lua_uthread_spawn: the caller goes to the tail of
    posted_threads and the child becomes current; run_thread runs it at once
    when the caller's shim yields with co_op USER_THREAD_RESUME."""
    r, ctx, e = request_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    parent = ctx.cur_co_ctx
    child = coroutine_create_helper(w, co, True)
    child.co_ref = True
    child.is_uthread = True
    ctx.uthreads += 1
    child.co_status = CoStatus.RUNNING
    ctx.co_op = CoOp.USER_THREAD_RESUME
    parent.thread_spawn_yielded = True
    post_thread(r, ctx, parent)
    child.parent_co_ctx = parent
    ctx.cur_co_ctx = child
    if w.traced:          # (untraced, not even the probe's arguments: util.run_thread)
        w.fire("user_thread_spawn", parent=parent, child=child)
    return yield_to_run_thread()


def wait(w, *cos):
    """ngx_http_lua_uthread_wait: the first zombie (in argument order)
    answers at once; otherwise flag every live child and block."""
    r, ctx, e = request_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    coctx = ctx.cur_co_ctx
    if not cos:
        return err("at least one coroutine should be specified")
    for i, co in enumerate(cos):
        if co is False:
            return argerr(i + 1, "lua thread expected")
        sub = w.coctx_by_id.get(co)
        if sub is None:
            return err("no co ctx found")
        if not sub.is_uthread:
            return err("attempt to wait on a coroutine that is not a user thread")
        if sub.parent_co_ctx is not coctx:
            return err("only the parent coroutine can wait on the thread")
        if sub.co_status == CoStatus.ZOMBIE:
            w.vm.xmove_all(sub.co, coctx.co)
            del_thread(r, ctx, sub)
            ctx.uthreads -= 1
            return from_stack(coctx)
        if sub.co_status == CoStatus.DEAD:
            if i == len(cos) - 1:
                return ret(None, b"already waited or killed")
            continue
        if w.traced:
            w.fire("user_thread_wait", parent=coctx, child=sub)
        sub.waited_by_parent = True
    coctx.waiting = "ngx.thread.wait"
    return yield_to_run_thread()


def kill(w, co):
    """ngx_http_lua_uthread_kill: never yields."""
    r, ctx, e = request_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    coctx = ctx.cur_co_ctx
    sub = w.coctx_by_id.get(co)
    if sub is None:
        return err("no co ctx found")
    if not sub.is_uthread:
        return ret(None, b"not user thread")
    if sub.parent_co_ctx is not coctx:
        return ret(None, b"killer not parent")
    if sub.pending_subreqs > 0:
        return ret(None, b"pending subrequests")
    if sub.co_status == CoStatus.ZOMBIE:
        del_thread(r, ctx, sub)
        ctx.uthreads -= 1
        return ret(None, b"already terminated")
    if sub.co_status == CoStatus.DEAD:
        return ret(None, b"already waited or killed")
    cleanup_pending_operation(sub)
    del_thread(r, ctx, sub)
    ctx.uthreads -= 1
    return ret(1)


API = {"spawn": spawn, "wait": wait, "kill": kill}
