"""The request and its reference count (src/http/ngx_http_request.c).

`Connection` and `Request` hold the fields of ngx_connection_t and
ngx_http_request_t (src/http/ngx_http_request.h) that the scheduler and the
phase engine touch.  The functions are nginx's: a request starts
(ngx_http_process_request), is finalized with a return code
(ngx_http_finalize_request), gives back one reference of r->main->count at
a time (ngx_http_close_request) and is freed at 0, which closes the
connection (c->destroyed).  Posted requests (subrequests, woken parents)
run from ngx_http_run_posted_requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from .core import NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED
from . import http_parse, phases, response

NGX_HTTP_CLOSE = 444


@dataclass(eq=False)
class Connection:
    """ngx_connection_t: the parts the scheduler reads."""
    fd: int = 3
    destroyed: bool = False
    requests: int = 1
    error: bool = False
    data: object = None
    active: object = None                # c->data: the request whose output may go out now
                                         # (None: the main request; the "a:" of finalize lines)
    number: int = 1                      # the *N of log lines
    wire: object = None                  # what the client receives (response.Wire)
    on_close: object = None              # the upstream waiting for this connection
    log_action: str | None = None        # c->log->action: " while ..." in its log lines
    log_request: bool = True             # ctx->request of c->log->data (NULL once freed)
    addr_text: bool = True               # c->addr_text is set (a fake one may have none)
    lingering: bool = False              # c->read->handler is ngx_http_lingering_close_handler
    read_eof: bool = False               # c->read->eof: the client's FIN was seen
    log_context: str | None = None       # a module's log handler: ", context: ngx.timer"


@dataclass(eq=False)
class Request:
    """ngx_http_request_t: the parts the scheduler and phase engine touch."""
    connection: Connection
    method: str
    uri: str
    args: str | None                  # None when the request had no '?'
    http_version: str
    headers: list
    body_pieces: list = field(default_factory=list)
    main: Request | None = None
    parent: Request | None = None
    count: int = 1
    uri_changed: bool = False
    header_sent: bool = False
    headers_out_status: int = 0
    location: object = None
    ctx: object = None                # ngx_http_get_module_ctx(r, ngx_http_lua_module)
    write_event_handler: object = None
    read_event_handler: object = None  # None: ngx_http_block_reading
    done: bool = False
    freed: bool = False
    phase: str = ""
    cleanups: list = field(default_factory=list)
    header_only: bool = False
    err_status: int = 0
    error_page: bool = False              # r->error_page: an error_page was used
    expect_tested: bool = False           # r->expect_tested
    post_subrequest: object = None
    set_vars: dict = field(default_factory=dict)
    posted_requests: list = field(default_factory=list)   # on the main request
    postponed: list = field(default_factory=list)   # r->postponed: subrequests and output
    request_body: bytes | None = None
    request_body_file: str | None = None   # r->request_body->temp_file's name
    # an empty body kept as one empty buffer (rb->bufs set): a "Content-Length: 0"
    # body that was read, or ngx.req.finish_body with nothing appended
    request_body_empty_buf: bool = False
    body_file_log_level: str = ""          # r->request_body_file_log_level ("": none)
    discard_body: bool = False
    reading_body: bool = False
    content_length: int = -1
    lingering_close: bool = False     # a client request with a body (ngx_http_handler)
    uri_changes: int = 11
    internal: bool = False
    subrequests: int = 51
    sr_data: object = None              # what the capture of a subrequest collects
    access_code: int = 0
    request_uri: str = ""
    request_line: str = ""
    server_name: str = ""
    worker: object = None
    id: int = 1
    phase_handler: int = 0
    content_length_n: int | None = None   # r->headers_out.content_length_n (None: unknown)
    headers_out: list = field(default_factory=list)   # r->headers_out.headers: [name, value]
    content_type: str | None = None       # r->headers_out.content_type, when one was set
    location_out: str | None = None       # r->headers_out.location when relative (return)
    trailers: list = field(default_factory=list)   # add_trailer's, for the last chunk
    filter_finalize: bool = False
    logged: bool = False

    def __post_init__(self):
        if self.main is None:
            self.main = self

    @property
    def unparsed_uri(self):
        return self.uri + ("?" + self.args if self.args else "")

    @property
    def log_uri(self):
        """How nginx's debug lines print it: "%V?%V", so always with a '?'."""
        return f"{self.uri}?{self.args or ''}"


