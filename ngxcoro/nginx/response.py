"""The response on the wire: the status line and headers, nginx's built-in
error pages, the chunk framing, the charset appended to Content-Type, and the
write filter that holds small output back (src/http/ngx_http_header_filter_module.c,
ngx_http_special_response.c, ngx_http_write_filter_module.c,
ngx_http_chunked_filter_module.c, ngx_http_charset_filter_module.c).

I/O is instant: whatever nginx hands to the socket reaches the client.  The
head the model writes is byte for byte nginx's (tests/test_wire.py), but for
Date's value, which is the virtual clock's second.
"""
from __future__ import annotations

import time

from .core import NGX_OK, NGX_ERROR
from . import body as request_body

NGINX_VERSION = "nginx/1.22.1"
POSTPONE_OUTPUT = 1460

# ngx_http_status_lines (the ones nginx has; others are sent as "NNN ")
STATUS_LINES = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Moved Temporarily", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Not Allowed", 406: "Not Acceptable", 408: "Request Time-out",
    409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Large",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    421: "Misdirected Request", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
    505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}
# charset_types' default (ngx_http_charset_default_types)
CHARSET_TYPES = ("text/html", "text/xml", "text/plain", "text/vnd.wap.wml",
                 "application/javascript", "application/rss+xml")
# where the built-in page's title differs from the status line
PAGE_TITLES = {302: "Found", 401: "Authorization Required"}
# statuses with a built-in error page (ngx_http_error_pages)
ERROR_PAGE_STATUSES = set(range(301, 309)) - {304, 305, 306} | set(range(400, 417)) | {
    421, 429, 494, 495, 496, 497, 500, 501, 502, 503, 504, 505, 507}


def error_page(status, tokens=True):
    """The body of nginx's built-in page for `status`: its tail names the
    version with server_tokens on (and build: this build has no build name),
    plain "nginx" with off (ngx_http_error_full_tail / ngx_http_error_tail)."""
    title = f"{status} {PAGE_TITLES.get(status, STATUS_LINES.get(status, ''))}".rstrip()
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>{NGINX_VERSION if tokens else 'nginx'}</center>\r\n</body>\r\n"
            "</html>\r\n").encode()


class Wire:
    """What the client has received, and what nginx still holds back
    (the write filter waits for postpone_output bytes, a flush or the last
    buf before it writes)."""

    def __init__(self):
        self.status = None          # status line sent
        self.head = None            # the status line and header lines sent
        self.raw = bytearray()      # the body bytes on the wire (chunk framing included)
        self.body = bytearray()     # body bytes that reached the client
        self.complete = False       # the client has a whole response
        self.closed = False
        self.gone = False           # the client closed its socket: it reads no more
        self.reset = False          # ... and its kernel answered a write with a reset
        self._held = []             # (wire size, body bytes, last)
        self._held_size = 0
        self.chunked = False
        self.keepalive = False      # r->keepalive: "Connection: keep-alive", the connection stays
        self.keepalive_timeout = 0  # ... for this long (the location's keepalive_timeout)
        self.requests = 1           # c->requests: this request's number on its connection
        self.listener = None        # called with the wire when bytes go out (a cosocket peer)
        self.interim = []           # interim status lines sent first ("100 Continue")
        self.flushed = False        # output has gone to the socket

    def write(self, size, data, flush=False, last=False, raw=None):
        """ngx_http_write_filter: hold small output, send it all on flush/last.
        True when it went to the socket (to a client that left: nowhere).
        `raw` is `data` as framed on the wire (chunked), if it differs."""
        if self.closed:
            return False
        self._held.append((data, last, data if raw is None else raw))
        self._held_size += size
        if last or flush or self._held_size >= POSTPONE_OUTPUT:
            self.flushed = True
            for data, last, raw in self._held:
                if not self.gone:
                    self.body += data
                    self.raw += raw
                    self.complete = self.complete or last
            self._held, self._held_size = [], 0
            if self.listener is not None:
                self.listener(self)
            return True
        return False

    def sent_bytes(self):
        """Every byte the client has received: the head, then the body as
        framed (what a cosocket reading back from this server gets)."""
        first = "".join(line + "\r\n\r\n" for line in self.interim).encode("latin-1")
        if self.head is None:
            return first
        return first + ("\r\n".join(self.head) + "\r\n\r\n").encode("latin-1") + bytes(self.raw)

    def held(self):
        """Output nginx is still holding back."""
        return b"".join(d for d, _, _ in self._held)

    def close(self):
        """The connection closes: held output is lost."""
        self._held, self._held_size = [], 0
        self.closed = True


