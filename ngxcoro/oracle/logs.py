"""Normalise nginx's error log for comparison with the model.

``normalise_error_log`` keeps the request-bound lines at notice and above as
``[level] message``; ``normalise_debug`` turns the debug lines the scheduler writes
(src/ngx_http_lua_*.c ``ngx_log_debug*`` calls of lua-nginx-module 0.10.23, and
src/http/ngx_http_request.c's finalize / count lines) into the event vocabulary of
scheduler-semantics.md section 6.1, with the lines and words of the event registry
(ngxcoro/trace/events.py) that also words the model's events; ``count_history`` and
``model_count_history`` give the request's count history from nginx's and from the model's
events, in the same words. Both normalisers accept nginx's text or a list of nginx-format
lines (the model's).
"""

from __future__ import annotations

import re

from ..trace.events import (COUNT_EVENTS, COUNT_WORDS, EVENTS, debug_words, nginx_lines,
                            nginx_words)

__all__ = ["normalise_error_log", "normalise_debug", "COUNT_PREFIXES", "count_history",
           "model_count_history", "record_message", "error_records", "debug_lines",
           "LEVELS", "log_view"]

_REC_RE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w*)\] (\d+)#(\d+): (.*)$")
_CONN_RE = re.compile(r"^\*(\d+) ")
_CLIENT_RE = re.compile(r", client: \S*, server: ")
# "" is ngx.STDERR: nginx writes such lines as "[] ..."
_KEEP_LEVELS = ("notice", "warn", "error", "crit", "alert", "emerg", "")
# the lines of init_by_lua* and init_worker_by_lua* bound to no connection: what the
# init_by_lua chunk logs (there is no request at all), and either chunk's error
_INIT_RE = re.compile(r"\[lua\] init_by_lua\(|init(_worker)?_by_lua error: ")


def record_message(line: str) -> str | None:
    """``[level] message`` of one line in nginx's error-log format (time and ``pid#tid:``
    dropped), or None when the line is not in that format."""
    m = _REC_RE.match(line)
    return f"[{m.group(2)}] {m.group(5)}" if m else None


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
    return _without_suffix(lines)[0]


def _without_suffix(lines: list) -> list:
    """The lines of a record, without nginx's ", client: ..." suffix (on the last)."""
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
    return lines


def normalise_error_log(lines_or_text) -> list[str]:
    """Request-bound error-log lines at notice level and above, as ``[level] message``.

    Accepts nginx's error.log text or a list of nginx-format lines (the model's).
    A line is kept when it belongs to a connection (``*N``) and its level is notice,
    warn, error, crit, alert, emerg or stderr (written ``[]`` by nginx), or is one of the
    init_by_lua* lines that have none (``_INIT_RE``); nginx's own startup/shutdown notices
    have no ``*N`` and are dropped (but for a gracefully exiting worker's "gracefully
    shutting down", "exiting" and "exit"), ``ngx.log(ngx.NOTICE, ...)`` lines are kept. The
    timestamp, ``pid#tid:``, ``*N`` and the ``, client: ..., server: ..., request:
    "...", [subrequest: "...",] host: "..."`` suffix are removed, a pointer (``%p``, 16
    hex digits: a cosocket's "u:%p, c:%p") other than NULL is written PTR, and a multi-line
    message (a Lua traceback) keeps its first line only.
    """
    return [f"[{level}] " + _ADDRESS_RE.sub("PTR", lines[0])
            for level, lines in _kept_records(lines_or_text)]


# a worker's graceful exit (nginx -s quit): its own notices, without "*N", are kept too
_QUIT_NOTICES = ("gracefully shutting down", "exiting", "exit")


def _quit_pid(recs) -> int | None:
    """The pid of the worker that shut down gracefully (the master also logs "exit")."""
    return next((pid for level, pid, conn, lines in recs
                 if conn is None and level == "notice" and lines[0] == _QUIT_NOTICES[0]), None)


def _quit_notice(quit_pid, level, pid, conn, lines) -> bool:
    return (quit_pid is not None and pid == quit_pid and conn is None and level == "notice"
            and lines[0] in _QUIT_NOTICES)


def _kept_records(lines_or_text):
    recs = list(_records(lines_or_text))
    quit_pid = _quit_pid(recs)
    for level, pid, conn, lines in recs:
        if ((conn is not None or _INIT_RE.match(lines[0])) and level in _KEEP_LEVELS
                or _quit_notice(quit_pid, level, pid, conn, lines)):
            yield level, _without_suffix(lines)


def error_records(lines_or_text) -> list[str]:
    """``normalise_error_log`` keeping every line of a record: a Lua error with its
    whole ``stack traceback:`` (lines joined by newlines, tabs kept)."""
    return [f"[{level}] " + _ADDRESS_RE.sub("PTR", "\n".join(lines))
            for level, lines in _kept_records(lines_or_text)]


