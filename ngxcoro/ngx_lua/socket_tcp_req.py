"""ngx.req.socket() (src/ngx_http_lua_socket_tcp.c, ngx_http_lua_req_socket):
the request body read through a socket whose peer is the client.  The body's
pieces arrive on the virtual clock; the upstream and the read loop are the
cosocket's (socket_tcp.py, socket_tcp_read.py), and the end of the body is the
socket's EOF.
"""
from __future__ import annotations

from functools import partial

from ..nginx.phases import request_content_length
from .common import CONTEXT_REWRITE, CONTEXT_ACCESS, CONTEXT_CONTENT
from .protocol import check_context, err, ret
from . import socket_tcp as S


class BodyConnection:
    """The client's connection as ngx.req.socket() reads it: the request
    body's pieces, as they arrive on the virtual clock (the ones sent with
    the headers are in at once: nginx's preread), then the end of the body
    (r->request_body->rest == 0), which the read loop takes for an EOF."""

    def __init__(self, r):
        self.w, self.number, self.fd = r.worker, r.connection.number, 3
        self.host, self.port = "client", 0
        self.rbuf, self.eof, self.error = bytearray(), False, None
        self.read_handler = self.write_handler = None
        self.closed = False
        self.options = {}
        # a body sent with the headers is nginx's preread, there at once; pieces sent
        # after them come with read events, even one already sent (the client
        # connection's read event is not ready: the next turn reports it)
        after = r is r.worker.main_r and getattr(r.worker, "body_after_headers", False)
        t, now, pending = 0, r.worker.loop.now_ms, []
        for delay, piece in r.body_pieces:
            t += round(delay * 1000)
            piece = piece if isinstance(piece, bytes) else piece.encode()
            if t <= now and not after:
                self.rbuf += piece
            else:
                pending.append((max(t, now), piece))
        for i, (t, piece) in enumerate(pending):
            last = i == len(pending) - 1
            if t <= now:
                r.worker.loop.post(lambda p=piece, last=last: self._arrive(p, last),
                                   label="client body")
            else:
                r.worker.loop.add_timer(t - now, lambda p=piece, last=last: self._arrive(p, last),
                                        label="client body", kind="request body", owner=r.uri)
        self.eof = not pending

    def _arrive(self, piece, last):
        if self.closed:
            return
        self.rbuf += piece
        self.eof = last
        if self.read_handler is not None:
            self.read_handler()

    def recv(self, size):
        if self.rbuf:
            data = bytes(self.rbuf[:size])
            del self.rbuf[:size]
            return data
        return b"" if self.eof else None

    def close(self):
        """ngx_http_lua_socket_tcp_finalize of a request socket: only the
        upstream lets go of the client's connection."""
        self.closed = True
        self.read_handler = None


def req_socket(w, *args):
    """ngx_http_lua_req_socket: ngx.req.socket(), the request body's reader
    (the raw socket, ngx.req.socket(true), is not modelled)."""
    n = len(args)
    if n > 1:
        return err(f"expecting zero arguments, but got {n}")
    raw = n == 1 and args[0] is not None and args[0] is not False
    r = w.cur_r
    if r is None:
        return err("no request found")
    if r is not r.main:
        return err("attempt to read the request body in a subrequest")
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower()
                  for k, v in r.headers)
    if not raw and chunked:
        return ret(None, b"chunked request bodies not supported yet")
    msg = check_context(r.ctx, CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT)
    if msg:
        return err(msg)
    if raw:
        raise w.refuse("ngx.req.socket(true), the raw request socket, is not modelled by "
                       "ngxcoro (ngx.req.socket() reading the request body is)")
    if r.request_body is not None or getattr(r, "body_socket", None) is not None:
        return ret(None, b"request body already exists")
    if r.discard_body:
        return ret(None, b"request body discarded")
    if request_content_length(r) <= 0:
        return ret(None, b"no body")
    u = S.Upstream(len(w.sockets) + 1)
    w.sockets.append(u)
    u.request, u.conf = r, S.conf(w, r)
    u.timeouts = (u.conf["connect_timeout"], u.conf["send_timeout"], u.conf["read_timeout"])
    u.body_downstream = True
    u.host, u.port = "client", "body"
    u.pc = BodyConnection(r)
    r.body_socket = u
    r.request_body = b""                     # r->request_body = rb: no bufs (get_body_data: nil)
    u.pc.read_handler = partial(S.socket_tcp_handler, u, False)
    u.cleanup = partial(S.socket_tcp_cleanup, u)
    r.main.cleanups.insert(0, u.cleanup)
    return ret(u.number)
