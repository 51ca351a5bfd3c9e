"""The Test::Nginx export (ngxcoro/export.py): the model's answer as a block
of OpenResty's test scaffold, and the block holding on real nginx.

Test::Nginx (Perl) is not installed here and not installable offline (no
libtest-nginx-perl in the package lists), so the scaffold's part is played by
this file: each exported block is parsed back as Test::Base would read it
(`parse_blocks`: its default `trim` filter, `chop`, `eval`) and its config and
request run on real nginx through the project's runner (ngxcoro.oracle
run_real), with the scaffold's default server around `--- config`
(`join_config`: `server_name localhost`, `--- http_config` before it); then
the block's expectations are checked as Test::Nginx checks them: the status
against `--- error_code` (200 when absent), the body against
`--- response_body` (exactly) or `--- response_body_like` (a regex search),
every `--- error_log` line as a substring of the error log, and no line of
`--- no_error_log` in it."""
from __future__ import annotations

import re

import pytest

import ngxcoro
from ngxcoro.cli import main as cli_main
from ngxcoro.export import (ExportError, export_test_nginx, join_config, log_patterns,
                            parse_blocks, split_config)

SLEEP = """
location = /t {
    content_by_lua_block {
        ngx.say("before")
        ngx.sleep(0.05)
        ngx.say("after")
    }
}
"""

UTHREADS = """
location = /t {
    content_by_lua_block {
        local function f(name, ms)
            ngx.sleep(ms / 1000)
            ngx.say(name, " woke after ", ms, " ms")
        end
        local a = ngx.thread.spawn(f, "a", 100)
        local b = ngx.thread.spawn(f, "b", 50)
        ngx.thread.wait(a, b)
        ngx.say("entry goes on")
    }
}
"""

ERROR = """
location = /t {
    content_by_lua_block {
        ngx.thread.spawn(function()
            ngx.sleep(0.05)
            error("the light thread fails")
        end)
        ngx.say("entry done")
    }
}
"""

CAPTURE = """
location = /t {
    content_by_lua_block {
        local res = ngx.location.capture("/sub?x=1")
        ngx.say("sub said ", res.status, ": ", res.body)
    }
}
location = /sub {
    content_by_lua_block {
        ngx.sleep(0.05)
        ngx.print("x=", ngx.var.arg_x)
    }
}
"""

NOT_FOUND = """
location = /t {
    content_by_lua_block {
        ngx.sleep(0.05)
        ngx.exit(404)
    }
}
"""

# http-level text: a shared dict and init_by_lua beside the server (--- http_config)
HTTP_LEVEL = """
lua_shared_dict counts 1m;
init_by_lua_block { greeting = "hello" }
server {
    listen 8080;
    location = /t {
        content_by_lua_block {
            ngx.shared.counts:incr("n", 1, 41)
            ngx.print(greeting, " ", ngx.shared.counts:get("n"))
        }
    }
}
"""

BODY = """
location = /t {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.say("got ", ngx.req.get_body_data(), " as ", ngx.var.http_x_kind)
        ngx.log(ngx.ERR, "body read: ", #ngx.req.get_body_data(), " bytes")
    }
}
"""

# the server's own port in the body: response_body_like
PORT = """
location = /t {
    content_by_lua_block {
        ngx.say("me: 127.0.0.1:", ngx.var.server_port)
    }
}
"""

BLANKS = """
location = /t {
    content_by_lua_block { ngx.print("\\nspaced\\n\\n") }
}
"""

# a body with a final newline: Test::Nginx would strip it from --- request
LINES = """
location = /t {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.print("[", ngx.req.get_body_data(), "]")
    }
}
"""

PROGRAMS = {
    "sleep": (SLEEP, "GET /t", (), None),
    "uthreads": (UTHREADS, "GET /t", (), None),
    "error": (ERROR, "GET /t", (), None),
    "capture": (CAPTURE, "GET /t", (), None),
    "404": (NOT_FOUND, "GET /t", (), None),
    "http-level": (HTTP_LEVEL, "GET /t", (), None),
    "post-body": (BODY, "POST /t", [("X-Kind", "form")], "a=1&b=2"),
    "port": (PORT, "GET /t", (), None),
    "blank-lines": (BLANKS, "GET /t", (), None),
    "raw-request": (LINES, "PUT /t", [("X-A", "1")], "one\ntwo\n"),
}


def _block(name):
    config, request, headers, body = PROGRAMS[name]
    res = ngxcoro.run(config, request, headers=headers, body=body)
    text = export_test_nginx(res, title=name)
    blocks = parse_blocks(text)
    assert len(blocks) == 1
    return res, text, blocks[0]


