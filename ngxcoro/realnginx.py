"""Run the real nginx + lua-nginx-module as the oracle for ngxcoro.

This module has nothing to do with the model: it starts the nginx installed on the
machine, sends one request over a raw socket, and hands back what the client saw
plus the error log, normalised so that it can be compared with the model.

How a run works
---------------
* A private temporary prefix (``conf/``, ``logs/``, ``tmp/``) is created for every run
  and deleted afterwards.
* The configuration is written to ``<prefix>/conf/nginx.conf``, so Lua chunk names
  read ``content_by_lua(nginx.conf:N)`` exactly as in a default install.
* **Line numbers are preserved**: every directive we add goes on line 1, *before* the
  user's first line and without a newline, so line k of the user's text is line k of
  the generated nginx.conf. Directives we have to neutralise (``listen``, ``error_log``,
  ``pid``, ``daemon``, ...) are overwritten with spaces, never removed.
* Server-block text (the inside of a ``server {}``) is wrapped: line 1 starts with
  ``load_module`` x3 (ndk, lua, echo; absolute paths), ``pid``, ``error_log
  <prefix>/logs/error.log debug``, ``worker_processes 1``, ``events {...}`` and ``http {
  access_log off; keepalive_timeout 0; *_temp_path under the prefix; server { listen
  127.0.0.1:PORT;`` and the text ends with ``\n}\n}\n``. A server-level ``listen`` and
  every ``error_log`` in the text are blanked (we decide where nginx listens and logs).
* A full nginx.conf (a top-level ``events`` or ``http`` block) gets the main-context
  directives on line 1; its own ``pid``, ``daemon``, ``master_process``,
  ``worker_processes``, ``error_log`` and ``load_module`` of our three modules are
  blanked; in every ``http > server`` the first ``listen`` becomes
  ``listen 127.0.0.1:PORT [default_server]``, further ones are blanked, and a server
  without one gets it; http-level defaults it lacks (access_log off, temp paths,
  keepalive_timeout 0) are added after ``http {``.
* ``__PORT__`` (PORT_PLACEHOLDER) anywhere in the text becomes the port nginx listens on,
  so a scenario can talk to its own server (``proxy_pass http://127.0.0.1:__PORT__/x;``).
  In the result, that port after ``127.0.0.1:`` or ``localhost:`` is written back as
  ``__PORT__`` (body, headers, logs), so recordings do not depend on the random port.
* nginx runs as ``nginx -p PREFIX/ -c conf/nginx.conf -g 'daemon off; master_process
  off;'``: a single foreground process. That process *is* the worker, so the pid we
  started is the pid that writes every request line of the debug log, every run is a
  worker's first request (deterministic "first request" artefacts), and SIGQUIT makes
  it exit at once (single-process mode does not wait for open connections).
* Readiness: we simply retry ``connect()`` on the request socket until the listening
  socket exists (or the process has died: that is a startup error). No probe
  connection is ever made, so connection ``*1`` is the request.
* After the response we wait for the connection to be closed in the log
  ("close http connection") and for the log to go quiet, then stop nginx by pid
  (SIGQUIT, then SIGTERM, then SIGKILL).

The result of :func:`run_real` is a dict::

    status         int, or None if the client got no complete response (no full
                   header, a chunked body without its last chunk, a short
                   Content-Length body, or a timeout)
    body           str, the (de-chunked) body bytes received, decoded as UTF-8
    headers        [[name, value], ...] of the response, in order (extra)
    error_log      normalise_error_log(...) of the run's error log
    debug          normalise_debug(...) of the run's error log
    hung           True when the client timed out waiting for the connection to close
    startup_error  None, or nginx's "[emerg] ... in nginx.conf:N" when it refused to start
    raw_error_log  the error log text; the temporary prefix is replaced by
                   PREFIX_ALIAS (``/usr/share/nginx/``, this nginx's compiled-in prefix)
                   so that nothing random remains
    stderr         what nginx wrote to stderr (same replacement)

Environment: ``NGXCORO_NGINX`` (default /usr/sbin/nginx) and ``NGXCORO_NGINX_MODULES``
(default /usr/lib/nginx/modules) point at another build.

Command line::

    python -m ngxcoro.realnginx FILE [--request "GET /t"] [--header "N: v"]...
                                     [--body TEXT] [--timeout S] [--json] [--debug]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

__all__ = [
    "NGINX", "MODULES_DIR", "MODULES", "PREFIX_ALIAS",
    "available", "build_config", "run_real", "normalise_error_log", "normalise_debug",
    "parse_scenario", "ConfigScanError", "PORT_PLACEHOLDER",
    "COUNT_PREFIXES", "count_history", "model_count_history",
]

NGINX = os.environ.get("NGXCORO_NGINX", "/usr/sbin/nginx")
MODULES_DIR = os.environ.get("NGXCORO_NGINX_MODULES", "/usr/lib/nginx/modules")
# load order matters: ndk before lua
MODULES = ("ndk_http_module.so", "ngx_http_lua_module.so", "ngx_http_echo_module.so")
#: what the random temporary prefix is replaced with in every text we return
PREFIX_ALIAS = "/usr/share/nginx/"
#: written anywhere in the configuration text, it becomes the port nginx listens on
#: (``proxy_pass http://127.0.0.1:__PORT__/other;``); in what we return, the real
#: port after ``127.0.0.1:`` / ``localhost:`` is written back as this placeholder
PORT_PLACEHOLDER = "__PORT__"

_TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path",
               "uwsgi_temp_path", "scgi_temp_path")


# --------------------------------------------------------------------------------------
# availability

def available() -> tuple[bool, str]:
    """(True, description) when the nginx binary and the three modules are present."""
    if not (os.path.isfile(NGINX) and os.access(NGINX, os.X_OK)):
        return False, f"nginx binary not found or not executable: {NGINX}"
    missing = [m for m in MODULES if not os.path.isfile(os.path.join(MODULES_DIR, m))]
    if missing:
        return False, f"nginx modules missing in {MODULES_DIR}: {', '.join(missing)}"
    return True, f"{NGINX} with {', '.join(MODULES)} from {MODULES_DIR}"


# --------------------------------------------------------------------------------------
# a small nginx configuration scanner (enough to find directives and blocks)

class ConfigScanError(ValueError):
    pass


@dataclass
class Directive:
    name: str
    args: list            # [(text, start, end)] for every argument token
    start: int            # offset of the name
    end: int              # offset just after ';' or after the block's closing '}'
    depth: int
    parents: tuple        # names of the enclosing blocks, outermost first
    block: bool = False
    body_start: int = -1  # offset just after '{'
    body_end: int = -1    # offset of the closing '}'
    children: list = field(default_factory=list)


def _skip_lua_block(text: str, i: int) -> int:
    """text[i-1] is the '{' opening a *_by_lua_block; return the offset of its '}'."""
    depth = 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            m = re.compile(r"--\[(=*)\[").match(text, i)
            if m:
                close = "]" + m.group(1) + "]"
                j = text.find(close, m.end())
                if j < 0:
                    raise ConfigScanError("unfinished long comment in Lua block")
                i = j + len(close)
            else:
                j = text.find("\n", i)
                i = n if j < 0 else j + 1
            continue
        if ch == "[":
            m = re.compile(r"\[(=*)\[").match(text, i)
            if m:
                close = "]" + m.group(1) + "]"
                j = text.find(close, m.end())
                if j < 0:
                    raise ConfigScanError("unfinished long string in Lua block")
                i = j + len(close)
                continue
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch:
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    raise ConfigScanError("unfinished string in Lua block")
                j += 1
            if j >= n:
                raise ConfigScanError("unfinished string in Lua block")
            i = j + 1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ConfigScanError("Lua block without its closing '}'")


def scan_config(text: str) -> list[Directive]:
    """Directives of an nginx configuration text as a tree (top-level list returned).

    Follows nginx's tokenizer closely enough for our needs: '#' comments, quoted
    strings with backslash escapes, '${var}' in words, and *_by_lua_block bodies
    skipped with Lua's lexical rules. Raises ConfigScanError on unbalanced text.
    """
    top: list[Directive] = []
    stack: list[Directive] = []
    words: list = []           # tokens of the directive being read: (text, start, end)
    n = len(text)
    i = 0

    def finish(end: int, block: bool) -> Directive:
        name, nstart, _ = words[0]
        d = Directive(name=name, args=list(words[1:]), start=nstart, end=end,
                      depth=len(stack), parents=tuple(p.name for p in stack), block=block)
        (stack[-1].children if stack else top).append(d)
        words.clear()
        return d

    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if ch == ";":
            if not words:
                raise ConfigScanError(f"unexpected ';' at offset {i}")
            finish(i + 1, False)
            i += 1
            continue
        if ch == "{":
            if not words:
                raise ConfigScanError(f"unexpected '{{' at offset {i}")
            d = finish(-1, True)
            d.body_start = i + 1
            if d.name.endswith("_by_lua_block"):
                j = _skip_lua_block(text, i + 1)
                d.body_end = j
                d.end = j + 1
                i = j + 1
                continue
            stack.append(d)
            i += 1
            continue
        if ch == "}":
            if words:
                raise ConfigScanError(f"unexpected '}}' at offset {i}")
            if not stack:
                raise ConfigScanError(f"unexpected '}}' at offset {i}")
            d = stack.pop()
            d.body_end = i
            d.end = i + 1
            i += 1
            continue
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch:
                if text[j] == "\\":
                    j += 1
                j += 1
            if j >= n:
                raise ConfigScanError("unfinished quoted string")
            words.append((text[i + 1:j], i, j + 1))
            i = j + 1
            continue
        # a bare word: ends at whitespace, ';' or '{' (not at '}', as in nginx)
        j = i
        while j < n:
            c = text[j]
            if c == "\\":
                j += 2
                continue
            if c == "$" and j + 1 < n and text[j + 1] == "{":
                k = text.find("}", j)
                j = n if k < 0 else k + 1
                continue
            if c in " \t\r\n;{":
                break
            j += 1
        words.append((text[i:j], i, j))
        i = j
    if words or stack:
        raise ConfigScanError("unexpected end of configuration")
    return top


def _walk(ds):
    for d in ds:
        yield d
        yield from _walk(d.children)


def _blank(chars: list, start: int, end: int) -> None:
    """Overwrite chars[start:end] with spaces, keeping newlines (line numbers)."""
    for k in range(start, end):
        if chars[k] != "\n":
            chars[k] = " "


def is_full_config(text: str) -> bool:
    """A full nginx.conf has a top-level ``events`` or ``http`` block."""
    try:
        top = scan_config(text)
    except ConfigScanError:
        # fall back to a rough test on unparseable text
        return bool(re.search(r"(?m)^\s*(events|http)\s*\{", text))
    return any(d.block and d.name in ("events", "http") for d in top)


def _main_directives(prefix: str) -> str:
    loads = " ".join(f"load_module {os.path.join(MODULES_DIR, m)};" for m in MODULES)
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
    """The nginx.conf for `text` (server-block text or a full nginx.conf).

    `prefix` is the absolute nginx prefix ending with '/'. Line k of `text` is line k
    of the result; the result is the user's text with line 1 prefixed and, for
    server-block text, ``\\n}\\n}\\n`` appended.
    """
    if not prefix.endswith("/"):
        prefix += "/"
    # same length on every line that has none, and never a new line: line numbers stay
    text = text.replace(PORT_PLACEHOLDER, str(port))
    if is_full_config(text):
        return _build_full(text, port, prefix)
    return _build_server_block(text, port, prefix)


def _build_server_block(text: str, port: int, prefix: str) -> str:
    chars = list(text)
    try:
        for d in scan_config(text):
            # our own listen/error_log decide where nginx listens and logs
            if d.depth == 0 and d.name == "listen":
                _blank(chars, d.start, d.end)
        for d in _walk(scan_config(text)):
            if d.name == "error_log":
                _blank(chars, d.start, d.end)
    except ConfigScanError:
        pass                       # let nginx report it, with its own line number
    header = (_main_directives(prefix) + "events { worker_connections 64; } "
              + "http { " + _http_directives(prefix)
              + f"server {{ listen 127.0.0.1:{port}; ")
    return header + "".join(chars) + "\n}\n}\n"


def _build_full(text: str, port: int, prefix: str) -> str:
    top = scan_config(text)        # is_full_config already parsed it
    chars = list(text)
    inserts: list[tuple[int, str]] = []
    ours = set(MODULES)
    for d in top:
        if d.name in ("pid", "daemon", "master_process", "worker_processes"):
            _blank(chars, d.start, d.end)
        elif d.name == "load_module" and d.args and os.path.basename(d.args[0][0]) in ours:
            _blank(chars, d.start, d.end)
    for d in _walk(top):
        if d.name == "error_log":
            _blank(chars, d.start, d.end)
    addr = f"127.0.0.1:{port}"
    for h in top:
        if not (h.block and h.name == "http"):
            continue
        present = {c.name for c in h.children}
        inserts.append((h.body_start, " " + _http_directives(prefix, skip=present)))
        for s in h.children:
            if not (s.block and s.name == "server"):
                continue
            listens = [c for c in s.children if c.name == "listen"]
            if not listens:
                inserts.append((s.body_start, f" listen {addr};"))
            for k, ld in enumerate(listens):
                if k or not ld.args:
                    _blank(chars, ld.start, ld.end)
                    continue
                keep = [a[0] for a in ld.args[1:] if a[0] in ("default_server", "default")]
                new = " ".join(["listen", addr] + keep) + ";"
                _blank(chars, ld.start, ld.end)
                chars[ld.start] = new     # one list cell may hold several characters
    for pos, s in sorted(inserts, reverse=True):
        chars.insert(pos, s)
    return _main_directives(prefix) + "".join(chars)


# --------------------------------------------------------------------------------------
# normalisers

_REC_RE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w*)\] (\d+)#(\d+): (.*)$")
_CONN_RE = re.compile(r"^\*(\d+) ")
_CLIENT_RE = re.compile(r", client: \S*, server: ")
# "" is ngx.STDERR: nginx writes such lines as "[] ..."
_KEEP_LEVELS = ("notice", "warn", "error", "crit", "alert", "emerg", "")


def _records(text_or_lines):
    """Yield (level, pid, conn or None, [lines]) for each log record.

    A record starts with a timestamp; lines that don't (a Lua traceback, a header dump)
    continue the previous record. Lines before the first record are ignored.
    """
    if isinstance(text_or_lines, (list, tuple)):
        text = "\n".join(str(x) for x in text_or_lines)
    else:
        text = text_or_lines or ""
    cur = None
    for line in text.split("\n"):
        line = line.rstrip("\r")
        m = _REC_RE.match(line)
        if m:
            if cur:
                yield cur
            msg = m.group(5)
            cm = _CONN_RE.match(msg)
            conn = None
            if cm:
                conn = int(cm.group(1))
                msg = msg[cm.end():]
            cur = (m.group(2), int(m.group(3)), conn, [msg])
        elif cur is not None:
            cur[3].append(line)
    if cur:
        yield cur


def _first_line_without_suffix(lines: list) -> str:
    """The first line of a record, without nginx's ", client: ..." suffix."""
    lines = list(lines)
    while len(lines) > 1 and lines[-1] == "":
        lines.pop()
    last = lines[-1]
    i = last.rfind(", client: ")
    if i >= 0 and _CLIENT_RE.match(last, i):
        c = last.rfind(", context: ", 0, i)
        if c >= 0 and "," not in last[c + 2:i]:
            i = c
        lines[-1] = last[:i]
    return lines[0]


