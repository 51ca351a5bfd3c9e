"""The nginx side: finalizing requests, r->count, the response on the wire.

Model functions for the parts of nginx's HTTP core the Lua scheduler leans
on (src/http/ngx_http_request.c, ngx_http_special_response.c,
ngx_http_write_filter_module.c) and lua-nginx-module's output path
(src/ngx_http_lua_util.c ngx_http_lua_send_chain_link).  I/O is instant:
whatever nginx hands to the socket reaches the client.
"""
from __future__ import annotations

from .model import NGX_OK, NGX_ERROR, NGX_AGAIN, NGX_DONE, NGX_DECLINED

NGINX_VERSION = "nginx/1.22.1"
POSTPONE_OUTPUT = 1460

# ngx_http_status_lines (the ones nginx has; others are sent as "NNN ")
STATUS_LINES = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Moved Temporarily", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Not Allowed", 406: "Not Acceptable", 408: "Request Time-out",
    409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Large",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    421: "Misdirected Request", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
    505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}
# where the built-in page's title differs from the status line
PAGE_TITLES = {302: "Found", 401: "Authorization Required"}
# statuses with a built-in error page (ngx_http_error_pages)
ERROR_PAGE_STATUSES = set(range(301, 309)) - {304, 305, 306} | set(range(400, 417)) | {
    421, 429, 494, 495, 496, 497, 500, 501, 502, 503, 504, 505, 507}
NGX_HTTP_CLOSE = 444


def error_page(status):
    """The body of nginx's built-in page for `status` (server_tokens on)."""
    title = f"{status} {PAGE_TITLES.get(status, STATUS_LINES.get(status, ''))}".rstrip()
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>{NGINX_VERSION}</center>\r\n</body>\r\n</html>\r\n").encode()


class Wire:
    """What the client has received, and what nginx still holds back
    (the write filter waits for postpone_output bytes, a flush or the last
    buf before it writes)."""

    def __init__(self):
        self.status = None          # status line sent
        self.body = bytearray()     # body bytes that reached the client
        self.complete = False       # the client has a whole response
        self.closed = False
        self._held = []             # (wire size, body bytes, last)
        self._held_size = 0
        self.chunked = False

    def write(self, size, data, flush=False, last=False):
        """ngx_http_write_filter: hold small output, send it all on flush/last."""
        if self.closed:
            return
        self._held.append((data, last))
        self._held_size += size
        if last or flush or self._held_size >= POSTPONE_OUTPUT:
            for data, last in self._held:
                self.body += data
                self.complete = self.complete or last
            self._held, self._held_size = [], 0

    def held(self):
        """Output nginx is still holding back."""
        return b"".join(d for d, _ in self._held)

    def close(self):
        """The connection closes: held output is lost."""
        self._held, self._held_size = [], 0
        self.closed = True