def _request(block):
    """(request line, headers, body) as Test::Nginx sends them: a `--- request` body
    without white space at its ends (Socket.pm's build_request_from_packets strips it),
    or a `--- raw_request` as it stands."""
    if "raw_request" in block:
        head, _, body = block["raw_request"].partition("\r\n\r\n")
        line, *lines = head.split("\r\n")
        return line, [tuple(x.strip() for x in h.split(":", 1)) for h in lines], body or None
    line, _, body = block["request"].partition("\n")
    headers = [tuple(x.strip() for x in h.split(":", 1))
               for h in block.get("more_headers", "").splitlines() if h.strip()]
    return line, headers, body.strip() or None


# -------------------------------------------------------------- the blocks
def test_sleep_block_text():
    _, text, _ = _block("sleep")
    assert text.startswith("=== TEST 1: sleep\n--- config\nlocation = /t {\n")
    assert "--- request\nGET /t\n--- response_body\nbefore\nafter\n" in text
    assert text.endswith("--- no_error_log\n[error]\n")


def test_error_block_has_the_message_without_the_chunk_name():
    # the chunk name "content_by_lua(nginx.conf:4):5:" names a line of the file, which
    # differs on the scaffold (its nginx.conf has its own lines first): it is cut out
    res, text, block = _block("error")
    assert block["response_body"] == "entry done\n"
    assert block["error_log"] == ("lua user thread aborted: runtime error:\n"
                                  "the light thread fails\n")
    assert "nginx.conf" not in block["error_log"] and "no_error_log" not in block


def test_404_is_an_error_code_without_nginx_s_page():
    # nginx's error page names its version ("nginx/1.22.1"): OpenResty's build differs
    _, text, block = _block("404")
    assert block["error_code"] == "404" and "response_body" not in block


def test_http_level_text_splits_into_http_config_and_config():
    _, text, block = _block("http-level")
    assert block["http_config"] == ("lua_shared_dict counts 1m;\n"
                                    "init_by_lua_block { greeting = \"hello\" }\n")
    # the text as it was, indentation and all (a Lua long string keeps its spaces)
    assert block["config"].startswith("    location = /t {") and "listen" not in block["config"]
    assert block["response_body"] == "hello 42"          # `chop`: no final newline


def test_port_becomes_the_scaffold_s_variable():
    main, http, config = split_config(
        "server {\n    listen 1;\n"
        "    location = /t { proxy_pass http://127.0.0.1:__PORT__/u; }\n}\n"
        "server {\n    listen 2;\n    location = /u { return 200; }\n}\n")
    assert main == "" and "listen $TEST_NGINX_SERVER_PORT;" in http
    _, text, block = _block("port")
    assert block["response_body_like"] == r"^me: 127\.0\.0\.1:\d+\n$"


def test_body_with_white_space_at_an_end_is_a_raw_request():
    _, text, block = _block("raw-request")
    assert "request" not in block and "more_headers" not in block
    assert block["raw_request"] == ("PUT /t HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n"
                                    "Connection: close\r\nContent-Length: 8\r\n\r\none\ntwo\n")
    assert block["response_body"] == "[one\ntwo\n]"


def test_whole_nginx_conf_has_a_main_config():
    # default_type and keepalive_timeout: the scaffold's http block has its own
    main, http, config = split_config(
        "worker_processes 1;\nenv FOO;\nevents { worker_connections 16; }\n"
        "http {\n    default_type text/plain;\n    keepalive_timeout 68;\n"
        "    lua_package_path 'x';\n    server {\n        listen 80;\n"
        "        location = /t { return 204; }\n    }\n}\n")
    assert main == "env FOO;" and http == "    lua_package_path 'x';"
    assert config == "        location = /t { return 204; }"
    assert "http {\n    lua_package_path 'x';\nserver {" in join_config(main, http, config)
    with pytest.raises(ExportError, match="client_max_body_size"):
        split_config("client_max_body_size 1k;\nlocation = /t { return 204; }\n")


def test_log_patterns():
    line = ('2023/01/01 00:00:00 [error] 1#1: *1 [lua] content_by_lua(nginx.conf:3):2: boom, '
            'client: 127.0.0.1, server: , request: "GET /t HTTP/1.1", host: "localhost"')
    assert log_patterns([line, line.replace("[error]", "[warn]")]) == ["[lua]", "boom"]


def test_what_if_and_hang_have_no_block():
    res = ngxcoro.run(SLEEP, "GET /t", what_if="post-thread-prepends")
    with pytest.raises(ExportError, match="what-if"):
        export_test_nginx(res)
    hang = ngxcoro.run_lua("ngx.thread.spawn(function() ngx.sleep(100) end)", timeout=0.5)
    with pytest.raises(ExportError, match="hangs"):
        ngxcoro.export_test_nginx(hang)