def normalise_error_log(lines_or_text) -> list[str]:
    """Request-bound error-log lines at notice level and above, as ``[level] message``.

    Accepts nginx's error.log text or a list of nginx-format lines (the model's).
    A line is kept when it belongs to a connection (``*N``) and its level is notice,
    warn, error, crit, alert, emerg or stderr (written ``[]`` by nginx); nginx's own startup/shutdown notices have no
    ``*N`` and are dropped, ``ngx.log(ngx.NOTICE, ...)`` lines are kept. The
    timestamp, ``pid#tid:``, ``*N`` and the ``, client: ..., server: ..., request:
    "...", [subrequest: "...",] host: "..."`` suffix are removed, and a multi-line
    message (a Lua traceback) keeps its first line only.
    """
    out = []
    for level, _pid, conn, lines in _records(lines_or_text):
        if conn is None or level not in _KEEP_LEVELS:
            continue
        out.append(f"[{level}] {_first_line_without_suffix(lines)}")
    return out


def _uri(s: str) -> str:
    """nginx logs "uri?args"; drop the '?' when args are empty."""
    return s[:-1] if s.endswith("?") else s


# (regex on the message, event builder); threads are given as ("T", pointer)
_DEBUG_PATTERNS = [
    (r'lua (rewrite|access|content) handler, uri:".*" c:(\d+)$', lambda m: f"HANDLER {m[1]} c={m[2]}"),
    (r"lua reset ctx$", lambda m: "RESET_CTX"),
    (r"http lua finalize threads$", lambda m: "FINALIZE_THREADS"),
    (r"lua (?:ref lua thread|reusing cached lua thread) (\S+)", lambda m: ("NEWTHREAD", m[1])),
    (r"lua run thread, top:-?\d+ c:(\d+)", lambda m: f"RUN c={m[1]}"),
    (r"lua resume returned (-?\d+)", lambda m: f"RESUMED rv={m[1]}"),
    (r"lua thread yielded$", lambda m: "YIELD"),
    (r"lua user thread resume$", lambda m: "OP spawn-child"),
    (r"lua coroutine: resume$", lambda m: "OP coro-resume"),
    (r"lua coroutine: yield$", lambda m: "OP coro-yield"),
    (r"lua coroutine: lua user thread ended normally", lambda m: "TO_PARENT"),
    (r"lua light thread ended normally", lambda m: "ENDED"),
    (r"lua deleting light thread (\S+)", lambda m: ("DELETE", m[1])),
    (r"lua (user|entry) thread aborted: (.*)$", lambda m: f'ABORTED {m[1]} "{m[2]}"'),
    (r"lua ready to sleep for (\d+) ms", lambda m: f"SLEEP {m[1]}"),
    (r"lua sleep timer expired", lambda m: "SLEEP_EXPIRED"),
    (r"lua clean up the timer for pending ngx\.sleep", lambda m: "SLEEP_CANCELLED"),
    (r"lua run thread returned (-?\d+)", lambda m: f"RUN_RETURNED {m[1]}"),
    (r"lua exit with code (-?\d+)", lambda m: f"EXIT {m[1]}"),
    (r"lua thread aborting request with status (-?\d+)", lambda m: f"HANDLE_EXIT {m[1]}"),
    (r'lua exec "(.*)"$', lambda m: f"EXEC {_uri(m[1])}"),
    (r"lua thread initiated internal redirect to (\S+)", lambda m: f"HANDLE_EXEC {m[1]}"),
    (r'lua redirect to "(.*)" with code (\d+)', lambda m: f"REDIRECT {m[1]} {m[2]}"),
    (r"lua request cleanup: forcible=(\d)", lambda m: f"REQ_CLEANUP forcible={m[1]}"),
    (r'lua location capture, uri:".*" c:(\d+)', lambda m: f"CAPTURE c={m[1]}"),
    (r'lua http subrequest "(.*)"$', lambda m: f"SUBREQ {_uri(m[1])}"),
    (r"lua run post subrequest handler, rc:(-?\d+) c:(\d+)", lambda m: f"POST_SUBREQ rc={m[1]} c={m[2]}"),
    (r"lua run subrequests done", lambda m: "SUBREQ_RESUME"),
    (r"lua start to read buffered request body", lambda m: "READ_BODY"),
    (r"lua read buffered request body requires I/O interruptions", lambda m: "READ_BODY_AGAIN"),
    (r"lua has read buffered request body in a single run", lambda m: "READ_BODY_SYNC"),
    (r"lua req body post read, c:(\d+)", lambda m: f"BODY_POST_READ c={m[1]}"),
    (r"lua sending last buf of the response body", lambda m: "LAST_BUF"),
    (r'http finalize request: (-?\d+), "(.*)" a:(\d+), c:(\d+)',
     lambda m: f"FINALIZE rc={m[1]} uri={_uri(m[2])} a={m[3]} c={m[4]}"),
    (r"http request count:(\d+) blk:\d+", lambda m: f"CLOSE_REQ c={m[1]}"),
    (r"http terminate request count:(\d+)", lambda m: f"TERMINATE c={m[1]}"),
    (r"http wake parent request", lambda m: "WAKE_PARENT"),
    (r'http posted request: "(.*)"$', lambda m: f"POSTED_REQ {_uri(m[1])}"),
    (r"useless lua write event handler", lambda m: "USELESS_WEV"),
    (r"lua say response$", lambda m: "SAY"),
]
_DEBUG_COMPILED = [(re.compile(p), f) for p, f in _DEBUG_PATTERNS]
_SHUTDOWN_RE = re.compile(r"signal \d+ \(SIG(?:QUIT|TERM|INT)\) received")


