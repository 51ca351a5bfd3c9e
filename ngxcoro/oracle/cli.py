"""The oracle's command line: ``python -m ngxcoro.oracle FILE [options]``.

Runs a ``.ngx`` scenario, server-block text or a full nginx.conf on the real nginx and prints
the status, the body and the error log as ``log_view`` puts it (time, pid, ``*N`` and
pointers masked), at the config's ``error_log`` level unless ``--log-level`` names one: nginx
always runs with ``error_log ... debug`` here (the oracle reads its debug lines), so the log
is filtered to what that config would have written (``--debug``: the normalised debug events
too; ``--json``: the whole ``run_real`` result). The request, headers, body and timeout come from
the file's ``# key: value`` lines unless given as options. Exit status 2 when nginx is
missing, the file cannot be read or the request line is bad; 1 when nginx refused the config.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import available
from .client import _norm_headers
from .logs import LEVELS, log_view
from .run import run_real
from .scenario import parse_scenario

__all__ = ["main"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ngxcoro.oracle",
        description="Run server-block text (or a full nginx.conf) on the real nginx.")
    ap.add_argument("file", help="a .ngx scenario, server-block text or a full nginx.conf")
    ap.add_argument("--request", help='e.g. "GET /t" (default: the file\'s "# request:" or GET /t)')
    ap.add_argument("--header", action="append", default=None, help='"Name: value", repeatable')
    ap.add_argument("--body", help="request body text")
    ap.add_argument("--timeout", type=float, help="client timeout in seconds")
    ap.add_argument("--client-abort-at", type=float, metavar="SECONDS",
                    help="the client closes its socket this long after the request "
                         "(default: the file's \"# client-abort-at:\" or never)")
    ap.add_argument("--quit-at", type=float, metavar="SECONDS",
                    help="nginx -s quit this long after the request "
                         "(default: the file's \"# quit-at:\" or never)")
    ap.add_argument("--peer", action="append", default=None, metavar="SCRIPT",
                    help='a scripted peer, e.g. "127.0.0.1:1990 recv-line; send \\"hi\\n\\"; '
                         'close" (repeatable; default: the file\'s "# peer:" lines; '
                         'ngxcoro.peers)')
    ap.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ap.add_argument("--debug", action="store_true", help="also print the debug events")
    ap.add_argument("--log-level", choices=[x for x in LEVELS if x],
                    help="show the error log at this level (default: the config's error_log level)")
    a = ap.parse_args(argv)
    ok, why = available()
    if not ok:
        print(f"ngxcoro.oracle: {why}", file=sys.stderr)
        return 2
    try:
        with open(a.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"ngxcoro.oracle: cannot read {a.file}: {e.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"ngxcoro.oracle: {a.file} is not UTF-8 text", file=sys.stderr)
        return 2
    info = parse_scenario(text)
    request = a.request or info["request"]
    headers = _norm_headers(a.header) if a.header is not None else info["headers"]
    body = a.body if a.body is not None else info["body"]
    timeout = a.timeout if a.timeout is not None else info["timeout"]
    abort_at = a.client_abort_at if a.client_abort_at is not None else info["client_abort_at"]
    try:
        res = run_real(text, request, headers, body, timeout=timeout, abort_at=abort_at,
                       quit_at=a.quit_at if a.quit_at is not None else info["quit_at"],
                       peers=a.peer if a.peer is not None else info["peers"])
    except ValueError as e:
        print(f"ngxcoro.oracle: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(res, indent=1, sort_keys=True))
        return 0
    if res["startup_error"]:
        print(f"nginx did not start: {res['startup_error']}")
        return 1
    print(f"status: {res['status']}{'  (client timed out)' if res['hung'] else ''}"
          + (f"  (the client closed at {abort_at:g} s)" if res.get("client_aborted") else ""))
    print("body:")
    sys.stdout.write(res["body"] if res["body"].endswith("\n") or not res["body"] else res["body"] + "\n")
    from ..compare import config_level
    level = a.log_level or config_level(text)
    rows = log_view(res["raw_error_log"], level)
    if rows:
        print(f"error log ({level}):")
        for l in rows:
            print("  " + l)
    if a.debug:
        print("debug events:")
        for e in res["debug"]:
            print("  " + e)
    return 0
