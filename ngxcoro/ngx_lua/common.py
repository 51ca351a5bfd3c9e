"""ngx_lua's structs and constants (src/ngx_http_lua_common.h).

Plain data named after the C: the per-request ctx, one co ctx per
coroutine, the posted-threads list, co_status and co_op.  Nothing here runs
Lua or does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

# lua_resume() results (lua.h)
LUA_OK, LUA_YIELD, LUA_ERRRUN, LUA_ERRSYNTAX, LUA_ERRMEM, LUA_ERRERR = range(6)


class CoStatus(IntEnum):
    """ngx_http_lua_co_status_t"""
    RUNNING = 0
    SUSPENDED = 1
    NORMAL = 2
    DEAD = 3
    ZOMBIE = 4

    @property
    def lua_name(self):
        """What coroutine.status() says (ngx_http_lua_co_status_names)."""
        return CO_STATUS_NAMES[self]


# ngx_http_lua_co_status_names, by status
CO_STATUS_NAMES = ("running", "suspended", "normal", "dead", "zombie")


class CoOp(IntEnum):
    """ngx_http_lua_user_coro_op_t: why the coroutine yielded to run_thread."""
    NOP = 0
    USER_CORO_RESUME = 1
    USER_CORO_YIELD = 2
    USER_THREAD_RESUME = 3


# phase bits of ctx->context (ngx_http_lua_common.h)
CONTEXT_REWRITE = 0x0002
CONTEXT_ACCESS = 0x0004
CONTEXT_CONTENT = 0x0008
CONTEXT_LOG = 0x0010
CONTEXT_HEADER_FILTER = 0x0020
CONTEXT_BODY_FILTER = 0x0040
CONTEXT_TIMER = 0x0080
CONTEXT_INIT_WORKER = 0x0100
CONTEXT_NAMES = {CONTEXT_REWRITE: "rewrite_by_lua*", CONTEXT_ACCESS: "access_by_lua*",
                 CONTEXT_CONTENT: "content_by_lua*", CONTEXT_LOG: "log_by_lua*",
                 CONTEXT_HEADER_FILTER: "header_filter_by_lua*",
                 CONTEXT_BODY_FILTER: "body_filter_by_lua*", CONTEXT_TIMER: "ngx.timer",
                 CONTEXT_INIT_WORKER: "init_worker_by_lua*"}
# the phases run as a plain protected call: standard Lua coroutines there
CONTEXT_FILTERS = CONTEXT_HEADER_FILTER | CONTEXT_BODY_FILTER
CONTEXT_YIELDABLE = CONTEXT_REWRITE | CONTEXT_ACCESS | CONTEXT_CONTENT | CONTEXT_TIMER


@dataclass(eq=False, slots=True)
class CoCtx:
    """ngx_http_lua_co_ctx_t: one per coroutine known to the request.

    `co` is the id of the real Lua coroutine in the VM (`lua.LuaVM`);
    `L` is the id of the lua_State it runs on (entry states are recycled
    through the thread cache, so two coroutines may share an `L`, as in C).
    `name` is a stable label for pictures: "entry", "t1", "co2", ...
    """
    co: int
    L: int
    name: str
    co_status: CoStatus = CoStatus.SUSPENDED
    parent_co_ctx: CoCtx | None = None
    is_uthread: bool = False
    is_wrap: bool = False
    co_ref: bool = False                 # holds a registry ref (entry threads, uthreads)
    waited_by_parent: bool = False
    thread_spawn_yielded: bool = False
    propagate_error: bool = False
    zombie_child_threads: list = field(default_factory=list)
    cleanup: object = None               # cancels the pending operation (e.g. a sleep timer)
    pending_subreqs: int = 0
    nsubreqs: int = 0
    sr_results: list = field(default_factory=list)
    waiting: str = ""                    # what the pending operation is, for messages
    req: object = None                   # the request it belongs to (for pictures)
    creator: CoCtx | None = None         # who created it (parent_co_ctx moves for coroutines)
    kind: str = ""                       # "entry", "uthread" or "coroutine", from birth
    sem_resume_status: int = 0           # a semaphore wait: 0 success, 1 timeout
    sock_u: object = None                # coctx->data of a cosocket wait: the upstream

    def __repr__(self):
        return f"<{self.name} {self.co_status.lua_name}>"


@dataclass(eq=False, slots=True)
class PostedThread:
    """ngx_http_lua_posted_thread_t: a node of ctx->posted_threads."""
    co_ctx: CoCtx
    next: PostedThread | None = None


@dataclass(eq=False, slots=True)
class LuaCtx:
    """ngx_http_lua_ctx_t: the Lua state of one request."""
    # embedded in the C struct: one co ctx, zeroed and reused by every phase
    entry_co_ctx: CoCtx = field(
        default_factory=lambda: CoCtx(co=0, L=0, name="entry", co_status=CoStatus.RUNNING))
    cur_co_ctx: CoCtx | None = None
    user_co_ctx: list = field(default_factory=list)   # creation order
    posted_threads: PostedThread | None = None
    uthreads: int = 0
    co_op: CoOp = CoOp.NOP
    exited: bool = False
    exit_code: int = 0
    exec_uri: str = ""
    exec_args: str = ""
    entered_rewrite_phase: bool = False
    entered_access_phase: bool = False
    entered_content_phase: bool = False
    resume_handler: object = None
    no_abort: bool = False
    eof: bool = False
    header_sent: bool = False
    headers_set: bool = False           # ngx.header was assigned (ctx->headers_set)
    context: int = 0
    cleanup: object = None              # the registered ngx_http_cleanup_t handler
    flushing_coros: int = 0
    seen_body_data: bool = False
    buffering: bool = False
    buffered: bytearray = field(default_factory=bytearray)
    waiting_more_body: bool = False
    read_body_done: bool = False
    downstream: CoCtx | None = None
    on_abort_co_ctx: CoCtx | None = None   # ngx.on_abort's handler (SUSPENDED until it runs)
    capture: bool = False              # a subrequest's ctx: its output is captured
    seen_last_in_filter: bool = False   # body_filter_by_lua set the eof flag
    filter_chain: list | None = None    # lmcf->body_filter_chain: [data, last, flush]
    ctx_ref: int = 0                    # which ngx.ctx table is this ctx's (0: none yet)
    index: int = 0
    # propagate_error carries these across loop turns of run_thread
    err: str = ""
    msg: str = ""
    trace: str = ""                   # ngx_http_lua_thread_traceback's text

    def posted_list(self):
        """The posted FIFO as a Python list (for snapshots and tests)."""
        out, pt = [], self.posted_threads
        while pt:
            out.append(pt.co_ctx)
            pt = pt.next
        return out


def zero_co_ctx(coctx):
    """ngx_memzero(&ctx->entry_co_ctx, ...): status 0 is RUNNING."""
    coctx.co_status, coctx.parent_co_ctx, coctx.cleanup = CoStatus.RUNNING, None, None
    coctx.waiting = ""
    coctx.is_uthread = coctx.is_wrap = coctx.co_ref = False
    coctx.waited_by_parent = coctx.thread_spawn_yielded = coctx.propagate_error = False
    coctx.zombie_child_threads, coctx.sr_results = [], []
    coctx.pending_subreqs = coctx.nsubreqs = 0


# the inline predicates of src/ngx_http_lua_util.h
def is_thread(ctx, coctx):
    """ngx_http_lua_is_thread: an entry thread or a light thread."""
    return coctx.is_uthread or coctx is ctx.entry_co_ctx


def coroutine_alive(coctx):
    """ngx_http_lua_coroutine_alive."""
    return coctx.co_status not in (CoStatus.DEAD, CoStatus.ZOMBIE)


def entry_thread_alive(ctx):
    """ngx_http_lua_entry_thread_alive."""
    return ctx.entry_co_ctx.co_ref


def output_filter(r, data, flush=False, last=False):
    """ngx_http_lua_output_filter (util.c; util.py is full): Lua's output
    bypasses the postpone filter: c->data is this request for the call."""
    from ..nginx import response             # (the response module, at run time)
    c = r.connection
    ar = c.active
    c.active = r
    rc = response.output(r, data, flush, last)
    c.active = ar
    return rc
