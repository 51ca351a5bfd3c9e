"""Which C function each model function stands for: the explicit map the
stepper uses to say "this step is in ngx_http_lua_run_thread()".

Keys are model functions as `module.function` below `ngxcoro`; a function
that is a piece of a bigger C function (run_thread's labels) names that
function.  A helper that is in no C function (start_chunk, resume_tail,
count_change, ...) is not here: a step in it belongs to its caller's C
function.  tests/test_layout.py checks that every key names a function
that exists and that each function's docstring names the same C function.
"""
from __future__ import annotations

C_FUNCTIONS = {
    # nginx/request.py
    "nginx.request.process_request": "ngx_http_process_request",
    "nginx.request.finalize_request": "ngx_http_finalize_request",
    "nginx.request.finalize_subrequest": "ngx_http_finalize_request",
    "nginx.request.finalize_connection": "ngx_http_finalize_connection",
    "nginx.request.set_lingering_close": "ngx_http_set_lingering_close",
    "nginx.request.lingering_close_handler": "ngx_http_lingering_close_handler",
    "nginx.request.close_request": "ngx_http_close_request",
    "nginx.request.free_request": "ngx_http_free_request",
    "nginx.request.close_connection": "ngx_http_close_connection",
    "nginx.request.terminate_request": "ngx_http_terminate_request",
    "nginx.request.terminate_handler": "ngx_http_terminate_handler",
    "nginx.request.post_request": "ngx_http_post_request",
    "nginx.request.run_posted_requests": "ngx_http_run_posted_requests",
    "nginx.request.request_handler": "ngx_http_request_handler",
    "nginx.request.block_reading": "ngx_http_block_reading",
    # nginx/response.py
    "nginx.response.special_response_handler": "ngx_http_special_response_handler",
    "nginx.phases.send_response": "ngx_http_send_response",
    "nginx.response.send_header": "ngx_http_send_header",
    "nginx.response.output": "ngx_http_output_filter",
    # nginx/phases.py
    "nginx.phases.core_run_phases": "ngx_http_core_run_phases",
    "nginx.phases.handler": "ngx_http_handler",
    "nginx.phases.core_find_config_phase": "ngx_http_core_find_config_phase",
    "nginx.phases.core_rewrite_phase": "ngx_http_core_rewrite_phase",
    "nginx.phases.core_post_rewrite_phase": "ngx_http_core_post_rewrite_phase",
    "nginx.phases.core_access_phase": "ngx_http_core_access_phase",
    "nginx.phases.core_post_access_phase": "ngx_http_core_post_access_phase",
    # nginx/access.py
    "nginx.access.access_handler": "ngx_http_access_handler",
    "nginx.access.access_found": "ngx_http_access_found",
    "nginx.phases.core_content_phase": "ngx_http_core_content_phase",
    "nginx.phases.internal_redirect": "ngx_http_internal_redirect",
    "nginx.phases.named_location": "ngx_http_named_location",
    # nginx/body.py
    "nginx.body.discard_request_body": "ngx_http_discard_request_body",
    "nginx.body.discarded_request_body_handler": "ngx_http_discarded_request_body_handler",
    "nginx.body.read_client_request_body": "ngx_http_read_client_request_body",
    "nginx.body.read_client_request_body_handler": "ngx_http_read_client_request_body_handler",
    # nginx/content.py
    "nginx.content.rewrite_handler": "ngx_http_rewrite_handler",
    "nginx.content.script_return_code": "ngx_http_script_return_code",
    "nginx.content.static_handler": "ngx_http_static_handler",
    "nginx.content.echo_handler": "ngx_http_echo_handler",
    "nginx.content.echo_wev_handler": "ngx_http_echo_wev_handler",
    "nginx.content.echo_run_cmds": "ngx_http_echo_run_cmds",
    "nginx.content.echo_send_chain_link": "ngx_http_echo_send_chain_link",
    "nginx.content.echo_sleep_event_handler": "ngx_http_echo_sleep_event_handler",
    "nginx.content.proxy_handler": "ngx_http_proxy_handler",
    "nginx.content.upstream_done": "ngx_http_upstream_process_header",
    # ngx_lua/util.py
    "ngx_lua.util.run_thread": "ngx_http_lua_run_thread",
    "ngx_lua.util.thread_yielded": "ngx_http_lua_run_thread",
    "ngx_lua.util.thread_ended": "ngx_http_lua_run_thread",
    "ngx_lua.util.user_co_done": "ngx_http_lua_run_thread",
    "ngx_lua.util.thread_failed": "ngx_http_lua_run_thread",
    "ngx_lua.util.propagate_error": "ngx_http_lua_run_thread",
    "ngx_lua.util.no_parent": "ngx_http_lua_run_thread",
    "ngx_lua.util.done": "ngx_http_lua_run_thread",
    "ngx_lua.util.post_thread": "ngx_http_lua_post_thread",
    "ngx_lua.util.run_posted_threads": "ngx_http_lua_run_posted_threads",
    "ngx_lua.util.post_zombie_thread": "ngx_http_lua_post_zombie_thread",
    "ngx_lua.util.cleanup_zombie_child_uthreads": "ngx_http_lua_cleanup_zombie_child_uthreads",
    "ngx_lua.util.del_thread": "ngx_http_lua_del_thread",
    "ngx_lua.util.cleanup_pending_operation": "ngx_http_lua_cleanup_pending_operation",
    "ngx_lua.util.finalize_threads": "ngx_http_lua_finalize_threads",
    "ngx_lua.util.request_cleanup": "ngx_http_lua_request_cleanup",
    "ngx_lua.util.reset_ctx": "ngx_http_lua_reset_ctx",
    "ngx_lua.util.finalize_request": "ngx_http_lua_finalize_request",
    "ngx_lua.util.handle_exit": "ngx_http_lua_handle_exit",
    "ngx_lua.util.handle_exec": "ngx_http_lua_handle_exec",
    "ngx_lua.util.handle_rewrite_jump": "ngx_http_lua_handle_rewrite_jump",
    "ngx_lua.util.init_ctx": "ngx_http_lua_init_ctx",
    "ngx_lua.util.new_thread": "ngx_http_lua_new_thread",
    "ngx_lua.util.generic_phase_post_read": "ngx_http_lua_generic_phase_post_read",
    "ngx_lua.util.wev_handler": "ngx_http_lua_wev_handler",
    "ngx_lua.util.send_header_if_needed": "ngx_http_lua_send_header_if_needed",
    "ngx_lua.util.send_chain_link": "ngx_http_lua_send_chain_link",
    # ngx_lua/by.py
    "ngx_lua.by.get_ctx": "ngx_http_get_module_ctx",
    "ngx_lua.by.rewrite_handler": "ngx_http_lua_rewrite_handler",
    "ngx_lua.by.rewrite_by_chunk": "ngx_http_lua_rewrite_by_chunk",
    "ngx_lua.by.access_handler": "ngx_http_lua_access_handler",
    "ngx_lua.by.access_by_chunk": "ngx_http_lua_access_by_chunk",
    "ngx_lua.by.content_handler": "ngx_http_lua_content_handler",
    "ngx_lua.by.content_by_chunk": "ngx_http_lua_content_by_chunk",
    "ngx_lua.by.content_run_posted_threads": "ngx_http_lua_content_run_posted_threads",
    "ngx_lua.by.content_phase_post_read": "ngx_http_lua_content_phase_post_read",
    "ngx_lua.by.content_wev_handler": "ngx_http_lua_content_wev_handler",
    # ngx_lua/coroutine.py
    "ngx_lua.coroutine.coroutine_create_helper": "ngx_http_lua_coroutine_create_helper",
    "ngx_lua.coroutine.create": "ngx_http_lua_coroutine_create",
    "ngx_lua.coroutine.resume": "ngx_http_lua_coroutine_resume",
    "ngx_lua.coroutine.yield_": "ngx_http_lua_coroutine_yield",
    "ngx_lua.coroutine.status": "ngx_http_lua_coroutine_status",
    # ngx_lua/uthread.py
    "ngx_lua.uthread.spawn": "ngx_http_lua_uthread_spawn",
    "ngx_lua.uthread.wait": "ngx_http_lua_uthread_wait",
    "ngx_lua.uthread.kill": "ngx_http_lua_uthread_kill",
    # ngx_lua/sleep.py
    "ngx_lua.sleep.ngx_sleep": "ngx_http_lua_ngx_sleep",
    "ngx_lua.sleep.sleep_handler": "ngx_http_lua_sleep_handler",
    "ngx_lua.sleep.sleep_resume": "ngx_http_lua_sleep_resume",
    "ngx_lua.sleep.sleep_cleanup": "ngx_http_lua_sleep_cleanup",
    # ngx_lua/output.py
    "ngx_lua.output.ngx_echo": "ngx_http_lua_ngx_echo",
    "ngx_lua.output.ngx_flush": "ngx_http_lua_ngx_flush",
    "ngx_lua.output.ngx_eof": "ngx_http_lua_ngx_eof",
    # ngx_lua/control.py
    "ngx_lua.control.check_if_abortable": "ngx_http_lua_check_context",
    "ngx_lua.control.ngx_exit": "ngx_http_lua_ffi_exit",
    "ngx_lua.control.ngx_exec": "ngx_http_lua_ngx_exec",
    "ngx_lua.control.ngx_redirect": "ngx_http_lua_ngx_redirect",
    "ngx_lua.control.on_abort": "ngx_http_lua_on_abort",
    "ngx_lua.control.check_broken_connection": "ngx_http_lua_check_broken_connection",
    "ngx_lua.control.rd_check_broken_connection": "ngx_http_lua_rd_check_broken_connection",
    "ngx_lua.control.on_abort_resume": "ngx_http_lua_on_abort_resume",
    # ngx_lua/uri.py
    "ngx_lua.uri.req_set_uri": "ngx_http_lua_ngx_req_set_uri",
    # ngx_lua/subrequest.py
    "ngx_lua.subrequest.ngx_location_capture_multi": "ngx_http_lua_ngx_location_capture_multi",
    "ngx_lua.subrequest.subrequest": "ngx_http_lua_subrequest",
    "ngx_lua.subrequest.capture_body_filter": "ngx_http_lua_capture_body_filter",
    "ngx_lua.subrequest.capture_header_filter": "ngx_http_lua_capture_header_filter",
    "ngx_lua.subrequest.post_subrequest": "ngx_http_lua_post_subrequest",
    "ngx_lua.subrequest.subrequest_resume": "ngx_http_lua_subrequest_resume",
    # ngx_lua/req_body.py
    "ngx_lua.req_body.ngx_req_read_body": "ngx_http_lua_ngx_req_read_body",
    "ngx_lua.req_body.req_body_post_read": "ngx_http_lua_req_body_post_read",
    "ngx_lua.req_body.read_body_resume": "ngx_http_lua_read_body_resume",
    "ngx_lua.req_body.req_body_cleanup": "ngx_http_lua_req_body_cleanup",
    "ngx_lua.req_body.get_body_data": "ngx_http_lua_ngx_req_get_body_data",
    # ngx_lua/variable.py
    "ngx_lua.variable.var_get": "ngx_http_lua_var_get",
    "ngx_lua.variable.var_set": "ngx_http_lua_var_set",
    # ngx_lua/misc.py
    "ngx_lua.misc.headers_sent": "ngx_http_lua_ffi_headers_sent",
    "ngx_lua.misc.get_status": "ngx_http_lua_ffi_get_resp_status",
    "ngx_lua.misc.set_status": "ngx_http_lua_ffi_set_resp_status",
    "ngx_lua.misc.send_headers": "ngx_http_lua_ffi_send_headers",
    "ngx_lua.misc.header_too_late": "ngx_http_lua_ffi_set_resp_header",
    "ngx_lua.misc.req_headers": "ngx_http_lua_ngx_req_get_headers",
    "ngx_lua.misc.is_subrequest": "ngx_http_lua_ffi_is_subrequest",
    "ngx_lua.misc.is_internal": "ngx_http_lua_ffi_req_is_internal",
    "ngx_lua.misc.get_phase": "ngx_http_lua_ffi_get_phase",
    "ngx_lua.misc.ngx_log": "ngx_http_lua_ngx_log",
    "ngx_lua.misc.start_time": "ngx_http_lua_ffi_req_start_time",
    # ngx_lua/common.py (the inline predicates of ngx_http_lua_util.h)
    "ngx_lua.common.is_thread": "ngx_http_lua_is_thread",
    "ngx_lua.common.coroutine_alive": "ngx_http_lua_coroutine_alive",
    "ngx_lua.common.entry_thread_alive": "ngx_http_lua_entry_thread_alive",
    # ngx_lua/protocol.py (a macro of ngx_http_lua_util.h)
    "ngx_lua.protocol.check_context": "ngx_http_lua_check_context",
}
