"""The small APIs: ngx.status, ngx.send_headers, ngx.header, ngx.req.get_headers,
ngx.is_subrequest, ngx.req.is_internal, ngx.get_phase, ngx.log, the clock,
ngx.worker.* (src/ngx_http_lua_misc.c, _headers.c, _phase.c, _log.c, _time.c,
_worker.c), and the
model's own hooks for the shims (the runaway tick, os.time, "not modelled").
"""
from __future__ import annotations

import itertools
import time

from ..nginx.core import NGX_OK, NGX_ERROR
from ..nginx.loop import EPOCH_MS
from ..nginx import response
from .common import CONTEXT_NAMES, CONTEXT_HEADER_FILTER
from .output import OUTPUT_CONTEXTS
from .protocol import ret, argerr, abort, request_ctx, lua_type, tonumber
from .util import send_header_if_needed
from . import headers_in

LOG_LEVELS = ["", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


# ------------------------------------------------------- status and headers
def headers_sent(w):
    """ngx.headers_sent (ngx_http_lua_ffi_headers_sent)."""
    r = w.cur_r
    return bool(r.header_sent or r.ctx.header_sent)


def get_status(w):
    """ngx.status (ngx_http_lua_ffi_get_resp_status): r->err_status (the
    special response's, or an error_page's "=code") first."""
    return w.cur_r.err_status or w.cur_r.headers_out_status or 0


def set_status(w, v):
    """ngx.status = v (ngx_http_lua_ffi_set_resp_status)."""
    r = w.cur_r
    if r.header_sent or r.ctx.header_sent:
        w.log_error("error", "attempt to set ngx.status after sending out response headers", r)
        return ret()
    n = tonumber(v)
    if n is None:
        return argerr(1, f"number expected, got {lua_type(v)}")
    r.headers_out_status = int(n)
    return ret()


def send_headers(w, *args):
    """ngx.send_headers (ngx_http_lua_ffi_send_headers)."""
    r, ctx, e = request_ctx(w, OUTPUT_CONTEXTS)
    if e:
        return e
    if not r.header_sent and not ctx.header_sent:
        rc = send_header_if_needed(r, ctx)
        if rc == NGX_ERROR or rc > NGX_OK:
            return ret(None, b"nginx output filter error")
    return ret(1)


def sent_content_type(w):
    """ngx.header.content_type when Lua set none: r->headers_out.content_type,
    which the content handler fills (ngx_http_set_content_type: default_type;
    ngx_http_send_special_response: text/html for a built-in page) just
    before the header goes out; None until then."""
    r, ctx = w.cur_r, w.cur_r.ctx
    if not (r.header_sent or ctx is not None and (ctx.header_sent
                                                  or ctx.context == CONTEXT_HEADER_FILTER)):
        return None
    if r.err_status:                   # a special response: a built-in page or nothing
        return b"text/html" if r.err_status in response.ERROR_PAGE_STATUSES else None
    if r.header_sent and r.headers_out_status == 204:
        return None                    # ngx_http_header_filter clears it for a 204
    if r.content_type is not None:
        return r.content_type.encode() or None
    return w.location_setting(r, "default_type", "text/plain").encode()


def set_resp_header(w, name, is_table, *values):
    """ngx.header.NAME = v (ngx_http_lua_ffi_set_resp_header, _headers_out.c's
    ngx_http_lua_set_output_header): Content-Type goes to
    r->headers_out.content_type (nil: none at all); a table first clears the
    header, then appends each value; a string replaces the first header of
    that name in place and drops the others; nil or "" drops them all; a
    table's first value does the same, the others are appended (override
    only for i == 0).  Content-Length stays in the list (r->headers_out.
    content_length points at it: the header filter writes no other)."""
    r = w.cur_r
    def text(v):
        return v.decode("latin-1") if isinstance(v, bytes) else str(v)
    name, values = text(name), [text(v) for v in values]
    if name.lower() == "content-type":
        r.content_type = values[-1] if values else ""
        mark_headers_set(w)
        return ret()
    key = name.lower()
    same = [h for h in r.headers_out if h[0].lower() == key]
    if not values or values[0] == "":
        r.headers_out[:] = [h for h in r.headers_out if h[0].lower() != key]
    elif same:
        same[0][1] = values[0]
        r.headers_out[:] = [h for h in r.headers_out if h[0].lower() != key or h is same[0]]
    else:
        r.headers_out.append([name, values[0]])
    r.headers_out += [[name, v] for v in values[1:] if v != ""]   # a table's other values
    mark_headers_set(w)
    return ret()


def transform_underscores(w):
    """llcf->transform_underscores_in_resp_headers, which ngx.header's
    setter and getter pass to ngx_http_lua_ffi_set_resp_header / _get_."""
    return bool(w.location_setting(w.cur_r, "lua_transform_underscores_in_response_headers",
                                   True))


def mark_headers_set(w):
    """ctx->headers_set = 1, as ngx.header's setter (ngx_http_lua_ffi_set_resp_header)
    leaves it: a captured subrequest then sends no header of its own for an error code."""
    ctx = w.cur_r.ctx
    if ctx is not None:
        ctx.headers_set = True
    return ret()


def header_too_late(w):
    """ngx.header.X = v after the header went out (ngx_http_lua_ffi_set_resp_header)."""
    w.log_error("error", "attempt to set ngx.header.HEADER after sending out response headers",
                w.cur_r)
    return ret()


def req_headers(w):
    """ngx.req.get_headers' raw material: name, value, name, value, ...
    (ngx_http_lua_ngx_req_get_headers)."""
    if w.cur_r.connection.log_context:    # a timer's fake request: NGX_HTTP_LUA_FFI_BAD_CONTEXT
        return (False,)
    out = []
    for k, v in w.cur_r.headers:
        out += [k.encode("latin-1"), v.encode("latin-1")]
    return tuple(out)


# a header name keeps letters, digits and !#$%&'*+-.^_`|~; a value keeps all but
# the control bytes (a tab stays) and DEL: the rest is written %XX (real nginx)
_NAME_KEEP = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       b"abcdefghijklmnopqrstuvwxyz")


