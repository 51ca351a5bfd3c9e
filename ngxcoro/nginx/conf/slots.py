"""The argument counts and values of every directive: src/core/ngx_conf_file.c
``ngx_conf_handler`` (``argument_number``: the ``NGX_CONF_NOARGS``, ``TAKE1``..``TAKE7``,
``1MORE``, ``2MORE``, ``ANY`` bits of ``cmd->type``) and the generic handlers
``ngx_conf_set_flag_slot``, ``ngx_conf_set_num_slot``, ``ngx_conf_set_size_slot``,
``ngx_conf_set_off_slot``, ``ngx_conf_set_msec_slot``, ``ngx_conf_set_sec_slot`` with
src/core/ngx_parse.c (``ngx_parse_size``, ``ngx_parse_offset``, ``ngx_parse_time``).

The two tables were read from the installed nginx 1.22.1 (Debian's nginx-light with ndk,
lua 0.10.23 and echo) by ``tests/probe_directives.py``, which runs ``nginx -t`` on each
name with 0..8 arguments and, for one-argument names, with sample values; nothing in them is
guessed. ``_ARGS_TABLE`` keys are the accepted counts ("12": one or two, "1MORE": one or
more; a ``*_by_lua_block``'s Lua text is not counted). ``_VALUE_TABLE`` keys are the slot a
one-argument directive is read by (flag, number, size, offset, msec, sec), ``!`` when the
slot refuses a second setting in the same block (``is duplicate``); a name is listed only
when ``slot_value_ok`` accepts exactly the sample values nginx accepted.
"""

from __future__ import annotations

__all__ = ["nargs_ok", "value_kind", "slot_value_ok", "slot_error", "parse_time"]


