"""The model's answer as a Test::Nginx block (OpenResty's test scaffold,
Test::Nginx::Socket): ``export_test_nginx(result)``, ``python -m ngxcoro
export``, and ``parse_blocks`` that reads such a block back.

The block says what the model answers, as a test of real nginx:

    === TEST 1: <title>
    --- main_config      (the top level of a whole nginx.conf, if it has any)
    --- http_config      (the http-level part: directives beside the server, other servers)
    --- config           (the inside of the server block; Test::Nginx puts it in its own
                          server, which listens on $TEST_NGINX_SERVER_PORT)
    --- more_headers     (the request's own headers, if any)
    --- request          (the request line, then the body if any; `--- raw_request eval`,
                          the whole request, for a body with white space at an end,
                          which Test::Nginx would strip)
    --- response_body    (exact; `chop` when it has no final newline), or
    --- response_body_like  (a body that holds the server's port: the port as \\d+)
    --- error_code       (when the status is not 200)
    --- error_log        (the model's lines at level error and above, trimmed to their
                          message; pieces that do not depend on where the config sits)
    --- no_error_log     ([error], when the model logged none)

`__PORT__` in the config becomes $TEST_NGINX_SERVER_PORT.  A run the block
cannot say (a what-if, a hang, a client that closes early, a response nginx cut
short, a body in pieces, a config nginx refuses, a run ngxcoro refused) is an
ExportError with a one-line reason; so is a run with scripted peers or `quit_at`
(the block could not say them).
"""
from __future__ import annotations

import re

from .nginx.conf import parse_partial

PORT = "__PORT__"
TEST_PORT = "$TEST_NGINX_SERVER_PORT"
# directives of a whole nginx.conf's top level that Test::Nginx writes itself
_OWN_MAIN = ("events", "http", "pid", "error_log", "worker_processes", "daemon",
             "master_process", "load_module", "user")
# directives of the http block Test::Nginx writes itself (a second one is "is duplicate";
# access_log: the oracle writes none): none changes an answer to a request with
# "Connection: close" but its Content-Type
_OWN_HTTP = ("default_type", "keepalive_timeout", "access_log")
# "content_by_lua(nginx.conf:12):3: ": where the chunk sits in the file differs on the
# scaffold (its nginx.conf has lines of its own before the test's config)
_CHUNK = re.compile(r"\w+_by_lua(?:_block)?\([^()]*:\d+\):\d+: ")
# a pointer (%p: "u:00005A0000002300") differs from run to run
_POINTER = re.compile(r"\b(?:0x)?[0-9A-Fa-f]{16}\b")
# what nginx's log handler appends to the message (ngx_http_log_error; a timer's context)
_SUFFIX = re.compile(r", (?:client|context): .*$")
_LOG_LINE = re.compile(r"^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$", re.S)
_ERROR_LEVELS = ("error", "crit", "alert", "emerg")
# nginx's own error pages name its version: the scaffold's build differs
_SPECIAL_PAGE = re.compile(r"<hr><center>(?:nginx|openresty)")


class ExportError(ValueError):
    """The run has no Test::Nginx block (a one-line reason)."""


# ------------------------------------------------------------------ config
def _cut(text, ranges):
    """`text` without the [start, end) ranges (or with a range's replacement, for a
    (start, end, new) triple); a line a cut leaves blank goes too."""
    out, pos = [], 0
    for start, end, *new in sorted(ranges):
        out.append(text[pos:start])
        out.append(new[0] if new else "\0")       # a cut: its line may be dropped
        pos = end
    out.append(text[pos:])
    lines = "".join(out).split("\n")
    kept = [ln.replace("\0", "") for ln in lines if not (ln.replace("\0", "").strip() == ""
                                                          and "\0" in ln)]
    return "\n".join(kept)


def _trim(text):
    """Without blank lines at either end (Test::Base's trim); the text itself, indentation
    and all, stays as it was (a Lua long string keeps its spaces)."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _drop_meta(text):
    """A scenario's leading `# key: value` lines are not config."""
    lines = text.split("\n")
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "\n".join(lines)


def _listens_as_the_scaffold(text, server):
    """A server of http_config listens where Test::Nginx's does (the oracle and the model
    put every server on the one port)."""
    ranges = [(d.start, d.end) for d in server.block if d.name == "listen"]
    inside = _cut(text[server.body_start:server.end - 1],
                  [(a - server.body_start, b - server.body_start) for a, b in ranges])
    head = text[server.start:server.body_start]
    return f"{head}\n    listen {TEST_PORT};{inside}}}"


