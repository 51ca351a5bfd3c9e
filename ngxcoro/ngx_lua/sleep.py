"""ngx.sleep (src/ngx_http_lua_sleep.c).

The sleeper's co ctx arms a timer and yields with co_op NOP, so run_thread
answers NGX_AGAIN.  When the timer fires, the sleep handler makes the
sleeper current again and resumes it: at once in the content phase, through
the phase engine (ctx->resume_handler) in rewrite and access.
"""
from __future__ import annotations

from functools import partial

from ..nginx import phases, request
from .common import CONTEXT_YIELDABLE
from .protocol import err, argerr, yield_to_run_thread, request_co_ctx, lua_type, tonumber
from .util import cleanup_pending_operation, resume_tail


def ngx_sleep(w, *args):
    """ngx.sleep(s) (ngx_http_lua_ngx_sleep): arm the co ctx's timer and yield."""
    if len(args) != 1:
        return err(f"attempt to pass {len(args)} arguments, but accepted 1")
    n = tonumber(args[0])
    if n is None:
        return argerr(1, f"number expected, got {lua_type(args[0])}")
    delay = int(n * 1000)
    if delay < 0:
        return err(f'invalid sleep duration "{delay}"')
    r, ctx, coctx, e = request_co_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    cleanup_pending_operation(coctx)
    if delay == 0:
        w.log_error("warn", "ngx.sleep(0) called without delayed events patch, "
                            "this will hurt performance", r)
    timer = w.loop.add_timer(delay, partial(sleep_handler, r, coctx), label=coctx.name,
                             kind="ngx.sleep", owner=coctx.name)
    coctx.cleanup = partial(sleep_cleanup, w, timer)
    coctx.waiting = f"ngx.sleep({n:g})"
    if w.traced:          # (untraced, not even the probe's arguments: util.run_thread)
        w.fire("sleep", co=coctx, ms=delay)
    return yield_to_run_thread()


def sleep_handler(r, coctx):
    """ngx_http_lua_sleep_handler: the timer fired."""
    w = r.worker
    coctx.cleanup = None
    coctx.waiting = ""
    ctx = r.ctx
    if w.traced:
        w.fire("timer_expired", co=coctx, label=coctx.name)
    ctx.cur_co_ctx = coctx
    if ctx.entered_content_phase:
        sleep_resume(r)
    else:
        ctx.resume_handler = sleep_resume
        phases.core_run_phases(r)
    request.run_posted_requests(r.connection)


def sleep_resume(r):
    """ngx_http_lua_sleep_resume."""
    return resume_tail(r, 0)


def sleep_cleanup(w, timer, coctx):
    """ngx_http_lua_sleep_cleanup: the sleeper was killed or the request ended."""
    if timer.active:
        w.loop.del_timer(timer)
        w.fire("sleep_cleanup", co=coctx)


API = {"sleep": ngx_sleep}
