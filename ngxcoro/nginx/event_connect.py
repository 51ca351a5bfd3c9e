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
# the port the model's server listens on: the oracle writes the real one back as
# __PORT__ (after "127.0.0.1:"), and a Lua __PORT__ (a number in real nginx's
# config, once the oracle has put the port there) is this number in the model
MODEL_PORT = 48001


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
        self.options = {}           # setsockopt's: keepalive, reuseaddr, tcp-nodelay
        self.in_flight = bytearray()  # sent by the peer this turn: readable in the next
        self.fin_in_flight = False
        self.arrival_posted = False

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
        self._in_flight(data)

    def deliver_eof(self):
        """The peer closes (FIN): readable (as EOF) in the next turn."""
        self._in_flight(None)

    def _in_flight(self, data):
        """What the peer sends in one turn reaches the socket together: one
        read event in the next turn finds all of it (and the FIN after it),
        as epoll reports a loopback socket once however many writes filled it."""
        if self.closed:
            return
        if data is None:
            self.fin_in_flight = True
        else:
            self.in_flight += data
        if not self.arrival_posted:
            self.arrival_posted = True
            self.w.loop.post(self._arrive, label=f"#{self.number} readable")

    def _arrive(self):
        self.arrival_posted = False
        if self.closed:
            return
        self.rbuf += self.in_flight
        self.in_flight = bytearray()
        self.eof = self.eof or self.fin_in_flight
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
        if factory is getattr(w, "self_peer", None):
            listen_ready(w, pc)
        else:
            # the listening socket's accept is ready in the same epoll turn, after
            # the connected write event: what the write handler sends comes later
            w.loop.post(lambda: pc.peer.accepted(pc), label=f"#{pc.number} accept")
        if pc.write_handler is not None:
            pc.write_handler()

    w.loop.post(complete, label=f"#{pc.number} connect")
    return NGX_AGAIN


def listen_ready(w, pc):
    """A connection to this server's own port completes its handshake: it
    joins the listening socket's accept queue, and the listening socket
    (level-triggered) is readable in this same epoll turn, right after the
    connected write event (as recorded: the connect's event, then the
    listening socket's), unless epoll reported it in this turn already: then
    it leads the next one."""
    queue = getattr(w, "accept_queue", None)
    if queue is None:
        queue = w.accept_queue = []
    queue.append(pc)
    if getattr(w, "accept_posted", False):
        return
    w.accept_posted = True
    if getattr(w, "accept_turn", None) == w.loop.turn_no:
        w.loop.post_again(lambda: event_accept(w), label="accept")
    else:
        w.loop.post_now(lambda: event_accept(w), label="accept")


def event_accept(w):
    """ngx_event_accept: with multi_accept off (the default) one connection a
    call; while the queue holds more, epoll reports the listening socket again
    in the next turn, first (level-triggered), so two connections made in one
    turn are accepted in two turns, and the second one's request is read a turn
    later."""
    queue = w.accept_queue
    w.accept_posted, w.accept_turn = False, w.loop.turn_no
    pc = queue.pop(0)
    pc.peer.accepted(pc)
    if queue:
        w.accept_posted = True
        w.loop.post_again(lambda: event_accept(w), label="accept")


