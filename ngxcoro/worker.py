"""One nginx worker process with its modules: the configuration, the event
loop, the error log, the Lua VM, and the requests it serves.

This is where nginx core and its modules meet, as in nginx's generated
objs/ngx_modules.c and src/core/ngx_cycle.c: the worker builds the phase
engine (ngx_http_init_phase_handlers: the rewrite module and
lua-nginx-module's rewrite and access handlers), the table of content
handlers a location's directive selects (clcf->handler), and the top body
filter (lua's capture filter in front of the write filter).  It also holds
what lua-nginx-module keeps per worker (ngx_http_lua_main_conf_t: the VM,
the compiled chunks) and writes the error log (src/core/ngx_log.c
ngx_log_error).
"""
from __future__ import annotations

import time

from .nginx import content, phases, request
from .nginx.loop import Loop
from .ngx_lua import (by, control, coroutine, misc, output, req_body, sleep, subrequest,
                      uri, uthread, variable)
from .ngx_lua.common import CoStatus
from .ngx_lua.protocol import bind, abort
from .ngx_lua.vm import LuaVM, LuaSyntaxError, STEP_LIMIT
from .trace import Hooks
from .trace.listeners import DebugLog

# the modules whose `API` the Lua shims call (ngx_lua/protocol.py)
API_MODULES = (coroutine, uthread, output, sleep, control, uri, variable, req_body, subrequest,
               misc)

LEVELS = ["", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


class Unsupported(Exception):
    """The Lua or the config uses something the model does not model."""


class Worker:
    def __init__(self, config, hooks=None, log_level=None):
        self.config = config
        self.hooks = hooks if hooks is not None else Hooks()
        self.loop = Loop()
        # cmcf->phase_engine.handlers: (phase, checker, module handler)
        self.phase_engine = [
            ("find_config", phases.core_find_config_phase, None),
            ("rewrite", phases.core_rewrite_phase, content.rewrite_handler),
            ("rewrite", phases.core_rewrite_phase, by.rewrite_handler),
            ("post_rewrite", phases.core_post_rewrite_phase, None),
            ("access", phases.core_access_phase, by.access_handler),
            ("content", phases.core_content_phase, None),
        ]
        # clcf->handler, by the content directive that set it (a prefix of its name)
        self.content_handlers = [("content_by_lua", by.content_handler),
                                 ("echo", content.echo_handler),
                                 ("proxy_pass", content.proxy_handler)]
        # ngx_http_top_header_filter and ngx_http_top_body_filter, for a subrequest
        self.top_header_filter = subrequest.capture_header_filter
        self.top_body_filter = subrequest.capture_body_filter
        self.error_log = []
        level = log_level or getattr(config, "error_log_level", None) or "error"
        self.log_level = LEVELS.index("" if level == "stderr" else level)
        # nginx's debug lines for the model's steps, when the level is debug
        self.debug_log = DebugLog(self) if self.log_level == LEVELS.index("debug") else None
        self.internal_error = None
        self.abort = None                 # an Unsupported raised from inside Lua
        self.cur_r = None
        self.main_r = None
        self.coctx_by_id = {}
        self.nnames = {}
        self.nrequests = 0                # connections (the *N of log lines)
        self.nreq = 1                     # requests, subrequests included
        self.requests = []                # every request, in creation order
        self.chunk_lines = {}             # chunk name -> config line of its Lua line 1
        self._chunks = {}
        self.vm = LuaVM(bind(self, API_MODULES), owner=self)

    def guard(self, f):
        """A P function whose Python exceptions are model bugs: keep the
        exception, make Lua raise, and let LuaVM.resume re-raise it."""
        def guarded(*args):
            try:
                return f(*args)
            except Exception as e:           # noqa: BLE001 - re-raised after the resume
                if self.internal_error is None:
                    self.internal_error = e
                return abort(b"ngxcoro internal error")
        return guarded

    # ---------------------------------------------------------------- hooks
    def fire(self, event, **data):
        if self.debug_log is not None:
            self.debug_log(event, data)
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
        if r is not None and level == "debug":
            # ngx_log_error_core calls log->handler (the suffix) only above debug
            line += f"*{r.main.connection.number} {msg}"
        elif r is not None:
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
        if level != "debug":
            self.fire("log", level=level, msg=msg)

    def vm_step_limit_text(self):
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
        """Serve one client request to its end on the virtual clock
        (ngx_process_events_and_timers, until the connection closes)."""
        r = request.process_request(self, method, uri, args, version, headers, body_pieces)
        self.main_r = r
        while not r.connection.destroyed and self.loop.run_once():
            pass
        return r

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
