"""Plain data named after the C structs the scheduler touches.

Nothing here runs Lua or does I/O.  Every name can be grepped for in
lua-nginx-module 0.10.23 (`src/ngx_http_lua_common.h`) or in nginx
(`src/http/ngx_http_request.h`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

# nginx return codes (src/core/ngx_core.h)
NGX_OK = 0
NGX_ERROR = -1
NGX_AGAIN = -2
NGX_BUSY = -3
NGX_DONE = -4
NGX_DECLINED = -5

RC_NAMES = {NGX_OK: "NGX_OK", NGX_ERROR: "NGX_ERROR", NGX_AGAIN: "NGX_AGAIN",
            NGX_BUSY: "NGX_BUSY", NGX_DONE: "NGX_DONE", NGX_DECLINED: "NGX_DECLINED"}


def rc_name(rc):
    """`NGX_AGAIN` for -2, `404` for an HTTP status."""
    return RC_NAMES.get(rc, str(rc))


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
        return self.name.lower()


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
CONTEXT_TIMER = 0x0080
CONTEXT_NAMES = {CONTEXT_REWRITE: "rewrite_by_lua*", CONTEXT_ACCESS: "access_by_lua*",
                 CONTEXT_CONTENT: "content_by_lua*", CONTEXT_TIMER: "ngx.timer"}
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

    def __repr__(self):
        return f"<{self.name} {self.co_status.lua_name}>"


@dataclass(eq=False)
class PostedThread:
    """ngx_http_lua_posted_thread_t: a node of ctx->posted_threads."""
    co_ctx: CoCtx
    next: PostedThread | None = None


@dataclass(eq=False)
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
    context: int = 0
    cleanup: object = None              # the registered ngx_http_cleanup_t handler
    flushing_coros: int = 0
    seen_body_data: bool = False
    buffering: bool = False
    buffered: bytearray = field(default_factory=bytearray)
    waiting_more_body: bool = False
    read_body_done: bool = False
    downstream: CoCtx | None = None
    capture: bool = False              # a subrequest's ctx: its output is captured
    index: int = 0
    # propagate_error carries these across loop turns of run_thread
    err: str = ""
    msg: str = ""

    def posted_list(self):
        """The posted FIFO as a Python list (for snapshots and tests)."""
        out, pt = [], self.posted_threads
        while pt:
            out.append(pt.co_ctx)
            pt = pt.next
        return out


@dataclass(eq=False)
class Connection:
    """ngx_connection_t: the parts the scheduler reads."""
    fd: int = 3
    destroyed: bool = False
    requests: int = 1
    error: bool = False
    data: object = None
    number: int = 1                      # the *N of log lines
    wire: object = None                  # what the client receives (http.Wire)
    on_close: object = None              # the upstream waiting for this connection


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
    ctx: LuaCtx | None = None
    write_event_handler: object = None
    done: bool = False
    freed: bool = False
    phase: str = ""
    cleanups: list = field(default_factory=list)
    header_only: bool = False
    err_status: int = 0
    post_subrequest: object = None
    set_vars: dict = field(default_factory=dict)
    posted_requests: list = field(default_factory=list)   # on the main request
    request_body: bytes | None = None
    content_length: int = -1
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