class SelfPeer:
    """The server side of a connection to this server's own port
    (ngx_event_accept, ngx_http_wait_request_handler ..
    ngx_http_set_keepalive): the bytes received are read as HTTP requests,
    each served by this worker (request.process_request) on the connection;
    what the server writes streams back to the cosocket as the Wire writes
    it; the server closes after the response unless it keeps the connection
    alive (keepalive_timeout > 0 and a keep-alive request), then the next
    request on it is served in turn, and the keepalive timer closes it."""

    def __init__(self, w, pc):
        self.w, self.pc = w, pc
        self.inbuf = bytearray()
        self.busy = False             # a request is being served
        self.closed = False
        self.wire = None
        self.sent = 0
        self.timer = None
        self.requests = 0
        self.from_buffer = False      # the next request comes from what is buffered
        self.client_eof = False       # the cosocket closed its end
        self.on_client_eof = None     # a lingering close waiting for that
        self.linger_timer = None

    readable = False                  # accepted, and its read event reported
    early_eof = False                 # the FIN came before that

    def accepted(self, pc):
        """ngx_http_init_connection: the new connection's read event is added
        to epoll, which reports what the client sent in the next turn."""
        self.w.loop.post(self.first_read, label=f"#{pc.number} read")

    def first_read(self):
        self.readable = True
        self.next_request()
        if self.early_eof:
            self.eof(self.pc)

    def data(self, pc, data):
        self.inbuf += data
        self.from_buffer = False
        self.next_request()

    def eof(self, pc):
        if not self.readable:
            self.early_eof = True
            return
        self.client_eof = True
        if self.timer is not None:
            self.w.loop.del_timer(self.timer)
            self.timer = None
        if not self.busy:
            self.closed = True
        if self.on_client_eof is not None:
            self._client_eof()

    def next_request(self):
        """ngx_http_process_request_line/headers: a whole head (and the body
        its Content-Length says) makes a request."""
        from . import http_parse
        if self.busy or self.closed or not self.readable:
            return
        end = self.inbuf.find(b"\r\n\r\n")
        first = bytes(self.inbuf).split(b" ", 1)[0].split(b"\r", 1)[0].split(b"\n", 1)[0]
        if first and http_parse.invalid_method(first.decode("latin-1")):
            # ngx_http_parse_request_line stops at the first byte that is not a
            # method's: 400 at once, whatever follows
            self.inbuf.clear()
            end, head = 0, [first.decode("latin-1") + " / HTTP/1.0"]
            return self.serve(head, [], b"")
        if end < 0:
            return
        head = self.inbuf[:end].decode("latin-1").split("\r\n")
        headers = [tuple(x.strip() for x in h.split(":", 1)) for h in head[1:] if ":" in h]
        length = next((int(v) for k, v in headers if k.lower() == "content-length"
                       and v.isdigit()), 0)
        if len(self.inbuf) < end + 4 + length:
            return
        body = bytes(self.inbuf[end + 4:end + 4 + length])
        del self.inbuf[:end + 4 + length]
        self.serve(head, headers, body, pipelined=self.requests > 0 and self.from_buffer)

    def serve(self, head, headers, body, pipelined=False):
        """One request on the connection (ngx_http_process_request)."""
        from . import http_parse, request, response
        try:
            method, uri, args, version = http_parse.parse_request(head[0], strict=False)
        except http_parse.RequestError:
            self.close()
            return
        if self.timer is not None:
            self.w.loop.del_timer(self.timer)
            self.timer = None
        self.busy = True
        self.requests += 1
        conn = next((v.lower() for k, v in headers if k.lower() == "connection"), "")
        wire = response.Wire()
        # r->keepalive as the request asks; the header filter drops it for a location
        # whose keepalive_timeout is 0 (the oracle's default)
        wire.keepalive = (("close" not in conn) if version == "HTTP/1.1" else
                          ("keep-alive" in conn))
        wire.listener = self.written
        wire.requests = self.requests
        # a pipelined request (read from what the last one left in the buffer) closes
        # lingering when it does not keep the connection (c->read->ready, as recorded)
        wire.read_ready = pipelined
        self.wire, self.sent = wire, 0
        r = self.w.cur_r
        request.process_request(self.w, method, uri, args, version, headers,
                                [(0, body)] if body else [], on_close=self.server_closed,
                                wire=wire)
        self.w.cur_r = r

    def written(self, wire):
        data = wire.sent_bytes()
        if len(data) > self.sent:
            self.pc.deliver(data[self.sent:])
            self.sent = len(data)

    def server_closed(self, c):
        """The server is done with the request: keep the connection alive
        (ngx_http_set_keepalive) or close it (the cosocket reads EOF)."""
        wire = self.wire
        if wire is not None:
            self.written(wire)
        if wire is not None and getattr(wire, "keepalive", False) and wire.complete \
                and not self.w.exiting:
            self.busy = False
            ms = wire.keepalive_timeout
            self.timer = self.w.loop.add_timer(ms, self.close, label="keepalive",
                                               kind="keepalive_timeout", owner="server",
                                               cancelable=True)
            if self.inbuf:
                # ngx_http_set_keepalive: a pipelined request is read at once, its
                # read event posted (this turn's posted events)
                from .loop import Event
                self.from_buffer = True
                self.w.loop.post_event(Event(self.next_request, label="pipelined request"))
            return
        self.close()
        return self.when_client_closes

    def when_client_closes(self, handler):
        """A lingering close of the server side (ngx_http_set_lingering_close)
        ends when the client's FIN comes in, or at lingering_timeout."""
        if self.client_eof:
            self.w.loop.post(handler, label="lingering close")
            return
        self.on_client_eof = handler
        ms = self.w.config.servers[0].settings.get("lingering_timeout", 5000)
        self.linger_timer = self.w.loop.add_timer(ms, self._client_eof, label="lingering close",
                                                  kind="lingering_timeout", owner="server")

    def _client_eof(self):
        handler, self.on_client_eof = self.on_client_eof, None
        if self.linger_timer is not None:
            self.w.loop.del_timer(self.linger_timer)
            self.linger_timer = None
        if handler is not None:
            handler()

    def close(self):
        self.timer = None
        self.closed = True
        self.busy = False
        self.pc.deliver_eof()