_ARGS_TABLE = {
    "0": """
        access_by_lua_block balancer_by_lua_block body_filter_by_lua_block break
        content_by_lua_block echo_abort_parent echo_end echo_flush
        echo_read_request_body echo_request_body echo_reset_timer empty_gif events
        exit_worker_by_lua_block flv header_filter_by_lua_block http init_by_lua_block
        init_worker_by_lua_block internal ip_hash least_conn log_by_lua_block mp4
        rewrite_by_lua_block server server_rewrite_by_lua_block
        ssl_certificate_by_lua_block ssl_client_hello_by_lua_block
        ssl_session_fetch_by_lua_block ssl_session_store_by_lua_block types
    """,
    "01": """
        stub_status
    """,
    "012": """
        random
    """,
    "1": """
        absolute_redirect accept_mutex accept_mutex_delay access_by_lua
        access_by_lua_file access_by_lua_no_postpone add_after_body add_before_body aio
        aio_write alias allow ancient_browser_value auth_basic auth_basic_user_file
        auth_delay auth_request autoindex autoindex_exact_size autoindex_format
        autoindex_localtime balancer_by_lua_file body_filter_by_lua
        body_filter_by_lua_file charset chunked_transfer_encoding
        client_body_buffer_size client_body_in_file_only client_body_in_single_buffer
        client_body_timeout client_header_buffer_size client_header_timeout
        client_max_body_size connection_pool_size content_by_lua content_by_lua_file
        create_full_put_path daemon debug_connection debug_points default_type deny
        directio directio_alignment echo_blocking_sleep echo_sleep echo_status env
        epoll_events etag exit_worker_by_lua_file fastcgi_buffer_size fastcgi_buffering
        fastcgi_busy_buffers_size fastcgi_cache fastcgi_cache_background_update
        fastcgi_cache_key fastcgi_cache_lock fastcgi_cache_lock_age
        fastcgi_cache_lock_timeout fastcgi_cache_max_range_offset fastcgi_cache_min_uses
        fastcgi_cache_revalidate fastcgi_catch_stderr fastcgi_connect_timeout
        fastcgi_force_ranges fastcgi_hide_header fastcgi_ignore_client_abort
        fastcgi_index fastcgi_intercept_errors fastcgi_keep_conn fastcgi_limit_rate
        fastcgi_max_temp_file_size fastcgi_next_upstream_timeout
        fastcgi_next_upstream_tries fastcgi_pass fastcgi_pass_header
        fastcgi_pass_request_body fastcgi_pass_request_headers fastcgi_read_timeout
        fastcgi_request_buffering fastcgi_send_lowat fastcgi_send_timeout
        fastcgi_socket_keepalive fastcgi_split_path_info fastcgi_store
        fastcgi_temp_file_write_size grpc_buffer_size grpc_connect_timeout
        grpc_hide_header grpc_intercept_errors grpc_next_upstream_timeout
        grpc_next_upstream_tries grpc_pass grpc_pass_header grpc_read_timeout
        grpc_send_timeout grpc_socket_keepalive grpc_ssl_certificate
        grpc_ssl_certificate_key grpc_ssl_ciphers grpc_ssl_crl grpc_ssl_name
        grpc_ssl_password_file grpc_ssl_server_name grpc_ssl_session_reuse
        grpc_ssl_trusted_certificate grpc_ssl_verify grpc_ssl_verify_depth gunzip gzip
        gzip_comp_level gzip_hash gzip_http_version gzip_min_length gzip_no_buffer
        gzip_static gzip_vary gzip_window header_filter_by_lua header_filter_by_lua_file
        http2_body_preread_size http2_chunk_size http2_idle_timeout
        http2_max_concurrent_pushes http2_max_concurrent_streams http2_max_field_size
        http2_max_header_size http2_max_requests http2_pool_size http2_push
        http2_push_preload http2_recv_buffer_size http2_recv_timeout
        http2_streams_index_size if_modified_since ignore_invalid_headers include
        init_by_lua init_by_lua_file init_worker_by_lua init_worker_by_lua_file
        keepalive keepalive_requests keepalive_time limit_conn_dry_run
        limit_conn_log_level limit_conn_status limit_rate limit_rate_after
        limit_req_dry_run limit_req_log_level limit_req_status lingering_close
        lingering_time lingering_timeout load_module lock_file log_by_lua
        log_by_lua_file log_not_found log_subrequest lua_capture_error_log
        lua_check_client_abort lua_code_cache lua_http10_buffering lua_load_resty_core
        lua_malloc_trim lua_max_pending_timers lua_max_running_timers
        lua_need_request_body lua_package_cpath lua_package_path
        lua_regex_cache_max_entries lua_regex_match_limit lua_sa_restart
        lua_socket_buffer_size lua_socket_connect_timeout lua_socket_keepalive_timeout
        lua_socket_log_errors lua_socket_pool_size lua_socket_read_timeout
        lua_socket_send_lowat lua_socket_send_timeout lua_ssl_ciphers lua_ssl_crl
        lua_ssl_trusted_certificate lua_ssl_verify_depth lua_thread_cache_max_entries
        lua_transform_underscores_in_response_headers lua_use_default_type
        lua_worker_thread_vm_pool_size map_hash_bucket_size map_hash_max_size
        master_process max_headers max_ranges memcached_buffer_size
        memcached_connect_timeout memcached_gzip_flag memcached_next_upstream_timeout
        memcached_next_upstream_tries memcached_pass memcached_read_timeout
        memcached_send_timeout memcached_socket_keepalive merge_slashes min_delete_depth
        mirror mirror_request_body modern_browser_value mp4_buffer_size
        mp4_max_buffer_size mp4_start_key_frame msie_padding msie_refresh multi_accept
        open_file_cache_errors open_file_cache_events open_file_cache_min_uses
        open_file_cache_valid override_charset pcre_jit pid port_in_redirect post_action
        postpone_gzipping postpone_output proxy_buffer_size proxy_buffering
        proxy_busy_buffers_size proxy_cache proxy_cache_background_update
        proxy_cache_convert_head proxy_cache_key proxy_cache_lock proxy_cache_lock_age
        proxy_cache_lock_timeout proxy_cache_max_range_offset proxy_cache_min_uses
        proxy_cache_revalidate proxy_connect_timeout proxy_force_ranges
        proxy_headers_hash_bucket_size proxy_headers_hash_max_size proxy_hide_header
        proxy_http_version proxy_ignore_client_abort proxy_intercept_errors
        proxy_limit_rate proxy_max_temp_file_size proxy_method
        proxy_next_upstream_timeout proxy_next_upstream_tries proxy_pass
        proxy_pass_header proxy_pass_request_body proxy_pass_request_headers
        proxy_read_timeout proxy_request_buffering proxy_send_lowat proxy_send_timeout
        proxy_set_body proxy_socket_keepalive proxy_ssl_certificate
        proxy_ssl_certificate_key proxy_ssl_ciphers proxy_ssl_crl proxy_ssl_name
        proxy_ssl_password_file proxy_ssl_server_name proxy_ssl_session_reuse
        proxy_ssl_trusted_certificate proxy_ssl_verify proxy_ssl_verify_depth
        proxy_store proxy_temp_file_write_size random_index read_ahead real_ip_header
        real_ip_recursive recursive_error_pages referer_hash_bucket_size
        referer_hash_max_size request_pool_size reset_timedout_connection
        resolver_timeout rewrite_by_lua rewrite_by_lua_file rewrite_by_lua_no_postpone
        rewrite_log root satisfy scgi_buffer_size scgi_buffering scgi_busy_buffers_size
        scgi_cache scgi_cache_background_update scgi_cache_key scgi_cache_lock
        scgi_cache_lock_age scgi_cache_lock_timeout scgi_cache_max_range_offset
        scgi_cache_min_uses scgi_cache_revalidate scgi_connect_timeout scgi_force_ranges
        scgi_hide_header scgi_ignore_client_abort scgi_intercept_errors scgi_limit_rate
        scgi_max_temp_file_size scgi_next_upstream_timeout scgi_next_upstream_tries
        scgi_pass scgi_pass_header scgi_pass_request_body scgi_pass_request_headers
        scgi_read_timeout scgi_request_buffering scgi_send_timeout scgi_socket_keepalive
        scgi_store scgi_temp_file_write_size secure_link secure_link_md5
        secure_link_secret send_lowat send_timeout sendfile sendfile_max_chunk
        server_name_in_redirect server_names_hash_bucket_size server_names_hash_max_size
        server_rewrite_by_lua_file server_tokens set_by_lua_block set_real_ip_from slice
        source_charset ssi ssi_ignore_recycled_buffers ssi_last_modified
        ssi_min_file_chunk ssi_silent_errors ssi_value_length ssl ssl_buffer_size
        ssl_certificate ssl_certificate_by_lua_file ssl_certificate_key ssl_ciphers
        ssl_client_certificate ssl_client_hello_by_lua_file ssl_crl ssl_dhparam
        ssl_early_data ssl_ecdh_curve ssl_engine ssl_ocsp ssl_ocsp_cache
        ssl_ocsp_responder ssl_password_file ssl_prefer_server_ciphers
        ssl_reject_handshake ssl_session_fetch_by_lua_file ssl_session_store_by_lua_file
        ssl_session_ticket_key ssl_session_tickets ssl_session_timeout ssl_stapling
        ssl_stapling_file ssl_stapling_responder ssl_stapling_verify
        ssl_trusted_certificate ssl_verify_client ssl_verify_depth
        sub_filter_last_modified sub_filter_once subrequest_output_buffer_size
        tcp_nodelay tcp_nopush timer_resolution types_hash_bucket_size
        types_hash_max_size underscores_in_headers uninitialized_variable_warn upstream
        use userid userid_domain userid_expires userid_mark userid_name userid_p3p
        userid_path userid_service uwsgi_buffer_size uwsgi_buffering
        uwsgi_busy_buffers_size uwsgi_cache uwsgi_cache_background_update
        uwsgi_cache_key uwsgi_cache_lock uwsgi_cache_lock_age uwsgi_cache_lock_timeout
        uwsgi_cache_max_range_offset uwsgi_cache_min_uses uwsgi_cache_revalidate
        uwsgi_connect_timeout uwsgi_force_ranges uwsgi_hide_header
        uwsgi_ignore_client_abort uwsgi_intercept_errors uwsgi_limit_rate
        uwsgi_max_temp_file_size uwsgi_modifier1 uwsgi_modifier2
        uwsgi_next_upstream_timeout uwsgi_next_upstream_tries uwsgi_pass
        uwsgi_pass_header uwsgi_pass_request_body uwsgi_pass_request_headers
        uwsgi_read_timeout uwsgi_request_buffering uwsgi_send_timeout
        uwsgi_socket_keepalive uwsgi_ssl_certificate uwsgi_ssl_certificate_key
        uwsgi_ssl_ciphers uwsgi_ssl_crl uwsgi_ssl_name uwsgi_ssl_password_file
        uwsgi_ssl_server_name uwsgi_ssl_session_reuse uwsgi_ssl_trusted_certificate
        uwsgi_ssl_verify uwsgi_ssl_verify_depth uwsgi_store uwsgi_string
        uwsgi_temp_file_write_size variables_hash_bucket_size variables_hash_max_size
        worker_aio_requests worker_connections worker_priority worker_processes
        worker_rlimit_core worker_rlimit_nofile worker_shutdown_timeout
        working_directory
    """,
    "12": """
        disable_symlinks echo_exec echo_location echo_location_async expires
        fastcgi_bind geo grpc_bind hash keepalive_disable keepalive_timeout location
        memcached_bind modern_browser open_file_cache proxy_bind proxy_cookie_domain
        proxy_cookie_path proxy_redirect return scgi_bind ssl_session_cache user
        uwsgi_bind zone
    """,
    "123": """
        dav_access fastcgi_store_access limit_req proxy_store_access scgi_store_access
        userid_flags uwsgi_store_access
    """,
    "1234": """
        client_body_temp_path fastcgi_temp_path open_log_file_cache proxy_cookie_flags
        proxy_temp_path scgi_temp_path uwsgi_temp_path
    """,
    "1MORE": """
        more_clear_headers more_clear_input_headers more_set_headers more_set_input_headers
        access_log addition_types ancient_browser charset_types dav_methods error_log
        fastcgi_cache_bypass fastcgi_cache_methods fastcgi_cache_use_stale
        fastcgi_cache_valid fastcgi_ignore_headers fastcgi_next_upstream
        fastcgi_no_cache grpc_ignore_headers grpc_next_upstream grpc_ssl_protocols
        gzip_disable gzip_proxied gzip_types if index limit_except listen
        lua_ssl_protocols memcached_next_upstream proxy_cache_bypass proxy_cache_methods
        proxy_cache_use_stale proxy_cache_valid proxy_ignore_headers proxy_next_upstream
        proxy_no_cache proxy_ssl_protocols resolver scgi_cache_bypass scgi_cache_methods
        scgi_cache_use_stale scgi_cache_valid scgi_ignore_headers scgi_next_upstream
        scgi_no_cache server_name ssi_types ssl_protocols sub_filter_types
        uwsgi_cache_bypass uwsgi_cache_methods uwsgi_cache_use_stale uwsgi_cache_valid
        uwsgi_ignore_headers uwsgi_next_upstream uwsgi_no_cache uwsgi_ssl_protocols
        valid_referers worker_cpu_affinity
    """,
    "2": """
        auth_request_set charset_map fastcgi_buffers grpc_set_header
        grpc_ssl_conf_command gunzip_buffers gzip_buffers large_client_header_buffers
        limit_conn limit_conn_zone lua_shared_dict lua_ssl_conf_command map
        output_buffers proxy_buffers proxy_set_header proxy_ssl_conf_command
        scgi_buffers set split_clients ssl_conf_command sub_filter uwsgi_buffers
        uwsgi_ssl_conf_command
    """,
    "23": """
        add_header add_trailer fastcgi_param rewrite scgi_param thread_pool uwsgi_param
    """,
    "2MORE": """
        echo_duplicate echo_foreach_split echo_subrequest echo_subrequest_async
        error_page fastcgi_cache_path log_format proxy_cache_path scgi_cache_path
        set_by_lua set_by_lua_file try_files upstream_list uwsgi_cache_path
    """,
    "3": """
        limit_req_zone
    """,
    "ANY": """
        echo echo_after_body echo_before_body
    """,
}

