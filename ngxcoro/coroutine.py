"""coroutine.* inside a request (src/ngx_http_lua_coroutine.c).

These are the Python halves of the shims in prelude.lua.  None of them
resumes anything: they set ctx.co_op and ctx.cur_co_ctx and ask the shim to
yield, and run_thread does the switch.  Each returns the prelude's protocol
tuple: (0, values...) return, (1,) yield, (2, message) raise.
"""
from __future__ import annotations

from .model import CoCtx, CoOp, CoStatus, CONTEXT_YIELDABLE
from .scheduler import is_thread


def check_context(ctx, allowed):
    """ngx_http_lua_check_context: the message, or None when allowed."""
    if ctx.context & allowed:
        return None
    from .model import CONTEXT_NAMES
    return f"API disabled in the context of {CONTEXT_NAMES.get(ctx.context, 'unknown')}"


def err(msg):
    """luaL_error: raise `msg` at the caller's line."""
    return (2, msg.encode())


def argerr(narg, extramsg):
    """luaL_argerror: "bad argument #narg to '<name>' (extramsg)"."""
    return (5, narg, extramsg.encode())


def coroutine_create_helper(w, co, is_uthread, is_wrap=False):
    """ngx_http_lua_coroutine_create_helper: a co ctx for a new Lua coroutine
    `co`, created by the current one.  Light threads get a registry ref and
    may reuse a cached lua_State (ngx_http_lua_new_cached_thread); plain
    coroutines get a fresh one (lua_newthread)."""
    r = w.cur_r
    ctx = r.ctx
    parent = ctx.cur_co_ctx
    kind = "t" if is_uthread else "co"
    w.nnames[kind] = w.nnames.get(kind, 0) + 1
    coctx = CoCtx(co=co, L=w.vm.new_state(cached_ok=is_uthread),
                  name=f"{kind}{w.nnames[kind]}", is_wrap=is_wrap, req=r, creator=parent,
                  kind="uthread" if is_uthread else "coroutine")
    w.coctx_by_id[co] = coctx
    ctx.user_co_ctx.append(coctx)
    w.fire("user_coroutine_create", parent=parent, child=coctx)
    return coctx


def create(w, co, is_wrap):
    """coroutine.create / coroutine.wrap (ngx_http_lua_coroutine_create)."""
    ctx = w.cur_r.ctx
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    coroutine_create_helper(w, co, False, bool(is_wrap))
    return (0,)


def resume(w, co):
    """coroutine.resume and the wrap runner (ngx_http_lua_coroutine_resume)."""
    ctx = w.cur_r.ctx
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    p_coctx = ctx.cur_co_ctx
    if p_coctx is None:
        return err("no parent co ctx found")
    coctx = w.coctx_by_id.get(co)
    if coctx is None:
        return err("no co ctx found")
    w.fire("user_coroutine_resume", parent=p_coctx, child=coctx)
    if coctx.co_status != CoStatus.SUSPENDED:
        return (0, False, f"cannot resume {coctx.co_status.lua_name} coroutine".encode())
    p_coctx.co_status = CoStatus.NORMAL
    coctx.parent_co_ctx = p_coctx
    coctx.co_status = CoStatus.RUNNING
    ctx.co_op = CoOp.USER_CORO_RESUME
    ctx.cur_co_ctx = coctx
    return (1,)


def yield_(w):
    """coroutine.yield (ngx_http_lua_coroutine_yield)."""
    ctx = w.cur_r.ctx
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    coctx = ctx.cur_co_ctx
    coctx.co_status = CoStatus.SUSPENDED
    ctx.co_op = CoOp.USER_CORO_YIELD
    if not is_thread(ctx, coctx) and coctx.parent_co_ctx is not None:
        coctx.parent_co_ctx.co_status = CoStatus.RUNNING
        w.fire("user_coroutine_yield", parent=coctx.parent_co_ctx, child=coctx)
    else:
        w.fire("user_coroutine_yield", parent=None, child=coctx)
    return (1,)


def status(w, co):
    """coroutine.status (ngx_http_lua_coroutine_status)."""
    ctx = w.cur_r.ctx
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    coctx = w.coctx_by_id.get(co)
    return (0, (coctx.co_status.lua_name if coctx else "dead").encode())
