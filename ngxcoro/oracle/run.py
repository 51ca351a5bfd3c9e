"""Run one request on a fresh real nginx: ``run_real``.

A private temporary prefix per run (``conf/``, ``logs/``, ``tmp/``), the config rendered by
``conf.build_config`` into ``<prefix>/conf/nginx.conf``, nginx started as a single
foreground process (``-g 'daemon off; master_process off;'``) listening on 127.0.0.1 only,
the request sent by ``client.exchange``, then the log waited on until the connection's
close is logged and the log is quiet, and nginx stopped by the pid we started (SIGQUIT,
SIGTERM, SIGKILL). The result dict is described in the package docstring.

A run with `quit_at` (``nginx -s quit`` at that time) starts a master and its one worker
instead (``master_process on``: a single process exits at once on SIGQUIT, without the
worker's graceful path), sends SIGQUIT to the master we started `quit_at` seconds after the
request, and waits for the master to exit (the client's timeout plus QUIT_MARGIN at most).
The logs are then the worker's lines (its pid is that of the first request-bound line).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from . import conf
from .client import _build_request, exchange, request_method
from .peer import start_peers
from ..peers import parse_peers
from .logs import (debug_lines, error_records, normalise_debug, normalise_error_log,
                   record_message)

__all__ = ["run_real"]

# what the ports are written back in (this server's, the peers')
_UNPORT_KEYS = ("body", "headers", "head", "raw_body", "error_log", "debug", "error_records",
                "debug_lines", "raw_error_log")
# how long after the client's timeout a quitting master may take to exit before it is stopped
QUIT_MARGIN = 2.0


def run_real(config_text: str, request: str = "GET /t", headers=(), body=None, *,
             timeout: float = 3.0, keep_prefix: bool = False,
             abort_at: float | None = None, quit_at: float | None = None,
             peers=None) -> dict:
    """Run one request against a fresh real nginx; see the package docstring.

    `request` is "METHOD URI [HTTP/1.x]" (HTTP/1.1 by default). `headers` is a list of
    (name, value) pairs or "Name: value" strings, sent in order after ``Host:
    localhost``; a Host or Connection header replaces the default (``Connection:
    close``), and a value of None just removes the default. `body` is a str/bytes sent
    with the headers, or a list of (delay_seconds, chunk) pieces sent after the
    headers, each after its delay; Content-Length is added unless given. `timeout` is
    how long the client waits (from the request) for nginx to close the connection.
    `abort_at` (seconds from the request, None: never) makes the client close its socket
    then, unless nginx closed first (``client.exchange``): the result keeps what the
    client had received (status None unless the whole response had arrived), `hung` is
    False, "client_aborted" says whether the client closed first, and "client_abort_at"
    is `abort_at`. The log is then awaited as usual (nginx's close of the connection,
    for at most 1.5 s).
    `quit_at` (seconds from the request, None: never) is a graceful shutdown then
    (SIGQUIT to the master, see the module docstring); the result has "quit_at".
    `peers` is a list of peer scripts (ngxcoro.peers): each runs as a real loopback server
    for the run (oracle/peer.py), on a free port written into the config where the
    script's port stands, and written back as the script's port in what is returned.
    `keep_prefix=True` keeps the temporary prefix and returns its path as "prefix".
    """
    from . import available
    ok, why = available()
    if not ok:
        raise RuntimeError(why)
    if quit_at is not None and not quit_at >= 0:
        raise ValueError(f"bad quit_at {quit_at!r}: expected seconds >= 0")
    method = request_method(request)
    payload, pieces = _build_request(request, headers, body)
    parse_peers(peers)                  # a bad script: PeerScriptError before nginx starts
    result = None
    for _attempt in range(3):
        peer_set = start_peers(peers)
        try:
            result = _run_once(peer_set.to_real(config_text), payload, pieces, method, timeout,
                               keep_prefix, abort_at, quit_at)
        finally:
            peer_set.stop()
        for k in _UNPORT_KEYS:
            if k in result:
                result[k] = peer_set.unport(result[k])
        if result.pop("_retry", False):
            continue
        break
    return result


def _run_once(config_text, payload, pieces, method, timeout, keep_prefix, abort_at,
              quit_at=None) -> dict:
    prefix = tempfile.mkdtemp(prefix="ngxcoro-nginx-") + "/"
    try:
        res = _run_in_prefix(prefix, config_text, payload, pieces, method, timeout, abort_at,
                             quit_at)
    finally:
        if not keep_prefix:
            shutil.rmtree(prefix, ignore_errors=True)
    if keep_prefix:
        res["prefix"] = prefix
    return res


def _run_in_prefix(prefix, config_text, payload, pieces, method, timeout, abort_at,
                   quit_at=None) -> dict:
    from . import NGINX
    for d in ("conf", "logs", "tmp"):
        os.mkdir(prefix + d)
    mime = "/etc/nginx/mime.types"
    if os.path.isfile(mime):
        shutil.copy(mime, prefix + "conf/mime.types")
    port = _free_port()
    text = conf.build_config(config_text, port, prefix)   # looked up here: bench swaps it
    with open(prefix + "conf/nginx.conf", "w") as f:
        f.write(text)
    log_path = prefix + "logs/error.log"
    err_path = prefix + "logs/stderr.log"
    env = {k: v for k, v in os.environ.items() if k not in ("LUA_PATH", "LUA_CPATH", "LUA_INIT")}
    res = {"status": None, "body": "", "headers": [], "error_log": [], "debug": [],
           "error_records": [], "debug_lines": [], "hung": False, "startup_error": None, "raw_error_log": "", "stderr": "",
           "client_abort_at": abort_at, "client_aborted": False,
           "head": [], "raw_body": ""}
    if quit_at is not None:
        res["quit_at"] = quit_at
    mode = "master_process off;" if quit_at is None else "master_process on;"
    quitter = []
    with open(err_path, "wb") as errf:
        proc = subprocess.Popen(
            [NGINX, "-p", prefix, "-c", "conf/nginx.conf", "-g", "daemon off; " + mode],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, env=env,
            start_new_session=True)

        def sent(_t0):                 # the request is on its way: the quit is due
            if quit_at is not None:
                quitter.append(threading.Timer(quit_at, _signal, (proc, signal.SIGQUIT)))
                quitter[0].start()
        try:
            t0 = time.monotonic()
            reply = exchange(port, payload, pieces, method, timeout,
                             alive=lambda: proc.poll() is None, abort_at=abort_at, sent=sent)
            if reply is not None:
                res.update(reply)
                if quit_at is not None:
                    try:
                        proc.wait(timeout=max(0.0, t0 + timeout + QUIT_MARGIN - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    _wait_log_settled(log_path, want_close=not reply["hung"],
                                      timers_until=t0 + timeout)
        finally:
            for q in quitter:
                q.cancel()
                q.join()
            _stop(proc)
    res["raw_error_log"] = _scrub(_read(log_path), prefix)
    res["stderr"] = _scrub(_read(err_path), prefix)
    if reply is None:
        if "Address already in use" in res["stderr"]:
            res["_retry"] = True
        res["startup_error"] = _scrub(_startup_message(res["stderr"]), prefix)
        return res
    res["body"] = _scrub(res["body"], prefix)      # e.g. ngx.req.get_body_file()'s path
    res["error_log"] = normalise_error_log(res["raw_error_log"])
    pid = proc.pid if quit_at is None else None     # the worker's lines, not the master's
    res["debug"] = normalise_debug(res["raw_error_log"], pid=pid)
    res["error_records"] = error_records(res["raw_error_log"])
    res["debug_lines"] = debug_lines(res["raw_error_log"], pid=pid)
    _unport(res, port)
    return res


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _signal(proc: subprocess.Popen, sig) -> None:
    """Send `sig` to our nginx (by the pid we started), if it still runs."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


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