# ------------------------------------------------------------------- start
def process_request(w, method, uri, args, version, headers, body_pieces=(), on_close=None,
                    wire=None):
    """ngx_http_process_request ... ngx_http_handler for a new connection,
    then ngx_http_run_posted_requests."""
    w.nrequests += 1
    c = Connection(number=w.nrequests, wire=wire or response.Wire(), on_close=on_close)
    r = Request(connection=c, method=method, uri=uri, args=args, http_version=version,
                headers=list(headers), body_pieces=list(body_pieces))
    r.worker = w
    w.requests.append(r)
    if w.main_r is None:                 # the client's request (init_worker's come first)
        w.main_r = r
    r.request_uri = uri + ("?" + args if args is not None else "")
    r.request_line = f"{method} {r.request_uri} {version}"
    c.data = r
    w.cur_r = r
    server = w.config.servers[0]
    r.server_name = getattr(server, "server_name", "") or ""
    if http_parse.invalid_method(method):
        # ngx_http_process_request_line: the parser stopped at the method, so no
        # uri was read; the client error is logged at info and answered with 400
        r.uri, r.args = "", None
        w.log_error("info", "client sent invalid method while reading client request line",
                    r)
        finalize_request(r, 400)                       # NGX_HTTP_BAD_REQUEST
        run_posted_requests(c)
        return r
    phases.handler(r)
    run_posted_requests(c)
    return r


def count_change(r, delta, cause):
    """r->main->count++ / --, with the cause, for the event log and pictures.
    The field is `unsigned count:16`: one below zero is 65535."""
    r.main.count = (r.main.count + delta) & 0xFFFF
    r.worker.fire("count", delta=delta, c=r.main.count, cause=cause)


# ---------------------------------------------------------------- finalize
def finalize_request(r, rc):
    """ngx_http_finalize_request."""
    w = r.worker
    c = r.connection
    w.fire("finalize_request", rc=rc, uri=r.log_uri, a=int(r is active(c)), c=r.main.count)
    if rc == NGX_DONE:
        finalize_connection(r)
        return
    if rc == 0 and r.filter_finalize:     # NGX_OK after ngx_http_filter_finalize_request
        c.error = True
    if rc == NGX_DECLINED:
        r.write_event_handler = phases.core_run_phases
        phases.core_run_phases(r)
        return
    if r is not r.main and r.post_subrequest is not None:
        rc = r.post_subrequest(r, rc)
    if rc == NGX_ERROR or rc in (408, 499) or c.error:
        terminate_request(r, rc)
        return
    if rc >= 300 or rc in (201, 204):
        if rc == NGX_HTTP_CLOSE:
            terminate_request(r, rc)
            return
        finalize_request(r, response.special_response_handler(r, rc))
        return
    if r is not r.main:
        if r.postponed:                     # its own output waits (postpone filter)
            set_write_handler(r)
            return
        finalize_subrequest(r, rc)
        return
    if r.postponed:
        set_write_handler(r)
        return
    if r is not active(c):
        w.log_error("alert", f'http finalize non-active request: "{r.log_uri}"', r)
        return
    if rc == NGX_AGAIN:
        return
    r.done = True
    r.write_event_handler = empty_handler   # a late wake-up (a cosocket's) runs nothing
    if c.read_eof:                          # lua's broken-connection check saw the FIN
        close_request(r, 0)
        return
    finalize_connection(r)


def finalize_subrequest(sr, rc):
    """The `r != r->main` branch of ngx_http_finalize_request.  The active
    subrequest (c->data) gives its reference back, leaves its parent's
    postponed list and hands c->data to the parent; one that finished
    early waits for its turn (ngx_http_request_finalizer).  The parent is
    posted at the tail.  For a capture's subrequest lua's post_subrequest
    handler has posted the parent at the head already: real nginx 1.22 +
    lua 0.10.23 then run the parent once per finished subrequest, from the
    head of the queue (scenarios 161, 163: it runs before subrequests
    already posted), so the model adds no second post for it."""
    c = sr.connection
    pr = sr.parent
    w = sr.worker
    if sr is active(c):
        sr.done = True
        count_change(sr, -1, f"subrequest {sr.unparsed_uri} done")
        if pr.postponed and pr.postponed[0] is sr:
            pr.postponed.pop(0)
        c.active = pr                       # c->data = pr
    else:
        w.fire("finalize_non_active", uri=sr.log_uri)
        sr.write_event_handler = request_finalizer
    if sr.sr_data is None:
        post_request(pr)
    w.fire("wake_parent", uri=pr.unparsed_uri)


def active(c):
    """c->data: the request that may send its output now (the main one until
    a subrequest takes it)."""
    return c.active if c.active is not None else c.data


