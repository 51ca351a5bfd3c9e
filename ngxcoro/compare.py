"""``python -m ngxcoro compare``: one request through the model and through real nginx.

Runs the same configuration and request on both, puts the two error logs into the same
form (``oracle.log_view``: no time, pid or connection number, pointers masked, at one
error_log level) and prints status, the response head (status line and headers in
order; Date's value is the wall clock's on one side and the virtual clock's on the other,
so both are written ``__DATE__``), body and log side by side, a marked row wherever
they differ. Exit status: 0 when they match, 1 when they differ, 2 when we refuse (no
nginx here, an unreadable file, a bad request line or option).

The level is the config's ``error_log`` level unless ``--log-level`` names one: the oracle
always has nginx log at debug (it reads the debug lines for its traces) and filters the
log to that level here, and the model runs at that level, so both sides show what nginx
would have written with that config. Not mirroring a C file.
"""
from __future__ import annotations

import argparse
import difflib
import sys

__all__ = ["side_by_side", "compare", "main"]


def _show(line: str) -> str:
    return line.replace("\t", "\\t").replace("\r", "\\r")


def side_by_side(left: list[str], right: list[str], lname="nginx", rname="model") -> list[str]:
    """Two aligned columns; '!' marks a changed row, '<' a row only nginx has, '>' only the model.

    The left column is cut at 64 characters; a cut line is repeated in full below.
    """
    left = [_show(x) for x in left]
    right = [_show(x) for x in right]
    width = min(max([len(lname)] + [len(x) for x in left + right]), 64)
    rows = [f"  {lname:<{width}} | {rname}", f"  {'-' * width} | {'-' * len(rname)}"]
    cut = []

    def cell(s):
        if len(s) <= width:
            return s
        cut.append(s)
        return s[:width - 1] + "…"

    sm = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            rows += [f"  {cell(l):<{width}} | {l}" for l in left[i1:i2]]
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            l = left[i1 + k] if i1 + k < i2 else None
            r = right[j1 + k] if j1 + k < j2 else None
            mark = "!" if l is not None and r is not None else ("<" if r is None else ">")
            rows.append(f"{mark} {cell(l or ''):<{width}} | {r or ''}".rstrip())
    rows += [f"  (full {lname} line: {l})" for l in cut]
    return rows


def config_level(text: str) -> str:
    """The error_log level the config asks for ("error" when it names none or does not load)."""
    from .nginx import conf as _config
    try:
        return _config.load(text, "nginx.conf").error_log_level or "error"
    except Exception:                      # noqa: BLE001 - a bad config: both sides say so
        return "error"


def compare(text, request="GET /t", headers=(), body=None, *, level=None, timeout=3.0,
            abort_at=None, quit_at=None, peers=None):
    """Run both sides (`abort_at`: the client closes then, on both; `quit_at`:
    nginx -s quit then, on both; `peers`: scripted peers, on the virtual clock
    and as real loopback servers); returns a
    dict: level, same (bool), nginx / model views (status, head, body, log rows) and
    the printable report lines."""
    import ngxcoro
    from . import oracle
    from .oracle.client import normalise_head
    level = level or config_level(text)
    headers = [tuple(x.strip() for x in h.partition(":")[::2]) if isinstance(h, str) else tuple(h)
               for h in headers]
    mine = ngxcoro.run(text, request, headers=headers, body=body, log_level=level, timeout=timeout,
                       abort_at=abort_at, quit_at=quit_at, peers=peers)
    real = oracle.run_real(text, request, headers, body, timeout=timeout, abort_at=abort_at,
                           quit_at=quit_at, peers=peers)
    theirs = {"status": real["status"], "body": real["body"], "head": real["head"],
              "log": oracle.log_view(real["raw_error_log"], level)
              if not real["startup_error"] else [real["startup_error"]]}
    ours = {"status": mine.status, "body": mine.body, "head": normalise_head(mine.head),
            "log": oracle.log_view(list(mine.error_log), level)
            if not mine.startup_error else [mine.startup_error]}
    report = []
    for k in ("status",):
        mark = "  " if theirs[k] == ours[k] else "! "
        report.append(f"{mark}status  nginx: {theirs[k]!r}  model: {ours[k]!r}")
    if theirs["head"] == ours["head"]:
        report.append(f"  head: same ({len(theirs['head'])} lines, Date's value not compared)")
    else:
        report.append("! head (Date's value not compared):")
        report += ["    " + r for r in side_by_side(theirs["head"], ours["head"])]
    if theirs["body"] == ours["body"]:
        report.append(f"  body: same ({len(theirs['body'])} bytes)")
    else:
        report.append("! body (split at \\n):")
        report += ["    " + r for r in side_by_side(theirs["body"].split("\n"),
                                                    ours["body"].split("\n"))]
    same_log = theirs["log"] == ours["log"]
    report.append(f"{'  ' if same_log else '! '}error log at level {level} "
                  f"({len(theirs['log'])} rows nginx, {len(ours['log'])} model):")
    report += ["    " + r for r in side_by_side(theirs["log"], ours["log"])]
    same = theirs == ours
    return {"level": level, "same": same, "nginx": theirs, "model": ours, "report": report}


