"""The directive tables: what the modules' ``ngx_command_t`` arrays say about each name.
Stands for the ``ngx_command_t`` tables of nginx 1.22.1's core and http modules
(src/core/nginx.c, src/event/ngx_event.c, src/http/ngx_http_core_module.c,
src/http/modules/ngx_http_rewrite_module.c, ngx_http_proxy_module.c, ...), of
lua-nginx-module 0.10.23 (src/ngx_http_lua_module.c ``ngx_http_lua_cmds``), ndk and echo
(src/ngx_http_echo_module.c): in which contexts a name is allowed (``cmd->type``'s
``NGX_*_CONF`` bits), whether it opens a block (``NGX_CONF_BLOCK``), how many arguments it
takes (``NGX_CONF_TAKE*``), and how a block changes the context. Also which names the
model runs, which are inert (accepted and listed, no effect on what it simulates) and which
it refuses, and the defaults of the settings it uses. Argument counts and value slots are
in ``slots``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_SETTINGS"]


# ---------------------------------------------------------------------------------------------
# Directives: every name nginx 1.22.1 knows here (core and http modules of the Debian build,
# ndk, lua 0.10.23, echo), keyed by the contexts it is allowed in. Contexts are nginx's:
# main, events, http, srv, loc, lif (if in location), sif (if in server); ups = only inside
# upstream {}, which is not modelled (its block is not looked into). Read from nginx -t by trying each name in each context.
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
        more_clear_headers more_clear_input_headers more_set_headers more_set_input_headers
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
    "ups": """
        balancer_by_lua_block balancer_by_lua_file hash ip_hash keepalive least_conn random
        zone
    """,
}

KNOWN = {name: frozenset(ctxs.split()) for ctxs, names in _CONTEXT_TABLE.items()
          for name in names.split()}

BLOCKS = frozenset(
    "charset_map events geo http if limit_except location map server split_clients types "
    "upstream".split()) | {n for n in KNOWN if n.endswith("_by_lua_block")}

_LUA_PHASES = ("rewrite", "access", "content", "log", "header_filter", "body_filter")
LUA_HANDLERS = {f"{p}_by_lua{b}": p for p in _LUA_PHASES for b in ("", "_block")}
# the http-level handlers run once, not per request (ngx_lua/initby.py, initworkerby.py);
# their *_file forms stay refused
LUA_INIT = {f"{p}_by_lua{b}": p for p in ("init", "init_worker") for b in ("", "_block")}
# the handlers allowed at http and server level too, inherited inwards (their effective
# LuaChunk is kept in the settings, under "<phase>_by_lua")
LUA_INHERITED = ("log", "header_filter", "body_filter")
FLAGS = ("lua_check_client_abort lua_need_request_body lua_http10_buffering "
         "rewrite_by_lua_no_postpone access_by_lua_no_postpone "
         "chunked_transfer_encoding log_not_found "
         "lua_transform_underscores_in_response_headers").split()
NUMBERS = ("lua_thread_cache_max_entries lua_max_pending_timers lua_max_running_timers "
           "lua_regex_match_limit").split()
SIZES = ["postpone_output"]
# modelled request-body directives whose values the generic slots check (slots.py)
BODY_SLOTS = ("client_body_buffer_size", "client_max_body_size", "client_body_in_file_only")
# ... and the cosockets' (ngx_lua/socket_tcp.py), with the server side's keep-alive
SOCKET_SLOTS = ("lua_socket_connect_timeout", "lua_socket_send_timeout", "lua_socket_read_timeout",
                "lua_socket_keepalive_timeout", "lua_socket_buffer_size", "lua_socket_pool_size",
                "lua_socket_log_errors", "keepalive_timeout", "keepalive_requests")
ECHO = {n for n in KNOWN if n.startswith("echo")}
# echo directives that are output filters, not content handlers
ECHO_FILTERS = {"echo_before_body", "echo_after_body", "echo_status"}

DEFAULT_SETTINGS = {
    # location-level (http, server, location; inherited inwards)
    "lua_check_client_abort": False,
    "chunked_transfer_encoding": True,
    "log_not_found": True,
    "lua_need_request_body": False,
    "lua_http10_buffering": True,
    "postpone_output": 1460,
    "client_body_buffer_size": 8192,   # two pages on x86-64
    "client_max_body_size": 1 << 20,
    "client_body_in_file_only": "off",
    "client_body_timeout": 60000,   # ms: a body that stops coming (nginx/body.py)
    "lingering_timeout": 5000,      # ms: the read timer of a discard that waits
    "satisfy": "all",
    "server_tokens": "on",
    "default_type": "text/plain",
    "charset": "off",
    "lua_transform_underscores_in_response_headers": True,
    "proxy_http_version": "1.0",
    "expires": "off",               # the headers filter (nginx/headers.py)
    "add_headers": (),              # add_header: (name, value, always) in order
    "add_trailers": (),             # add_trailer: likewise
    "access_rules": (),             # allow / deny, as (deny?, network) in order
    "error_pages": {},              # status -> (line, overwrite, uri) of its error_page
    "more_headers": (),             # headers-more: (name, args, line) in order
    # the cosockets (ngx_lua/socket_tcp.py): ms, bytes, connections, flag
    "lua_socket_connect_timeout": 60000,
    "lua_socket_send_timeout": 60000,
    "lua_socket_read_timeout": 60000,
    "lua_socket_keepalive_timeout": 60000,
    "lua_socket_buffer_size": 4096,
    "lua_socket_pool_size": 30,
    "lua_socket_log_errors": True,
    # the server side of a cosocket to this server: 0, as the oracle's config sets it
    "keepalive_timeout": 0,
    "keepalive_requests": 1000,
    # http-level (ngx_http_lua_main_conf_t)
    "lua_thread_cache_max_entries": 1024,
    "lua_max_pending_timers": 1024,
    "lua_max_running_timers": 256,
    "lua_regex_match_limit": 0,     # 0: PCRE's own default (ngx_lua/regex.py)
    "rewrite_by_lua_no_postpone": False,
    "access_by_lua_no_postpone": False,
}

# Directives kept in Location.directives / Server.directives for the model to run.
KEPT = ECHO | {"return", "rewrite", "break", "set", "internal", "proxy_pass", "if"}
ACCESS = ("allow", "deny")
# error_page: a special response whose status it names goes to its page (error_pages)
_MODELLED = (KEPT | set(ACCESS) | {"error_page"} | set(LUA_HANDLERS) | set(LUA_INIT)
             | set(DEFAULT_SETTINGS)
             | {"http", "events", "server", "location", "listen", "error_log", "root",
                "server_name", "lua_shared_dict", "add_header", "add_trailer"})

# Valid nginx that changes what a request gets (the answer, the error log, the order of
# events) in a way the model cannot simulate: refused with one line naming it. Besides
# these: every *_by_lua* the model does not run, and the rewrite directives where the model
# does not run them (see category). Every other name nginx knows is inert: it does not
# change what the model simulates (temp paths, timeouts, buffers, logging, headers only,
# settings of modules that are not in use, ...).
_NOT_MODELLED = frozenset("""
    alias auth_basic auth_request auth_request_set try_files
    limit_rate limit_rate_after limit_req limit_conn limit_except post_action mirror ssi
    sub_filter add_before_body add_after_body source_charset map geo split_clients
    valid_referers secure_link secure_link_md5 secure_link_secret modern_browser
    ancient_browser slice dav_methods empty_gif flv mp4 stub_status random_index
    fastcgi_pass grpc_pass memcached_pass scgi_pass uwsgi_pass proxy_method proxy_set_body
    proxy_pass_request_body proxy_pass_request_headers proxy_intercept_errors proxy_cache
    proxy_store proxy_limit_rate if rewrite break more_set_input_headers
    more_clear_input_headers