def _escape_header(data, name):
    """ngx_http_lua_copy_escaped_header: `data` (bytes) as latin-1 text, %XX-escaped."""
    if name:
        bad = [c not in _NAME_KEEP for c in data]
    else:
        bad = [(c < 0x20 and c != 0x09) or c == 0x7F for c in data]
    return "".join(f"%{c:02X}" if b else chr(c) for c, b in zip(data, bad))


def req_set_header(w, key, override, *values):
    """ngx.req.set_header / clear_header (ngx_http_lua_ffi_req_set_header):
    the name and each value escaped, then ngx_http_lua_set_input_header for
    each value (only the first overrides); no value clears the header.
    False: a timer's fake request (NGX_HTTP_LUA_FFI_BAD_CONTEXT)."""
    r = w.cur_r
    if r is None or r.connection.log_context:
        return ret(False)
    key = _escape_header(key, True)
    if not values:
        headers_in.set_input_header(r, key, "", override)
    for i, v in enumerate(values):
        headers_in.set_input_header(r, key, _escape_header(v, False), override and i == 0)
    return ret(True)


# ----------------------------------------------------------- the request
def is_subrequest(w):
    """ngx.is_subrequest (ngx_http_lua_ffi_is_subrequest)."""
    r = w.cur_r
    return r is not r.main


def is_internal(w):
    """ngx.req.is_internal (ngx_http_lua_ffi_req_is_internal)."""
    r = w.cur_r
    return bool(r.internal or r is not r.main)


def get_method(w):
    """ngx.req.get_method (ngx_http_lua_ffi_req_get_method): this request's own
    method; a subrequest's is the one capture gave it (the variable
    $request_method is the main request's)."""
    return w.cur_r.method.encode("latin-1")


def get_phase(w):
    """ngx.get_phase() (ngx_http_lua_ffi_get_phase; resty/core/phase.lua
    answers "init" when there is no request)."""
    if w.cur_r is None:
        return ret(b"init")
    ctx = w.cur_r.ctx
    name = CONTEXT_NAMES.get(ctx.context, "") if ctx else ""
    return ret(name.replace("_by_lua*", "").replace("ngx.", "").encode())


# ------------------------------------------------------------------ ngx.ctx
_CTX_REFS = itertools.count(1)


