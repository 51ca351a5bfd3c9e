"""ngx.location.capture[_multi] (src/ngx_http_lua_subrequest.c, and the
capture body filter of src/ngx_http_lua_capturefilter.c).

Each subrequest takes a reference on the main request (count++), runs when
nginx next runs posted requests, has its output captured instead of sent,
and when it finishes wakes its parent: lua's post_subrequest handler posts
the parent at the head of the queue.

The options table of each query (checked in the prelude, subrequest.lua)
is applied by ngx_http_lua_adjust_subrequest: `method` (any ngx.HTTP_*,
else "unsupported HTTP method"), `body` (with its Content-Length), the
parent's body kept only for PUT and POST or with `always_forward_body`,
`copy_all_vars` / `share_all_vars` (else the subrequest starts with no
variables set), `vars`, and `ctx` (the subrequest's ngx.ctx table).
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_ERROR
from ..nginx import phases, request
from ..nginx.http_parse import parse_unsafe_uri
from ..nginx.request import Request
from .common import CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .protocol import err, ret, yield_to_run_thread, request_ctx
from .by import content_wev_handler
from .util import resume_tail, wev_handler, send_header_if_needed
from .logby import create_ctx
from .by import get_ctx
from .misc import _CTX_REFS
from ..nginx.variables import CHANGEABLE, CORE_NAMES, declared_vars

# the methods ngx_http_lua_adjust_subrequest names (ngx.HTTP_GET ... ngx.HTTP_TRACE)
METHODS = {2: "GET", 4: "HEAD", 8: "POST", 16: "PUT", 32: "DELETE", 64: "MKCOL", 128: "COPY",
           256: "MOVE", 512: "OPTIONS", 1024: "PROPFIND", 2048: "PROPPATCH", 4096: "LOCK",
           8192: "UNLOCK", 16384: "PATCH", 32768: "TRACE"}
# vars_action bits, as the prelude packs them (and always_forward_body; NO_OPTIONS:
# a query without an options table)
SHARE_ALL_VARS, COPY_ALL_VARS, ALWAYS_FORWARD_BODY, NO_OPTIONS = 1, 2, 4, 8


class SrData:
    """What the capture of one subrequest collects (the sr_* arrays)."""

    def __init__(self, parent_coctx, index):
        self.pr_co_ctx = parent_coctx
        self.index = index
        self.body = bytearray()
        self.status = 0
        self.seen_last = False
        self.run_post_subrequest = False
        self.sr_id = 0                  # the subrequest's id
        self.sr = None                  # the subrequest, once done (its res.header)


def ngx_location_capture_multi(w, *flat):
    """ngx.location.capture_multi (ngx_http_lua_ngx_location_capture_multi);
    the prelude hands each query as uri, method, args, body, vars (a flat
    name, value list, or false), the option bits, and whether a ctx table is
    given; the yield returns each subrequest's ctx ref (0: none) for it."""
    r, ctx, e = request_ctx(w, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
    if e:
        return e
    n = len(flat) // 7
    if n == 0:
        return err("at least one subrequest should be specified")
    coctx = ctx.cur_co_ctx
    if coctx is None:
        return err("no co ctx found")
    coctx.nsubreqs = n
    coctx.pending_subreqs = 0
    coctx.sr_results = [None] * n
    refs = []
    forward = 0         # the C's always_forward_body is set only by a query with options:
    for i in range(n):  # a query without them keeps the one before's
        uri, method, args, body, xvars, action, custom_ctx = flat[7 * i: 7 * i + 7]
        if not action & NO_OPTIONS:
            forward = action & ALWAYS_FORWARD_BODY
        action = (action & (SHARE_ALL_VARS | COPY_ALL_VARS)) | forward
        parsed = parse_unsafe_uri(uri.decode("latin-1"))
        if parsed is None and i > 0:
            # the subrequests already issued would run and resume a thread that
            # went on (real nginx sends a broken response here)
            raise w.refuse("ngx.location.capture_multi with an unsafe uri after a safe one "
                           "is not modelled by ngxcoro")
        if parsed is None:      # #1: capture_multi's argument; "%s": it ends at a NUL
            return err("unsafe uri in argument #1: "
                       f"{uri.split(bytes(1))[0].decode('utf-8', 'replace')}")
        uri, uargs = parsed
        args = args.decode("latin-1") if args else ""
        if args:
            uargs = f"{uargs}&{args}" if uargs else args
        # args: None without a "?" (a bare "?" leaves "": $args is then empty, not unset)
        coctx.pending_subreqs += 1
        sr = subrequest(r, uri, uargs, SrData(coctx, i))
        if sr is None:
            return err(f"failed to issue subrequest: {NGX_ERROR}")
        xvars = list(xvars.values()) if xvars else []
        rc = adjust_subrequest(sr, int(method) % 2**64, action, body,
                               [(xvars[j].decode("latin-1"), xvars[j + 1].decode("latin-1"))
                                for j in range(0, len(xvars), 2)])
        if rc != NGX_OK:
            cancel_subreq(sr)
            return err(f"failed to adjust the subrequest: {rc}")
        ref = 0
        if custom_ctx:                  # ngx_http_lua_ngx_set_ctx_helper
            ref = next(_CTX_REFS)
            get_ctx(sr).ctx_ref = ref
        refs.append(ref)
    ctx.no_abort = True
    coctx.waiting = "ngx.location.capture"
    return yield_to_run_thread() + tuple(refs)

def capture_begin(w):
    """The start of ngx.location.capture_multi, before the prelude checks the
    queries' options: the context checks, then the "lua location capture" line."""
    r, ctx, e = request_ctx(w, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
    if e:
        return e
    if ctx.cur_co_ctx is None:
        return err("no co ctx found")
    w.fire("capture", uri=r.uri, c=r.main.count)
    return ret()


def subrequest(r, uri, args, data):
    """ngx_http_lua_subrequest (a copy of ngx_http_subrequest): count++
    and post it at the tail; it starts when posted requests run.  None
    past the nesting depth (each subrequest has one less than its parent)."""
    w = r.worker
    if r.subrequests == 0:              # the depth nginx allows (NGX_HTTP_MAX_SUBREQUESTS)
        w.log_error("error", f'lua subrequests cycle while processing "{uri}"', r)
        return None
    w.nreq += 1
    main = r.main
    sr = Request(connection=r.connection, method=r.method, uri=uri, args=args,
                 http_version=main.http_version, headers=list(r.headers), main=main)
    sr.parent = r
    sr.id = w.nreq
    sr.worker = w
    w.requests.append(sr)
    sr.internal = True
    sr.request_line = main.request_line
    sr.request_uri = main.request_uri
    sr.server_name = main.server_name
    sr.request_body, sr.request_body_file = r.request_body, r.request_body_file
    sr.request_body_empty_buf = r.request_body_empty_buf    # the same r->request_body
    sr.shares_parent_body = r.request_body is not None
    sr.set_vars = r.set_vars            # sr->variables = r->variables
    sr.sr_data = data
    data.sr_id = sr.id
    sr.post_subrequest = post_subrequest
    sr.write_event_handler = phases.handler
    sr.subrequests = r.subrequests - 1
    # nginx prints "%V?%V": a uri with a decoded '?' in it still gets its own '?'
    w.fire("subrequest", uri=sr.log_uri if "?" in uri else sr.unparsed_uri)
    request.count_change(r, +1, f"subrequest {sr.unparsed_uri}")
    request.post_request(sr)
    return sr

def cancel_subreq(sr):
    """ngx_http_lua_cancel_subreq: take back what ngx_http_lua_subrequest gave."""
    main = sr.main
    if sr in main.posted_requests:
        main.posted_requests.remove(sr)
    request.count_change(sr, -1, f"cancel subrequest {sr.unparsed_uri}")


def adjust_subrequest(sr, method, action, body, xvars):
    """ngx_http_lua_adjust_subrequest: the body (the option's, none for a
    method other than PUT and POST when the parent has one, else the
    parent's), the method, the variables (fresh, copied or shared)."""
    r = sr.parent
    w = sr.worker
    if body is not None:                # ngx_http_lua_set_content_length_header
        sr.request_body, sr.request_body_empty_buf = body, False   # "": no buffer
        sr.shares_parent_body = False                              # a body of its own
        set_content_length_header(sr, len(body))
    elif not action & ALWAYS_FORWARD_BODY and method not in (8, 16) \
            and content_length_n(r) > 0:
        set_content_length_header(sr, 0)   # content_length_n 0, but real nginx (scenario
        sr.headers = sr.headers[1:]         # 842) shows no Content-Length header here
        sr.request_body = sr.request_body_file = None
        sr.shares_parent_body = False
    name = METHODS.get(method)
    if name is None:
        w.log_error("error", f"unsupported HTTP method: {method}", r)
        return NGX_ERROR
    sr.method = name
    if not action & SHARE_ALL_VARS:
        sr.set_vars = dict(r.set_vars) if action & COPY_ALL_VARS else {}
    return subrequest_add_extra_vars(sr, xvars)


def content_length_n(r):
    """r->headers_in.content_length_n (-1 when absent)."""
    v = next((v for k, v in r.headers if k.lower() == "content-length"), None)
    return int(v) if v is not None and v.strip().isdigit() else -1


def set_content_length_header(sr, n):
    """ngx_http_lua_set_content_length_header: a Content-Length of `n`, then
    the parent's other request headers."""
    sr.headers = [("Content-Length", str(n))] + [
        (k, v) for k, v in sr.parent.headers if k.lower() != "content-length"]


def subrequest_add_extra_vars(sr, xvars):
    """ngx_http_lua_subrequest_add_extra_vars: the `vars` option; only a
    changeable variable ($args, or one made by `set` somewhere) takes a value."""
    w = sr.worker
    for name, value in xvars:
        name = name.lower()
        if name in CORE_NAMES and name not in CHANGEABLE:
            w.log_error("error", f'variable "{name}" not changeable', sr.parent)
            return 500
        if name == "args":
            sr.args = value
        elif name in declared_vars(w):
            sr.set_vars[name] = value
        else:
            w.log_error("error", f'variable "{name}" cannot be assigned a value '
                        f'(maybe you forgot to define it first?) ', sr.parent)
            return NGX_ERROR
    return NGX_OK


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
    if sr is sr.main or d is None or d.run_post_subrequest or data is None:
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
        sr.connection.active = sr       # r->connection->data = r
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
    data.sr = sr
    request.post_request(pr, head=True)
    sr.connection.active = sr           # r->connection->data = r

    sr_ctx = create_ctx(sr)             # the capture made it in C (ngx_http_lua_subrequest)
    if sr_ctx.headers_set:
        return NGX_OK                   # the C's rc is now ngx_http_lua_set_content_type's
    if error_like:                      # emulate ngx_http_special_response_handler: the
        sr.err_status = rc              # header (no body) goes down the filters
        if rc > NGX_OK and send_header_if_needed(sr, sr_ctx) == NGX_ERROR:
            return NGX_ERROR
        return NGX_OK
    return rc


def sr_header_list(sr):
    """The headers ngx_http_lua_handle_subreq_responses puts in res.header, as
    a flat name, value list: Content-Length when only content_length_n says it,
    Content-Type when the response has one, then r->headers_out.headers in
    order (a relative Location of `return` is one of them)."""
    out = []
    listed = sr.headers_out + ([["Location", sr.location_out]] if sr.location_out else [])
    n = sr.content_length_n
    if n is not None and n >= 0 and not any(h[0].lower() == "content-length" for h in listed):
        out += ["Content-Length", str(n)]
    ctype = sr.content_type
    lua_ctx = getattr(sr, "ctx", None)
    status = sr.err_status or sr.headers_out_status
    # ngx_http_set_content_type (default_type) when the header went out without a
    # type (lua: not for a 304), and, once ngx.header set something,
    # ngx_http_lua_post_subrequest's ngx_http_lua_set_content_type (even after a nil)
    if (not ctype and lua_ctx is not None and lua_ctx.headers_set
            or ctype is None and sr.header_sent and status != 304):
        ctype = sr.worker.location_setting(sr, "default_type", "text/plain")
    if ctype:
        out += ["Content-Type", ctype]
    for name, value in listed:
        out += [name, value]
    return [x.encode("latin-1", "replace") for x in out]


def subrequest_resume(r):
    """ngx_http_lua_subrequest_resume: one result table per subrequest."""
    w = r.worker
    ctx = r.ctx
    ctx.resume_handler = wev_handler
    coctx = ctx.cur_co_ctx
    coctx.waiting = ""
    w.fire("subrequests_done", co=coctx)
    flat = []
    for d in coctx.sr_results:      # no last buf: truncated
        header = sr_header_list(d.sr)
        flat += [d.status, bytes(d.body), not d.seen_last, len(header) // 2] + header
    w.vm.push_results(coctx.co, *flat)
    n = coctx.nsubreqs
    coctx.sr_results, coctx.nsubreqs = [], 0
    return resume_tail(r, n)


API = {"capture_multi": ngx_location_capture_multi, "capture_begin": capture_begin}
