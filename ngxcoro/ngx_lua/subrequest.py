"""ngx.location.capture[_multi] (src/ngx_http_lua_subrequest.c, and the
capture body filter of src/ngx_http_lua_capturefilter.c).

Each subrequest takes a reference on the main request (count++), runs when
nginx next runs posted requests, has its output captured instead of sent,
and when it finishes wakes its parent: lua's post_subrequest handler posts
the parent at the head of the queue.
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR
from ..nginx import phases, request
from ..nginx.request import Request
from .common import CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .protocol import err, yield_to_run_thread, request_ctx
from .by import content_wev_handler
from .util import resume_tail, wev_handler, send_header_if_needed
from .logby import create_ctx

METHODS = {2: "GET", 4: "HEAD", 8: "POST", 16: "PUT", 32: "DELETE", 512: "OPTIONS",
           16384: "PATCH"}


class SrData:
    """What the capture of one subrequest collects (the sr_* arrays)."""

    def __init__(self, parent_coctx, index):
        self.pr_co_ctx = parent_coctx
        self.index = index
        self.body = bytearray()
        self.status = 0
        self.seen_last = False
        self.run_post_subrequest = False
        self.sr_id = 0                  # the subrequest (its res.header, in the VM)


def ngx_location_capture_multi(w, *flat):
    """ngx.location.capture_multi (ngx_http_lua_ngx_location_capture_multi);
    the prelude hands each query as uri, method, args, body."""
    r, ctx, e = request_ctx(w, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
    if e:
        return e
    n = len(flat) // 4
    if n == 0:
        return err("at least one subrequest should be specified")
    coctx = ctx.cur_co_ctx
    if coctx is None:
        return err("no co ctx found")
    if r.main.subrequests - n <= 0:
        return err("failed to issue subrequest: too many subrequests")
    w.fire("capture", uri=r.uri, c=r.main.count)
    coctx.nsubreqs = n
    coctx.pending_subreqs = 0
    coctx.sr_results = [None] * n
    for i in range(n):
        uri, method, args, body = flat[4 * i: 4 * i + 4]
        uri = uri.decode("latin-1")
        uri, sep, uargs = uri.partition("?")
        args = args.decode("latin-1") if args else ""
        if args:
            uargs = f"{uargs}&{args}" if uargs else args
        uargs = uargs or None
        coctx.pending_subreqs += 1
        subrequest(r, uri, uargs, METHODS.get(int(method), "GET"),
                        body if body is not None else None, SrData(coctx, i))
    ctx.no_abort = True
    coctx.waiting = "ngx.location.capture"
    return yield_to_run_thread()

def subrequest(r, uri, args, method, body, data):
    """ngx_http_lua_subrequest (a copy of ngx_http_subrequest): count++
    and post it at the tail; it starts when posted requests run."""
    w = r.worker
    w.nreq += 1
    main = r.main
    sr = Request(connection=r.connection, method=method, uri=uri, args=args,
                 http_version=main.http_version, headers=list(main.headers), main=main)
    sr.parent = r
    sr.id = w.nreq
    sr.worker = w
    w.requests.append(sr)
    sr.internal = True
    sr.request_line = main.request_line
    sr.request_uri = main.request_uri
    sr.server_name = main.server_name
    adjust_subrequest_body(sr, r, method, body, getattr(data, "always_forward_body", False))
    sr.sr_data = data
    data.sr_id = sr.id
    sr.post_subrequest = post_subrequest
    sr.write_event_handler = phases.handler
    main.subrequests -= 1
    w.fire("subrequest", uri=sr.unparsed_uri)
    request.count_change(r, +1, f"subrequest {sr.unparsed_uri}")
    request.post_request(sr)
    return sr

def adjust_subrequest_body(sr, r, method, body, always_forward_body):
    """The body part of ngx_http_lua_adjust_subrequest: the `body` option; else
    no body for a method other than PUT or POST when the parent has one (its
    Content-Length set to 0); else the parent's body (a file's name too)."""
    if body is not None:
        sr.request_body = body
        _set_length(sr, len(body))
    elif (not always_forward_body and method not in ("PUT", "POST")
          and phases.request_content_length(r) > 0):
        sr.request_body = None
        _set_length(sr, 0)
    else:
        sr.request_body, sr.request_body_file = r.request_body, r.request_body_file


def _set_length(sr, n):
    """Like ngx_http_lua_set_content_length_header: on the subrequest's own headers."""
    sr.headers = [(k, v) for k, v in sr.headers if k.lower() != "content-length"]
    if n:                   # a GET capture of a POST sees no Content-Length (881)
        sr.headers.append(("Content-Length", str(n)))


