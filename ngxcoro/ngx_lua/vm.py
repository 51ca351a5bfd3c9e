"""The Lua VM: LuaJIT 2.1 through lupa, with the shims and the sandbox.

This module mirrors no file of lua-nginx-module: it stands for the Lua C
API the C calls (lua_resume, lua_xmove, lua_settop, ... of lua.h) on the
worker's one VM.  Every ngx_lua coroutine is a real Lua coroutine in it,
kept in a Lua table by id (lupa turns a Lua thread handed to Python into a
function, so threads never cross into Python).  The scheduler resumes them
by id and moves values between their "stacks" with `xmove`, as run_thread
does with lua_xmove.  The Lua halves of the shims are the files of `lua/`,
loaded as one chunk in the order of LUA_FILES.
"""
from __future__ import annotations

import importlib.resources
import time

import lupa.luajit21 as luajit

from ..nginx.event_connect import MODEL_PORT

# vm.lua first (protocol, stacks, sandbox), boot.lua last (set-up); between
# them one file per C file, beside the Python module of the same name
LUA_FILES = ("vm", "coroutine", "uthread", "output", "sleep", "variable", "args", "req_body",
             "uri", "control", "subrequest", "timer", "semaphore", "consts", "misc", "shdict",
             "bodyfilterby", "socket_tcp", "regex", "boot")
_LUA_DIR = importlib.resources.files(__package__).joinpath("lua")
PRELUDE = "".join(_LUA_DIR.joinpath(f"{name}.lua").read_text() for name in LUA_FILES)

# one count-hook call per 1000 VM instructions; a resume that runs more than
# STEP_LIMIT of those without yielding is taken for a runaway loop
STEP_LIMIT = 300_000
# ... or that spends this many wall-clock seconds in one resume (slow C calls
# such as string.rep of a huge string are few VM instructions)
WALL_LIMIT = 5.0
MAX_MEMORY = 512 * 2**20
# the whole run (every resume and the event loop between them) gets this many
# wall-clock seconds: a last resort when no other bound applies
RUN_WALL_LIMIT = 15.0
# live coroutines (entry threads, light threads, coroutines, zombies: all but
# the dead) a run may hold; past this the run stops, as a worker spinning in
# Lua would never answer.  They are counted (owner.live_coroutines()) after
# every 1,000 made, or every tenth of those made so far, whichever is more;
# and a run may make MAX_MADE in all (dead ones too: each leaves its traces)
MAX_COROUTINES = 20_000
MAX_MADE = 150_000


class LuaSyntaxError(Exception):
    """A chunk did not compile; str() is Lua's message."""


class Runaway(Exception):
    """Lua ran too long without yielding (real nginx would hang the worker)."""


class TooManyCoroutines(Exception):
    """The run holds MAX_COROUTINES live coroutines, or made MAX_MADE (a spawn
    loop that never reaches the event loop); args[0] is "live" or "made"."""


class RunOutOfTime(Exception):
    """The whole run used RUN_WALL_LIMIT wall-clock seconds."""


def _deny_private(obj, name, is_setting):
    # Lua code must not reach Python internals through any object we hand it
    if isinstance(name, (str, bytes)) and (name[:1] in ("_", b"_")):
        raise AttributeError("access denied")
    return name


def b(s):
    return s.encode() if isinstance(s, str) else s


def s(v):
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v


