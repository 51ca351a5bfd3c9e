"""echo-nginx-module 0.63's content handler, at run time: its command loop
(src/ngx_http_echo_handler.c), echo, echo_duplicate and echo_request_body
(ngx_http_echo_echo.c), echo_sleep (ngx_http_echo_sleep.c),
echo_read_request_body (ngx_http_echo_request_info.c), echo_location and
echo_location_async (ngx_http_echo_location.c), echo_subrequest and
echo_subrequest_async (ngx_http_echo_subrequest.c), the output filter of
echo_before_body and echo_after_body (ngx_http_echo_filter.c) and the
helpers of ngx_http_echo_util.c.

The handler runs the location's echo commands in order.  A command that
must wait (echo_sleep, echo_location, echo_read_request_body still
reading) returns NGX_AGAIN: the handler takes a reference (r->main->count++)
and answers NGX_DONE, and ngx_http_echo_wev_handler goes on with the next
command when the wait is over.  echo_location issues an nginx subrequest
(ngx_http_subrequest: nginx/phases.py) and waits for it;
echo_location_async issues one and goes on at once.  Their output reaches
the client in the order the subrequests were made, whatever order they
finish in: nginx's postpone filter (nginx/postpone.py) sees to that.
"""
from __future__ import annotations

import re
from functools import partial

from .core import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE
from .variables import expand
from . import body, phases, request, response

# what the content handler does not run: a setting, and the filter's commands
FILTER_ONLY = ("echo_status", "echo_before_body", "echo_after_body")
# the commands that issue subrequests
SUBREQUEST_CMDS = {"echo_location", "echo_location_async", "echo_subrequest",
                   "echo_subrequest_async"}
# the commands the model runs; any other echo directive is refused when reached
MODELLED = ("echo", "echo_duplicate", "echo_sleep", "echo_flush", "echo_location", "echo_location_async",
            "echo_subrequest", "echo_subrequest_async", "echo_read_request_body",
            "echo_request_body")


class EchoCtx:
    """ngx_http_echo_ctx_t: where in the command list the handler is."""

    def __init__(self):
        self.next_handler_cmd = 0
        self.waiting = False
        self.done = False
        self.headers_sent = False
        self.wait_read_request_body = False
        self.counter = 0                # $echo_incr's, on the main request's ctx
        self.skip_filter = False        # the output filter has nothing (more) to add
        self.before_body_sent = False


def echo_handler(r):
    """ngx_http_echo_handler.  What real nginx shows for the client's body,
    which the model follows without a C line to point at: a location that
    issues subrequests reads the body first (they get it: echo
    location-async.t, block 19), waiting for it when it is still on its way
    (scenario 1080); a location that neither reads it nor issues subrequests
    has it discarded (what ngx.say's last buf does too: scenario 402).  An
    NGX_ERROR from its commands (a filter failed) is answered as NGX_ERROR by
    this build, not 500: nginx finalizes with -1 (scenario 626)."""
    names = {d.name for d in r.location.directives}
    if r is r.main and names & SUBREQUEST_CMDS:
        rc = body.read_client_request_body(r, post_read_before_subrequests)
        if rc == NGX_AGAIN:
            return NGX_DONE                     # the read holds the reference
        request.count_change(r, -1, "echo: the body was in")
    elif "echo_read_request_body" not in names:
        body.discard_request_body(r)
    return handler_rc(r, echo_run_cmds(r))


def handler_rc(r, rc):
    """The end of ngx_http_echo_handler: waiting takes a reference."""
    if rc == NGX_ERROR:
        return NGX_ERROR
    if rc >= 300 or rc == NGX_DONE:
        return rc
    if rc == NGX_AGAIN:
        request.count_change(r, +1, "echo handler waits")
        r.echo_ctx.waiting, r.echo_ctx.done = True, False
        return NGX_DONE
    return NGX_OK


