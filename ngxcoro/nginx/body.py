"""Reading the request body (src/http/ngx_http_request_body.c).

The body's pieces arrive on the virtual clock, each `delay` seconds after
the one before (the first after the headers).  The reader takes a reference
(r->main->count++) and calls its post handler when the whole body is in.
A request that ends without reading a body still on its way discards it
(ngx_http_discard_request_body): that too takes a reference, given back by
ngx_http_discarded_request_body_handler when the rest has come in.
"""
from __future__ import annotations

from functools import partial

from .core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE
from . import request


def arrived_by(r):
    """The virtual ms at which the last piece of r's body is in."""
    return request.body_sent_by(r)


def body_short(r):
    """The client announced more body (Content-Length) than it sends: nginx
    waits for the rest, which never comes."""
    if any(k.lower() == "transfer-encoding" for k, _ in r.main.headers):
        return False
    cl = next((v.strip() for k, v in r.main.headers if k.lower() == "content-length"), "")
    return cl.isdigit() and int(cl) > sum(len(p) for _, p in r.main.body_pieces)


def test_expect(r):
    """ngx_http_test_expect: an HTTP/1.1 client that sent "Expect: 100-continue"
    gets "HTTP/1.1 100 Continue" the first time its body is read or discarded."""
    if r.expect_tested or r.http_version != "HTTP/1.1":
        return
    expect = next((v.strip() for k, v in r.headers if k.lower() == "expect"), None)
    if expect is None:
        return
    r.expect_tested = True
    # it goes to the socket at once, before any output nginx still holds; after output
    # went out it trails the response, and the client reads no more
    if expect.lower() == "100-continue" and not r.connection.wire.flushed:
        r.connection.wire.interim.append("HTTP/1.1 100 Continue")


def read_client_request_body(r, post_handler):
    """ngx_http_read_client_request_body: count++, then either the body
    is all here (post_handler now, NGX_OK) or NGX_AGAIN and post_handler
    runs when the last piece arrives (or, when the rest never comes, the
    request ends 408 client_body_timeout after the last piece)."""
    w = r.worker
    request.count_change(r, +1, "read client request body")
    if r.discard_body:                    # being discarded: no body, at once
        post_handler(r)
        return NGX_OK
    short = r is r.main and body_short(r)
    if r is r.main and r.request_body is None:
        test_expect(r)
    if (r is not r.main or r.request_body is not None or (not r.body_pieces and not short)
            or getattr(r, "body_discarded", False)):
        if r.request_body is None and r is r.main:
            r.request_body = b""
            # "Content-Length: 0": rb->bufs holds one empty buffer
            r.request_body_empty_buf = any(k.lower() == "content-length" and v.strip() == "0"
                                           for k, v in r.headers)
        post_handler(r)
        return NGX_OK
    ready = arrived_by(r)
    if short:
        r.reading_body = True
        wait = max(ready - w.loop.now_ms, 0) + w.location_setting(r, "client_body_timeout", 60000)
        r.body_timer = w.loop.add_timer(wait, partial(read_client_request_body_timeout, r),
                                        label="client body", kind="request body", owner=r.uri)
        return NGX_AGAIN
    if ready <= w.loop.now_ms:
        request_body_save_filter(r)
        post_handler(r)
        return NGX_OK
    r.reading_body = True                # r->request_body is allocated: no discard
    r.body_timer = w.loop.add_timer(ready - w.loop.now_ms,
                                    partial(read_client_request_body_handler, r, post_handler),
                                    label="client body", kind="request body", owner=r.uri)
    return NGX_AGAIN


def read_client_request_body_handler(r, post_handler):
    """ngx_http_read_client_request_body_handler, once the body is complete."""
    r.body_timer = None
    request_body_save_filter(r)
    r.worker.fire("body_arrived", uri=r.unparsed_uri)
    post_handler(r)
    request.run_posted_requests(r.connection)


def read_client_request_body_timeout(r):
    """ngx_http_read_client_request_body_handler on its timer (c->read->timedout):
    the rest of the body did not come in time, the request ends 408."""
    r.body_timer = None
    if r.connection.destroyed:
        return
    r.connection.timedout = True
    request.finalize_request(r, 408)          # NGX_HTTP_REQUEST_TIME_OUT
    request.run_posted_requests(r.connection)


