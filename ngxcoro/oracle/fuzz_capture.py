"""Captures with options for the fuzzer's programs (``ngxcoro.oracle.fuzz``).

Seeds from ``CAPTURE_FROM`` on (semaphores and timers too) also draw captures with
options: ``ngx.location.capture`` / ``capture_multi`` with ``method`` (GET, POST, PUT,
DELETE, HEAD), ``body``, ``args`` as a string or a table (one key only, or one key with an
array of values: nginx walks an args table with ``lua_next``, whose order for several
string keys changes from one nginx process to the next), ``vars``, ``ctx`` (a new table or
the caller's ``ngx.ctx``), ``copy_all_vars`` / ``share_all_vars`` and
``always_forward_body``, against generated targets that print their method, args, body,
``ngx.ctx.v`` and ``$fz`` (a ``set`` variable of ``location /t``), and may sleep, write
``ngx.ctx`` or ``$fz`` back, or end with a status; one echo target per program prints
``$echo_request_method``. The caller may set ``$fz`` and ``ngx.ctx.v`` first and prints
them after the capture. Seeds from ``CAPTURE2_FROM`` on add targets that print their
``Content-Length`` header and ``$request_method`` (the main request's) and set an
``X-S`` response header the caller prints from ``res.header``, an echo target that prints
``$echo_request_body``, and ``ngx.exec`` with a one-key args table (after the uri's own
args) or to a named location.

Why apart: the grammar of ``fuzz.py`` with these statements is over the 500 lines a module
may have; ``_Program`` takes them from ``CaptureOptions`` (the same random stream, so a
seed gives the same program).
"""

from __future__ import annotations

__all__ = ["CAPTURE_FROM", "CAPTURE2_FROM", "CAPTURE_METHODS", "CaptureOptions"]

#: seeds from here on draw captures with options too
CAPTURE_FROM = 300_000
#: seeds from here on also: targets that print their Content-Length and the main
#: request's method, set a response header the caller prints, an echo target that prints
#: $echo_request_body, and ngx.exec with a one-key args table or to a named location
CAPTURE2_FROM = 310_000
#: the methods a capture with options draws from
CAPTURE_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD")