def request_finalizer(r):
    """ngx_http_request_finalizer: a subrequest that finished early ends
    when its turn comes."""
    finalize_request(r, 0)


def set_write_handler(r):
    """ngx_http_set_write_handler: the request waits for its output to go out
    (ngx_http_writer runs when it is posted).  The send_timeout timer it arms
    (60 s) is not modelled: the client gives up first."""
    r.write_event_handler = writer


def writer(r):
    """ngx_http_writer: push what is postponed (ngx_http_output_filter(r,
    NULL)); done when nothing waits any more, then finalize."""
    w = r.worker
    rc = response.output(r, None)
    w.fire("writer", uri=r.log_uri, rc=rc, done=not r.postponed)
    if rc == NGX_ERROR:
        finalize_request(r, rc)
        return
    if r.postponed:
        return
    r.write_event_handler = empty_handler
    finalize_request(r, rc)


def empty_handler(r):
    """ngx_http_request_empty_handler."""


def finalize_connection(r):
    """ngx_http_finalize_connection: keepalive is off (the client says
    Connection: close), so close; the last reference of a request that came
    with a body closes lingering, and so does one whose client closed first
    and nobody read its FIN (c->read->ready)."""
    if r.main.count != 1:
        mr = r.main
        if mr.discard_body and getattr(mr, "body_timer", None) is None:   # the rest never comes
            from . import body
            w = mr.worker
            mr.body_timer = w.loop.add_timer(w.location_setting(mr, "lingering_timeout", 5000),
                                             partial(body.discarded_request_body_timeout, mr),
                                             label="discarded body", kind="request body",
                                             owner=mr.uri)
        close_request(r, 0)
        return
    r = r.main
    if r.connection.wire.keepalive and not r.worker.exiting:
        set_keepalive(r)
        return
    setting = r.worker.location_setting(r, "lingering_close", "on")
    wire = r.connection.wire
    if setting == "always" or (setting == "on" and (r.lingering_close or wire.gone
                                                    or getattr(wire, "read_ready", False))):
        set_lingering_close(r.connection)
        return
    close_request(r, 0)


def set_keepalive(r):
    """ngx_http_set_keepalive: the request is freed and the connection
    stays for the next request (a cosocket to this server that asked for
    keep-alive: its peer, nginx/event_connect.py SelfPeer, reads on)."""
    c = r.connection
    free_request(r, 0)
    c.destroyed = True                      # this request's use of it is over
    c.wire.close()
    if c.on_close is not None:
        on_close, c.on_close = c.on_close, None
        on_close(c)


def set_lingering_close(c):
    """ngx_http_set_lingering_close: shut the writing side (the client has
    the whole answer and closes its end) and close the request when the
    client's EOF is read, an event later: what is posted now still runs."""
    r = c.data
    if c.wire.reset and not c.lingering:    # the client's kernel reset the connection
        r.worker.log_error("info", "shutdown() failed (107: Transport endpoint is not "
                           "connected)", r)
        close_request(r, 0)
        return
    c.wire.close()                          # ngx_shutdown_socket(NGX_WRITE_SHUTDOWN)
    if c.lingering:                         # c->read's handler is set already: one EOF
        return
    c.lingering = True
    if c.on_close is not None:
        # the client is this server's own upstream: it reads our EOF now, finishes, and
        # closes its end; that FIN is what the lingering read then gets
        on_close, c.on_close = c.on_close, None
        wait = on_close(c)
        if callable(wait):                  # a cosocket of this worker: its FIN, when it comes
            wait(lambda: lingering_close_handler(r))
            return
        r.worker.loop.post(lambda: lingering_close_handler(r), label="lingering close")
        return
    # the client reads its EOF once it has sent its whole body (the oracle's client
    # sends every piece first): nginx's lingering close reads and drops the pieces
    # still to come, and the client's FIN after them ends the request
    rest = body_sent_by(r) - r.worker.loop.now_ms
    if rest > 0:
        r.worker.loop.add_timer(rest, lambda: lingering_close_handler(r),
                                label="lingering close", kind="lingering close", owner=r.uri)
    else:
        r.worker.loop.post(lambda: lingering_close_handler(r), label="lingering close")


def body_sent_by(r):
    """The virtual ms at which the client has sent the last piece of its body."""
    return int(round(sum(d for d, _ in r.main.body_pieces) * 1000))


def lingering_close_handler(r):
    """ngx_http_lingering_close_handler: the client's EOF is in."""
    if not r.connection.destroyed:
        close_request(r, 0)


