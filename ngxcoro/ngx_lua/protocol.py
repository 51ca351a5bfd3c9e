"""The Lua<->Python protocol: how a Lua shim and its Python half talk.

A shim in `ngx_lua/lua/*.lua` checks what C checks in Lua terms, calls its
Python half through the table P, and acts on the code that comes back
first.  The codes, each with the helper that makes it:

RETURN (0), `ret(*values)`
    Return `values` to the Lua caller.
YIELD (1), `yield_to_run_thread()`
    Yield to run_thread, which acts on ctx->co_op: an API that blocked
    (co_op NOP, run_thread answers NGX_AGAIN) or a coroutine switch.
ERROR (2), `err(msg)`
    luaL_error: raise `msg` at the caller's line.
ABORT (3), `abort(msg)`
    Raise with no position.  The run stops: a model bug, or an API the
    model does not have (see `ngxcoro.worker.Worker.guard` and
    `misc.not_modelled`); LuaVM.resume re-raises it in Python.
STACK (4), `from_stack(coctx)`
    Return what Python already moved onto the caller's own stack, that of
    `coctx` (ngx.thread.wait on a zombie gets the zombie's values).
ARGERROR (5), `argerr(narg, extramsg)`
    luaL_argerror: "bad argument #narg to '<name>' (extramsg)".

The argument checks the C API makes before anything else sit here too:
ngx_http_lua_check_context (a macro of src/ngx_http_lua_util.h) and the
lua_type / luaL_checknumber conversions.  `bind(w)` makes the P table from
the `API` dict of every module of ngx_lua.
"""
from __future__ import annotations

import re

import lupa.luajit21 as luajit

from .common import CONTEXT_NAMES

RETURN, YIELD, ERROR, ABORT, STACK, ARGERROR = range(6)


def ret(*values):
    """RETURN: hand `values` back to the Lua caller."""
    return (RETURN, *values)


def yield_to_run_thread():
    """YIELD: the shim yields to run_thread."""
    return (YIELD,)


def err(msg):
    """ERROR: luaL_error, raise `msg` at the caller's line."""
    return (ERROR, msg.encode())


def abort(msg):
    """ABORT: raise with no position; the run stops (see the module docstring)."""
    return (ABORT, msg.encode() if isinstance(msg, str) else msg)


def from_stack(coctx):
    """STACK: return what was moved onto the caller's (`coctx`'s) stack."""
    return (STACK, coctx.co)


def argerr(narg, extramsg):
    """ARGERROR: luaL_argerror, "bad argument #narg to '<name>' (extramsg)"."""
    return (ARGERROR, narg, extramsg.encode())


def check_context(ctx, allowed):
    """ngx_http_lua_check_context: the message, or None when allowed."""
    if ctx.context & allowed:
        return None
    return f"API disabled in the context of {CONTEXT_NAMES.get(ctx.context, 'unknown')}"


def check_unsafe_uri_bytes(data):
    """ngx_http_lua_check_unsafe_uri_bytes (src/ngx_http_lua_util.h): the first
    byte of `data` that may not be in a URI (%00-%08, %0A-%1F, %7F; a tab and
    bytes >= 0x80 pass), or None."""
    for c in data:
        if (c < 0x20 and c != 0x09) or c == 0x7F:
            return c
    return None


def escape_log(data):
    """ngx_http_lua_escape_log: `data` for a message, each control byte, byte
    >= 0x7F, '"' and '\\' written \\xHH (real nginx: a redirect uri
    "\\x0Dhttp\\x5C://\\x22..." for "\\rhttp\\\\://\\"...")."""
    return "".join(f"\\x{c:02X}" if c < 0x20 or c >= 0x7F or c in b'"\\' else chr(c)
                   for c in data)


def request_ctx(w, allowed, no_request="no request found"):
    """The opening of most APIs: the request (ngx_http_lua_get_req), its ctx
    (ngx_http_get_module_ctx) and ngx_http_lua_check_context.  Returns
    (r, ctx, None), or (r, ctx, the error to answer).  There is no request in
    init_by_lua* (each API words that error its own way: `no_request`)."""
    r = w.cur_r
    if r is None:
        return None, None, err(no_request)
    ctx = r.ctx
    if ctx.context & allowed:                # check_context passes (inline: every API call)
        return r, ctx, None
    return r, ctx, err(check_context(ctx, allowed))


def request_co_ctx(w, allowed, missing="no co ctx found"):
    """request_ctx, then the current co ctx (ctx->cur_co_ctx), which the
    API needs: (r, ctx, coctx, None), or (r, ctx, coctx, the error)."""
    r, ctx, e = request_ctx(w, allowed)
    if e:
        return r, ctx, None, e
    coctx = ctx.cur_co_ctx
    return r, ctx, coctx, (err(missing) if coctx is None else None)


def lua_type(v):
    """lua_type's name for a value that came from Lua."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, bytes):
        return "string"
    return luajit.lua_type(v) or "userdata"


_DEC = re.compile(rb"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
_HEX = re.compile(rb"\s*([-+]?)0[xX]([0-9a-fA-F]+)\s*")


def tonumber(v):
    """lua_tonumber / luaL_checknumber: numbers and numeric strings (decimal, or
    hexadecimal with 0x, as LuaJIT's lj_strscan reads them; "a" is no number)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, bytes):
        if _DEC.fullmatch(v):
            return float(v)
        m = _HEX.fullmatch(v)
        if m:
            return -int(m.group(2), 16) if m.group(1) == b"-" else int(m.group(2), 16)
    return None


def to_str(v):
    """A Lua string (bytes) or number as Python text."""
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def bind(w, modules):
    """The P table of the shims: every module's `API` (name -> f(w, *args)),
    bound to worker `w` and guarded (a Python exception is a model bug)."""
    table = {}
    for m in modules:
        table.update(m.API)
    return {k: w.guard(f, k) for k, f in table.items()}
