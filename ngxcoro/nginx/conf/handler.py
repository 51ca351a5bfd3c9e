"""Checking each directive as nginx reads it: src/core/ngx_conf_file.c ``ngx_conf_handler``
(known name, allowed context, ``;`` or ``{``, number of arguments), then the directive's
own ``cmd->set`` handler: src/http/ngx_http_core_module.c (``ngx_http_core_location``,
``listen``), src/core/ngx_log.c ``ngx_log_set_levels``, src/core/ngx_parse.c
``ngx_parse_size``, src/http/ngx_http_script.c ``ngx_http_script_compile``,
src/http/modules/ngx_http_rewrite_module.c (``if``, ``rewrite``, ``return``, ``set``),
src/http/modules/ngx_http_proxy_module.c ``ngx_http_proxy_pass``,
src/http/modules/ngx_http_access_module.c ``ngx_http_access_rule`` and lua-nginx-module's
src/ngx_http_lua_directive.c (the ``*_by_lua*`` handlers).

``Loader`` is the handler ``file.parse`` calls for each directive, so errors come in the
order nginx gives them. Every directive gets nginx's checks (name, context, argument count;
for the generic slots their value and ``is duplicate``); then it is modelled, inert (listed
in ``Loader.inert``) or not modelled.  A directive not modelled inside a location only
matters to the requests that reach that location: the first of each location is kept in
``Loader.refused_in`` and the request that reaches it is refused.  Elsewhere the first is
kept in ``Loader.refused``, a ``ConfigError(..., nginx=False)`` that ``load`` raises once the
whole text passed nginx's checks.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Optional

from .commands import (ACCESS, BLOCKS, ECHO, FLAGS, INNER, KEPT, KNOWN, LUA_HANDLERS, LUA_INIT,
                       NUMBERS, SIZES, BODY_SLOTS, SOCKET_SLOTS, category)
from .slots import nargs_ok, slot_error, slot_value_ok, value_kind
from .core import location_name
from .file import BLOCK_START, OK, ConfigError, Directive
from .regex import RegexError, pcre_compile

__all__ = ["Loader", "LOG_LEVELS", "log_level", "parse_size"]


LOG_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
_DEBUG_LEVELS = {"debug_core", "debug_alloc", "debug_mutex", "debug_event", "debug_http",
                 "debug_mail", "debug_stream"}
_LISTEN_FLAGS = {"default_server", "default", "bind", "ssl", "http2", "proxy_protocol",
                 "reuseport", "deferred"}
_LISTEN_VALUES = ("backlog=", "rcvbuf=", "sndbuf=", "accept_filter=", "ipv6only=", "setfib=",
                  "fastopen=", "so_keepalive=")
_REWRITE_FLAGS = {"last", "break", "redirect", "permanent"}
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_PROXY_URI_PART = ('"proxy_pass" cannot have URI part in location given by regular '
                   'expression, or inside named location, or inside "if" statement, or inside '
                   '"limit_except" block')


def log_level(args: list) -> str:
    """src/core/ngx_log.c ngx_log_set_levels: the level of ``error_log FILE [LEVEL...]``."""
    level, debug = None, False
    for a in args[1:]:
        if a in LOG_LEVELS:
            if level or debug:
                raise ValueError(f'duplicate log level "{a}"')
            level = a
        elif a in _DEBUG_LEVELS and not level:
            debug = True
        else:
            raise ValueError(f'invalid log level "{a}"')
    return "debug" if debug else level or "error"


def parse_size(value: str) -> Optional[int]:
    """src/core/ngx_parse.c ngx_parse_size: digits and an optional k, m or g."""
    m = re.fullmatch(r"([0-9]+)([kKmMgG]?)", value)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def parse_time_ms(value: str) -> int:
    """src/core/ngx_parse.c ngx_parse_time(value, 0) in milliseconds: "200ms",
    "2s", "1m 30s", "5" (a bare number is seconds); the slot checked it before."""
    units = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000,
             "M": 2592000000, "y": 31536000000, "": 1000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|[smhdwMy]?)", value))


def _check_script(value: str):
    """src/http/ngx_http_script.c ngx_http_script_compile: the ``$name``, ``${name}`` and
    ``$1``..``$9`` syntax of an argument that may hold variables (not whether they exist)."""
    i, n = 0, len(value)
    while i < n:
        if value[i] != "$":
            i += 1
            continue
        i += 1
        if i < n and value[i] in "123456789":
            i += 1
            continue
        bracket = value[i:i + 1] == "{"
        i += bracket
        if i == n:
            raise ValueError("invalid variable name")
        start = i
        while i < n and value[i] in _NAME_CHARS:
            i += 1
        name = value[start:i]
        if bracket:
            if value[i:i + 1] != "}":
                raise ValueError(f'the closing bracket in "{name}" variable is missing')
            i += 1
        if not name:
            raise ValueError("invalid variable name")


def _if_condition(args: list) -> Optional[tuple]:
    """src/http/modules/ngx_http_rewrite_module.c ngx_http_rewrite_if_condition: checks
    ``if (...)``; returns (regex, caseless) when the condition has one."""
    a = list(args)
    if not a[0].startswith("("):
        raise ValueError(f'invalid condition "{a[0]}"')
    cur = 1 if a[0] == "(" else 0
    if cur == 0:
        a[0] = a[0][1:]
    last = len(a) - 1
    if not a[last].endswith(")"):
        raise ValueError(f'invalid condition "{a[last]}"')
    if a[last] == ")":
        last -= 1
    else:
        a[last] = a[last][:-1]
    p = a[cur] if cur < len(a) else ""
    if len(p) > 1 and p[0] == "$":
        if cur != last and cur + 2 != last:
            raise ValueError(f'invalid condition "{p}"')
        if cur == last:
            return None
        if a[cur + 1] in ("=", "!="):
            _check_script(a[cur + 2])
            return None
        if a[cur + 1] in ("~", "~*", "!~", "!~*"):
            return a[cur + 2], a[cur + 1].endswith("*")
        raise ValueError(f'unexpected "{a[cur + 1]}" in condition')
    if re.fullmatch(r"!?-[fdex]", p) and cur + 1 == last:
        _check_script(a[cur + 1])
        return None
    raise ValueError(f'invalid condition "{p}"')


def parse_rule(name, value):
    """ngx_http_access_rule (src/http/modules/ngx_http_access_module.c): (deny?, network or "all" or "unix:"); ValueError
    with nginx's words for an address it cannot read."""
    if value in ("all", "unix:"):
        return name == "deny", value
    try:
        if "/" in value:
            net = ipaddress.ip_network(value, strict=False)
        else:
            net = ipaddress.ip_network(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f'invalid parameter "{value}"') from None
    return name == "deny", net



