"""The nginx.conf reader: tokens, tree, checks, and the locations ngx_lua runs in.
``parse(text)`` turns nginx.conf text into a tree of ``Directive`` objects the way nginx's
``ngx_conf_parse`` / ``ngx_conf_read_token`` (src/core/ngx_conf_file.c) read it, and
``load(text)`` checks each directive the way ``ngx_conf_handler`` and the modules' handlers
do, then builds a ``Config``: servers, locations (matched like
``ngx_http_core_find_location``), the three Lua handlers of each location as ``LuaChunk``
objects, and the few settings that change Lua scheduling. A mistake gives one
``ConfigError`` line worded like ``nginx -t``.

Modules, by the C source they stand for: ``file`` (src/core/ngx_conf_file.c, and
lua-nginx-module's Lua block reader), ``commands`` (the ``ngx_command_t`` tables),
``handler`` (``ngx_conf_handler`` and the directives' own handlers), ``slots`` (the
argument counts of every directive and the generic ``ngx_conf_set_*_slot`` values), ``regex``
(src/core/ngx_regex.c), ``core`` (src/http/ngx_http_core_module.c: locations, servers,
``find_location``) and ``load`` (src/http/ngx_http.c ``ngx_http_block``, and the Lua chunk
names of src/ngx_http_lua_directive.c).
"""

from .commands import DEFAULT_SETTINGS
from .core import Config, Location, LuaChunk, Server
from .file import ConfigError, Directive, parse, parse_partial, walk
from .load import load, lua_chunk, lua_load_error

__all__ = [
    "ConfigError", "Directive", "LuaChunk", "Location", "Server", "Config",
    "parse", "parse_partial", "walk", "load", "lua_chunk", "lua_load_error", "DEFAULT_SETTINGS",
]
