"""The event registry's entries for the second ring: ngx.shared.DICT,
ngx.semaphore, ngx.timer and its fake request, the client's close with
ngx.on_abort, log_by_lua and the filters.  They are part of the one
registry, `events.py` (`EVENTS`), which appends them to its table; the
fields of an entry are described there."""
from __future__ import annotations

from .event import Event as E, fake_pointer

SECOND_RING = [
    # --- ngx.shared.DICT (ngx_http_lua_shdict.c): an operation on a lua_shared_dict -----
    # (it never yields; the snapshot carries each zone's entries)
    E("shdict", ("zone", "op", "key", "result"), keep=True,
      explain="ngx.shared.{zone}:{op}({key}) -> {result}"),
    # --- ngx.semaphore (ngx_http_lua_semaphore.c, ngx_event_posted.h) ----------------------
    E("sema_new", ("sem", "n"), keep=True, compared=True,
      explain="semaphore.new: {sem} with {n} resources",
      words="SEMA_NEW {n}", nginx=((r"http lua semaphore new: \S+, resources: (?P<n>-?\d+)$",
                                    "SEMA_NEW {n}"),),
      # the block allocator's line: a worker's first semaphore opens a block
      line=lambda d: (("new block, alloc semaphore: {sem_ptr} block: {sem_ptr}"
                       if d["sem"].number == 1 else "from head of free queue, alloc semaphore: {sem_ptr}"),
                      "http lua semaphore new: {sem_ptr}, resources: {n}"), cycle=True),
    E("sema_wait", ("sem", "ms", "resources", "posted"), keep=True, compared=True,
      explain="{sem}:wait with a {ms} ms timeout ({resources} resources, event posted: "
              "{posted})",
      words="SEMA_WAIT {ms} {resources} {posted}",
      nginx=((r"http lua semaphore wait: \S+, timeout: (?P<ms>-?\d+), resources: "
              r"(?P<resources>-?\d+), event posted: (?P<posted>\d)$",
              "SEMA_WAIT {ms} {resources} {posted}"),),
      line="http lua semaphore wait: {sem_ptr}, timeout: {ms}, resources: {resources}, "
           "event posted: {posted}", cycle=True),
    E("sema_wait_yield", ("co", "sem"), keep=True, compared=True,
      explain="{co} queues on {sem} (its timeout timer armed) and yields",
      words="SEMA_YIELD", nginx=((r"http lua semaphore wait yielding$", "SEMA_YIELD"),),
      line="http lua semaphore wait yielding", cycle=True),
    E("sema_post", ("sem", "n", "resources", "waiters", "posted"), keep=True, compared=True,
      explain="{sem}:post({n}): {resources} resources + {n}, {waiters} waiting, event "
              "posted: {posted}; nobody is woken inside post",
      words="SEMA_POST {n} {resources}",
      nginx=((r"http lua semaphore post: \S+, n: (?P<n>-?\d+), resources: (?P<resources>-?\d+)$",
              "SEMA_POST {n} {resources}"),),
      line="http lua semaphore post: {sem_ptr}, n: {n}, resources: {resources}", cycle=True),
    E("post_event", ("sem", "update"), keep=True,
      explain=lambda d: ("ngx_post_event: the event of {sem} is posted already and stays "
                         "where it is" if d["update"] else
                         "ngx_post_event: the event of {sem} joins the posted events; its "
                         "handler runs after this turn's timers"),
      line=lambda d: ("update posted event {ev_ptr}" if d["update"] else "post event {ev_ptr}"),
      cycle=True),                       # the event's log is the semaphore's: the cycle log
    E("sema_handler", ("sem", "empty", "resources"), keep=True, compared=True,
      explain="the posted event of {sem} runs: wake waiters from the head while its "
              "{resources} resources last",
      words=lambda d: f"SEMA_HANDLER {'empty' if d['empty'] else 'not empty'} {d['resources']}",
      nginx=((r"semaphore handler: wait queue: (?P<q>(?:not )?empty), resource count: "
              r"(?P<resources>-?\d+)$", "SEMA_HANDLER {q} {resources}"),),
      line=lambda d: "semaphore handler: wait queue: " + ("empty" if d["empty"] else "not empty")
      + ", resource count: {resources}", cycle=True),
    E("sema_wake", ("co", "sem"), keep=True,
      explain="{sem} hands a resource to {co} (the head of its queue), which resumes "
              "with true, nil in its own request"),
    E("sema_timeout", ("co", "sem"), keep=True,
      explain="the wait of {co} on {sem} times out: it resumes with false, \"timeout\""),
    E("sema_cleanup", ("co", "sem"), keep=True, compared=True,
      explain="{co} leaves the queue of {sem} (killed, exited or its request ended); the "
              "resources stay",
      words="SEMA_CLEANUP", nginx=((r"http lua semaphore cleanup$", "SEMA_CLEANUP"),),
      line="http lua semaphore cleanup", cycle=True),

    # --- ngx.timer and its fake request (ngx_http_lua_timer.c; the fake-request part of
    # ngx_http_lua_util.c, in ngx_lua/fake_request.py) --------------------------------------
    E("timer_watcher", explain="the worker's first timer makes the watcher connection",
      line="lua creating fake watcher connection", cycle=True),
    E("timer_create", ("co", "delay", "sz"), keep=True, compared=True,
      explain="ngx.timer arms a {delay} ms timer that will run {co}", words="TIMER {delay}",
      nginx=((r"created timer \(co: \S+ delay: (?P<delay>\d+) ms\)", "TIMER {delay}"),),
      line="created timer (co: {ptr} delay: {delay} ms): sz={sz}", cycle=True),
    E("timer_next", ("co", "delay"), keep=True, compared=True,
      explain="the every timer re-arms before it runs: {co} is due in {delay} ms",
      words="TIMER_NEXT {delay}",
      nginx=((r"created next timer \(co: \S+ delay: (?P<delay>\d+) ms\)", "TIMER_NEXT {delay}"),),
      line="created next timer (co: {ptr} delay: {delay} ms)", cycle=True),
    E("timer_fired", ("co",), keep=True, compared=True,
      explain="the ngx.timer of {co} fires at {t_ms} ms", words="TIMER_EXPIRED",
      nginx=((r"lua ngx\.timer expired$", "TIMER_EXPIRED"),),
      line="lua ngx.timer expired", cycle=True),
    E("free_timer_thread", ("co",),
      explain="the timer of {co} cannot run: its thread is given back (ngx_http_lua_free_thread)",
      words="FREE_THREAD", nginx=((r"lua unref lua thread ", "FREE_THREAD"),),
      line=("lua freeing light thread {ptr} (ref {ref})", "lua unref lua thread {ptr} (ref {ref})"),
      cycle=True),
    E("finalize_fake_request", ("r", "rc", "a", "c"), keep=True, compared=True,
      explain="finalize the timer's fake request with {rc_text} (r->count {c})",
      words="FAKE_FINALIZE rc={rc} c={c}",
      nginx=((r"http lua finalize fake request: (?P<rc>-?\d+), a:\d+, c:(?P<c>\d+)",
              "FAKE_FINALIZE rc={rc} c={c}"),),
      line="http lua finalize fake request: {rc}, a:{a}, c:{c}"),
    E("close_fake_request", ("r", "c"), keep=True, compared=True,
      explain="close the fake request: r->count {c} -> {c_after}", words="FAKE_COUNT c={c}",
      nginx=((r"http lua fake request count:(?P<c>\d+)$", "FAKE_COUNT c={c}"),),
      line="http lua fake request count:{c}"),
    E("free_fake_request", ("r",), keep=True, compared=True,
      explain="the fake request is freed: its cleanups run", words="FAKE_FREE",
      nginx=((r"http lua close fake request$", "FAKE_FREE"),), line="http lua close fake request"),
    E("close_fake_connection", ("r",), keep=True, compared=True,
      explain="the fake connection is closed", words="FAKE_CLOSE_CONN",
      nginx=((r"http lua close fake http connection", "FAKE_CLOSE_CONN"),),
      line=lambda d: "http lua close fake http connection "
                     + fake_pointer(4096 + d["r"].connection.number)),

    # --- the client's close: lua_check_client_abort and ngx.on_abort (ngx_http_request.c,
    # ngx_http_lua_control.c, ngx_http_lua_util.c) -----------------------------------------
    E("client_close", ("uri",), keep=True,
      explain="the client closed the connection at {t_ms} ms: a read event on it for {uri}"),
    E("block_reading", explain="the read event is ignored (ngx_http_block_reading): "
                               "without lua_check_client_abort nobody looks at the close",
      line="http reading blocked"),
    E("on_abort", ("parent", "child"), keep=True,
      explain="ngx.on_abort: {child} is a light thread of {parent}'s that waits, suspended "
              "and not counted in uthreads, for the client to close"),
    E("check_broken_connection", ("uri",), keep=True, compared=True,
      explain="lua_check_client_abort: the read event on {uri}'s connection is checked",
      words="CHECK_CLIENT", nginx=((r'http lua check client, write event:0, ".*"$',
                                    "CHECK_CLIENT"),),
      line='http lua check client, write event:0, "{uri}"'),
    E("client_recv", ("n",), compared=True,
      explain="recv(MSG_PEEK) on the client's connection gives {n}: EOF, the client is gone "
              "(499)",
      words="CLIENT_RECV {n}", nginx=((r"http lua recv\(\): (?P<n>-?\d+)$", "CLIENT_RECV {n}"),),
      line="http lua recv(): {n}"),
    E("on_abort_wake", ("co",), keep=True, compared=True,
      explain="the client is gone: {co} becomes a running light thread (uthreads +1) and "
              "runs at once, through r->write_event_handler",
      words="ON_ABORT_WAKE", nginx=((r"lua waking up the on_abort callback thread$",
                                     "ON_ABORT_WAKE"),),
      line="lua waking up the on_abort callback thread"),
    E("on_abort_resume", ("co",), compared=True,
      explain="ngx_http_lua_on_abort_resume runs {co} (run_thread, then posted threads)",
      words="ON_ABORT_RESUME", nginx=((r"lua resuming the on_abort callback thread$",
                                       "ON_ABORT_RESUME"),),
      line="lua resuming the on_abort callback thread"),

    # --- log_by_lua and the filters (ngx_http_lua_logby.c, _headerfilterby.c,
    # _bodyfilterby.c): plain protected calls, no coroutine ------------------------------
    E("log_handler", ("uri", "c", "chunk"), keep=True, compared=True,
      explain="the log phase: lua's log handler runs for {uri} (r->count {c})",
      words="LOG_HANDLER c={c}",
      nginx=((r'lua log handler, uri:".*" c:(?P<c>\d+)$', "LOG_HANDLER c={c}"),),
      line='lua log handler, uri:"{uri}" c:{c}'),
    E("header_filter", ("uri", "chunk"), compared=True, explain="lua's header filter for {uri}",
      words="HEADER_FILTER {uri}",
      nginx=((r'lua header filter for user lua code, uri "(?P<uri>.*)"$', "HEADER_FILTER {uri}"),),
      line='lua header filter for user lua code, uri "{uri}"'),
    E("body_filter", ("uri", "chunk"), compared=True, explain="lua's body filter for {uri}",
      words="BODY_FILTER {uri}",
      nginx=((r'lua body filter for user lua code, uri "(?P<uri>.*)"$', "BODY_FILTER {uri}"),),
      line='lua body filter for user lua code, uri "{uri}"'),

    # --- the worker's graceful exit (ngx_process_cycle.c, ngx_connection.c) and its
    # premature lua timers (ngx_http_lua_timer.c ngx_http_lua_abort_pending_timers) -------
    E("worker_quit_signal", keep=True,
      explain="nginx -s quit: the master passes SIGQUIT on to the worker (ngx_quit), which "
              "looks at it when this loop turn is over"),
    E("worker_exiting", keep=True,
      explain="the worker shuts down gracefully (ngx_exiting): its listening sockets close, "
              "its idle connections' read handlers run; active requests go on"),
    E("worker_exit", keep=True,
      explain="no non-cancelable timer is left: the worker process exits"),
    E("timer_abort", keep=True, compared=True,
      explain="the timer watcher's read handler: every pending lua timer fires now, "
              "premature", words="TIMER_ABORT",
      nginx=((r"lua abort pending timers$", "TIMER_ABORT"),),
      line="lua abort pending timers", cycle=True),
    E("timer_abort_found", ("n",), keep=True, compared=True,
      explain="{n} pending lua timers run at once, in expiry order, with premature = true",
      words="TIMER_ABORT_FOUND {n}",
      nginx=((r"lua found (?P<n>\d+) pending timers to be aborted prematurely$",
              "TIMER_ABORT_FOUND {n}"),),
      line="lua found {n} pending timers to be aborted prematurely", cycle=True),
    # --- cosockets (ngx_http_lua_socket_tcp.c: ngx_lua/socket_tcp*.py; the loopback
    # network of nginx/event_connect.py) ----------------------------------------------------
    E("sock_connect_timeout", ("ms",), explain="connect: the connect timeout is {ms} ms",
      line="lua tcp socket connect timeout: {ms}"),
    E("sock_reconnect", ("u",), explain="connect on {u}, still connected: closed first",
      line="lua tcp socket reconnect without shutting down"),
    E("sock_pool_create", ("key", "size", "backlog"), keep=True,
      explain="a keepalive pool for \"{key}\" with {size} slots",
      line=("lua tcp socket connection pool size: {size}, backlog: {backlog}",
            "lua tcp socket keepalive create connection pool for key \"{key}\"")),
    E("sock_pool_empty", ("key",), explain="the pool \"{key}\" has no idle connection",
      line="lua tcp socket keepalive: connection pool empty"),
    E("sock_pool_get", ("key",), keep=True,
      explain="connect takes an idle connection from the pool \"{key}\": no yield"),
    E("sock_connect", ("u", "host", "port", "fd", "n", "rc"), keep=True,
      explain="{u} connects to {host}:{port} (connection #{n}): EINPROGRESS, the "
              "coroutine waits for the write event",
      line=lambda d: ("lua tcp socket network address given directly",
                      "lua tcp socket resolve retval handler",
                      f"connect to {d['host']}:{d['port']}, fd:{d['fd']} #{d['n']}",
                      f"lua tcp socket connect: {d['rc']}")),
    E("sock_handler", ("u", "uri", "wev"), keep=True,
      explain=lambda d: f"{'write' if d['wev'] else 'read'} event on {d['u']}",
      line="lua tcp socket handler for \"{uri}\", wev {wev}"),
    E("sock_connected", ("u",), explain="{u} is connected", line="lua tcp socket connected"),
    E("sock_conn_error", ("u",), explain="the connect of {u} failed: the socket is closed",
      line="lua tcp socket handle connect error"),
    E("sock_read_error", ("u",), explain="a read on {u} failed (timeout or closed)",
      line="lua tcp socket handle read error"),
    E("sock_wake", ("u", "co", "side"), keep=True, compared=True,
      explain=lambda d: f"{d['side'] or 'an error'} event on {d['u']} "
                        f"resumed co {d['co']}",
      words=lambda d: f"SOCK_WAKE {d['side'] or '-'}",
      nginx=((r"lua tcp socket waking up the current request \((?P<side>conn|read)\)$",
              "SOCK_WAKE {side}"),
             (r"lua tcp socket waking up the current request$", "SOCK_WAKE -")),
      line=lambda d: "lua tcp socket waking up the current request"
      + (f" ({d['side']})" if d["side"] else "")),
    E("sock_resume", ("u", "co"), explain="{co} resumes from its wait on {u}",
      line="lua tcp operation done, resuming lua thread"),
    E("sock_error_retval", (), explain="the connect's error values",
      line="lua tcp socket error retval handler"),
    E("sock_send_timeout", ("ms",), explain="send: the send timeout is {ms} ms",
      line="lua tcp socket send timeout: {ms}"),
    E("sock_send", ("u", "n"), keep=True,
      explain="{u} sends {n} bytes: loopback takes them all, no yield",
      line=("lua tcp socket send data", "lua tcp socket sent all the data")),
    E("sock_receive", (), explain="receive() is called",
      line="lua tcp socket calling receive() method"),
    E("sock_read_timeout", ("ms",), explain="the read timeout is {ms} ms",
      line="lua tcp socket read timeout: {ms}"),
    E("sock_read_data", ("u", "wait"), explain="{u} reads what is buffered and readable",
      line="lua tcp socket read data: wait:{wait}"),
    E("sock_recv", ("u", "n"), explain="recv() on {u} returned {n} bytes"),
    E("sock_receive_done", ("u", "wait", "eof", "uri"), keep=True,
      explain="the read on {u} is satisfied",
      line="lua tcp socket receive done: wait:{wait}, eof:{eof}, uri:\"{uri}\""),
    E("sock_receive_done_single", (), explain="satisfied without waiting",
      line="lua tcp socket receive done in a single run"),
    E("sock_read_yield", ("u", "co"), keep=True,
      explain="{co} waits for the read event of {u} (the read timer is armed)"),
    E("sock_receive_retval", (), explain="receive's return values",
      line="lua tcp socket receive return value handler"),
    E("sock_keepalive", ("u", "key"), keep=True,
      explain="{u} goes idle into the pool \"{key}\"; the Lua object is detached",
      line="lua tcp socket clear current socket connection"),
    E("sock_cleanup", ("u", "uri"), keep=True,
      explain="the request {uri} ends with {u} open: its cleanup closes it",
      line="cleanup lua tcp socket request: \"{uri}\""),
    E("sock_finalize", ("u",), explain="{u} is finalized", line="lua finalize socket",
      compared=True, words="SOCK_FINALIZE", nginx=((r"lua finalize socket$", "SOCK_FINALIZE"),)),
    E("sock_close", ("u",), keep=True, explain="the connection of {u} is closed",
      line="lua close socket connection", compared=True, words="SOCK_CLOSE",
      nginx=((r"lua close socket connection$", "SOCK_CLOSE"),)),
    # --- init_by_lua* and init_worker_by_lua* (ngx_http_lua_initby.c, _initworkerby.c):
    # a chunk run once as a plain protected call on the main state ----------------------
    E("init_by_lua", ("chunk", "error"), keep=True,
      explain="start-up: init_by_lua runs {chunk} on the main Lua state, with no request"),
    E("init_worker_by_lua", ("chunk", "error"), keep=True,
      explain="the worker starts: init_worker_by_lua runs {chunk} in a fake request"),
    # --- the stap GC script's request bracket (t/StapThread.pm: F(ngx_http_handler),
    # F(ngx_http_free_request)): a main request's ngx_http_handler, seen while no other
    # main request is alive, forgets every thread id given so far ------------------------
    E("http_handler", ("r", "uri"), quiet=True,
      explain="ngx_http_handler runs {uri} from its first phase"),
    # --- the request body in a temp file (ngx_http_request_body.c ngx_http_write_request_body,
    # ngx_http_lua_req_body.c ngx_http_lua_write_request_body) ----------------------------
    E("body_temp_file", ("uri", "path"),
      explain="the request body of {uri} outgrew its buffer (or client_body_in_file_only): "
              "nginx keeps it in the temp file {path}; get_body_data is nil from now on"),
    # --- nginx's own subrequests and the postpone filter (ngx_http_core_module.c
    # ngx_http_subrequest, ngx_http_request.c, ngx_http_postpone_filter_module.c), which
    # echo_location and echo_location_async use (echo-nginx-module) ---------------------
    E("http_subrequest", ("uri",), keep=True, compared=True,
      explain="ngx_http_subrequest makes {uri} and posts it (r->main->count +1)",
      words="HTTP_SUBREQ {uri}", nginx=((r'^http subrequest "(?P<uri>.*)"$', "HTTP_SUBREQ {uri}"),),
      line='http subrequest "{q_uri}"'),
    E("finalize_non_active", ("uri",), keep=True, compared=True,
      explain="{uri} finished before its turn to send: it waits (ngx_http_request_finalizer)",
      words="NON_ACTIVE {uri}",
      nginx=((r'^http finalize non-active request: "(?P<uri>.*)"$', "NON_ACTIVE {uri}"),),
      line='http finalize non-active request: "{uri}"'),
    E("postpone_wake", ("uri",), keep=True, compared=True,
      explain="the postpone filter hands the connection to {uri} and posts it",
      words="POSTPONE_WAKE {uri}",
      nginx=((r'^http postpone filter wake "(?P<uri>.*)"$', "POSTPONE_WAKE {uri}"),),
      line='http postpone filter wake "{uri}"'),
    E("writer", ("uri", "rc", "done"), keep=True,
      explain="ngx_http_writer of {uri}: what was postponed goes out (rc {rc})",
      line=lambda d: (('http writer output filter: {rc}, "{uri}"',)
                      + (('http writer done: "{uri}"',) if d["done"] else ()))),
    # --- what-if switches (ngxcoro/whatif.py): NOT nginx, the model with a C line changed ---
    # (no debug line: nginx has no such switch; the stepper shows them as not nginx)
    E("what_if", ("name", "text"), keep=True,
      explain="NOT NGINX: what-if {name}: {text}"),
    E("what_if_taken", ("name", "text"), keep=True,
      explain="NOT NGINX: what-if {name}: {text}"),
]
