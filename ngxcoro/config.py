"""The nginx configuration reader of the model: tokens, tree, and the locations ngx_lua runs in.

``parse(text)`` turns nginx.conf text into a tree of ``Directive`` objects the way nginx's
``ngx_conf_parse`` / ``ngx_conf_read_token`` (src/core/ngx_conf_file.c) read it, and
``load(text)`` checks each directive the way ``ngx_conf_handler`` and the modules' handlers do,
then builds a ``Config``: servers, locations (matched like ``ngx_http_core_find_location``),
the three Lua handlers of each location as ``LuaChunk`` objects, and the few settings that
change Lua scheduling. A mistake gives one ``ConfigError`` line worded like ``nginx -t``.

Lua chunks, as read from nginx 1.22.1 + lua-nginx-module 0.10.23 (tests/test_config.py has the
configs): both forms are named ``<phase>_by_lua(<file>:<N>)``, a path ending in ``/nginx.conf``
shortened to ``nginx.conf``. The block form's source is the raw text between ``{`` and its
matching ``}`` (nginx does not unescape it); the rest of the ``{`` line is Lua line 1 and N is
the line of that ``{``, so Lua line k is config line N+k-1. The string form's source is the
nginx-unescaped argument (``\\n`` becomes a real line break, so it adds a Lua line); Lua line 1
is the line of the opening quote, but N is the line where the directive ends (its ``;``).
Inline chunks are compiled at the first request, not at load: a Lua syntax error passes
``nginx -t``, then every request gets a 500 and the log line ``[error] ... failed to load
inlined Lua code: content_by_lua(nginx.conf:N):k: <message>`` (``lua_load_error``). The Lua
block lexer (``ngx_http_lua_conf_read_lua_token``) knows ``{ }``, ``--`` comments, long
brackets and one-line quoted strings only: a quote that does not close on its own line is an
ordinary character, so a ``}`` after it counts.

Not modelled: ``include`` is ignored (``include mime.types`` works, an included file is not
read); variables are not checked (nginx's ``unknown "x" variable``); hosts are not resolved;
the arguments of ignored directives are not checked; the ``auto_redirect`` 301 of
``proxy_pass`` locations ending in ``/`` is not part of ``find_location``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Callable, Optional

__all__ = [
    "ConfigError", "Directive", "LuaChunk", "Location", "Server", "Config",
    "parse", "load", "lua_chunk", "lua_load_error", "DEFAULT_SETTINGS",
]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

class ConfigError(Exception):
    """One configuration mistake, worded like ``nginx -t`` (``ngx_conf_log_error``).

    ``str(e)`` is ``<message> in <file>:<line>``; ``e.nginx_line`` is what nginx prints after
    ``nginx: ``, e.g. ``[emerg] unexpected "}" in nginx.conf:7``, or None when real nginx
    would accept the text and only ngxcoro cannot model it. ``nginx_message`` is given when
    nginx's own words differ from ``message`` (a block-form ``is duplicate``).
    """

    def __init__(self, message: str, filename: str = "nginx.conf", line: Optional[int] = None,
                 *, level: str = "emerg", nginx_message: str = "", nginx: bool = True):
        self.message, self.filename, self.line, self.level = message, filename, line, level
        where = "" if line is None else f" in {filename}:{line}"
        super().__init__(message + where)
        if not nginx:
            self.nginx_line = None
        else:
            self.nginx_line = f"[{level}] {nginx_message or message}{where}"


# ---------------------------------------------------------------------------------------------
# The tree and the model's view of it
# ---------------------------------------------------------------------------------------------

@dataclass
class Directive:
    """One directive as ``ngx_conf_parse`` hands it to ``ngx_conf_handler`` (``cf->args``).

    ``line`` is the line nginx names in errors about it: where its ``;`` or ``{`` is.
    ``arg_lines[i]`` is the line where ``args[i]`` starts. A ``*_by_lua_block`` directive has
    its Lua source as the last argument and ``block`` None; other block directives have their
    directives in ``block``.
    """
    name: str
    args: list
    line: int
    block: Optional[list] = None
    arg_lines: list = field(default_factory=list, repr=False, compare=False)


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
    (see ``DEFAULT_SETTINGS``).
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
    Location has its own, inherited inwards; the default is "error")."""
    kind: str
    filename: str
    servers: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    error_log_level: str = "error"

    @property
    def server(self) -> Optional[Server]:
        return self.servers[0] if self.servers else None


# ---------------------------------------------------------------------------------------------
# Tokens: src/core/ngx_conf_file.c ngx_conf_read_token
# ---------------------------------------------------------------------------------------------

_OK, _BLOCK_START, _BLOCK_DONE, _FILE_DONE = "ok", "block_start", "block_done", "file_done"
_SPACE = " \t\r\n"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}

# The ngx_lua block lexer's tokens, first match wins at each position.
_LUA_TOKEN = re.compile(r"""
      (?P<lcomment> --\[(?P<leq>=*)\[ )
    | --[^\n]*
    | (?P<lstring> \[(?P<seq>=*)\[ )
    | "(?:[^"\\\n]|\\[^\n])*"
    | '(?:[^'\\\n]|\\[^\n])*'
    | (?P<curly> [{}] )
""", re.VERBOSE)


