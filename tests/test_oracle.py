"""Unit tests of ngxcoro.oracle on literal text, plus nginx-marked smoke tests."""

from __future__ import annotations

import json

import pytest

from ngxcoro import oracle as rn

SUFFIX = ', client: 127.0.0.1, server: , request: "GET /t HTTP/1.1", host: "localhost"'

# An error.log excerpt written by hand in nginx's format: startup notices (no *N),
# debug and info lines, a Lua traceback spread over several lines, a subrequest
# suffix, a timer line and an ngx.STDERR line ("[]").
LOG = f"""\
2024/05/01 10:00:00 [notice] 700#700: using the "epoll" event method
2024/05/01 10:00:00 [notice] 700#700: nginx/1.22.1
2024/05/01 10:00:01 [debug] 700#700: *1 lua run thread, top:0 c:1
2024/05/01 10:00:01 [info] 700#700: *1 [lua] content_by_lua(nginx.conf:5):2: info line{SUFFIX}
2024/05/01 10:00:01 [notice] 700#700: *1 [lua] content_by_lua(nginx.conf:5):3: hello, world{SUFFIX}
2024/05/01 10:00:01 [warn] 700#700: *1 ngx.sleep(0) called without delayed events patch, this will hurt performance{SUFFIX}
2024/05/01 10:00:01 [error] 700#700: *1 lua entry thread aborted: runtime error: content_by_lua(nginx.conf:5):4: boom
stack traceback:
coroutine 0:
	[C]: in function 'error'
	content_by_lua(nginx.conf:5):4: in main chunk{SUFFIX}
2024/05/01 10:00:01 [error] 700#700: *3 lua user thread aborted: runtime error: unknown reason, client: 127.0.0.1, server: , request: "GET /t HTTP/1.1", subrequest: "/sub", host: "localhost"
2024/05/01 10:00:01 [] 700#700: *3 [lua] content_by_lua(nginx.conf:9):1: to stderr{SUFFIX}
2024/05/01 10:00:01 [alert] 700#700: lua cycle-level alert without a connection
2024/05/01 10:00:01 [error] 700#700: *4 [lua] timer.lua:1: in a timer, context: ngx.timer, client: 127.0.0.1, server: 127.0.0.1:8080
2024/05/01 10:00:02 [notice] 700#700: signal 3 (SIGQUIT) received from 1, shutting down
"""


def test_error_log_keeps_request_lines_at_notice_and_above():
    assert rn.normalise_error_log(LOG) == [
        "[notice] [lua] content_by_lua(nginx.conf:5):3: hello, world",
        "[warn] ngx.sleep(0) called without delayed events patch, this will hurt performance",
        "[error] lua entry thread aborted: runtime error: content_by_lua(nginx.conf:5):4: boom",
        "[error] lua user thread aborted: runtime error: unknown reason",
        "[] [lua] content_by_lua(nginx.conf:9):1: to stderr",
        "[error] [lua] timer.lua:1: in a timer",
    ]


def test_error_log_traceback_keeps_first_line_only():
    text = ("2024/05/01 10:00:01 [error] 9#9: *2 lua user thread aborted: runtime error: "
            "content_by_lua(nginx.conf:7):2: x\nstack traceback:\ncoroutine 0:\n"
            "\t[C]: in function 'error'" + SUFFIX + "\n")
    assert rn.normalise_error_log(text) == [
        "[error] lua user thread aborted: runtime error: content_by_lua(nginx.conf:7):2: x"]


def test_error_log_accepts_model_lines_with_embedded_newlines():
    lines = [
        "2023/01/01 00:00:00 [error] 1#1: *1 lua entry thread aborted: runtime error: "
        "content_by_lua(nginx.conf:3):2: boom\nstack traceback:\n\t[C]: in function 'error'" + SUFFIX,
        "2023/01/01 00:00:00 [warn] 1#1: *1 [lua] content_by_lua(nginx.conf:3):4: w" + SUFFIX,
        "2023/01/01 00:00:00 [debug] 1#1: *1 lua run thread, top:0 c:1",
    ]
    assert rn.normalise_error_log(lines) == [
        "[error] lua entry thread aborted: runtime error: content_by_lua(nginx.conf:3):2: boom",
        "[warn] [lua] content_by_lua(nginx.conf:3):4: w",
    ]