def request_body_save_filter(r):
    """ngx_http_request_body_save_filter: the whole body is in, in memory or,
    when it outgrew the buffer (or client_body_in_file_only), in a temp file.

    The pieces sent with the headers (delay 0) arrive with them: what fits
    the 1k header buffer (client_header_buffer_size) is nginx's preread, and
    the rest too while it fits there.  Otherwise the rest goes through a
    buffer of client_body_buffer_size bytes (grown to the rest when that is
    below 1.25 times the buffer), which is written to the file each time it
    is full and more is to come."""
    w = r.worker
    data = b"".join(p for _, p in r.body_pieces)
    sent_with_headers = 0
    for d, p in r.body_pieces:
        if d:
            break
        sent_with_headers += len(p)
    room = HEADER_BUFFER - header_length(r)
    preread = max(0, min(sent_with_headers, room))
    rest = len(data) - preread
    size = w.location_setting(r, "client_body_buffer_size", 8192)
    in_file_only = w.location_setting(r, "client_body_in_file_only", "off") != "off"
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower()
                  for k, v in r.headers)
    if chunked:
        data = parse_chunked(data)
    r.request_body = data
    if preread and rest <= room - preread:
        rest = 0                          # read into r->header_in
    if chunked:       # no length known: a buffer of the full size (approximated: the
        rest = len(data) if len(data) > size else 0    # chunks' framing is not counted)
        size = 0
    if in_file_only or (rest and rest >= size + (size >> 2)):
        write_request_body(r, data)


def parse_chunked(raw):
    """The chunks' data, as ngx_http_parse_chunked reads them, all at once: without sizes,
    extensions and trailers (a malformed body: what was parsed until then)."""
    out, i = bytearray(), 0
    while True:
        j = raw.find(b"\r\n", i)
        if j < 0:
            break
        try:
            n = int(raw[i:j].split(b";")[0].strip() or b"x", 16)
        except ValueError:
            break
        if n == 0:
            break
        out += raw[j + 2:j + 2 + n]
        i = j + 2 + n + 2
    return bytes(out)


#: client_header_buffer_size's default
HEADER_BUFFER = 1024


def header_length(r):
    """The bytes of the request line and headers, as the client sent them."""
    return (len(r.request_line) + 2 + sum(len(k) + len(v) + 4 for k, v in r.headers) + 2)


def write_request_body(r, data):
    """ngx_http_write_request_body: create the temp file (ngx_create_temp_file,
    logging its name at r->request_body_file_log_level) and keep the body there."""
    w = r.worker
    if r.request_body_file is None:
        r.request_body_file = create_temp_file(w)
        w.fire("body_temp_file", uri=r.unparsed_uri, path=r.request_body_file)
        level = r.body_file_log_level
        if level == "":
            in_file_only = w.location_setting(r, "client_body_in_file_only", "off") != "off"
            level = "notice" if in_file_only else "warn"
        if level != "none":
            w.log_error(level, "a client request body is buffered to a temporary file "
                               + r.request_body_file, r)
    r.request_body = data


def create_temp_file(w):
    """ngx_create_temp_file: the next name under client_body_temp_path (the
    oracle's runner puts it at <prefix>tmp/client, shown as PREFIX_ALIAS)."""
    w.temp_number = getattr(w, "temp_number", 0) + 1
    return f"/usr/share/nginx/tmp/client/{w.temp_number:010d}"


def discard_request_body(r):
    """ngx_http_discard_request_body: nothing to do for a subrequest, a body
    read or already being discarded, or one that is all here; otherwise
    count++ and read (and drop) the rest as it arrives."""
    w = r.worker
    short = r is r.main and body_short(r)
    if r is r.main and not r.discard_body and r.request_body is None:
        test_expect(r)
    if (r is not r.main or r.discard_body or r.request_body is not None or r.reading_body
            or (not r.body_pieces and not short) or getattr(r, "body_discarded", False)):
        return NGX_OK
    w.fire("discard_body", uri=r.unparsed_uri)
    ready = arrived_by(r)
    if ready <= w.loop.now_ms and not short:
        r.body_discarded = True          # content_length_n = 0; r->request_body stays NULL
        return NGX_OK
    request.count_change(r, +1, "discard request body")
    r.discard_body = True
    if short:     # the rest never comes: finalize_connection arms lingering_timeout
        return NGX_OK
    r.body_timer = w.loop.add_timer(ready - w.loop.now_ms,
                                    partial(discarded_request_body_handler, r),
                                    label="client body", kind="request body", owner=r.uri)
    return NGX_OK


def discarded_request_body_timeout(r):
    """ngx_http_discarded_request_body_handler on its read timer (armed by
    ngx_http_finalize_connection, lingering_timeout): c->error, NGX_ERROR."""
    r.body_timer = None
    if r.connection.destroyed:
        return
    r.connection.timedout = r.connection.error = True
    request.finalize_request(r, NGX_ERROR)
    request.run_posted_requests(r.connection)


def discarded_request_body_handler(r):
    """ngx_http_discarded_request_body_handler: the rest is in and dropped;
    the reference goes back through ngx_http_finalize_request(r, NGX_DONE)."""
    r.body_timer = None
    r.discard_body = False
    r.body_discarded = True              # content_length_n = 0; r->request_body stays NULL
    if r.connection.destroyed:
        return
    request.finalize_request(r, NGX_DONE)
    request.run_posted_requests(r.connection)
