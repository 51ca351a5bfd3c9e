"""The headers filter: ``add_header`` and ``expires``
(src/http/modules/ngx_http_headers_filter_module.c).

Modelled: ``add_header name value [always]`` with a value without variables, and
``expires`` with a plain time (``1h``, ``30m``, ``-1``, ``epoch``, ``max``, ``off``).
``add_trailer`` likewise, its trailers written in the last chunk.  Refused, naming it:
variables in a value, ``expires`` with ``modified``, ``@`` or two arguments.
"""
from __future__ import annotations

import re

from .core import NGX_OK

# ngx_http_headers_filter: the statuses add_header (without "always") and expires apply to
SAFE_STATUSES = (200, 201, 204, 206, 301, 302, 303, 304, 307, 308)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000,
          "y": 31536000}


def expires_seconds(value):
    """The time of an expires directive (as ngx_http_headers_expires reads it):
    seconds, "epoch", "max" or "off", or None when not modelled."""
    if value in ("epoch", "max", "off"):
        return value
    m = re.fullmatch(r"(-?)((?:\d+[smhdwMy]?)+)", value)
    if not m:
        return None
    total = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdwMy]?)", m.group(2)))
    return -total if m.group(1) else total


def headers_filter(r, nxt):
    """ngx_http_headers_filter: for the main request, expires' Expires and
    Cache-Control, then each add_header, appended to r->headers_out."""
    from .response import http_time
    w = r.worker
    expires = w.location_setting(r, "expires", "off")
    adds = w.location_setting(r, "add_headers", ())
    trailers = w.location_setting(r, "add_trailers", ())
    if r is not r.main or (expires == "off" and not adds and not trailers):
        return nxt(r)
    safe = (r.headers_out_status or 200) in SAFE_STATUSES
    line = w.location_setting(r, "headers_line", 0)
    if expires != "off" and safe:
        secs = expires_seconds(expires)
        if secs is None:
            raise w.refuse(f'"expires {expires}" is valid nginx but is not modelled by ngxcoro '
                           f'in {w.config.filename}:{line}')
        now = int(w.loop.epoch_seconds())
        if secs == "epoch":
            r.headers_out += [["Expires", "Thu, 01 Jan 1970 00:00:01 GMT"],
                              ["Cache-Control", "no-cache"]]
        elif secs == "max":
            r.headers_out += [["Expires", "Thu, 31 Dec 2037 23:55:55 GMT"],
                              ["Cache-Control", "max-age=315360000"]]
        else:
            r.headers_out += [["Expires", http_time(now + secs)],
                              ["Cache-Control", "no-cache" if secs < 0 else f"max-age={secs}"]]
    for kind, items, out in (("add_header", adds, r.headers_out),
                             ("add_trailer", trailers, r.trailers)):
        for name, value, always in items:
            if "$" in value:
                raise w.refuse(f'"{kind} {name} {value}" is valid nginx but is not modelled '
                               f'by ngxcoro in {w.config.filename}:{line} (variables)')
            if (safe or always) and value:
                out.append([name, value])
    return nxt(r) if nxt else NGX_OK