def capture_header_filter(sr, nxt):
    """ngx_http_lua_capture_header_filter: a captured HEAD subrequest sends its
    header only (ngx_http_header_filter, which would say so, skips subrequests)."""
    if sr is not sr.main and sr.sr_data is not None and sr.method == "HEAD":
        sr.header_only = True
    return nxt(sr)


def capture_body_filter(sr, data, flush, last, nxt):
    """ngx_http_lua_capture_body_filter: keep a subrequest's output for the
    parent's ctx; NGX_ERROR when the parent has no ctx (ngx.exec dropped it),
    so the subrequest ends with rc -1."""
    d = sr.sr_data
    if sr is sr.main or d is None or d.run_post_subrequest:
        return nxt(sr, data, flush, last)
    if sr.parent.ctx is None:
        return NGX_ERROR
    d.body += data
    d.seen_last = d.seen_last or last
    return NGX_OK

def post_subrequest(sr, rc):
    """ngx_http_lua_post_subrequest: record the result; when the parent
    coroutine's last subrequest is in, make it current and post the
    parent at the head of the posted requests."""
    w = sr.worker
    data = sr.sr_data
    if data.run_post_subrequest:
        return NGX_OK
    w.fire("post_subrequest", uri=sr.unparsed_uri, rc=rc, c=sr.main.count)
    data.run_post_subrequest = True
    pr = sr.parent
    pr_ctx = pr.ctx
    if pr_ctx is None:                  # the parent's ctx is gone (ngx.exec dropped it)
        return NGX_ERROR
    pr_coctx = data.pr_co_ctx
    pr_coctx.pending_subreqs -= 1
    if pr_coctx.pending_subreqs == 0:
        pr_ctx.no_abort = False
        pr_ctx.resume_handler = subrequest_resume
        pr_ctx.cur_co_ctx = pr_coctx
    if pr_ctx.entered_content_phase:
        pr.write_event_handler = content_wev_handler
    else:
        pr.write_event_handler = phases.core_run_phases

    if not sr.headers_out_status:       # the C maps rc itself here, for what follows too
        rc = 200 if rc == NGX_OK else 500 if rc == NGX_ERROR else rc
    status = sr.headers_out_status or (rc if rc >= 100 else 0)
    data.status = status
    error_like = rc == NGX_ERROR or rc in (201, 204) or (rc >= 300 and rc not in (444, 408, 499))
    pr_coctx.sr_results[data.index] = data
    request.post_request(pr, head=True)

    sr_ctx = create_ctx(sr)             # the capture made it in C (ngx_http_lua_subrequest)
    if sr_ctx.headers_set:
        return NGX_OK                   # the C's rc is now ngx_http_lua_set_content_type's
    if error_like:                      # emulate ngx_http_special_response_handler: the
        sr.err_status = rc              # header (no body) goes down the filters
        if rc > NGX_OK and send_header_if_needed(sr, sr_ctx) == NGX_ERROR:
            return NGX_ERROR
        return NGX_OK
    return rc


def subrequest_resume(r):
    """ngx_http_lua_subrequest_resume: one result table per subrequest."""
    w = r.worker
    ctx = r.ctx
    ctx.resume_handler = wev_handler
    coctx = ctx.cur_co_ctx
    coctx.waiting = ""
    w.fire("subrequests_done", co=coctx)
    flat = []
    for d in coctx.sr_results:
        flat += [d.status, bytes(d.body), not d.seen_last, d.sr_id]  # no last buf: truncated
    w.vm.push_results(coctx.co, *flat)
    n = coctx.nsubreqs
    coctx.sr_results, coctx.nsubreqs = [], 0
    return resume_tail(r, n)


API = {"capture_multi": ngx_location_capture_multi}
