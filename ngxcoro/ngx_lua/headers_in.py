"""The request's headers as Lua changes them: ngx.req.set_header and
ngx.req.clear_header (src/ngx_http_lua_headers_in.c).

Their FFI entry, ngx_http_lua_ffi_req_set_header, is in misc.py with the
rest of its C file.

`r.headers` is r->headers_in.headers: (name, value) pairs in the order they
came, which every reader ($http_*, $host, ngx.req.get_headers, a
subrequest's copy, proxy_pass) walks.  The built-in headers' setters of the
C (Host, Content-Length, Cookie, ...) keep r->headers_in's own fields in
step; the model has no such fields, so the list is all there is.
"""
from __future__ import annotations


def set_input_header(r, key, value, override):
    """ngx_http_lua_set_input_header -> ngx_http_set_header_helper: with
    `override` the first header named `key` (any case) takes `value` and
    keeps its own name, the others named so are removed (all of them when
    `value` is empty), and a name not there is added at the end; without
    it (a table's second value on) a header is always added."""
    if override:
        low, matched, kept = key.lower(), False, []
        for name, v in r.headers:
            if name.lower() != low:
                kept.append((name, v))
            elif value and not matched:
                kept.append((name, value))
                matched = True
        r.headers[:] = kept
        if matched or not value:
            return
    r.headers.append((key, value))
