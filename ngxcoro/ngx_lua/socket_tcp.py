"""ngx.socket.tcp, ngx.socket.udp and ngx.socket.connect (src/ngx_http_lua_socket_tcp.c,
src/ngx_http_lua_socket_udp.c): only the constructors' context check, so the
log and filter phases refuse them as nginx does; cosockets themselves are
not modelled (the run stops and says so).
"""
from __future__ import annotations

from .common import CONTEXT_YIELDABLE
from .misc import not_modelled
from .protocol import check_context, err


def _constructor(w, name):
    r = w.cur_r
    ctx = r.ctx if r is not None else None
    msg = check_context(ctx, CONTEXT_YIELDABLE) if ctx is not None else None
    if msg:
        return err(msg)
    return not_modelled(w, f"ngx.socket.{name} (a real ngx_lua API)")


def socket_tcp(w, *args):
    """ngx_http_lua_socket_tcp: ngx.socket.tcp() (ngx.socket.stream too)."""
    return _constructor(w, "tcp")


def socket_connect(w, *args):
    """ngx_http_lua_socket_tcp_connect: ngx.socket.connect(...), a tcp() and its connect."""
    return _constructor(w, "connect")


def socket_udp(w, *args):
    """ngx_http_lua_socket_udp: ngx.socket.udp()."""
    return _constructor(w, "udp")


API = {"socket_tcp": socket_tcp, "socket_connect": socket_connect, "socket_udp": socket_udp}
