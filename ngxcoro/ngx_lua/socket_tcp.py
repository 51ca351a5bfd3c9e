"""ngx.socket.tcp and its methods (src/ngx_http_lua_socket_tcp.c): the
constructor, connect, send, close, the timeouts, the keepalive pool, and the
event handlers that wake the coroutine.  The receive side (receive,
receiveany, receiveuntil, the read loop and its input filters) is the second
half of the same C file: socket_tcp_read.py.

A cosocket is a Lua table (lua/socket_tcp.lua); its slot 1 holds the number
of its upstream `Upstream` (ngx_http_lua_socket_tcp_upstream_t, `u`), made on
the first connect and reset on each later one.  The peer connection is a
PeerConnection of the loopback network (nginx/event_connect.py).  A blocked
operation follows the wake-up recipe: the waiting co ctx is kept in
u.read_co_ctx / u.write_co_ctx with coctx.cleanup set, and when the peer's
event (or a timer) fires, ngx_http_lua_socket_tcp_handler runs the
operation's handler, which resumes the coroutine at once (content phase and
timers) or through the phase engine (rewrite, access).
"""
from __future__ import annotations

from functools import partial

from ..nginx.core import NGX_OK
from ..nginx.event_connect import PeerConnection, connect_peer
from .common import CONTEXT_YIELDABLE
from .protocol import check_context, err, argerr, ret, yield_to_run_thread, lua_type, tonumber
from .util import cleanup_pending_operation

FT_ERROR, FT_TIMEOUT, FT_CLOSED, FT_RESOLVER, FT_BUFTOOSMALL, FT_NOMEM, FT_SSL, \
    FT_CLIENTABORT = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80
CTX_INDEX, CONNECT_TIMEOUT_INDEX, KEY_INDEX, SEND_TIMEOUT_INDEX, READ_TIMEOUT_INDEX = 1, 2, 3, 4, 5


class Upstream:
    """ngx_http_lua_socket_tcp_upstream_t: one cosocket's state."""

    def __init__(self, number):
        self.number = number
        self.reset()

    def reset(self):
        """The ngx_memzero of a (re)connect."""
        self.request = None
        self.conf = {}
        self.pc = None                      # u->peer.connection
        self.host = self.port = None
        self.read_closed = self.write_closed = self.conn_closed = self.eof = False
        self.ft_type = 0
        self.no_close = False
        self.socket_errno = None
        self.conn_waiting = self.read_waiting = self.write_waiting = False
        self.read_co_ctx = self.write_co_ctx = None
        self.read_event_handler = self.write_event_handler = dummy_handler
        self.read_prepare_retvals = self.write_prepare_retvals = None
        self.buffer = None                  # u->buffer: received, not consumed yet (None: no buf)
        self.out = bytearray()              # u->bufs_in: what the current receive returns
        self.input_filter = None
        self.cp = None                      # the receiveuntil pattern being matched
        self.length = self.rest = 0
        self.socket_pool = None
        self.reused = 0
        self.cleanup = None
        self.request_len = 0
        self.read_timer = self.write_timer = None
        self.read_timedout = self.write_timedout = False
        self.timeouts = (60000, 60000, 60000)   # connect, send, read
        self.body_downstream = False        # ngx.req.socket()'s: the request body

    @property
    def name(self):
        return f"socket #{self.number}"

    def __repr__(self):
        return self.name

    @property
    def pointer(self):
        return f"{0x00005A0000002000 + 0x300 * self.number:016X}"

    def state(self):
        """In words, for pictures and messages."""
        if self.pc is None:
            return "closed"
        if self.conn_waiting:
            return "connecting"
        if self.read_waiting:
            return "waiting to read"
        if self.write_waiting:
            return "waiting to write"
        return "connected"


class Pool:
    """ngx_http_lua_socket_pool_t: the idle connections of one key, the
    most recently pooled first."""

    def __init__(self, key, size, backlog):
        self.key, self.size, self.backlog = key, size, backlog
        self.connections = 0
        self.cache = []                     # [PoolItem], head first


class PoolItem:
    def __init__(self, spool, pc, reused):
        self.socket_pool, self.connection, self.reused = spool, pc, reused
        self.timer = None