def special_response_handler(r, status):
    """ngx_http_special_response_handler: the location's error_page for the
    status (once per request: recursive_error_pages is off), else the
    built-in page.  An error_page after the header went out is not modelled."""
    w = r.worker
    page = w.location_setting(r, "error_pages", {}).get(status)
    r.err_status = status
    r.expect_tested = True                # no "100 Continue" after this
    if page is not None and r.header_sent:
        raise w.refuse(f'directive "error_page" is valid nginx but is not modelled by ngxcoro '
                       f'in {w.config.filename}:{page[0]} (the request\'s status {status} would '
                       'use it after the header was sent)')
    if page is not None and not r.error_page and r.uri_changes != 0:
        r.error_page = True
        rc = send_error_page(r, page[1], page[2])
        if rc is not None:
            return rc
        status = r.err_status                 # an external redirect: its 3xx page
    if r.header_sent:
        r.worker.log_error("alert", "header already sent", r)
        return NGX_ERROR
    tokens = r.worker.location_setting(r, "server_tokens", "on") != "off"
    request_body.discard_request_body(r)
    body = error_page(status, tokens) if status in ERROR_PAGE_STATUSES else b""
    if body:                                  # ngx_http_send_special_response
        r.content_type = "text/html"
    # ngx_http_clear_accept_ranges, _last_modified, _etag
    r.headers_out[:] = [h for h in r.headers_out
                        if h[0].lower() not in ("accept-ranges", "last-modified", "etag")]
    r.headers_out_status = status
    rc = send_header(r, content_length=len(body))
    if rc == NGX_ERROR or r.header_only:
        return rc
    output(r, body, last=True)
    return NGX_OK


def send_error_page(r, overwrite, value):
    """ngx_http_send_error_page: "=code" sets the status ("=" leaves it to the
    page); a "/uri" is an internal redirect (as GET, but HEAD), "@name" a
    named location (NGX_DONE either way); any other value is a redirect the
    client follows (None: send the 302, or the "=3xx", page)."""
    from . import phases
    from .variables import expand
    if overwrite >= 0:
        r.err_status = overwrite
    uri = expand(r, value)
    if uri.startswith("/"):
        uri, _, args = uri.partition("?")
        if r.method != "HEAD":
            r.method = "GET"
        return phases.internal_redirect(r, uri, args or None)
    if uri.startswith("@"):
        return phases.named_location(r, uri)
    if overwrite not in (301, 302, 303, 307, 308):
        r.err_status = 302
    r.headers_out[:] = [h for h in r.headers_out if h[0].lower() != "location"]
    r.headers_out.append(["Location", uri])
    return None


def filter_finalize_request(r, status):
    """ngx_http_filter_finalize_request: a filter answers `status` instead
    (the headers are cleaned, the error page goes out); NGX_ERROR when it
    went out, and the request's NGX_OK finalization then closes it
    (r->filter_finalize sets c->error)."""
    r.headers_out_status = 0
    r.filter_finalize = True
    rc = special_response_handler(r, status)
    return NGX_ERROR if rc == NGX_OK else rc


