"""The fake connection and fake request (the part of src/ngx_http_lua_util.c that makes and ends them).

A timer's function runs in a request no client sent: a connection with
fd -1 and a connection number of its own, and a request with count 1, no
URI (debug lines print it "?") and the creator's location.  It ends as the
C ends it: ngx_http_lua_finalize_fake_request -> _close_fake_request
(count--) -> at 0 _free_fake_request (the request cleanups: the Lua one
finalizes the threads and gives back the running-timer slot) and
_close_fake_connection.

These functions are in ngx_http_lua_util.c, whose home is util.py; util.py
is held at 500 lines, so they live here (tests/test_layout.py names this
split as its one exception).
"""
from __future__ import annotations

from ..nginx import request, response


def create_fake_connection(w, context="ngx.timer", addr_text=True):
    """ngx_http_lua_create_fake_connection: fd -1, a new connection number,
    c->error set; its log handler adds ", context: ngx.timer" to errors (and
    the client and server of the creator's connection, when it had them:
    `addr_text`), or ", context: init_worker_by_lua*" alone."""
    w.nrequests += 1
    return request.Connection(fd=-1, number=w.nrequests, wire=response.Wire(), error=True,
                              log_context=context, addr_text=addr_text)


def create_fake_request(w, c, location):
    """ngx_http_lua_create_fake_request: count 1, method UNKNOWN, no URI,
    the body discarded; the confs (`location`) are the creator's."""
    r = request.Request(connection=c, method="UNKNOWN", uri="", args=None,
                        http_version="HTTP/1.0", headers=[])
    w.nreq += 1
    r.id, r.worker, r.location, r.discard_body = w.nreq, w, location, True
    r.server_name = w.main_r.server_name if w.main_r else ""
    c.data = r
    w.requests.append(r)
    return r


def finalize_fake_request(r, rc):
    """ngx_http_lua_finalize_fake_request: log, then close (the fake
    connection has no read or write timers to delete)."""
    c = r.connection
    w = r.worker
    if c.log_context is None:
        # a real connection nginx already closed (ngx_close_connection set fd -1):
        # only close_fake_request's count-- and its alert
        if r.main.count == 0:
            w.log_error("alert", "http lua fake request count is zero", r)
        r.main.count = (r.main.count - 1) % 65536
        return
    w.fire("finalize_fake_request", r=r, rc=rc, a=int(r is c.data), c=r.main.count)
    # NGX_DONE, NGX_ERROR and rc >= 300 skip deleting c->read / c->write timers,
    # which a timer's fake connection never has: every rc closes alike
    close_fake_request(r)


def close_fake_request(r):
    """ngx_http_lua_close_fake_request: count--, free at 0."""
    r = r.main
    w = r.worker
    w.fire("close_fake_request", r=r, c=r.count)
    if r.count == 0:
        w.log_error("alert", "http lua fake request count is zero", r)
    request.count_change(r, -1, "close_fake_request")
    if r.count:
        return
    free_fake_request(r)
    close_fake_connection(r.connection)


def free_fake_request(r):
    """ngx_http_lua_free_fake_request: run the request's cleanups (the Lua
    one: request_cleanup, which gives the running-timer slot back)."""
    r.worker.fire("free_fake_request", r=r)
    request.run_cleanups(r)
    r.freed = True
    r.connection.destroyed = True


def close_fake_connection(c):
    """ngx_http_lua_close_fake_connection: the pool is destroyed, the slot freed."""
    r = c.data
    r.worker.fire("close_fake_connection", r=r)
    c.destroyed = True
