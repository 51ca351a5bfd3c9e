"""One nginx worker process: the configuration, the Lua VM, the event loop,
the error log, and the request it serves."""
from __future__ import annotations

import time

from .http import Http, Wire
from .loop import Loop
from .lua import LuaVM, LuaSyntaxError
from .model import Connection, Request, CoStatus
from .phases import Phases
from .echo import Echo
from .req_body import ReqBody
from .subrequest import Subrequests
from . import control
from .trace import Hooks
from . import api

LEVELS = ["", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


class Unsupported(Exception):
    """The Lua or the config uses something the model does not model."""


class Worker:
    def __init__(self, config, hooks=None, log_level=None):
        self.config = config
        self.hooks = hooks if hooks is not None else Hooks()
        self.loop = Loop()
        self.http = Http(self)
        self.phases = Phases(self)
        self.echo = Echo(self)
        self.req_body = ReqBody(self)
        self.subrequests = Subrequests(self)
        self.error_log = []
        level = log_level or getattr(config, "error_log_level", None) or "error"
        self.log_level = LEVELS.index("" if level == "stderr" else level)
        self.internal_error = None
        self.abort = None                 # an Unsupported raised from inside Lua
        self.cur_r = None
        self.main_r = None
        self.coctx_by_id = {}
        self.nnames = {}
        self.nrequests = 0
        self.requests = []                # every request, in creation order
        self.chunk_lines = {}             # chunk name -> config line of its Lua line 1
        self._chunks = {}
        self.vm = LuaVM(api.bind(self), owner=self)

    def guard(self, f):
        """A P function whose Python exceptions are model bugs: keep the
        exception, make Lua raise, and let LuaVM.resume re-raise it."""
        def guarded(*args):
            try:
                return f(*args)
            except Exception as e:           # noqa: BLE001 - re-raised after the resume
                if self.internal_error is None:
                    self.internal_error = e
                return (3, b"ngxcoro internal error")
        return guarded

    def extra_api(self):
        """The P functions that live with the request lifecycle."""
        return {"exit": control.exit, "exec": control.exec, "redirect": control.redirect,
                "set_uri": control.set_uri,
                "read_body": lambda w, *a: self.req_body.read_body(*a),
                "get_body_data": lambda w, *a: self.req_body.get_body_data(*a),
                "capture_multi": lambda w, *a: self.subrequests.capture_multi(*a)}

    # ---------------------------------------------------------------- hooks
    def fire(self, event, **data):
        if self.hooks:
            self.hooks.fire(event, **data)

    def enter_request(self, r):
        """ngx_http_lua_get_req(L) will answer `r` from now on."""
        if self.cur_r is not r:
            self.cur_r = r
            self.vm.set_request(r.id)

    # ------------------------------------------------------------------ log
    def log_error(self, level, msg, r=None):
        """ngx_log_error: a line in nginx's format, if the level passes."""
        if LEVELS.index(level) > self.log_level:
            return
        ts = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(self.loop.epoch_seconds()))
        line = f"{ts} [{level}] 1#1: "
        if r is not None:
            m = r.main
            host = next((v for k, v in m.headers if k.lower() == "host"), None)
            line += (f"*{m.connection.number} {msg}, client: 127.0.0.1, server: {m.server_name}, "
                     f"request: \"{m.request_line}\"")
            if r is not m:
                line += f", subrequest: \"{r.uri}\""
            if host is not None:
                line += f", host: \"{host}\""
        else:
            line += msg
        self.error_log.append(line)
        self.fire("log", level=level, msg=msg)

    def vm_step_limit_text(self):
        from .lua import STEP_LIMIT
        return f"{STEP_LIMIT * 1000:,}"

    def location_setting(self, r, name, default):
        """A setting of r's location (the server's when no location matched)."""
        conf = r.location if r.location is not None else self.config.servers[0]
        return conf.settings.get(name, default)

    def unsupported(self, what):
        return Unsupported(f"{what} is not modelled by ngxcoro")

    # --------------------------------------------------------------- chunks
    def chunk_index(self, chunk):
        """The compiled chunk (ngx_http_lua_cache_loadbuffer): compiled on
        first use; a syntax error is logged as nginx does and gives None."""
        key = id(chunk)
        if key not in self._chunks:
            self.chunk_lines[chunk.chunkname] = chunk.first_line or chunk.line
            try:
                self._chunks[key] = self.vm.compile(chunk.source, chunk.chunkname)
            except LuaSyntaxError as e:
                self._chunks[key] = None
                self.log_error("error", f"failed to load inlined Lua code: {e}", self.cur_r)
                self.fire("load_error", chunk=chunk.chunkname, error=str(e))
        return self._chunks[key]

    # ---------------------------------------------------------------- serve
    def serve(self, method, uri, args, version, headers, body_pieces=()):
        """Serve one client request to its end on the virtual clock."""
        r = self.process_request(method, uri, args, version, headers, body_pieces)
        self.main_r = r
        while not r.connection.destroyed and self.loop.run_once():
            pass
        return r

    def process_request(self, method, uri, args, version, headers, body_pieces=(),
                        on_close=None):
        """ngx_http_process_request ... ngx_http_handler for a new connection."""
        self.nrequests += 1
        c = Connection(number=self.nrequests, wire=Wire(), on_close=on_close)
        r = Request(connection=c, method=method, uri=uri, args=args, http_version=version,
                    headers=list(headers), body_pieces=list(body_pieces))
        r.worker = self
        self.requests.append(r)
        r.request_uri = uri + ("?" + args if args is not None else "")
        r.request_line = f"{method} {r.request_uri} {version}"
        c.data = r
        self.cur_r = r
        r.header_only = method == "HEAD"
        server = self.config.servers[0]
        r.server_name = getattr(server, "server_name", "") or ""
        r.body_pieces = list(body_pieces)
        self.phases.handler(r)
        self.run_posted_requests(c)
        return r

    def run_posted_requests(self, c):
        self.subrequests.run_posted_requests(c)

    def all_co_ctx(self):
        """Every co ctx of the run, in creation order (an entry co ctx is
        one per Lua ctx, reused by its phases)."""
        seen, out = set(), []
        for coctx in self.coctx_by_id.values():
            if id(coctx) not in seen:
                seen.add(id(coctx))
                out.append(coctx)
        return out

    # ---------------------------------------------------------------- hang
    def why_hung(self, r):
        """Real nginx would leave the client waiting: say which threads are
        alive and why nothing will wake them."""
        ctx = r.ctx
        if ctx is None:
            return "the request was never finished and nothing is pending"
        alive = []
        for co in [ctx.entry_co_ctx] + list(ctx.user_co_ctx):
            if co is None or co.co_status == CoStatus.DEAD:
                continue
            what = co.waiting or {
                CoStatus.SUSPENDED: "suspended: nobody will resume it",
                CoStatus.ZOMBIE: "a zombie: finished, waiting for its parent to wait on it or die",
                CoStatus.NORMAL: "normal: it resumed a coroutine that never came back",
                CoStatus.RUNNING: "running but parked with nothing armed to wake it",
            }[co.co_status]
            alive.append(f"{co.name} ({co.co_status.lua_name}; {what})")
        return (f"real nginx would hang here: the request is not finished (r->count {r.main.count}, "
                f"uthreads {ctx.uthreads}) and no timer or event is left to wake it; alive: "
                + (", ".join(alive) if alive else "no coroutine"))
