"""One nginx worker process with its modules: the configuration, the event
loop, the error log, the Lua VM, and the requests it serves.

This is where nginx core and its modules meet, as in nginx's generated
objs/ngx_modules.c and src/core/ngx_cycle.c: the worker builds the phase
engine (ngx_http_init_phase_handlers: the rewrite module and
lua-nginx-module's rewrite and access handlers), the table of content
handlers a location's directive selects (clcf->handler), the header and body
filter chains (lua's user filters and capture filters in front of nginx's
header and write filters) and the log phase handlers (lua's log handler).  It also holds
what lua-nginx-module keeps per worker (ngx_http_lua_main_conf_t: the VM,
the compiled chunks) and writes the error log (src/core/ngx_log.c
ngx_log_error).
"""
from __future__ import annotations

import gc
import time
from functools import partial

from .nginx import (access, content, echo, event_connect, headers, headers_more, phases,
                    postpone, process_cycle, request, response)
from .nginx.loop import Loop
from .ngx_lua import args as lua_args
from .ngx_lua import regex
from .ngx_lua import (bodyfilterby, by, control, coroutine, headerfilterby, initby, initworkerby,
                      logby, misc, output, req_body, semaphore, shdict, sleep, socket_tcp,
                      subrequest, timer, uri, uthread, variable)
from .ngx_lua.common import CoStatus
from .ngx_lua.protocol import bind, abort
from .ngx_lua.vm import (LuaVM, LuaSyntaxError, STEP_LIMIT, RUN_WALL_LIMIT, MAX_COROUTINES,
                         MAX_MADE)
from .trace import Hooks
from .trace.listeners import DebugLog

# the modules whose `API` the Lua shims call (ngx_lua/protocol.py)
API_MODULES = (coroutine, uthread, output, sleep, control, uri, variable, req_body, subrequest,
               timer, semaphore, misc, shdict, bodyfilterby, socket_tcp, lua_args, regex)

# the client's timeout, in seconds: Test::Nginx's, and the oracle's (run_real and a
# scenario's "# timeout:" default); the run stops at this much virtual time
CLIENT_TIMEOUT = 3.0
# events the loop may handle without the clock moving on (a ngx.sleep(0) loop)
MAX_EVENTS = 100_000
# after the connection closes the worker goes on (a timer a freed request left armed
# still fires) until the oracle stops it: once the close is logged and the log has been
# quiet this long (oracle/run.py, _wait_log_settled), SIGQUIT, and nginx in single-process
# mode exits at once, armed timers or not; a client that saw EOF on a connection nginx
# never closes (a lingering close at a count gone below zero) is watched SETTLE_MS.
# The oracle looks at the log every 10 ms, so it stops 50 to 70 ms after the last line:
# a line exactly 50 ms later is seen, mostly (fuzz seeds 400185, 400330, 400347 in
# corpus5; a scenario of it was not stable: one run in eight stopped first)
QUIET_MS = 55
SETTLE_MS = 1500

