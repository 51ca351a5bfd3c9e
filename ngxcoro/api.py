"""The Python halves of ngx.* (src/ngx_http_lua_output.c, _sleep.c,
_control.c, _log.c, _variable.c, _time.c and lua-resty-core's FFI twins).

Each function takes the worker and the Lua arguments, and returns the
prelude's protocol tuple: (0, values...) return, (1,) yield to run_thread,
(2, message) raise at the caller's line.  `bind(w)` makes the table the
prelude calls as P.
"""
from __future__ import annotations

import time
from functools import partial

from . import coroutine as coro, uthread
from .coroutine import check_context, err, argerr
from .model import (NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, CONTEXT_YIELDABLE,
                    CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT)
from .scheduler import cleanup_pending_operation, run_thread, finalize_request, run_posted_threads

OUTPUT_CONTEXTS = CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT
LOG_LEVELS = ["", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


def _lua_type(v):
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, bytes):
        return "string"
    return "table"


def _tonumber(v):
    """lua_tonumber / luaL_checknumber: numbers and numeric strings."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, bytes):
        try:
            return float(v.strip()) if v.strip() else None
        except ValueError:
            try:
                return int(v.strip(), 16)
            except ValueError:
                return None
    return None


def _req(w):
    r = w.cur_r
    return r, r.ctx


# ------------------------------------------------------------------ output
def output(w, data):
    """ngx.say / ngx.print after the shim has flattened the arguments
    (ngx_http_lua_ngx_echo)."""
    r, ctx = _req(w)
    msg = check_context(ctx, OUTPUT_CONTEXTS)
    if msg:
        return err(msg)
    if r.header_only:
        return (0, None, b"header only")
    if ctx.eof:
        return (0, None, b"seen eof")
    if not data:
        rc = w.http.send_header_if_needed(r, ctx)
    else:
        ctx.seen_body_data = True
        rc = w.http.send_chain_link(r, ctx, data)
    if rc == NGX_ERROR or rc >= 300:
        return (0, None, b"nginx output filter error")
    return (0, 1)


def flush(w, *args):
    """ngx.flush(wait?) (ngx_http_lua_ngx_flush).  The model's client reads
    everything at once, so flush(true) never has to wait."""
    r, ctx = _req(w)
    if len(args) > 1:
        return err(f"attempt to pass {len(args)} arguments, but accepted 0 or 1")
    wait = False
    if args and r is r.main:
        if not isinstance(args[0], bool):
            return argerr(1, f"boolean expected, got {_lua_type(args[0])}")
        wait = args[0]
    msg = check_context(ctx, OUTPUT_CONTEXTS)
    if msg:
        return err(msg)
    if ctx.cur_co_ctx is None:
        return err("no co ctx found")
    if r.header_only:
        return (0, None, b"header only")
    if ctx.eof:
        return (0, None, b"seen eof")
    if ctx.buffering:
        return (0, None, b"buffering")
    if (not r.header_sent and not ctx.header_sent) or (not ctx.seen_body_data and not wait):
        return (0, None, b"nothing to flush")
    w.http.flush(r, ctx)
    return (0, 1)


def eof(w, *args):
    """ngx.eof (ngx_http_lua_ngx_eof): send the last buf now."""
    r, ctx = _req(w)
    if args:
        return err("there should be no argument to ngx.eof()")
    msg = check_context(ctx, OUTPUT_CONTEXTS)
    if msg:
        return err(msg)
    if ctx.eof:
        return (0, None, b"seen eof")
    rc = w.http.send_chain_link(r, ctx, None)
    if rc == NGX_ERROR or rc >= 300:
        return (0, None, b"nginx output filter error")
    return (0, 1)


def send_headers(w, *args):
    """ngx.send_headers (ngx_http_lua_ffi_send_headers)."""
    r, ctx = _req(w)
    msg = check_context(ctx, OUTPUT_CONTEXTS)
    if msg:
        return err(msg)
    if not r.header_sent and not ctx.header_sent:
        rc = w.http.send_header_if_needed(r, ctx)
        if rc == NGX_ERROR or rc > NGX_OK:
            return (0, None, b"nginx output filter error")
    return (0, 1)


def headers_sent(w):
    r, ctx = _req(w)
    return bool(r.header_sent or ctx.header_sent)


def get_status(w):
    r, _ = _req(w)
    return r.headers_out_status or 0


def set_status(w, v):
    """ngx.status = v (ngx_http_lua_ffi_set_resp_status)."""
    r, ctx = _req(w)
    if r.header_sent or ctx.header_sent:
        w.log_error("error", "attempt to set ngx.status after sending out response headers", r)
        return (0,)
    n = _tonumber(v)
    if n is None:
        return argerr(1, f"number expected, got {_lua_type(v)}")
    r.headers_out_status = int(n)
    return (0,)


# ------------------------------------------------------------------- sleep
def sleep(w, *args):
    """ngx.sleep(s) (ngx_http_lua_ngx_sleep): arm the co ctx's timer and yield."""
    if len(args) != 1:
        return err(f"attempt to pass {len(args)} arguments, but accepted 1")
    n = _tonumber(args[0])
    if n is None:
        return argerr(1, f"number expected, got {_lua_type(args[0])}")
    delay = int(n * 1000)
    if delay < 0:
        return err(f'invalid sleep duration "{delay}"')
    r, ctx = _req(w)
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    coctx = ctx.cur_co_ctx
    if coctx is None:
        return err("no co ctx found")
    cleanup_pending_operation(coctx)
    if delay == 0:
        w.log_error("warn", "ngx.sleep(0) called without delayed events patch, "
                            "this will hurt performance", r)
    timer = w.loop.add_timer(delay, partial(sleep_handler, w, r, coctx), label=coctx.name,
                             kind="ngx.sleep", owner=coctx.name)
    coctx.cleanup = partial(sleep_cleanup, w, timer)
    coctx.waiting = f"ngx.sleep({n:g})"
    w.fire("sleep", co=coctx, ms=delay)
    return (1,)


