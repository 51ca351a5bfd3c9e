"""The postpone filter (src/http/ngx_http_postpone_filter_module.c): the
output of subrequests goes out in the order they were made.

Only the request that holds c->data (`request.active`) writes; another's
output waits in its own r->postponed list.  Each request's postponed list
holds its subrequests, in order, and the output it made after each of them:
when the active request has a list, the filter sends the output at its
head, or, at a subrequest, hands c->data to that subrequest and posts it.
What passes goes down the chain as the main request's (the chunked and
write filters below see r->main); a subrequest's last buf is only the last
in its chain (ngx_http_send_special), not the response's.  A capture's subrequests never get here:
lua's capture filter above keeps their output.
"""
from __future__ import annotations

from .core import NGX_OK, NGX_ERROR
from . import request


def postpone_filter(r, data, flush, last, nxt):
    """ngx_http_postpone_filter; `data` None is a call with no chain
    (ngx_http_writer's ngx_http_output_filter(r, NULL))."""
    c = r.connection
    if r is not request.active(c):
        if data is not None:
            postpone_filter_add(r, (data, flush, last))
        return NGX_OK
    if not r.postponed:
        if data is not None:
            return nxt(r.main, data, flush, last and r is r.main)
        return NGX_OK
    if data is not None:
        postpone_filter_add(r, (data, flush, last))
    while r.postponed:
        pr = r.postponed[0]
        if isinstance(pr, request.Request):
            r.worker.fire("postpone_wake", uri=pr.log_uri)
            r.postponed.pop(0)
            c.active = pr                           # c->data = pr->request
            request.post_request(pr)
            return NGX_OK
        for data, flush, last in pr:
            if nxt(r.main, data, flush, last and r is r.main) == NGX_ERROR:
                return NGX_ERROR
        r.postponed.pop(0)
    return NGX_OK


def postpone_filter_add(r, piece):
    """ngx_http_postpone_filter_add: the piece joins the output at the tail
    of r->postponed, or starts a new output entry after a subrequest."""
    if r.postponed and not isinstance(r.postponed[-1], request.Request):
        r.postponed[-1].append(piece)
    else:
        r.postponed.append([piece])