def _worker_pid(records) -> int | None:
    for _level, pid, conn, _lines in records:
        if conn is not None:
            return pid
    return None


def normalise_debug(text, pid: int | None = None) -> list[str]:
    """The debug log as the event vocabulary of scheduler-semantics.md section 6.1.

    One string per matched line (``RUN c=1``, ``FINALIZE rc=-4 uri=/t a=1 c=2``, ...).
    Lines are selected by the worker's pid, not by ``*N`` (the thread-ref and
    sleep-cleanup lines go to the cycle log); when `pid` is None it is the pid of the
    first request-bound line. Thread pointers become T1, T2, ... in order of
    appearance; every NEWTHREAD line gives its pointer a fresh id (states are
    recycled). Everything after nginx receives its shutdown signal is dropped.
    """
    recs = list(_records(text))
    if pid is None:
        pid = _worker_pid(recs)
    ids: dict[str, str] = {}
    nids = 0
    out = []
    for _level, rpid, _conn, lines in recs:
        if pid is not None and rpid != pid:
            continue
        msg = _first_line_without_suffix(lines)
        if _SHUTDOWN_RE.search(msg):
            break
        for rx, make in _DEBUG_COMPILED:
            m = rx.match(msg)
            if not m:
                continue
            ev = make(m)
            if isinstance(ev, tuple):
                kind, ptr = ev
                if kind == "NEWTHREAD" or ptr not in ids:
                    nids += 1
                    ids[ptr] = f"T{nids}"
                ev = f"{kind} {ids[ptr]}"
            out.append(ev)
            break
    return out


