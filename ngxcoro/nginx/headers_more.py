"""headers-more-nginx-module's output side (src/ngx_http_headers_more_filter_module.c,
ngx_http_headers_more_headers_out.c): ``more_set_headers`` and ``more_clear_headers``
change r->headers_out in the module's header filter, before nginx's header filter
writes the head.

Modelled: "Name: value" and "Name" arguments (a clear name may end in ``*``: every
header that starts so).  Not modelled (the request is refused, naming it): the ``-s``
and ``-t`` options and values with variables.
"""
from __future__ import annotations

from .core import NGX_OK

# the headers nginx's header filter writes itself unless r->headers_out has one
# (ngx_http_headers_more_set_handlers: ngx_http_set_builtin_header); clearing one
# leaves an empty entry there, so nginx's own is not written either
BUILTIN = ("server", "date")


def headers_more_filter(r, nxt):
    """ngx_http_headers_more_filter: run the location's more_set_headers and
    more_clear_headers, in order, then the next header filter."""
    w = r.worker
    for name, args, line in w.location_setting(r, "more_headers", ()):
        for arg in args:
            if arg.startswith("-") or "$" in arg:
                raise w.refuse(f'"{name} {arg}" is valid nginx but is not modelled by '
                               f'ngxcoro in {w.config.filename}:{line} (options -s / -t '
                               'and variables are not)')
            if name == "more_set_headers":
                key, _, value = arg.partition(":")
                set_header(r, key.strip(), value.strip())
            else:
                set_header(r, arg.strip(), "")
    return nxt(r)


def set_header(r, name, value):
    """ngx_http_headers_more_exec_cmd for one header: Content-Type goes to
    r->headers_out.content_type; a name ending in * clears every header it
    starts; otherwise the first header of the name takes the value (its
    other ones go), an empty value clears them all (Server and Date: an
    empty entry stays, so nginx writes none), a new name is appended."""
    key = name.lower()
    if key == "content-type":
        r.content_type = value
        return NGX_OK
    if key.endswith("*"):
        r.headers_out[:] = [h for h in r.headers_out if not h[0].lower().startswith(key[:-1])]
        return NGX_OK
    same = [h for h in r.headers_out if h[0].lower() == key]
    keep = same[0] if same and (value or key in BUILTIN) else None
    r.headers_out[:] = [h for h in r.headers_out if h[0].lower() != key or h is keep]
    if keep is not None:
        keep[1] = value
    elif value or key in BUILTIN:
        r.headers_out.append([name, value])
    return NGX_OK