def test_peers_and_quit_have_no_block():
    # the block would run the config with no peer listening and no quit: another run
    lua = ('local s = ngx.socket.tcp() local ok, err = s:connect("127.0.0.1", 1990) '
           'ngx.say(ok, " ", err)')
    res = ngxcoro.run_lua(lua, peers=["127.0.0.1:1990 close"])
    assert res.peers == ["127.0.0.1:1990 close"]
    with pytest.raises(ExportError, match="scripted peers"):
        export_test_nginx(res)
    quit = ngxcoro.run_lua("ngx.sleep(0.2) ngx.say('x')", quit_at=0.1)
    with pytest.raises(ExportError, match="quit"):
        export_test_nginx(quit)


def test_cli_export(tmp_path, capsys):
    conf = tmp_path / "body.conf"
    conf.write_text(BODY)
    assert cli_main(["export", "--config", str(conf), "--request", "POST /t",
                     "--header", "X-Kind: form", "--body", "a=1&b=2", "--title", "a body"]) == 0
    block = parse_blocks(capsys.readouterr().out)[0]
    assert block["title"] == "a body" and block["more_headers"] == "X-Kind: form\n"
    assert block["request"] == "POST /t\na=1&b=2\n"
    assert block["response_body"] == "got a=1&b=2 as form\n"
    assert "body read: 7 bytes" in block["error_log"]
    bad = tmp_path / "bad.conf"
    bad.write_text("location = /t { content_by_lua_block { ngx.sleep(100) } }")
    assert cli_main(["export", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("ngxcoro: no Test::Nginx block: ")


# ------------------------------------------------------ the blocks on nginx
@pytest.mark.nginx
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_exported_block_passes_on_real_nginx(name, real_nginx):
    _, text, block = _block(name)
    config = join_config(block.get("main_config", "").rstrip("\n"),
                         block.get("http_config", "").rstrip("\n"),
                         block["config"].rstrip("\n"))
    line, headers, body = _request(block)
    got = real_nginx(config, line, headers=headers, body=body)
    assert got["startup_error"] is None, got["startup_error"]
    assert got["status"] == int(block.get("error_code", "200")), text
    if "response_body" in block:
        assert got["body"] == block["response_body"], text
    if "response_body_like" in block:
        # the runner writes nginx's port back as __PORT__; the scaffold sees its digits
        assert re.search(block["response_body_like"], got["body"].replace("__PORT__", "1984"),
                         re.S), text
    log = got["raw_error_log"]
    for pattern in block.get("error_log", "").splitlines():
        assert pattern in log, f"{pattern!r} not in nginx's error log\n{text}"
    for pattern in block.get("no_error_log", "").splitlines():
        assert pattern not in log, f"{pattern!r} in nginx's error log\n{text}"


# ------------------------------------------- every scenario's recorded answer
def test_exported_blocks_hold_on_the_recordings():
    """Each scenario real nginx answered (its recording in scenarios/expected/) and the
    block can say (no peers, early close or quit; a whole response, no hang, a body in one
    piece, a config nginx starts with): the model's block expects what nginx answered.
    The recording's error log is normalised (oracle/logs.py: the "*N" lines only, each
    with its first line and "PTR" for pointers), so a pattern of a cycle-log line (the
    model's line has no "*N": a timer nginx could not run ...) is not looked for there."""
    import json
    import os
    from ngxcoro.oracle.scenario import parse_scenario
    scen = ngxcoro.__file__.rsplit("/", 1)[0] + "/oracle/scenarios"
    checked, problems = 0, []
    for name in sorted(os.listdir(scen)):
        if not name.endswith(".ngx") or not os.path.exists(f"{scen}/expected/{name[:-4]}.json"):
            continue
        with open(f"{scen}/{name}") as f:
            text = f.read()
        with open(f"{scen}/expected/{name[:-4]}.json") as f:
            rec = json.load(f)
        info = parse_scenario(text)
        if info["peers"] or info["client_abort_at"] is not None or info["quit_at"] is not None:
            continue
        res = ngxcoro.run(text, info["request"], headers=info["headers"], body=info["body"],
                          timeout=info["timeout"], trace=False)
        try:
            block = parse_blocks(export_test_nginx(res, title=name))[0]
        except ExportError:
            continue
        checked += 1
        cycle = set(log_patterns([x for x in res.error_log if not re.search(r" \d+#\d+: \*", x)]))
        if rec["status"] != int(block.get("error_code", "200")):
            problems.append((name, "status", rec["status"]))
        if "response_body" in block and rec["body"] != block["response_body"]:
            problems.append((name, "body", rec["body"][:60]))
        if "response_body_like" in block and not re.search(
                block["response_body_like"], rec["body"].replace("__PORT__", "1984"), re.S):
            problems.append((name, "body_like", rec["body"][:60]))
        for pattern in block.get("error_log", "").splitlines():
            if pattern not in cycle and not any(pattern in x for x in rec["error_log"]):
                problems.append((name, "error_log", pattern))
        if "no_error_log" in block and any(x.startswith("[error]") for x in rec["error_log"]):
            problems.append((name, "no_error_log", "[error]"))
    assert checked > 500, checked          # 584 when this was written
    assert not problems, problems