def test_error_log_keeps_commas_inside_the_message():
    line = ("2023/01/01 00:00:00 [error] 1#1: *1 [lua] content_by_lua(nginx.conf:3):1: a, b, "
            "client: c" + SUFFIX)
    assert rn.normalise_error_log([line]) == ["[error] [lua] content_by_lua(nginx.conf:3):1: a, b, client: c"]


DEBUG = """\
2024/05/01 10:00:00 [debug] 700#700: bind() 127.0.0.1:8080 #6
2024/05/01 10:00:01 [debug] 700#700: *1 lua content handler, uri:"/t" c:1
2024/05/01 10:00:01 [debug] 700#700: *1 lua reset ctx
2024/05/01 10:00:01 [debug] 700#700: *1 http lua finalize threads
2024/05/01 10:00:01 [debug] 700#700: *1 lua creating new thread
2024/05/01 10:00:01 [debug] 700#700: lua ref lua thread 00007F0000000A00 (ref 1)
2024/05/01 10:00:01 [debug] 701#701: *1 lua run thread, top:0 c:9
2024/05/01 10:00:01 [debug] 700#700: *1 lua run thread, top:9 c:1
2024/05/01 10:00:01 [debug] 700#700: lua ref lua thread 00007F0000000B00 (ref 2)
2024/05/01 10:00:01 [debug] 700#700: *1 lua resume returned 1
2024/05/01 10:00:01 [debug] 700#700: *1 lua thread yielded
2024/05/01 10:00:01 [debug] 700#700: *1 lua user thread resume
2024/05/01 10:00:01 [debug] 700#700: *1 lua ready to sleep for 100 ms
2024/05/01 10:00:01 [error] 700#700: *1 lua entry thread aborted: runtime error: content_by_lua(nginx.conf:5):4: boom
stack traceback:
coroutine 0:
	content_by_lua(nginx.conf:5):4: in main chunk, client: 127.0.0.1, server: , request: "GET /t HTTP/1.1", host: "localhost"
2024/05/01 10:00:01 [debug] 700#700: lua clean up the timer for pending ngx.sleep
2024/05/01 10:00:01 [debug] 700#700: *1 lua deleting light thread 00007F0000000B00 (ref 2)
2024/05/01 10:00:01 [debug] 700#700: *1 http lua unref thread 00007F0000000B00: 2
2024/05/01 10:00:01 [debug] 700#700: *1 lua deleting light thread 00007F0000000A00 (ref 1)
2024/05/01 10:00:01 [debug] 700#700: *1 lua reusing cached lua thread 00007F0000000A00 (ref 1)
2024/05/01 10:00:01 [debug] 700#700: *1 lua deleting light thread 00007F0000000A00 (ref 1)
2024/05/01 10:00:01 [debug] 700#700: *1 http finalize request: -4, "/t?" a:1, c:2
2024/05/01 10:00:01 [debug] 700#700: *1 http request count:2 blk:0
2024/05/01 10:00:01 [debug] 700#700: *1 lua sleep timer expired: "/t?a=1"
2024/05/01 10:00:01 [debug] 700#700: *1 http finalize request: 0, "/t?a=1" a:1, c:1
2024/05/01 10:00:01 [debug] 700#700: *1 http terminate request count:1
2024/05/01 10:00:01 [debug] 700#700: *1 lua run thread returned -2
2024/05/01 10:00:02 [notice] 700#700: signal 3 (SIGQUIT) received from 1, shutting down
2024/05/01 10:00:02 [debug] 700#700: *1 http lua finalize threads
"""

