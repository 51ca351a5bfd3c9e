"""sock:send, close, settimeout(s), setoption, sslhandshake and
getreusedtimes (src/ngx_http_lua_socket_tcp.c, the methods that never
wait: loopback takes a whole send at once).
"""
from __future__ import annotations

from .protocol import err, argerr, ret, lua_type, tonumber
from .socket_tcp_event import dummy_handler
from .socket_tcp import (CONNECT_TIMEOUT_INDEX, SEND_TIMEOUT_INDEX, READ_TIMEOUT_INDEX, FT_ERROR,
                         check_table, check_busy, closed_line, get_u, del_timer,
                         finalize_write_part, lua_number_text, prepare_error_retvals,
                         socket_tcp_finalize)
from ..nginx.core import NGX_ERROR


# --------------------------------------------------------------------- send
def _send_text(v):
    """The bytes send() writes for a string, number, nil, boolean or array
    table (ngx_http_lua_calc_strlen_in_table, strict): bytes or an error text."""
    t = lua_type(v)
    if t == "string":
        return v
    if t == "number":
        return lua_number_text(v).encode()
    if t == "nil":
        return b"nil"
    if t == "boolean":
        return b"true" if v else b"false"
    if t == "table":
        out, i = [], 1
        n = len(v)
        for k in v.keys():
            if not isinstance(k, (int, float)) or k < 1 or int(k) != k:
                return "non-array table found"
        for i in range(1, n + 1):
            x = v[i]
            tx = lua_type(x)
            if tx == "table":
                inner = _send_text(x)
                if isinstance(inner, str):
                    return inner
                out.append(inner)
            elif tx in ("string", "number"):
                out.append(x if tx == "string" else lua_number_text(x).encode())
            else:
                return f"bad data type {tx} found"
        return b"".join(out)
    return f"string, number, boolean, nil, or array table expected, got {t}"


def socket_tcp_send(w, *args):
    """ngx_http_lua_socket_tcp_send: sock:send(data).  Loopback takes it all:
    no yield."""
    if len(args) != 2:
        return err(f"expecting 2 arguments (including the object), but got {len(args)}")
    r = w.cur_r
    if r is None:
        return err("no request found")
    e = check_table(args)
    if e:
        return e
    u = get_u(w, args[0])
    if u is None or u.pc is None or u.write_closed:
        closed_line(w, r, u, "send")
        return ret(None, b"closed")
    if u.request is not r:
        return err("bad request")
    busy = check_busy(u, "conn", "write")
    if busy:
        return busy
    w.fire("sock_send_timeout", ms=u.timeouts[1])
    data = _send_text(args[1])
    if isinstance(data, str):
        return argerr(2, data)
    if not data:
        return ret(0)
    u.request_len = len(data)
    u.write_waiting, u.write_co_ctx = False, None
    w.fire("sock_send", u=u, n=len(data))
    u.pc.options["tcp-nodelay"] = 1          # "lua socket tcp_nodelay" (tcp_nodelay on)
    if u.pc.send(data) == NGX_ERROR:
        return socket_send_error(r, u)
    del_timer(w, u, "write")
    u.write_event_handler = dummy_handler
    return ret(len(data))


def socket_send_error(r, u):
    """ngx_http_lua_socket_send's NGX_ERROR: ngx_unix_send logged the errno
    (ngx_connection_error, at error for a peer connection), c->error and
    u->socket_errno are set, the write side fails (handle_write_error with
    FT_ERROR), and ngx_http_lua_socket_write_error_retval_handler closes the
    write part and answers nil and the errno's text (EPIPE: "broken pipe").
    The read side stays: what the peer sent before its close is still read."""
    errno = u.pc.error or "32: Broken pipe"
    r.worker.log_error("error", f"send() failed ({errno})", r)
    u.socket_errno = errno.split(": ", 1)[1].lower()
    u.write_event_handler = dummy_handler
    finalize_write_part(r, u)
    return ret(*prepare_error_retvals(u, FT_ERROR))


# -------------------------------------------------------- close, timeouts
def socket_tcp_close(w, *args):
    """ngx_http_lua_socket_tcp_close: sock:close()."""
    if len(args) != 1:
        return err(f"expecting 1 argument (including the object) but seen {len(args)}")
    r = w.cur_r
    if r is None:
        return err("no request found")
    e = check_table(args)
    if e:
        return e
    u = get_u(w, args[0])
    if u is None or u.pc is None or (u.read_closed and u.write_closed):
        return ret(None, b"closed")
    if u.request is not r:
        return err("bad request")
    busy = check_busy(u, "conn", "read", "write")
    if busy:
        return busy
    socket_tcp_finalize(r, u)
    return ret(1)


