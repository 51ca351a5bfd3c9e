"""The receive side of ngx.socket.tcp (src/ngx_http_lua_socket_tcp.c, with
the input filters of src/ngx_http_lua_input_filters.c): receive,
receiveany, receiveuntil and its iterator, ngx_http_lua_socket_tcp_read
(the buffer first, then non-blocking reads until the filter is satisfied or
the socket has nothing more: NGX_AGAIN, a yield with the read timer armed),
the read event handler and the receive return values.

`u.buffer` is what was received and not consumed yet (b->pos .. b->last);
`u.out` is what the current call returns (u->bufs_in).
"""
from __future__ import annotations

from ..nginx.core import NGX_OK, NGX_AGAIN, NGX_ERROR
from .protocol import err, argerr, ret, yield_to_run_thread, lua_type, tonumber
from .util import cleanup_pending_operation
from . import socket_tcp as S


def _open_for_reading(w, r, args, what="receive"):
    """The checks receive and receiveany share: (u, None) or (u, the answer)."""
    e = S.check_table(args)
    if e:
        return None, e
    u = S.get_u(w, args[0])
    if u is None or u.pc is None or u.read_closed:
        S.closed_line(w, r, u, what)
        return u, ret(None, b"closed")
    if u.request is not r:
        return u, err("bad request")
    busy = S.check_busy(u, "conn", "read")
    return u, busy


def socket_tcp_receive(w, *args):
    """ngx_http_lua_socket_tcp_receive: sock:receive([pattern])."""
    n = len(args)
    if n not in (1, 2):
        return err(f"expecting 1 or 2 arguments (including the object), but got {n}")
    r = w.cur_r
    if r is None:
        return err("no request found")
    w.fire("sock_receive")
    u, e = _open_for_reading(w, r, args)
    if e:
        return e
    if n > 1:
        pat = args[1]
        num = tonumber(pat) if not isinstance(pat, bool) else None
        if num is not None and lua_type(pat) in ("number", "string") and not (
                isinstance(pat, bytes) and pat[:1] == b"*"):
            bytes_ = int(num)
            if bytes_ < 0:
                return argerr(2, "bad pattern argument")
            if bytes_ == 0:
                return ret(b"")
            u.input_filter, u.length, u.rest = read_chunk, bytes_, bytes_
        elif isinstance(pat, bytes):
            if len(pat) != 2 or pat[:1] != b"*":
                return argerr(2, "bad pattern argument: " + pat.split(b"\0")[0].decode("latin-1"))
            if pat == b"*l":
                u.input_filter = read_line
            elif pat == b"*a":
                u.input_filter = read_all
            else:
                return argerr(2, "bad pattern argument")
            u.length = u.rest = 0
        else:
            return argerr(2, "bad pattern argument")
    else:
        u.input_filter, u.length, u.rest = read_line, 0, 0
    return receive_helper(w, r, u)


def socket_tcp_receiveany(w, *args):
    """ngx_http_lua_socket_tcp_receiveany: sock:receiveany(max)."""
    if len(args) != 2:
        return err(f"expecting 2 arguments (including the object), but got {len(args)}")
    r = w.cur_r
    if r is None:
        return err("no request found")
    u, e = _open_for_reading(w, r, args)
    if e:
        return e
    num = tonumber(args[1]) if lua_type(args[1]) in ("number", "string") else None
    if num is None or int(num) <= 0:
        return argerr(2, "bad max argument")
    u.input_filter, u.rest = read_any, int(num)
    u.length = u.rest
    return receive_helper(w, r, u)


def receive_helper(w, r, u):
    """ngx_http_lua_socket_tcp_receive_helper: read now; yield on NGX_AGAIN."""
    if u.buffer is None:
        u.buffer = bytearray()
    w.fire("sock_read_timeout", ms=u.timeouts[2])
    u.read_waiting, u.read_co_ctx = False, None
    rc = socket_tcp_read(r, u)
    if rc == NGX_ERROR:
        return ret(*receive_retval_handler(r, u))
    if rc == NGX_OK:
        w.fire("sock_receive_done_single")
        return ret(*receive_retval_handler(r, u))
    return _wait_read(w, r, u, "receive()")


def _wait_read(w, r, u, what):
    u.read_event_handler = read_handler
    coctx = r.ctx.cur_co_ctx
    cleanup_pending_operation(coctx)
    coctx.cleanup = lambda co: S.coctx_cleanup(u, co)
    coctx.sock_u = u
    coctx.waiting = f"{u.name}:{what}"
    u.read_co_ctx = coctx
    u.read_waiting = True
    u.read_prepare_retvals = receive_retval_handler
    w.fire("sock_read_yield", u=u, co=coctx)
    return yield_to_run_thread()