DEBUG_EVENTS = [
    "HANDLER content c=1", "RESET_CTX", "FINALIZE_THREADS", "NEWTHREAD T1", "RUN c=1",
    "NEWTHREAD T2", "RESUMED rv=1", "YIELD", "OP spawn-child", "SLEEP 100",
    'ABORTED entry "runtime error: content_by_lua(nginx.conf:5):4: boom"',
    "SLEEP_CANCELLED", "DELETE T2", "DELETE T1", "NEWTHREAD T3", "DELETE T3",
    "FINALIZE rc=-4 uri=/t a=1 c=2", "CLOSE_REQ c=2", "SLEEP_EXPIRED",
    "FINALIZE rc=0 uri=/t?a=1 a=1 c=1", "TERMINATE c=1", "RUN_RETURNED -2",
]


def test_debug_events_pid_filter_pointer_ids_and_shutdown_cut():
    # the pid of the first request-bound line (700) is the worker; 701's line is dropped,
    # cycle-log lines without *N are kept; a recycled pointer gets a fresh id;
    # nothing after the shutdown signal
    assert rn.normalise_debug(DEBUG) == DEBUG_EVENTS


def test_debug_events_explicit_pid():
    assert rn.normalise_debug(DEBUG, pid=701) == ["RUN c=9"]


def test_scan_and_wrap_keep_line_numbers():
    text = ("# title: x\nlisten 80;\nlocation /t {\n    error_log x;\n    content_by_lua_block {\n"
            "        local s = '}' -- }\n        ngx.say([[}]])\n    }\n}\n")
    conf = rn.build_config(text, 12345, "/tmp/p/")
    lines = conf.split("\n")
    user = text.split("\n")
    assert lines[0].startswith("load_module ")
    assert lines[0].endswith("listen 127.0.0.1:12345; # title: x")
    blanked = [" " * len(l) if ("listen" in l or "error_log" in l) else l for l in user[1:-1]]
    assert lines[1:len(user) - 1] == blanked
    assert conf.endswith("}\n\n}\n}\n")  # the text, then "\\n}\\n}\\n"
    assert "error_log /tmp/p/logs/error.log debug;" in lines[0]
    assert "keepalive_timeout 0;" in lines[0]


def test_full_config_rewrites_listen_and_main_directives():
    text = ("daemon on;\npid /run/x.pid;\nevents {}\nhttp {\n    error_log /var/log/e.log;\n"
            "    server {\n        listen 80 default_server;\n        listen [::]:80;\n"
            "        location / { return 204; }\n    }\n    server { server_name b; }\n}\n")
    assert rn.is_full_config(text)
    conf = rn.build_config(text, 4242, "/tmp/p/")
    lines = conf.split("\n")
    assert len(lines) == len(text.split("\n"))
    assert lines[0].startswith("load_module ") and "daemon" not in lines[0]
    assert lines[1].strip() == "" and "/var/log/e.log" not in conf
    assert lines[6].strip() == "listen 127.0.0.1:4242 default_server;"
    assert lines[7].strip() == ""
    assert "server { listen 127.0.0.1:4242; server_name b; }" in lines[10]
    assert "keepalive_timeout 0;" in lines[3]


def test_top_level_server_blocks_are_the_inside_of_http():
    # the model reads such text as the inside of http (nginx/conf/load.py _kind): nginx
    # must get it there too, with its http-level directive and line numbers kept
    text = "lua_max_pending_timers 1;\nserver {\n    location /t { return 204; }\n}\n"
    assert not rn.is_full_config(text)
    conf = rn.build_config(text, 4242, "/tmp/p/")
    lines = conf.split("\n")
    assert "events { worker_connections 64; } http {" in lines[0]
    assert lines[0].endswith("lua_max_pending_timers 1;")
    assert lines[1] == "server { listen 127.0.0.1:4242;"
    assert lines[2] == "    location /t { return 204; }"
    assert conf.endswith("}\n\n}\n")


def test_server_block_text_is_not_full_config():
    assert not rn.is_full_config("location /t { content_by_lua_block { ngx.say('http {') } }\n")


def test_scan_errors_are_reported_by_nginx_not_by_us():
    text = "location /t {\n    content_by_lua_block {\n"
    assert rn.build_config(text, 1, "/p/").split("\n")[1] == "    content_by_lua_block {"