def _timeout_value(v):
    """(ngx_int_t) lua_tonumber(L, i), and its `>> 31` check."""
    n = tonumber(v)
    t = 0 if n is None else int(n)
    return t, (t >> 31) != 0


def socket_tcp_settimeout(w, *args):
    """ngx_http_lua_socket_tcp_settimeout: all three timeouts, in ms."""
    if len(args) != 2:
        return err("ngx.socket settimeout: expecting 2 arguments (including the object) but "
                   f"seen {len(args)}")
    t, bad = _timeout_value(args[1])
    if bad:
        return err("bad timeout value")
    e = check_table(args)
    if e:
        return e
    sock = args[0]
    for i in (CONNECT_TIMEOUT_INDEX, SEND_TIMEOUT_INDEX, READ_TIMEOUT_INDEX):
        sock[i] = t
    u = get_u(w, sock)
    if u is not None and u.conf:
        c = u.conf
        u.timeouts = (t, t, t) if t > 0 else (c["connect_timeout"], c["send_timeout"],
                                              c["read_timeout"])
    return ret()


def socket_tcp_settimeouts(w, *args):
    """ngx_http_lua_socket_tcp_settimeouts: connect, send and read timeouts."""
    if len(args) != 4:
        return err("ngx.socket settimeout: expecting 4 arguments (including the object) but "
                   f"seen {len(args)}")
    vals = []
    for v in args[1:]:
        t, bad = _timeout_value(v)
        if bad:
            return err("bad timeout value")
        vals.append(t)
    e = check_table(args)
    if e:
        return e
    sock = args[0]
    for i, t in zip((CONNECT_TIMEOUT_INDEX, SEND_TIMEOUT_INDEX, READ_TIMEOUT_INDEX), vals):
        sock[i] = t
    u = get_u(w, sock)
    if u is not None and u.conf:
        c = u.conf
        u.timeouts = tuple(t if t > 0 else c[k] for t, k in
                           zip(vals, ("connect_timeout", "send_timeout", "read_timeout")))
    return ret()


_OPTIONS = {1: "keepalive", 2: "reuseaddr", 3: "tcp-nodelay", 4: "sndbuf", 5: "rcvbuf"}


def _option_socket(w, number, opt):
    """The upstream behind the FFI pointer; a socket buffer size is the kernel's."""
    if _OPTIONS.get(int(opt)) in ("sndbuf", "rcvbuf"):
        raise w.refuse(f'sock:getoption/setoption("{_OPTIONS[int(opt)]}") is not modelled by '
                       "ngxcoro (the kernel's socket buffer sizes)")
    u = w.sockets[int(number) - 1]
    return u if u.pc is not None else None


def ffi_socket_tcp_getoption(w, number, opt):
    """ngx_http_lua_ffi_socket_tcp_getoption: getsockopt on the peer
    connection (SO_KEEPALIVE, SO_REUSEADDR, TCP_NODELAY: the last is set by
    the first send, as tcp_nodelay is on)."""
    u = _option_socket(w, number, opt)
    if u is None:
        return ret(None, b"closed")
    return ret(u.pc.options.get(_OPTIONS[int(opt)], 0))


def ffi_socket_tcp_setoption(w, number, opt, value):
    """ngx_http_lua_ffi_socket_tcp_setoption: setsockopt on the peer connection."""
    u = _option_socket(w, number, opt)
    if u is None:
        return ret(None, b"closed")
    v = tonumber(value) if not isinstance(value, bool) else int(value)
    u.pc.options[_OPTIONS[int(opt)]] = int(v or 0)
    return ret(True)


def socket_tcp_sslhandshake(w, *args):
    """ngx_http_lua_socket_tcp_sslhandshake: not modelled (no TLS peers here)."""
    raise w.refuse("sock:sslhandshake() is not modelled by ngxcoro (the loopback network "
                   "has no TLS peers)")


def socket_tcp_getreusedtimes(w, *args):
    """ngx_http_lua_socket_tcp_getreusedtimes."""
    if len(args) != 1:
        return err(f"expecting 1 argument (including the object), but got {len(args)}")
    e = check_table(args)
    if e:
        return e
    u = get_u(w, args[0])
    if u is None or u.pc is None or (u.read_closed and u.write_closed):
        return ret(None, b"closed")
    return ret(u.reused)