# --------------------------------------------------------------------------------------
# the request's count history: finalize / close / terminate lines

#: the normalised debug events that make up the count history (note the space after
#: FINALIZE: "FINALIZE_THREADS" is not one of them)
COUNT_PREFIXES = ("FINALIZE ", "CLOSE_REQ ", "TERMINATE ")


def count_history(debug: list) -> list[str]:
    """The count history of a normalised debug list (``normalise_debug`` output).

    Keeps ``FINALIZE rc=<rc> uri=<uri> a=<0|1> c=<count>`` (nginx's "http finalize
    request: %i, "%V?%V" a:%d, c:%d"; the uri is r->uri, with "?args" only when there
    are args), ``CLOSE_REQ c=<count>`` ("http request count:%d blk:%d", logged before
    the decrement) and ``TERMINATE c=<count>`` ("http terminate request count:%d"), in
    log order.
    """
    return [x for x in debug if x.startswith(COUNT_PREFIXES)]


def model_count_history(events: list) -> list[str]:
    """The model's ``Result.events`` rendered as :func:`count_history` lines.

    Uses ``{"event": "finalize_request", "rc", "uri", "a", "c"}`` (uri as nginx prints
    it, "/t?" or "/t?a=1"; a trailing "?" is dropped as normalise_debug does),
    ``{"event": "close_request", "c"}`` (the count before the decrement) and
    ``{"event": "terminate_request", "c"}``. When the events hold no
    ``close_request`` at all, a ``{"event": "count", "cause": "close_request", "delta",
    "c"}`` (the count after the change) stands for it, with c - delta.
    """
    have_close = any(e.get("event") == "close_request" for e in events)
    out = []
    for e in events:
        ev = e.get("event")
        if ev == "finalize_request":
            out.append(f"FINALIZE rc={int(e['rc'])} uri={_uri(str(e['uri']))} "
                       f"a={int(e['a'])} c={int(e['c'])}")
        elif ev == "close_request":
            out.append(f"CLOSE_REQ c={int(e['c'])}")
        elif ev == "terminate_request":
            out.append(f"TERMINATE c={int(e['c'])}")
        elif (ev == "count" and not have_close and e.get("cause") == "close_request"):
            out.append(f"CLOSE_REQ c={int(e['c']) - int(e.get('delta', -1))}")
    return out