# blocks that make a variable (ngx_http_map_module.c, _geo_module.c, _split_clients_module.c)
VARIABLE_BLOCKS = ("map", "geo", "split_clients")


def error_page_overwrite(args):
    """ngx_http_core_error_page's overwrite: -1 without "=", 0 for a bare "="
    (the page's own status), else the "=code"."""
    last = args[-2] if len(args) > 2 else ""
    if not last.startswith("="):
        return -1
    return int(last[1:]) if len(last) > 1 else 0


def error_page_codes(args):
    """ngx_http_core_error_page (src/http/ngx_http_core_module.c): the statuses an
    error_page names; ValueError with nginx's words for a bad one."""
    codes = args[:-1]
    if codes and codes[-1].startswith("="):
        if len(codes) == 1 or not codes[-1][1:].isdigit() and codes[-1] != "=":
            raise ValueError(f'invalid value "{codes[-1]}"')
        codes = codes[:-1]
    out = []
    for c in codes:
        if not c.isdigit():
            raise ValueError(f'invalid value "{c}"')
        if not 300 <= int(c) <= 599:
            raise ValueError(f'value "{c}" must be between 300 and 599')
        out.append(int(c))
    return out


class Loader:
    """Checks each directive when ``_parse_block`` reads it, in nginx's order: a known name
    (``unknown directive``), allowed in this context (``is not allowed here``), ``;`` or ``{``
    as it should be, modelled by ngxcoro, the number of arguments, then its own handler."""

    def __init__(self, filename: str, root: str):
        self.filename, self.root = filename, root
        self.seen = set()           # (enclosing block, key) already set there: "is duplicate"
        self.inert = []             # (name, line) of each inert directive, in file order
        self.refused = None         # the first directive the model cannot simulate
        self.refused_in = {}        # id(location directive) -> its first such message
        self.refused_vars = {}      # a variable made by map / geo / split_clients -> message
        self.shared_dicts = {}      # lua_shared_dict: name -> size, in file order

    def error(self, message: str, line: Optional[int], **kw) -> ConfigError:
        return ConfigError(message, self.filename, line, **kw)

    def context(self, parents: list) -> str:
        ctx = self.root
        for p in parents:
            ctx = "skip" if ctx == "skip" else INNER.get((ctx, p.name), "skip")
        return ctx

    def once(self, parents: list, key: str, line: int, message: str, nginx_message: str = ""):
        mark = (id(parents[-1]) if parents else None, key)
        if mark in self.seen:
            raise self.error(message, line, nginx_message=nginx_message)
        self.seen.add(mark)

    def directive(self, d: Directive, parents: list, rc: str):
        """src/core/ngx_conf_file.c ngx_conf_handler."""
        ctx, name, line = self.context(parents), d.name, d.line
        if ctx == "skip":
            return
        if name not in KNOWN:
            raise self.error(f'unknown directive "{name}"', line)
        if ctx not in KNOWN[name]:
            raise self.error(f'"{name}" directive is not allowed here', line)
        if name in BLOCKS and rc != BLOCK_START:
            raise self.error(f'directive "{name}" has no opening "{{"', line)
        if name not in BLOCKS and rc != OK:
            raise self.error(f'directive "{name}" is not terminated by ";"', line)
        if not nargs_ok(name, len(d.args)):
            raise self.error(f'invalid number of arguments in "{name}" directive', line)
        kind = category(name, ctx, d.args)
        try:
            if kind == "modelled" or name in KEPT:
                self.handle(d, parents, ctx)
            else:
                self.slot(d, parents)
        except ValueError as e:
            raise self.error(str(e), line) from None
        except RegexError as e:
            raise self.error(e.message, line, nginx=e.nginx) from None
        if kind == "inert":
            self.inert.append((name, line))
        elif kind == "not modelled":
            refusal = self.error(f'directive "{name}" is valid nginx but is not modelled by '
                                 'ngxcoro', line, nginx=False)
            loc = next((p for p in reversed(parents) if p.name == "location"), None)
            if name in VARIABLE_BLOCKS and d.args and d.args[-1].startswith("$"):
                # it only matters to a request that reads its variable
                self.refused_vars.setdefault(d.args[-1][1:].lower(), str(refusal))
            elif loc is not None:
                self.refused_in.setdefault(id(loc), str(refusal))
            elif self.refused is None:
                # nginx goes on reading: its own errors further on come first (load raises it)
                self.refused = refusal

    def slot(self, d: Directive, parents: list):
        """A directive read by one of the generic ``ngx_conf_set_*_slot`` handlers: its value
        and, for most, ``is duplicate`` (see slots.py)."""
        kind, once = value_kind(d.name)
        if not kind:
            return
        if once:
            self.once(parents, d.name, d.line, f'"{d.name}" directive is duplicate')
        if not slot_value_ok(kind, d.args[0]):
            raise ValueError(slot_error(d.name, kind, d.args[0]))

    def lua_block_done(self, d: Directive, parents: list, line: int):
        """The ``*_by_lua_block`` handler, called once the Lua text is read (so its errors
        name the line of the closing ``}``); ngx_lua logs its bare message here."""
        if d.name in LUA_HANDLERS and self.context(parents) != "skip":
            self.lua_handler(d, parents, line, nginx_message="is duplicate")
        elif d.name in LUA_INIT and self.context(parents) != "skip":
            self.once(parents, LUA_INIT[d.name], line, f'"{d.name}" directive is duplicate',
                      "is duplicate")

    def lua_handler(self, d: Directive, parents: list, line: int, nginx_message: str = ""):
        """src/ngx_http_lua_directive.c ngx_http_lua_{rewrite,access,content}_by_lua."""
        self.once(parents, LUA_HANDLERS[d.name], line, f'"{d.name}" directive is duplicate',
                  nginx_message)
        if d.args[-1] == "":
            raise self.error("invalid location config: no runnable Lua code", line,
                             level="error")

    def handle(self, d: Directive, parents: list, ctx: str):
        """The directive's own handler (``cmd->set``): raises ValueError(nginx's words)."""
        name, args = d.name, d.args
        parent = parents[-1] if parents else None
        duplicate = f'"{name}" directive is duplicate'
        numbers = NUMBERS + ["echo_status"]
        if name in ("http", "events", "internal", "proxy_pass", "satisfy", "server_tokens") \
                or name in FLAGS \
                or name in numbers or name in SIZES:
            self.once(parents, name, d.line, duplicate)
        if name == "client_body_in_file_only":      # ngx_conf_set_enum_slot
            self.once(parents, name, d.line, duplicate)
            if args[0].lower() not in ("on", "off", "clean"):
                raise ValueError(f'invalid value "{args[0]}"')
        elif name in BODY_SLOTS or name in SOCKET_SLOTS:   # modelled, read by generic slots
            self.slot(d, parents)
        elif name in LUA_HANDLERS and not name.endswith("_block"):
            self.lua_handler(d, parents, d.line)
        elif name in LUA_INIT and not name.endswith("_block"):
            # ngx_http_lua_init_by_lua, _init_worker_by_lua: one handler per http block
            self.once(parents, LUA_INIT[name], d.line, duplicate)
        elif name in FLAGS and args[0].lower() not in ("on", "off"):
            raise ValueError(f'invalid value "{args[0]}" in "{name}" directive, it must be "on" '
                             f'or "off"')
        elif name in numbers and not re.fullmatch(r"[0-9]+", args[0]):
            raise ValueError(f'"{name}" directive invalid number')
        elif name in SIZES and parse_size(args[0]) is None:
            raise ValueError(f'"{name}" directive invalid value')
        elif name == "satisfy" and args[0].lower() not in ("all", "any"):
            raise ValueError(f'invalid value "{args[0]}"')
        elif name == "server_tokens" and args[0].lower() not in ("on", "off", "build"):
            raise ValueError(f'invalid value "{args[0]}"')
        elif name == "error_log":
            log_level(args)
        elif name == "lua_shared_dict":
            self.shared_dict(args)
        elif name == "listen":
            for a in args[1:]:
                if a not in _LISTEN_FLAGS and not a.startswith(_LISTEN_VALUES):
                    raise ValueError(f'invalid parameter "{a}"')
        elif name in ECHO:
            for a in args:
                _check_script(a)
        elif name == "location":
            self.location(args, parent)
        elif name == "if":
            regex = _if_condition(args)
            if regex:
                pcre_compile(*regex)
        elif name == "rewrite":
            pcre_compile(args[0])
            _check_script(args[1])
            if len(args) == 3 and args[2] not in _REWRITE_FLAGS:
                raise ValueError(f'invalid parameter "{args[2]}"')
        elif name in ACCESS:
            parse_rule(name, args[0])
        elif name == "error_page":
            error_page_codes(args)
        elif name == "return":
            code = args[0]
            if re.fullmatch(r"[0-9]+", code):
                if int(code) > 999:
                    raise ValueError(f'invalid return code "{code}"')
            elif len(args) != 1 or not code.startswith(("http://", "https://", "$scheme")):
                raise ValueError(f'invalid return code "{code}"')
            _check_script(args[-1])
        elif name == "set":
            if not args[0].startswith("$") or len(args[0]) == 1:
                raise ValueError(f'invalid variable name "{args[0]}"')
            _check_script(args[1])
        elif name == "proxy_pass" and "$" in args[0]:
            _check_script(args[0])
        elif name == "proxy_pass":
            url = args[0]
            prefix = next((p for p in ("http://", "https://") if url.lower().startswith(p)), None)
            if prefix is None:
                raise ValueError("invalid URL prefix")
            noname = ctx == "lif" or location_name(parent.args)[0] in ("~", "~*", "@")
            if "/" in url[len(prefix):] and noname:
                raise ValueError(_PROXY_URI_PART)

    def shared_dict(self, args: list):
        """src/ngx_http_lua_directive.c ngx_http_lua_shared_dict: a name, a size read by
        ngx_parse_size (k or m; nginx 1.22's has no g) above 8191, and
        ngx_http_lua_shared_memory_add's checks of a name used twice."""
        name, value = args
        if not name:
            raise ValueError(f'invalid lua shared dict name "{name}"')
        m = re.fullmatch(r"([0-9]+)([kKmM]?)", value)
        size = int(m[1]) << {"": 0, "k": 10, "m": 20}[m[2].lower()] if m else -1
        if size <= 8191:
            raise ValueError(f'invalid lua shared dict size "{value}"')
        if name in self.shared_dicts:
            if self.shared_dicts[name] != size:
                raise ValueError(f'the size {size} of shared memory zone "{name}" conflicts '
                                 f'with already declared size {self.shared_dicts[name]}')
            raise ValueError(f'lua_shared_dict "{name}" is already defined as "{name}"')
        self.shared_dicts[name] = size

    def location(self, args: list, parent: Optional[Directive]):
        """src/http/ngx_http_core_module.c ngx_http_core_location: modifier, regex, nesting."""
        modifier, name = location_name(args)
        if modifier in ("~", "~*"):
            pcre_compile(name, modifier == "~*")
        if parent is None or parent.name != "location":
            return
        pmodifier, pname = location_name(parent.args)
        if pmodifier == "=":
            raise ValueError(f'location "{name}" cannot be inside the exact location "{pname}"')
        if pmodifier == "@":
            raise ValueError(f'location "{name}" cannot be inside the named location "{pname}"')
        if modifier == "@":
            raise ValueError(f'named location "{name}" can be on the server level only')
        if modifier not in ("~", "~*") and not name.startswith(pname):
            raise ValueError(f'location "{name}" is outside location "{pname}"')
