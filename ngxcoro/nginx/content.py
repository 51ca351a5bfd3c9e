"""Content that is not Lua, at run time: the rewrite module's `set` and
`return` (src/http/modules/ngx_http_rewrite_module.c), the static module
(ngx_http_static_module.c: a missing file is a 404) and proxy_pass to this
same server (ngx_http_proxy_module.c, ngx_http_upstream.c).  The echo
module's content handler is nginx/echo.py.

Enough of each to serve the locations a lesson captures or redirects to.
"""
from __future__ import annotations

import re
from functools import partial

from .core import NGX_OK, NGX_DONE, NGX_DECLINED
from .variables import expand
from . import body, phases, request, response


# ---------------------------------------------------------- rewrite module
def rewrite_handler(r):
    """ngx_http_rewrite_handler: `set` and `return`, in config order."""
    loc = r.location
    if loc is None:
        return NGX_DECLINED
    for d in loc.directives:
        if d.name == "set":
            r.set_vars[d.args[0].lstrip("$").lower()] = expand(r, d.args[1])
        elif d.name == "return":
            return script_return_code(r, d.args)
    return NGX_DECLINED


def script_return_code(r, args):
    """ngx_http_script_return_code."""
    if not args[0].isdigit():                       # return URL;
        r.headers_out_status = 302
        set_location(r, expand(r, args[0]))
        return 302
    code = int(args[0])
    if code < 400 or len(args) > 1:
        text = expand(r, args[1]) if len(args) > 1 else ""
        if 301 <= code <= 308 and code != 304 and len(args) > 1:
            set_location(r, text)
            return code                             # a redirect with Location
        return phases.send_response(r, code, text.encode())
    return code


def set_location(r, url):
    """r->headers_out.location (ngx_http_script_return_code): a URL that starts
    with "/" is made absolute by the header filter (absolute_redirect on)."""
    if url.startswith("/"):
        r.location_out = url
    else:
        r.headers_out.append(["Location", url])


# ----------------------------------------------------------- static module
def static_handler(r):
    """ngx_http_static_handler on a file that does not exist; a method other than
    GET, HEAD and POST is refused first (the index module declines it too)."""
    if r.method not in ("GET", "HEAD", "POST"):
        return 405                                   # NGX_HTTP_NOT_ALLOWED
    w = r.worker
    root = w.location_setting(r, "root", "html")
    if not root.startswith("/"):
        root = "/usr/share/nginx/" + root          # this nginx's --prefix
    if w.location_setting(r, "log_not_found", True):
        w.log_error("error", f"open() \"{root.rstrip('/')}{r.uri}\" failed "
                             "(2: No such file or directory)", r)
    return 404


# -------------------------------------------------------------- proxy_pass
def proxy_handler(r):
    """ngx_http_proxy_handler, for an upstream that is this same server
    (the usual way to get a truly asynchronous upstream in a test): the
    upstream request is served by this worker on a connection of its own,
    and its response is relayed when that connection closes."""
    w = r.worker
    d = next(d for d in r.location.directives if d.name == "proxy_pass")
    # with variables the URL is made per request (ngx_http_proxy_eval), and a
    # URI in it is sent as it is, in place of the request's
    url = expand(r, d.args[0]) if "$" in d.args[0] else d.args[0]
    pattern = r"https?://127\.0\.0\.1" if url != d.args[0] else r"https?://(?:127\.0\.0\.1|localhost)"
    m = re.match(pattern + r"(?::([^/?]*))?([/?].*)?$", url)
    if not m:
        raise w.unsupported(f"proxy_pass to {d.args[0]} (only this server itself)")
    if not w.listens_on(m.group(1) or "80"):
        w.log_error("error", "connect() failed (111: Connection refused) while "
                             "connecting to upstream", r)
        return 502
    path = m.group(2)
    uri, args = r.uri, r.args
    loc = r.location
    if url != d.args[0] and path is not None:
        uri, _, args = path.partition("?")
        args = args or None
    elif path is not None and loc.modifier in ("", "^~", "=") and uri.startswith(loc.pattern):
        uri = path + uri[len(loc.pattern):]
    elif path is not None:
        uri = path
    return proxy_pass_to(r, uri, args)