def ctx_ref(w):
    """ngx_http_lua_ngx_get_ctx's ctx->ctx_ref: the ngx.ctx table belongs to
    the request's Lua ctx, so the new ctx after an internal redirect
    (ngx.exec) starts with an empty one."""
    ctx = w.cur_r.ctx
    if ctx is None:
        return ret(0)
    if not ctx.ctx_ref:
        ctx.ctx_ref = next(_CTX_REFS)
    return ret(ctx.ctx_ref)


# --------------------------------------------------------------------- log
def ngx_log(w, level, msg):
    """ngx.log / print (ngx_http_lua_ngx_log): "[lua] <where>: <msg>"."""
    if not 0 <= level <= 8:                 # ngx.log checked the range already
        return argerr(1, f"bad log level: {level}")
    w.log_error(LOG_LEVELS[int(level)], "[lua] " + msg.decode("utf-8", "surrogateescape"), w.cur_r)
    return ret()


# ------------------------------------------------------- the virtual clock
def now(w):
    """ngx.now (ngx_http_lua_ffi_now), on the virtual clock."""
    return w.loop.epoch_seconds()


def update_time(w):
    """ngx.update_time: the virtual clock has nothing to catch up with."""
    return None


def today(w):
    return time.strftime("%Y-%m-%d", time.gmtime(w.loop.epoch_seconds())).encode()


def localtime(w):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(w.loop.epoch_seconds())).encode()


def start_time(w):
    """ngx.req.start_time (ngx_http_lua_ffi_req_start_time)."""
    return EPOCH_MS / 1000.0


def timegm(w, year, month, day, hour, minute, sec):
    """os.time{...} on the model's clock, which is UTC."""
    import calendar                      # (here: few runs need it, and it imports datetime)
    try:
        return calendar.timegm((int(year), int(month), int(day), int(hour), int(minute),
                                int(sec), 0, 0, 0))
    except (TypeError, ValueError, OverflowError):
        return None


# ------------------------------------------------------ the model's hooks
def tick(w, switched=False):
    """Called from the Lua count hook: gives Python a place to raise
    KeyboardInterrupt while Lua spins, and says whether this resume has run
    too long in wall time.  `switched`: coroutines switched inside Lua since
    the last tick (vm.lua's fast path), each switch a resume of its own."""
    if switched:
        w.vm.resume_started = time.monotonic()
    return w.vm.over_time()


def not_modelled(w, name):
    """An ngx_lua API the model does not have: the run stops and says so
    (real nginx would do something the model cannot show)."""
    w.abort = w.unsupported(name.decode() if isinstance(name, bytes) else name)
    return abort(b"ngxcoro: not modelled")


# ------------------------------------------------------------- ngx.worker
# one worker, no master (the oracle runs nginx with master_process off and
# worker_processes 1); the pid is the process's in nginx, so a recording can only
# look at its type
MODEL_PID = 4242


def worker_exiting(w):
    """ngx_http_lua_ffi_worker_exiting: ngx_exiting, set by a graceful quit
    (`quit_at`, nginx/process_cycle.py)."""
    return bool(w.exiting)


def worker_pid(w):
    """ngx_http_lua_ffi_worker_pid: ngx_pid."""
    return MODEL_PID


def worker_id(w):
    """ngx_http_lua_ffi_worker_id: ngx_worker, 0 for the single process."""
    return 0


def worker_count(w):
    """ngx_http_lua_ffi_worker_count: ccf->worker_processes (1 as the oracle runs)."""
    return 1


API = {
    "headers_sent": headers_sent, "sent_content_type": sent_content_type,
    "set_resp_header": set_resp_header, "transform_underscores": transform_underscores,
    "get_status": get_status, "set_status": set_status,
    "send_headers": send_headers, "header_too_late": header_too_late,
    "req_headers": req_headers, "req_set_header": req_set_header, "is_subrequest": is_subrequest, "is_internal": is_internal,
    "get_phase": get_phase, "get_method": get_method, "log": ngx_log, "now": now,
    "update_time": update_time, "today": today, "localtime": localtime,
    "start_time": start_time, "timegm": timegm, "tick": tick, "not_modelled": not_modelled,
    "ctx_ref": ctx_ref, "worker_exiting": worker_exiting, "worker_pid": worker_pid,
    "worker_id": worker_id, "worker_count": worker_count,
}
