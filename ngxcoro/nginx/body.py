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

from .core import NGX_OK, NGX_AGAIN, NGX_DONE
from . import request


def arrived_by(r):
    """The virtual ms at which the last piece of r's body is in."""
    return request.body_sent_by(r)


def read_client_request_body(r, post_handler):
    """ngx_http_read_client_request_body: count++, then either the body
    is all here (post_handler now, NGX_OK) or NGX_AGAIN and post_handler
    runs when the last piece arrives."""
    w = r.worker
    request.count_change(r, +1, "read client request body")
    if r is not r.main or r.request_body is not None or not r.body_pieces:
        if r.request_body is None and r is r.main:
            r.request_body = b""
        post_handler(r)
        return NGX_OK
    ready = arrived_by(r)
    if ready <= w.loop.now_ms:
        r.request_body = b"".join(p for _, p in r.body_pieces)
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
    r.request_body = b"".join(p for _, p in r.body_pieces)
    r.worker.fire("body_arrived", uri=r.unparsed_uri)
    post_handler(r)
    request.run_posted_requests(r.connection)


def discard_request_body(r):
    """ngx_http_discard_request_body: nothing to do for a subrequest, a body
    read or already being discarded, or one that is all here; otherwise
    count++ and read (and drop) the rest as it arrives."""
    w = r.worker
    if (r is not r.main or r.discard_body or r.request_body is not None or r.reading_body
            or not r.body_pieces):
        return NGX_OK
    w.fire("discard_body", uri=r.unparsed_uri)
    ready = arrived_by(r)
    if ready <= w.loop.now_ms:
        r.request_body = b""
        return NGX_OK
    request.count_change(r, +1, "discard request body")
    r.discard_body = True
    r.body_timer = w.loop.add_timer(ready - w.loop.now_ms,
                                    partial(discarded_request_body_handler, r),
                                    label="client body", kind="request body", owner=r.uri)
    return NGX_OK


def discarded_request_body_handler(r):
    """ngx_http_discarded_request_body_handler: the rest is in and dropped;
    the reference goes back through ngx_http_finalize_request(r, NGX_DONE)."""
    r.body_timer = None
    r.discard_body = False
    r.request_body = b""
    if r.connection.destroyed:
        return
    request.finalize_request(r, NGX_DONE)
    request.run_posted_requests(r.connection)