""".split())

# Inert directives whose value (any case) changes the answer: server_tokens changes the
# error pages' "nginx/1.22.1", chunked_transfer_encoding off the framing of a response
# that is cut short, log_not_found off and rewrite_log on the error log, merge_slashes off
# the URI, autoindex on a directory's answer.
_NOT_MODELLED_VALUES = {"rewrite_log": ("on",),
                        "merge_slashes": ("off",), "autoindex": ("on",)}

# Files of a Debian install that an `include` may name without changing what the model
# simulates: mime.types (a types {} block), the *_params files (only read by *_pass), the
# modules-enabled/*.conf that load ndk, lua and echo (the model has them), and the
# conf.d/*.conf and sites-enabled/* of a stock install (empty; the default site on port 80).
# The model reads none of them; any other include is not modelled.
_STOCK_INCLUDES = ("mime.types", "fastcgi_params", "fastcgi.conf", "scgi_params", "uwsgi_params",
                   "proxy_params", "snippets/fastcgi-php.conf", "snippets/snakeoil.conf",
                   "modules-enabled/*.conf", "conf.d/*.conf", "sites-enabled/*")


def stock_include(path: str) -> bool:
    """Whether ``include path`` names one of the stock files above (relative to /etc/nginx,
    the conf prefix of Debian's build, or absolute under it)."""
    rel = path[len("/etc/nginx/"):] if path.startswith("/etc/nginx/") else path
    return rel in _STOCK_INCLUDES


def category(name: str, ctx: str = "", args=()) -> str:
    """"modelled", "inert" or "not modelled" for a name nginx knows, in context ``ctx``
    with arguments ``args``."""
    if name in ("set", "return") and ctx in ("srv", "sif"):
        return "not modelled"       # server-level rewrite directives are not run
    if name in _NOT_MODELLED or ("_by_lua" in name and name not in _MODELLED):
        return "not modelled"
    if name in _MODELLED:
        return "modelled"
    if name == "include":
        return "inert" if args and stock_include(args[0]) else "not modelled"
    if args and args[0].lower() in _NOT_MODELLED_VALUES.get(name, ()):
        return "not modelled"
    return "inert"


# How a block directive changes the context (ngx_conf_t cmd_type); any other block (types,
# map, geo, upstream, limit_except, ...) is "skip": not looked into.
INNER = {("main", "events"): "events", ("main", "http"): "http", ("http", "server"): "srv",
          ("srv", "location"): "loc", ("loc", "location"): "loc", ("srv", "if"): "sif",
          ("loc", "if"): "lif"}

