"""python -m ngxcoro run --config FILE --request "GET /t" [--header "N: v"]...
                      [--client-abort-at SECONDS] [--quit-at SECONDS] [--peer SCRIPT]...
                      [--what-if NAME] [--json | --stream]
       python -m ngxcoro export --config FILE --request "GET /t" [...]  (a Test::Nginx block)

Exit codes: 0 when the run gave nginx's answer, whatever the status (a hang
real nginx would also have, answered at the client's timeout, included);
1 when nginx would refuse the config (its "[emerg] ..." line, as `nginx -t`
exits 1); 2 when ngxcoro refuses: something not modelled, a config or request
line it cannot read, a file it cannot open, or one of its own limits (memory,
wall time).  With --json the output is one JSON object in every case.

With --stream (or --jsonl) the output is JSON lines written as the run goes,
nothing of it kept in memory: one line per event of the request's history
({"t_ms": ..., "event": ..., fields}, the items of --json's "events") and one
per stap line ({"stap": "create 2 in 1"}), in the order they happened, then
one last line {"result": {...}}: --json's object without "events" and "stap".
"""
from __future__ import annotations

import argparse
import json
import sys

from . import run, RequestError, CLIENT_TIMEOUT
from .whatif import WHAT_IFS, banner

LOG_LEVELS = ("stderr", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")


def _header(text):
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f'bad header "{text}": expected "Name: value"')
    return name.strip(), value.strip()


def _piece(text):
    delay, sep, body = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(delay), body.replace("\\n", "\n")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'bad body piece "{text}": expected "SECONDS:TEXT", e.g. "0.1:a=1&"') from None


