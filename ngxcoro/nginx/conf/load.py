"""``load``: check nginx.conf text like ``nginx -t`` and build the model's ``Config``.
Stands for src/http/ngx_http.c ``ngx_http_block`` (reading http, its servers and locations,
then ``ngx_http_merge_servers``: settings and ``error_log`` levels inherited inwards) and for
lua-nginx-module's src/ngx_http_lua_directive.c (``ngx_http_lua_gen_chunk_name`` and the
``*_by_lua`` handlers) for the Lua chunks.

The text is read by ``file.parse`` with ``handler.Loader`` checking each directive; a
mistake is one ``ConfigError``.

Lua chunks, as read from nginx 1.22.1 + lua-nginx-module 0.10.23 (tests/test_config.py has the
configs): both forms are named ``<phase>_by_lua(<file>:<N>)``, a path ending in ``/nginx.conf``
shortened to ``nginx.conf``. The block form's source is the raw text between ``{`` and its
matching ``}`` (nginx does not unescape it); the rest of the ``{`` line is Lua line 1 and N is
the line of that ``{``, so Lua line k is config line N+k-1. The string form's source is the
nginx-unescaped argument (``\\n`` becomes a real line break, so it adds a Lua line); Lua line 1
is the line of the opening quote, but N is the line where the directive ends (its ``;``).
Inline chunks are compiled at the first request, not at load: a Lua syntax error passes
``nginx -t``, then every request gets a 500 and the log line ``[error] ... failed to load
inlined Lua code: content_by_lua(nginx.conf:N):k: <message>`` (``lua_load_error``).

Inert directives (commands.category) are listed in ``Config.inert`` as (name, line).
``include`` is inert for the stock files of a Debian install (commands.stock_include), which
are not read: the model never reads the host's files, so its answer does not depend on the
machine; nginx -t would read them and fail on a missing one. Any other include is not
modelled. A directive the model cannot simulate is refused (``ConfigError`` with
``nginx_line`` None) only after the whole text passed nginx's checks, so nginx's own error
further on comes first, as ``nginx -t`` would report it.

Not modelled: variables are not checked (nginx's ``unknown "x" variable``); hosts are not
resolved; the values of inert directives are checked only for the generic slots
(slots.py: flag, number, size, offset, time) and for their count; the ``auto_redirect``
301 of ``proxy_pass`` locations ending in ``/`` is not part of ``find_location``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

from .commands import (ACCESS, DEFAULT_SETTINGS, ECHO, ECHO_FILTERS, FLAGS, KEPT, LUA_HANDLERS,
                       LUA_INHERITED, LUA_INIT, NUMBERS, SIZES)
from .core import Config, Location, LuaChunk, Server, check_duplicate_locations, location_name
from .file import ConfigError, Directive, parse, parse_partial, walk
from .handler import (LOG_LEVELS, Loader, error_page_codes, error_page_overwrite, log_level,
                      parse_rule, parse_size, parse_time_ms)
from .regex import pcre_compile

__all__ = ["load", "lua_chunk", "lua_load_error"]

# the smallest lua_shared_dict nginx starts with (12k; 8k to 12287 bytes pass nginx -t's
# checks but fail at start-up, scenario 632)
_MIN_ZONE = 3 * 4096


def lua_chunk(d: Directive, filename: str = "nginx.conf") -> LuaChunk:
    """The ``LuaChunk`` of a ``{rewrite,access,content}_by_lua[_block]`` directive
    (src/ngx_http_lua_directive.c ngx_http_lua_gen_chunk_name and the ``*_by_lua`` handlers);
    the naming and line rules are in the module docstring."""
    phase = LUA_HANDLERS.get(d.name) or LUA_INIT[d.name]
    shown = "nginx.conf" if filename.endswith("/nginx.conf") else filename
    first_line = d.arg_lines[-1] if d.arg_lines else d.line
    return LuaChunk(phase, d.args[-1], f"{phase}_by_lua({shown}:{d.line})", d.line, first_line)


def lua_load_error(chunk: LuaChunk, compile_lua: Callable) -> Optional[str]:
    """What nginx logs (at [error], answering 500) at each request whose inline chunk does not
    compile, or None. ``compile_lua(source, chunkname)`` is called with ``"=" + chunkname``
    and returns Lua's message or None: with lupa, ``loadstring`` gives ``(None, message)``
    on failure. Kept apart so this module does not need lupa."""
    message = compile_lua(chunk.source, "=" + chunk.chunkname)
    return None if message is None else f"failed to load inlined Lua code: {message}"


def _settings(block: list, inherited: dict, chunk: Optional[Callable] = None) -> dict:
    out = dict(inherited)
    for d in block:                 # ngx_http_lua_merge_loc_conf: own handler, or inherited
        if chunk is not None and LUA_HANDLERS.get(d.name) in LUA_INHERITED:
            out[LUA_HANDLERS[d.name] + "_by_lua"] = chunk(d)
    rules = [parse_rule(d.name, d.args[0]) for d in block if d.name in ACCESS]
    if rules:                       # ngx_http_access_merge_loc_conf: own rules, or inherited
        out["access_rules"] = tuple(rules)
    pages = {code: (d.line, error_page_overwrite(d.args), d.args[-1])
             for d in block if d.name == "error_page" for code in error_page_codes(d.args)}
    if pages:                       # ngx_http_core_merge_loc_conf: own error_pages, or inherited
        out["error_pages"] = pages
    more = [(d.name, tuple(d.args), d.line) for d in block
            if d.name in ("more_set_headers", "more_clear_headers")]
    if more:                        # ngx_http_headers_more_merge_loc_conf: the outer
        out["more_headers"] = inherited["more_headers"] + tuple(more)   # ones run first
    adds = [(d.args[0], d.args[1], len(d.args) > 2 and d.args[2] == "always")
            for d in block if d.name == "add_header" and len(d.args) >= 2]
    if adds:                        # ngx_http_headers_merge_conf: own headers, or inherited
        out["add_headers"] = tuple(adds)
    trailers = [(d.args[0], d.args[1], len(d.args) > 2 and d.args[2] == "always")
                for d in block if d.name == "add_trailer" and len(d.args) >= 2]
    if trailers:                    # likewise
        out["add_trailers"] = tuple(trailers)
    for d in block:
        if d.name in ("expires", "add_header", "add_trailer"):
            out["headers_line"] = d.line
        if d.name == "expires":
            out["expires"] = " ".join(d.args)
        if d.name in FLAGS:
            out[d.name] = d.args[0].lower() == "on"
        elif d.name in NUMBERS:
            out[d.name] = int(d.args[0])
        elif d.name in SIZES:
            out[d.name] = parse_size(d.args[0])
        elif d.name in ("client_body_buffer_size", "client_max_body_size"):
            out[d.name] = parse_size(d.args[0])
        elif d.name in ("satisfy", "server_tokens", "client_body_in_file_only"):
            out[d.name] = d.args[0].lower()
        elif d.name in ("gzip", "gzip_vary"):   # (inert: read only for the Vary header)
            out[d.name] = d.args[0].lower() == "on"
        elif d.name == "gzip_types":
            out[d.name] = tuple(a.lower() for a in d.args)
        elif d.name == "gzip_min_length":
            out[d.name] = parse_size(d.args[0])
        elif d.name in ("root", "default_type", "charset", "proxy_http_version"):
            out[d.name] = d.args[0]
        elif d.name in MSEC_SETTINGS:       # ngx_conf_set_msec_slot
            out[d.name] = parse_time_ms(d.args[0])
        elif d.name in ("lua_socket_buffer_size",):
            out[d.name] = parse_size(d.args[0])
        elif d.name in ("lua_socket_pool_size", "keepalive_requests"):
            out[d.name] = int(d.args[0])
        elif d.name == "lua_socket_log_errors":
            out[d.name] = d.args[0].lower() == "on"
    return out


# the msec slots read: the lua_socket_* timeouts, keepalive_timeout (its first argument),
# client_body_timeout and lingering_timeout
MSEC_SETTINGS = ("lua_socket_connect_timeout", "lua_socket_send_timeout",
                 "lua_socket_read_timeout", "lua_socket_keepalive_timeout", "keepalive_timeout",
                 "client_body_timeout", "lingering_timeout")


def _error_log_level(block: list, inherited: str) -> str:
    """The most verbose level of this block's ``error_log`` lines, else the enclosing one's."""
    levels = [log_level(d.args) for d in block if d.name == "error_log"]
    return max(levels, key=LOG_LEVELS.index) if levels else inherited


class _Builder:
    def __init__(self, filename: str, compile_lua: Optional[Callable], refused_in: dict):
        self.filename, self.compile_lua = filename, compile_lua
        self.refused_in = refused_in     # id(location directive) -> why a request is refused
        self.lua_phases = set()

    def chunk(self, d: Directive) -> LuaChunk:
        """The LuaChunk of a *_by_lua[_block] directive, with its load error."""
        chunk = lua_chunk(d, self.filename)
        self.lua_phases.add(chunk.phase)
        if self.compile_lua:
            chunk = replace(chunk, load_error=lua_load_error(chunk, self.compile_lua))
        return chunk

    def server(self, block: list, line: int, settings: dict, level: str) -> Server:
        s = Server(line, settings=_settings(block, settings, self.chunk),
                   error_log_level=_error_log_level(block, level))
        for d in block:
            if d.name == "listen":
                s.listen.append(list(d.args))
            elif d.name == "server_name" and d.args and not s.server_name:
                s.server_name = d.args[0]
            elif d.name == "location":
                s.locations.append(self.location(d, s.settings, s.error_log_level, None))
            elif d.name in KEPT:
                s.directives.append(d)
        return s

    def location(self, d: Directive, settings: dict, level: str, refused: Optional[str]
                 ) -> Location:
        modifier, pattern = location_name(d.args)
        loc = Location(modifier, pattern, d.line, settings=_settings(d.block, settings, self.chunk),
                       error_log_level=_error_log_level(d.block, level),
                       refused=self.refused_in.get(id(d)) or refused)   # inherited inwards
        if modifier in ("~", "~*"):
            loc.regex = pcre_compile(pattern, modifier == "~*")
        for c in d.block:
            if c.name in LUA_HANDLERS and LUA_HANDLERS[c.name] not in LUA_INHERITED:
                chunk = self.chunk(c)
                setattr(loc, chunk.phase + "_by_lua", chunk)
                if chunk.phase == "content":
                    loc.content_handler = c.name
            elif c.name == "location":
                loc.locations.append(self.location(c, loc.settings, loc.error_log_level,
                                                   loc.refused))
            elif c.name in KEPT:
                loc.directives.append(c)
                loc.internal = loc.internal or c.name == "internal"
                if c.name == "proxy_pass" or (c.name in ECHO and c.name not in ECHO_FILTERS):
                    loc.content_handler = c.name
        return loc



# ---------------------------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------------------------

def _kind(text: str, filename: str) -> str:
    """A top-level http or events block: a whole nginx.conf; top-level server blocks: the
    inside of http; otherwise the inside of one server block."""
    # a syntax error is reported by the real parse, in nginx's order
    names = [d.name for d in parse_partial(text, filename)[0]]
    if "http" in names or "events" in names:
        return "main"
    return "http" if "server" in names else "server"


def load(text: str, filename: str = "nginx.conf",
         compile_lua: Optional[Callable] = None) -> Config:
    """Check ``text`` like ``nginx -t`` and build the model's ``Config``.

    ``text`` is a whole nginx.conf, some ``server {}`` blocks, or the inside of one server
    block (line numbers are always the text's own). ``filename`` names it in messages and
    chunk names. With ``compile_lua`` (see ``lua_load_error``) each ``LuaChunk`` gets the
    ``load_error`` nginx would log at request time; load itself still succeeds, as nginx does.
    Raises ``ConfigError``.
    """
    kind = _kind(text, filename)
    root = {"main": "main", "http": "http", "server": "srv"}[kind]
    loader = Loader(filename, root)
    tree = parse(text, filename, _handler=loader)
    main = tree if kind == "main" else []
    http = (next((d.block for d in tree if d.name == "http"), []) if kind == "main"
            else tree if kind == "http" else [])
    level = _error_log_level(http, _error_log_level(main, "error"))
    builder = _Builder(filename, compile_lua, loader.refused_in)
    config = Config(kind, filename, settings=_settings(http, DEFAULT_SETTINGS, builder.chunk),
                    error_log_level=level, inert=list(loader.inert),
                    refused_vars=dict(loader.refused_vars), lua_phases=builder.lua_phases,
                    shared_dicts=dict(loader.shared_dicts))
    # headers-more's filter goes into the chain when a config uses the module
    config.uses_headers_more = any(d.name in ("more_set_headers", "more_clear_headers")
                                   for d in walk(tree))
    # and echo's output filter, when a config has echo_before_body or echo_after_body
    config.uses_echo_filter = any(d.name in ("echo_before_body", "echo_after_body")
                                  for d in walk(tree))
    for d in http:                  # ngx_http_lua_init_by_lua, _init_worker_by_lua
        if d.name in LUA_INIT:
            setattr(config, LUA_INIT[d.name] + "_by_lua", lua_chunk(d, filename))
    blocks = [(tree, 0)] if kind == "server" else [(d.block, d.line) for d in http
                                                   if d.name == "server"]
    for block, line in blocks:
        server = builder.server(block, line, config.settings, level)
        check_duplicate_locations(server.locations, filename)
        config.servers.append(server)
    if config.servers:
        config.error_log_level = config.servers[0].error_log_level
    if kind == "main" and "events" not in (d.name for d in tree):
        raise ConfigError('no "events" section in configuration', filename)
    if any(size < _MIN_ZONE for size in config.shared_dicts.values()):
        # ngx_init_zone_pool -> ngx_slab_init, then ngx_http_lua_shdict_init_zone's
        # ngx_slab_alloc: a zone of less than three 4k pages has no page left for it
        raise ConfigError("ngx_slab_alloc() failed: no memory", filename, level="crit")
    if loader.refused is not None:
        raise loader.refused
    return config
