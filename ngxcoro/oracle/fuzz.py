"""Random nginx location blocks with Lua programs, from a seed, for differential fuzzing.

``generate(seed)`` gives the text of a ``.ngx`` scenario (the oracle's format: ``#
title:`` / ``# request:`` / ``# body:`` header lines, then server-block text): a ``location
/t`` with one to three ``*_by_lua_block`` phases (or an echo content handler), light
threads (nested too), sleeps, ``ngx.thread.wait`` / ``kill``, ``ngx.exit``, ``ngx.exec``,
``ngx.redirect``, ``ngx.location.capture`` / ``capture_multi`` of generated echo and Lua
locations, ``ngx.req.read_body`` (``lua_need_request_body`` too, bodies sent at once or in
pieces), coroutines (create / resume / yield / wrap / status), ``pcall`` and errors; with
``shdict=True`` also ``ngx.shared.DICT`` operations on one ``lua_shared_dict`` (the program
is then a whole nginx.conf, since the directive is http-level). Every
statement that does something prints a marker (``ngx.say`` or ``ngx.log``), so the order
of events shows in the body and the error log.

Why here: the generator writes scenarios in the oracle's own format and is used by the
tool (``tools/fuzz.py``), by the corpus test (``tests/test_fuzz.py``) and by whoever wants
to re-record the corpus; like the rest of ``ngxcoro.oracle`` it never imports the model
(``model_answer`` loads it when called).

Stable timing, so real nginx answers the same twice: every duration in a program (an
``ngx.sleep``, an ``echo_sleep``, the delay of a body piece) is a different power of two
times 10 ms, taken without replacement from a pool of six. Any two moments a program can
wake up at are then sums of different subsets of the pool, and so at least 10 ms apart.
No ``ngx.sleep(0)``. A dict entry's time to live is 5 ms off those steps (15, 35, 75 or
155 ms), so whether it has expired when read does not depend on nginx's few ms of drift; no
``ttl()`` (it prints the drift). Programs are bounded: no loops, at most ``MAX_STATEMENTS`` statements
and three nested function levels.

Seeds from ``SEMA_FROM`` on also draw ``ngx.semaphore`` statements: each phase's block
starts from one semaphore kept in the module table (``require "ngx.semaphore"``, made by
the first block with 0 to 2 resources), and any function may ``wait`` on it (a timeout from
the pool, or 0), ``post`` 1 or 2, or print its ``count()``; a Lua subrequest or exec target
may wait on it or post it too. Seeds below it give the same
programs as before.

Seeds from ``TIMER_FROM`` on (semaphores too) also draw ``ngx.timer.at`` with a delay from
the pool or 0: the callback is a block of its own that runs later in a fake request (its
markers go to the log, since ``ngx.say`` is disabled there; no capture or body reading),
possibly after the request is over, and it may sleep, spawn, wait or post on the
semaphore, or make a timer itself.

Seeds from ``CAPTURE_FROM`` on (semaphores and timers too) also draw captures with
options, and from ``CAPTURE2_FROM`` on response headers, ``$echo_request_body`` and
``ngx.exec`` with an args table or to a named location (``fuzz_capture.py``). Seeds from
``SOCKET_FROM`` on also draw TCP cosockets to this same server (``fuzz_socket.py``).

``real_answer(run_real result)`` and ``model_answer(text)`` put both sides in the one form
the corpus stores: status, body, normalised error log, count history, trace words, hung and
startup_error.
"""

from __future__ import annotations

import json
import random

from .fuzz_capture import CAPTURE2_FROM, CAPTURE_FROM, CaptureOptions
from .fuzz_socket import SOCKET_FROM, SocketStatements

__all__ = ["generate", "real_answer", "model_answer", "first_difference", "FIELDS",
           "MAX_STATEMENTS", "SEMA_FROM", "TIMER_FROM", "CAPTURE_FROM", "CAPTURE2_FROM",
           "SOCKET_FROM"]

MAX_STATEMENTS = 25
#: seeds from here on draw semaphore statements too
SEMA_FROM = 100_000
#: seeds from here on draw ngx.timer.at too
TIMER_FROM = 200_000
#: ms; every program draws its durations from these without replacement
POOL_MS = (10, 20, 40, 80, 160, 320)
#: the compared fields, in the order a difference is reported
FIELDS = ("startup_error", "hung", "status", "body", "error_log", "count", "trace")
EXIT_CODES = ("ngx.OK", "200", "204", "403", "404", "500", "444", "ngx.ERROR")