# --------------------------------------------------------------------------------------
# scenario files

def parse_scenario(text: str) -> dict:
    """Read the leading ``# key: value`` comment lines of a .ngx scenario.

    Returns {title, request, headers, body, timeout}. Keys: ``title``, ``request``
    (default "GET /t"), ``header`` (repeatable, "Name: value"), ``body`` (a string;
    ``\\n`` stands for a newline), ``body-pieces`` (JSON list of [delay_s, text]),
    ``timeout`` (client timeout in seconds, default 3).
    """
    info = {"title": "", "request": "GET /t", "headers": [], "body": None, "timeout": 3.0}
    for line in text.split("\n"):
        if not line.startswith("#"):
            break
        m = re.match(r"#\s*([\w-]+)\s*:\s?(.*)$", line)
        if not m:
            continue
        key, val = m.group(1).lower(), m.group(2).rstrip()
        if key == "title":
            info["title"] = val
        elif key == "request":
            info["request"] = val
        elif key == "header":
            name, _, value = val.partition(":")
            info["headers"].append((name.strip(), value.strip()))
        elif key == "body":
            info["body"] = val.replace("\\n", "\n")
        elif key == "body-pieces":
            info["body"] = [(float(d), str(c)) for d, c in json.loads(val)]
        elif key == "timeout":
            info["timeout"] = float(val)
    return info