def _request_args(parser, config_help, request_help):
    """--config, --request and --header: what `run` and `export` both take."""
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument("--request", default="GET /t", help=request_help)
    parser.add_argument("--header", action="append", default=[], type=_header,
                        help='a request header "Name: value" (repeatable)')
    return parser


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["compare"]:                # the model beside real nginx (compare.py)
        from .compare import main as compare_main
        return compare_main(args[1:])
    if args[:1] == ["lab"]:                    # open the lessons in JupyterLab (lab.py)
        from .lab import main as lab_main
        return lab_main(args[1:])
    p = argparse.ArgumentParser(prog="python -m ngxcoro",
                                description="Run a request through the model of ngx_lua 0.10.23.")
    sub = p.add_subparsers(dest="cmd", required=True)
    rp = _request_args(sub.add_parser("run", help="serve one request"),
                       "an nginx.conf, or the inside of a server {} block",
                       'a request line, e.g. "GET /t?a=1 HTTP/1.0"')
    rp.add_argument("--body-file", help="the request body (it arrives with the headers)")
    rp.add_argument("--body-piece", action="append", default=[], type=_piece,
                    metavar="SECONDS:TEXT",
                    help="a piece of the body that arrives SECONDS after the previous one "
                         "(repeatable; \\n stands for a newline)")
    rp.add_argument("--order", help="completion order of timers, e.g. \"t2,t1\"")
    rp.add_argument("--timeout", type=_seconds, default=CLIENT_TIMEOUT, metavar="SECONDS",
                    help="the client's timeout in virtual seconds: a request still open then "
                         f"is answered as hung (default {CLIENT_TIMEOUT:g}, as the oracle's)")
    rp.add_argument("--client-abort-at", type=_seconds, metavar="SECONDS",
                    help="the client closes its socket this long after the request (virtual "
                         "seconds; default never): what had arrived is the answer")
    rp.add_argument("--quit-at", type=_quit_seconds, metavar="SECONDS",
                    help="nginx -s quit this long after the request (virtual seconds; default "
                         "never): the worker shuts down gracefully, its pending lua timers "
                         "run at once with premature = true")
    rp.add_argument("--peer", action="append", default=[], metavar="SCRIPT",
                    help='a scripted peer cosockets connect to, e.g. "127.0.0.1:1990 recv-line; '
                         'wait 100; send \\"hi\\n\\"; close" (repeatable; ngxcoro.peers)')
    rp.add_argument("--what-if", metavar="NAME",
                    help="NOT nginx: run with one line of the C changed (" + ", ".join(WHAT_IFS)
                         + "; ngxcoro.whatif)")
    out = rp.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--stream", "--jsonl", action="store_true",
                     help="print JSON lines as the run goes: each event and stap line, "
                          "then {\"result\": ...}")
    rp.add_argument("--log-level", choices=LOG_LEVELS,
                    help="error_log level to write at (default: the config's error_log level)")
    ep = _request_args(sub.add_parser("export",
                                      help="print the model's answer as a Test::Nginx block"),
                       "an nginx.conf, the inside of a server {} block, or http-level text",
                       'a request line, e.g. "POST /t"')
    ep.add_argument("--body", help="the request body (\\n stands for a newline)")
    ep.add_argument("--body-file", help="the request body, from a file")
    ep.add_argument("--title", help="the block's title (default: the scenario's # title, "
                                    "else the request line)")
    sub.add_parser("lab", add_help=False,
                   help="open the lessons in JupyterLab (python -m ngxcoro lab --help)")
    sub.add_parser("compare", add_help=False,
                   help="run on the model and on real nginx, print both error logs side by side "
                        "(python -m ngxcoro compare --help)")
    a = p.parse_args(argv)
    if a.cmd == "export":
        return _export(a)

    try:
        with open(a.config, encoding="utf-8") as f:
            text = f.read()
        body = None
        if a.body_file:
            with open(a.body_file, encoding="utf-8") as f:
                body = f.read()
    except OSError as e:
        print(f"ngxcoro: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        if a.body_piece:
            if body is not None:
                print("ngxcoro: give --body-file or --body-piece, not both", file=sys.stderr)
                return 2
            body = a.body_piece
        order = [x.strip() for x in a.order.split(",")] if a.order else None
        # the text output shows no stap lines or events: nothing needs to listen
        kw = dict(stream=_writer(sys.stdout)) if a.stream else dict(trace=a.json)
        res = run(text, a.request, headers=a.header, body=body, peers=a.peer,
                  filename=a.config.rsplit("/", 1)[-1], order=order, log_level=a.log_level,
                  timeout=a.timeout, abort_at=a.client_abort_at, quit_at=a.quit_at,
                  what_if=a.what_if, **kw)
    except BrokenPipeError:                  # --stream piped into `head`
        return _closed_pipe()
    except RequestError as e:
        refusal = {"status": None, "message": str(e), "refused": True}
        if a.stream:
            print(json.dumps({"result": refusal}))
        elif a.json:
            print(json.dumps(refusal))
        else:
            print(f"ngxcoro: {e}", file=sys.stderr)
        return 2

    try:
        if a.stream:
            obj = res.to_json()
            del obj["events"], obj["stap"]
            print(json.dumps({"result": obj}, sort_keys=True, ensure_ascii=False))
            return exit_code(res)
        return _print(res, a.json)
    except BrokenPipeError:                  # e.g. piped into `head`
        return _closed_pipe()


def _closed_pipe():
    """The reader went away: stop quietly (no second error at exit)."""
    import os
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _writer(out):
    """Each stap line or event of a streamed run, written at once as one JSON line."""
    def write(item):
        out.write(json.dumps(item, sort_keys=True, ensure_ascii=False, default=str) + "\n")
    return write


def _export(a):
    """python -m ngxcoro export: run the model, print the Test::Nginx block."""
    from .export import ExportError, export_test_nginx
    from .oracle.scenario import parse_scenario
    try:
        with open(a.config, encoding="utf-8") as f:
            text = f.read()
        body = a.body.replace("\\n", "\n") if a.body is not None else None
        if a.body_file:
            with open(a.body_file, encoding="utf-8") as f:
                body = f.read()
    except OSError as e:
        print(f"ngxcoro: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        res = run(text, a.request, headers=a.header, body=body, trace=False,
                  filename=a.config.rsplit("/", 1)[-1])
        block = export_test_nginx(res, title=a.title or parse_scenario(text)["title"] or None)
    except (RequestError, ExportError) as e:
        print(f"ngxcoro: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(block)
    return 0


def _seconds(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f'bad timeout "{text}": expected seconds > 0, e.g. 3')
    return v


def _quit_seconds(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 <= v < float("inf"):
        raise argparse.ArgumentTypeError(f'bad quit time "{text}": expected seconds >= 0, e.g. 0.5')
    return v


def exit_code(res):
    """0: nginx's answer; 1: nginx refuses the config; 2: ngxcoro refuses."""
    return 2 if res.refused else 1 if res.startup_error else 0


def _inert_line(inert):
    """The one line that lists the directives accepted with no effect on the model."""
    return ("inert (no effect on the model): "
            + ", ".join(f"{name} (line {line})" for name, line in inert))


def _print(res, as_json):
    if as_json:
        print(res.dumps())
        return exit_code(res)
    if res.startup_error:
        print(res.startup_error)
        return 1
    if res.what_if is not None:
        print(f"*** {banner(res.what_if)} ***")
    if res.inert:
        print(_inert_line(res.inert))
    print(f"status: {res.status if res.status is not None else '(no complete response)'}"
          + (f" (the client closed at {res.client_abort_at:g} s)"
             if res.client_abort_at is not None else ""))
    if res.message:
        print(f"note: {res.message}")
    for note in res.notes:
        print(f"note: {note}")
    for line in res.error_log:
        print(f"log: {line}")
    print()
    sys.stdout.write(res.body)
    return exit_code(res)
