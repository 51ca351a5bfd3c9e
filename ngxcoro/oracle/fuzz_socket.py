"""TCP cosockets to this same server for the fuzzer's programs (``ngxcoro.oracle.fuzz``).

Seeds from ``SOCKET_FROM`` on (semaphores, timers and captures with options too) also
draw cosocket statements: ``ngx.socket.tcp()``, ``connect("127.0.0.1", <this server's
port>)`` (``ngx.var.server_port`` in a request, ``__PORT__`` in a timer, where ``ngx.var``
is not there), an HTTP/1.0 request to a generated target location (a Lua location that
prints its args, may sleep first and may end with a status; or an echo location), then one
to three reads, each printed with what it gave: ``receive()`` / ``receive("*l")``,
``receive("*a")``, a byte count, a ``receiveuntil`` iterator (``inclusive`` or not) or
``receiveany``; then ``close``, ``setkeepalive`` or nothing (the request's end closes it).
A ``settimeout`` from the duration pool makes a read of a sleeping target time out
sometimes (``lua tcp socket read timed out``). From ``SOCKET2_FROM`` on, a read may have
a ``settimeout`` of its own, each from the pool, and the read after one that had its own
goes back to 60 s (unless it draws one too): one timeout for several reads that time
out one after the other (80 ms, then 80 ms more) wakes at 160 ms, with a target that
sleeps 160 ms: real nginx's timers fire a little late and a chained one drifts later,
so there the target's answer comes first, while on the model's clock the two are due
together and the read times out (fuzz seeds 400573, 400642). Two more forms: keepalive with HTTP/1.1
(a target with a ``Content-Length``; the head read with ``receiveuntil``, the body with a
byte count, ``setkeepalive``, then a second connect; from ``SOCKET2_FROM`` on the target
has ``keepalive_timeout 10s`` (the oracle's default is 0: nginx closes, and the pool
refuses a closed connection), so the second connect reuses it), and a
light thread killed while it reads ``*a`` from a target that sleeps longer than the
parent does. The grammar's ``spawn`` / ``coroutine`` / timers put these in light
threads, coroutines and timers beside sleeps and semaphores.

The server lines of such a program start with ``more_clear_headers Date;`` (the
headers-more module): the response heads a cosocket reads back carry no wall-clock time.
What a read gives is printed with CR LF shown as ``|``.

Why apart: ``fuzz.py`` is near the 500 lines a module may have; ``_Program`` takes these
statements from ``SocketStatements`` (the same random stream: seeds below
``SOCKET_FROM`` never reach it, so they give the same programs as before).
"""

from __future__ import annotations

__all__ = ["SOCKET_FROM", "SOCKET2_FROM", "SocketStatements"]

#: seeds from here on draw cosocket statements too
SOCKET_FROM = 400_000
#: seeds from here on: a settimeout before a read, each from the pool (not one for all)
SOCKET2_FROM = 410_000


def _show(expr: str) -> str:
    """Lua: `expr` as text with CR LF shown as ``|`` (nil as ``nil``)."""
    return f'(tostring({expr}):gsub("\\r\\n", "|"))'