LEVELS = ["", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


def _earlier(horizon, ms):
    return ms if horizon is None else min(horizon, ms)


def client_done(c):
    """Is the client done: it has its EOF (nginx closed the connection, or shut
    its writing side: ngx_http_set_lingering_close), or it closed first (abort_at)?"""
    return c.destroyed or c.wire.closed or c.wire.gone


def _fire_nothing(event, **data):
    """Worker.fire when nothing listens."""


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
            ("access", phases.core_access_phase, access.access_handler),
            ("access", phases.core_access_phase, by.access_handler),
            ("post_access", phases.core_post_access_phase, None),
            ("content", phases.core_content_phase, None),
        ]
        # clcf->handler, by the content directive that set it (a prefix of its name)
        self.content_handlers = [("content_by_lua", by.content_handler),
                                 ("echo", echo.echo_handler),
                                 ("proxy_pass", content.proxy_handler)]
        # ngx_http_top_header_filter and ngx_http_top_body_filter: each module's
        # filter init puts its filter on top of the chain (lua's capture filters,
        # then its header and body filters once a *_filter_by_lua* exists)
        lua_phases = getattr(config, "lua_phases", set())
        hf, bf = response.header_filter, response.write_filter
        hf = partial(headers.headers_filter, nxt=hf)   # a static module: below lua's
        hf = partial(subrequest.capture_header_filter, nxt=hf)
        bf = partial(postpone.postpone_filter, nxt=bf)
        bf = partial(subrequest.capture_body_filter, nxt=bf)
        if lua_phases & {"header_filter", "body_filter"}:
            hf = partial(headerfilterby.header_filter, nxt=hf)
        if "body_filter" in lua_phases:
            bf = partial(bodyfilterby.body_filter, nxt=bf)
        if getattr(config, "uses_echo_filter", False):    # echo is loaded after lua
            hf = partial(echo.echo_header_filter, nxt=hf)
            bf = partial(echo.echo_body_filter, nxt=bf)
        if getattr(config, "uses_headers_more", False):   # loaded after lua: on top
            hf = partial(headers_more.headers_more_filter, nxt=hf)
        self.top_header_filter, self.top_body_filter = hf, bf
        # cmcf->phases[NGX_HTTP_LOG_PHASE].handlers
        self.log_handlers = [logby.log_handler] if "log" in lua_phases else []
        self.error_log = []
        self._log_time = None, ""           # (epoch seconds, its text) of the last line
        level = log_level or getattr(config, "error_log_level", None) or "error"
        self.log_level = LEVELS.index("" if level == "stderr" else level)
        # nginx's debug lines for the model's steps, when the level is debug
        self.debug_log = DebugLog(self) if self.log_level == LEVELS.index("debug") else None
        self.traced = True                # anything observing (listen())
        self.internal_error = None
        self.abort = None                 # an Unsupported raised from inside Lua
        self.cur_r = None
        self.main_r = None
        self.stopped = None               # "horizon" or "events": a bound of serve ended the run
        self.coctx_by_id = {}
        self._census, self._census_seen = [], 0     # live_coroutines
        self.nnames = {}
        self.nrequests = 0                # connections (the *N of log lines)
        self.nreq = 1                     # requests, subrequests included
        self.requests = []                # every request, in creation order
        self.semaphores = []              # every ngx.semaphore, in creation order
        self.chunk_lines = {}             # chunk name -> config line of its Lua line 1
        self._chunks = {}
        # the lua_shared_dict zones: shared memory, one set for the whole run
        self.shdict_zones = shdict.init_zones(config)
        # ngx_http_lua_main_conf_t's timer fields (ngx_lua/timer.py)
        self.pending_timers = self.running_timers = 0
        self.timer_watcher = False
        # the graceful shutdown (nginx/process_cycle.py): the quit signal's flag,
        # ngx_exiting, the worker gone; the idle connections' read handlers
        self.ngx_quit = self.exiting = self.exited = False
        self.idle_connections = []
        self.lua_timers = []              # the armed ones (TimerCtx), for messages and pictures
        self.args_sorted = None           # keys of an args table encoded in sorted order (args.py)
        self.main_co_ctx = None           # the main lua_State as a co ctx (timer.main_state)
        # the loopback network (nginx/event_connect.py): scripted peers by (host, port),
        # and the factory of the peer this server's own port answers with
        self.peers = {}
        self.self_peer = lambda pc: event_connect.SelfPeer(self, pc)
        # the cosockets (ngx_lua/socket_tcp.py): every upstream `u` in creation order,
        # the keepalive pools by key, the compiled receiveuntil patterns
        self.sockets = []
        self.socket_pools = {}
        self.patterns = []
        # a what-if switch (ngxcoro/whatif.py; None: nginx itself) and what it changed
        self.what_if, self.what_if_notes = None, []
        self.regexes = []               # ngx_lua/regex.py: compiled ngx.re patterns
        self.vm = LuaVM(bind(self, API_MODULES), owner=self)

    def guard(self, f, name=""):
        """A P function (`f(w, *args)`, an API's) whose Python exceptions are
        model bugs: keep the exception, make Lua raise, and let LuaVM.resume
        re-raise it.  With no request (init_by_lua*) they are an API the model
        does not run there."""
        def guarded(*args):
            try:
                return f(self, *args)
            except Exception as e:           # noqa: BLE001 - re-raised after the resume
                if self.cur_r is None:
                    if self.abort is None:
                        self.abort = self.refuse(f"the ngx_lua API behind P.{name} in "
                                                 "init_by_lua* (no request) is not modelled by "
                                                 "ngxcoro")
                    return abort(b"ngxcoro: not modelled")
                if self.internal_error is None:
                    self.internal_error = e
                return abort(b"ngxcoro internal error")
        return guarded

    # ---------------------------------------------------------------- hooks
    def fire(self, event, **data):
        if self.debug_log is not None:
            self.debug_log(event, data)
        for f in self.hooks.table[event]:       # the listeners that want this event
            f(event, data)

    def listen(self):
        """Is anything observing the run (a listener, or the debug log)?
        Called as a run starts, once the listeners are attached: when none
        is, `traced` is False, `fire` becomes a no-op, and plain coroutines
        may switch inside Lua (lua/vm.lua, the fast path of coroutine.resume
        and coroutine.yield)."""
        self.traced = self.debug_log is not None or bool(self.hooks)
        if self.traced:
            self.__dict__.pop("fire", None)
        else:
            self.fire = _fire_nothing
        self.vm.set_fast(not self.traced)

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
        now = self.loop.epoch_seconds()
        if now != self._log_time[0]:        # (the same time as the line before: its text)
            self._log_time = now, time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(now))
        line = f"{self._log_time[1]} [{level}] 1#1: "
        if r is not None and level == "debug":
            # ngx_log_error_core calls log->handler (the suffix) only above debug
            line += f"*{r.main.connection.number} {msg}"
        elif r is not None:                 # ngx_http_log_error, the log handler
            m = r.main
            c = m.connection
            line += f"*{c.number} {msg}"
            if c.log_action:
                line += f" while {c.log_action}"
            if c.log_context:               # ngx_http_lua_log_{timer,init_worker}_error
                line += f", context: {c.log_context}"
                if c.addr_text:
                    line += f", client: 127.0.0.1, server: {self.listen_text()}"
            elif not c.log_request:           # freed: the listening socket's address
                line += f", client: 127.0.0.1, server: {self.listen_text()}"
            else:
                host = next((v for k, v in m.headers if k.lower() == "host"), None)
                line += (f", client: 127.0.0.1, server: {m.server_name}, "
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

    def listen_text(self):
        """The listening socket's addr_text (ngx_listening_t), as the log says it."""
        listen = self.config.servers[0].listen
        addr = listen[0][0] if listen else "80"
        return addr if ":" in addr else f"127.0.0.1:{addr}"

    def listens_on(self, port):
        """Does 127.0.0.1:`port` reach this server (a cosocket's connect,
        proxy_pass)?  Scenarios write __PORT__, which the oracle replaces
        with the real port."""
        port = str(port)
        if port in ("__PORT__", "$server_port", str(event_connect.MODEL_PORT)):
            return True
        listens = [a[0] for a in self.config.servers[0].listen] or ["80"]
        return any(l.rsplit(":", 1)[-1] == port for l in listens)

    def vm_step_limit_text(self):
        return f"{STEP_LIMIT * 1000:,}"

    def location_setting(self, r, name, default):
        """A setting of r's location (the server's when no location matched)."""
        conf = r.location if r.location is not None else self.config.servers[0]
        return conf.settings.get(name, default)

    def unsupported(self, what):
        return Unsupported(f"{what} is not modelled by ngxcoro")

    def refuse(self, message):
        """Unsupported with a whole message of its own."""
        return Unsupported(message)

    def start(self):
        """ngx_http_lua_init's init_by_lua* (at start-up, before any worker):
        None, or nginx's start-up error."""
        self.listen()
        return initby.init_by_inline(self)

    # --------------------------------------------------------------- chunks
    def chunk_index(self, chunk):
        """The compiled chunk (ngx_http_lua_cache_loadbuffer): compiled on
        first use; a syntax error is logged as nginx does and gives None."""
        key = id(chunk)
        if key not in self._chunks:
            self.chunk_lines[chunk.chunkname] = chunk.first_line or chunk.line
            # the code cache's key is "<phase>_by_lua_nhli_" + the source's md5: the same
            # inline code elsewhere reuses the closure (and chunk name) compiled first
            shared = self._chunks.get((chunk.phase, chunk.source))
            if shared is not None:
                self._chunks[key] = shared
                return shared
            try:
                self._chunks[key] = self.vm.compile(chunk.source, chunk.chunkname)
                self._chunks[(chunk.phase, chunk.source)] = self._chunks[key]
            except LuaSyntaxError as e:
                self._chunks[key] = None
                self.log_error("error", f"failed to load inlined Lua code: {e}", self.cur_r)
                self.fire("load_error", chunk=chunk.chunkname, error=str(e))
        return self._chunks[key]

    # ---------------------------------------------------------------- serve
    def serve(self, *args, **kw):
        """_serve, with Python's cyclic garbage collector off for the run (it
        would walk the run's growing graph of objects again and again): what
        the run leaves is collected once it is over."""
        was = gc.isenabled()
        gc.disable()
        try:
            return self._serve(*args, **kw)
        finally:
            if was:
                gc.enable()

    def _serve(self, method, uri, args, version, headers, body_pieces=(), timeout=CLIENT_TIMEOUT,
               abort_at=None, quit_at=None):
        """Serve one client request on the virtual clock
        (ngx_process_events_and_timers, until no event is left: a timer a
        freed request left armed fires after the connection closed), for at most `timeout` seconds of virtual time (None: no horizon): then
        the client gives up.  `self.stopped` says which bound ended the run
        ("horizon", or "events": MAX_EVENTS without the clock moving on), or
        stays None.  `abort_at` (seconds, or None) is when the client closes
        its socket: an I/O event on the connection (request.client_close),
        armed here as a loop timer of its own kind; the run then goes on as
        after an EOF (SETTLE_MS at most).  `quit_at` (seconds, or None) is
        `nginx -s quit` then (nginx/process_cycle.py): the run ends when the
        worker exits (or at the horizon)."""
        self.listen()
        self.loop.horizon_ms = None if timeout is None else round(timeout * 1000)
        self.vm.run_deadline = time.monotonic() + RUN_WALL_LIMIT
        self.stopped = None
        if self.config.init_worker_by_lua is not None:
            # ngx_worker_process_init -> ngx_http_lua_init_worker; the worker's first
            # turn (the 0 ms timers the chunk armed) ends before the client's request
            # is read, in a later turn
            initworkerby.init_worker(self)
            self.loop.finish_turn(MAX_EVENTS)
        r = request.process_request(self, method, uri, args, version, headers, body_pieces)
        self.main_r = r
        if abort_at is not None:
            self.loop.add_timer(max(0, round(abort_at * 1000) - self.loop.now_ms),
                                lambda: request.client_close(r.connection),
                                label="client close", kind="client close", owner="client",
                                cancelable=True)
        if quit_at is not None:
            self.loop.add_timer(max(0, round(quit_at * 1000) - self.loop.now_ms),
                                partial(process_cycle.signal_quit, self), label="quit",
                                kind="quit", owner="master", cancelable=True)
        n, now = 0, self.loop.now_ms
        # the worker goes on after the connection closes (a timer a freed request
        # left armed still fires), until the loop is empty, the horizon, or QUIET_MS
        # without an event
        horizon, eof_ms = self.loop.horizon_ms, None
        while True:
            if quit_at is not None and self.loop.turn_over():
                # ngx_worker_process_cycle: the flags, between two turns
                if self.ngx_quit:
                    process_cycle.worker_quit(self)
                    self.loop.end_turn()
                if self.exiting and self.no_timers_left(r):
                    process_cycle.worker_process_exit(self)
                    break
            if quit_at is not None:
                self.loop.horizon_ms = horizon      # the quit, then the worker's exit, decide
            elif self.pending_timers or self.running_timers:
                # lua timers outlive the request: the oracle waits for them, up to
                # the client's timeout (oracle/run.py, _wait_log_settled)
                self.loop.horizon_ms = horizon
            elif r.connection.destroyed:            # the oracle's quiet window
                self.loop.horizon_ms = _earlier(horizon, now + QUIET_MS)
            elif client_done(r.connection):         # the client has its EOF, or left
                eof_ms = now if eof_ms is None else eof_ms
                self.loop.horizon_ms = _earlier(horizon, eof_ms + SETTLE_MS)
            if not self.loop.run_once():
                if self.exiting and self.no_timers_left(r) and not self.loop.at_horizon:
                    process_cycle.worker_process_exit(self)
                break
            n = n + 1 if self.loop.now_ms == now else 0
            now = self.loop.now_ms
            if n >= MAX_EVENTS:
                self.stopped = "events"
                break
            if self.vm.run_over_time():
                break
        if self.loop.at_horizon and not client_done(r.connection):
            self.stopped = "horizon"
        return r

    def no_timers_left(self, r):
        """ngx_event_no_timers_left, for the exiting worker: the loop's timers,
        and the read timer of a lingering close (lingering_timeout), which the
        model does not arm (the client's EOF is read in the next turn)."""
        c = r.connection
        return self.loop.no_timers_left() and not (c.lingering and not c.destroyed)

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
        alive and why nothing will wake them (or, when a bound of the run
        stopped it, what keeps it going)."""
        ctx = r.ctx
        state = (f"the request is not finished (r->count {r.main.count}"
                 + (f", uthreads {ctx.uthreads})" if ctx is not None else ")"))
        t = f"{self.loop.now_ms / 1000:g} s"
        if self.stopped == "horizon":
            wire = r.main.connection.wire
            got = (f"it has the status line ({wire.status}) and {len(wire.body):,} body bytes"
                   + (", the whole response" if wire.complete else "")
                   if wire.body or wire.complete else "it has received nothing"
                   + (": nginx holds back what was written" if wire.status is not None else ""))
            head = (f"stopped at the horizon: the client gives up after {self.loop.horizon_ms / 1000:g} s "
                    f"(its timeout) and closes ({got}); {state}, nothing ends it; alive: ")
        elif self.stopped == "events":
            head = (f"stopped by ngxcoro after {MAX_EVENTS:,} events at {t} without the clock moving "
                    f"on (its limit; if this never stops, real nginx spins until the client gives "
                    f"up); {state}; alive: ")
        elif self.vm.out_of_time:
            head = (f"stopped by ngxcoro's last-resort guard after {RUN_WALL_LIMIT:g} s of wall-clock "
                    f"time, at {t} of virtual time; {state}; alive: ")
        else:
            head = (f"real nginx would hang here: {state} and no timer or event is left to wake it; "
                    "alive: ")
        if ctx is None:
            return head + "no Lua coroutine"
        alive = [f"{co.name} ({co.co_status.lua_name}; {self._doing(ctx, co)})"
                 for co in [ctx.entry_co_ctx] + list(ctx.user_co_ctx)
                 if co is not None and co.co_status != CoStatus.DEAD]
        return head + (", ".join(alive) if alive else "no coroutine")

    def _doing(self, ctx, co):
        """What a live coroutine is doing, for why_hung."""
        if co.waiting == "ngx.thread.wait":
            on = [c.name for c in ctx.user_co_ctx
                  if c.waited_by_parent and c.parent_co_ctx is co and c.co_status != CoStatus.DEAD]
            return f"waits on {', '.join(on) or 'a thread'} (ngx.thread.wait)"
        if self.vm.out_of_time and co is ctx.cur_co_ctx and not co.waiting:
            return "running Lua when the guard stopped it"
        timers = [x for x in self.loop.pending() if x.owner == co.name]
        if timers:
            x = timers[0]
            delay = next((d for (o, k, d), n in self.loop.armed.items()
                          if o == co.name and k == x.kind and n > 1), None)
            if delay is not None:
                n = self.loop.armed[(co.name, x.kind, delay)]
                return (f"{co.waiting or x.kind}: re-arms a {delay / 1000:g} s timer forever, "
                        f"armed {n:,} times, next due at {x.deadline / 1000:g} s")
            return f"{co.waiting or x.kind}, due at {x.deadline / 1000:g} s"
        return co.waiting or {
            CoStatus.SUSPENDED: "suspended: nobody will resume it",
            CoStatus.ZOMBIE: "a zombie: finished, waiting for its parent to wait on it or die",
            CoStatus.NORMAL: "normal: it resumed a coroutine that never came back",
            CoStatus.RUNNING: "running but parked with nothing armed to wake it",
        }[co.co_status]

    def live_coroutines(self):
        """How many coroutines of the run are not dead (zombies count).  A
        dead user coroutine or light thread never comes back (an entry co
        ctx is reused), so each census drops those it found dead."""
        dead, user = CoStatus.DEAD, ("coroutine", "uthread")
        new = list(self.coctx_by_id.values())[self._census_seen:]
        self._census_seen += len(new)
        self._census = [c for c in self._census + new if c.co_status != dead or c.kind not in user]
        return len([c for c in self._census if c.co_status != dead])

    def too_many_coroutines(self, kind):
        """The message when a run holds MAX_COROUTINES live coroutines
        (`kind` "live") or made MAX_MADE ("made")."""
        r = self.cur_r
        ctx = r.ctx if r is not None else None
        who = ctx.cur_co_ctx.name if ctx is not None and ctx.cur_co_ctx is not None else "Lua"
        zombies = sum(1 for c in self.coctx_by_id.values() if c.co_status == CoStatus.ZOMBIE)
        what = (f"{self.live_coroutines():,} live coroutines ({zombies:,} of them zombies nobody "
                f"waits for; the limit is {MAX_COROUTINES:,})" if kind == "live" else
                f"{MAX_MADE:,} coroutines made in one run (its limit)")
        return (f"stopped by ngxcoro at {what}, at {self.loop.now_ms / 1000:g} s: {who} keeps "
                "making them without the request ending; if it never stops, real nginx's worker "
                "spins in Lua" + (", its memory growing," if zombies else "")
                + " and never answers: the client gives up")