class LuaVM:
    """One LuaJIT runtime: the "main VM" of a worker, shared by its requests."""

    def __init__(self, api, step_limit=STEP_LIMIT, owner=None):
        self.rt = luajit.LuaRuntime(
            register_eval=False, register_builtins=False, unpack_returned_tuples=True,
            encoding=None, attribute_filter=_deny_private, max_memory=MAX_MEMORY)
        self.owner = owner
        self.resume_started = 0.0
        self.run_deadline = None          # time.monotonic() the whole run must end by
        self.out_of_time = False
        self.ncoroutines = 0              # coroutines made so far (new_state calls)
        self.next_census = 1_000          # ... when to count the live ones next
        self.rt.execute(b"jit.off()")
        K = self.rt.execute(b(PRELUDE), name=b"=[ngxcoro]")
        K.init(self.rt.table_from({b(k): v for k, v in api.items()}), step_limit)
        # the Lua C API calls of the scheduler: lua_resume, lua_gettop, lua_xmove ...
        self.top, self.xmove, self.settop0 = K.top, K.xmove, K.settop0
        self.xmove_all = K.xmove_all      # lua_xmove(from, to, lua_gettop(from)): one call
        self.insert_bool, self.reset = K.insert_bool, K.reset
        self.set_request, self.push_results = K.set_request, K.push_results
        self.push2, self.push_values = K.push2, K.push_values
        self.until_iterator = K.until_iterator
        self._resume, self._errmsg, self._where = K.resume, K.errmsg, K.where
        self._compile, self._new_entry = K.compile, K.new_entry
        self._traceback = K.traceback
        self._set_fast = K.set_fast
        # lua/timer.lua
        self.timer_copy, self.timer_fail, self.timer_source = K.timer_copy, K.timer_fail, K.timer_source
        # lua_State identities: entry states are recycled through a cache
        # (ngx_http_lua_new_thread / lmcf->cached_lua_threads), so the ids
        # a probe sees repeat as they do in C
        self.nstates = 0
        self.cached_lua_threads = []
        self.lua_thread_cache_max_entries = 1024

    def compile(self, source, chunkname):
        """Load a chunk (ngx_http_lua_clfactory_loadbuffer); returns its index.
        A scenario's __PORT__ is the port the server listens on: the oracle
        writes real nginx's there, the model its own (MODEL_PORT)."""
        source = source.replace("__PORT__", str(MODEL_PORT))
        res = self._compile(b(source), b(chunkname))
        if isinstance(res, tuple):
            raise LuaSyntaxError(s(res[1]))
        return res

    def resume(self, co, nrets):
        """lua_resume(co, nrets) -> 0 (finished), 1 (yielded) or 2 (error)."""
        return self.resume_top(co, nrets)[0]

    def resume_top(self, co, nrets, req=0):
        """lua_resume(co, nrets), then lua_gettop: (rv, the size of the stack
        it left, None), in one crossing.  With `req`, the id of the request
        when its context may yield, and nothing observing the run, plain
        coroutines it made may switch inside Lua (lua/vm.lua, the fast path);
        when one of them yielded to run_thread or failed, the third value is
        its id: rv and the stack size are its own."""
        self.resume_started = now = time.monotonic()
        if self.out_of_time or self.run_deadline is not None and now > self.run_deadline:
            self.out_of_time = True                      # (run_over_time, inline: a hot path)
            raise RunOutOfTime()
        rv, top, real = res = self._resume(co, nrets, req)
        if rv == -1:
            raise RunOutOfTime() if self.out_of_time else Runaway()
        owner = self.owner
        if owner is not None and (owner.internal_error is not None or owner.abort is not None):
            raise owner.internal_error if owner.internal_error is not None else owner.abort
        return res

    def set_fast(self, on):
        """Nothing observes the run: the fast path may run (lua/vm.lua)."""
        self._set_fast(bool(on))

    def over_time(self):
        """Has the current resume run longer than WALL_LIMIT, or the whole
        run longer than RUN_WALL_LIMIT (wall clock)?"""
        return self.run_over_time() or time.monotonic() - self.resume_started > WALL_LIMIT

    def run_over_time(self):
        """Is the whole run past its wall-clock deadline?"""
        if self.run_deadline is not None and time.monotonic() > self.run_deadline:
            self.out_of_time = True
        return self.out_of_time

    def errmsg(self, co):
        v = self._errmsg(co)
        return None if v is None else s(v)

    def thread_traceback(self, coctx):
        """The text of ngx_http_lua_thread_traceback (ngx_http_lua_util.c) for
        a coroutine that failed: its frames, then those of each parent up to
        the first dead one (lua/vm.lua K.traceback writes them)."""
        cos = [coctx.co]
        coctx = coctx.parent_co_ctx
        while coctx is not None and coctx.co_status.name != "DEAD":
            cos.append(coctx.co)
            coctx = coctx.parent_co_ctx
        return s(self._traceback(*cos))

    def where(self, co):
        """(chunkname, line) the coroutine is at, or None."""
        r = self._where(co)
        if isinstance(r, tuple) and r[0] is not None:
            return s(r[0]), r[1]
        return None

    def new_state(self, cached_ok=True):
        """A lua_State id: a recycled one when the cache has one.  Every
        call counts toward the census of live ones (MAX_COROUTINES)."""
        self.ncoroutines += 1
        if self.ncoroutines > MAX_MADE:
            raise TooManyCoroutines("made")
        if self.ncoroutines >= self.next_census and self.owner is not None:
            self.next_census = self.ncoroutines + max(1_000, self.ncoroutines // 10)
            if self.owner.live_coroutines() >= MAX_COROUTINES:
                raise TooManyCoroutines("live")
        if cached_ok and self.cached_lua_threads:
            return self.cached_lua_threads.pop()
        self.nstates += 1
        return self.nstates

    def new_entry(self, chunk, plain=False):
        """A Lua coroutine running a fresh closure of chunk `chunk`; `plain`
        for a log or filter chunk, run as lua_pcall on the main state."""
        return self._new_entry(chunk, plain)