#: s; the times to live of dict entries, 5 ms off every wake-up moment
SHDICT_TTLS = ("0.015", "0.035", "0.075", "0.155")
SHDICT_KEYS = ("a", "b", "c")


class _Program(CaptureOptions, SocketStatements):
    def __init__(self, seed: int, shdict: bool = False):
        self.shdict = shdict
        self.rng = random.Random(seed)
        self.pool = list(POOL_MS)
        self.rng.shuffle(self.pool)
        self.marks = 0
        self.statements = 0
        self.extra: list[str] = []          # generated locations (capture / exec targets)
        self.nloc = 0
        self.body_used = False
        self.sema = seed >= SEMA_FROM
        self.timers = seed >= TIMER_FROM
        self.capopts = seed >= CAPTURE_FROM
        self.capopts2 = seed >= CAPTURE2_FROM
        self.sockets = seed >= SOCKET_FROM
        self.seed = seed
        self.echo_target = False            # the one echo target of a capture with options

    # ------------------------------------------------------------------ helpers
    def duration(self) -> str | None:
        if not self.pool:
            return None
        ms = self.pool.pop()
        return f"{ms / 1000:g}"

    def mark(self) -> str:
        self.marks += 1
        return f"m{self.marks}"

    def say(self, ctx: dict, args: str) -> str:
        """A marker: ngx.say in the content phase (mostly), ngx.log elsewhere (mostly), so
        that rewrite and access programs do not send the header at their first marker."""
        if ctx.get("timer"):
            return f"ngx.log(ngx.NOTICE, {args})"
        if self.chance(0.8 if ctx.get("phase") == "content" else 0.2):
            return f"ngx.say({args})"
        return f"ngx.log(ngx.NOTICE, {args})"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def location(self, kind: str) -> str:
        """A new capture or exec target; its URI."""
        self.nloc += 1
        uri = f"/{'s' if kind == 'sub' else 'x'}{self.nloc}"
        r = self.rng.random()
        d = self.duration()
        if r < 0.35:
            lines = [f'    echo "{uri[1:]} $args";']
        elif r < 0.6 and d:
            lines = [f"    echo_sleep {d};", f'    echo "{uri[1:]} slept $args";']
        else:
            body = [f'ngx.say("{uri[1:]} ", ngx.var.args)']
            if d:
                body.insert(0, f"ngx.sleep({d})")
            if self.sema and self.chance(0.6):        # the main request's semaphore
                body = ['local s = require("ngx.semaphore").s'] + body
                if self.chance(0.5):
                    w = self.duration() or 0
                    body.insert(1, f'ngx.say("{uri[1:]} sema wait ", tostring(s:wait({w})), '
                                   f'" ", s:count())')
                else:
                    body.append(f's:post(1) ngx.say("{uri[1:]} sema post ", s:count())')
            if self.chance(0.25):
                body.append(self.rng.choice(['ngx.exit(404)', 'error("sub boom")',
                                             'ngx.exit(ngx.ERROR)']))
            lines = ["    content_by_lua_block {"] + [f"        {b}" for b in body] + ["    }"]
        self.extra.append("\n".join([f"location {uri} {{"] + lines + ["}"]))
        return uri

    # ------------------------------------------------------------------ statements
    def block(self, ctx: dict, depth: int, want: int) -> list[str]:
        """Up to `want` statements of one function body; a terminal one ends it."""
        out: list[str] = []
        threads: list[str] = []             # light threads spawned in this function
        n = max(1, want)
        for i in range(n):
            if self.statements >= MAX_STATEMENTS:
                break
            self.statements += 1
            last = i == n - 1
            lines = self.statement(ctx, depth, threads, last)
            out += lines
            if lines[-1].startswith(("return ", "error(", "_t.x")):
                break
        if not out:                         # a timer's marker goes to the log
            out = [f'ngx.log(ngx.NOTICE, "{self.mark()}")' if ctx.get("timer") else
                   f'ngx.say("{self.mark()}")']
        return out

    def statement(self, ctx, depth, threads, last) -> list[str]:
        rng = self.rng
        kinds = ["say", "say", "log", "sleep", "sleep"]
        if depth < 3:
            kinds += ["spawn", "spawn", "coroutine", "pcall"]
        if threads:
            kinds += ["wait", "wait", "kill"]
        if not ctx.get("timer"):        # disabled in a timer: API disabled in the context
            kinds += ["capture", "capture_multi" if self.pool else "capture"]
            if not self.body_used:
                kinds += ["read_body"]
            if self.capopts:
                kinds += ["capture_opts", "capture_opts", "capture_opts", "capture_multi_opts"]
        if self.timers and depth < 3:
            kinds += ["timer", "timer"]
        if ctx.get("coroutine"):
            kinds += ["yield", "yield"]
        if self.sockets:
            kinds += ["socket", "socket", "socket", "socket_keep"]
            if depth < 3:
                kinds += ["socket_kill"]
        if self.shdict:
            kinds += ["shdict"] * 4
        if self.sema:
            kinds += ["sema_wait", "sema_wait", "sema_post", "sema_post", "sema_count"]
        if last and self.chance(0.45):
            kinds = (["exit", "exit", "error", "error"] if ctx.get("timer") else
                     ["exit", "exit", "exec", "redirect", "error", "error"])
        kind = rng.choice(kinds)
        m = self.mark()
        if kind == "say":
            return [self.say(ctx, f'"{m}"')]
        if kind == "log":
            return [f'ngx.log(ngx.NOTICE, "{m}")']
        if kind == "sleep":
            d = self.duration()
            if d is None:
                return [self.say(ctx, f'"{m}"')]
            return [self.say(ctx, f'"{m} sleep {d}"'), f"ngx.sleep({d})", self.say(ctx, f'"{m} woke"')]
        if kind == "yield":
            return [self.say(ctx, f'"{m} yield"'), f'coroutine.yield("{m}")']
        if kind == "spawn":
            name = f"t{m[1:]}"
            threads.append(name)
            body = self.block(dict(ctx, coroutine=False), depth + 1, rng.randint(1, 4))
            return ([self.say(ctx, f'"{m} spawn"'), f"local {name} = ngx.thread.spawn(function()"]
                    + _indent(body) + ["end)"])
        if kind == "wait":
            t = rng.choice(threads)
            return [f"local ok, res = ngx.thread.wait({t})",
                    self.say(ctx, f'"{m} wait {t} ", tostring(ok), " ", tostring(res)')]
        if kind == "kill":
            t = rng.choice(threads)
            return [f"local ok, err = ngx.thread.kill({t})",
                    self.say(ctx, f'"{m} kill {t} ", tostring(ok), " ", tostring(err)')]
        if kind == "coroutine":
            return self.coroutine(m, ctx, depth)
        if kind == "pcall":
            body = self.block(dict(ctx, coroutine=False), depth + 1, rng.randint(1, 3))
            return (["local ok, err = pcall(function()"] + _indent(body)
                    + ["end)", self.say(ctx, f'"{m} pcall ", tostring(ok), " ", tostring(err)')])
        if kind == "capture":
            uri = self.location("sub")
            return [f'local res = ngx.location.capture("{uri}?from={m}")',
                    self.say(ctx, f'"{m} capture ", res.status, " [", res.body, "]"')]
        if kind == "capture_multi":
            uris = [self.location("sub") for _ in range(rng.randint(2, 3))]
            names = [f"r{k}" for k in range(len(uris))]
            reqs = ", ".join(f'{{"{u}", {{args = "k={k}"}}}}' for k, u in enumerate(uris))
            return ([f"local {', '.join(names)} = ngx.location.capture_multi{{{reqs}}}"]
                    + [self.say(ctx, f'"{m} multi{k} ", {n}.status, " [", {n}.body, "]"')
                       for k, n in enumerate(names)])
        if kind == "shdict":
            return self.shdict_op(m, ctx)
        if kind in ("capture_opts", "capture_multi_opts"):
            return self.capture_opts(m, ctx, kind == "capture_multi_opts")
        if kind == "socket":
            return self.socket_stmt(m, ctx)
        if kind in ("socket_keep", "socket_kill"):
            return getattr(self, kind)(m, ctx)
        if kind == "timer":
            d = (self.duration() if self.chance(0.7) else None) or "0"
            body = self.block(dict(ctx, coroutine=False, timer=True), depth + 1,
                              rng.randint(1, 4))
            return ([f"local ok, err = ngx.timer.at({d}, function(premature)"]
                    + _indent([f'ngx.log(ngx.NOTICE, "{m} timer ", tostring(premature))'] + body)
                    + ["end)", self.say(ctx, f'"{m} timer at {d} ", tostring(ok), " ", '
                                             f'tostring(err)')])
        if kind == "sema_wait":
            d = self.duration() if self.chance(0.8) else None
            return [f"local ok, err = sema:wait({d or 0})",
                    self.say(ctx, f'"{m} sema wait {d or 0} ", tostring(ok), " ", tostring(err), '
                                  f'" ", sema:count()')]
        if kind == "sema_post":
            n = rng.randint(1, 2)
            return [f"sema:post({n})", self.say(ctx, f'"{m} sema post {n} ", sema:count()')]
        if kind == "sema_count":
            return [self.say(ctx, f'"{m} sema count ", sema:count()')]
        if kind == "read_body":
            self.body_used = True
            return ["ngx.req.read_body()",
                    self.say(ctx, f'"{m} body ", tostring(ngx.req.get_body_data())')]
        return self.terminal(kind, m, ctx)

    def terminal(self, kind, m, ctx) -> list[str]:
        rng = self.rng
        if kind == "exit":
            return [self.say(ctx, f'"{m} exit"'),
                    f"return ngx.exit({rng.choice(EXIT_CODES)})"]
        if kind == "exec" and self.capopts2:
            return self.exec_target(m)
        if kind == "exec":
            uri = self.location("exec")
            return [f'ngx.log(ngx.NOTICE, "{m} exec")', f'return ngx.exec("{uri}", "from={m}")']
        if kind == "redirect":
            code = rng.choice(("", ", 301", ", 302"))
            return [f'ngx.log(ngx.NOTICE, "{m} redirect")', f'return ngx.redirect("/r{m}"{code})']
        if self.chance(0.5):
            return [self.say(ctx, f'"{m} error"'), f'error("{m} boom")']
        return [self.say(ctx, f'"{m} nil"'), "local _t = nil", "_t.x = 1"]

    def shdict_op(self, m, ctx) -> list[str]:
        """One ngx.shared.fz operation, its results printed."""
        rng = self.rng
        k = f'"{rng.choice(SHDICT_KEYS)}"'
        value = rng.choice((f'"{m}"', str(rng.randint(-3, 9)), "true", "false", "nil", "2.5"))
        ttl = rng.choice(("",) * 3 + SHDICT_TTLS)
        flags = rng.choice(("",) * 3 + ("3", "0"))
        extra = (f", {ttl or 0}, {flags}" if flags else f", {ttl}" if ttl else "")
        op = rng.choice(("set", "set", "add", "replace", "safe_set", "delete", "get", "get",
                         "get_stale", "incr", "incr", "lpush", "rpush", "lpop", "rpop", "llen",
                         "get_keys", "flush_expired", "expire"))
        d = "ngx.shared.fz"
        if op in ("set", "add", "replace", "safe_set"):
            call = f"{d}:{op}({k}, {value}{extra})"
        elif op == "incr":
            init = rng.choice(("", "", ", 10", f", 0, {rng.choice(SHDICT_TTLS)}"))
            call = f"{d}:incr({k}, {rng.randint(-2, 5)}{init})"
        elif op in ("lpush", "rpush"):
            call = f"{d}:{op}({k}, {rng.choice((f'{chr(34)}{m}{chr(34)}', '7'))})"
        elif op == "get_keys":
            call = f'table.concat({d}:get_keys(), ",")'
        elif op == "flush_expired":
            call = f"{d}:flush_expired()"
        elif op == "expire":
            call = f"{d}:expire({k}, {rng.choice(SHDICT_TTLS + ('0',))})"
        else:
            call = f"{d}:{op}({k})"
        return [self.say(ctx, f'"{m} {op} ", {call}')]

    def coroutine(self, m, ctx, depth) -> list[str]:
        rng = self.rng
        body = self.block(dict(ctx, coroutine=True), depth + 1, rng.randint(1, 4))
        co = f"co{m[1:]}"
        ret = [] if body[-1].startswith(("return ", "error(", "_t.x")) else ['    return "ret"']
        if self.chance(0.3):
            out = [f"local {co} = coroutine.wrap(function()"] + _indent(body) + ret + ["end)"]
            out.append(self.say(ctx, f'"{m} wrap ", tostring({co}())'))
            if self.chance(0.4):
                out.append(self.say(ctx, f'"{m} wrap again ", tostring({co}())'))
            return out
        out = [f"local {co} = coroutine.create(function()"] + _indent(body) + ret + ["end)"]
        for _ in range(rng.randint(1, 3)):
            out += [f"local ok, v = coroutine.resume({co})",
                    self.say(ctx, f'"{m} resume ", tostring(ok), " ", tostring(v), " ", coroutine.status({co})')]
        return out

    # ------------------------------------------------------------------ the location
    def text(self, seed: int) -> str:
        rng = self.rng
        phases = [p for p in ("rewrite", "access") if self.chance(0.4)]
        echo_content = self.chance(0.2)
        if not echo_content:
            phases.append("content")
        elif not phases:
            phases.append(rng.choice(("rewrite", "access")))
        need_body = self.chance(0.15)
        budget = rng.randint(3, MAX_STATEMENTS)
        blocks = []
        for k, phase in enumerate(phases):
            share = max(1, budget // len(phases)) if k < len(phases) - 1 else budget
            body = self.block({"phase": phase}, 1, min(share, 8))
            if self.sema:
                first = f"S.s or S.new({rng.randint(0, 2)})" if k == 0 else "S.s"
                body = ['local S = require "ngx.semaphore"', f"S.s = {first}",
                        "local sema = S.s"] + body
            blocks.append([f"{phase}_by_lua_block {{"] + _indent(body) + ["}"])
        body_hdr = None
        if self.body_used or need_body or self.chance(0.1) or \
                (self.capopts and self.chance(0.5)):
            if self.chance(0.5) and len(self.pool) >= 2:
                pieces = [[float(self.duration()), "first "], [float(self.duration()), "second"]]
                body_hdr = f"# body-pieces: {json.dumps(pieces)}"
            else:
                body_hdr = "# body: hello body"
        head = [f"# title: fuzz seed {seed}" + (" (ngx.shared)" if self.shdict else ""),
                f"# request: {'POST' if body_hdr else 'GET'} /t"]
        if body_hdr:
            head.append(body_hdr)
        loc = ["more_clear_headers Date;"] if self.sockets_used else []
        loc.append("location /t {")
        if self.capopts:
            loc.append('    set $fz "init";')
        if need_body:
            loc.append("    lua_need_request_body on;")
        for b in blocks:
            loc += _indent(b)
        if echo_content:
            loc.append('    echo "echo content";')
        loc.append("}")
        if self.shdict:
            return "\n".join(head + _whole_config(loc + self.extra)) + "\n"
        return "\n".join(head + [""] + loc + self.extra) + "\n"


def _indent(lines: list[str]) -> list[str]:
    return ["    " + x for x in lines]


def _whole_config(server: list[str]) -> list[str]:
    """A whole nginx.conf around a server's lines, with the dict ``fz``."""
    return (["worker_processes 1;", "daemon on;", "master_process off;",
             "error_log logs/error.log debug;", "pid logs/nginx.pid;", "",
             "events {", "    worker_connections 64;", "}", "",
             "http {", "    default_type text/plain;", "    lua_shared_dict fz 1m;",
             "    server {", "        listen 1984;", "        server_name localhost;"]
            + _indent(_indent(server)) + ["    }", "}"])


def generate(seed: int, shdict: bool = False) -> str:
    """The .ngx scenario text of program `seed` (the same seed, the same text); with
    `shdict` a whole nginx.conf whose programs also use ngx.shared.fz."""
    return _Program(seed, shdict).text(seed)


# ---------------------------------------------------------------------- answers
def real_answer(res: dict) -> dict:
    """The compared fields of a ``run_real`` result."""
    from ..trace import trace_words
    from .logs import count_history
    return {"status": res["status"], "body": res["body"], "error_log": list(res["error_log"]),
            "count": count_history(res["debug"]), "trace": trace_words(res["debug"]),
            "hung": bool(res["hung"]), "startup_error": res["startup_error"]}


def model_answer(text: str) -> dict:
    """The compared fields of the model's run of scenario `text` (ngxcoro.run, debug log
    level, as tests/test_differential.py runs it). A crash of the model is reported in
    ``startup_error`` as ``model crashed: Type: message`` rather than raised; a refusal
    ("not modelled") is in ``message``."""
    import ngxcoro
    from ..trace import DebugTrace
    from .logs import model_count_history, normalise_error_log
    from .scenario import parse_scenario
    info = parse_scenario(text)
    hooks = ngxcoro.Hooks()
    dt = hooks.add(DebugTrace())
    try:
        res = ngxcoro.run(text, info["request"], headers=list(info["headers"]), body=info["body"],
                          log_level="debug", hooks=hooks)
    except Exception as e:  # noqa: BLE001 - a crash is a finding, reported as one line
        return {"status": None, "body": "", "error_log": [], "count": [], "trace": [],
                "hung": False, "startup_error": f"model crashed: {type(e).__name__}: {e}",
                "message": None}
    return {"status": res.status, "body": res.body,
            "error_log": normalise_error_log(list(res.error_log or [])),
            "count": model_count_history(list(res.events or [])), "trace": list(dt.lines),
            "hung": bool(res.hung), "startup_error": res.startup_error, "message": res.message}


def first_difference(want: dict, got: dict) -> str | None:
    """The first compared field that differs (FIELDS order), or None."""
    for f in FIELDS:
        if want.get(f) != got.get(f):
            return f
    return None
