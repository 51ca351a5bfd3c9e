"""init_by_lua* (src/ngx_http_lua_initby.c).

nginx runs the http-level init_by_lua chunk once, while it reads its
configuration (ngx_http_lua_init, the module's postconfiguration, once
the main VM exists): a lua_pcall on the main state with no request at all.
APIs that need a request fail, each with its own words ("no request found",
"no request object found", "no request"), ngx.get_phase() says "init",
ngx.log writes lines bound to no connection (to stderr only, when there is
no lua_shared_dict: see init_by_inline), and the chunk's globals are
the main state's own, which every request's chunk falls back to.  An error
stops nginx from starting: "[error] init_by_lua error: <msg>" on stderr.
`main_pcall` is that lua_pcall, which init_worker_by_lua* makes too.
"""
from __future__ import annotations

from types import SimpleNamespace

from ..trace import Hooks
from .logby import _pcall_frames
from .vm import LuaSyntaxError


def main_pcall(w, chunk):
    """luaL_loadbuffer + ngx_http_lua_do_call of `chunk` on the main state
    (ngx_http_lua_traceback as the message handler): None, or the error
    text with its traceback, as ngx_http_lua_report logs it."""
    w.chunk_lines[chunk.chunkname] = chunk.first_line or chunk.line
    try:
        index = w.vm.compile(chunk.source, chunk.chunkname)
    except LuaSyntaxError as e:
        return str(e)
    co = w.vm.new_entry(index, plain=True)
    rv = w.vm.resume(co, 0)
    if rv == 0:
        w.vm.settop0(co)
        return None
    if rv == 1:                 # a raw coroutine.yield on the main state
        w.vm.settop0(co)
        return "attempt to yield across C-call boundary"
    msg = w.vm.errmsg(co) or "unknown reason"
    trace = w.vm.thread_traceback(SimpleNamespace(co=co, parent_co_ctx=None))
    w.vm.settop0(co)
    return f"{msg}\n" + _pcall_frames(trace, msg)


def init_by_inline(w):
    """ngx_http_lua_init_by_inline, called by ngx_http_lua_init at start-up:
    None, or the start-up failure ("[error] init_by_lua error: <msg>", the
    first line of what nginx writes to stderr)."""
    chunk = w.config.init_by_lua
    if chunk is None:
        return None
    w.cur_r = None                          # ngx_http_lua_get_req(L) is NULL
    w.vm.set_request(0)
    n, hooks = len(w.error_log), w.hooks
    if not w.config.shared_dicts:
        # with no lua_shared_dict, ngx_http_lua_init runs the chunk at postconfiguration,
        # when the cycle still logs to stderr: the error log file never sees its lines,
        # debug ones included (with one, the last zone's init runs it, once the error
        # log is open)
        w.hooks = Hooks()
        w.hooks.listeners = [f for f in hooks.listeners if not getattr(f, "mirrors_log", False)]
    try:
        error = main_pcall(w, chunk)
    finally:
        w.hooks = hooks
    if not w.config.shared_dicts:
        w.startup_stderr, w.error_log[n:] = w.error_log[n:], []
    w.fire("init_by_lua", chunk=chunk.chunkname, error=error)
    if error is None:
        return None
    return "[error] init_by_lua error: " + error.split("\n", 1)[0]
