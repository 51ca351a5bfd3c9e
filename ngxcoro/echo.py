"""Content that is not Lua: the echo module, `set`/`return`, static files.

Enough of echo-nginx-module (src/ngx_http_echo_handler.c: echo, echo -n,
echo_sleep, echo_flush), nginx's rewrite module (`set`, `return`) and the
static module (a missing file is a 404) to serve the locations a lesson
captures or redirects to.
"""
from __future__ import annotations

import re
from functools import partial

from .model import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class EchoCtx:
    """ngx_http_echo_ctx_t: where in the command list the handler is."""

    def __init__(self):
        self.next_handler_cmd = 0
        self.waiting = False
        self.done = False


class Echo:
    def __init__(self, worker):
        self.w = worker

    def expand(self, r, text):
        """ngx_http_script: $name and ${name} in a directive argument."""
        from .api import request_variable

        def var(m):
            v = request_variable(r, (m.group(1) or m.group(2)).lower())
            return "" if v is None else v
        return _VAR.sub(var, text)

    # -------------------------------------------------------- rewrite module
    def rewrite_module(self, r):
        """ngx_http_rewrite_handler: `set` and `return`, in config order."""
        loc = r.location
        if loc is None:
            return NGX_DECLINED
        for d in loc.directives:
            if d.name == "set":
                r.set_vars[d.args[0].lstrip("$").lower()] = self.expand(r, d.args[1])
            elif d.name == "return":
                return self.return_code(r, d.args)
        return NGX_DECLINED

    def return_code(self, r, args):
        """ngx_http_script_return_code."""
        if not args[0].isdigit():                       # return URL;
            r.headers_out_status = 302
            return 302
        code = int(args[0])
        if code < 400 or len(args) > 1:
            text = self.expand(r, args[1]) if len(args) > 1 else ""
            if 301 <= code <= 308 and code != 304 and len(args) > 1:
                return code                             # a redirect with Location
            return self.send_response(r, code, text.encode())
        return code

    def send_response(self, r, status, body):
        """ngx_http_send_response."""
        http = self.w.http
        r.headers_out_status = status
        rc = http.send_header(r, content_length=len(body))
        if rc == NGX_ERROR or r.header_only:
            return rc
        return http.output(r, body, last=True)

    # -------------------------------------------------------- static module
    def static_handler(self, r):
        """ngx_http_static_handler on a file that does not exist."""
        root = self.w.location_setting(r, "root", "html")
        if not root.startswith("/"):
            root = "/usr/share/nginx/" + root          # this nginx's --prefix
        self.w.log_error("error", f"open() \"{root.rstrip('/')}{r.uri}\" failed "
                                  "(2: No such file or directory)", r)
        return 404

    # ----------------------------------------------------------- echo module
    def content_handler(self, r):
        """ngx_http_echo_handler."""
        rc = self.run_cmds(r)
        if rc == NGX_ERROR:
            return 500
        if rc >= 300 or rc == NGX_DONE:
            return rc
        if rc == NGX_AGAIN:
            self.w.http.count_change(r, +1, "echo handler waits")
            r.echo_ctx.waiting, r.echo_ctx.done = True, False
            return NGX_DONE
        return NGX_OK

    def wev_handler(self, r):
        """ngx_http_echo_wev_handler: go on after echo_sleep."""
        ctx = r.echo_ctx
        ctx.done = False
        ctx.next_handler_cmd += 1
        rc = self.run_cmds(r)
        if rc == NGX_DONE:
            return
        if rc == NGX_AGAIN:
            ctx.waiting, ctx.done = True, False
        else:
            ctx.waiting, ctx.done = False, True
            self.w.http.finalize_request(r, rc)

    def run_cmds(self, r):
        """ngx_http_echo_run_cmds."""
        cmds = [d for d in r.location.directives if d.name.startswith("echo")]
        if getattr(r, "echo_ctx", None) is None:
            r.echo_ctx = EchoCtx()
        ctx = r.echo_ctx
        http = self.w.http
        while ctx.next_handler_cmd < len(cmds):
            d = cmds[ctx.next_handler_cmd]
            args = [self.expand(r, a) for a in d.args]
            if d.name == "echo":
                newline = True
                if args and args[0] == "-n":
                    newline, args = False, args[1:]
                if args and args[0] == "--":
                    args = args[1:]
                rc = self.send(r, (" ".join(args) + ("\n" if newline else "")).encode())
            elif d.name == "echo_sleep":
                delay = int(float(args[0]) * 1000)
                self.w.loop.add_timer(delay, partial(self.sleep_event_handler, r),
                                      label=f"echo_sleep {r.uri}", kind="echo_sleep",
                                      owner=r.uri)
                r.write_event_handler = self.wev_handler
                return NGX_AGAIN
            elif d.name == "echo_flush":
                rc = http.output(r, b"", flush=True) if r.header_sent else NGX_OK
            else:
                raise self.w.unsupported(f'the echo directive "{d.name}"')
            if rc == NGX_ERROR or rc >= 300:
                return rc
            ctx.next_handler_cmd += 1
        return self.send(r, None)

    def send(self, r, data):
        """ngx_http_echo_send_chain_link (None: the last buf)."""
        http = self.w.http
        if not r.header_sent:
            if not r.headers_out_status:
                r.headers_out_status = 200
            rc = http.send_header(r)
            if rc == NGX_ERROR or rc > NGX_OK or r.header_only:
                return rc
        if data is None:
            return http.output(r, b"", last=True)
        return http.output(r, data)

    def sleep_event_handler(self, r):
        """ngx_http_echo_sleep_event_handler."""
        self.w.fire("timer_expired", co=None, label=f"echo_sleep {r.uri}")
        self.wev_handler(r)
        self.w.run_posted_requests(r.connection)

    # ------------------------------------------------------------ proxy_pass
    def proxy_handler(self, r):
        """ngx_http_proxy_handler, for an upstream that is this same server
        (the usual way to get a truly asynchronous upstream in a test): the
        upstream request is served by this worker on a connection of its own,
        and its response is relayed when that connection closes."""
        d = next(d for d in r.location.directives if d.name == "proxy_pass")
        m = re.match(r"https?://(127\.0\.0\.1|localhost)(?::([^/]*))?(/.*)?$", d.args[0])
        if not m:
            raise self.w.unsupported(f"proxy_pass to {d.args[0]} (only this server itself)")
        if not self.is_this_server(m.group(2)):
            self.w.log_error("error", "connect() failed (111: Connection refused) while "
                                      "connecting to upstream", r)
            return 502
        path = m.group(3)
        uri = r.uri
        loc = r.location
        if path is not None and loc.modifier in ("", "^~", "=") and uri.startswith(loc.pattern):
            uri = path + uri[len(loc.pattern):]
        elif path is not None:
            uri = path
        # ngx_http_read_client_request_body(r, ngx_http_upstream_init)
        self.w.http.count_change(r, +1, "proxy_pass: read client request body")
        self.w.loop.post(partial(self.upstream_connect, r, uri, r.args), label="upstream connect")
        return NGX_DONE

    def is_this_server(self, port):
        """Does 127.0.0.1:`port` reach this server?  The scenarios write
        __PORT__ (ngxcoro.realnginx puts the real port there)."""
        if port in ("__PORT__", "$server_port"):
            return True
        listens = [a[0] for a in self.w.config.servers[0].listen] or ["80"]
        return any(l.rsplit(":", 1)[-1] == (port or "80") for l in listens)

    def upstream_connect(self, r, uri, args):
        """The upstream's connection is accepted: a new request, HTTP/1.0."""
        w = self.w
        headers = [("Host", "127.0.0.1"), ("Connection", "close")]
        w.process_request(r.method, uri, args, "HTTP/1.0", headers,
                          [(0, r.request_body)] if r.request_body else [],
                          on_close=lambda c: w.loop.post(partial(self.upstream_done, r, c),
                                                         label="upstream response"))

    def upstream_done(self, r, c):
        """ngx_http_upstream_process_header .. finalize: relay the response."""
        wire = c.wire
        http = self.w.http
        if wire.status is None or not wire.complete:
            self.w.log_error("error", "upstream prematurely closed connection while reading "
                                      "response header from upstream", r)
            http.finalize_request(r, 502)
        else:
            r.headers_out_status = wire.status
            rc = http.send_header(r)
            if rc == NGX_OK and not r.header_only:
                http.output(r, bytes(wire.body), last=True)
            http.finalize_request(r, NGX_OK)
        self.w.run_posted_requests(r.connection)
