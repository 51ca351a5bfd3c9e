"""Reading a request line: src/http/ngx_http_parse.c ``ngx_http_parse_request_line``.

``parse_request(line)`` splits ``"METHOD TARGET [VERSION]"`` (HTTP/1.1 when the version is
left out) into ``(method, uri, args, version)``, the parts nginx keeps as
``r->method_name``, ``r->uri``, ``r->args`` and ``r->http_protocol``; ``args`` is None
when the target has no ``?``. Two readers use it:

* the model (``ngxcoro.parse_request``, ``strict=True``): it also refuses, with a
  ``RequestError`` naming the line, what nginx would answer with 400 or 505 instead of
  running a location (a protocol other than HTTP/1.0 or 1.1, a target not starting
  with ``/``), since no Lua would run. A bad method is let through: the model's
  nginx answers it as nginx does (``invalid_method``, checked by
  ``request.process_request``: 400 Bad Request, no location run);
* the real-nginx client (``ngxcoro.oracle``, ``strict=False``): it only needs the words,
  and sends such lines to nginx on purpose to see its answer.

The line is split on whitespace, not parsed byte by byte as nginx does.

``parse_unsafe_uri`` is the same file's check of a URI a module asks for (a
subrequest's), with the ``ngx_unescape_uri`` it calls.
"""

from __future__ import annotations

__all__ = ["RequestError", "parse_request", "request_target", "invalid_method",
           "parse_unsafe_uri"]


class RequestError(ValueError):
    """A request line ngxcoro cannot take."""


def parse_request(line: str, *, strict: bool = True) -> tuple:
    """"GET /t?a=1 HTTP/1.0" -> (method, uri, args, version); see the module docstring."""
    parts = line.split()
    if len(parts) == 2:
        parts.append("HTTP/1.1")
    if len(parts) != 3:
        raise RequestError(f'bad request line "{line}": expected "METHOD /uri [HTTP/1.x]"')
    method, target, version = parts
    if strict:
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            raise RequestError(f'unsupported protocol "{version}" in request line "{line}"')
        if not target.startswith("/"):
            raise RequestError(f'the URI must start with "/" in request line "{line}"')
    uri, sep, args = target.partition("?")
    return method, uri, (args if sep else None), version


def invalid_method(method: str) -> bool:
    """The sw_method state of ngx_http_parse_request_line: a method is made of 'A'-'Z',
    '_' and '-' (any such word, known or not: an unknown one is NGX_HTTP_UNKNOWN and
    goes on); another byte is NGX_HTTP_PARSE_INVALID_METHOD."""
    return not method or any(not ("A" <= ch <= "Z" or ch in "_-") for ch in method)


def request_target(uri: str, args) -> str:
    """The request target again from ``parse_request``'s uri and args (``/t?a=1``)."""
    return uri if args is None else f"{uri}?{args}"


def unescape_uri(s: str) -> str:
    """ngx_unescape_uri (src/core/ngx_string.c) with type 0: each %XX becomes
    its byte; a '%' not followed by a hex digit is dropped (the character
    after it is kept), as is a '%X' whose second character is no hex digit."""
    out, i, n = [], 0, len(s)
    while i < n:
        ch = s[i]
        i += 1
        if ch != "%":
            out.append(ch)
            continue
        if i < n and s[i] in "0123456789abcdefABCDEF":
            hi = s[i]
            i += 1
            if i < n and s[i] in "0123456789abcdefABCDEF":
                out.append(chr(int(hi + s[i], 16)))
            i += 1                          # a bad second character is dropped too
        elif i < n:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_unsafe_uri(uri: str, unsafe: list | None = None):
    """ngx_http_parse_unsafe_uri: the URI a module asks for (a subrequest's,
    ngx.exec's) split at '?' into (uri, args: None without a '?'), %-escapes
    decoded once; None when it is unsafe: empty, starting with '?', a NUL, or
    a ".." segment (also once decoded; a decoded '?' or '%' is just a
    character), and then the URI as it was found unsafe is appended to
    `unsafe` (what NGX_HTTP_LOG_UNSAFE logs).  Each character stands for one
    byte (latin-1)."""
    def bad(u):
        if unsafe is not None:
            unsafe.append(u)
    if not uri or uri[0] == "?":
        return bad(uri)
    args, decoded = None, False
    while True:
        if uri[:2] == ".." and (len(uri) == 2 or uri[2] == "/"):
            return bad(uri)
        quoted, n = False, len(uri)
        for i, ch in enumerate(uri):
            if ch == "%" and not decoded:
                quoted = True
            elif ch == "?" and not decoded:
                uri, args = uri[:i], uri[i + 1:]
                break
            elif ch == "\0":
                return bad(uri)
            elif (ch == "/" and n - i > 2 and uri[i + 1:i + 3] == ".."
                  and (n - i == 3 or uri[i + 3] == "/")):
                return bad(uri)
        if not quoted:
            return uri, args
        uri, decoded = unescape_uri(uri), True     # "unescaped URI", checked again
