"""The request-body API: ngx.req.read_body, get_body_data, get_body_file,
discard_body, set_body_data, set_body_file, init_body, append_body and
finish_body (src/ngx_http_lua_req_body.c; none of them is FFI in
lua-resty-core 0.1.25).

nginx's reader (`ngxcoro.nginx.body`) takes a reference (r->main->count++);
ngx.req.read_body gives it back at once, so reading never changes the
count, and it parks the coroutine with NGX_AGAIN, not NGX_DONE.
"""
from __future__ import annotations

import os
from functools import partial

from ..nginx.core import NGX_AGAIN
from ..nginx import body, phases, request
from .common import CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .protocol import ret, err, argerr, lua_type, tonumber, yield_to_run_thread, request_co_ctx
from .control import rd_check_broken_connection
from .util import cleanup_pending_operation, resume_tail


def ngx_req_read_body(w, *args):
    """ngx.req.read_body() (ngx_http_lua_ngx_req_read_body)."""
    if args:
        return err(f"expecting 0 arguments, but got {len(args)}")
    r, ctx, coctx, e = request_co_ctx(w, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
    if e:
        return e
    w.fire("read_body")
    if w.location_setting(r, "client_body_in_file_only", "off") != "off":
        r.body_file_log_level = "none"   # r->request_body_file_log_level = 0
    rc = body.read_client_request_body(r, req_body_post_read)
    if rc >= 300:
        ctx.exit_code = rc
        ctx.exited = True
        return yield_to_run_thread()
    request.count_change(r, -1, "ngx.req.read_body gives the reader's reference back")
    if rc == NGX_AGAIN:
        ctx.waiting_more_body = True
        ctx.downstream = coctx
        cleanup_pending_operation(coctx)
        coctx.cleanup = partial(req_body_cleanup, r)
        coctx.waiting = "ngx.req.read_body()"
        return yield_to_run_thread()
    return ret()


def req_body_post_read(r):
    """ngx_http_lua_req_body_post_read: wake the reader."""
    ctx = r.ctx
    r.worker.fire("body_post_read", c=r.main.count, wake=bool(ctx.waiting_more_body))
    if ctx.waiting_more_body:
        ctx.waiting_more_body = False
        ctx.cur_co_ctx = ctx.downstream
        ctx.cur_co_ctx.cleanup = None
        ctx.cur_co_ctx.waiting = ""
        r.read_event_handler = (rd_check_broken_connection      # None: ngx_http_block_reading
                                if r.worker.location_setting(r, "lua_check_client_abort", False)
                                else None)
        if ctx.entered_content_phase:
            read_body_resume(r)
        else:
            ctx.resume_handler = read_body_resume
            phases.core_run_phases(r)


def read_body_resume(r):
    """ngx_http_lua_read_body_resume."""
    return resume_tail(r, 0)


def req_body_cleanup(r, coctx):
    """ngx_http_lua_req_body_cleanup: the reader was killed."""
    if getattr(r, "body_timer", None) is not None:
        r.worker.loop.del_timer(r.body_timer)
        r.body_timer = None
    if r.ctx is not None:
        r.ctx.waiting_more_body = False


def _nargs(args, want, words):
    """luaL_error's "expecting N arguments but seen M", or None."""
    return None if len(args) in want else err(f"expecting {words} but seen {len(args)}")


def _lstring(v):
    """lua_tolstring's bytes, or None (numbers are converted)."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return ("%.14g" % v).encode()     # lua_tolstring's LUAI_NUMFFORMAT
    return None


def _checklstring(args, i):
    """luaL_checklstring(L, i): (the bytes, None) or (None, the argument error)."""
    v = _lstring(args[i - 1])
    if v is None:
        return None, argerr(i, f"string expected, got {lua_type(args[i - 1])}")
    return v, None


def _request(w, missing="request object not found"):
    """The request as ngx_http_lua_get_req finds it, or the error (init_by_lua*)."""
    r = w.cur_r
    return (r, None) if r is not None else (None, err(missing))


def get_body_data(w, *args):
    """ngx.req.get_body_data() (ngx_http_lua_ngx_req_get_body_data): nil when
    the body is not read, is empty or is in a temp file."""
    e = _nargs(args, (0,), "0 arguments")
    r, e = (None, e) if e else _request(w)
    if e:
        return e
    rb = r.request_body
    # (data, read, in a file, discarded): get_post_args (args.lua) reads the rest
    if rb is None or r.request_body_file is not None:
        return ret(None, rb is not None, r.request_body_file is not None, r.discard_body)
    return ret(rb if rb else None, True, False, r.discard_body)


def get_body_file(w, *args):
    """ngx.req.get_body_file() (ngx_http_lua_ngx_req_get_body_file): the temp
    file's name, or nil."""
    e = _nargs(args, (0,), "0 arguments")
    r, e = (None, e) if e else _request(w)
    if e:
        return e
    f = r.request_body_file if r.request_body is not None else None
    return ret(f.encode() if f is not None else None)


def discard_body(w, *args):
    """ngx.req.discard_body() (ngx_http_lua_ngx_req_discard_body)."""
    e = _nargs(args, (0,), "0 arguments")
    r, e = (None, e) if e else _request(w)
    if e:
        return e
    body.discard_request_body(r)
    return ret()


def _body_writable(r):
    """The checks set_body_data, set_body_file and init_body share."""
    if r.discard_body:
        return err("request body already discarded asynchronously")
    if r.request_body is None:
        return err("request body not read yet")
    return None


def set_body_data(w, *args):
    """ngx.req.set_body_data(data) (ngx_http_lua_ngx_req_set_body_data): the
    body is now `data`, in memory; Content-Length follows."""
    e = _nargs(args, (1,), "1 arguments")
    if e:
        return e
    data, e = _checklstring(args, 1)
    if e:
        return e
    r, e = _request(w)
    e = e or _body_writable(r)
    if e:
        return e
    r.request_body, r.request_body_file, r.new_body = data, None, None
    r.request_body_empty_buf = False          # "": rb->bufs is NULL
    set_content_length(r, len(data))
    share_body(r)
    return ret()


def set_body_file(w, *args):
    """ngx.req.set_body_file(name, auto_clean?) (ngx_http_lua_ngx_req_set_body_file):
    the body is the file's content (read now: the model has no fds)."""
    e = _nargs(args, (1, 2), "1 or 2 arguments")
    if e:
        return e
    name, e = _checklstring(args, 1)
    if e:
        return e
    r, e = _request(w, "no request found")
    e = e or _body_writable(r)
    if e:
        return e
    if len(args) == 2 and not isinstance(args[1], bool):
        return argerr(2, f"boolean expected, got {lua_type(args[1])}")
    path = name.decode("utf-8", "surrogateescape")
    # the old body is dropped and a bare temp_file stub (no name) put in first
    r.request_body, r.request_body_file, r.new_body = b"", "", None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:                  # ngx_open_cached_file's of.failed
        return err(f'{"open()" if os.path.exists(path) else "stat()"} "{path}" failed')
    r.request_body, r.new_body = data, None
    r.request_body_file = path           # a bare temp_file stub even when empty
    set_content_length(r, len(data))
    share_body(r)
    return ret()


def init_body(w, *args):
    """ngx.req.init_body(size?) (ngx_http_lua_ngx_req_init_body): a new, empty
    body with a buffer of `size` (client_body_buffer_size) bytes."""
    e = _nargs(args, (0, 1), "0 or 1 argument")
    if e:
        return e
    r, e = _request(w, "no request found")
    e = e or _body_writable(r)
    if e:
        return e
    if args:
        n = tonumber(args[0])
        if n is None:
            return argerr(1, f"number expected, got {lua_type(args[0])}")
        if int(n) < 0:
            return err(f"bad size argument: {int(n)}")
        size = int(n)
    else:
        size = w.location_setting(r, "client_body_buffer_size", 8192)
    r.request_body_file = None
    r.request_body_in_file_only = size == 0 or getattr(r, "request_body_in_file_only", False)
    r.new_body = {"size": size, "buf": b"", "file": b""}
    r.request_body, r.request_body_empty_buf = b"", False
    r.content_length = 0
    share_body(r)
    return ret()


def append_body(w, *args):
    """ngx.req.append_body(data) (ngx_http_lua_ngx_req_append_body): into the
    buffer; a full buffer goes to the temp file when more is to come."""
    e = _nargs(args, (1,), "1 arguments")
    if e:
        return e
    data, e = _checklstring(args, 1)
    if e:
        return e
    r, e = _request(w, "no request found")
    if e:
        return e
    nb = getattr(r, "new_body", None)
    if r.request_body is None or nb is None:
        return err("request_body not initialized")
    if r.request_body_in_file_only:
        _to_file(r, nb, data)
    else:
        rest = data
        while rest:
            if len(nb["buf"]) == nb["size"]:
                _to_file(r, nb, nb["buf"])
                nb["buf"] = b""
            take = nb["size"] - len(nb["buf"])
            nb["buf"] += rest[:take]
            rest = rest[take:]
    r.content_length += len(data)
    r.request_body = nb["file"] + nb["buf"]
    share_body(r)
    return ret()


def _to_file(r, nb, data):
    """ngx_http_lua_write_request_body: append `data` to the body's temp file."""
    if r.request_body_file is None:
        body.write_request_body(r, b"")
    nb["file"] += data


def finish_body(w, *args):
    """ngx.req.finish_body() (ngx_http_lua_ngx_req_body_finish): the last part
    goes to the file if there is one; Content-Length follows."""
    e = _nargs(args, (0,), "0 argument")
    if e:
        return e
    r, e = _request(w, "no request found")
    if e:
        return e
    nb = getattr(r, "new_body", None)
    if r.request_body is None or nb is None:
        return err("request_body not initialized")
    if r.request_body_file is not None:
        _to_file(r, nb, nb["buf"])
        nb["buf"] = b""
    r.request_body = nb["file"] + nb["buf"]
    r.request_body_empty_buf = not r.request_body     # the (empty) buffer stays in bufs
    set_content_length(r, r.content_length)
    share_body(r)
    return ret()


def share_body(r):
    """A subrequest that inherited its parent's body has the very same
    r->request_body (ngx_http_lua_subrequest: sr->request_body =
    r->request_body): a body the API set there is the parent's too (the
    Content-Length header is not: each request has its own headers)."""
    while getattr(r, "shares_parent_body", False) and r.parent is not None:
        p = r.parent
        p.request_body, p.request_body_file = r.request_body, r.request_body_file
        p.request_body_empty_buf = r.request_body_empty_buf
        p.new_body = getattr(r, "new_body", None)
        r = p


def set_content_length(r, n):
    """Override the Content-Length input header (ngx_http_lua_set_input_header)."""
    r.content_length = n
    for i, (k, _) in enumerate(r.headers):
        if k.lower() == "content-length":
            r.headers[i] = (k, str(n))
            return
    r.headers.append(("Content-Length", str(n)))


API = {"read_body": ngx_req_read_body, "get_body_data": get_body_data,
       "get_body_file": get_body_file, "discard_body": discard_body,
       "set_body_data": set_body_data, "set_body_file": set_body_file,
       "init_body": init_body, "append_body": append_body, "finish_body": finish_body}