_VALUE_TABLE = {
    "flag!": """
        absolute_redirect accept_mutex access_by_lua_no_postpone aio_write autoindex
        autoindex_exact_size autoindex_localtime chunked_transfer_encoding
        client_body_in_single_buffer create_full_put_path daemon etag fastcgi_buffering
        fastcgi_cache_background_update fastcgi_cache_lock fastcgi_cache_revalidate
        fastcgi_force_ranges fastcgi_ignore_client_abort fastcgi_intercept_errors
        fastcgi_keep_conn fastcgi_pass_request_body fastcgi_pass_request_headers
        fastcgi_request_buffering fastcgi_socket_keepalive grpc_intercept_errors
        grpc_socket_keepalive grpc_ssl_server_name grpc_ssl_session_reuse
        grpc_ssl_verify gunzip gzip gzip_no_buffer gzip_vary http2_push_preload
        ignore_invalid_headers limit_conn_dry_run limit_req_dry_run log_not_found
        log_subrequest lua_check_client_abort lua_code_cache lua_http10_buffering
        lua_need_request_body lua_sa_restart lua_socket_log_errors
        lua_transform_underscores_in_response_headers lua_use_default_type
        master_process memcached_socket_keepalive merge_slashes mirror_request_body
        mp4_start_key_frame msie_padding msie_refresh multi_accept
        open_file_cache_errors open_file_cache_events override_charset pcre_jit
        port_in_redirect proxy_buffering proxy_cache_background_update
        proxy_cache_convert_head proxy_cache_lock proxy_cache_revalidate
        proxy_force_ranges proxy_ignore_client_abort proxy_intercept_errors
        proxy_pass_request_body proxy_pass_request_headers proxy_request_buffering
        proxy_socket_keepalive proxy_ssl_server_name proxy_ssl_session_reuse
        proxy_ssl_verify random_index real_ip_recursive recursive_error_pages
        reset_timedout_connection rewrite_by_lua_no_postpone rewrite_log scgi_buffering
        scgi_cache_background_update scgi_cache_lock scgi_cache_revalidate
        scgi_force_ranges scgi_ignore_client_abort scgi_intercept_errors
        scgi_pass_request_body scgi_pass_request_headers scgi_request_buffering
        scgi_socket_keepalive sendfile server_name_in_redirect ssi
        ssi_ignore_recycled_buffers ssi_last_modified ssi_silent_errors ssl
        ssl_early_data ssl_prefer_server_ciphers ssl_reject_handshake
        ssl_session_tickets ssl_stapling ssl_stapling_verify sub_filter_last_modified
        sub_filter_once tcp_nodelay tcp_nopush underscores_in_headers
        uninitialized_variable_warn uwsgi_buffering uwsgi_cache_background_update
        uwsgi_cache_lock uwsgi_cache_revalidate uwsgi_force_ranges
        uwsgi_ignore_client_abort uwsgi_intercept_errors uwsgi_pass_request_body
        uwsgi_pass_request_headers uwsgi_request_buffering uwsgi_socket_keepalive
        uwsgi_ssl_server_name uwsgi_ssl_session_reuse uwsgi_ssl_verify
    """,
    "msec!": """
        accept_mutex_delay auth_delay client_body_timeout client_header_timeout
        fastcgi_cache_lock_age fastcgi_cache_lock_timeout fastcgi_connect_timeout
        fastcgi_next_upstream_timeout fastcgi_read_timeout fastcgi_send_timeout
        grpc_connect_timeout grpc_next_upstream_timeout grpc_read_timeout
        grpc_send_timeout keepalive_time lingering_time lingering_timeout
        lua_socket_connect_timeout lua_socket_keepalive_timeout lua_socket_read_timeout
        lua_socket_send_timeout memcached_connect_timeout
        memcached_next_upstream_timeout memcached_read_timeout memcached_send_timeout
        proxy_cache_lock_age proxy_cache_lock_timeout proxy_connect_timeout
        proxy_next_upstream_timeout proxy_read_timeout proxy_send_timeout
        resolver_timeout scgi_cache_lock_age scgi_cache_lock_timeout
        scgi_connect_timeout scgi_next_upstream_timeout scgi_read_timeout
        scgi_send_timeout send_timeout timer_resolution uwsgi_cache_lock_age
        uwsgi_cache_lock_timeout uwsgi_connect_timeout uwsgi_next_upstream_timeout
        uwsgi_read_timeout uwsgi_send_timeout worker_shutdown_timeout
    """,
    "number": """
        lua_malloc_trim
    """,
    "number!": """
        echo_status epoll_events fastcgi_cache_min_uses fastcgi_next_upstream_tries
        grpc_next_upstream_tries grpc_ssl_verify_depth http2_max_concurrent_pushes
        http2_max_concurrent_streams keepalive_requests lua_max_pending_timers
        lua_max_running_timers lua_regex_cache_max_entries lua_regex_match_limit
        lua_socket_pool_size lua_ssl_verify_depth lua_thread_cache_max_entries
        lua_worker_thread_vm_pool_size map_hash_bucket_size map_hash_max_size
        max_headers max_ranges memcached_gzip_flag memcached_next_upstream_tries
        min_delete_depth open_file_cache_min_uses proxy_cache_min_uses
        proxy_headers_hash_bucket_size proxy_headers_hash_max_size
        proxy_next_upstream_tries proxy_ssl_verify_depth referer_hash_bucket_size
        referer_hash_max_size scgi_cache_min_uses scgi_next_upstream_tries
        server_names_hash_bucket_size server_names_hash_max_size ssl_verify_depth
        types_hash_bucket_size types_hash_max_size userid_service uwsgi_cache_min_uses
        uwsgi_modifier1 uwsgi_modifier2 uwsgi_next_upstream_tries uwsgi_ssl_verify_depth
        variables_hash_bucket_size variables_hash_max_size worker_aio_requests
        worker_rlimit_nofile
    """,
    "offset!": """
        client_max_body_size directio_alignment fastcgi_cache_max_range_offset
        proxy_cache_max_range_offset scgi_cache_max_range_offset
        uwsgi_cache_max_range_offset worker_rlimit_core
    """,
    "sec!": """
        open_file_cache_valid ssl_session_timeout
    """,
    "size!": """
        client_body_buffer_size client_header_buffer_size fastcgi_buffer_size
        fastcgi_busy_buffers_size fastcgi_limit_rate fastcgi_max_temp_file_size
        fastcgi_send_lowat fastcgi_temp_file_write_size grpc_buffer_size gzip_min_length
        http2_body_preread_size http2_chunk_size limit_rate limit_rate_after
        lua_socket_buffer_size lua_socket_send_lowat memcached_buffer_size
        mp4_buffer_size mp4_max_buffer_size postpone_gzipping postpone_output
        proxy_buffer_size proxy_busy_buffers_size proxy_limit_rate
        proxy_max_temp_file_size proxy_send_lowat proxy_temp_file_write_size read_ahead
        scgi_buffer_size scgi_busy_buffers_size scgi_limit_rate scgi_max_temp_file_size
        scgi_temp_file_write_size send_lowat sendfile_max_chunk slice ssi_min_file_chunk
        ssi_value_length ssl_buffer_size subrequest_output_buffer_size uwsgi_buffer_size
        uwsgi_busy_buffers_size uwsgi_limit_rate uwsgi_max_temp_file_size
        uwsgi_temp_file_write_size
    """,
}