def _unescape(raw: str) -> str:
    """The copy loop at the end of ngx_conf_read_token: in every word, quoted or not, a
    backslash before ``"``, ``'`` or ``\\`` is dropped, ``\\t`` ``\\r`` ``\\n`` become TAB CR LF,
    and any other backslash stays."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and raw[i + 1:i + 2] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


class _Reader:
    """``cf->conf_file``: the text, the read position and the line counter."""

    def __init__(self, text: str, filename: str):
        self.text, self.filename, self.pos, self.line = text, filename, 0, 1

    def error(self, message: str, line: Optional[int] = None) -> ConfigError:
        return ConfigError(message, self.filename, self.line if line is None else line)

    def read_token(self):
        """src/core/ngx_conf_file.c ngx_conf_read_token: read the words of one directive up
        to ``;`` (_OK), ``{`` (_BLOCK_START), a ``}`` of its own (_BLOCK_DONE) or the end of
        the text (_FILE_DONE). Returns (rc, [(word, start_line), ...])."""
        text, words = self.text, []
        last_space, need_space, sharp_comment, quoted = True, False, False, False
        s_quoted = d_quoted = variable = False
        start = start_line = 0
        while True:
            if self.pos >= len(text):
                if words or not last_space:
                    raise self.error('unexpected end of file, expecting ";" or "}"')
                return _FILE_DONE, words
            ch = text[self.pos]
            self.pos += 1
            if ch == "\n":
                self.line += 1
                sharp_comment = False
            if sharp_comment:
                continue
            if quoted:
                quoted = False
                continue
            if need_space:
                if ch in _SPACE:
                    last_space, need_space = True, False
                    continue
                if ch == ";":
                    return _OK, words
                if ch == "{":
                    return _BLOCK_START, words
                if ch != ")":
                    raise self.error(f'unexpected "{ch}"')
                last_space, need_space = True, False       # ")" then starts a word
            if last_space:
                start, start_line = self.pos - 1, self.line
                if ch in _SPACE:
                    continue
                if ch in ";{":
                    if not words:
                        raise self.error(f'unexpected "{ch}"')
                    return (_OK if ch == ";" else _BLOCK_START), words
                if ch == "}":
                    if words:
                        raise self.error('unexpected "}"')
                    return _BLOCK_DONE, words
                if ch == "#":
                    sharp_comment = True
                    continue
                last_space = False
                if ch == "\\":
                    quoted = True
                elif ch == '"':
                    start, d_quoted = start + 1, True
                elif ch == "'":
                    start, s_quoted = start + 1, True
                elif ch == "$":
                    variable = True
                continue
            if ch == "{" and variable:                      # ${name}
                continue
            variable = False
            if ch == "\\":
                quoted = True
                continue
            if ch == "$":
                variable = True
                continue
            if d_quoted or s_quoted:
                if ch != ('"' if d_quoted else "'"):
                    continue
                d_quoted = s_quoted = False
                need_space = True
            elif ch in _SPACE or ch in ";{":
                last_space = True
            else:
                continue
            words.append((_unescape(text[start:self.pos - 1]), start_line))
            if ch == ";":
                return _OK, words
            if ch == "{":
                return _BLOCK_START, words

    def read_lua_block(self) -> str:
        """src/ngx_http_lua_directive.c ngx_http_lua_conf_lua_block_parse and
        ngx_http_lua_conf_read_lua_token: read Lua up to the ``}`` matching the ``{`` just
        read, counting ``{ }`` outside Lua strings, comments and long brackets. Returns the
        raw text in between."""
        text, begin, pos = self.text, self.pos, self.pos
        level, curly_line = 1, self.line
        while True:
            m = _LUA_TOKEN.search(text, pos)
            if m is None:
                raise self.error("unexpected end of file, expecting terminating characters "
                                 "for lua code block", curly_line)
            end = m.end()
            if m.group("lcomment") or m.group("lstring"):
                self.line += text.count("\n", pos, m.start())
                pos = m.start()
                close = "]" + (m.group("leq") or m.group("seq") or "") + "]"
                found = text.find(close, end)
                if found < 0:
                    raise self.error(f'Lua code block missing the closing long bracket '
                                     f'"{close}", the inlined Lua code may be too long')
                end = found + len(close)
            self.line += text.count("\n", pos, end)
            pos = end
            if m.group("curly") == "{":
                level, curly_line = level + 1, self.line
            elif m.group("curly") == "}":
                level -= 1
                if level == 0:
                    self.pos = pos
                    return text[begin:pos - 1]


# ---------------------------------------------------------------------------------------------
# The tree: src/core/ngx_conf_file.c ngx_conf_parse
# ---------------------------------------------------------------------------------------------

def parse(text: str, filename: str = "nginx.conf", *, _handler=None) -> list:
    """Read ``text`` into a list of ``Directive`` (syntax only: no directive is checked).

    Raises ``ConfigError`` for what ``ngx_conf_read_token`` and ``ngx_conf_parse`` reject:
    stray ``;`` ``{`` ``}``, a quote not followed by a space, the end of the text inside a
    directive or block, and a ``*_by_lua_block`` whose Lua does not close.
    """
    reader = _Reader(text, filename)
    return _parse_block(reader, [], _handler)


def _parse_block(reader: _Reader, parents: list, handler) -> list:
    """src/core/ngx_conf_file.c ngx_conf_parse for one file or block; ``handler`` (the
    loader) sees each directive when nginx's ``ngx_conf_handler`` would, so errors come in
    nginx's order."""
    out = []
    while True:
        rc, words = reader.read_token()
        if rc == _FILE_DONE:
            if parents:
                raise reader.error('unexpected end of file, expecting "}"')
            return out
        if rc == _BLOCK_DONE:
            if not parents:
                raise reader.error('unexpected "}"')
            return out
        d = Directive(words[0][0], [w for w, _ in words[1:]], reader.line,
                      arg_lines=[line for _, line in words[1:]])
        out.append(d)
        if handler:
            handler.directive(d, parents, rc)
        if rc != _BLOCK_START:
            continue
        if d.name.endswith("_by_lua_block"):
            d.args.append(reader.read_lua_block())
            d.arg_lines.append(d.line)
            if handler:
                handler.lua_block_done(d, parents, reader.line)
        else:
            d.block = _parse_block(reader, parents + [d], handler)


# ---------------------------------------------------------------------------------------------
# Directives: every name nginx 1.22.1 knows here (core and http modules of the Debian build,
# ndk, lua 0.10.23, echo), keyed by the contexts it is allowed in. Contexts are nginx's:
# main, events, http, srv, loc, lif (if in location), sif (if in server); "" = only inside
# upstream {}, which is not modelled. Read from nginx -t by trying each name in each context.
# ---------------------------------------------------------------------------------------------

_CONTEXT_TABLE = {
    "main": """
        daemon debug_points env events http load_module lock_file master_process pcre_jit
        pid ssl_engine thread_pool timer_resolution user worker_cpu_affinity worker_priority
        worker_processes worker_rlimit_core worker_rlimit_nofile worker_shutdown_timeout
        working_directory
    """,
    "events": """
        accept_mutex accept_mutex_delay debug_connection epoll_events multi_accept use
        worker_aio_requests worker_connections
    """,
    "main events http srv loc lif sif": """
        include
    """,
    "main http srv loc": """
        error_log
    """,
    "http": """
        access_by_lua_no_postpone charset_map exit_worker_by_lua_block
        exit_worker_by_lua_file fastcgi_cache_path geo http2_recv_buffer_size init_by_lua
        init_by_lua_block init_by_lua_file init_worker_by_lua init_worker_by_lua_block
        init_worker_by_lua_file limit_conn_zone limit_req_zone log_format
        lua_capture_error_log lua_load_resty_core lua_malloc_trim lua_max_pending_timers
        lua_max_running_timers lua_package_cpath lua_package_path
        lua_regex_cache_max_entries lua_regex_match_limit lua_sa_restart lua_shared_dict
        lua_thread_cache_max_entries lua_worker_thread_vm_pool_size map map_hash_bucket_size
        map_hash_max_size proxy_cache_path rewrite_by_lua_no_postpone scgi_cache_path server
        server_names_hash_bucket_size server_names_hash_max_size split_clients
        ssl_session_fetch_by_lua_block ssl_session_fetch_by_lua_file
        ssl_session_store_by_lua_block ssl_session_store_by_lua_file upstream
        uwsgi_cache_path variables_hash_bucket_size variables_hash_max_size
    """,
    "http srv": """
        client_header_buffer_size client_header_timeout connection_pool_size
        http2_body_preread_size http2_idle_timeout http2_max_concurrent_pushes
        http2_max_concurrent_streams http2_max_field_size http2_max_header_size
        http2_max_requests http2_pool_size http2_recv_timeout http2_streams_index_size
        ignore_invalid_headers large_client_header_buffers max_headers merge_slashes
        request_pool_size server_rewrite_by_lua_block server_rewrite_by_lua_file ssl
        ssl_buffer_size ssl_certificate ssl_certificate_by_lua_block
        ssl_certificate_by_lua_file ssl_certificate_key ssl_ciphers ssl_client_certificate
        ssl_client_hello_by_lua_block ssl_client_hello_by_lua_file ssl_conf_command ssl_crl
        ssl_dhparam ssl_early_data ssl_ecdh_curve ssl_ocsp ssl_ocsp_cache ssl_ocsp_responder
        ssl_password_file ssl_prefer_server_ciphers ssl_protocols ssl_reject_handshake
        ssl_session_cache ssl_session_ticket_key ssl_session_tickets ssl_session_timeout
        ssl_stapling ssl_stapling_file ssl_stapling_responder ssl_stapling_verify
        ssl_trusted_certificate ssl_verify_client ssl_verify_depth underscores_in_headers
        upstream_list
    """,
    "srv": """
        listen server_name
    """,
    "http srv loc": """
        absolute_redirect add_after_body add_before_body addition_types aio aio_write allow
        ancient_browser ancient_browser_value auth_basic auth_basic_user_file auth_delay
        auth_request auth_request_set autoindex autoindex_exact_size autoindex_format
        autoindex_localtime charset_types chunked_transfer_encoding client_body_buffer_size
        client_body_in_file_only client_body_in_single_buffer client_body_temp_path
        client_body_timeout client_max_body_size create_full_put_path dav_access dav_methods
        default_type deny directio directio_alignment disable_symlinks etag fastcgi_bind
        fastcgi_buffer_size fastcgi_buffering fastcgi_buffers fastcgi_busy_buffers_size
        fastcgi_cache fastcgi_cache_background_update fastcgi_cache_bypass fastcgi_cache_key
        fastcgi_cache_lock fastcgi_cache_lock_age fastcgi_cache_lock_timeout
        fastcgi_cache_max_range_offset fastcgi_cache_methods fastcgi_cache_min_uses
        fastcgi_cache_revalidate fastcgi_cache_use_stale fastcgi_cache_valid
        fastcgi_catch_stderr fastcgi_connect_timeout fastcgi_force_ranges
        fastcgi_hide_header fastcgi_ignore_client_abort fastcgi_ignore_headers fastcgi_index
        fastcgi_intercept_errors fastcgi_keep_conn fastcgi_limit_rate
        fastcgi_max_temp_file_size fastcgi_next_upstream fastcgi_next_upstream_timeout
        fastcgi_next_upstream_tries fastcgi_no_cache fastcgi_param fastcgi_pass_header
        fastcgi_pass_request_body fastcgi_pass_request_headers fastcgi_read_timeout
        fastcgi_request_buffering fastcgi_send_lowat fastcgi_send_timeout
        fastcgi_socket_keepalive fastcgi_split_path_info fastcgi_store fastcgi_store_access
        fastcgi_temp_file_write_size fastcgi_temp_path grpc_bind grpc_buffer_size
        grpc_connect_timeout grpc_hide_header grpc_ignore_headers grpc_intercept_errors
        grpc_next_upstream grpc_next_upstream_timeout grpc_next_upstream_tries
        grpc_pass_header grpc_read_timeout grpc_send_timeout grpc_set_header
        grpc_socket_keepalive grpc_ssl_certificate grpc_ssl_certificate_key grpc_ssl_ciphers
        grpc_ssl_conf_command grpc_ssl_crl grpc_ssl_name grpc_ssl_password_file
        grpc_ssl_protocols grpc_ssl_server_name grpc_ssl_session_reuse
        grpc_ssl_trusted_certificate grpc_ssl_verify grpc_ssl_verify_depth gunzip
        gunzip_buffers gzip_buffers gzip_comp_level gzip_disable gzip_hash gzip_http_version
        gzip_min_length gzip_no_buffer gzip_proxied gzip_static gzip_types gzip_vary
        gzip_window http2_chunk_size http2_push http2_push_preload if_modified_since index
        keepalive_disable keepalive_requests keepalive_time keepalive_timeout limit_conn
        limit_conn_dry_run limit_conn_log_level limit_conn_status limit_req
        limit_req_dry_run limit_req_log_level limit_req_status lingering_close
        lingering_time lingering_timeout log_not_found log_subrequest lua_ssl_ciphers
        lua_ssl_conf_command lua_ssl_crl lua_ssl_protocols lua_ssl_trusted_certificate
        lua_ssl_verify_depth max_ranges memcached_bind memcached_buffer_size
        memcached_connect_timeout memcached_gzip_flag memcached_next_upstream
        memcached_next_upstream_timeout memcached_next_upstream_tries memcached_read_timeout
        memcached_send_timeout memcached_socket_keepalive min_delete_depth mirror
        mirror_request_body modern_browser modern_browser_value mp4_buffer_size
        mp4_max_buffer_size mp4_start_key_frame msie_padding msie_refresh open_file_cache
        open_file_cache_errors open_file_cache_events open_file_cache_min_uses
        open_file_cache_valid open_log_file_cache output_buffers port_in_redirect
        postpone_gzipping postpone_output proxy_bind proxy_buffer_size proxy_buffering
        proxy_buffers proxy_busy_buffers_size proxy_cache proxy_cache_background_update
        proxy_cache_bypass proxy_cache_convert_head proxy_cache_key proxy_cache_lock
        proxy_cache_lock_age proxy_cache_lock_timeout proxy_cache_max_range_offset
        proxy_cache_methods proxy_cache_min_uses proxy_cache_revalidate
        proxy_cache_use_stale proxy_cache_valid proxy_connect_timeout proxy_cookie_domain
        proxy_cookie_flags proxy_cookie_path proxy_force_ranges
        proxy_headers_hash_bucket_size proxy_headers_hash_max_size proxy_hide_header
        proxy_http_version proxy_ignore_client_abort proxy_ignore_headers
        proxy_intercept_errors proxy_limit_rate proxy_max_temp_file_size proxy_method
        proxy_next_upstream proxy_next_upstream_timeout proxy_next_upstream_tries
        proxy_no_cache proxy_pass_header proxy_pass_request_body proxy_pass_request_headers
        proxy_read_timeout proxy_redirect proxy_request_buffering proxy_send_lowat
        proxy_send_timeout proxy_set_body proxy_set_header proxy_socket_keepalive
        proxy_ssl_certificate proxy_ssl_certificate_key proxy_ssl_ciphers
        proxy_ssl_conf_command proxy_ssl_crl proxy_ssl_name proxy_ssl_password_file
        proxy_ssl_protocols proxy_ssl_server_name proxy_ssl_session_reuse
        proxy_ssl_trusted_certificate proxy_ssl_verify proxy_ssl_verify_depth proxy_store
        proxy_store_access proxy_temp_file_write_size proxy_temp_path read_ahead
        real_ip_header real_ip_recursive recursive_error_pages reset_timedout_connection
        resolver resolver_timeout satisfy scgi_bind scgi_buffer_size scgi_buffering
        scgi_buffers scgi_busy_buffers_size scgi_cache scgi_cache_background_update
        scgi_cache_bypass scgi_cache_key scgi_cache_lock scgi_cache_lock_age
        scgi_cache_lock_timeout scgi_cache_max_range_offset scgi_cache_methods
        scgi_cache_min_uses scgi_cache_revalidate scgi_cache_use_stale scgi_cache_valid
        scgi_connect_timeout scgi_force_ranges scgi_hide_header scgi_ignore_client_abort
        scgi_ignore_headers scgi_intercept_errors scgi_limit_rate scgi_max_temp_file_size
        scgi_next_upstream scgi_next_upstream_timeout scgi_next_upstream_tries scgi_no_cache
        scgi_param scgi_pass_header scgi_pass_request_body scgi_pass_request_headers
        scgi_read_timeout scgi_request_buffering scgi_send_timeout scgi_socket_keepalive
        scgi_store scgi_store_access scgi_temp_file_write_size scgi_temp_path secure_link
        secure_link_md5 secure_link_secret send_lowat send_timeout sendfile_max_chunk
        server_name_in_redirect server_tokens set_real_ip_from slice
        ssi_ignore_recycled_buffers ssi_last_modified ssi_min_file_chunk ssi_silent_errors
        ssi_types ssi_value_length sub_filter sub_filter_last_modified sub_filter_once
        sub_filter_types subrequest_output_buffer_size tcp_nodelay tcp_nopush types
        types_hash_bucket_size types_hash_max_size userid userid_domain userid_expires
        userid_flags userid_mark userid_name userid_p3p userid_path userid_service
        uwsgi_bind uwsgi_buffer_size uwsgi_buffering uwsgi_buffers uwsgi_busy_buffers_size
        uwsgi_cache uwsgi_cache_background_update uwsgi_cache_bypass uwsgi_cache_key
        uwsgi_cache_lock uwsgi_cache_lock_age uwsgi_cache_lock_timeout
        uwsgi_cache_max_range_offset uwsgi_cache_methods uwsgi_cache_min_uses
        uwsgi_cache_revalidate uwsgi_cache_use_stale uwsgi_cache_valid uwsgi_connect_timeout
        uwsgi_force_ranges uwsgi_hide_header uwsgi_ignore_client_abort uwsgi_ignore_headers
        uwsgi_intercept_errors uwsgi_limit_rate uwsgi_max_temp_file_size uwsgi_modifier1
        uwsgi_modifier2 uwsgi_next_upstream uwsgi_next_upstream_timeout
        uwsgi_next_upstream_tries uwsgi_no_cache uwsgi_param uwsgi_pass_header
        uwsgi_pass_request_body uwsgi_pass_request_headers uwsgi_read_timeout
        uwsgi_request_buffering uwsgi_send_timeout uwsgi_socket_keepalive
        uwsgi_ssl_certificate uwsgi_ssl_certificate_key uwsgi_ssl_ciphers
        uwsgi_ssl_conf_command uwsgi_ssl_crl uwsgi_ssl_name uwsgi_ssl_password_file
        uwsgi_ssl_protocols uwsgi_ssl_server_name uwsgi_ssl_session_reuse
        uwsgi_ssl_trusted_certificate uwsgi_ssl_verify uwsgi_ssl_verify_depth uwsgi_store
        uwsgi_store_access uwsgi_string uwsgi_temp_file_write_size uwsgi_temp_path
    """,
    "http srv loc lif": """
        access_by_lua access_by_lua_block access_by_lua_file access_log add_header
        add_trailer body_filter_by_lua body_filter_by_lua_block body_filter_by_lua_file
        charset error_page expires gzip header_filter_by_lua header_filter_by_lua_block
        header_filter_by_lua_file limit_rate limit_rate_after log_by_lua log_by_lua_block
        log_by_lua_file lua_check_client_abort lua_code_cache lua_http10_buffering
        lua_need_request_body lua_socket_buffer_size lua_socket_connect_timeout
        lua_socket_keepalive_timeout lua_socket_log_errors lua_socket_pool_size
        lua_socket_read_timeout lua_socket_send_lowat lua_socket_send_timeout
        lua_transform_underscores_in_response_headers lua_use_default_type override_charset
        post_action rewrite_by_lua rewrite_by_lua_block rewrite_by_lua_file root sendfile
        source_charset ssi
    """,
    "http srv loc lif sif": """
        rewrite_log uninitialized_variable_warn
    """,
    "srv loc": """
        if location referer_hash_bucket_size referer_hash_max_size stub_status try_files
        valid_referers
    """,
    "srv loc lif sif": """
        break return rewrite set set_by_lua set_by_lua_block set_by_lua_file
    """,
    "loc": """
        alias empty_gif flv internal limit_except mp4 random_index
    """,
    "loc lif": """
        content_by_lua content_by_lua_block content_by_lua_file echo echo_abort_parent
        echo_after_body echo_before_body echo_blocking_sleep echo_duplicate echo_end
        echo_exec echo_flush echo_foreach_split echo_location echo_location_async
        echo_read_request_body echo_request_body echo_reset_timer echo_sleep echo_status
        echo_subrequest echo_subrequest_async fastcgi_pass grpc_pass memcached_pass
        proxy_pass scgi_pass uwsgi_pass
    """,
    "": """
        balancer_by_lua_block balancer_by_lua_file hash ip_hash keepalive least_conn random
        zone
    """,
}

_KNOWN = {name: frozenset(ctxs.split()) for ctxs, names in _CONTEXT_TABLE.items()
          for name in names.split()}

_BLOCKS = frozenset(
    "charset_map events geo http if limit_except location map server split_clients types "
    "upstream".split()) | {n for n in _KNOWN if n.endswith("_by_lua_block")}

_LUA_PHASES = ("rewrite", "access", "content")
_LUA_HANDLERS = {f"{p}_by_lua{b}": p for p in _LUA_PHASES for b in ("", "_block")}
_FLAGS = ("lua_check_client_abort lua_need_request_body lua_http10_buffering "
          "rewrite_by_lua_no_postpone access_by_lua_no_postpone").split()
_NUMBERS = "lua_thread_cache_max_entries lua_max_pending_timers lua_max_running_timers".split()
_SIZES = ["postpone_output"]
_ECHO = {n for n in _KNOWN if n.startswith("echo")}
# echo directives that are output filters, not content handlers
_ECHO_FILTERS = {"echo_before_body", "echo_after_body", "echo_status"}

DEFAULT_SETTINGS = {
    # location-level (http, server, location; inherited inwards)
    "lua_check_client_abort": False,
    "lua_need_request_body": False,
    "lua_http10_buffering": True,
    "postpone_output": 1460,
    "satisfy": "all",
    # http-level (ngx_http_lua_main_conf_t)
    "lua_thread_cache_max_entries": 1024,
    "lua_max_pending_timers": 1024,
    "lua_max_running_timers": 256,
    "rewrite_by_lua_no_postpone": False,
    "access_by_lua_no_postpone": False,
}

# Directives kept in Location.directives / Server.directives for the model to run.
_KEPT = _ECHO | {"return", "rewrite", "break", "set", "internal", "proxy_pass", "if"}
_MODELLED = (_KEPT | set(_LUA_HANDLERS) | set(DEFAULT_SETTINGS)
             | {"http", "events", "server", "location", "listen", "error_log"})

# Valid nginx that does not change how Lua is scheduled: accepted, arguments not checked.
_IGNORED = frozenset("""
    daemon master_process pid user load_module env include lock_file pcre_jit thread_pool
    timer_resolution working_directory debug_points ssl_engine
    use multi_accept accept_mutex accept_mutex_delay epoll_events debug_connection
    types default_type access_log log_format open_log_file_cache log_not_found log_subrequest
    rewrite_log uninitialized_variable_warn sendfile sendfile_max_chunk tcp_nopush tcp_nodelay
    aio aio_write directio directio_alignment read_ahead output_buffers send_timeout send_lowat
    reset_timedout_connection connection_pool_size request_pool_size large_client_header_buffers
    server_name server_name_in_redirect port_in_redirect absolute_redirect server_tokens
    root alias index charset charset_types source_charset override_charset etag
    if_modified_since msie_padding msie_refresh ignore_invalid_headers underscores_in_headers
    merge_slashes disable_symlinks resolver resolver_timeout add_header add_trailer expires
    chunked_transfer_encoding max_ranges subrequest_output_buffer_size ssl
    set_real_ip_from real_ip_header real_ip_recursive
    lua_package_path lua_package_cpath lua_code_cache lua_shared_dict
    lua_regex_cache_max_entries lua_regex_match_limit lua_use_default_type lua_sa_restart
    lua_transform_underscores_in_response_headers lua_malloc_trim lua_load_resty_core
    lua_worker_thread_vm_pool_size
    proxy_set_header proxy_http_version proxy_connect_timeout proxy_read_timeout
    proxy_send_timeout proxy_hide_header proxy_pass_header proxy_redirect proxy_buffering
    proxy_buffer_size proxy_buffers proxy_busy_buffers_size proxy_temp_path
    proxy_max_temp_file_size proxy_temp_file_write_size proxy_socket_keepalive proxy_bind
""".split())
_IGNORED_PREFIXES = ("worker_", "client_", "keepalive", "lingering_", "gzip", "gunzip",
                     "http2_", "ssl_", "proxy_ssl_", "proxy_cookie_", "lua_socket_", "lua_ssl_",
                     "open_file_cache")


def _category(name: str) -> str:
    """"modelled", "ignored" or "not modelled" for a name nginx knows."""
    if name in _MODELLED:
        return "modelled"
    if "_by_lua" in name:
        return "not modelled"
    if name in _IGNORED or "_hash_" in name or name.startswith(_IGNORED_PREFIXES):
        return "ignored"
    return "not modelled"


def _nargs_table(spec: dict) -> dict:
    return {name: n for n, names in spec.items() for name in names.split()}


# (min, max) arguments, max None = any number; read from nginx -t. Lua block sources not counted.
_NARGS = _nargs_table({
    (0, 0): "http events server break internal echo_abort_parent echo_end echo_flush "
            "echo_read_request_body echo_request_body echo_reset_timer "
            "rewrite_by_lua_block access_by_lua_block content_by_lua_block",
    (1, 1): "rewrite_by_lua access_by_lua content_by_lua proxy_pass satisfy echo_sleep "
            "echo_blocking_sleep echo_status " + " ".join(_FLAGS + _NUMBERS + _SIZES),
    (1, 2): "location return echo_exec echo_location echo_location_async",
    (2, 2): "set",
    (2, 3): "rewrite",
    (1, None): "if listen error_log",
    (2, None): "echo_duplicate echo_foreach_split echo_subrequest echo_subrequest_async",
    (0, None): "echo echo_before_body echo_after_body",
})

# How a block directive changes the context (ngx_conf_t cmd_type); "skip": not looked into.
_INNER = {("main", "events"): "events", ("main", "http"): "http", ("http", "server"): "srv",
          ("srv", "location"): "loc", ("loc", "location"): "loc", ("srv", "if"): "sif",
          ("loc", "if"): "lif"}


# ---------------------------------------------------------------------------------------------
# Regexes: nginx compiles PCRE2 (src/core/ngx_regex.c ngx_regex_compile); the model uses re.
# ---------------------------------------------------------------------------------------------

class _RegexError(Exception):
    def __init__(self, message: str, nginx: bool):
        super().__init__(message)
        self.message, self.nginx = message, nginx


_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "xdigit": "0-9A-Fa-f", "space": r" \t\n\r\f\v", "blank": r" \t", "word": r"\w",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
# PCRE escapes with no equivalent (or another meaning, like \v) in Python's re
_PCRE_ONLY_ESCAPES = set("cCeEgGhHkKlLNopPQRuUvVX")
# group openings both understand
_GROUP_OK = re.compile(r"""\(\?(?: [:=!#>] | <[=!] | P[<=] | [imsx]*(?:-[imsx]*)?[:)]
                                | \((?:\d+|[A-Za-z_]\w*)\) )""", re.VERBOSE)
# Python re's messages for the common PCRE2 errors, and whether nginx adds ' at "<rest>"'
_PCRE_MESSAGES = {
    "missing ), unterminated subpattern": ("missing closing parenthesis", False),
    "unbalanced parenthesis": ("unmatched closing parenthesis", True),
    "nothing to repeat": ("quantifier does not follow a repeatable item", True),
    "multiple repeat": ("quantifier does not follow a repeatable item", True),
    "unterminated character set": ("missing terminating ] for character class", False),
}


def _pcre_compile(pattern: str, caseless: bool = False) -> re.Pattern:
    """A Python ``re`` pattern that matches like PCRE2 does for nginx (unanchored search,
    ASCII classes). Rewrites the trivial differences (``(?<name>``, ``\\z``, ``\\Z``, POSIX
    classes, ``{,n}``) and raises ``_RegexError`` for PCRE-only syntax or a bad pattern."""
    out, origin = [], []                      # converted pieces, where each starts in pattern

    def emit(piece: str, at: int):
        out.append(piece)
        origin.append(at)

    def unsupported(what: str):
        raise _RegexError(f'ngxcoro cannot run the PCRE regex "{pattern}": "{what}" has no '
                          f'Python re equivalent', nginx=False)

    i, n, in_class, class_start = 0, len(pattern), False, 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt == "x" and not re.match(r"[0-9a-fA-F]{2}", pattern[i + 2:i + 4]):
                unsupported(pattern[i:i + 3])
            if nxt in _PCRE_ONLY_ESCAPES:
                unsupported("\\" + nxt)
            if nxt == "z":
                emit(r"\Z", i)
            elif nxt == "Z" and not in_class:
                emit(r"(?=\n?\Z)", i)
            else:
                emit(pattern[i:i + 2], i)
            i += 2
            continue
        if in_class:
            posix = re.match(r"\[:(\^?)(\w+):\]", pattern[i:])
            if posix:
                if posix.group(1) or posix.group(2) not in _POSIX_CLASSES:
                    unsupported(posix.group())
                emit(_POSIX_CLASSES[posix.group(2)], i)
                i += posix.end()
                continue
            if c == "]" and i > class_start:
                in_class = False
                emit(c, i)
            else:                                   # literals for PCRE, sets for Python
                emit("\\" + c if c in "[]&~|" else c, i)
        elif c == "[":
            j = i + 2 if pattern[i + 1:i + 2] == "^" else i + 1
            emit(pattern[i:j], i)
            in_class, class_start, i = True, j, j
            continue
        elif c == "(" and pattern.startswith("(*", i):
            unsupported("(*")
        elif c == "(" and pattern.startswith("(?", i):
            named = re.match(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')", pattern[i:])
            if named:
                emit(f"(?P<{named.group(1) or named.group(2)}>", i)
                i += named.end()
                continue
            if not _GROUP_OK.match(pattern, i):
                unsupported(pattern[i:i + 3])
            emit(c, i)
        elif c == "{" and pattern.startswith("{,", i):
            emit(r"\{", i)                          # a literal for PCRE2 10.42
        else:
            emit(c, i)
        i += 1
    python = "".join(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(python, re.ASCII | (re.IGNORECASE if caseless else 0))
    except re.error as e:
        known = _PCRE_MESSAGES.get(e.msg)
        if known is None:
            raise _RegexError(f'ngxcoro cannot compile the regex "{pattern}": {e.msg}',
                              nginx=False) from None
        at = len(pattern)
        if e.pos is not None:                   # back to an offset in the PCRE pattern
            ends = list(accumulate(map(len, out)))
            at = next((origin[k] for k, end in enumerate(ends) if end > e.pos), at)
        text, with_at = known
        where = f' at "{pattern[at:]}"' if with_at and at < len(pattern) else ""
        raise _RegexError(f'pcre2_compile() failed: {text} in "{pattern}"{where}',
                          nginx=True) from None


# ---------------------------------------------------------------------------------------------
# Checking: src/core/ngx_conf_file.c ngx_conf_handler, then each directive's handler
# ---------------------------------------------------------------------------------------------

_LOG_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
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


def _log_level(args: list) -> str:
    """src/core/ngx_log.c ngx_log_set_levels: the level of ``error_log FILE [LEVEL...]``."""
    level, debug = None, False
    for a in args[1:]:
        if a in _LOG_LEVELS:
            if level or debug:
                raise ValueError(f'duplicate log level "{a}"')
            level = a
        elif a in _DEBUG_LEVELS and not level:
            debug = True
        else:
            raise ValueError(f'invalid log level "{a}"')
    return "debug" if debug else level or "error"


def _parse_size(value: str) -> Optional[int]:
    """src/core/ngx_parse.c ngx_parse_size: digits and an optional k, m or g."""
    m = re.fullmatch(r"([0-9]+)([kKmMgG]?)", value)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


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


def _location_name(args: list):
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


class _Loader:
    """Checks each directive when ``_parse_block`` reads it, in nginx's order: a known name
    (``unknown directive``), allowed in this context (``is not allowed here``), ``;`` or ``{``
    as it should be, modelled by ngxcoro, the number of arguments, then its own handler."""

    def __init__(self, filename: str, root: str):
        self.filename, self.root = filename, root
        self.seen = set()           # (enclosing block, key) already set there: "is duplicate"

    def error(self, message: str, line: Optional[int], **kw) -> ConfigError:
        return ConfigError(message, self.filename, line, **kw)

    def context(self, parents: list) -> str:
        ctx = self.root
        for p in parents:
            ctx = "skip" if ctx == "skip" or p.name == "types" else _INNER[(ctx, p.name)]
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
        if name not in _KNOWN:
            raise self.error(f'unknown directive "{name}"', line)
        if ctx not in _KNOWN[name]:
            raise self.error(f'"{name}" directive is not allowed here', line)
        if name in _BLOCKS and rc != _BLOCK_START:
            raise self.error(f'directive "{name}" has no opening "{{"', line)
        if name not in _BLOCKS and rc != _OK:
            raise self.error(f'directive "{name}" is not terminated by ";"', line)
        category = _category(name)
        if category == "ignored":
            return
        if category == "not modelled":
            raise self.error(f'directive "{name}" is valid nginx but is not modelled by ngxcoro',
                             line, nginx=False)
        low, high = _NARGS[name]
        if len(d.args) < low or (high is not None and len(d.args) > high):
            raise self.error(f'invalid number of arguments in "{name}" directive', line)
        try:
            self.handle(d, parents, ctx)
        except ValueError as e:
            raise self.error(str(e), line) from None
        except _RegexError as e:
            raise self.error(e.message, line, nginx=e.nginx) from None

    def lua_block_done(self, d: Directive, parents: list, line: int):
        """The ``*_by_lua_block`` handler, called once the Lua text is read (so its errors
        name the line of the closing ``}``); ngx_lua logs its bare message here."""
        if d.name in _LUA_HANDLERS and self.context(parents) != "skip":
            self.lua_handler(d, parents, line, nginx_message="is duplicate")

    def lua_handler(self, d: Directive, parents: list, line: int, nginx_message: str = ""):
        """src/ngx_http_lua_directive.c ngx_http_lua_{rewrite,access,content}_by_lua."""
        self.once(parents, _LUA_HANDLERS[d.name], line, f'"{d.name}" directive is duplicate',
                  nginx_message)
        if d.args[-1] == "":
            raise self.error("invalid location config: no runnable Lua code", line,
                             level="error")

    def handle(self, d: Directive, parents: list, ctx: str):
        """The directive's own handler (``cmd->set``): raises ValueError(nginx's words)."""
        name, args = d.name, d.args
        parent = parents[-1] if parents else None
        duplicate = f'"{name}" directive is duplicate'
        numbers = _NUMBERS + ["echo_status"]
        if name in ("http", "events", "internal", "proxy_pass", "satisfy") or name in _FLAGS \
                or name in numbers or name in _SIZES:
            self.once(parents, name, d.line, duplicate)
        if name in _LUA_HANDLERS and not name.endswith("_block"):
            self.lua_handler(d, parents, d.line)
        elif name in _FLAGS and args[0].lower() not in ("on", "off"):
            raise ValueError(f'invalid value "{args[0]}" in "{name}" directive, it must be "on" '
                             f'or "off"')
        elif name in numbers and not re.fullmatch(r"[0-9]+", args[0]):
            raise ValueError(f'"{name}" directive invalid number')
        elif name in _SIZES and _parse_size(args[0]) is None:
            raise ValueError(f'"{name}" directive invalid value')
        elif name == "satisfy" and args[0].lower() not in ("all", "any"):
            raise ValueError(f'invalid value "{args[0]}"')
        elif name == "error_log":
            _log_level(args)
        elif name == "listen":
            for a in args[1:]:
                if a not in _LISTEN_FLAGS and not a.startswith(_LISTEN_VALUES):
                    raise ValueError(f'invalid parameter "{a}"')
        elif name in _ECHO:
            for a in args:
                _check_script(a)
        elif name == "location":
            self.location(args, parent)
        elif name == "if":
            regex = _if_condition(args)
            if regex:
                _pcre_compile(*regex)
        elif name == "rewrite":
            _pcre_compile(args[0])
            _check_script(args[1])
            if len(args) == 3 and args[2] not in _REWRITE_FLAGS:
                raise ValueError(f'invalid parameter "{args[2]}"')
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
            noname = ctx == "lif" or _location_name(parent.args)[0] in ("~", "~*", "@")
            if "/" in url[len(prefix):] and noname:
                raise ValueError(_PROXY_URI_PART)

    def location(self, args: list, parent: Optional[Directive]):
        """src/http/ngx_http_core_module.c ngx_http_core_location: modifier, regex, nesting."""
        modifier, name = _location_name(args)
        if modifier in ("~", "~*"):
            _pcre_compile(name, modifier == "~*")
        if parent is None or parent.name != "location":
            return
        pmodifier, pname = _location_name(parent.args)
        if pmodifier == "=":
            raise ValueError(f'location "{name}" cannot be inside the exact location "{pname}"')
        if pmodifier == "@":
            raise ValueError(f'location "{name}" cannot be inside the named location "{pname}"')
        if modifier == "@":
            raise ValueError(f'named location "{name}" can be on the server level only')
        if modifier not in ("~", "~*") and not name.startswith(pname):
            raise ValueError(f'location "{name}" is outside location "{pname}"')


class _TopLevel:
    """A parse handler that only notes the top-level directive names."""

    def __init__(self):
        self.names = []

    def directive(self, d, parents, rc):
        if not parents:
            self.names.append(d.name)

    def lua_block_done(self, d, parents, line):
        pass


# ---------------------------------------------------------------------------------------------
# Building the model's objects from a checked tree
# ---------------------------------------------------------------------------------------------

def lua_chunk(d: Directive, filename: str = "nginx.conf") -> LuaChunk:
    """The ``LuaChunk`` of a ``{rewrite,access,content}_by_lua[_block]`` directive
    (src/ngx_http_lua_directive.c ngx_http_lua_gen_chunk_name and the ``*_by_lua`` handlers);
    the naming and line rules are in the module docstring."""
    phase = _LUA_HANDLERS[d.name]
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


def _settings(block: list, inherited: dict) -> dict:
    out = dict(inherited)
    for d in block:
        if d.name in _FLAGS:
            out[d.name] = d.args[0].lower() == "on"
        elif d.name in _NUMBERS:
            out[d.name] = int(d.args[0])
        elif d.name in _SIZES:
            out[d.name] = _parse_size(d.args[0])
        elif d.name == "satisfy":
            out[d.name] = d.args[0].lower()
        elif d.name == "root":
            out[d.name] = d.args[0]
    return out


def _error_log_level(block: list, inherited: str) -> str:
    """The most verbose level of this block's ``error_log`` lines, else the enclosing one's."""
    levels = [_log_level(d.args) for d in block if d.name == "error_log"]
    return max(levels, key=_LOG_LEVELS.index) if levels else inherited


class _Builder:
    def __init__(self, filename: str, compile_lua: Optional[Callable]):
        self.filename, self.compile_lua = filename, compile_lua

    def server(self, block: list, line: int, settings: dict, level: str) -> Server:
        s = Server(line, settings=_settings(block, settings),
                   error_log_level=_error_log_level(block, level))
        for d in block:
            if d.name == "listen":
                s.listen.append(list(d.args))
            elif d.name == "server_name" and d.args and not s.server_name:
                s.server_name = d.args[0]
            elif d.name == "location":
                s.locations.append(self.location(d, s.settings, s.error_log_level))
            elif d.name in _KEPT:
                s.directives.append(d)
        return s

    def location(self, d: Directive, settings: dict, level: str) -> Location:
        modifier, pattern = _location_name(d.args)
        loc = Location(modifier, pattern, d.line, settings=_settings(d.block, settings),
                       error_log_level=_error_log_level(d.block, level))
        if modifier in ("~", "~*"):
            loc.regex = _pcre_compile(pattern, modifier == "~*")
        for c in d.block:
            if c.name in _LUA_HANDLERS:
                chunk = lua_chunk(c, self.filename)
                if self.compile_lua:
                    chunk = replace(chunk, load_error=lua_load_error(chunk, self.compile_lua))
                setattr(loc, chunk.phase + "_by_lua", chunk)
                if chunk.phase == "content":
                    loc.content_handler = c.name
            elif c.name == "location":
                loc.locations.append(self.location(c, loc.settings, loc.error_log_level))
            elif c.name in _KEPT:
                loc.directives.append(c)
                loc.internal = loc.internal or c.name == "internal"
                if c.name == "proxy_pass" or (c.name in _ECHO and c.name not in _ECHO_FILTERS):
                    loc.content_handler = c.name
        return loc


def _check_duplicate_locations(locations: list, filename: str):
    """src/http/ngx_http.c ngx_http_init_static_location_trees and
    ngx_http_join_exact_locations: two exact, or two prefix (``^~`` or not), locations with
    the same name; nested levels first, names in sorted order, the later one is named."""
    for loc in sorted(locations, key=lambda l: l.pattern):
        _check_duplicate_locations(loc.locations, filename)
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


# ---------------------------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------------------------

def _kind(text: str, filename: str) -> str:
    """A top-level http or events block: a whole nginx.conf; top-level server blocks: the
    inside of http; otherwise the inside of one server block."""
    top = _TopLevel()
    try:
        parse(text, filename, _handler=top)
    except ConfigError:
        pass                                # reported by the real parse, in nginx's order
    if "http" in top.names or "events" in top.names:
        return "main"
    return "http" if "server" in top.names else "server"


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
    tree = parse(text, filename, _handler=_Loader(filename, root))
    main = tree if kind == "main" else []
    http = (next((d.block for d in tree if d.name == "http"), []) if kind == "main"
            else tree if kind == "http" else [])
    level = _error_log_level(http, _error_log_level(main, "error"))
    config = Config(kind, filename, settings=_settings(http, DEFAULT_SETTINGS),
                    error_log_level=level)
    builder = _Builder(filename, compile_lua)
    blocks = [(tree, 0)] if kind == "server" else [(d.block, d.line) for d in http
                                                   if d.name == "server"]
    for block, line in blocks:
        server = builder.server(block, line, config.settings, level)
        _check_duplicate_locations(server.locations, filename)
        config.servers.append(server)
    if config.servers:
        config.error_log_level = config.servers[0].error_log_level
    if kind == "main" and "events" not in (d.name for d in tree):
        raise ConfigError('no "events" section in configuration', filename)
    return config