def split_config(text):
    """(main_config, http_config, config) of a config text, as Test::Nginx wants them."""
    text = _drop_meta(text)
    top, error = parse_partial(text)
    if error is not None:
        raise ExportError(f"the config does not parse: {error}")
    main = ""
    http_text, http_top = text, top
    http = [d for d in top if d.block is not None and d.name == "http"]
    if http:                                  # a whole nginx.conf
        h = http[0]
        main = _cut(text, [(d.start, d.end) for d in top if d.name in _OWN_MAIN])
        http_text = text[h.body_start:h.end - 1]
        http_top = parse_partial(http_text)[0]
    servers = [d for d in http_top if d.block is not None and d.name == "server"]
    if not servers:                           # the inside of a server block
        _own_server(http_top)
        return _trim(main), "", _trim(_cut(http_text, [
            (d.start, d.end) for d in http_top if d.name in ("listen", "error_log")]))
    first = servers[0]
    _own_server(first.block)
    config = _cut(http_text[first.body_start:first.end - 1],
                  [(d.start - first.body_start, d.end - first.body_start)
                   for d in first.block if d.name in ("listen", "error_log")
                   or d.name == "server_name" and _is_localhost(d.args)])
    http = _cut(http_text, [(d.start, d.end) for d in http_top
                            if d.name in ("error_log",) + _OWN_HTTP or d is first]
                + [(d.start, d.end, _listens_as_the_scaffold(http_text, d))
                   for d in servers[1:]])
    return _trim(main), _trim(http), _trim(config)


def _is_localhost(args):
    """The scaffold's server is `server_name localhost` already."""
    return all(a.strip("'\"") == "localhost" for a in args)


def _own_server(directives):
    """Test::Nginx's server sets client_max_body_size (30M): the test's own would be a
    duplicate nginx refuses."""
    if any(d.name == "client_max_body_size" for d in directives):
        raise ExportError("no Test::Nginx block: client_max_body_size at server level "
                          "(the scaffold's server sets it: a duplicate)")


def join_config(main, http, config):
    """The config text ngxcoro and the oracle run for the three sections (the
    scaffold's default server: `server_name localhost`, on the one port)."""
    server = f"server {{\n    server_name localhost;\n{config}\n}}\n"
    if not main and not http:
        return config.replace(TEST_PORT, PORT)
    text = f"{http}\n{server}"
    if main:
        text = f"{main}\nevents {{ worker_connections 64; }}\nhttp {{\n{text}}}\n"
    return text.replace(TEST_PORT, PORT)


# --------------------------------------------------------------------- log
def log_patterns(error_log):
    """The model's lines at level error and above as Test::Nginx `error_log` patterns:
    the message's first line, without the log handler's suffix, split where a chunk
    name (which names a line of the config file) or a pointer stands."""
    out = []
    for line in error_log:
        m = _LOG_LINE.match(line)
        if not m or m.group(1) not in _ERROR_LEVELS:
            continue
        msg = _SUFFIX.sub("", m.group(2).split("\n", 1)[0])
        for piece in re.split(f"{_CHUNK.pattern}|{_POINTER.pattern}", msg):
            piece = piece.strip()
            if piece and piece not in out:
                out.append(piece)
    return out


def _perl_regex_escape(text):
    """`text` as a Perl (and Python) regex that matches it literally, on one line."""
    return re.sub(r"[\\.^$|?*+()\[\]{}/]", lambda m: "\\" + m.group(0), text) \
        .replace("\n", r"\n").replace("\t", r"\t").replace("\r", r"\r")


# ------------------------------------------------------------------- block
def raw_request(line, headers, body):
    """The request as the oracle's client and Test::Nginx send it (HTTP/1.1 by default,
    Host: localhost, Connection: close, Content-Length) for `--- raw_request`."""
    parts = line.split()
    if len(parts) == 2:
        parts.append("HTTP/1.1")
    names = {k.lower() for k, _ in headers}
    head = [" ".join(parts)]
    head += [] if "host" in names else ["Host: localhost"]
    head += [f"{k}: {v}" for k, v in headers]
    head += [] if "connection" in names else ["Connection: close"]
    if body and not names & {"content-length", "transfer-encoding"}:
        head.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(head) + "\r\n\r\n" + (body or "")


def _refusal(res):
    if getattr(res, "what_if", None) is not None:
        return f"a what-if run ({res.what_if}) is not nginx: there is nothing to test nginx with"
    if res.startup_error:
        return f"nginx refuses this config ({res.startup_error})"
    if res.refused:
        return f"ngxcoro refused the run ({res.message})"
    if res.hung:
        return "the request hangs: Test::Nginx would time out"
    if res.client_abort_at is not None:
        return "the client closes early: not a plain Test::Nginx request"
    if getattr(res, "peers", None):
        return "it talks to scripted peers, which a Test::Nginx block does not start"
    if getattr(res, "quit_at", None) is not None:
        return "nginx is told to quit during the request"
    if res.status is None:
        return "no complete response (nginx cut it short)"
    return None