def test_parse_scenario_header():
    text = ('# title: t\n# request: POST /x?a=1 HTTP/1.0\n# header: X-A: b: c\n'
            '# body-pieces: [[0.1, "ab"], [0, "c"]]\n# timeout: 1.5\n# client-abort-at: 0.5\n'
            '\nlocation / {}\n')
    assert rn.parse_scenario(text) == {
        "title": "t", "request": "POST /x?a=1 HTTP/1.0", "headers": [("X-A", "b: c")],
        "body": [(0.1, "ab"), (0.0, "c")], "timeout": 1.5, "client_abort_at": 0.5,
        "quit_at": None, "wire": False, "peers": []}
    two = '# peer: 127.0.0.1:1990 recv-line; send "a;b"\n# peer: 127.0.0.1:1991 refuse\n'
    assert rn.parse_scenario(two + "location / {}\n")["peers"] == [
        '127.0.0.1:1990 recv-line; send "a;b"', "127.0.0.1:1991 refuse"]


def test_request_bytes_defaults_and_overrides():
    head, pieces = rn._build_request("GET /t", [("Host", "h"), "X-Y: z"], "abc")
    assert head == b"GET /t HTTP/1.1\r\nHost: h\r\nX-Y: z\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"
    head, pieces = rn._build_request("POST /t HTTP/1.0", [("Connection", None)], [(0.2, "xy")])
    assert head == b"POST /t HTTP/1.0\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n"
    assert pieces == [(0.2, b"xy")]
    with pytest.raises(ValueError):
        rn._build_request("GET", (), None)


@pytest.mark.parametrize("data, eof, expect", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", True, (200, "abcde")),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", True, (None, "abc")),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nhello", True, (404, "hello")),
    (b"HTTP/1.1 500 X\r\nContent-Length: 9\r\n\r\nhello", True, (None, "hello")),
    (b"HTTP/1.0 200 OK\r\n\r\nuntil close", True, (200, "until close")),
    (b"HTTP/1.0 200 OK\r\n\r\nuntil close", False, (None, "until close")),
    (b"HTTP/1.1 200 OK\r\nContent-Le", True, (None, "")),
    (b"", True, (None, "")),
])
def test_parse_response(data, eof, expect):
    status, _headers, body = rn._parse_response(data, "GET", eof)
    assert (status, body.decode()) == expect


def test_startup_message_normalised():
    stderr = ("2024/05/01 10:00:00 [emerg] 77#77: unknown directive \"foo\" in "
              "/tmp/ngxcoro-nginx-abc/conf/nginx.conf:8\n")
    assert rn._startup_message(stderr) == '[emerg] unknown directive "foo" in nginx.conf:8'
    assert rn._startup_message("nginx: [emerg] bad in /x/conf/nginx.conf:2\n") == "[emerg] bad in nginx.conf:2"


