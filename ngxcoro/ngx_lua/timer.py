"""ngx.timer.at / every / running_count / pending_count (src/ngx_http_lua_timer.c).

A timer is an nginx timer event whose handler runs a Lua function as the
entry thread of a fake request (fd -1, its own connection number, count 1,
context TIMER), long after the request that made it may be gone.  The
worker keeps the two counters of ngx_http_lua_main_conf_t: timers armed and
not yet fired (`pending_timers`), and timer callbacks whose fake request
exists (`running_timers`).  The fake connection and request themselves are
in fake_request.py (their C functions are in ngx_http_lua_util.c).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from ..nginx.core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE
from ..nginx.process_cycle import IdleConnection
from .by import content_run_posted_threads
from .common import CoCtx, CoStatus, LuaCtx, CONTEXT_TIMER
from .fake_request import create_fake_connection, create_fake_request
from .protocol import ret, err
from .util import run_thread, finalize_request, request_cleanup, wev_handler


@dataclass(eq=False)
class TimerCtx:
    """ngx_http_lua_timer_ctx_t: what the timer keeps of its creator."""
    co: CoCtx                   # the timer's thread (its co ctx-to-be)
    delay: int                  # 0 for ngx.timer.at, the period for ngx.timer.every
    location: object            # loc_conf: the creator's location
    premature: bool = False
    runs: int = 0               # an every timer: how many times its series has fired
    due_ms: int = 0             # when it fires (virtual ms)
    series: str = ""            # an every timer: the name of its first thread
    ev: object = None           # its event in the loop's timer tree
    addr_text: bool = True      # the creator's connection had a client address


def max_timers(w, name):
    """lua_max_pending_timers / lua_max_running_timers (http level)."""
    return w.config.settings.get(name, 1024 if name == "lua_max_pending_timers" else 256)


def main_state(w):
    """The VM's main lua_State (lmcf->lua) as a co ctx: the `L` a timer is
    created "in" when the caller runs no coroutine of its own (a log or
    filter chunk under lua_pcall), as the stap probe sees it."""
    if w.main_co_ctx is None:
        w.main_co_ctx = CoCtx(co=0, L=0, name="main", kind="main")
    return w.main_co_ctx


def new_timer_thread(w, co, creator):
    """ngx_http_lua_new_cached_thread for a timer: a lua_State (maybe a cached
    one) and the co ctx the thread will have as its fake request's entry."""
    w.nnames["timer"] = w.nnames.get("timer", 0) + 1
    return CoCtx(co=co, L=w.vm.new_state(cached_ok=True), name=f"timer{w.nnames['timer']}",
                 creator=creator, kind="timer")


def ngx_timer_helper(w, co, delay, every, nargs):
    """ngx_http_lua_ngx_timer_helper, after the argument checks of its Lua
    half: the pending limit, the watcher, the thread, the event."""
    r = w.cur_r
    if r is None:                               # init_by_lua*
        return err("no request")
    if w.exiting and delay > 0:                 # ngx_exiting: a 0 ms timer still runs
        return ret(None, b"process exiting")
    if w.pending_timers >= max_timers(w, "lua_max_pending_timers"):
        return ret(None, b"too many pending timers")
    if not w.timer_watcher:                     # lmcf->watcher, made once per worker
        w.timer_watcher = True                  # an idle connection: its read handler
        # fd -2, slot 0: the head of the free list once the listening socket's
        # connection is freed (made after the quit), c->number 0
        w.idle_connections.append(IdleConnection(partial(abort_pending_timers, w), fd=-2))
        w.fire("timer_watcher")
    parent = r.ctx.cur_co_ctx if r.ctx is not None else None
    if parent is None:          # log_by_lua, the filters, set_by_lua, init_worker_by_lua:
        parent = main_state(w)  # they run on the main L
    coctx = new_timer_thread(w, co, parent)
    w.coctx_by_id[co] = coctx
    w.fire("user_coroutine_create", parent=parent, child=coctx)
    tctx = TimerCtx(coctx, delay if every else 0, r.location,
                    addr_text=r.connection.addr_text)
    add_timer(w, tctx, delay)
    # lua_gettop(L): "time func", plus the thread when there were no arguments to move
    # delay is an ngx_msec_t: a negative one prints as its unsigned 64-bit value, and its
    # timer key (ngx_current_msec + delay) wraps to the past, so the timer is due at once
    w.fire("timer_create", co=coctx, delay=delay % (1 << 64), sz=2 if nargs > 2 else 3)
    return ret(1)


def add_timer(w, tctx, delay):
    """pending_timers++ and ngx_add_timer (the part _helper and _copy share)."""
    w.pending_timers += 1
    tctx.due_ms = w.loop.now_ms + delay
    tctx.ev = w.loop.add_timer(delay, partial(timer_handler, w, tctx), label=tctx.co.name,
                               kind="ngx.timer", owner=tctx.co.name)
    w.lua_timers.append(tctx)


def timer_copy(w, old):
    """ngx_http_lua_timer_copy: the next run of an every timer, armed before
    this one runs, on a new thread with the original function and arguments."""
    coctx = new_timer_thread(w, w.vm.timer_copy(old.co.co), old.co.creator)
    w.coctx_by_id[coctx.co] = coctx
    tctx = TimerCtx(coctx, old.delay, old.location, runs=old.runs + 1,
                    series=old.series or old.co.name, addr_text=old.addr_text)
    add_timer(w, tctx, old.delay)
    w.fire("timer_next", co=coctx, delay=old.delay)