def _refuse(why):
    print(f"ngxcoro compare: {why}", file=sys.stderr)


def _read(path, newline=None):
    """The text of a file, or None after saying why it cannot be read
    (newline="": as it is, CRs and all, for a request body)."""
    try:
        with open(path, encoding="utf-8", newline=newline) as f:
            return f.read()
    except OSError as e:
        return _refuse(f"cannot read {path}: {e.strerror}")
    except UnicodeDecodeError:
        return _refuse(f"{path} is not UTF-8 text")


def main(argv=None) -> int:
    from .oracle.logs import LEVELS
    ap = argparse.ArgumentParser(
        prog="python -m ngxcoro compare",
        description="Run one request on the model and on real nginx; print both error logs "
                    "side by side. Exit 0: same, 1: different, 2: refused.")
    ap.add_argument("--config", required=True, help="an nginx.conf, or the inside of a server {}")
    ap.add_argument("--request", default="GET /t", help='a request line (default "GET /t")')
    ap.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    ap.add_argument("--body-file", help="the request body")
    ap.add_argument("--log-level", choices=[x for x in LEVELS if x],
                    help="the level to compare at (default: the config's error_log level)")
    ap.add_argument("--timeout", type=float, default=3.0, help="nginx client timeout (s)")
    ap.add_argument("--client-abort-at", type=float, metavar="SECONDS",
                    help="the client closes its socket this long after the request")
    ap.add_argument("--quit-at", type=float, metavar="SECONDS",
                    help="nginx -s quit this long after the request (a graceful shutdown)")
    ap.add_argument("--peer", action="append", default=[], metavar="SCRIPT",
                    help="a scripted peer (repeatable; ngxcoro.peers), on both sides")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    from . import oracle
    ok, why = oracle.available()
    text = _read(a.config) if ok else _refuse(why)
    body = _read(a.body_file, newline="") if text is not None and a.body_file else None
    if text is None or (a.body_file and body is None):
        return 2
    from . import RequestError
    bad = [h for h in a.header if not h.partition(":")[0].strip() or ":" not in h]
    if bad:
        _refuse(f'bad header "{bad[0]}": expected "Name: value"')
        return 2
    try:
        res = compare(text, a.request, a.header, body, level=a.log_level, timeout=a.timeout,
                      abort_at=a.client_abort_at, quit_at=a.quit_at, peers=a.peer)
    except (ValueError, RequestError) as e:  # a bad request line (both sides refuse it)
        _refuse(e)
        return 2
    print("\n".join(res["report"]))
    print("same" if res["same"] else "different")
    return 0 if res["same"] else 1