def proxy_pass_to(r, uri, args):
    """The upstream starts once the body is read
    (ngx_http_read_client_request_body(r, ngx_http_upstream_init), which
    takes the reference; proxy_request_buffering on): it connects in a later
    event."""
    w = r.worker
    rc = body.read_client_request_body(
        r, lambda r: w.loop.post(partial(upstream_connect, r, uri, args),
                                 label="upstream connect"))
    return rc if rc >= 300 else NGX_DONE


def proxy_host(r):
    """$proxy_host: the upstream's host, with its port unless that is 80
    (written __PORT__ for this server's, as the oracle shows it)."""
    d = next(d for d in r.location.directives if d.name == "proxy_pass")
    url = expand(r, d.args[0]) if "$" in d.args[0] else d.args[0]
    m = re.match(r"https?://([^/:?]+)(?::([^/?]*))?", url)
    host, port = (m.group(1), m.group(2)) if m else ("127.0.0.1", None)
    if port in ("$server_port",) or (port and port.isdigit() and r.worker.listens_on(port)
                                     and port != "80"):
        port = "__PORT__"
    return host if port in (None, "", "80") else f"{host}:{port}"


# the headers ngx_http_proxy_headers (the default proxy_set_header) sets or
# clears, so a request's own are not passed on
PROXY_SET_HEADERS = ("host", "connection", "content-length", "transfer-encoding", "te",
                     "keep-alive", "expect", "upgrade")


def upstream_connect(r, uri, args):
    """The upstream's connection is accepted: a new request, HTTP/1.0 (or
    proxy_http_version's)."""
    w = r.worker
    if r.connection.destroyed:          # ngx_http_upstream_cleanup ran with the request
        return
    headers = [("Host", proxy_host(r)), ("Connection", "close")]
    if r.request_body is not None and phases.request_content_length(r) >= 0:
        # "Content-Length: $proxy_internal_body_length" (the body a Lua API may have set)
        headers.append(("Content-Length", str(len(r.request_body))))
    # then the request's own headers, in order (proxy_pass_request_headers on),
    # but those the default proxy_set_header list sets or empties
    headers += [(k, v) for k, v in r.headers if k.lower() not in PROXY_SET_HEADERS]
    version = "HTTP/" + w.location_setting(r, "proxy_http_version", "1.0")
    request.process_request(w, r.method, uri, args, version, headers,
                            [(0, r.request_body)] if r.request_body else [],
                            on_close=lambda c: w.loop.post(partial(upstream_done, r, c),
                                                           label="upstream response"))


# ngx_http_proxy_hide_headers, and what the upstream module handles itself
PROXY_HIDDEN = ("date", "server", "x-pad", "x-accel-expires", "x-accel-redirect",
                "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset",
                "connection", "transfer-encoding", "keep-alive")


def upstream_headers(r, head):
    """ngx_http_upstream_process_headers: the upstream's headers, in order,
    into r->headers_out (Content-Type and Content-Length into their slots;
    Date, Server and the hop-by-hop ones hidden); the length, or None."""
    length = None
    for line in (head or [])[1:]:
        name, _, value = line.partition(": ")
        key = name.lower()
        if key == "content-type":
            r.content_type = value
        elif key == "content-length" and value.isdigit():
            length = int(value)
        elif key not in PROXY_HIDDEN:
            r.headers_out.append([name, value])
    return length


def upstream_done(r, c):
    """ngx_http_upstream_process_header .. finalize: relay the response."""
    if r.connection.destroyed:          # ngx_http_upstream_cleanup ran with the request
        return
    wire = c.wire
    if wire.status is None or not wire.complete:
        r.worker.log_error("error", "upstream prematurely closed connection while reading "
                                    "response header from upstream", r)
        request.finalize_request(r, 502)
    else:
        r.headers_out_status = wire.status
        rc = response.send_header(r, content_length=upstream_headers(r, wire.head))
        if rc == NGX_OK and not r.header_only:
            response.output(r, bytes(wire.body), last=True)
        request.finalize_request(r, NGX_OK)
    request.run_posted_requests(r.connection)