def timer_handler(w, tctx):
    """ngx_http_lua_timer_handler: the timer fired; run its function in a
    new fake request."""
    w.fire("timer_fired", co=tctx.co)
    w.lua_timers.remove(tctx)
    w.pending_timers -= 1
    if tctx.delay > 0 and not w.exiting:       # no next run once the worker is exiting
        timer_copy(w, tctx)
    limit = max_timers(w, "lua_max_running_timers")
    if w.running_timers >= limit:
        source, line = w.vm.timer_fail(tctx.co.co)
        w.log_error("alert", f"lua failed to run timer with function defined at "
                             f"{source.decode()}:{line}: {limit} lua_max_running_timers "
                             "are not enough")
        free_thread(w, tctx.co)
        return
    c = create_fake_connection(w, addr_text=tctx.addr_text)
    r = create_fake_request(w, c, tctx.location)
    ctx = r.ctx = LuaCtx(resume_handler=wev_handler, entry_co_ctx=tctx.co)
    ctx.cur_co_ctx = entry = tctx.co

    def lua_request_cleanup_handler(req):       # ngx_http_lua_request_cleanup_handler
        if ctx.cleanup is lua_request_cleanup_handler:
            request_cleanup(r, ctx, False)
    ctx.cleanup = lua_request_cleanup_handler
    r.cleanups.insert(0, lua_request_cleanup_handler)
    ctx.entered_content_phase = True
    ctx.context = CONTEXT_TIMER
    entry.co_ref, entry.co_status, entry.req = True, CoStatus.RUNNING, r
    w.running_timers += 1
    n = w.vm.insert_bool(entry.co, tctx.premature)      # premature, then the arguments
    rc = run_thread(r, ctx, n)
    if rc == NGX_ERROR or rc >= NGX_OK:
        pass
    elif rc == NGX_AGAIN:
        rc = content_run_posted_threads(r, ctx, 0)
    elif rc == NGX_DONE:
        rc = content_run_posted_threads(r, ctx, 1)
    else:
        rc = NGX_OK
    finalize_request(r, rc)


def abort_pending_timers(w):
    """ngx_http_lua_abort_pending_timers: the watcher's read handler, called
    by ngx_close_idle_connections when the worker starts exiting: every
    pending lua timer, in the timer tree's order (expiry order), leaves the
    tree and its handler runs at once with `premature` set (an every timer
    is not re-armed: the worker is exiting)."""
    w.fire("timer_abort")
    # ngx_free_connection(watcher); lmcf->watcher stays set: no second watcher
    w.idle_connections[:] = [c for c in w.idle_connections
                             if getattr(c.handler, "func", None) is not abort_pending_timers]
    if w.pending_timers == 0:
        return
    events = sorted(w.lua_timers, key=lambda t: (t.ev.deadline, t.ev.seq))[:w.pending_timers]
    w.fire("timer_abort_found", n=len(events))
    for tctx in events:
        w.loop.del_timer(tctx.ev)
        tctx.premature = True
        timer_handler(w, tctx)


def timers_note(w):
    """What the run's end left of the lua timers, when the horizon stopped it
    with some still armed or running (None otherwise): nginx would go on."""
    if not (w.pending_timers or w.running_timers):
        return None
    if w.stopped == "events":
        return (f"stopped by ngxcoro at {w.loop.now_ms / 1000:g} s after its limit of events "
                f"without the clock moving on, with lua timers left (pending {w.pending_timers}, "
                f"running {w.running_timers}): a timer's callback spins (ngx.sleep(0) or "
                "0-delay timers in a loop); real nginx spins on until it is stopped")
    if not w.loop.at_horizon:
        return None
    parts = []
    for t in w.lua_timers:
        src = w.vm.timer_source(t.co.co)
        at = f"function defined at {src[0].decode().lstrip('=')}:{src[1]}, " if src else ""
        if t.delay:
            parts.append(f"the ngx.timer.every of {t.series or t.co.name} ({at}period "
                         f"{t.delay / 1000:g} s) ran "
                         f"{t.runs} time{'s' if t.runs != 1 else ''} and is due again at "
                         f"{t.due_ms / 1000:g} s: it re-arms itself forever")
        else:
            parts.append(f"the ngx.timer.at of {t.co.name} ({at.rstrip(', ')}) is due at "
                         f"{t.due_ms / 1000:g} s")
    running = [r for r in w.requests if r.connection.log_context and not r.freed]
    parts += [f"the callback of {r.ctx.entry_co_ctx.name} still runs in its fake request "
              f"*{r.connection.number}" for r in running if r.ctx is not None]
    return (f"stopped at the horizon ({w.loop.horizon_ms / 1000:g} s, the client's timeout) with "
            f"lua timers left (pending {w.pending_timers}, running {w.running_timers}): "
            + "; ".join(parts) + "; real nginx keeps them going after the client is gone")


def free_thread(w, coctx):
    """ngx_http_lua_free_thread: the thread of a timer that cannot run is
    given back (its registry ref; its lua_State is not cached)."""
    coctx.co_status = CoStatus.DEAD
    w.fire("free_timer_thread", co=coctx)


def running_count(w):
    """ngx_http_lua_ngx_timer_running_count: ngx.timer.running_count()."""
    return err("no request") if w.cur_r is None else ret(w.running_timers)


def pending_count(w):
    """ngx_http_lua_ngx_timer_pending_count: ngx.timer.pending_count()."""
    return err("no request") if w.cur_r is None else ret(w.pending_timers)


def fake_request(w):
    """Is the current request a timer's fake one?  lua-resty-core's FFI
    functions check c->fd == -1 and answer NGX_HTTP_LUA_FFI_BAD_CONTEXT."""
    return bool(w.cur_r.connection.log_context)


API = {"timer_at": ngx_timer_helper, "timer_running_count": running_count,
       "timer_pending_count": pending_count, "fake_request": fake_request}