def send_header(r, content_length=None):
    """ngx_http_send_header: the header goes down ngx_http_top_header_filter
    (the worker wires the chain: lua's header filter, its capture filter,
    then header_filter below)."""
    if r.header_sent:
        r.worker.log_error("alert", "header already sent", r)
        return NGX_ERROR
    if r.err_status > 0:
        r.headers_out_status = r.err_status
    r.content_length_n = content_length
    return r.worker.top_header_filter(r)


def header_filter(r):
    """ngx_http_header_filter, the last header filter: the status line and
    headers go out (a subrequest's are not written)."""
    r.header_sent = True
    if (r.headers_out_status or 200) in (204, 304):
        r.header_only = True
    if r is not r.main:
        return NGX_OK
    if r.method == "HEAD":                    # set here, when the header goes out
        r.header_only = True
    content_length = r.content_length_n
    status = r.headers_out_status or 200
    wire = r.connection.wire
    if not wire.gone:                         # what the client saw stays as it was
        wire.status = status
    own_length = [v for n, v in r.headers_out if n.lower() == "content-length" and v.isdigit()]
    if own_length and content_length is None:  # set by Lua: headers_out.content_length_n
        content_length = int(own_length[-1])
    # ngx_http_chunked_header_filter: not for 204, 304, HEAD
    if r.trailers and r.http_version == "HTTP/1.1":   # r->expect_trailers: chunked anyway
        content_length = None
    wire.chunked = (content_length is None and r.http_version == "HTTP/1.1"
                    and status not in (204, 304) and r.method != "HEAD"
                    and r.worker.location_setting(r, "chunked_transfer_encoding", True))
    if wire.keepalive and content_length is None and not wire.chunked and not r.header_only \
            and status not in (204, 304) and r.method != "HEAD":
        wire.keepalive = False                # ngx_http_chunked_header_filter: no length
    if status in (400, 413, 414, 494, 495, 496, 497):
        wire.keepalive = False                # ngx_http_special_response_handler
    wire.keepalive_timeout = r.worker.location_setting(r, "keepalive_timeout", 0)
    wire.keepalive = (wire.keepalive and wire.keepalive_timeout > 0       # clcf->keepalive_*
                      and wire.requests < r.worker.location_setting(r, "keepalive_requests", 1000))
    head = header_lines(r, status, content_length, wire.chunked)
    if not wire.gone:
        wire.head = head
    # ngx_http_header_filter: a header-only response (HEAD, 204, 304) ends
    # with its header: that buf is the last one (b->last_buf = 1)
    if r.connection.error:                    # ngx_http_write_filter's first check
        return NGX_ERROR
    size = sum(len(h) + 2 for h in head) + 2
    return sent_to_gone_client(r, wire.write(size, b"", last=r.header_only))


def header_lines(r, status, content_length, chunked):
    """ngx_http_header_filter's text: the status line, then Server (unless a
    header of that name was set), Date (the virtual clock: ngx_cached_http_time),
    Content-Type (none for a 204), Content-Length or Transfer-Encoding: chunked,
    Connection: close (the oracle's client asks for it; keepalive is off), then
    the headers set on the request (ngx.header, more_set_headers), in order."""
    w = r.worker
    own = {name.lower() for name, _ in r.headers_out}
    version = "HTTP/1.1"                      # nginx answers 1.1 to 1.0 clients too
    reason = STATUS_LINES.get(status)
    head = [f"{version} {status} {reason}" if reason else f"{version} {status} "]
    if "server" not in own:
        tokens = w.location_setting(r, "server_tokens", "on") != "off"
        head.append(f"Server: {NGINX_VERSION if tokens else 'nginx'}")
    if "date" not in own:
        head.append("Date: " + http_time(w.loop.epoch_seconds()))
    ctype = r.content_type
    if ctype is None and status != 304:       # ngx_http_set_content_type (lua: not for 304)
        ctype = w.location_setting(r, "default_type", "text/plain")
    charset = w.location_setting(r, "charset", "off")
    if ctype and charset != "off" and ctype in CHARSET_TYPES:   # ngx_http_charset_header_filter
        ctype += f"; charset={charset}"
    if ctype and status != 204:
        head.append(f"Content-Type: {ctype}")
    if chunked:
        head.append("Transfer-Encoding: chunked")
    elif content_length is not None and status != 204 and "content-length" not in own:
        head.append(f"Content-Length: {content_length}")
    if r.location_out:                        # made absolute: Host, and the port that
        host = next((v for k, v in r.headers if k.lower() == "host"), "localhost")
        host = host.split(":")[0]             # is not 80 (the oracle's: __PORT__)
        head.append(f"Location: http://{host}:__PORT__{r.location_out}")
    head.append("Connection: keep-alive" if r.connection.wire.keepalive else "Connection: close")
    if gzip_vary(r, status, ctype, content_length):
        head.append("Vary: Accept-Encoding")
    head += [f"{name}: {value}" for name, value in r.headers_out if value != ""]
    return head