def export_test_nginx(res, title=None, body=None, headers=(), number=1):
    """The Test::Nginx block (a str) for `res`, an ngxcoro.Result; `body` and `headers`
    are the request's (default: the ones `res` was run with)."""
    why = _refusal(res)
    if why:
        raise ExportError(f"no Test::Nginx block: {why}")
    body = getattr(res, "request_body", None) if body is None else body
    if body is not None and not isinstance(body, str):
        raise ExportError("no Test::Nginx block: a body that arrives in pieces")
    headers = list(headers) or list(getattr(res, "request_headers", []))
    main, http, config = split_config(res.config_text)
    out = [f"=== TEST {number}: {title or res.request}"]
    if main:
        out += ["--- main_config", main]
    if http:
        out += ["--- http_config", http.replace(PORT, TEST_PORT)]
    out += ["--- config", config.replace(PORT, TEST_PORT)]
    if body and body != body.strip():
        # Test::Nginx strips a --- request body's white space at both ends: the whole
        # request, as the oracle's client sends it, instead
        out += ["--- raw_request eval", perl_quote(raw_request(res.request, headers, body))]
    else:
        if headers:
            out += ["--- more_headers"] + [f"{k}: {v}" for k, v in headers]
        out += ["--- request", res.request + (f"\n{body}" if body else "")]
    page = res.status != 200 and _SPECIAL_PAGE.search(res.body)
    if PORT in res.body:
        pattern = r"\d+".join(_perl_regex_escape(x) for x in res.body.split(PORT))
        out += ["--- response_body_like chop", f"^{pattern}$"]
    elif not page and (res.body.startswith("\n") or res.body.endswith("\n\n")):
        out += ["--- response_body eval", perl_quote(res.body)]   # blank lines trim away
    elif not page:
        chop = res.body != "" and not res.body.endswith("\n")
        out += ["--- response_body" + (" chop" if chop else ""),
                res.body if chop or res.body == "" else res.body[:-1]]
    if res.status != 200:
        out.append(f"--- error_code: {res.status}")
    patterns = log_patterns(res.error_log)
    if patterns:
        out += ["--- error_log"] + patterns
    else:
        out += ["--- no_error_log", "[error]"]
    return "\n".join(out) + "\n"


# -------------------------------------------------------------- read back
_SECTION = re.compile(r"^--- (\w+)((?:\s+(?:chop|eval))*)\s*(?::\s*(.*))?$")
_PERL_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$", "@": "@"}


def perl_quote(s):
    """`s` as a Perl double-quoted string (for `--- response_body eval`)."""
    out = []
    for ch in s:
        if ch in "\\\"$@":
            out.append("\\" + ch)
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{{{ord(ch):02x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def perl_unquote(s):
    """perl_quote's inverse (what the block's `eval` gives Perl)."""
    s = s.strip()
    if not (len(s) >= 2 and s[0] == s[-1] == '"'):
        raise ValueError(f"not a Perl double-quoted string: {s[:40]!r}")
    return re.sub(r"\\(x\{([0-9a-fA-F]+)\}|.)",
                  lambda m: chr(int(m.group(2), 16)) if m.group(2) else _PERL_ESC.get(
                      m.group(1), m.group(1)), s[1:-1], flags=re.S)


def parse_blocks(text):
    """Test::Nginx blocks back as dicts {"title": ..., section: value}, with Test::Base's
    default filters: a section's blank lines at both ends trimmed, its value ending with
    a newline; `chop` drops that newline, `eval` reads a Perl string; `name: value` on the
    section's own line is the value as it stands."""
    blocks, cur, name = [], None, None
    for line in text.split("\n"):
        if line.startswith("=== "):
            cur = {"title": line[4:].split(":", 1)[-1].strip(), "_raw": {}}
            blocks.append(cur)
            name = None
            continue
        m = _SECTION.match(line) if cur is not None else None
        if m:
            name, flags, inline = m.group(1), m.group(2).split(), m.group(3)
            cur["_raw"][name] = (flags, inline, [])
            continue
        if cur is not None and name is not None:
            cur["_raw"][name][2].append(line)
    for b in blocks:
        for name, (flags, inline, lines) in b.pop("_raw").items():
            if inline is not None:
                b[name] = inline
                continue
            while lines and not lines[0].strip():
                lines.pop(0)
            while lines and not lines[-1].strip():
                lines.pop()
            value = "".join(ln + "\n" for ln in lines)
            if "chop" in flags:
                value = value[:-1]
            b[name] = perl_unquote(value) if "eval" in flags else value
    return blocks