# --------------------------------------------------------------------------------------
# HTTP client side

def _parse_request_line(request: str) -> tuple[str, str, str]:
    parts = request.split()
    if len(parts) == 2:
        parts.append("HTTP/1.1")
    if len(parts) != 3:
        raise ValueError(f'request must be "METHOD URI [HTTP/1.x]", got {request!r}')
    return parts[0], parts[1], parts[2]


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
    method, uri, version = _parse_request_line(request)
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


# --------------------------------------------------------------------------------------
# running nginx

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop our nginx by pid: SIGQUIT, then SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGQUIT, 3.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _wait_log_settled(path: str, want_close: bool, limit: float = 1.5) -> None:
    """Wait until the connection's close is logged (if expected) and the log is quiet."""
    end = time.monotonic() + limit
    last_size, quiet_since = -1, time.monotonic()
    while time.monotonic() < end:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        now = time.monotonic()
        if size != last_size:
            last_size, quiet_since = size, now
        closed = (not want_close) or ("close http connection" in _read(path))
        if closed and now - quiet_since >= 0.05:
            return
        time.sleep(0.01)


def _startup_message(stderr: str) -> str:
    """The "[emerg] ... in nginx.conf:N" line of a failed start, without time and pid.

    nginx writes it either as "nginx: [emerg] ..." or, through its default stderr
    log, in the full error-log format.
    """
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    pick = next((l for l in lines if "[emerg]" in l), None) \
        or next((l for l in lines if "[alert]" in l), None) \
        or (lines[-1] if lines else "nginx exited during startup")
    if pick.startswith("nginx: "):
        pick = pick[len("nginx: "):]
    m = _REC_RE.match(pick)
    if m:
        pick = f"[{m.group(2)}] {m.group(5)}"
    return re.sub(r"\S*/conf/nginx\.conf", "nginx.conf", pick)