def post_read_before_subrequests(r):
    """The body arrived: run the commands now, as the write event handler
    would (no reference is taken for a wait: the read's was given back)."""
    if not r.reading_body:
        return                                  # it was all in: the handler goes on
    r.write_event_handler = echo_wev_handler
    rc = echo_run_cmds(r)
    if rc == NGX_AGAIN:
        r.echo_ctx.waiting, r.echo_ctx.done = True, False
    elif rc != NGX_DONE:
        r.echo_ctx.waiting, r.echo_ctx.done = False, True
        request.finalize_request(r, rc)


def echo_wev_handler(r):
    """ngx_http_echo_wev_handler: go on with the next command.  Still
    waiting (a subrequest of echo_location has not finished), echo 0.63
    pushes what this request holds postponed when it is the active one: its
    first postponed subrequest gets the connection and is posted (without
    the postpone filter's debug line), or its postponed output is flushed
    (ngx_http_echo_flush_postponed_outputs)."""
    ctx = getattr(r, "echo_ctx", None)
    if ctx is None:
        request.finalize_request(r, NGX_ERROR)
        return
    if ctx.waiting and not ctx.done:
        c = r.connection
        if r is request.active(c) and r.postponed:
            head = r.postponed[0]
            if isinstance(head, request.Request):
                c.active = head
                request.post_request(head)
            else:
                response.output(r, None)
        return
    ctx.done = False
    ctx.next_handler_cmd += 1
    rc = echo_run_cmds(r)
    if rc == NGX_DONE:
        return
    if rc == NGX_AGAIN:
        ctx.waiting, ctx.done = True, False
    else:
        ctx.waiting, ctx.done = False, True
        request.finalize_request(r, rc)


def echo_run_cmds(r):
    """ngx_http_echo_run_cmds."""
    w = r.worker
    cmds = [d for d in r.location.directives       # echo_status is a setting, and the
            if d.name.startswith("echo") and d.name not in FILTER_ONLY]   # filters' own
    if getattr(r, "echo_ctx", None) is None:
        r.echo_ctx = EchoCtx()
    ctx = r.echo_ctx
    while ctx.next_handler_cmd < len(cmds):
        d = cmds[ctx.next_handler_cmd]
        if d.name not in MODELLED:
            raise w.unsupported(f'the echo directive "{d.name}"')
        args, opts = eval_cmd_args(r, d)
        if d.name == "echo":
            rc = exec_echo(r, ctx, args, opts)
        elif d.name == "echo_request_body":
            rc = exec_echo_request_body(r, ctx)
        elif d.name == "echo_duplicate":
            rc = exec_echo_duplicate(r, ctx, args)
        elif d.name == "echo_location_async":
            rc = exec_echo_location_async(r, ctx, args)
        elif d.name == "echo_location":
            return exec_echo_location(r, ctx, args)
        elif d.name == "echo_subrequest_async":
            rc = exec_echo_subrequest_async(r, ctx, args)
        elif d.name == "echo_subrequest":
            return exec_echo_subrequest(r, ctx, args)
        elif d.name == "echo_sleep":
            return exec_echo_sleep(r, args)
        elif d.name == "echo_flush":
            rc = response.output(r, b"", flush=True) if r.header_sent else NGX_OK
        else:                                   # echo_read_request_body
            ctx.wait_read_request_body = False
            rc = body.read_client_request_body(r, post_read_request_body)
            request.count_change(r, -1, "echo_read_request_body")   # it always takes one
            if rc == NGX_OK:
                ctx.next_handler_cmd += 1
                continue
            ctx.wait_read_request_body = True
            return rc
        if rc == NGX_ERROR or rc >= 300:
            return rc
        ctx.next_handler_cmd += 1
    return send_chain_link(r, ctx, None)


def eval_cmd_args(r, d):
    """ngx_http_echo_eval_cmd_args: the arguments with their variables
    expanded, and the options in front ("-n"; "--" ends them) among those
    written without variables."""
    args, opts, expecting = [], [], True
    for raw in d.args:
        if expecting and raw and "$" not in raw:
            if len(raw) == 1 or raw[0] != "-":
                expecting = False
            elif raw[1] == "-":
                expecting = False
                continue
            else:
                opts.append(raw[1:])
                continue
        args.append(expand(r, raw))
    return args, opts


