"""Reading the request body (src/http/ngx_http_request_body.c).

The body's pieces arrive on the virtual clock, each `delay` seconds after
the one before (the first after the headers).  The reader takes a reference
(r->main->count++) and calls its post handler when the whole body is in.
"""
from __future__ import annotations

from functools import partial

from .core import NGX_OK, NGX_AGAIN
from . import request


def arrived_by(r):
    """The virtual ms at which the last piece of r's body is in."""
    return int(round(sum(d for d, _ in r.body_pieces) * 1000))


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