def _wait_log_settled(path: str, want_close: bool, limit: float = 1.5,
                      timers_until: float | None = None) -> None:
    """Wait until the connection's close is logged (if expected) and the log is quiet.

    Lua timers outlive the request that made them: while one is armed or running (its
    ``created timer`` / ``created next timer`` debug line has no ``lua ngx.timer expired``
    yet, or an expired one has neither closed its fake connection, ``http lua close fake
    http connection``, nor failed to start, ``lua failed to run timer``), the wait goes on
    until `timers_until` (the client's timeout, counted from the request: the horizon
    the model stops at too). Needs ``error_log ... debug`` to see the timers.
    """
    end = time.monotonic() + limit
    last_size, quiet_since = -1, time.monotonic()
    while True:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        now = time.monotonic()
        if size != last_size:
            last_size, quiet_since = size, now
        text = _read(path)
        closed = (not want_close) or ("close http connection" in text)
        timers = _timers_done(text)
        if closed and now - quiet_since >= 0.05 and timers:
            return
        if now >= (end if timers or timers_until is None else timers_until):
            return
        time.sleep(0.01)


def _timers_done(text: str) -> bool:
    """Has every Lua timer the log shows created expired, and every expired one ended?"""
    created = text.count("created timer (co: ") + text.count("created next timer (co: ")
    expired = text.count("lua ngx.timer expired")
    ended = text.count("http lua close fake http connection") + text.count("lua failed to run timer")
    return created == expired and ended >= expired


def _startup_message(stderr: str) -> str:
    """The "[emerg] ... in nginx.conf:N" line of a failed start, without time and pid.

    nginx writes it either as "nginx: [emerg] ..." or, through its default stderr
    log, in the full error-log format.
    """
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    pick = next((l for l in lines if "[emerg]" in l), None) \
        or next((l for l in lines if "[alert]" in l), None) \
        or next((l for l in lines if "init_by_lua error: " in l), None) \
        or (lines[-1] if lines else "nginx exited during startup")
    if pick.startswith("nginx: "):
        pick = pick[len("nginx: "):]
    pick = record_message(pick) or pick
    return re.sub(r"\S*/conf/nginx\.conf", "nginx.conf", pick)


def _scrub(s: str, prefix: str) -> str:
    from . import PREFIX_ALIAS
    return s.replace(prefix, PREFIX_ALIAS)


def _unport(res: dict, port: int) -> None:
    """Write our random listen port back as PORT_PLACEHOLDER (after 127.0.0.1: or
    localhost:) in the body, headers and logs, so recordings stay deterministic."""
    from . import PORT_PLACEHOLDER
    rx = re.compile(rf"(?<=127\.0\.0\.1:|localhost:){port}(?!\d)")

    def fix(x):
        if isinstance(x, str):
            return rx.sub(PORT_PLACEHOLDER, x)
        if isinstance(x, list):
            return [fix(y) for y in x]
        return x

    for k in _UNPORT_KEYS:
        if k in res:
            res[k] = fix(res[k])

