"""The phase engine and internal redirects (src/http/ngx_http_core_module.c).

nginx runs a request through one array of phase handlers
(cmcf->phase_engine.handlers, built by ngx_http_init_phase_handlers); each
entry pairs a checker of the core with a module's handler, and the checker
decides whether to go on to the next entry or stop and wait for an event.
The worker builds the array (`ngxcoro.worker`): the rewrite module and
lua-nginx-module's rewrite handler in the rewrite phase, the access module
(allow/deny) and lua's access handler in the access phase, then the
post-access check of satisfy any, and the location's content handler.
"""
from __future__ import annotations

from .core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED
from . import body, request, response, content


# ------------------------------------------------------------------ engine
def core_run_phases(r):
    """ngx_http_core_run_phases: run handlers from r.phase_handler on
    until a checker says stop (NGX_OK)."""
    engine = r.worker.phase_engine
    while r.phase_handler < len(engine):
        phase, checker, handler = engine[r.phase_handler]
        r.phase = phase
        if checker(r, handler) == NGX_OK:
            return


def handler(r):
    """ngx_http_handler: a (re)started request runs from the first phase.
    A client's request that has a body will close lingering."""
    if not r.internal:
        h = {k.lower(): v.strip() for k, v in r.headers}
        r.lingering_close = (h.get("content-length", "0").isdigit()
                             and int(h.get("content-length", "0")) > 0
                             or "chunked" in h.get("transfer-encoding", "").lower())
    r.worker.fire("http_handler", r=r, uri=r.unparsed_uri)
    r.phase_handler = 0
    r.write_event_handler = core_run_phases
    core_run_phases(r)


def location_rewrite_index(w):
    """cmcf->phase_engine.location_rewrite_index: the first rewrite entry."""
    return next(i for i, (phase, _, _) in enumerate(w.phase_engine) if phase == "rewrite")


# ----------------------------------------------------------------- checkers
def core_find_config_phase(r, _handler):
    """ngx_http_core_find_config_phase: pick the location for r.uri."""
    r.uri_changed = False
    server = r.worker.config.servers[0]
    r.location = server.find_location(r.uri)
    regex = r.location.regex if r.location is not None else None
    m = regex.search(r.uri) if regex is not None else None
    if m:                               # ngx_http_regex_exec: r->captures for $1 ... $9
        r.captures = (m.group(0),) + m.groups()
    check_modelled(r)
    if r.location is not None and r.location.internal and not r.internal:
        request.finalize_request(r, 404)
        return NGX_OK
    limit = r.worker.location_setting(r, "client_max_body_size", 1 << 20)
    length = request_content_length(r)
    if limit and length > limit:
        r.worker.log_error("error", f"client intended to send too large body: {length} bytes",
                           r)
        body.discard_request_body(r)
        request.finalize_request(r, 413)
        return NGX_OK
    r.phase_handler += 1
    return NGX_AGAIN


def request_content_length(r):
    """r->headers_in.content_length_n: the Content-Length header, or -1."""
    for k, v in r.headers:
        if k.lower() == "content-length":
            return int(v) if v.strip().isdigit() else -1
    return -1


def check_modelled(r):
    """The location a request reached holds a directive the model cannot
    simulate (the reader kept it there instead of refusing the whole config)."""
    if r.location is not None and r.location.refused:
        raise r.worker.refuse(f"{r.location.refused} (the location {r.uri} reached)")


def core_rewrite_phase(r, handler):
    """ngx_http_core_rewrite_phase."""
    rc = handler(r)
    if rc == NGX_DECLINED:
        r.phase_handler += 1
        return NGX_AGAIN
    if rc == NGX_DONE:
        return NGX_OK
    request.finalize_request(r, rc)
    return NGX_OK


def core_post_rewrite_phase(r, _handler):
    """ngx_http_core_post_rewrite_phase: a changed URI finds its location again."""
    if not r.uri_changed:
        r.phase_handler += 1
        return NGX_AGAIN
    r.uri_changes -= 1
    if r.uri_changes == 0:
        r.worker.log_error("error", "rewrite or internal redirection cycle while processing "
                                    f"\"{r.uri}\"", r)
        request.finalize_request(r, 500)
        return NGX_OK
    r.phase_handler = 0
    return NGX_AGAIN


def core_access_phase(r, handler):
    """ngx_http_core_access_phase: with satisfy all every handler must pass; with
    satisfy any the first NGX_OK skips the rest, and a 403 waits in
    r->access_code for ngx_http_core_post_access_phase."""
    if r is not r.main:                     # subrequests skip the access phase
        r.phase_handler = next_phase(r)
        return NGX_AGAIN
    rc = handler(r)
    if rc == NGX_DECLINED:
        r.phase_handler += 1
        return NGX_AGAIN
    if rc in (NGX_AGAIN, NGX_DONE):
        return NGX_OK
    if r.worker.location_setting(r, "satisfy", "all") == "all":
        if rc == NGX_OK:
            r.phase_handler += 1
            return NGX_AGAIN
    elif rc == NGX_OK:
        r.access_code = 0
        r.phase_handler = next_phase(r)
        return NGX_AGAIN
    elif rc in (403, 401):
        if r.access_code != 401:
            r.access_code = rc
        r.phase_handler += 1
        return NGX_AGAIN
    request.finalize_request(r, rc)
    return NGX_OK