def test_cli_without_nginx_says_why(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(rn, "NGINX", str(tmp_path / "no-nginx"))
    assert rn.main([str(tmp_path / "x.ngx")]) == 2
    assert "nginx binary not found" in capsys.readouterr().err


# ------------------------------------------------------------------ real nginx

SMOKE = """\
# title: smoke
location /t {
    content_by_lua_block {
        ngx.say("hello")
        ngx.thread.spawn(function() ngx.sleep(0.01) ngx.say("child") end)
        ngx.log(ngx.WARN, "warned")
    }
}
location /err {
    content_by_lua_block {
        error("boom")
    }
}
"""


@pytest.mark.nginx
def test_smoke_real_nginx(real_nginx):
    res = real_nginx(SMOKE, "GET /t")
    assert (res["status"], res["body"], res["hung"], res["startup_error"]) == (200, "hello\nchild\n", False, None)
    assert res["error_log"] == ["[warn] [lua] content_by_lua(nginx.conf:3):4: warned"]
    assert res["debug"][:5] == ["HANDLER content c=1", "RESET_CTX", "FINALIZE_THREADS", "NEWTHREAD T1", "RUN c=1"]
    assert "SLEEP 10" in res["debug"] and res["debug"][-1] == "FINALIZE_THREADS"
    res = real_nginx(SMOKE, "GET /err")
    assert res["status"] == 500 and "500 Internal Server Error" in res["body"]
    assert res["error_log"] == [
        "[error] lua entry thread aborted: runtime error: content_by_lua(nginx.conf:10):2: boom"]
    assert "/tmp/" not in res["raw_error_log"]


@pytest.mark.nginx
def test_startup_error_real_nginx(real_nginx):
    res = real_nginx("location /t {\n    no_such_directive 1;\n}\n")
    assert res["status"] is None and res["body"] == "" and res["error_log"] == []
    assert res["startup_error"] == '[emerg] unknown directive "no_such_directive" in nginx.conf:2'


@pytest.mark.nginx
def test_cli_json_real_nginx(tmp_path, capsys):
    f = tmp_path / "s.ngx"
    f.write_text("# request: GET /t?x=1\n\nlocation /t {\n    content_by_lua_block { ngx.say(ngx.var.arg_x) }\n}\n")
    assert rn.main([str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == 200 and out["body"] == "1\n"


def test_count_history_keeps_finalize_close_terminate_only():
    debug = ["RUN c=1", "FINALIZE_THREADS", "FINALIZE rc=-4 uri=/t a=1 c=2", "CLOSE_REQ c=2",
             "REQ_CLEANUP forcible=0", "FINALIZE rc=-1 uri=/t?a=1 a=1 c=1", "TERMINATE c=1",
             "CLOSE_REQ c=1", "FINALIZE_THREADS"]
    assert rn.count_history(debug) == [
        "FINALIZE rc=-4 uri=/t a=1 c=2", "CLOSE_REQ c=2",
        "FINALIZE rc=-1 uri=/t?a=1 a=1 c=1", "TERMINATE c=1", "CLOSE_REQ c=1"]


def test_model_count_history_renders_events():
    want = ["FINALIZE rc=-4 uri=/t a=1 c=2", "CLOSE_REQ c=2",
            "FINALIZE rc=0 uri=/sub?x=1 a=0 c=2", "TERMINATE c=1", "CLOSE_REQ c=1"]
    events = [
        {"event": "run_thread"},
        {"event": "finalize_request", "rc": -4, "uri": "/t?", "a": 1, "c": 2},
        {"event": "close_request", "c": 2},
        {"event": "count", "delta": -1, "c": 1, "cause": "close_request"},
        {"event": "finalize_request", "rc": 0, "uri": "/sub?x=1", "a": 0, "c": 2},
        {"event": "terminate_request", "c": 1},
        {"event": "close_request", "c": 1},
    ]
    assert rn.model_count_history(events) == want
    # without close_request events, count changes caused by close_request stand for them
    old = [e for e in events if e["event"] != "close_request"]
    old.append({"event": "count", "delta": -1, "c": 0, "cause": "close_request"})
    old[1] = dict(old[1], uri="/t")
    assert rn.model_count_history(old) == want


def test_port_placeholder_is_substituted_and_scrubbed():
    conf = rn.build_config("location /p {\n    proxy_pass http://127.0.0.1:__PORT__/o;\n}\n",
                           18123, "/tmp/x/")
    assert "proxy_pass http://127.0.0.1:18123/o;" in conf and "__PORT__" not in conf
    assert conf.split("\n")[1] == "    proxy_pass http://127.0.0.1:18123/o;"  # same line
    res = {"body": "at localhost:18123/x", "headers": [["Location", "http://localhost:18123/new"]],
           "error_log": ['[error] upstream: "http://127.0.0.1:18123/o"'], "debug": ["RUN c=1"],
           "raw_error_log": "port 181234 stays"}
    rn._unport(res, 18123)
    assert res["body"] == "at localhost:__PORT__/x"
    assert res["headers"] == [["Location", "http://localhost:__PORT__/new"]]
    assert res["error_log"] == ['[error] upstream: "http://127.0.0.1:__PORT__/o"']
    assert res["raw_error_log"] == "port 181234 stays"