def echo_text(args, opts):
    """The text of ngx_http_echo_exec_echo: the arguments joined by spaces
    (an empty first one adds nothing), and a newline unless -n."""
    text = " ".join(args) if args else ""
    return (text + "\n").encode() if "n" not in opts[:1] else text.encode()


def exec_echo(r, ctx, args, opts):
    """ngx_http_echo_exec_echo."""
    text = echo_text(args, opts)
    if not text:
        return NGX_OK
    return send_chain_link(r, ctx, text)


def exec_echo_duplicate(r, ctx, args):
    """ngx_http_echo_exec_echo_duplicate: the string `count` times (underscores
    in the count are ignored; a bad count is a 500 with nginx's line)."""
    digits = args[0].replace("_", "")
    if not digits or not digits.isdigit():
        r.worker.log_error("error", f'invalid size specified: "{args[0]}"', r)
        return 500
    text = args[1] * int(digits)
    if not text:
        rc = send_header_if_needed(r, ctx)
        return rc if r.header_only or rc >= 300 else NGX_OK
    return send_chain_link(r, ctx, text.encode())


def exec_echo_request_body(r, ctx):
    """ngx_http_echo_exec_echo_request_body: the body that was read (in
    memory or in its temp file) goes out as it is."""
    if r.request_body:
        return send_chain_link(r, ctx, bytes(r.request_body))
    return NGX_OK


def post_read_request_body(r):
    """ngx_http_echo_post_read_request_body: the body is in; go on if the
    handler was waiting for it."""
    ctx = r.echo_ctx
    if ctx.wait_read_request_body:
        ctx.waiting, ctx.done = False, True
        r.write_event_handler = echo_wev_handler
        echo_wev_handler(r)


def parse_location(r, args):
    """The location and args of echo_location*: ngx_http_parse_unsafe_uri
    splits the "?" off (args given as the second argument win), and the
    path is unescaped (real nginx: /sub%31 reaches location /sub1); None
    when the URI is unsafe ("/../")."""
    location = args[0]
    if not location:                            # an empty one is as unsafe (real nginx)
        return None, None
    uri, sep, query = location.partition("?")
    uri = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), uri)
    if "\0" in uri or any(seg == ".." for seg in uri.split("/")[1:]):
        return None, None
    url_args = args[1] if len(args) > 1 else (query if sep and query else None)
    return uri, url_args


def exec_echo_location_async(r, ctx, args):
    """ngx_http_echo_exec_echo_location_async: a subrequest, not waited for."""
    sr, rc = issue_subrequest(r, ctx, args, None)
    return rc if sr is None else NGX_OK


def exec_echo_location(r, ctx, args):
    """ngx_http_echo_exec_echo_location: a subrequest whose end wakes this
    request (ngx_http_echo_post_subrequest): NGX_AGAIN."""
    sr, rc = issue_subrequest(r, ctx, args, echo_post_subrequest)
    return rc if sr is None else NGX_AGAIN


def exec_echo_subrequest_async(r, ctx, args):
    """ngx_http_echo_exec_echo_subrequest_async: METHOD URI [-q args]
    [-b body], not waited for."""
    sr, rc = issue_subrequest(r, ctx, args[1:], None, parse_subrequest_spec(r, args))
    return rc if sr is None else NGX_OK


def exec_echo_subrequest(r, ctx, args):
    """ngx_http_echo_exec_echo_subrequest: the same, waited for."""
    sr, rc = issue_subrequest(r, ctx, args[1:], echo_post_subrequest,
                              parse_subrequest_spec(r, args))
    return rc if sr is None else NGX_AGAIN


