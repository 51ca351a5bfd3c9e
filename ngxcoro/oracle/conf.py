"""Render the nginx.conf the oracle runs: the user's text, made to listen and log where we say.

``build_config(text, port, prefix)`` keeps every line where it was (line k of the text is
line k of the result, so nginx's ``nginx.conf:N`` and the Lua chunk names match the
model's): what we add goes on line 1 before the user's first character, or right after a
``{`` on its own line; what we take out (``listen``, ``error_log``, ``pid``, ...) is
overwritten with spaces; a whole config is kept off the host (its ``user``, access logs,
temp paths and the includes that load modules or add servers are blanked). The directives
and their byte offsets come from the model's own
reader, ngxcoro.nginx.conf (``parse_partial``: src/core/ngx_conf_file.c ``ngx_conf_parse``),
so the oracle reads a config exactly as the model does. In text with a syntax error only
what comes before the error is rewritten; nginx then refuses the text with its own message
and line number.
"""

from __future__ import annotations

import os
import re

from ..nginx.conf import parse_partial, walk

__all__ = ["build_config", "is_full_config"]

_TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path",
               "uwsgi_temp_path", "scgi_temp_path")


def _blank(chars: list, start: int, end: int) -> None:
    """Overwrite chars[start:end] with spaces, keeping newlines (line numbers)."""
    for k in range(start, end):
        if chars[k] != "\n":
            chars[k] = " "


def is_full_config(text: str) -> bool:
    """A full nginx.conf has a top-level ``events`` or ``http`` block."""
    top, error = parse_partial(text)
    if error is not None:
        # fall back to a rough test on unparseable text
        return bool(re.search(r"(?m)^\s*(events|http)\s*\{", text))
    return any(d.block is not None and d.name in ("events", "http") for d in top)


HEADERS_MORE = "ngx_http_headers_more_filter_module.so"
_USES_HEADERS_MORE = re.compile(r"(?m)^[^#\n]*\bmore_(set|clear)_(input_)?headers\b")


def _main_directives(prefix: str, text: str = "") -> str:
    """load_module for ndk, lua and echo (and headers-more when `text` uses one of its
    directives: only then, so other configs load what they always did), pid, the debug
    error log, one worker."""
    from . import MODULES, MODULES_DIR
    modules = MODULES + ((HEADERS_MORE,) if _USES_HEADERS_MORE.search(text) else ())
    loads = " ".join(f"load_module {os.path.join(MODULES_DIR, m)};" for m in modules)
    return (f"{loads} pid {prefix}logs/nginx.pid; "
            f"error_log {prefix}logs/error.log debug; worker_processes 1; ")


def _http_directives(prefix: str, skip=()) -> str:
    out = []
    if "access_log" not in skip:
        out.append("access_log off;")
    if "keepalive_timeout" not in skip:
        out.append("keepalive_timeout 0;")
    for name in _TEMP_PATHS:
        if name not in skip:
            out.append(f"{name} {prefix}tmp/{name.split('_')[0]};")
    return " ".join(out) + " "


def build_config(text: str, port: int, prefix: str) -> str:
    """The nginx.conf for `text` (server-block text, top-level server blocks or a full
    nginx.conf).

    `prefix` is the absolute nginx prefix ending with '/'. Line k of `text` is line k
    of the result; the result is the user's text with line 1 prefixed and, for
    server-block text, ``\\n}\\n}\\n`` appended.
    """
    from . import PORT_PLACEHOLDER
    if not prefix.endswith("/"):
        prefix += "/"
    # same length on every line that has none, and never a new line: line numbers stay
    text = text.replace(PORT_PLACEHOLDER, str(port))
    if is_full_config(text):
        return _build_full(text, port, prefix)
    if _has_top_server(text):
        # top-level server blocks (with http-level directives beside them): the inside of
        # http, as the model reads them (nginx/conf/load.py _kind); wrapped on line 1
        return _build_full("events { worker_connections 64; } http { " + text + "\n}\n",
                           port, prefix)
    return _build_server_block(text, port, prefix)


def _has_top_server(text: str) -> bool:
    top, error = parse_partial(text)
    return error is None and any(d.block is not None and d.name == "server" for d in top)


def _build_server_block(text: str, port: int, prefix: str) -> str:
    chars = list(text)
    top = parse_partial(text)[0]   # a syntax error is left for nginx to report
    for d in top:
        # our own listen/error_log decide where nginx listens and logs
        if d.name == "listen":
            _blank(chars, d.start, d.end)
    for d in walk(top):
        if d.name == "error_log":
            _blank(chars, d.start, d.end)
    header = (_main_directives(prefix, text) + "events { worker_connections 64; } "
              + "http { " + _http_directives(prefix)
              + f"server {{ listen 127.0.0.1:{port}; ")
    return header + "".join(chars) + "\n}\n}\n"


# Debian's include directories that load modules (ours are loaded on line 1) or add servers
# (the stock default site listens on port 80 of every address): blanked in a whole config
_HOST_INCLUDES = ("modules-enabled/", "sites-enabled/", "conf.d/")


def _rewrite_host_paths(top: list, chars: list) -> set:
    """Keep a whole config off the host: blank ``user``, every ``access_log`` and temp path
    (ours go after ``http {``) and the includes of _HOST_INCLUDES; a relative include (of
    mime.types, ...) is read from Debian's /etc/nginx, the conf prefix the text was written
    for, since the private prefix has no such file. Returns the names blanked."""
    blanked = set()
    for d in walk(top):
        target = d.args[0] if d.name == "include" and d.args else ""
        host = any(part in target for part in _HOST_INCLUDES)
        if d.name in ("user", "access_log") + _TEMP_PATHS or host:
            _blank(chars, d.start, d.end)
            blanked.add(d.name)
        elif target and not target.startswith("/") and "$" not in target:
            _blank(chars, d.start, d.end)
            chars[d.start] = f"include /etc/nginx/{target};"
    return blanked


def _build_full(text: str, port: int, prefix: str) -> str:
    from . import MODULES
    top = parse_partial(text)[0]   # a syntax error is left for nginx to report
    chars = list(text)
    inserts: list[tuple[int, str]] = []
    ours = set(MODULES) | {HEADERS_MORE}
    for d in top:
        if d.name in ("pid", "daemon", "master_process", "worker_processes"):
            _blank(chars, d.start, d.end)
        elif d.name == "load_module" and d.args and os.path.basename(d.args[0]) in ours:
            _blank(chars, d.start, d.end)
    for d in walk(top):
        if d.name == "error_log":
            _blank(chars, d.start, d.end)
    blanked = _rewrite_host_paths(top, chars)
    addr = f"127.0.0.1:{port}"
    for h in top:
        if not (h.block is not None and h.name == "http"):
            continue
        present = {c.name for c in h.block} - blanked
        inserts.append((h.body_start, " " + _http_directives(prefix, skip=present)))
        for s in h.block:
            if not (s.block is not None and s.name == "server"):
                continue
            listens = [c for c in s.block if c.name == "listen"]
            if not listens:
                inserts.append((s.body_start, f" listen {addr};"))
            for k, ld in enumerate(listens):
                if k or not ld.args:
                    _blank(chars, ld.start, ld.end)
                    continue
                keep = [a for a in ld.args[1:] if a in ("default_server", "default")]
                new = " ".join(["listen", addr] + keep) + ";"
                _blank(chars, ld.start, ld.end)
                chars[ld.start] = new     # one list cell may hold several characters
    for pos, s in sorted(inserts, reverse=True):
        chars.insert(pos, s)
    return _main_directives(prefix, text) + "".join(chars)
