"""Variables, and their use in directive arguments
(src/http/ngx_http_variables.c, ngx_http_script.c).

The built-in variables a lesson needs, `$arg_*`, `$http_*`, and the ones
made by `set`.
"""
from __future__ import annotations

import re

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


#: the core variables the model has (ngx_http_core_variables); of these only $args
#: is NGX_HTTP_VAR_CHANGEABLE
CORE_NAMES = frozenset((
    "uri", "document_uri", "args", "query_string", "is_args", "request_method",
    "request_uri", "request", "server_protocol", "scheme", "host", "remote_addr",
    "remote_port", "server_addr", "server_port", "server_name", "status",
    "content_length", "content_type", "request_body"))
CHANGEABLE = frozenset(("args",))


def request_variable(r, name):
    """The built-in variables a lesson needs (ngx_http_variables.c), and `set` ones."""
    if name in r.set_vars:
        return r.set_vars[name]
    refused = r.worker.config.refused_vars.get(name)
    if refused:
        raise r.worker.refuse(f"{refused} (the request reads ${name})")
    if name.startswith("arg_"):
        want = name[4:]
        for pair in (r.args or "").split("&"):
            k, _, v = pair.partition("=")
            if k.lower() == want:
                return v
        return None
    if name.startswith("http_"):
        want = name[5:].replace("_", "-")
        for k, v in r.headers:
            if k.lower() == want:
                return v
        return None
    host = next((v for k, v in r.headers if k.lower() == "host"), "localhost")
    return {
        "uri": r.uri, "document_uri": r.uri, "args": r.args, "query_string": r.args,
        "is_args": "?" if r.args else "", "request_method": r.main.method,
        "request_uri": r.main.request_uri, "request": r.main.request_line,
        "server_protocol": r.http_version, "scheme": "http", "host": host.split(":")[0],
        "remote_addr": "127.0.0.1", "remote_port": "40000", "server_addr": "127.0.0.1",
        "server_port": "80", "server_name": r.server_name,
        # ngx_http_variable_status: the error page's status, else the response's
        "status": f"{r.err_status or r.headers_out_status or 0:03d}",
        "content_length": next((v for k, v in r.headers if k.lower() == "content-length"), None),
        "content_type": next((v for k, v in r.headers if k.lower() == "content-type"), None),
        "request_body": variable_request_body(r),
    }.get(name)


def variable_request_body(r):
    """ngx_http_variable_request_body: the body in memory; not found when it
    is not read, empty, or in a temp file."""
    rb = r.request_body
    if not rb or r.request_body_file is not None:
        return None
    return rb.decode("latin-1")


def expand(r, text):
    """$name and ${name} in a directive argument (the scripts of ngx_http_script.c)."""
    def var(m):
        v = request_variable(r, (m.group(1) or m.group(2)).lower())
        return "" if v is None else v
    return _VAR.sub(var, text)
