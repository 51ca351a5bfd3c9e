"""The model's view of a checked config: servers, locations and the Lua chunks they run.
Stands for src/http/ngx_http_core_module.c: ``ngx_http_core_loc_conf_t`` (``Location``),
``ngx_http_core_srv_conf_t`` (``Server``), ``ngx_http_core_location`` (``location_name``:
modifier and name), ``ngx_http_core_find_location`` and
``ngx_http_core_find_static_location`` (``Server.find_location``); and src/http/ngx_http.c
``ngx_http_init_static_location_trees`` / ``ngx_http_join_exact_locations``
(``check_duplicate_locations``). ``LuaChunk`` is one inline handler of
lua-nginx-module (src/ngx_http_lua_directive.c).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from .file import ConfigError

__all__ = ["LuaChunk", "Location", "Server", "Config", "location_name",
           "check_duplicate_locations"]


@dataclass(frozen=True)
class LuaChunk:
    """An inline Lua handler. ``loadstring(source, "=" + chunkname)`` gives the messages nginx
    logs (``content_by_lua(nginx.conf:12):3: boom``). ``line`` is the N of the chunk name,
    ``first_line`` the config line holding Lua line 1. ``load_error`` is what nginx logs at
    each request when the chunk does not compile (set by ``load(..., compile_lua=...)``)."""
    phase: str
    source: str
    chunkname: str
    line: int
    first_line: int = 0
    load_error: Optional[str] = None


@dataclass
class Location:
    """``ngx_http_core_loc_conf_t`` as far as the model needs it.

    ``modifier`` is ``"="``, ``"^~"``, ``"~"``, ``"~*"``, ``"@"`` (named) or ``""`` (prefix);
    ``pattern`` is nginx's ``clcf->name`` (``"@x"`` for a named location). ``directives`` are
    the other directives the model uses, in order (echo family, return, rewrite, break, set,
    internal, proxy_pass, if). ``content_handler`` names the last directive that set
    ``clcf->handler`` (nginx keeps the last one). ``settings`` are the effective values
    (see ``DEFAULT_SETTINGS``). ``refused`` says why a request reaching it is not modelled.
    """
    modifier: str
    pattern: str
    line: int
    rewrite_by_lua: Optional[LuaChunk] = None
    access_by_lua: Optional[LuaChunk] = None
    content_by_lua: Optional[LuaChunk] = None
    directives: list = field(default_factory=list)
    locations: list = field(default_factory=list)
    content_handler: Optional[str] = None
    internal: bool = False
    settings: dict = field(default_factory=dict, repr=False)
    error_log_level: str = "error"
    regex: Optional[re.Pattern] = field(default=None, repr=False, compare=False)
    # a directive here (or in an enclosing location) the model cannot simulate: the request
    # that reaches this location is refused with this message
    refused: Optional[str] = field(default=None, compare=False)


@dataclass
class Server:
    """One ``server {}`` block: its locations and the server-level directives the model uses
    (set, return, rewrite, break, if). ``line`` is 0 for the implicit server of bare text;
    ``server_name`` is the first name of ``server_name``, as nginx logs it ("server: x")."""
    line: int
    listen: list = field(default_factory=list)
    server_name: str = ""
    locations: list = field(default_factory=list)
    directives: list = field(default_factory=list)
    settings: dict = field(default_factory=dict, repr=False)
    error_log_level: str = "error"

    def find_location(self, uri: str) -> Optional[Location]:
        """The location serving ``uri`` (src/http/ngx_http_core_module.c
        ``ngx_http_core_find_location``): an exact ``=`` match wins at once; otherwise the
        longest matching prefix, searched again inside it for nested locations; a ``^~``
        prefix stops there; otherwise the first matching regex in config order (and its
        nested locations); otherwise the longest prefix. None if nothing matches."""
        return _find_location(self.locations, uri, None)[1]

    def named(self, name: str) -> Optional[Location]:
        """The named location ``@name`` (``ngx_http_named_location``); the first one defined."""
        name = name if name.startswith("@") else "@" + name
        return next((l for l in self.locations if l.modifier == "@" and l.pattern == name), None)


@dataclass
class Config:
    """What ``load`` returns. ``kind`` is ``"main"`` (a whole nginx.conf), ``"http"`` (server
    blocks) or ``"server"`` (the inside of one server block). ``settings`` are the http-level
    values; ``error_log_level`` is the level the first server logs at (each Server and
    Location has its own, inherited inwards; the default is "error"). ``inert`` lists the
    (name, line) of each directive accepted with no effect on the model, in file order.
    ``refused_vars`` maps a variable made by a block the model cannot run (map, geo,
    split_clients) to the refusal a request that reads it gets. ``shared_dicts`` maps each
    ``lua_shared_dict`` name to its size, in file order (``lmcf->shm_zones``). ``lua_phases``
    holds the phases of the log and filter handlers found anywhere (``log``,
    ``header_filter``, ``body_filter``): lua-nginx-module registers its log handler and
    filters only then (lmcf->requires_log, requires_header_filter, requires_body_filter).
    ``init_by_lua`` and ``init_worker_by_lua`` are the http-level chunks run once at start-up."""
    kind: str
    filename: str
    servers: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    error_log_level: str = "error"
    inert: list = field(default_factory=list)
    refused_vars: dict = field(default_factory=dict)
    shared_dicts: dict = field(default_factory=dict)
    lua_phases: set = field(default_factory=set)
    init_by_lua: Optional[LuaChunk] = None           # lmcf->init_src (ngx_lua/initby.py)
    init_worker_by_lua: Optional[LuaChunk] = None    # lmcf->init_worker_src

    @property
    def server(self) -> Optional[Server]:
        return self.servers[0] if self.servers else None


def location_name(args: list):
    """src/http/ngx_http_core_module.c ngx_http_core_location: (modifier, clcf->name)."""
    if len(args) == 2:
        if args[0] not in ("=", "^~", "~", "~*"):
            raise ValueError(f'invalid location modifier "{args[0]}"')
        return args[0], args[1]
    name = args[0]
    for modifier in ("=", "^~", "~*", "~"):
        if name.startswith(modifier):
            return modifier, name[len(modifier):]
    return ("@" if name.startswith("@") else ""), name


def check_duplicate_locations(locations: list, filename: str):
    """src/http/ngx_http.c ngx_http_init_static_location_trees and
    ngx_http_join_exact_locations: two exact, or two prefix (``^~`` or not), locations with
    the same name; nested levels first, names in sorted order, the later one is named."""
    for loc in sorted(locations, key=lambda l: l.pattern):
        check_duplicate_locations(loc.locations, filename)
    seen, duplicates = set(), []
    for loc in locations:
        if loc.modifier in ("", "^~", "="):
            key = (loc.modifier == "=", loc.pattern)
            if key in seen:
                duplicates.append(loc)
            seen.add(key)
    if duplicates:
        loc = min(duplicates, key=lambda l: l.pattern)
        raise ConfigError(f'duplicate location "{loc.pattern}"', filename, loc.line)


def _find_location(locations: list, uri: str, current: Optional[Location],
                   static: bool = True):
    """src/http/ngx_http_core_module.c ngx_http_core_find_location for one level:
    returns (rc, location) with rc "ok", "again" (a prefix) or "declined". Inside a regex
    location only nested regexes are tried: nginx builds no static tree there (seen with
    nginx 1.22.1: ``location ~ /a/ { location /a/ {} }`` never picks the inner one)."""
    rc, found = _find_static_location(locations, uri) if static else ("declined", None)
    noregex = False
    if found is not None:
        current = found
    if rc == "again":
        noregex = found.modifier == "^~"
        rc, current = _find_location(found.locations, uri, current)    # nested locations
    if rc == "ok":
        return rc, current
    if not noregex:
        for loc in locations:
            if loc.regex is not None and loc.regex.search(uri):
                return "ok", _find_location(loc.locations, uri, loc, static=False)[1]
    return rc, current


def _find_static_location(locations: list, uri: str):
    """ngx_http_core_find_static_location: ("ok", the exact location equal to uri), else
    ("again", the longest prefix location uri starts with), else ("declined", None)."""
    best = None
    for loc in locations:
        if loc.modifier == "=" and loc.pattern == uri:
            return "ok", loc
        if loc.modifier in ("", "^~") and uri.startswith(loc.pattern):
            if best is None or len(loc.pattern) > len(best.pattern):
                best = loc
    return ("again", best) if best else ("declined", None)