class CaptureOptions:
    """The statements and targets of captures with options; mixed into ``fuzz._Program``
    (which gives ``rng``, ``chance``, ``duration``, ``say``, ``nloc``, ``extra`` and
    ``echo_target``)."""

    def opt_location(self) -> str:
        """A new target of a capture with options; its URI. It prints what it was given:
        method, args, body, ngx.ctx.v and $fz (or, the one echo target, its method and
        args), and may sleep, write ngx.ctx.w or $fz, or end with a status."""
        self.nloc += 1
        uri = f"/s{self.nloc}"
        name = uri[1:]
        if not self.echo_target and self.chance(0.2):
            self.echo_target = True
            lines = [f'    echo "{name} $echo_request_method [$args]";']
            if self.capopts2 and self.chance(0.5):
                lines.append(f'    echo "{name} body [$echo_request_body]";')
            self.extra.append("\n".join([f"location {uri} {{"] + lines + ["}"]))
            return uri
        body = []
        d = self.duration() if self.chance(0.4) else None
        if d:
            body.append(f"ngx.sleep({d})")
        body += ["ngx.req.read_body()",
                 f'ngx.say("{name} ", ngx.req.get_method(), " [", ngx.var.args, "] ", '
                 f'tostring(ngx.req.get_body_data()), " ", tostring(ngx.ctx.v), " ", '
                 f'tostring(ngx.var.fz))']
        if self.capopts2:
            if self.chance(0.5):
                body.append(f'ngx.say("{name} cl=", tostring(ngx.var.http_content_length), '
                            f'" rm=", ngx.var.request_method)')
            if self.chance(0.3):
                body.insert(len(body) - 2, f'ngx.header["X-S"] = "{name}"')
        if self.chance(0.3):
            body.append(f'ngx.ctx.w = "{name}"')
        if self.chance(0.3):
            body.append(f'ngx.var.fz = "{name}"')
        r = self.rng.random()
        if r < 0.15:
            body.append(f"ngx.exit({self.rng.choice(('201', '404', '500', 'ngx.ERROR'))})")
        elif r < 0.25:
            body.insert(0, "ngx.status = 202")
        lines = ["    content_by_lua_block {"] + [f"        {b}" for b in body] + ["    }"]
        self.extra.append("\n".join([f"location {uri} {{"] + lines + ["}"]))
        return uri

    def capture_options(self, m: str) -> str:
        """The options table of one capture with options (Lua text)."""
        rng = self.rng
        opts = []
        if self.chance(0.7):
            opts.append(f"method = ngx.HTTP_{rng.choice(CAPTURE_METHODS)}")
        if self.chance(0.35):
            opts.append(f'body = "{m} data"')
        r = rng.random()
        if r < 0.3:
            opts.append(f'args = "a={m}&b=2"')
        elif r < 0.45:
            opts.append(f'args = {{a = "{m} x"}}')
        elif r < 0.55:
            opts.append(rng.choice(('args = {k = {1, "two", true}}', "args = {flag = true}",
                                    "args = {}", "args = 7")))
        if self.chance(0.25):
            opts.append(f'vars = {{fz = "{m}v"}}')
        if self.chance(0.25):
            opts.append("ctx = ngx.ctx" if self.chance(0.5) else f'ctx = {{v = "{m}c"}}')
        r = rng.random()
        if r < 0.2:
            opts.append("copy_all_vars = true")
        elif r < 0.35:
            opts.append("share_all_vars = true")
        if self.chance(0.25):
            opts.append("always_forward_body = true")
        return "{" + ", ".join(opts) + "}"

    def capture_opts(self, m: str, ctx: dict, multi: bool) -> list[str]:
        """A capture (or capture_multi) with options; the caller may set $fz and
        ngx.ctx.v first and prints them after."""
        rng = self.rng
        out = []
        if self.chance(0.4):
            out.append(f'ngx.var.fz = "{m}p"')
        if self.chance(0.3):
            out.append(f'ngx.ctx.v = "{m}x"')
        show = (f'" fz=", tostring(ngx.var.fz), " w=", tostring(ngx.ctx.w)')
        if self.capopts2 and self.chance(0.5):
            show += ', " xs=", tostring(res.header["X-S"])' if not multi else \
                ', " xs=", tostring(r0.header["X-S"])'
        if not multi:
            uri = self.opt_location()
            q = f"?q={m}" if self.chance(0.2) else ""
            out += [f'local res = ngx.location.capture("{uri}{q}", {self.capture_options(m)})',
                    self.say(ctx, f'"{m} capture ", res.status, " [", res.body, "] ", '
                                  f'tostring(res.truncated), {show}')]
            return out
        uris = [self.opt_location() for _ in range(rng.randint(2, 3))]
        names = [f"r{k}" for k in range(len(uris))]
        reqs = ", ".join(f'{{"{u}", {self.capture_options(f"{m}.{k}")}}}'
                         for k, u in enumerate(uris))
        return ([f"local {', '.join(names)} = ngx.location.capture_multi{{{reqs}}}"]
                + [self.say(ctx, f'"{m} multi{k} ", {n}.status, " [", {n}.body, "]"')
                   for k, n in enumerate(names)] + [self.say(ctx, f'"{m} after", {show}')])

    def exec_target(self, m: str) -> list[str]:
        """ngx.exec (seeds from CAPTURE2_FROM): to a new location with a one-key args table
        or a string, or to a named location (whose args stay the request's)."""
        r = self.rng.random()
        if r < 0.3:
            self.nloc += 1
            name = f"@e{self.nloc}"
            self.extra.append(f'location {name} {{\n    echo "{name[1:]} $uri [$args] '
                              f'$echo_request_method";\n}}')
            return [f'ngx.log(ngx.NOTICE, "{m} exec")', f'return ngx.exec("{name}")']
        uri = self.location("exec")
        args = f'{{from = "{m} x"}}' if r < 0.7 else f'{{k = {{"{m}", true}}}}'
        return [f'ngx.log(ngx.NOTICE, "{m} exec")', f'return ngx.exec("{uri}?q=1", {args})']