def _scrub(s: str, prefix: str) -> str:
    return s.replace(prefix, PREFIX_ALIAS)


def run_real(config_text: str, request: str = "GET /t", headers=(), body=None, *,
             timeout: float = 3.0, keep_prefix: bool = False) -> dict:
    """Run one request against a fresh real nginx; see the module docstring.

    `request` is "METHOD URI [HTTP/1.x]" (HTTP/1.1 by default). `headers` is a list of
    (name, value) pairs or "Name: value" strings, sent in order after ``Host:
    localhost``; a Host or Connection header replaces the default (``Connection:
    close``), and a value of None just removes the default. `body` is a str/bytes sent
    with the headers, or a list of (delay_seconds, chunk) pieces sent after the
    headers, each after its delay; Content-Length is added unless given. `timeout` is
    how long the client waits (from the request) for nginx to close the connection.
    `keep_prefix=True` keeps the temporary prefix and returns its path as "prefix".
    """
    ok, why = available()
    if not ok:
        raise RuntimeError(why)
    method = _parse_request_line(request)[0]
    payload, pieces = _build_request(request, headers, body)
    result = None
    for _attempt in range(3):
        result = _run_once(config_text, payload, pieces, method, timeout, keep_prefix)
        if result.pop("_retry", False):
            continue
        break
    return result


def _run_once(config_text, payload, pieces, method, timeout, keep_prefix) -> dict:
    prefix = tempfile.mkdtemp(prefix="ngxcoro-nginx-") + "/"
    try:
        res = _run_in_prefix(prefix, config_text, payload, pieces, method, timeout)
    finally:
        if not keep_prefix:
            shutil.rmtree(prefix, ignore_errors=True)
    if keep_prefix:
        res["prefix"] = prefix
    return res