def sleep_handler(w, r, coctx):
    """ngx_http_lua_sleep_handler: the timer fired."""
    coctx.cleanup = None
    coctx.waiting = ""
    ctx = r.ctx
    w.fire("timer_expired", co=coctx, label=coctx.name)
    ctx.cur_co_ctx = coctx
    if ctx.entered_content_phase:
        sleep_resume(w, r)
    else:
        ctx.resume_handler = partial(sleep_resume, w)
        w.phases.core_run_phases(r)
    w.run_posted_requests(r.connection)


def sleep_resume(w, r):
    """ngx_http_lua_sleep_resume."""
    return resume_tail(w, r, 0)


def resume_tail(w, r, nrets):
    """The tail every I/O resume handler shares (ngx_http_lua_sleep_resume,
    ngx_http_lua_subrequest_resume, ngx_http_lua_read_body_resume, ...)."""
    ctx = r.ctx
    c = r.connection
    ctx.resume_handler = w.http.wev_handler
    nreqs = c.requests
    rc = run_thread(r, ctx, nrets)
    w.fire("run_thread_returned", rc=rc)
    if rc == NGX_AGAIN:
        return run_posted_threads(c, r, ctx, nreqs)
    if rc == NGX_DONE:
        finalize_request(r, NGX_DONE)
        return run_posted_threads(c, r, ctx, nreqs)
    if ctx.entered_content_phase:
        finalize_request(r, rc)
        return NGX_DONE
    return rc


def sleep_cleanup(w, timer, coctx):
    """ngx_http_lua_sleep_cleanup: the sleeper was killed or the request ended."""
    if timer.active:
        w.loop.del_timer(timer)
        w.fire("sleep_cleanup", co=coctx)


# --------------------------------------------------------------------- log
def log(w, level, msg):
    """ngx.log / print (ngx_http_lua_ngx_log): "[lua] <where>: <msg>"."""
    if not 0 <= level <= 8:
        return argerr(1, "bad log level")
    w.log_error(LOG_LEVELS[int(level)], "[lua] " + msg.decode("utf-8", "surrogateescape"), w.cur_r)
    return (0,)


# ------------------------------------------------------------------- time
def now(w):
    return w.loop.epoch_seconds()


def clock(w):
    return w.loop.now_ms / 1000.0


def update_time(w):
    return None


def today(w):
    return time.strftime("%Y-%m-%d", time.gmtime(w.loop.epoch_seconds())).encode()


def localtime(w):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(w.loop.epoch_seconds())).encode()


# ------------------------------------------------------------- variables
def var_get(w, name):
    """ngx.var.NAME (ngx_http_lua_var_get)."""
    r, _ = _req(w)
    name = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name)
    v = request_variable(r, name)
    return (0, None if v is None else v.encode("latin-1", "replace"))


