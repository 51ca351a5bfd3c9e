"""ngx.semaphore (src/ngx_http_lua_semaphore.c, under lua-resty-core's ngx/semaphore.lua).

A semaphore is worker-wide: any request can wait on it and any can post.
A waiter queues its co ctx (FIFO) with a timeout timer and yields with
co_op NOP.  `post` only adds resources and posts the semaphore's one event;
the waiters are woken later, in the loop's posted-events step, by
`sema_handler`: the head of the queue first, each in its own request and run
to its next yield before the next one is taken, while resources last.
"""
from __future__ import annotations

from functools import partial

from ..nginx import phases, request
from ..nginx.loop import Event
from .common import CONTEXT_YIELDABLE
from .protocol import ret, yield_to_run_thread, check_context
from .util import resume_tail

SEMA_WAIT_SUCC, SEMA_WAIT_TIMEOUT = 0, 1
INT_MIN = -2**31


def c_int(x):
    """A Lua number passed to an FFI `int` parameter: truncated toward zero;
    out of range (or NaN) it is INT_MIN, as x86-64's cvttsd2si answers."""
    x = float(x)
    if x != x or abs(x) == float("inf"):
        return INT_MIN
    n = int(x)
    return n if INT_MIN <= n < 2**31 else INT_MIN


def int_add(a, b):
    """`int` arithmetic as the C compiler does it here: it wraps."""
    return (a + b + 2**31) % 2**32 - 2**31


class Sema:
    """ngx_http_lua_sema_t: the resources, the waiters (co ctxs, FIFO) and
    the one event that wakes them.  `name` labels it in pictures."""

    def __init__(self, number, n, handler):
        self.number, self.name = number, f"sema{number}"
        self.resource_count = n
        self.wait_count = 0
        self.wait_queue = []             # co ctxs, longest waiting first
        self.timers = {}                 # co ctx -> its timeout timer (coctx->sleep)
        self.event = Event(handler, label=self.name)

    def __repr__(self):
        return f"<{self.name} resources={self.resource_count} waiters={len(self.wait_queue)}>"


def _sem(w, number):
    return w.semaphores[int(number) - 1]


def ffi_sema_new(w, n):
    """ngx_http_lua_ffi_sema_new: a semaphore with `n` resources."""
    sem = Sema(len(w.semaphores) + 1, c_int(n), None)
    sem.event.handler = partial(sema_handler, w, sem)
    w.semaphores.append(sem)
    w.fire("sema_new", sem=sem, n=sem.resource_count)
    return ret(sem.number)


def ffi_sema_wait(w, number, ms):
    """ngx_http_lua_ffi_sema_wait: take a resource at once, answer "timeout"
    for wait(0), or queue the current co ctx with a timer and yield."""
    sem, wait_ms = _sem(w, number), c_int(ms)
    r = w.cur_r
    ctx = r.ctx
    w.fire("sema_wait", sem=sem, ms=wait_ms, resources=sem.resource_count,
           posted=int(sem.event.posted))
    if ctx is None:
        return ret(None, b"no request ctx found")
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return ret(None, msg.encode())
    if not sem.wait_queue and sem.resource_count > 0:
        sem.resource_count -= 1
        return ret(True)
    if wait_ms == 0:
        return ret(None, b"timeout")
    coctx = ctx.cur_co_ctx
    sem.wait_count += 1
    sem.timers[coctx] = w.loop.add_timer(wait_ms, partial(sema_timeout_handler, r, coctx, sem),
                                         label=coctx.name, kind="sema:wait", owner=coctx.name)
    sem.wait_queue.append(coctx)
    coctx.cleanup = partial(sema_cleanup, w, sem)
    coctx.waiting = f"{sem.name}:wait({wait_ms / 1000:g})"
    w.fire("sema_wait_yield", co=coctx, sem=sem)
    return yield_to_run_thread()


def ffi_sema_post(w, number, n):
    """ngx_http_lua_ffi_sema_post: add the resources; with waiters, post the
    semaphore's event (once: an event already posted stays where it is)."""
    sem, n = _sem(w, number), c_int(n)
    w.fire("sema_post", sem=sem, n=n, resources=sem.resource_count,
           waiters=len(sem.wait_queue), posted=int(sem.event.posted))
    sem.resource_count = int_add(sem.resource_count, n)
    if sem.wait_queue:
        update = int(sem.event.posted)
        w.loop.post_event(sem.event)
        w.fire("post_event", sem=sem, update=update)
    return ret()


def ffi_sema_count(w, number):
    """ngx_http_lua_ffi_sema_count: resources minus waiters."""
    sem = _sem(w, number)
    return ret(int_add(sem.resource_count, -sem.wait_count))


def sema_handler(w, sem):
    """ngx_http_lua_sema_handler: the posted event.  Wake the waiters from
    the head while resources last, each in its own request."""
    w.fire("sema_handler", sem=sem, empty=int(not sem.wait_queue),
           resources=sem.resource_count)
    while sem.wait_queue and sem.resource_count > 0:
        coctx = sem.wait_queue.pop(0)
        sem.wait_count -= 1
        coctx.cleanup = None
        coctx.waiting = ""
        w.loop.del_timer(sem.timers.pop(coctx))
        r = coctx.req
        sem.resource_count -= 1
        w.fire("sema_wake", co=coctx, sem=sem)
        _resume(r, coctx, SEMA_WAIT_SUCC)


def sema_timeout_handler(r, coctx, sem):
    """ngx_http_lua_sema_timeout_handler: the waiter's timer fired (it logs
    nothing of its own)."""
    coctx.cleanup = None
    coctx.waiting = ""
    sem.wait_queue.remove(coctx)
    sem.timers.pop(coctx, None)
    sem.wait_count -= 1
    r.worker.fire("sema_timeout", co=coctx, sem=sem)
    _resume(r, coctx, SEMA_WAIT_TIMEOUT)


def _resume(r, coctx, status):
    """The tail the two handlers share: make the waiter current and resume
    it, at once in the content phase, through the phase engine before."""
    ctx = r.ctx
    ctx.cur_co_ctx = coctx
    coctx.sem_resume_status = status
    if ctx.entered_content_phase:
        sema_resume(r)
    else:
        ctx.resume_handler = sema_resume
        phases.core_run_phases(r)
    request.run_posted_requests(r.connection)


def sema_resume(r):
    """ngx_http_lua_sema_resume: wait() answers true, nil or false, "timeout"."""
    coctx = r.ctx.cur_co_ctx
    if coctx.sem_resume_status == SEMA_WAIT_SUCC:
        r.worker.vm.push2(coctx.co, True, None)
    else:
        r.worker.vm.push2(coctx.co, False, b"timeout")
    return resume_tail(r, 2)


def sema_cleanup(w, sem, coctx):
    """ngx_http_lua_sema_cleanup: the waiter was killed, exited or its
    request ended.  The resources stay."""
    w.fire("sema_cleanup", co=coctx, sem=sem)
    timer = sem.timers.pop(coctx, None)
    if timer is not None:
        w.loop.del_timer(timer)
    sem.wait_queue.remove(coctx)
    sem.wait_count -= 1


API = {"sema_new": ffi_sema_new, "sema_wait": ffi_sema_wait, "sema_post": ffi_sema_post,
       "sema_count": ffi_sema_count}