def gzip_vary(r, status, ctype, content_length):
    """r->gzip_vary as ngx_http_gzip_header_filter sets it (gzip on, a status
    of 200, 403 or 404, a type in gzip_types, a length unknown or at least
    gzip_min_length: whether or not the client accepts gzip), written when
    gzip_vary is on.  The compression itself is not modelled."""
    w = r.worker
    if not (w.location_setting(r, "gzip", False) and w.location_setting(r, "gzip_vary", False)):
        return False
    types = w.location_setting(r, "gzip_types", ()) + ("text/html",)
    base = (ctype or "").split(";")[0].strip().lower()
    min_length = w.location_setting(r, "gzip_min_length", 20)
    return (status in (200, 403, 404)
            and ("*" in types or base in types)
            and (content_length is None or content_length >= min_length))


def http_time(seconds):
    """ngx_http_time: "Sun, 01 Jan 2023 00:00:00 GMT" (whole seconds, as
    ngx_time_update caches it)."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(seconds)))


def output(r, data, flush=False, last=False):
    """ngx_http_output_filter: down ngx_http_top_body_filter (lua's body
    filter, its capture filter that keeps a subrequest's output for the
    parent, then write_filter); NGX_ERROR from any filter sets c->error."""
    rc = r.worker.top_body_filter(r, data, flush, last)
    if rc == NGX_ERROR:
        r.connection.error = True
    return rc


def write_filter(r, data, flush=False, last=False):
    """ngx_http_write_filter, the last body filter (the chunked filter's
    framing counted in): the wire holds small output back.  A subrequest's
    output that no capture took goes nowhere."""
    if r is not r.main:
        return NGX_OK
    if r.connection.error:
        return NGX_ERROR
    wire = r.connection.wire
    raw = bytes(data)
    if wire.chunked:                          # ngx_http_chunked_body_filter's framing
        raw = (f"{len(data):x}\r\n".encode() + raw + b"\r\n") if data else b""
        if last:                              # add_trailer's in the last chunk
            raw += b"0\r\n" + "".join(f"{n}: {v}\r\n" for n, v in r.trailers).encode() + b"\r\n"
    if r.connection.error:                    # ngx_http_write_filter's first check
        return NGX_ERROR
    return sent_to_gone_client(r, wire.write(len(raw), bytes(data), flush=flush, last=last,
                                             raw=raw))


def sent_to_gone_client(r, sent):
    """ngx_http_write_filter's send (c->send_chain, writev) when the client
    has closed its socket: the first write still goes into the kernel, and
    the client's kernel answers with a reset, a read event on the connection
    in the next loop turn; a later write fails: "writev() failed (32: Broken
    pipe)" (info), c->error, NGX_ERROR."""
    c = r.connection
    if not sent or not c.wire.gone:
        return NGX_OK
    if c.wire.reset:
        r.worker.log_error("info", "writev() failed (32: Broken pipe)", r)
        c.error = True
        return NGX_ERROR
    c.wire.reset = True
    from .request import request_handler         # (request.py imports this module)
    r.worker.loop.post(lambda: request_handler(c), label="client reset")
    return NGX_OK