class Http:
    """nginx's HTTP core for one worker."""

    def __init__(self, worker):
        self.w = worker

    # ---------------------------------------------------------------- count
    def count_change(self, r, delta, cause):
        r.main.count += delta
        self.w.fire("count", delta=delta, c=r.main.count, cause=cause)

    # ------------------------------------------------------------- finalize
    def finalize_request(self, r, rc):
        """ngx_http_finalize_request (src/http/ngx_http_request.c)."""
        w = self.w
        c = r.connection
        w.fire("finalize_request", rc=rc, uri=r.log_uri, a=int(r is r.main), c=r.main.count)
        if rc == NGX_DONE:
            self.finalize_connection(r)
            return
        if rc == NGX_DECLINED:
            r.write_event_handler = w.phases.core_run_phases
            w.phases.core_run_phases(r)
            return
        if r is not r.main and r.post_subrequest is not None:
            rc = r.post_subrequest(r, rc)
        if rc == NGX_ERROR or rc in (408, 499) or c.error:
            self.terminate_request(r, rc)
            return
        if rc >= 300 or rc in (201, 204):
            if rc == NGX_HTTP_CLOSE:
                self.terminate_request(r, rc)
                return
            self.finalize_request(r, self.special_response_handler(r, rc))
            return
        if r is not r.main:
            w.subrequests.finalize_subrequest(r, rc)
            return
        if rc == NGX_AGAIN:
            return
        r.done = True
        self.finalize_connection(r)

    def finalize_connection(self, r):
        """ngx_http_finalize_connection: keepalive is off, so close."""
        self.close_request(r, 0)

    def close_request(self, r, rc):
        """ngx_http_close_request: one reference less; free at 0."""
        r = r.main
        self.w.fire("close_request", c=r.count)         # "http request count:%d blk:0"
        if r.count == 0:
            self.w.log_error("alert", "http request count is zero", r)
        self.count_change(r, -1, "close_request")
        if r.count:
            return
        self.free_request(r, rc)
        self.close_connection(r.connection)

    def free_request(self, r, rc):
        """ngx_http_free_request: run the request's cleanup handlers."""
        self.w.fire("free_request", uri=r.unparsed_uri)
        self.run_cleanups(r)
        r.freed = True

    def run_cleanups(self, r):
        cleanups, r.cleanups = r.cleanups, []
        for f in cleanups:
            f(r)

    def close_connection(self, c):
        """ngx_http_close_connection."""
        c.destroyed = True
        self.w.fire("close_connection")
        c.wire.close()
        if c.on_close is not None:
            c.on_close(c)

    def terminate_request(self, r, rc):
        """ngx_http_terminate_request: cleanups now, then close at count 1."""
        mr = r.main
        self.w.fire("terminate_request", c=mr.count)
        if rc > 0 and (mr.headers_out_status == 0 or not mr.header_sent):
            mr.headers_out_status = rc
        self.run_cleanups(mr)
        mr.count = 1
        self.close_request(mr, rc)

    # ------------------------------------------------------------- response
    def special_response_handler(self, r, status):
        """ngx_http_special_response_handler: the built-in page."""
        r.err_status = status
        if r.header_sent:
            self.w.log_error("alert", "header already sent", r)
            return NGX_ERROR
        body = error_page(status) if status in ERROR_PAGE_STATUSES else b""
        r.headers_out_status = status
        rc = self.send_header(r, content_length=len(body))
        if rc == NGX_ERROR or r.header_only:
            return rc
        self.output(r, body, last=True)
        return NGX_OK

    def send_header(self, r, content_length=None):
        """ngx_http_send_header: the status line and headers go out."""
        if r.header_sent:
            self.w.log_error("alert", "header already sent", r)
            return NGX_ERROR
        r.header_sent = True
        if (r.headers_out_status or 200) in (204, 304):
            r.header_only = True                  # ngx_http_header_filter
        if r is not r.main:
            return NGX_OK
        status = r.headers_out_status or 200
        wire = r.connection.wire
        wire.status = status
        wire.chunked = content_length is None and r.http_version == "HTTP/1.1"
        head = (f"{r.http_version if r.http_version == 'HTTP/1.1' else 'HTTP/1.1'} {status} "
                f"{STATUS_LINES.get(status, '')}\r\nServer: {NGINX_VERSION}\r\n"
                "Date: Sun, 01 Jan 2023 00:00:00 GMT\r\nContent-Type: text/plain\r\n"
                + ("Transfer-Encoding: chunked\r\n" if wire.chunked else
                   f"Content-Length: {content_length}\r\n" if content_length is not None else "")
                + "Connection: close\r\n\r\n")
        wire.write(len(head), b"")
        return NGX_OK

    def output(self, r, data, flush=False, last=False):
        """The body filters down to ngx_http_write_filter, for the main
        request (a subrequest's output is captured by its parent)."""
        if r is not r.main:
            self.w.subrequests.capture_output(r, data, last)
            return NGX_OK
        wire = r.connection.wire
        size = len(data)
        if wire.chunked:
            if data:
                size += len(f"{len(data):x}\r\n\r\n")
            if last:
                size += 5
        wire.write(size, bytes(data), flush=flush, last=last)
        return NGX_OK

    # lua-nginx-module's output path ----------------------------------------
    def send_header_if_needed(self, r, ctx):
        """ngx_http_lua_send_header_if_needed."""
        if not r.header_sent and not ctx.header_sent:
            if not r.headers_out_status:
                r.headers_out_status = 200
            ctx.header_sent = True
            if ctx.buffering:
                return NGX_OK
            return self.send_header(r)
        return NGX_OK

    def send_chain_link(self, r, ctx, data):
        """ngx_http_lua_send_chain_link: `data` None means the last buf."""
        if ctx.eof:
            return NGX_OK
        if (r.http_version == "HTTP/1.0" and not r.header_sent and not ctx.header_sent
                and self.w.location_setting(r, "lua_http10_buffering", True)):
            ctx.buffering = True
        rc = self.send_header_if_needed(r, ctx)
        if rc == NGX_ERROR or rc > NGX_OK:
            return rc
        if data is None:
            ctx.eof = True
            self.w.fire("send_last_buf")
            if ctx.buffering:
                body = bytes(ctx.buffered)
                ctx.buffering = False
                self.send_header(r, content_length=len(body))
                return self.output(r, body, last=True)
            return self.output(r, b"", last=True)
        if ctx.buffering:
            ctx.buffered += data
            return NGX_OK
        return self.output(r, data)

    def flush(self, r, ctx):
        """ngx_http_lua_ngx_flush's chain: a flush buf."""
        return self.output(r, b"", flush=True)

    # ---------------------------------------------------------------- lua
    def wev_handler(self, r):
        """ngx_http_lua_wev_handler: the default resume_handler.  With nothing
        to flush and nobody waiting on ngx.flush it does nothing."""
        self.w.fire("useless_wev")
        return NGX_OK if r.ctx.entered_content_phase else NGX_DONE

    def handle_exec(self, r, ctx):
        from .control import handle_exec
        return handle_exec(self.w, r, ctx)

    def handle_rewrite_jump(self, r, ctx):
        from .control import handle_rewrite_jump
        return handle_rewrite_jump(self.w, r, ctx)

    # ------------------------------------------------------ redirects
    def internal_redirect(self, r, uri, args):
        """ngx_http_internal_redirect: the request starts over at `uri`, every
        module's ctx is dropped, and it takes one more reference."""
        r.uri_changes -= 1
        if r.uri_changes == 0:
            self.w.log_error("error", "rewrite or internal redirection cycle while internally "
                                      f"redirecting to \"{uri}\"", r)
            self.count_change(r, +1, "internal redirect")
            self.finalize_request(r, 500)
            return NGX_DONE
        r.uri, r.args = uri, (args or None)
        r.ctx = None
        r.internal = True
        self.w.fire("internal_redirect", uri=r.unparsed_uri)
        self.count_change(r, +1, f"internal redirect to {r.unparsed_uri}")
        self.w.phases.handler(r)
        return NGX_DONE

    def named_location(self, r, name):
        """ngx_http_named_location."""
        loc = self.w.config.servers[0].named(name)
        self.count_change(r, +1, f"named location {name}")
        if loc is None:
            self.w.log_error("error", f"could not find named location \"{name}\"", r)
            self.finalize_request(r, 500)
            return NGX_DONE
        r.uri_changes -= 1
        r.location = loc
        r.internal = True
        self.w.fire("internal_redirect", uri=name)
        r.phase_handler = self.w.phases.location_rewrite_index
        r.write_event_handler = self.w.phases.core_run_phases
        self.w.phases.core_run_phases(r)
        return NGX_DONE