def core_post_access_phase(r, _handler):
    """ngx_http_core_post_access_phase: a refusal kept by satisfy any."""
    if r.access_code:
        code, r.access_code = r.access_code, 0
        if code == 403:
            r.worker.log_error("error", "access forbidden by rule", r)
        request.finalize_request(r, code)
        return NGX_OK
    r.phase_handler += 1
    return NGX_AGAIN


def next_phase(r):
    """ph->next: the first handler of the next phase."""
    engine = r.worker.phase_engine
    i = r.phase_handler
    while i < len(engine) and engine[i][0] == engine[r.phase_handler][0]:
        i += 1
    return i


def core_content_phase(r, _handler):
    """ngx_http_core_content_phase: the location's handler (clcf->handler,
    set by its content directive), or the static module."""
    w = r.worker
    name = (r.location.content_handler or "") if r.location is not None else ""
    if name:
        handler = next((h for prefix, h in w.content_handlers if name.startswith(prefix)), None)
        if handler is None:
            raise w.unsupported(f'the content handler "{name}"')
        r.write_event_handler = lambda req: None      # ngx_http_request_empty_handler
        request.finalize_request(r, handler(r))
        return NGX_OK
    request.finalize_request(r, content.static_handler(r))
    return NGX_OK


# --------------------------------------------------------------- redirects
def internal_redirect(r, uri, args):
    """ngx_http_internal_redirect: the request starts over at `uri`, every
    module's ctx is dropped, and it takes one more reference."""
    r.uri_changes -= 1
    if r.uri_changes == 0:
        r.worker.log_error("error", "rewrite or internal redirection cycle while internally "
                                    f"redirecting to \"{uri}\"", r)
        request.count_change(r, +1, "internal redirect")
        request.finalize_request(r, 500)
        return NGX_DONE
    r.uri, r.args = uri, args               # "" (a bare '?') is not None: $args is ""
    r.ctx = None
    r.internal = True
    r.worker.fire("internal_redirect", uri=r.unparsed_uri)
    request.count_change(r, +1, f"internal redirect to {r.unparsed_uri}")
    handler(r)
    return NGX_DONE


def named_location(r, name):
    """ngx_http_named_location."""
    w = r.worker
    loc = w.config.servers[0].named(name)
    request.count_change(r, +1, f"named location {name}")
    if loc is None:
        w.log_error("error", f"could not find named location \"{name}\"", r)
        request.finalize_request(r, 500)
        return NGX_DONE
    r.uri_changes -= 1
    r.location = loc
    check_modelled(r)
    r.internal = True
    r.ctx = None                        # the modules' contexts are cleared
    w.fire("internal_redirect", uri=name)
    r.phase_handler = location_rewrite_index(w)
    r.write_event_handler = core_run_phases
    core_run_phases(r)
    return NGX_DONE


# -------------------------------------------------------------- subrequests
def subrequest(r, uri, args, post_subrequest):
    """ngx_http_subrequest: a GET subrequest of `r` that shares its headers,
    body and variables, takes a reference (r->main->count++) and is posted
    at the tail; it joins r->postponed, and takes c->data when `r` holds it
    with nothing postponed yet.  None past the nesting depth (each
    subrequest has one less than its parent)."""
    w = r.worker
    if r.subrequests == 0:
        w.log_error("error", f'subrequests cycle while processing "{uri}"', r)
        return None
    from .request import Request                # (request.py imports this module)
    w.nreq += 1
    main = r.main
    c = r.connection
    sr = Request(connection=c, method="GET", uri=uri, args=args,
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
    sr.set_vars = r.set_vars            # sr->variables = r->variables
    sr.post_subrequest = post_subrequest
    sr.write_event_handler = handler
    sr.subrequests = r.subrequests - 1
    w.fire("http_subrequest", uri=sr.unparsed_uri)
    if request.active(c) is r and not r.postponed:
        c.active = sr                   # c->data = sr
    r.postponed.append(sr)
    request.count_change(r, +1, f"subrequest {sr.unparsed_uri}")
    request.post_request(sr)
    return sr


# ------------------------------------------------------------------ response
def send_response(r, status, body):
    """ngx_http_send_response: a whole response with a body."""
    r.headers_out_status = status
    rc = response.send_header(r, content_length=len(body))
    if rc == NGX_ERROR or r.header_only:
        return rc
    return response.output(r, body, last=True)
