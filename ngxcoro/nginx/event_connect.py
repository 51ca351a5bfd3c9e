"""The loopback network under the cosockets: ngx_event_connect_peer
(src/event/ngx_event_connect.c) and what the kernel does under a
non-blocking TCP socket (src/os/unix/ngx_recv.c, ngx_send.c).

A connect names a host and a port, and the network finds what listens
there (`find_peer`):
* this server's own listen port: a peer that serves the bytes it receives
  as HTTP requests, on a connection of this same worker (the worker sets
  `w.self_peer`, a factory);
* a scripted peer the run was given (`w.peers[(host, port)]`, a factory):
  a small description of a peer for lessons (accept, wait, send, close);
* nothing: the connect is refused (ECONNREFUSED), as Linux answers on
  loopback, and the error arrives on the read event in the next turn.

Bytes travel at turn boundaries, as epoll hands them over on loopback: what
one end sends is readable by the other in the next turn (an I/O event,
Loop.post).  A peer is any object with `accepted(pc)`, `data(pc, bytes)` and
`eof(pc)`; it answers through `pc.deliver(bytes)` and `pc.deliver_eof()`.
"""
from __future__ import annotations

from .core import NGX_AGAIN

ECONNREFUSED = "111: Connection refused"


class PeerConnection:
    """ngx_connection_t of a peer connection (pc->connection), with the
    kernel socket's state: what arrived and was not read yet, the peer's FIN."""

    reset = False                   # the peer's kernel answered with a reset (RST)

    def __init__(self, w, number, fd, host, port):
        self.w, self.number, self.fd = w, number, fd
        self.host, self.port = host, port
        self.rbuf = bytearray()     # arrived, not recv()ed yet (the socket's receive buffer)
        self.eof = False            # the peer's FIN arrived: recv answers 0 once rbuf is empty
        self.error = None           # a failed connect's errno text (ECONNREFUSED)
        self.connected = False
        self.closed = False         # nginx closed its end (ngx_close_connection)
        self.read_handler = None    # c->read->handler: run as an I/O event when readable
        self.write_handler = None   # c->write->handler: run when the connect completes
        self.peer = None            # the far end
        self.sent = 0               # bytes nginx sent on it

    # ------------------------------------------------- nginx's end (ngx_recv.c, ngx_send.c)
    def recv(self, size):
        """ngx_unix_recv: up to `size` bytes; b"" at EOF; None when nothing
        is there yet (NGX_AGAIN)."""
        if self.rbuf:
            data = bytes(self.rbuf[:size])
            del self.rbuf[:size]
            return data
        return b"" if self.eof else None

    def send(self, data):
        """ngx_unix_send: loopback buffers take it all; the peer reads it in
        the next turn.  Once the peer has closed its socket (its `closed`),
        what arrives there is answered by a reset, at once on loopback: that
        send went out, the next ones fail with EPIPE (Linux's error for a
        reset in CLOSE_WAIT): NGX_ERROR, with `error` the errno text."""
        if self.reset:
            self.error = EPIPE
            return NGX_ERROR
        self.sent += len(data)
        if getattr(self.peer, "closed", False):
            self.reset = True
            return len(data)
        if self.peer is not None:
            self.w.loop.post(lambda: self.peer.data(self, data), label=f"#{self.number} data")
        return len(data)

    def close(self):
        """ngx_close_connection: the peer sees EOF in the next turn."""
        if self.closed:
            return
        self.closed = True
        self.read_handler = self.write_handler = None
        if self.peer is not None:
            self.w.loop.post(lambda: self.peer.eof(self), label=f"#{self.number} close")

    # ------------------------------------------------------------ the peer's end
    def deliver(self, data):
        """The peer sends `data`: readable in the next turn."""
        if not self.closed:
            self.w.loop.post(lambda: self._arrive(data), label=f"#{self.number} readable")

    def deliver_eof(self):
        """The peer closes (FIN): readable (as EOF) in the next turn."""
        if not self.closed:
            self.w.loop.post(lambda: self._arrive(None), label=f"#{self.number} eof")

    def _arrive(self, data):
        if self.closed:
            return
        if data is None:
            self.eof = True
        else:
            self.rbuf += data
        if self.read_handler is not None:
            self.read_handler()


# a send after the peer's reset (PeerConnection.send)
from .core import NGX_ERROR  # noqa: E402
EPIPE = "32: Broken pipe"


def find_peer(w, host, port):
    """What listens at host:port: a factory making the peer, or None (refused)."""
    peers = getattr(w, "peers", None) or {}
    if (host, port) in peers:
        return peers[(host, port)]
    self_peer = getattr(w, "self_peer", None)
    if self_peer is not None and host in ("127.0.0.1", "localhost") and w.listens_on(port):
        return self_peer
    return None


def connect_peer(w, pc):
    """ngx_event_connect_peer: the non-blocking connect answers NGX_AGAIN
    (EINPROGRESS) on loopback; in the next turn either the write event says
    connected (and the peer accepts) or the read event carries the refusal.
    A `silent` factory stands for a peer whose listen queue is full: the
    SYN is dropped, nothing happens, and nginx's connect timer decides."""
    factory = find_peer(w, pc.host, pc.port)

    def complete():
        if pc.closed or getattr(factory, "silent", False):
            return
        if factory is None:
            pc.error = ECONNREFUSED
            if pc.read_handler is not None:
                pc.read_handler()
            return
        pc.connected = True
        pc.peer = factory(pc)
        if pc.write_handler is not None:
            pc.write_handler()
        w.loop.post(lambda: pc.peer.accepted(pc), label=f"#{pc.number} accept")

    w.loop.post(complete, label=f"#{pc.number} connect")
    return NGX_AGAIN