def request_variable(r, name):
    """The built-in variables a lesson needs (ngx_http_variables.c), and `set` ones."""
    if name in r.set_vars:
        return r.set_vars[name]
    if name.startswith("arg_"):
        want = name[4:]
        for pair in (r.args or "").split("&"):
            k, _, v = pair.partition("=")
            if k.lower() == want:
                return v
        return None
    if name.startswith("http_"):
        want = name[5:].replace("_", "-")
        for k, v in r.headers:
            if k.lower() == want:
                return v
        return None
    host = next((v for k, v in r.headers if k.lower() == "host"), "localhost")
    return {
        "uri": r.uri, "document_uri": r.uri, "args": r.args, "query_string": r.args,
        "is_args": "?" if r.args else "", "request_method": r.method,
        "request_uri": r.main.request_uri, "request": r.main.request_line,
        "server_protocol": r.http_version, "scheme": "http", "host": host.split(":")[0],
        "remote_addr": "127.0.0.1", "remote_port": "40000", "server_addr": "127.0.0.1",
        "server_port": "80", "server_name": r.server_name, "status": None,
        "content_length": next((v for k, v in r.headers if k.lower() == "content-length"), None),
        "content_type": next((v for k, v in r.headers if k.lower() == "content-type"), None),
        "request_body": None,
    }.get(name)


def var_set(w, name, value):
    """ngx.var.NAME = v (ngx_http_lua_var_set): only variables made by `set`."""
    r, _ = _req(w)
    name = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name)
    if name in r.set_vars or name == "args":
        if value is None:
            value = b""
        if not isinstance(value, (bytes, int, float)):
            return err("bad variable value")
        sval = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name == "args":
            r.args = sval
        else:
            r.set_vars[name] = sval
        return (0,)
    return err(f'variable "{name}" not found for writing; maybe it is a built-in variable '
               f'that is not changeable or you forgot to use "set ${name} \'\';" in the '
               f'config to define it first')


def req_headers(w):
    """ngx.req.get_headers' raw material: name, value, name, value, ..."""
    r, _ = _req(w)
    out = []
    for k, v in r.headers:
        out += [k.encode("latin-1"), v.encode("latin-1")]
    return tuple(out)


def is_subrequest(w):
    r, _ = _req(w)
    return r is not r.main


def get_phase(w):
    """ngx.get_phase()."""
    from .model import CONTEXT_NAMES
    r, ctx = _req(w)
    name = CONTEXT_NAMES.get(ctx.context, "") if ctx else ""
    return (0, name.replace("_by_lua*", "").replace("ngx.", "").encode())


def is_internal(w):
    r, _ = _req(w)
    return bool(r.internal or r is not r.main)


def start_time(w):
    from .loop import EPOCH_MS
    return EPOCH_MS / 1000.0


def header_too_late(w):
    """ngx.header.X = v after the header went out (ngx_http_lua_ffi_set_resp_header)."""
    w.log_error("error", "attempt to set ngx.header.HEADER after sending out response headers",
                w.cur_r)
    return (0,)


def tick(w):
    """Called from the Lua count hook: gives Python a place to raise
    KeyboardInterrupt while Lua spins, and says whether this resume has run
    too long in wall time."""
    return w.vm.over_time()


def timegm(w, year, month, day, hour, minute, sec):
    """os.time{...} on the model's clock, which is UTC."""
    import calendar
    try:
        return calendar.timegm((int(year), int(month), int(day), int(hour), int(minute),
                                int(sec), 0, 0, 0))
    except (TypeError, ValueError, OverflowError):
        return None


def not_modelled(w, name):
    """An ngx_lua API the model does not have: the run stops and says so
    (real nginx would do something the model cannot show)."""
    w.abort = w.unsupported(name.decode() if isinstance(name, bytes) else name)
    return (3, b"ngxcoro: not modelled")


def bind(w):
    """The P table of the prelude, bound to worker `w`."""
    table = {
        "output": output, "flush": flush, "eof": eof, "send_headers": send_headers,
        "headers_sent": headers_sent, "get_status": get_status, "set_status": set_status,
        "sleep": sleep, "log": log, "now": now, "clock": clock,
        "update_time": update_time, "today": today, "localtime": localtime,
        "var_get": var_get, "var_set": var_set, "is_subrequest": is_subrequest, "tick": tick,
        "req_headers": req_headers,
        "get_phase": get_phase, "header_too_late": header_too_late,
        "timegm": timegm, "not_modelled": not_modelled, "is_internal": is_internal, "start_time": start_time,
        "co_create": coro.create, "co_resume": coro.resume, "co_yield": coro.yield_,
        "co_status": coro.status,
        "spawn": uthread.spawn, "wait": uthread.wait, "kill": uthread.kill,
    }
    table.update(w.extra_api())
    return {k: w.guard(partial(f, w)) for k, f in table.items()}