# ------------------------------------------------------------------ helpers
def conf(w, r):
    """The ngx_http_lua_loc_conf_t values a socket reads (the lua_socket_* directives)."""
    s = partial(w.location_setting, r)
    return {"connect_timeout": s("lua_socket_connect_timeout", 60000),
            "send_timeout": s("lua_socket_send_timeout", 60000),
            "read_timeout": s("lua_socket_read_timeout", 60000),
            "buffer_size": s("lua_socket_buffer_size", 4096),
            "pool_size": s("lua_socket_pool_size", 30),
            "keepalive_timeout": s("lua_socket_keepalive_timeout", 60000),
            "log_errors": s("lua_socket_log_errors", True)}


def get_u(w, sock):
    """lua_rawgeti(L, 1, SOCKET_CTX_INDEX): the upstream, or None."""
    n = sock[CTX_INDEX]
    if isinstance(n, (int, float)) and not isinstance(n, bool) and 1 <= n <= len(w.sockets):
        return w.sockets[int(n) - 1]
    return None


def lua_tointeger(v):
    n = tonumber(v)
    return 0 if n is None else int(n)


def lua_number_text(v):
    """lua_tostring of a number (%.14g)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.14g}" if isinstance(v, float) else str(v)


def check_table(args, narg=1):
    """luaL_checktype(L, narg, LUA_TTABLE): None, or the argument error."""
    t = lua_type(args[narg - 1]) if len(args) >= narg else "no value"
    return None if t == "table" else argerr(narg, f"table expected, got {t}")


def check_busy(u, *sides):
    """The busy checks (ngx_http_lua_socket_check_busy_connecting, _reading, _writing)."""
    for side in sides:
        if getattr(u, f"{side}_waiting"):
            word = {"conn": "connecting", "read": "reading", "write": "writing"}[side]
            return ret(None, f"socket busy {word}".encode())
    return None


def closed_line(w, r, u, what):
    """The [error] line of an operation on a closed socket (lua_socket_log_errors)."""
    if u is None:
        text = f"u:{0:016X}, c:{0:016X}, ft:0 eof:0"
    else:
        c = f"{0x00005B0000003000 + 0x200 * u.pc.number:016X}" if u.pc else f"{0:016X}"
        text = f"u:{u.pointer}, c:{c}, ft:{u.ft_type} eof:{int(u.eof)}"
    if (u.conf if u is not None and u.conf else conf(w, r))["log_errors"]:
        w.log_error("error", f"attempt to {what} data on a closed socket: {text}", r)


def set_timer(w, u, side, ms):
    """ngx_add_timer(c->read or c->write, ms): (re)arm the side's timer."""
    old = getattr(u, f"{side}_timer")
    if old is not None:
        w.loop.del_timer(old)
    t = w.loop.add_timer(ms, partial(socket_timedout, u, side), label=u.name,
                         kind=f"socket {side} timeout", owner=u.name)
    setattr(u, f"{side}_timer", t)


def del_timer(w, u, side):
    t = getattr(u, f"{side}_timer")
    if t is not None:
        w.loop.del_timer(t)
        setattr(u, f"{side}_timer", None)


def socket_timedout(u, side):
    """The timer of c->read or c->write expired: the event handler runs with
    ev->timedout set."""
    setattr(u, f"{side}_timer", None)
    setattr(u, f"{side}_timedout", True)
    socket_tcp_handler(u, side == "write")


# ------------------------------------------------------------ constructors
def socket_tcp(w, *args):
    """ngx_http_lua_socket_tcp: ngx.socket.tcp() (ngx.socket.stream too)."""
    if args:
        return err(f"expecting zero arguments, but got {len(args)}")
    r = w.cur_r
    if r is None:
        return err("no request found")
    msg = check_context(r.ctx, CONTEXT_YIELDABLE) if r.ctx is not None else None
    if msg:
        return err(msg)
    return ret()


def socket_connect(w, *args):
    """ngx.socket.connect (the chunk of ngx_http_lua_socket_tcp.c that calls
    tcp() then connect()): its tcp() call's context check."""
    r = w.cur_r
    ctx = r.ctx if r is not None else None
    msg = check_context(ctx, CONTEXT_YIELDABLE) if ctx is not None else None
    return err(msg) if msg else ret()


