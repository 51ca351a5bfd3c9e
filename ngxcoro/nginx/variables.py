"""Variables, and their use in directive arguments
(src/http/ngx_http_variables.c, ngx_http_script.c).

The built-in variables a lesson needs, `$arg_*`, `$http_*`, and the ones
made by `set`.
"""
from __future__ import annotations

import re

from .event_connect import MODEL_PORT

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


#: the core variables the model has (ngx_http_core_variables); of these only $args
#: is NGX_HTTP_VAR_CHANGEABLE
CORE_NAMES = frozenset((
    "uri", "document_uri", "args", "query_string", "is_args", "request_method",
    "request_uri", "request", "server_protocol", "scheme", "host", "remote_addr",
    "remote_port", "server_addr", "server_port", "server_name", "status",
    "content_length", "content_type", "request_body"))
CHANGEABLE = frozenset(("args",))


def declared_vars(w):
    """The variables `set` makes anywhere in the configuration: nginx indexes
    them at start-up (ngx_http_variables_init_vars), so every request has them."""
    names = getattr(w.config, "_declared_vars", None)
    if names is None:
        names = set()
        todo = [d for srv in w.config.servers for d in srv.directives]
        locs = [loc for srv in w.config.servers for loc in srv.locations]
        while locs:                     # locations, nested ones too
            loc = locs.pop()
            todo += loc.directives
            locs += getattr(loc, "locations", [])
        while todo:                     # directives, those inside `if` blocks too
            d = todo.pop()
            if d.name == "set" and d.args:
                names.add(d.args[0].lstrip("$").lower())
            todo += d.block or []
        w.config._declared_vars = names
    return names


def request_variable(r, name):
    """The built-in variables a lesson needs (ngx_http_variables.c), and `set` ones."""
    if name in r.set_vars:
        return r.set_vars[name]
    if name in declared_vars(r.worker):   # ngx_http_rewrite_var: not set in this request
        r.worker.log_error("warn", f'using uninitialized "{name}" variable', r)
        return ""
    refused = r.worker.config.refused_vars.get(name)
    if refused:
        raise r.worker.refuse(f"{refused} (the request reads ${name})")
    if name.isdigit():                  # the captures of the location's regex
        caps = getattr(r, "captures", ())
        n = int(name)
        return (caps[n] or "") if n < len(caps) else None
    if name.startswith("arg_"):
        want = name[4:]
        for pair in (r.args or "").split("&"):      # ngx_http_arg: "name=" only
            k, eq, v = pair.partition("=")
            if eq and k.lower() == want:
                return v
        return None
    if name.startswith("http_"):
        want = name[5:].replace("_", "-")
        sep = {"cookie": "; ", "x-forwarded-for": ", "}.get(want)
        if sep:                 # ngx_http_variable_cookies / _headers: all of them, joined
            vals = [v for k, v in r.headers if k.lower() == want]
            return sep.join(vals) if vals else None
        for k, v in r.headers:
            if k.lower() == want:
                return v
        return None
    if name == "echo_incr":             # ngx_http_echo_incr_variable: the main request's counter
        ctx = getattr(r.main, "echo_ctx", None)
        if ctx is None:
            return None
        ctx.counter += 1
        return str(ctx.counter)
    if name.startswith("cookie_"):      # ngx_http_variable_cookie: the first "name=value"
        want = name[7:]
        for k, v in r.headers:
            if k.lower() == "cookie":
                for pair in v.split(";"):
                    ck, eq, cv = pair.strip(" ").partition("=")
                    if eq and ck.lower() == want:
                        return cv
        return None
    host = next((v for k, v in r.headers if k.lower() == "host"), "localhost")
    return {
        "uri": r.uri, "document_uri": r.uri, "args": r.args, "query_string": r.args,
        "is_args": "?" if r.args else "", "request_method": r.main.method,
        "request_uri": r.main.request_uri, "request": r.main.request_line,
        "server_protocol": r.http_version, "scheme": "http", "host": host.split(":")[0],
        "remote_addr": "127.0.0.1", "remote_port": "40000", "server_addr": "127.0.0.1",
        "server_port": str(MODEL_PORT), "server_name": r.server_name,
        # ngx_http_variable_status: the error page's status, else the response's
        "status": f"{r.err_status or r.headers_out_status or 0:03d}",
        "content_length": next((v for k, v in r.headers if k.lower() == "content-length"), None),
        "content_type": next((v for k, v in r.headers if k.lower() == "content-type"), None),
        "request_body": variable_request_body(r),
        # the echo module's $echo_request_method: this request's own method_name
        "echo_request_method": r.method,
        # ... and $echo_request_body: this request's body, when read into memory
        "echo_request_body": variable_request_body(r),
        "echo_client_request_method": r.main.method,
        "echo_response_status": str(r.headers_out_status) if r.headers_out_status else None,
        "echo_client_request_headers": client_request_headers(r.main),
        "echo_cacheable_request_uri": r.uri or None, "echo_request_uri": r.uri or None,
    }.get(name)


def variable_request_body(r):
    """ngx_http_variable_request_body: the body in memory; not found when it
    is not read, in a temp file, or empty without a buffer (an empty buffer
    is "")."""
    rb = r.request_body
    if rb == b"" and r.request_body_empty_buf and r.request_body_file is None:
        return ""
    if not rb or r.request_body_file is not None:
        return None
    return rb.decode("latin-1")


def expand(r, text):
    """$name and ${name} in a directive argument (the scripts of ngx_http_script.c)."""
    def var(m):
        v = request_variable(r, (m.group(1) or m.group(2)).lower())
        return "" if v is None else v
    return _VAR.sub(var, text)


def client_request_headers(r):
    """echo's $echo_client_request_headers (ngx_http_echo_client_request_headers_variable):
    the client's request line and header lines as they came, and the blank line (real
    nginx: the header buffer up to its read position, before the body is read)."""
    return r.request_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in r.headers) + "\r\n"