ARGS = {name: spec for spec, names in _ARGS_TABLE.items() for name in names.split()}
VALUES = {name: kind for kind, names in _VALUE_TABLE.items() for name in names.split()}


def nargs_ok(name: str, n: int) -> bool:
    """ngx_conf_handler's argument_number check for ``n`` arguments of ``name``."""
    spec = ARGS[name]
    if spec == "ANY":
        return True
    if spec.endswith("MORE"):
        return n >= int(spec[0])
    return str(n) in spec


def value_kind(name: str) -> tuple:
    """(slot kind or "", whether a second setting in the same block is duplicate)."""
    kind = VALUES.get(name, "")
    return kind.rstrip("!"), kind.endswith("!")


_TIME_UNITS = {"y": 1, "M": 2, "w": 3, "d": 4, "h": 5, "m": 6, "s": 7, "ms": 8}


def parse_time(value: str, is_sec: bool) -> bool:
    """src/core/ngx_parse.c ngx_parse_time, as a check: numbers with the units y M w d h m s
    (and ms when not ``is_sec``; y and M only when ``is_sec``), each unit at most once and
    in that order, spaces after a unit; a bare number last (seconds), followed by nothing."""
    step, valid, i, n = 0 if is_sec else 2, False, 0, len(value)
    while i < n:
        if value[i].isdigit():
            i, valid = i + 1, True
            continue
        unit = "ms" if value[i:i + 2] == "ms" else value[i]
        i += len(unit)
        if unit == " ":
            if step >= 7:
                return False
            step = 9
        elif unit not in _TIME_UNITS or step >= _TIME_UNITS[unit]:
            return False
        elif unit == "ms" and is_sec:
            return False
        else:
            step = _TIME_UNITS[unit]
        while i < n and value[i] == " ":
            i += 1
    return valid


def slot_value_ok(kind: str, value: str) -> bool:
    """Whether a ``ngx_conf_set_*_slot`` of src/core/ngx_conf_file.c (flag, num, size, off,
    msec, sec) takes ``value``: ngx_atoi, ngx_parse_size (k, m), ngx_parse_offset (k, m,
    g), ngx_parse_time."""
    if kind == "flag":
        return value.lower() in ("on", "off")
    if kind == "number":
        return value.isdigit() and value.isascii()
    if kind in ("size", "offset"):
        units = "kKmM" + ("gG" if kind == "offset" else "")
        digits = value[:-1] if value[-1:] in units else value
        return digits.isdigit() and digits.isascii()
    return parse_time(value, kind == "sec")


def slot_error(name: str, kind: str, value: str) -> str:
    """What ngx_conf_handler prints when a slot refuses ``value``."""
    if kind == "flag":
        return f'invalid value "{value}" in "{name}" directive, it must be "on" or "off"'
    return f'"{name}" directive invalid {"number" if kind == "number" else "value"}'