# the debug lines the registry knows (ngxcoro/trace/events.py): (regex, words, thread group)
_DEBUG_COMPILED = [(re.compile(rx), words, thread) for rx, words, thread in nginx_lines()]
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
        for rx, words, thread in _DEBUG_COMPILED:
            m = rx.match(msg)
            if not m:
                continue
            ev = nginx_words(m, words)
            if thread:
                ptr = m[thread]
                if words == "NEWTHREAD" or ptr not in ids:
                    nids += 1
                    ids[ptr] = f"T{nids}"
                ev = f"{ev} {ids[ptr]}"
            out.append(ev)
            break
    return out


_COMPARED_RX = [re.compile(rx) for e in EVENTS.values() if e.compared for rx, _w in e.nginx]
_POINTER_RE = re.compile(r"\b[0-9A-F]{16}\b")
# ... and in the error log a non-NULL one only (NULL, 16 zeros, says something)
_ADDRESS_RE = re.compile(r"\b(?!0{16}\b)[0-9A-F]{16}\b")


def debug_lines(text, pid: int | None = None) -> list[str]:
    """The worker's debug lines of the events the registry compares (`compared`), as
    nginx wrote them but for what differs from run to run: the time and ``pid#tid:``
    are dropped, ``*N `` becomes ``* `` (a cycle-log line has none) and a pointer
    becomes PTR. The model's error log gives the same lines from the registry's `line`
    templates, so the two compare line for line. Lines are selected as in
    ``normalise_debug``.
    """
    recs = list(_records(text))
    if pid is None:
        pid = _worker_pid(recs)
    out = []
    for level, rpid, conn, lines in recs:
        if level != "debug" or (pid is not None and rpid != pid):
            continue
        msg = lines[0]
        if _SHUTDOWN_RE.search(msg):
            break
        if any(rx.match(msg) for rx in _COMPARED_RX):
            out.append(("* " if conn is not None else "") + _POINTER_RE.sub("PTR", msg))
    return out


# the request's count history: finalize / close / terminate lines

#: the normalised debug events that make up the count history (note the space after
#: FINALIZE: "FINALIZE_THREADS" is not one of them)
COUNT_PREFIXES = COUNT_WORDS


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
        if ev in COUNT_EVENTS:
            out.append(debug_words(ev, e))
        elif (ev == "count" and not have_close and e.get("cause") == "close_request"):
            out.append(f"CLOSE_REQ c={int(e['c']) - int(e.get('delta', -1))}")
    return out


#: nginx's error_log levels, most severe first ("" is ngx.STDERR's, written "[]")
LEVELS = ("", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
# the debug lines the model writes (the registry's `line` events, and the "yielded" line
# that follows "lua resume returned 1"); not the phase handlers' "lua content handler, ..."
# lines, which nginx writes on every entry into the handler (twice on a worker's first
# request for rewrite and access) and the model once per new entry thread, after its reset
_MODEL_DEBUG_RX = [re.compile(rx) for e in EVENTS.values()
                   if e.line and e.name != "phase_handler" for rx, _w in e.nginx]
_MODEL_DEBUG_RX.append(re.compile(r"lua thread yielded$"))


def log_view(text, level: str = "error", pid: int | None = None) -> list[str]:
    """The error log as two sides of a comparison see it: the rows of every record at
    `level` or above, without what differs from run to run or from side to side.

    The time, ``pid#tid:`` and the ", client: ..." suffix are dropped, ``*N`` becomes
    ``*`` and a pointer PTR; a record's further lines (a Lua traceback) are rows of their
    own. Kept: request-bound records (nginx's own start-up notices have no ``*N``), and at
    debug level only the debug lines the model writes too (the registry's `line` events),
    cycle-log ones included. Lines after nginx's shutdown signal are dropped.
    """
    upto = LEVELS.index(level)
    recs = list(_records(text))
    if pid is None:
        pid = _worker_pid(recs)
    out = []
    quit_pid = _quit_pid(recs)
    for lvl, rpid, conn, lines in recs:
        if pid is not None and rpid != pid:
            continue
        if _SHUTDOWN_RE.search(lines[0]):
            break
        if lvl not in LEVELS or LEVELS.index(lvl) > upto:
            continue
        if lvl == "debug":
            if not any(rx.match(lines[0]) for rx in _MODEL_DEBUG_RX):
                continue
        elif conn is None and not _quit_notice(quit_pid, lvl, rpid, conn, lines):
            continue
        lines = _without_suffix(lines)
        while len(lines) > 1 and lines[-1] == "":
            lines.pop()
        out.append(f"[{lvl}] " + ("* " if conn is not None else "") + _POINTER_RE.sub("PTR", lines[0]))
        out += [_POINTER_RE.sub("PTR", x) for x in lines[1:]]
    return out
