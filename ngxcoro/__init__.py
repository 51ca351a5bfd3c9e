"""ngxcoro: ngx_lua's coroutine scheduler, modelled in Python, running real Lua.

    >>> import ngxcoro
    >>> res = ngxcoro.run('''
    ... location = /t {
    ...     content_by_lua_block {
    ...         ngx.thread.spawn(function() ngx.say("child") end)
    ...         ngx.say("parent")
    ...     }
    ... }''', "GET /t")
    >>> res.status, res.body
    (200, 'child\\nparent\\n')
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .nginx import conf as _config
from .nginx.http_parse import RequestError, parse_request
import lupa.luajit21 as lupa

from .ngx_lua.args import args_note
from .ngx_lua.timer import timers_note
from .ngx_lua.vm import Runaway, MAX_MEMORY, RunOutOfTime, TooManyCoroutines
from . import peers as _peers
from . import whatif as _whatif
from .trace import Hooks, StapTrace, EventLog
from .trace.listeners import Stream
from .trace.snapshot import Snapshots
from .worker import Worker, Unsupported, CLIENT_TIMEOUT, client_done
from .nginx.response import Wire
from .nginx.event_connect import MODEL_PORT

PORT_PLACEHOLDER = "__PORT__"          # ngxcoro.oracle's

__all__ = ["run", "run_lua", "lua_location", "Result", "Hooks", "parse_request", "RequestError",
           "show", "CLIENT_TIMEOUT", "export_test_nginx"]


@dataclass
class Result:
    status: int | None
    body: str
    error_log: list
    stap: list
    events: list = field(default_factory=list)
    hung: bool = False
    message: str | None = None        # why there is no normal answer (hang, runaway, ...)
    startup_error: str | None = None
    snapshots: list = field(default_factory=list)
    config_text: str = ""
    request: str = ""
    inert: list = field(default_factory=list)   # (directive, line): no effect on the model
    # the model's own answer, not nginx's (not modelled, out of memory, out of wall time)
    refused: bool = False
    notes: list = field(default_factory=list)   # bounds the record hit (steps, events kept)
    client_abort_at: float | None = None        # when the client closed its socket, if it did
    # the wire: the status line and header lines as sent ([] when none went out), the
    # headers as [name, value] in order, and the body as framed (chunked) on the wire
    head: list = field(default_factory=list)
    headers: list = field(default_factory=list)
    raw_body: str = ""
    # a what-if switch (ngxcoro/whatif.py): the run is NOT nginx's when this is set
    what_if: str | None = None
    # what the request carried besides its line: the headers given to run() (not the
    # Host and Connection it adds) and the body (a str, or the list of pieces)
    request_headers: list = field(default_factory=list)
    request_body: object = None
    # the scripted peers' text (ngxcoro.peers) and `nginx -s quit`'s time, as given
    peers: list = field(default_factory=list)
    quit_at: float | None = None

    def to_json(self):
        return {"status": self.status, "body": self.body, "error_log": self.error_log,
                "stap": self.stap, "events": self.events, "hung": self.hung,
                "message": self.message, "startup_error": self.startup_error,
                "inert": [{"directive": n, "line": k} for n, k in self.inert],
                "refused": self.refused, "notes": self.notes,
                **({"what_if": self.what_if} if self.what_if is not None else {}),
                **({"client_abort_at": self.client_abort_at}
                   if self.client_abort_at is not None else {})}

    def dumps(self):
        return json.dumps(self.to_json(), indent=1, sort_keys=True, ensure_ascii=False)




def body_pieces(body):
    """A body as [(delay_seconds, bytes)]: a str arrives with the headers;
    a list of (delay, text) pairs arrives piece by piece."""
    if body is None:
        return []
    if isinstance(body, (str, bytes)):
        body = [(0, body)]
    return [(float(d), t.encode() if isinstance(t, str) else bytes(t)) for d, t in body]


def run(config_text, request="GET /t", headers=(), body=None, *, hooks=None, peers=None,
        filename="nginx.conf", log_level=None, snapshots=False, order=None,
        timeout=CLIENT_TIMEOUT, abort_at=None, quit_at=None, trace=True, what_if=None,
        stream=None):
    """Serve one request with the model of nginx + ngx_lua 0.10.23.

    `config_text` is a whole nginx.conf or the inside of a `server {}`;
    `request` is a request line; `headers` pairs; `body` None, a str, or
    [(delay_seconds, text), ...] for a body that arrives in pieces;
    `log_level` overrides the config's error_log level; `snapshots=True`
    records a snapshot of every step (Result.snapshots); `order` is a
    completion order for timers and subrequests (a list of their labels);
    `timeout` is the client's, in seconds of virtual time (None: none): a
    request still open then is `hung`, and `message` says what keeps it.
    `abort_at` is when the client closes its socket (seconds of virtual time
    after the request; None: never): the answer is then what the client had
    received by that time (`status` only if the whole response had arrived,
    the body bytes that had), `hung` is False, and `client_abort_at` says when
    it closed (None when nginx closed first); nginx goes on
    (lua_check_client_abort and ngx.on_abort decide what it does), and its
    error log says so.
    `peers` are scripted peers cosockets can connect to: a list of peer
    scripts ("127.0.0.1:1990 recv-line; send \"hi\\n\"; close", see
    ngxcoro.peers), run on the virtual clock; a bad script raises
    RequestError (a ValueError) with a one-line message.
    `quit_at` is `nginx -s quit` then (seconds of virtual time after the
    request; None: never): the worker shuts down gracefully (pending lua
    timers run at once with `premature` true, ngx.worker.exiting() is true,
    the request goes on to its end) and the run ends when the worker exits;
    a bad value raises RequestError (a ValueError) with a one-line message.
    `stream`, a function, is handed each stap line ({"stap": line}) and
    each event of the history (a dict, as in `events`) as it happens, and
    the Result keeps neither (`python -m ngxcoro run --stream`).
    `trace=False` attaches no listener at all: no stap lines, no events, no
    snapshots (`snapshots=True` is then a ValueError), so the worker fires
    nothing and plain coroutines switch inside Lua (the answer is the same).
    `what_if` names a what-if switch (ngxcoro.whatif.WHAT_IFS): the model
    with one line of the C changed, NOT nginx; the Result says so
    (`what_if`, `notes`, each snapshot's "what_if", the event log); an
    unknown name raises RequestError (a ValueError) listing the known ones.
    Mistakes in the config or the Lua come back as nginx reports them (in
    `error_log`, `startup_error` or `message`), never as a traceback."""
    check_quit_at(quit_at, timeout)
    _whatif.check(what_if)
    if not trace and (snapshots or hooks is not None or stream is not None):
        raise ValueError("trace=False attaches no listener: no snapshots, no hooks, no stream")
    hooks = hooks if hooks is not None else Hooks()
    stap = hooks.add(StapTrace()) if trace else StapTrace(limit=1)
    if stream is not None:
        stap.lines = Stream(stream, "stap")
    method, uri, args, version = parse_request(request)
    headers = list(headers)
    own_headers, own_body = list(headers), body
    peer_scripts = peers if isinstance(peers, dict) else _peers.parse_peers(peers)
    # the client the model stands for sends what ngxcoro.oracle's does
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", "localhost"))
    if not any(k.lower() == "connection" for k, _ in headers):
        headers.append(("Connection", "close"))
    pieces = body_pieces(body)
    if pieces and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        headers.append(("Content-Length", str(sum(len(p) for _, p in pieces))))
    try:
        # the oracle puts the port real nginx listens on where a scenario writes __PORT__;
        # the model puts its own (nginx/event_connect.py MODEL_PORT) and writes it back
        # as __PORT__ after "127.0.0.1:" in what it answers (_unport), as the oracle does
        conf = _config.load(config_text.replace(PORT_PLACEHOLDER, str(MODEL_PORT)), filename)
    except _config.ConfigError as e:
        startup = getattr(e, "nginx_line", None) or None
        return Result(None, "", [], [], hung=False, message=str(e), startup_error=startup,
                      config_text=config_text, request=request, refused=startup is None,
                      what_if=what_if, notes=[_whatif.banner(what_if)] if what_if else [])
    w = Worker(conf, hooks, log_level)
    # ngxcoro.oracle's client sends a str body with the headers (nginx's preread), and
    # a list of pieces after them, each a write of its own (ngx.req.socket sees the
    # difference: ngx_lua/socket_tcp_read.py BodyConnection)
    w.body_after_headers = body is not None and not isinstance(body, (str, bytes))
    log = hooks.add(EventLog(w.loop)) if trace else EventLog(w.loop, limit=1)
    if stream is not None:
        log.events = Stream(stream)
    snaps = hooks.add(Snapshots(w)) if snapshots else None
    if order:
        w.loop.order = list(order)
    _peers.install(w, peer_scripts)
    _whatif.start(w, what_if)
    message, refused = None, False
    try:
        startup = w.start()           # init_by_lua*: its error stops nginx from starting
        if startup is not None:
            return Result(None, "", [], list(stap.lines), hung=False, message=startup,
                          startup_error=startup, config_text=config_text, request=request,
                          inert=list(conf.inert), what_if=what_if, notes=_whatif.notes(w, None))
        r = w.serve(method, uri, args, version, headers, pieces, timeout=timeout,
                    abort_at=abort_at, quit_at=quit_at)
        hung = not client_done(r.connection)
        if hung:
            message = w.why_hung(r)
            refused = w.vm.out_of_time or w.stopped == "events"
            hung = not refused
            w.fire("hang", message=message)
    except RunOutOfTime:
        hung, refused = False, True
        message = w.why_hung((w.main_r or w.requests[0]).main)
    except TooManyCoroutines as e:
        hung, refused = False, True
        message = w.too_many_coroutines(e.args[0])
    except Runaway:
        hung = True
        message = ("runaway Lua: a coroutine ran more than "
                   f"{w.vm_step_limit_text()} VM instructions (or 5 s) without yielding; "
                   "real nginx would block its worker here")
    except Unsupported as e:
        hung, refused = False, True
        message = str(e)
    except lupa.LuaMemoryError:
        hung, refused = False, True
        message = ("the Lua VM ran out of memory (ngxcoro allows "
                   f"{MAX_MEMORY // 2**20} MB); real nginx would fail with \"not enough memory\"")
    if snaps is not None:
        snaps.thaw()
    wire = w.main_r.connection.wire if w.main_r is not None else Wire()
    status = wire.status if wire.complete else None
    if message or (w.stopped and not (w.main_r is not None and client_done(w.main_r.connection))):
        # a client that gave up, or timed out before nginx closed the connection
        # (ngxcoro.oracle's: no EOF, no status), has no complete response
        status = None
    # bytes written without a status line first (a header filter failed) are not a
    # response: the client (ngxcoro.oracle's) reads no body from them
    body = bytes(wire.body) if wire.status is not None else b""
    # a head nginx still held when the connection closed never reached the client
    head = list(wire.head or []) if wire.status is not None and wire.flushed else []
    if wire.interim and status is not None:
        # an interim "100 Continue" came first: that is the response the client
        # (ngxcoro.oracle's) reads, with no body
        status, head, body = 100, wire.interim[:1], b""
    head = [_unport(h) for h in head]
    if message and what_if is not None:
        message = (f"what-if {what_if} (not nginx): "
                   + message.replace("real nginx would", "nginx with this change would"))
    return Result(status=status, body=_unport(body.decode("utf-8", "replace")),
                  error_log=[_unport(x) for x in w.error_log], stap=list(stap.lines), events=list(log.events), hung=hung,
                  message=message, snapshots=snaps.frames if snaps else [],
                  config_text=config_text, request=request, inert=list(conf.inert),
                  refused=refused, client_abort_at=abort_at if wire.gone else None,
                  head=head, headers=[h.split(": ", 1) for h in head[1:]],
                  raw_body=_unport((bytes(wire.raw) if wire.status is not None else b"").decode(
                      "utf-8", "replace")),
                  notes=_whatif.notes(w, w.main_r)            # a what-if's first: not nginx
                  + [n for n in (timers_note(w), args_note(w), stap.note(), log.note(),
                                 snaps and snaps.note()) if n], what_if=what_if,
                  request_headers=own_headers, request_body=own_body,
                  peers=[str(x) for x in (peers.values() if isinstance(peers, dict)
                                          else peers or ())],
                  quit_at=quit_at)


_MODEL_PORT_TEXT = str(MODEL_PORT)
_MODEL_PORT_RE = re.compile(rf"(?<=127\.0\.0\.1:|localhost:){MODEL_PORT}(?!\d)")


def _unport(text):
    """The model's port written back as __PORT__ (ngxcoro.oracle's _unport)."""
    return _MODEL_PORT_RE.sub(PORT_PLACEHOLDER, text) if _MODEL_PORT_TEXT in text else text


def check_quit_at(quit_at, timeout):
    """A quit time must be seconds >= 0, before the client's timeout."""
    if quit_at is None:
        return
    ok = isinstance(quit_at, (int, float)) and not isinstance(quit_at, bool)
    if not ok or not 0 <= quit_at < (float("inf") if timeout is None else timeout):
        raise RequestError(f"bad quit_at {quit_at!r}: expected seconds >= 0 and before the "
                           f"client's timeout ({timeout:g} s)" if timeout is not None else
                           f"bad quit_at {quit_at!r}: expected seconds >= 0")


def export_test_nginx(result, title=None, **kw):
    """The Test::Nginx block (a str) of a Result: ngxcoro.export; an ExportError (a
    ValueError) with a one-line reason when the run has none."""
    from .export import export_test_nginx as _export
    return _export(result, title=title, **kw)


def lua_location(lua, uri="/t"):
    """A bare Lua chunk as a location block; the chunk's line k is its line k
    (content_by_lua_block's chunk starts right after the `{`)."""
    return f"location = {uri} {{\n    content_by_lua_block {{{lua}\n    }}\n}}\n"


def run_lua(lua, request="GET /t", **kw):
    """run() for a bare Lua chunk, served at the request's URI."""
    uri = parse_request(request)[1]
    return run(lua_location(lua, uri), request, **kw)


def show(config_or_lua, request="GET /t", **run_kw):
    """Run a location block (or a bare Lua chunk) with snapshots and return
    a stepper widget for it (ngxcoro.viz.stepper; needs anywidget)."""
    from .viz.stepper import show as _show
    return _show(config_or_lua, request, **run_kw)
