"""The cosockets' keepalive pool (src/ngx_http_lua_socket_tcp.c, third
part): sock:setkeepalive() puts the connection at the head of its key's
pool (the least recently pooled one is closed when the pool is full), and a
later connect() with the same key takes the head again without yielding
(ngx_http_lua_get_keepalive_peer).  An idle pooled connection is closed by
its keepalive timeout, or when the peer sends anything or closes
(ngx_http_lua_socket_keepalive_close_handler).
"""
from __future__ import annotations

from functools import partial

from ..nginx.core import NGX_OK, NGX_DECLINED
from .protocol import err, argerr, ret, lua_type, tonumber
from . import socket_tcp as S


def socket_tcp_setkeepalive(w, *args):
    """ngx_http_lua_socket_tcp_setkeepalive: sock:setkeepalive([timeout [, size]])."""
    n = len(args)
    if n < 1 or n > 3:
        return err(f"expecting 1 to 3 arguments (including the object), but got {n}")
    e = S.check_table(args)
    if e:
        return e
    sock = args[0]
    u = S.get_u(w, sock)
    if u is None:
        return ret(None, b"closed")
    pc = u.pc
    if pc is None or u.read_closed or u.write_closed or pc.eof:
        # the peer's FIN already in (epoll's pending_eof): "closed", as recorded
        return ret(None, b"closed")
    r = w.cur_r
    if r is None:
        return err("no request found")
    if u.request is not r:
        return err("bad request")
    busy = S.check_busy(u, "conn", "read", "write")
    if busy:
        return busy
    if u.buffer:
        return ret(None, b"unread data in buffer")
    if pc.error:
        return ret(None, b"invalid connection")
    if w.exiting:
        S.socket_tcp_finalize(r, u)
        return ret(1)
    key = sock[S.KEY_INDEX]
    key = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    spool = w.socket_pools.get(key)
    if spool is None:
        if n >= 3 and args[2] is not None:
            size = tonumber(args[2]) if lua_type(args[2]) in ("number", "string") else None
            if size is None:
                return argerr(3, f"number expected, got {lua_type(args[2])}")
            pool_size = int(size)
        else:
            pool_size = u.conf["pool_size"]
        if pool_size <= 0:
            return argerr(n, f'bad "pool_size" option value: {pool_size}')
        spool = w.socket_pools[key] = S.Pool(key, pool_size, -1)
        w.fire("sock_pool_create", key=key, size=pool_size, backlog=-1)
    if len(spool.cache) >= spool.size:
        old = spool.cache.pop()              # the least recently pooled: closed
        S.close_pooled(w, old)
        if u.socket_pool is not None:
            u.socket_pool.connections -= 1
    elif u.socket_pool is None:
        spool.connections += 1
    item = S.PoolItem(spool, pc, u.reused)
    spool.cache.insert(0, item)
    w.fire("sock_keepalive", u=u, key=key)
    u.pc = None                              # "lua tcp socket clear current socket connection"
    S.del_timer(w, u, "read")
    S.del_timer(w, u, "write")
    if n >= 2 and args[1] is not None:
        t = tonumber(args[1]) if lua_type(args[1]) in ("number", "string") else None
        if t is None:
            return argerr(2, f"number expected, got {lua_type(args[1])}")
        timeout = int(t)
    else:
        timeout = u.conf["keepalive_timeout"]
    if timeout:
        item.timer = w.loop.add_timer(timeout, partial(keepalive_close_handler, w, item),
                                      label=f"pool {key}", kind="keepalive timeout",
                                      owner=f"pool {key}", cancelable=True)
    pc.read_handler = partial(keepalive_close_handler, w, item)
    pc.write_handler = None
    if pc.rbuf or pc.eof:                    # c->read->ready
        keepalive_close_handler(w, item)
    S.socket_tcp_finalize(r, u)
    return ret(1)


def get_keepalive_peer(w, r, u):
    """ngx_http_lua_get_keepalive_peer: the pool's head, if any."""
    spool = u.socket_pool
    if not spool.cache:
        w.fire("sock_pool_empty", key=spool.key)
        return NGX_DECLINED
    item = spool.cache.pop(0)
    pc = item.connection
    if item.timer is not None:
        w.loop.del_timer(item.timer)
    w.fire("sock_pool_get", key=spool.key)
    pc.read_handler = partial(S.socket_tcp_handler, u, False)
    pc.write_handler = partial(S.socket_tcp_handler, u, True)
    u.pc = pc
    u.host, u.port = pc.host, pc.port
    u.reused = item.reused + 1
    u.read_event_handler = u.write_event_handler = S.dummy_handler
    if u.cleanup is None:
        u.cleanup = partial(S.socket_tcp_cleanup, u)
        r.main.cleanups.insert(0, u.cleanup)
    return NGX_OK


def keepalive_close_handler(w, item):
    """ngx_http_lua_socket_keepalive_close_handler: the idle connection's
    timeout, or the peer wrote or closed: close it, free its slot."""
    spool = item.socket_pool
    if item not in spool.cache:
        return
    spool.cache.remove(item)
    S.close_pooled(w, item)
    spool.connections -= 1
    if spool.connections == 0 and w.socket_pools.get(spool.key) is spool:
        del w.socket_pools[spool.key]
