"""coroutine.* inside a request (src/ngx_http_lua_coroutine.c).

The Python halves of the shims in lua/coroutine.lua.  None of them resumes
anything: they set ctx.co_op and ctx.cur_co_ctx and ask the shim to yield
(protocol.py), and run_thread does the switch.
"""
from __future__ import annotations

from .common import CoCtx, CoOp, CoStatus, CONTEXT_YIELDABLE, CONTEXT_FILTERS, is_thread
from .protocol import ret, err, abort, yield_to_run_thread, request_ctx, request_co_ctx

STATUS = tuple(sorted(CoStatus))           # a CoStatus by its value


def coroutine_create_helper(w, co, is_uthread, is_wrap=False, label=None):
    """ngx_http_lua_coroutine_create_helper: a co ctx for a new Lua coroutine
    `co`, created by the current one.  Light threads get a registry ref and
    may reuse a cached lua_State (ngx_http_lua_new_cached_thread); plain
    coroutines get a fresh one (lua_newthread).  Names are "t1", "co2", ...,
    or `label` ("on_abort", then "on_abort2" ...)."""
    r = w.cur_r
    ctx = r.ctx
    parent = ctx.cur_co_ctx
    kind = label or ("t" if is_uthread else "co")
    n = w.nnames[kind] = w.nnames.get(kind, 0) + 1
    coctx = CoCtx(co=co, L=w.vm.new_state(cached_ok=is_uthread),
                  name=f"{kind}{'' if label and n == 1 else n}", is_wrap=is_wrap, req=r,
                  creator=parent,
                  kind="uthread" if is_uthread else "coroutine")
    w.coctx_by_id[co] = coctx
    ctx.user_co_ctx.append(coctx)
    if w.traced:          # (untraced, not even the probe's arguments: util.run_thread)
        w.fire("user_coroutine_create", parent=parent, child=coctx)
    return coctx


def create(w, co, is_wrap, *synced):
    """coroutine.create / coroutine.wrap (ngx_http_lua_coroutine_create).
    `synced`: what `sync` would have been given first, sent along (the fast path)."""
    if synced:
        sync(w, *synced)
    _, ctx, e = request_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    coroutine_create_helper(w, co, False, bool(is_wrap))
    return ret()


def resume(w, co):
    """coroutine.resume and the wrap runner (ngx_http_lua_coroutine_resume)."""
    _, ctx, p_coctx, e = request_co_ctx(w, CONTEXT_YIELDABLE, "no parent co ctx found")
    if e:
        return e
    coctx = w.coctx_by_id.get(co)
    if coctx is None:
        return err("no co ctx found")
    w.fire("user_coroutine_resume", parent=p_coctx, child=coctx)
    if coctx.co_status != CoStatus.SUSPENDED:
        return ret(False, f"cannot resume {coctx.co_status.lua_name} coroutine".encode())
    other = coctx.req
    if other is not None and other is not w.cur_r and (other.connection.log_context
                                                       or w.cur_r.connection.log_context):
        # recorded (scenario 537's first version): nginx logs "lua coroutine: resume", then
        # its worker dies; the model cannot show a crash
        w.abort = w.refuse("coroutine.resume of a coroutine another request made, across a "
                           "timer's fake request: real nginx's worker crashes here")
        return abort(b"ngxcoro: refused")
    p_coctx.co_status = CoStatus.NORMAL
    coctx.parent_co_ctx = p_coctx
    coctx.co_status = CoStatus.RUNNING
    ctx.co_op = CoOp.USER_CORO_RESUME
    ctx.cur_co_ctx = coctx
    return yield_to_run_thread()


def yield_(w):
    """coroutine.yield (ngx_http_lua_coroutine_yield)."""
    _, ctx, e = request_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    coctx = ctx.cur_co_ctx
    coctx.co_status = CoStatus.SUSPENDED
    ctx.co_op = CoOp.USER_CORO_YIELD
    if not is_thread(ctx, coctx) and coctx.parent_co_ctx is not None:
        coctx.parent_co_ctx.co_status = CoStatus.RUNNING
        w.fire("user_coroutine_yield", parent=coctx.parent_co_ctx, child=coctx)
    else:
        w.fire("user_coroutine_yield", parent=None, child=coctx)
    return yield_to_run_thread()


def status(w, co):
    """coroutine.status (ngx_http_lua_coroutine_status)."""
    _, ctx, e = request_ctx(w, CONTEXT_YIELDABLE)
    if e:
        return e
    coctx = w.coctx_by_id.get(co)
    return ret((coctx.co_status.lua_name if coctx else "dead").encode())


def native(w):
    """Do resty.core's coroutine wrappers take the standard Lua functions
    here (no request: init_by_lua*; header_filter_by_lua*, body_filter_by_lua*)?"""
    r = w.cur_r
    return ret(r is None or bool(r.ctx is not None and r.ctx.context & CONTEXT_FILTERS))


def sync(w, top, *items):
    """What ngx_http_lua_coroutine_resume, ngx_http_lua_coroutine_yield and
    run_thread's user_co_done did to the co ctxs of coroutines that switched
    inside Lua (lua/vm.lua, the fast path, when nothing observes the run):
    `items` are (id, status, id of its resumer or 0) three by three, and
    `top` is the coroutine running now (ctx->cur_co_ctx; 0: more to come).
    No C function of its own: the bookkeeping of those three, done late."""
    by_id = w.coctx_by_id
    for i in range(0, len(items), 3):
        coctx = by_id[items[i]]
        coctx.co_status = STATUS[items[i + 1]]
        if items[i + 2]:
            coctx.parent_co_ctx = by_id[items[i + 2]]
    if top:
        w.cur_r.ctx.cur_co_ctx = by_id[top]
    return ret()


API = {"co_sync": sync, "co_native": native, "co_create": create, "co_resume": resume, "co_yield": yield_, "co_status": status}