def socket_udp(w, *args):
    """ngx_http_lua_socket_udp: ngx.socket.udp() (not modelled past its context check)."""
    from .misc import not_modelled
    checked = socket_connect(w)              # the same context check
    return checked if checked != ret() else not_modelled(w, "ngx.socket.udp (a real ngx_lua API)")


# ------------------------------------------------------------------ connect
def socket_tcp_connect(w, *args):
    """ngx_http_lua_socket_tcp_connect: sock:connect(host, port [, opts])."""
    n = len(args)
    if n not in (2, 3, 4):
        return err("ngx.socket connect: expecting 2, 3, or 4 arguments (including the "
                   f"object), but seen {n}")
    r = w.cur_r
    if r is None:
        return err("no request found")
    ctx = r.ctx
    msg = check_context(ctx, CONTEXT_YIELDABLE)
    if msg:
        return err(msg)
    e = check_table(args)
    if e:
        return e
    sock, host = args[0], args[1]
    if isinstance(host, (int, float)) and not isinstance(host, bool):
        host = lua_number_text(host).encode()
    if not isinstance(host, bytes):
        return argerr(2, f"string expected, got {lua_type(args[1])}")
    host = host.decode("latin-1")
    backlog, pool_size, custom_pool = -1, 0, None
    llcf = conf(w, r)
    if lua_type(args[n - 1]) == "table":
        opts = args[n - 1]
        v = opts[b"pool_size"]
        if tonumber(v) is not None and not isinstance(v, bool):
            pool_size = int(tonumber(v))
            if pool_size <= 0:
                return argerr(n, f'bad "pool_size" option value: {pool_size}')
        elif v is not None:
            return argerr(n, f'bad "pool_size" option type: {lua_type(v)}')
        v = opts[b"backlog"]
        if tonumber(v) is not None and not isinstance(v, bool):
            backlog = int(tonumber(v))
            if backlog < 0:
                return argerr(n, f'bad "backlog" option value: {backlog}')
            pool_size = pool_size or llcf["pool_size"]
        v = opts[b"pool"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            custom_pool = lua_number_text(v)
        elif isinstance(v, bytes):
            custom_pool = v.decode("latin-1")
        elif v is not None:
            return argerr(n, f'bad "pool" option type: {lua_type(v)}')
        n -= 1
    if n == 4:
        n -= 1
    if n == 3 and tonumber(args[2]) is not None and not isinstance(args[2], bool):
        port = int(tonumber(args[2]))
        if port < 0 or port > 65535:
            return ret(None, f"bad port number: {port}".encode())
        port_text = (lua_number_text(args[2]) if not isinstance(args[2], bytes)
                     else args[2].decode("latin-1"))
        key = custom_pool if custom_pool is not None else f"{host}:{port_text}"
    elif host[:5].lower() == "unix:":
        raise w.refuse(f'a cosocket to the unix domain socket "{host}" is not modelled by '
                       "ngxcoro (only TCP to 127.0.0.1)")
    else:
        return ret(None, b"missing the port number")
    sock[KEY_INDEX] = key
    u = get_u(w, sock)
    if u is not None:
        if u.request is not None and u.request is not r:
            return err("bad request")
        busy = check_busy(u, "conn", "read", "write")
        if busy:
            return busy
        if u.pc is not None:
            w.fire("sock_reconnect", u=u)
            socket_tcp_finalize(r, u)
        u.reset()
    else:
        u = Upstream(len(w.sockets) + 1)
        w.sockets.append(u)
        sock[CTX_INDEX] = u.number
    u.request, u.conf = r, llcf
    ct, st, rt = (lua_tointeger(sock[i]) for i in
                  (CONNECT_TIMEOUT_INDEX, SEND_TIMEOUT_INDEX, READ_TIMEOUT_INDEX))
    u.timeouts = (ct if ct > 0 else llcf["connect_timeout"], st if st > 0 else llcf["send_timeout"],
                  rt if rt > 0 else llcf["read_timeout"])
    spool = w.socket_pools.get(key)
    if spool is None and pool_size > 0:
        spool = w.socket_pools[key] = Pool(key, pool_size, backlog)
        w.fire("sock_pool_create", key=key, size=pool_size, backlog=backlog)
    u.socket_pool = spool
    return socket_tcp_connect_helper(w, r, ctx, u, host, port)


_IPV4 = __import__("re").compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")


def socket_tcp_connect_helper(w, r, ctx, u, host, port):
    """ngx_http_lua_socket_tcp_connect_helper: a pooled connection (no
    yield), else the address (no resolver: an IP address only), then the
    non-blocking connect."""
    spool = u.socket_pool
    if spool is not None:
        if get_keepalive_peer(w, r, u) == NGX_OK:
            return ret(1)
        spool.connections += 1
        if spool.backlog >= 0 and spool.connections > spool.size + spool.backlog:
            spool.connections -= 1
            return ret(None, b"too many waiting connect operations")
        if spool.backlog >= 0 and spool.connections > spool.size:
            raise w.refuse("a connect queued by the pool's backlog (the \"backlog\" option of "
                           "sock:connect) is not modelled by ngxcoro")
    w.fire("sock_connect_timeout", ms=u.timeouts[0])
    if not _IPV4.match(host):
        if any(name == "resolver" for name, _ in getattr(w.config, "inert", ())):
            raise w.refuse(f'a cosocket connect to the host name "{host}" is not modelled by '
                           "ngxcoro (no DNS: connect to 127.0.0.1)")
        if spool is not None:
            spool.connections -= 1
        u.ft_type |= FT_RESOLVER
        return ret(None, f'no resolver defined to resolve "{host}"'.encode())
    u.host, u.port = host, port
    return resolve_retval_handler(w, r, ctx, u)


def resolve_retval_handler(w, r, ctx, u):
    """ngx_http_lua_socket_resolve_retval_handler: ngx_event_connect_peer,
    the request cleanup, and the wait for the connect (EINPROGRESS)."""
    w.nrequests += 1                         # the peer connection's own *N
    pc = PeerConnection(w, w.nrequests, 5 + u.number, u.host, u.port)
    u.pc = pc
    if u.cleanup is None:
        u.cleanup = partial(socket_tcp_cleanup, u)
        r.main.cleanups.insert(0, u.cleanup)
    pc.read_handler = partial(socket_tcp_handler, u, False)
    pc.write_handler = partial(socket_tcp_handler, u, True)
    rc = connect_peer(w, pc)
    u.write_event_handler = u.read_event_handler = connected_handler
    coctx = ctx.cur_co_ctx
    cleanup_pending_operation(coctx)
    coctx.cleanup = partial(coctx_cleanup, u)
    coctx.sock_u = u
    coctx.waiting = f"{u.name}:connect()"
    set_timer(w, u, "write", u.timeouts[0])
    u.write_co_ctx = coctx
    u.conn_waiting = True
    u.write_prepare_retvals = conn_retval_handler
    w.fire("sock_connect", u=u, host=u.host, port=u.port, fd=pc.fd, n=pc.number, rc=rc)
    return yield_to_run_thread()


def conn_retval_handler(r, u):
    """ngx_http_lua_socket_tcp_conn_retval_handler."""
    if u.ft_type:
        return conn_error_retval_handler(r, u)
    return (1,)


def conn_error_retval_handler(r, u):
    """ngx_http_lua_socket_conn_error_retval_handler."""
    r.worker.fire("sock_error_retval")
    if u.write_co_ctx is not None:
        u.write_co_ctx.cleanup = None
    socket_tcp_finalize(r, u)
    ft, u.ft_type = u.ft_type, 0
    return prepare_error_retvals(u, ft)


def prepare_error_retvals(u, ft):
    """ngx_http_lua_socket_prepare_error_retvals: nil and the error's word."""
    if ft & FT_TIMEOUT:
        return (None, b"timeout")
    if ft & FT_CLOSED:
        return (None, b"closed")
    if ft & FT_BUFTOOSMALL:
        return (None, b"buffer too small")
    if ft & FT_NOMEM:
        return (None, b"no memory")
    if ft & FT_CLIENTABORT:
        return (None, b"client aborted")
    if u.socket_errno:
        return (None, u.socket_errno.encode())
    return (None, b"error")


# ---------------------------------------------------------------- finalize
def socket_tcp_cleanup(u, _r=None):
    """ngx_http_lua_socket_tcp_cleanup: the request ends with the socket open."""
    r = u.request
    u.cleanup = None
    r.worker.fire("sock_cleanup", u=u, uri=r.uri)
    socket_tcp_finalize(r, u)


def coctx_cleanup(u, coctx):
    """ngx_http_lua_coctx_cleanup: the waiting coroutine was killed or its
    request ended: the whole socket is closed."""
    socket_tcp_finalize(u.request, u)


def finalize_read_part(r, u):
    """ngx_http_lua_socket_tcp_finalize_read_part."""
    if u.read_closed:
        return
    u.read_closed = True
    u.buffer = None
    u.out = bytearray()
    del_timer(r.worker, u, "read")


def finalize_write_part(r, u):
    """ngx_http_lua_socket_tcp_finalize_write_part."""
    if u.write_closed:
        return
    u.write_closed = True
    del_timer(r.worker, u, "write")


def socket_tcp_finalize(r, u):
    """ngx_http_lua_socket_tcp_finalize: close the connection (its pool
    counts one less)."""
    w = r.worker
    w.fire("sock_finalize", u=u)
    if u.cleanup is not None:
        cleanups = u.request.main.cleanups if u.request is not None else []
        if u.cleanup in cleanups:
            cleanups.remove(u.cleanup)
        u.cleanup = None
    finalize_read_part(r, u)
    finalize_write_part(r, u)
    pc = u.pc
    if u.body_downstream:                   # the request socket: the client's connection stays,
        u.pc = pc.close() if pc is not None else None   # only its reader lets go (None)
        return
    if pc is not None:
        w.fire("sock_close", u=u)
        pc.close()
        u.pc = None
        u.conn_closed = True
        spool = u.socket_pool
        if spool is None:
            return
        spool.connections -= 1
        if spool.connections == 0:
            free_pool(w, spool)


def free_pool(w, spool):
    """ngx_http_lua_socket_free_pool: the pool goes with its last connection."""
    for item in spool.cache:
        close_pooled(w, item)
    spool.cache = []
    if w.socket_pools.get(spool.key) is spool:
        del w.socket_pools[spool.key]


def close_pooled(w, item):
    if item.timer is not None:
        w.loop.del_timer(item.timer)
    item.connection.close()


# the other parts of the C file (they import what they need from here)
from .socket_tcp_event import (socket_tcp_handler, dummy_handler, connected_handler,  # noqa: E402,F401
                               handle_read_success, handle_read_error)
from .socket_tcp_send import (socket_tcp_send, socket_tcp_close, socket_tcp_settimeout,  # noqa: E402
                              socket_tcp_settimeouts, ffi_socket_tcp_getoption,
                              ffi_socket_tcp_setoption,
                              socket_tcp_getreusedtimes, socket_tcp_sslhandshake)
from .socket_tcp_pool import (get_keepalive_peer, socket_tcp_setkeepalive)  # noqa: E402
from .socket_tcp_read import (socket_tcp_receive, socket_tcp_receiveany,  # noqa: E402
                              socket_tcp_receiveuntil, receiveuntil_iterator)
from .socket_tcp_req import req_socket  # noqa: E402

API = {"socket_tcp": socket_tcp, "socket_connect": socket_connect, "socket_udp": socket_udp,
       "sock_connect": socket_tcp_connect, "sock_send": socket_tcp_send,
       "sock_receive": socket_tcp_receive, "sock_receiveany": socket_tcp_receiveany,
       "sock_receiveuntil": socket_tcp_receiveuntil, "sock_until_iterator": receiveuntil_iterator,
       "sock_close": socket_tcp_close, "sock_settimeout": socket_tcp_settimeout,
       "sock_settimeouts": socket_tcp_settimeouts, "sock_setoption": ffi_socket_tcp_setoption,
       "sock_getoption": ffi_socket_tcp_getoption, "req_socket": req_socket,
       "sock_getreusedtimes": socket_tcp_getreusedtimes,
       "sock_setkeepalive": socket_tcp_setkeepalive, "sock_sslhandshake": socket_tcp_sslhandshake}