def close_request(r, rc):
    """ngx_http_close_request: one reference less; free at 0."""
    r = r.main
    w = r.worker
    w.fire("close_request", c=r.count)         # "http request count:%d blk:0"
    if r.count == 0:
        w.log_error("alert", "http request count is zero", r)
    count_change(r, -1, "close_request")
    if r.count:
        return
    free_request(r, rc)
    close_connection(r.connection)


def free_request(r, rc):
    """ngx_http_free_request: run the request's cleanup handlers."""
    r.worker.fire("free_request", uri=r.unparsed_uri, r=r)
    run_cleanups(r)
    c = r.connection
    if not r.logged:
        c.log_action = "logging request"
        log_request(r)
    c.log_action = "closing request"
    c.log_request = False                 # ctx->request = NULL: no "request: ..." suffix
    r.freed = True


def log_request(r):
    """ngx_http_log_request: the NGX_HTTP_LOG_PHASE handlers (the worker
    lists them: lua's log handler once any log_by_lua* exists)."""
    r.logged = True
    for handler in r.worker.log_handlers:
        handler(r)


def run_cleanups(r):
    """The r->cleanup list, as ngx_http_free_request and
    ngx_http_terminate_request run it."""
    cleanups, r.cleanups = r.cleanups, []
    for f in cleanups:
        f(r)


def close_connection(c):
    """ngx_http_close_connection (ngx_close_connection sets c->fd to -1)."""
    c.destroyed = True
    c.fd = -1
    c.data.worker.fire("close_connection")
    if getattr(c.data, "body_timer", None) is not None:
        c.data.worker.loop.del_timer(c.data.body_timer)    # ngx_close_connection: c->read's timer
    c.wire.close()
    if c.on_close is not None:
        c.on_close(c)


def terminate_request(r, rc):
    """ngx_http_terminate_request: the cleanups now; then, as the main
    request has a write event handler, the posted requests are dropped and
    ngx_http_terminate_handler is posted in their place: the references
    taken meanwhile are still given back one by one (an ngx.exec's
    NGX_DONE, scenario 403) before the handler closes at count 1."""
    mr = r.main
    mr.worker.fire("terminate_request", c=mr.count, r=r)
    if rc > 0 and (mr.headers_out_status == 0 or not mr.header_sent):
        mr.headers_out_status = rc
    run_cleanups(mr)
    if mr.write_event_handler is not None:
        mr.posted_requests = []
        mr.write_event_handler = terminate_handler
        post_request(mr)
        return
    close_request(mr, rc)


def terminate_handler(r):
    """ngx_http_terminate_handler: count = 1, then close."""
    r.count = 1
    close_request(r, 0)


# ------------------------------------------------------- the client's close
def client_close(c):
    """The client closes its socket (ngxcoro.run's `abort_at`): what it had
    received is all it gets, and nginx sees a read event on the connection
    (the FIN, with epoll), handled by ngx_http_request_handler.  A client
    that already had its EOF has nothing left to abort; one that closes
    before its body is all sent is refused (the oracle's client sends the
    whole body first)."""
    if c.destroyed or c.wire.closed:
        return
    r = c.data
    if body_sent_by(r) > r.worker.loop.now_ms:
        raise r.worker.refuse("a client that closes before it has sent its whole request "
                              "body is not modelled by ngxcoro")
    c.wire.gone = True
    c.data.worker.fire("client_close", uri=c.data.unparsed_uri)
    request_handler(c)


def request_handler(c):
    """ngx_http_request_handler, for a read event: r->read_event_handler(r)
    (ngx_http_block_reading when nobody set another), then
    ngx_http_run_posted_requests."""
    if c.destroyed:                             # closed meanwhile: no event
        return
    r = c.data
    (r.read_event_handler or block_reading)(r)
    run_posted_requests(c)


def block_reading(r):
    """ngx_http_block_reading: the read event is not looked at (epoll keeps
    it registered); a client's close goes unnoticed until nginx writes."""
    r.worker.fire("block_reading")


# ---------------------------------------------------------- posted requests
def post_request(r, head=False):
    """ngx_http_post_request (tail), or lua's
    ngx_http_lua_post_request_to_head (head)."""
    q = r.main.posted_requests
    if head:
        q.insert(0, r)
    else:
        q.append(r)


def run_posted_requests(c):
    """ngx_http_run_posted_requests."""
    while True:
        if c.destroyed:
            return
        main = c.data
        if not main.posted_requests:
            return
        r = main.posted_requests.pop(0)
        r.worker.fire("posted_request", uri=r.unparsed_uri)
        r.write_event_handler(r)