def _run_in_prefix(prefix, config_text, payload, pieces, method, timeout) -> dict:
    for d in ("conf", "logs", "tmp"):
        os.mkdir(prefix + d)
    mime = "/etc/nginx/mime.types"
    if os.path.isfile(mime):
        shutil.copy(mime, prefix + "conf/mime.types")
    port = _free_port()
    conf = build_config(config_text, port, prefix)
    with open(prefix + "conf/nginx.conf", "w") as f:
        f.write(conf)
    log_path = prefix + "logs/error.log"
    err_path = prefix + "logs/stderr.log"
    env = {k: v for k, v in os.environ.items() if k not in ("LUA_PATH", "LUA_CPATH", "LUA_INIT")}
    res = {"status": None, "body": "", "headers": [], "error_log": [], "debug": [],
           "hung": False, "startup_error": None, "raw_error_log": "", "stderr": ""}
    with open(err_path, "wb") as errf:
        proc = subprocess.Popen(
            [NGINX, "-p", prefix, "-c", "conf/nginx.conf", "-g", "daemon off; master_process off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, env=env,
            start_new_session=True)
        try:
            started = _talk(proc, port, payload, pieces, method, timeout, log_path, res)
        finally:
            _stop(proc)
    res["raw_error_log"] = _scrub(_read(log_path), prefix)
    res["stderr"] = _scrub(_read(err_path), prefix)
    if not started:
        if "Address already in use" in res["stderr"]:
            res["_retry"] = True
        res["startup_error"] = _scrub(_startup_message(res["stderr"]), prefix)
        return res
    res["error_log"] = normalise_error_log(res["raw_error_log"])
    res["debug"] = normalise_debug(res["raw_error_log"], pid=proc.pid)
    _unport(res, port)
    return res


def _unport(res: dict, port: int) -> None:
    """Write our random listen port back as PORT_PLACEHOLDER (after 127.0.0.1: or
    localhost:) in the body, headers and logs, so recordings stay deterministic."""
    rx = re.compile(rf"(?<=127\.0\.0\.1:|localhost:){port}(?!\d)")

    def fix(x):
        if isinstance(x, str):
            return rx.sub(PORT_PLACEHOLDER, x)
        if isinstance(x, list):
            return [fix(y) for y in x]
        return x

    for k in ("body", "headers", "error_log", "debug", "raw_error_log"):
        res[k] = fix(res[k])


def _talk(proc, port, payload, pieces, method, timeout, log_path, res) -> bool:
    """Connect (retrying until nginx listens), send the request, read the reply.

    Returns False when nginx never accepted the connection (a startup failure).
    """
    sock = None
    deadline = time.monotonic() + 10.0
    while sock is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", port))
            sock = s
        except OSError:
            s.close()
            time.sleep(0.01)
    with sock:
        t0 = time.monotonic()
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
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except OSError:        # a reset counts as the end of the reply
                eof = True
                break
            if not chunk:
                eof = True
                break
            data += chunk
    status, hdrs, rbody = _parse_response(bytes(data), method, eof)
    if not eof:
        status = None              # timed out: nginx never finished the request
    res.update(status=status, headers=hdrs, body=rbody.decode("utf-8", "replace"), hung=not eof)
    _wait_log_settled(log_path, want_close=eof)
    return True


# --------------------------------------------------------------------------------------
# command line

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ngxcoro.realnginx",
        description="Run server-block text (or a full nginx.conf) on the real nginx.")
    ap.add_argument("file", help="a .ngx scenario, server-block text or a full nginx.conf")
    ap.add_argument("--request", help='e.g. "GET /t" (default: the file\'s "# request:" or GET /t)')
    ap.add_argument("--header", action="append", default=None, help='"Name: value", repeatable')
    ap.add_argument("--body", help="request body text")
    ap.add_argument("--timeout", type=float, help="client timeout in seconds")
    ap.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ap.add_argument("--debug", action="store_true", help="also print the debug events")
    a = ap.parse_args(argv)
    ok, why = available()
    if not ok:
        print(f"realnginx: {why}", file=sys.stderr)
        return 2
    try:
        with open(a.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"realnginx: cannot read {a.file}: {e.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"realnginx: {a.file} is not UTF-8 text", file=sys.stderr)
        return 2
    info = parse_scenario(text)
    request = a.request or info["request"]
    headers = _norm_headers(a.header) if a.header is not None else info["headers"]
    body = a.body if a.body is not None else info["body"]
    timeout = a.timeout if a.timeout is not None else info["timeout"]
    try:
        res = run_real(text, request, headers, body, timeout=timeout)
    except ValueError as e:
        print(f"realnginx: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(res, indent=1, sort_keys=True))
        return 0
    if res["startup_error"]:
        print(f"nginx did not start: {res['startup_error']}")
        return 1
    print(f"status: {res['status']}{'  (client timed out)' if res['hung'] else ''}")
    print("body:")
    sys.stdout.write(res["body"] if res["body"].endswith("\n") or not res["body"] else res["body"] + "\n")
    if res["error_log"]:
        print("error log:")
        for l in res["error_log"]:
            print("  " + l)
    if a.debug:
        print("debug events:")
        for e in res["debug"]:
            print("  " + e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