def parse_subrequest_spec(r, args):
    """ngx_http_echo_parse_subrequest_spec: the method, then -q ARGS and
    -b BODY options (an unknown option is a 500 with nginx's line); -f FILE
    (a body read from a file) is refused.  (method, query, body) or an int
    status."""
    if len(args) < 2 or not args[1]:
        return 500
    query = body_str = None
    opts = iter(args[2:])
    for opt in opts:
        value = next(opts, None)
        if opt == "-f":
            raise r.worker.unsupported('echo_subrequest\'s "-f" (a body read from a file)')
        if opt not in ("-q", "-b") or value is None:
            r.worker.log_error("error", "Unknown option for echo_subrequest_async: "
                               + (opt if opt in ("-q", "-b") else opt), r)
            return 500
        if opt == "-q":
            query = value
        else:
            body_str = value
    return args[0], query, body_str


def adjust_subrequest(sr, spec):
    """ngx_http_echo_adjust_subrequest (echo_subrequest*): the method, fresh
    variables, and a -b body with its Content-Length as the only request
    header."""
    method, _, body_str = spec
    sr.method = method
    sr.set_vars = {}
    if body_str:
        sr.request_body, sr.request_body_file = body_str.encode(), None
        sr.headers = [("Content-Length", str(len(body_str.encode())))]


def issue_subrequest(r, ctx, args, post_subrequest, spec=None):
    """What echo_location and echo_location_async share in echo 0.63: the
    header goes out first (when it goes out here, an empty buf follows it:
    real nginx's debug log shows one), then an empty or unsafe URI ends the
    request with NGX_ERROR
    (real nginx: the 200 header, then the connection is closed); the
    subrequest gets fresh variables (ngx_http_echo_adjust_subrequest).
    (sr, rc): sr None when there is none, and rc says what to return."""
    if r.sr_data is not None:
        # real nginx 1.22 + echo 0.63 + lua 0.10.23: without a body option the worker
        # spins in echo's subrequest set-up (memory growing); with one the output is
        # lost and the request hangs
        raise r.worker.refuse("echo_location, echo_subrequest (and their _async forms) in "
                              "a subrequest of ngx.location.capture is not modelled by "
                              "ngxcoro (real nginx loops or hangs there)")
    if isinstance(spec, int):
        return None, spec
    fresh = not (ctx.headers_sent or r.header_sent)
    rc = send_header_if_needed(r, ctx)
    if r.header_only or rc >= 300:
        return None, rc
    if fresh:
        response.output(r, b"")                 # with a header sent just now, an empty buf
    uri, url_args = parse_location(r, args[:1] if spec else args)
    if uri is None:
        return None, NGX_ERROR
    if spec and spec[1] is not None:
        url_args = spec[1]
    sr = phases.subrequest(r, uri, url_args, post_subrequest)
    if sr is None:
        return None, NGX_ERROR
    if spec:
        adjust_subrequest(sr, spec)
    else:
        sr.set_vars = {}
    return sr, NGX_OK


def echo_post_subrequest(sr, rc):
    """ngx_http_echo_post_subrequest: the parent goes on with its next
    command.  echo 0.63 keeps the older "work-around issues in nginx's event
    module": a subrequest that is not active and still has output postponed
    (nginx will not wake the parent now) posts the parent at the tail, unless
    the parent heads the queue already (scenario 1076).  It runs once per
    subrequest (its run_post_subrequest flag): a subrequest that waited for
    its turn is finalized a second time."""
    if getattr(sr, "echo_post_ran", False):
        return rc
    sr.echo_post_ran = True
    pr = sr.parent
    ctx = getattr(pr, "echo_ctx", None)
    if ctx is None:
        return NGX_ERROR
    ctx.waiting, ctx.done = False, True
    pr.write_event_handler = echo_wev_handler
    posted = sr.main.posted_requests
    if (sr is not request.active(sr.connection) and sr.postponed
            and (not posted or posted[0] is not pr)):
        request.post_request(pr)
    return rc


def exec_echo_sleep(r, args):
    """ngx_http_echo_exec_echo_sleep: a timer; the handler waits."""
    delay = int(float(args[0]) * 1000)
    r.worker.loop.add_timer(delay, partial(sleep_event_handler, r),
                            label=f"echo_sleep {r.uri}", kind="echo_sleep", owner=r.uri)
    r.write_event_handler = echo_wev_handler
    return NGX_AGAIN