class SocketStatements:
    """Cosocket statements; mixed into ``fuzz._Program`` (which gives ``rng``, ``chance``,
    ``duration``, ``say``, ``nloc``, ``extra``)."""

    sockets_used = False

    def sock_target(self, keep: bool = False) -> tuple[str, int]:
        """A new location a cosocket asks for; its URI and, when `keep`, the length of its
        body (a Lua target with a Content-Length, so an HTTP/1.1 reply is not chunked)."""
        self.nloc += 1
        uri = f"/k{self.nloc}"
        name = uri[1:]
        if keep:
            text = f"{name} kept\n"
            body = [f'ngx.header["Content-Length"] = {len(text)}', f'ngx.print("{name} kept\\n")']
            lines = ["    content_by_lua_block {"] + [f"        {b}" for b in body] + ["    }"]
            if self.seed >= SOCKET2_FROM:     # the server keeps the connection: pooled
                lines.insert(0, "    keepalive_timeout 10s;")
            self.extra.append("\n".join([f"location {uri} {{"] + lines + ["}"]))
            return uri, len(text)
        d = self.duration() if self.chance(0.5) else None
        if self.chance(0.25):
            lines = ([f"    echo_sleep {d};"] if d else []) + [f'    echo "{name} echo $args";']
        else:
            body = [f'ngx.say("{name} ", ngx.var.args)']
            if d:
                body.insert(0, f"ngx.sleep({d})")
            if self.chance(0.4):
                body.append(f'ngx.say("{name} more")')
            r = self.rng.random()
            if r < 0.15:
                body.append(f"ngx.exit({self.rng.choice(('201', '404', '500'))})")
            elif r < 0.22:
                body.insert(0, "ngx.status = 202")
            lines = ["    content_by_lua_block {"] + [f"        {b}" for b in body] + ["    }"]
        self.extra.append("\n".join([f"location {uri} {{"] + lines + ["}"]))
        return uri, 0

    def sock_port(self, ctx: dict) -> str:
        return "__PORT__" if ctx.get("timer") or self.chance(0.3) else "ngx.var.server_port"

    def sock_connect(self, m: str, sk: str, ctx: dict) -> list[str]:
        return [f"local {sk} = ngx.socket.tcp()",
                f'local ok, err = {sk}:connect("127.0.0.1", {self.sock_port(ctx)})',
                self.say(ctx, f'"{m} connect ", tostring(ok), " ", tostring(err)')]

    def sock_read(self, m: str, sk: str, ctx: dict, k: int) -> list[str]:
        """One read on `sk`, printed: the data, the error and the partial data."""
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            call = rng.choice((f"{sk}:receive()", f'{sk}:receive("*l")'))
        elif r < 0.45:
            call = f'{sk}:receive("*a")'
        elif r < 0.65:
            call = f"{sk}:receive({rng.choice((4, 9, 17, 64))})"
        elif r < 0.88:
            pat = rng.choice(('"\\r\\n\\r\\n"', '"\\r\\n"', '"echo"', '"kept"', '" "'))
            opt = ", {inclusive = true}" if self.chance(0.4) else ""
            call = f"{sk}:receiveuntil({pat}{opt})()"
        else:
            call = f"{sk}:receiveany({rng.choice((5, 100, 1024))})"
        v = f"v{k}"
        return [f"local {v}, err, part = {call}",
                self.say(ctx, f'"{m} read{k} [", {_show(v)}, "] ", tostring(err), '
                              f'" [", {_show("part")}, "]"')]

    def socket_stmt(self, m: str, ctx: dict) -> list[str]:
        """Connect, send an HTTP/1.0 request, read one to three times, then maybe close or
        pool."""
        self.sockets_used = True
        sk = f"sk{m[1:]}"
        uri, _ = self.sock_target()
        out = self.sock_connect(m, sk, ctx)
        later = self.seed >= SOCKET2_FROM
        if not later and self.chance(0.5):
            t = self.duration()
            if t:
                out.insert(1, f"{sk}:settimeout({int(float(t) * 1000)})")
        out += [f'local n, err = {sk}:send("GET {uri}?from={m} HTTP/1.0\\r\\nHost: f\\r\\n\\r\\n")',
                self.say(ctx, f'"{m} sent ", tostring(n), " ", tostring(err)')]
        timed = False
        for k in range(self.rng.randint(1, 3)):
            t = self.duration() if later and self.chance(0.4) else None
            if t:
                out.append(f"{sk}:settimeout({int(float(t) * 1000)})")
                timed = True
            elif timed:                     # no second wait of the same length
                out.append(f"{sk}:settimeout(60000)")
                timed = False
            out += self.sock_read(m, sk, ctx, k)
        r = self.rng.random()
        if r < 0.5:
            out.append(self.say(ctx, f'"{m} close ", tostring({sk}:close())'))
        elif r < 0.7:
            out += [f"local ok, err = {sk}:setkeepalive()",
                    self.say(ctx, f'"{m} pool ", tostring(ok), " ", tostring(err)')]
        return out

    def socket_keep(self, m: str, ctx: dict) -> list[str]:
        """Two HTTP/1.1 requests to a Content-Length target, the first connection pooled
        and reused by the second connect."""
        self.sockets_used = True
        uri, size = self.sock_target(keep=True)
        out = []
        for k in range(2):
            sk = f"sk{m[1:]}_{k}"
            out += self.sock_connect(f"{m}.{k}", sk, ctx)
            out += [f'{sk}:send("GET {uri} HTTP/1.1\\r\\nHost: f\\r\\n\\r\\n")',
                    f'local h = {sk}:receiveuntil("\\r\\n\\r\\n")()',
                    f"local b, err = {sk}:receive({size})",
                    self.say(ctx, f'"{m}.{k} reused ", {sk}:getreusedtimes(), " [", '
                                  f'{_show("h")}, "] [", tostring(b), "] ", tostring(err)')]
            if k == 0 or self.chance(0.5):
                out += [f"local ok, err = {sk}:setkeepalive()",
                        self.say(ctx, f'"{m}.{k} pool ", tostring(ok), " ", tostring(err)')]
        return out

    def socket_kill(self, m: str, ctx: dict) -> list[str]:
        """A light thread reads ``*a`` from a target that sleeps; the parent sleeps less,
        kills the thread, and reads once more on the socket."""
        if len(self.pool) < 2:
            return self.socket_stmt(m, ctx)
        self.sockets_used = True
        a, b = sorted((self.duration(), self.duration()), key=float)
        self.nloc += 1
        uri = f"/k{self.nloc}"
        self.extra.append(f"location {uri} {{\n    content_by_lua_block {{\n"
                          f"        ngx.sleep({b})\n        ngx.say(\"{uri[1:]} late\")\n"
                          f"    }}\n}}")
        sk, t = f"sk{m[1:]}", f"rt{m[1:]}"
        return (self.sock_connect(m, sk, ctx)
                + [f'{sk}:send("GET {uri} HTTP/1.0\\r\\n\\r\\n")',
                   f'local {t} = ngx.thread.spawn(function() return {sk}:receive("*a") end)',
                   f"ngx.sleep({a})",
                   self.say(ctx, f'"{m} kill reader ", tostring(ngx.thread.kill({t}))'),
                   f"local v, err = {sk}:receive()",
                   self.say(ctx, f'"{m} after kill ", tostring(v), " ", tostring(err)')])