# ------------------------------------------------------------ input filters
def read_chunk(u, n):
    """ngx_http_lua_socket_read_chunk (ngx_http_lua_read_bytes)."""
    if n == 0:
        u.ft_type |= S.FT_CLOSED
        return NGX_ERROR
    take = min(n, u.rest)
    u.out += u.buffer[:take]
    del u.buffer[:take]
    u.rest -= take
    return NGX_OK if u.rest == 0 else NGX_AGAIN


def read_all(u, n):
    """ngx_http_lua_socket_read_all: EOF is success."""
    if n == 0:
        return NGX_OK
    u.out += u.buffer
    u.buffer.clear()
    return NGX_AGAIN


def read_line(u, n):
    """ngx_http_lua_socket_read_line: up to LF, CRs dropped."""
    if n == 0:
        u.ft_type |= S.FT_CLOSED
        return NGX_ERROR
    i = u.buffer.find(b"\n")
    part = u.buffer if i < 0 else u.buffer[:i]
    u.out += part.replace(b"\r", b"")
    del u.buffer[:len(part) if i < 0 else i + 1]
    return NGX_AGAIN if i < 0 else NGX_OK


def read_any(u, n):
    """ngx_http_lua_socket_read_any: whatever there is, up to the max."""
    if n == 0:
        u.ft_type |= S.FT_CLOSED
        return NGX_ERROR
    take = min(n, u.rest)
    u.out += u.buffer[:take]
    del u.buffer[:take]
    return NGX_OK


# ----------------------------------------------------------- the read loop
def socket_tcp_read(r, u):
    """ngx_http_lua_socket_tcp_read: the filter over the buffer, then
    recv() until it is satisfied (OK), fails (ERROR) or nothing more is
    there (AGAIN: the read timer is armed)."""
    w = r.worker
    pc = u.pc
    w.fire("sock_read_data", u=u, wait=int(u.read_waiting))
    while True:
        size = len(u.buffer)
        if size or u.eof:
            rc = u.input_filter(u, size)
            if rc == NGX_OK:
                w.fire("sock_receive_done", u=u, wait=int(u.read_waiting), eof=int(u.eof),
                       uri=r.log_uri)
                S.handle_read_success(r, u)
                return NGX_OK
            if rc == NGX_ERROR:
                S.handle_read_error(r, u, S.FT_ERROR)
                return NGX_ERROR
            continue
        data = pc.recv(u.conf["buffer_size"])
        if data is None:
            break
        w.fire("sock_recv", u=u, n=len(data))
        if not data:
            u.eof = True
            continue
        u.buffer += data
    S.set_timer(w, u, "read", u.timeouts[2])
    return NGX_AGAIN


def read_handler(r, u):
    """ngx_http_lua_socket_read_handler: data, EOF or the read timeout."""
    w = r.worker
    if u.read_timedout:
        u.read_timedout = False
        if u.conf["log_errors"]:
            w.log_error("error", "lua tcp socket read timed out", r)
        S.handle_read_error(r, u, S.FT_TIMEOUT)
        return
    S.del_timer(w, u, "read")
    if u.buffer is not None:
        socket_tcp_read(r, u)


def receive_retval_handler(r, u):
    """ngx_http_lua_socket_tcp_receive_retval_handler: the data, or nil, the
    error and the partial data (a timeout keeps the read side open)."""
    r.worker.fire("sock_receive_retval")
    if u.ft_type:
        if u.ft_type & S.FT_TIMEOUT:
            u.no_close = True
        data = bytes(u.out)
        u.out = bytearray()
        vals = read_error_retval_handler(r, u)
        return (*vals, data)
    data = bytes(u.out)
    u.out = bytearray()
    return (data,)


def read_error_retval_handler(r, u):
    """ngx_http_lua_socket_read_error_retval_handler."""
    if u.read_co_ctx is not None:
        u.read_co_ctx.cleanup = None
    ft, u.ft_type = u.ft_type, 0
    if u.no_close:
        u.no_close = False
    else:
        S.finalize_read_part(r, u)
    return S.prepare_error_retvals(u, ft)


# ------------------------------------------------------------ receiveuntil
class Pattern:
    """ngx_http_lua_socket_compiled_pattern_t: the pattern, its recovery
    edges (a DFA for partial matches), the match state (-1: the pattern was
    just matched by a sized read, the next call answers three nils)."""

    def __init__(self, pat, inclusive):
        self.pattern, self.inclusive = pat, inclusive
        self.state = 0
        self.recovering = compile_pattern(pat)


