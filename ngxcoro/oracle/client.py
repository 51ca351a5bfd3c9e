"""The oracle's HTTP client: the request bytes it sends and how it reads nginx's answer.

``_build_request`` writes the request (``Host: localhost`` and ``Connection: close`` unless
given, ``Content-Length`` for a body); the request line is split by
ngxcoro.nginx.http_parse (``parse_request(..., strict=False)``: the oracle sends lines the
model refuses, to see what nginx answers). ``exchange`` connects to 127.0.0.1 (retrying
until nginx listens: no probe connection, so connection ``*1`` is the request), sends, and
reads until nginx closes, the timeout, or the client's own close (``abort_at``: the
client aborts); ``_parse_response`` turns the bytes into (status,
headers, body), with status None for an incomplete answer.
"""

from __future__ import annotations

import re
import socket
import time

from ..nginx.http_parse import RequestError, parse_request, request_target

__all__ = ["exchange", "request_method"]


def _request_line(request: str) -> tuple[str, str, str]:
    """(method, target, version); nothing is checked beyond the number of words."""
    try:
        method, uri, args, version = parse_request(request, strict=False)
    except RequestError:
        raise RequestError(f'request must be "METHOD URI [HTTP/1.x]", got {request!r}') from None
    return method, request_target(uri, args), version


def request_method(request: str) -> str:
    return _request_line(request)[0]


def _norm_headers(headers) -> list[tuple[str, object]]:
    out = []
    for h in headers or ():
        if isinstance(h, str):
            name, _, value = h.partition(":")
            out.append((name.strip(), value.strip()))
        else:
            name, value = h
            out.append((str(name), value))
    return out


def _build_request(request, headers, body) -> tuple[bytes, list]:
    """(head + string body bytes, [(delay, bytes)] pieces to send later)."""
    method, uri, version = _request_line(request)
    hdrs = _norm_headers(headers)
    names = {n.lower() for n, _ in hdrs}
    lines = [f"{method} {uri} {version}"]
    if "host" not in names:
        lines.append("Host: localhost")
    lines += [f"{n}: {v}" for n, v in hdrs if v is not None]
    if "connection" not in names:
        lines.append("Connection: close")
    pieces: list = []
    payload = b""
    if body is not None:
        if isinstance(body, (str, bytes)):
            payload = body.encode() if isinstance(body, str) else body
            total = len(payload)
        else:
            pieces = [(float(d), c.encode() if isinstance(c, str) else c) for d, c in body]
            total = sum(len(c) for _, c in pieces)
        if "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {total}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + payload, pieces
def _dechunk(data: bytes) -> tuple[bytes, bool]:
    out = bytearray()
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            return bytes(out), False
        try:
            size = int(data[i:j].split(b";")[0].strip(), 16)
        except ValueError:
            return bytes(out), False
        i = j + 2
        if size == 0:
            return bytes(out), data[i:i + 2] == b"\r\n" or data.find(b"\r\n\r\n", i - 2) >= 0
        out += data[i:i + size]
        if len(data) < i + size + 2:
            return bytes(out), False
        i += size + 2


def _parse_response(data: bytes, method: str, eof: bool):
    """(status or None, headers, body bytes)."""
    k = data.find(b"\r\n\r\n")
    if k < 0:
        return None, [], b""
    head = data[:k].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3})", head[0])
    if not m:
        return None, [], b""
    status = int(m.group(1))
    headers = []
    for h in head[1:]:
        name, _, value = h.partition(":")
        headers.append([name.strip(), value.strip()])
    lower = {n.lower(): v for n, v in headers}
    rest = data[k + 4:]
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body, complete = _dechunk(rest)
        return (status if complete else None), headers, body
    if "content-length" in lower:
        try:
            cl = int(lower["content-length"])
        except ValueError:
            return None, headers, rest
        return (status if len(rest) >= cl else None), headers, rest[:cl]
    return (status if eof else None), headers, rest


def exchange(port: int, payload: bytes, pieces: list, method: str, timeout: float,
             alive, abort_at: float | None = None, sent=None) -> dict | None:
    """Connect to 127.0.0.1:`port` (retrying while ``alive()``, for up to 10 s, until nginx
    listens), send the request, and read the reply until nginx closes the connection or
    `timeout` (counted from the request) runs out. Returns None when nginx never accepted
    the connection (a startup failure), else {status, headers, body, hung, client_aborted}.

    `abort_at` (seconds from when the request was sent; the body pieces, if any, are sent
    first) makes the client close its socket then, if nginx has not closed the connection
    before: what had arrived is kept, the status is the response's when it had arrived
    whole (else None), `hung` is False and `client_aborted` True. Whatever is readable is
    read before the close, so the close is a FIN (not a reset) unless nginx writes in the
    same instant. `sent(t0)`, if given, is called as the request starts to be sent."""
    sock = None
    deadline = time.monotonic() + 10.0
    while sock is None:
        if not alive() or time.monotonic() > deadline:
            return None
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # each body piece leaves when its delay is up: without TCP_NODELAY, Nagle holds a
        # piece back until nginx acknowledges the one before, and nginx delays that ACK by
        # up to 40 ms (fuzz seed 310817: a piece sent 10 ms after the first arrived 25 ms late)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect(("127.0.0.1", port))
            sock = s
        except OSError:
            s.close()
            time.sleep(0.01)
    aborted = False
    with sock:
        t0 = time.monotonic()
        if sent is not None:
            sent(t0)
        try:
            sock.sendall(payload)
            for delay, chunk in pieces:
                time.sleep(delay)
                sock.sendall(chunk)
        except OSError:
            pass                   # nginx may close before reading everything
        data = bytearray()
        eof = False
        end = t0 + timeout
        if abort_at is not None:
            end = min(end, t0 + abort_at)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                aborted = abort_at is not None and abort_at < timeout
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue           # the loop sees the time is up
            except OSError:        # a reset counts as the end of the reply
                eof = True
                break
            if not chunk:
                eof = True
                break
            data += chunk
        if aborted:                # read what is there, so that close() sends a FIN
            sock.setblocking(False)
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
    status, hdrs, rbody = _parse_response(bytes(data), method, eof)
    if not eof and not aborted:
        status = None              # timed out: nginx never finished the request
    head, raw_body = wire_head(bytes(data))
    return {"status": status, "headers": hdrs, "body": rbody.decode("utf-8", "replace"),
            "hung": not eof and not aborted, "client_aborted": aborted,
            "head": head, "raw_body": raw_body}


DATE_PLACEHOLDER = "__DATE__"
_HTTP_DATE = re.compile(r"^(Date|Last-Modified|Expires): "
                        r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", re.I)


def normalise_head(lines: list[str]) -> list[str]:
    """The head with every HTTP date (Date, and Last-Modified or Expires if sent) written
    as DATE_PLACEHOLDER: real nginx's Date is the wall clock's second, which a recording
    cannot hold still (two runs straddle a second boundary), and the model's is its
    virtual clock's; tests check the model's value against its clock separately."""
    return [(m.group(1) + ": " + DATE_PLACEHOLDER) if (m := _HTTP_DATE.match(h)) else h
            for h in lines]


def wire_head(data: bytes) -> tuple[list[str], str]:
    """(status line and header lines, Date normalised; the body bytes as they came, chunk
    framing included) of a raw answer; ([], "") when no whole head arrived."""
    k = data.find(b"\r\n\r\n")
    if k < 0:
        return [], ""
    head = data[:k].decode("latin-1").split("\r\n")
    return normalise_head(head), data[k + 4:].decode("utf-8", "replace")
