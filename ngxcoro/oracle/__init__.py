"""The oracle: run the real nginx + lua-nginx-module and report what it did.

This package has nothing to do with the model (it uses only ngxcoro.nginx: the
nginx.conf reader and the request-line parser): it starts the nginx installed on the
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
* Top-level ``server`` blocks (maybe with http-level directives beside them, no ``http``
  or ``events`` block) are the inside of ``http``, as the model reads them: line 1 gets
  ``events {...} http {`` and the text ends with ``\n}\n``; then as a full nginx.conf.
* A full nginx.conf (a top-level ``events`` or ``http`` block) gets the main-context
  directives on line 1; its own ``pid``, ``daemon``, ``master_process``,
  ``worker_processes``, ``error_log`` and ``load_module`` of our three modules are
  blanked, and so are (anywhere) ``user``, ``access_log``, the ``*_temp_path`` directives
  and the includes of Debian's ``modules-enabled/``, ``sites-enabled/`` and ``conf.d/``
  (modules we load ourselves, servers that would listen on the host); a relative include
  (``include mime.types``) is read from ``/etc/nginx/``; in every ``http > server`` the
  first ``listen`` becomes
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
    error_records  error_records(...): error_log with whole records (Lua tracebacks)
    debug_lines    debug_lines(...): the compared debug lines, pointers and *N masked
    hung           True when the client timed out waiting for the connection to close
                   (False when it closed first, at `abort_at`)
    client_abort_at  `abort_at`: when the client was to close its socket (None: never)
    client_aborted True when it did, before nginx closed the connection; status and
                   body are then what it had received by that time
    startup_error  None, or nginx's "[emerg] ... in nginx.conf:N" when it refused to start
    raw_error_log  the error log text; the temporary prefix is replaced by
                   PREFIX_ALIAS (``/usr/share/nginx/``, this nginx's compiled-in prefix)
                   so that nothing random remains
    stderr         what nginx wrote to stderr (same replacement)

Environment: ``NGXCORO_NGINX`` (default /usr/sbin/nginx) and ``NGXCORO_NGINX_MODULES``
(default /usr/lib/nginx/modules) point at another build.

Modules: ``conf`` renders the nginx.conf (with ngxcoro.nginx.conf's reader), ``client``
speaks HTTP/1.x over the socket, ``run`` starts, talks to and stops nginx, ``logs``
normalises the error and debug logs, ``peer`` runs scripted peers (ngxcoro.peers) as
real loopback servers for a run (``run_real(..., peers=[...])``, a scenario's ``# peer:``
lines: each on a free port, written into the config where the script's port stands and
written back in the result after ``127.0.0.1:``), ``scenario`` reads the ``.ngx``
scenarios shipped in ``scenarios/`` (and their recordings in ``scenarios/expected/``),
``cli`` is the command line::

    python -m ngxcoro.oracle FILE [--request "GET /t"] [--header "N: v"]...
                                  [--body TEXT] [--timeout S] [--client-abort-at S]
                                  [--peer SCRIPT]... [--json] [--debug]
"""

from __future__ import annotations

import os

__all__ = [
    "NGINX", "MODULES_DIR", "MODULES", "PREFIX_ALIAS", "PORT_PLACEHOLDER",
    "available", "build_config", "is_full_config", "run_real",
    "normalise_error_log", "normalise_debug", "COUNT_PREFIXES", "count_history",
    "model_count_history", "error_records", "debug_lines", "LEVELS", "log_view",
    "parse_scenario", "SCENARIO_DIR", "EXPECTED_DIR",
    "scenario_names", "scenario_path", "read_scenario", "read_recording", "read_log_recording",
    "main",
]

# These are read when they are used (``from . import NGINX`` inside the functions), so a
# test or a script may set ``ngxcoro.oracle.NGINX`` to point at another binary.
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


def available() -> tuple[bool, str]:
    """(True, description) when the nginx binary and the three modules are present."""
    if not (os.path.isfile(NGINX) and os.access(NGINX, os.X_OK)):
        return False, f"nginx binary not found or not executable: {NGINX}"
    missing = [m for m in MODULES if not os.path.isfile(os.path.join(MODULES_DIR, m))]
    if missing:
        return False, f"nginx modules missing in {MODULES_DIR}: {', '.join(missing)}"
    return True, f"{NGINX} with {', '.join(MODULES)} from {MODULES_DIR}"


# after the names above: the modules below read them from here
from .conf import build_config, is_full_config  # noqa: E402
from .client import _build_request, _parse_response  # noqa: E402,F401  (tests use them)
from .logs import (COUNT_PREFIXES, count_history, model_count_history,  # noqa: E402
                   normalise_debug, normalise_error_log, error_records, debug_lines,
                   LEVELS, log_view)
from .run import _startup_message, _unport, run_real  # noqa: E402,F401  (tests use them)
from .scenario import (EXPECTED_DIR, SCENARIO_DIR, parse_scenario, read_recording,  # noqa: E402
                       read_log_recording, read_scenario, scenario_names, scenario_path)
from .cli import main  # noqa: E402