def compile_pattern(data):
    """ngx_http_lua_socket_compile_pattern: {state: {byte: new_state}}."""
    rec = {}
    n = len(data)
    if n <= 2:
        return rec
    for i in range(1, n):
        prefix_len = 1
        while prefix_len <= n - i - 1:
            if data[:prefix_len] == data[i:i + prefix_len]:
                if data[prefix_len] == data[i + prefix_len]:
                    prefix_len += 1
                    continue
                cur_state, new_state = i + prefix_len, prefix_len + 1
                edges = rec.setdefault(cur_state, {})
                chr_ = data[prefix_len]
                if edges.get(chr_, 0) < new_state:
                    edges[chr_] = new_state
            break
    return rec


def socket_tcp_receiveuntil(w, *args):
    """ngx_http_lua_socket_tcp_receiveuntil: compile the pattern, answer the iterator."""
    n = len(args)
    if n not in (2, 3):
        return err(f"expecting 2 or 3 arguments (including the object), but got {n}")
    inclusive = False
    if n == 3:
        if lua_type(args[2]) != "table":
            return argerr(3, f"table expected, got {lua_type(args[2])}")
        v = args[2][b"inclusive"]
        if isinstance(v, bool):
            inclusive = v
        elif v is not None:
            return err(f'bad "inclusive" option value type: {lua_type(v)}')
    if w.cur_r is None:
        return err("no request found")
    e = S.check_table(args)
    if e:
        return e
    pat = args[1]
    if isinstance(pat, (int, float)) and not isinstance(pat, bool):
        pat = S.lua_number_text(pat).encode()
    if not isinstance(pat, bytes):
        return argerr(2, f"string expected, got {lua_type(args[1])}")
    if not pat:
        return ret(None, b"pattern is empty")
    cp = Pattern(pat, inclusive)
    w.patterns.append(cp)
    return ret(w.vm.until_iterator(args[0], len(w.patterns)))


def receiveuntil_iterator(w, sock, cp_number, *args):
    """ngx_http_lua_socket_receiveuntil_iterator: it([size])."""
    n = len(args)
    if n > 1:
        return err(f"expecting 0 or 1 arguments, but seen {n}")
    size = 0
    if n == 1:
        num = tonumber(args[0]) if lua_type(args[0]) in ("number", "string") else None
        if num is None:
            return argerr(1, f"number expected, got {lua_type(args[0])}")
        size = max(0, int(num))
    u = S.get_u(w, sock)
    if u is None or u.pc is None or u.read_closed:
        return ret(None, b"closed")
    r = w.cur_r
    if r is None:
        return err("no request found")
    if u.request is not r:
        return err("bad request")
    busy = S.check_busy(u, "conn", "read")
    if busy:
        return busy
    cp = w.patterns[int(cp_number) - 1]
    if cp.state == -1:
        cp.state = 0
        return ret(None, None, None)
    u.cp = cp
    u.input_filter = read_until
    if u.buffer is None:
        u.buffer = bytearray()
    u.length = u.rest = size
    u.read_waiting, u.read_co_ctx = False, None
    rc = socket_tcp_read(r, u)
    if rc == NGX_ERROR or rc == NGX_OK:
        if rc == NGX_OK:
            w.fire("sock_receive_done_single")
        return ret(*receive_retval_handler(r, u))
    return _wait_read(w, r, u, "receiveuntil iterator")


def read_until(u, nbytes):
    """ngx_http_lua_socket_read_until: match the pattern, keeping what is
    not part of it (and the pattern's prefixes that turned out not to be)."""
    cp = u.cp
    if nbytes == 0:
        u.ft_type |= S.FT_CLOSED
        return NGX_ERROR
    pat, b = cp.pattern, u.buffer
    state, i = cp.state, 0

    def consume(k):
        del b[:k]

    while i < nbytes:
        c = b[i]
        if c == pat[state]:
            i += 1
            state += 1
            if state == len(pat):
                consume(i)
                cp.state = -1 if u.length else 0
                if cp.inclusive:
                    u.out += pat
                return NGX_OK
            continue
        if state == 0:
            u.out.append(c)
            i += 1
            if u.length:
                u.rest -= 1
                if u.rest == 0:
                    cp.state = state
                    consume(i)
                    return NGX_OK
            continue
        new = cp.recovering.get(state, {}).get(c) if state >= 2 else None
        if new is None:
            u.out += pat[:state]
            if u.length:
                if u.rest <= state:
                    u.rest = 0
                    cp.state = 0
                    consume(i)
                    return NGX_OK
                u.rest -= state
            state = 0
            continue
        old, state = state, new
        pending = old + 1 - state
        u.out += pat[:pending]
        i += 1
        if u.length:
            # a sized read counts the bytes handed back (real nginx 0.10.23 stops
            # here once they reach the size, as its recordings show)
            if u.rest <= pending:
                u.rest = 0
                cp.state = state
                consume(i)
                return NGX_OK
            u.rest -= pending
    consume(i)
    cp.state = state
    return NGX_AGAIN