def sleep_event_handler(r):
    """ngx_http_echo_sleep_event_handler, and ngx_http_echo_post_sleep:
    the wait is over, go on."""
    if r.connection.destroyed:
        return
    r.worker.fire("timer_expired", co=None, label=f"echo_sleep {r.uri}")
    r.echo_ctx.waiting, r.echo_ctx.done = False, True
    echo_wev_handler(r)
    request.run_posted_requests(r.connection)


def send_header_if_needed(r, ctx):
    """ngx_http_echo_send_header_if_needed: the status (echo_status's, else
    200) and the header, once."""
    if ctx.headers_sent or r.header_sent:
        return NGX_OK
    ctx.headers_sent = True
    if not r.headers_out_status:                # echo_status (default 200)
        status = [d.args[0] for d in r.location.directives if d.name == "echo_status"]
        r.headers_out_status = int(status[-1]) if status else 200
    return response.send_header(r)


def send_chain_link(r, ctx, data):
    """ngx_http_echo_send_chain_link (None: the last buf; a subrequest's is
    not the response's last: ngx_http_send_special)."""
    rc = send_header_if_needed(r, ctx)
    if rc == NGX_ERROR or rc > NGX_OK or r.header_only:
        return rc
    if data is None:                         # ngx_http_send_special(r, NGX_HTTP_LAST):
        rc = response.output(r, b"", last=True)  # only a special response is passed on
        return rc if rc >= 300 else NGX_OK
    return response.output(r, data)


# ------------------------------------------------------------ the output filter
def filter_cmds(r, name):
    """The location's echo_before_body or echo_after_body commands."""
    loc = r.location
    return [d for d in loc.directives if d.name == name] if loc is not None else []


def echo_header_filter(r, nxt):
    """ngx_http_echo_header_filter: a location with echo_before_body or
    echo_after_body streams its answer (no Content-Length)."""
    ctx = getattr(r, "echo_ctx", None)
    if not filter_cmds(r, "echo_before_body") and not filter_cmds(r, "echo_after_body"):
        if ctx is not None:
            ctx.skip_filter = True
        return nxt(r)
    if ctx is None:
        r.echo_ctx = ctx = EchoCtx()
        ctx.headers_sent = True
    r.content_length_n = None                   # ngx_http_clear_content_length
    r.headers_out[:] = [h for h in r.headers_out if h[0].lower() != "content-length"]
    return nxt(r)


def echo_body_filter(r, data, flush, last, nxt):
    """ngx_http_echo_body_filter: echo_before_body's text before the first
    body buf, echo_after_body's once the last one has passed (the main
    request's last buf is sent again after it)."""
    ctx = getattr(r, "echo_ctx", None)
    if data is None or r.header_only or ctx is None or ctx.skip_filter:
        return nxt(r, data, flush, last)
    if not ctx.before_body_sent:
        ctx.before_body_sent = True
        if exec_filter_cmds(r, filter_cmds(r, "echo_before_body"), nxt) != NGX_OK:
            return NGX_ERROR
    after = filter_cmds(r, "echo_after_body")
    if not after:
        ctx.skip_filter = True
        return nxt(r, data, flush, last)
    rc = nxt(r, data, flush, last and r is not r.main)     # the last buf becomes a sync one
    if rc == NGX_ERROR or not last:
        return rc
    if exec_filter_cmds(r, after, nxt) != NGX_OK:
        return NGX_ERROR
    ctx.skip_filter = True
    if r is not r.main:
        return NGX_OK
    return nxt(r, b"", False, True)


def exec_filter_cmds(r, cmds, nxt):
    """ngx_http_echo_exec_filter_cmds: each command's text goes to the next
    body filter (ngx_http_echo_exec_echo in a filter)."""
    for d in cmds:
        text = echo_text(*eval_cmd_args(r, d))
        if text and nxt(r, text, False, False) == NGX_ERROR:
            return NGX_ERROR
    return NGX_OK
