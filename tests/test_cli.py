"""`python -m ngxcoro run ...` in a subprocess, as a learner types it."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

SPAWN = textwrap.dedent("""\
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function()
                ngx.say("child")
            end)
            ngx.say("parent ", ngx.req.get_method(), " ", ngx.var.server_protocol,
                    " ", tostring(ngx.var.http_x_learner))
        }
    }
    """)

# a Debian-style nginx.conf, as a learner might paste it whole
FULL = textwrap.dedent("""\
    user www-data;
    worker_processes 1;
    pid /run/nginx.pid;
    error_log /var/log/nginx/error.log warn;

    events {
        worker_connections 768;
    }

    http {
        include mime.types;
        default_type application/octet-stream;
        sendfile on;
        keepalive_timeout 65;
        access_log /var/log/nginx/access.log;

        server {
            listen 80 default_server;
            server_name example.test;
            root /var/www/html;
            index index.html;

            location = /t {
                default_type text/plain;
                content_by_lua_block {
                    ngx.say("server ", ngx.var.server_name, " uri ", ngx.var.uri)
                }
            }
        }
    }
    """)

LUA_ERROR = textwrap.dedent("""\
    location = /t {
        content_by_lua_block {
            local x = nil + 1
        }
    }
    """)


def cli(*args, input=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "ngxcoro", "run", *args], input=input,
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def conf(tmp_path):
    def write(text, name="nginx.conf"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write


def no_traceback(out):
    assert "Traceback" not in out.stdout + out.stderr, out.stderr


def test_plain_output_shows_status_and_body(conf):
    out = cli("--config", conf(SPAWN), "--request", "GET /t")
    no_traceback(out)
    assert out.returncode == 0
    # the spawned thread runs first (ngx.thread.spawn runs it at once), then the parent
    assert "200" in out.stdout.splitlines()[0]
    assert out.stdout.endswith("child\nparent GET HTTP/1.1 nil\n")


def test_json_is_one_object_with_the_documented_keys(conf):
    out = cli("--config", conf(SPAWN), "--json")
    no_traceback(out)
    assert out.returncode == 0
    obj = json.loads(out.stdout)                   # the whole stdout is one JSON value
    assert isinstance(obj, dict)
    assert isinstance(obj["status"], int) and obj["status"] == 200
    assert obj["body"] == "child\nparent GET HTTP/1.1 nil\n"
    for key in ("error_log", "stap", "events"):
        assert isinstance(obj[key], list), key
    assert obj["stap"], "a spawn must leave stap lines"
    assert obj["error_log"] == []


def test_json_status_is_null_without_a_complete_response(conf):
    out = cli("--config", conf("location = /t {\n    content_by_lua_block {\n"
                               "        while true do end\n    }\n}\n"), "--json")
    no_traceback(out)
    obj = json.loads(out.stdout)
    assert obj["status"] is None
    assert "runaway" in obj["message"]


def test_http_1_0_and_header(conf):
    out = cli("--config", conf(SPAWN), "--request", "GET /t HTTP/1.0",
              "--header", "X-Learner: ada", "--json")
    no_traceback(out)
    obj = json.loads(out.stdout)
    assert obj["status"] == 200
    assert obj["body"] == "child\nparent GET HTTP/1.0 ada\n"


def test_repeated_headers(conf):
    text = ("location = /t {\n    content_by_lua_block {\n"
            "        local h = ngx.req.get_headers()\n"
            "        ngx.say(h['x-a'], ' ', h['x-b'])\n    }\n}\n")
    out = cli("--config", conf(text), "--header", "X-A: 1", "--header", "X-B:  two  ",
              "--json")
    # header values are trimmed, as nginx trims them
    assert json.loads(out.stdout)["body"] == "1 two\n"


def test_body_file(conf, tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("hello=world")
    text = ("location = /t {\n    content_by_lua_block {\n"
            "        ngx.req.read_body()\n"
            "        ngx.say(ngx.req.get_body_data())\n    }\n}\n")
    out = cli("--config", conf(text), "--request", "POST /t", "--body-file", str(body),
              "--json")
    no_traceback(out)
    assert json.loads(out.stdout)["body"] == "hello=world\n"


@pytest.mark.parametrize("what", ["config", "body"])
def test_missing_file_is_one_line_and_exit_2(conf, tmp_path, what):
    missing = str(tmp_path / "nope.conf")
    args = (["--config", missing] if what == "config"
            else ["--config", conf(SPAWN), "--body-file", missing])
    out = cli(*args)
    no_traceback(out)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.conf" in lines[0], out.stderr


def test_config_is_a_directory(tmp_path):
    out = cli("--config", str(tmp_path))
    no_traceback(out)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("line", ["GET", "GET t", "GET /t HTTP/2"])
def test_bad_request_line_is_one_line_not_a_traceback(conf, line):
    out = cli("--config", conf(SPAWN), "--request", line)
    no_traceback(out)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_header_is_a_usage_error(conf):
    out = cli("--config", conf(SPAWN), "--header", "no-colon-here")
    no_traceback(out)
    assert out.returncode == 2                     # argparse's usage error
    assert "no-colon-here" in out.stderr


def test_lua_error_exits_normally_with_the_500(conf):
    out = cli("--config", conf(LUA_ERROR))
    no_traceback(out)
    assert out.returncode == 0
    assert "500" in out.stdout.splitlines()[0]
    assert ("lua entry thread aborted: runtime error: content_by_lua(nginx.conf:2):2: "
            "attempt to perform arithmetic on a nil value") in out.stdout
    out = cli("--config", conf(LUA_ERROR), "--json")
    obj = json.loads(out.stdout)
    assert out.returncode == 0 and obj["status"] == 500 and len(obj["error_log"]) == 1


def test_chunk_names_use_the_config_file_name(conf):
    out = cli("--config", conf(LUA_ERROR, name="lesson.conf"), "--json")
    # nginx names inline chunks after the file they are in
    assert "content_by_lua(lesson.conf:2):2:" in json.loads(out.stdout)["error_log"][0]


def test_startup_error_is_reported(conf):
    out = cli("--config", conf("location = /t {\n    foo;\n}\n"))
    no_traceback(out)
    assert out.stdout.strip() == '[emerg] unknown directive "foo" in nginx.conf:2'
    assert out.returncode != 0
    obj = json.loads(cli("--config", conf("location = /t {\n    foo;\n}\n"), "--json").stdout)
    assert obj["status"] is None
    assert obj["startup_error"] == '[emerg] unknown directive "foo" in nginx.conf:2'


def test_whole_nginx_conf_is_accepted(conf):
    out = cli("--config", conf(FULL), "--json")
    no_traceback(out)
    obj = json.loads(out.stdout)
    assert obj["startup_error"] is None, obj
    assert obj["status"] == 200
    # $server_name is the first name of the server that took the request
    assert obj["body"] == "server example.test uri /t\n"


def test_whole_nginx_conf_unknown_uri_is_404(conf):
    out = cli("--config", conf(FULL), "--request", "GET /missing", "--json")
    obj = json.loads(out.stdout)
    assert obj["status"] == 404
    # the server's root is /var/www/html
    assert any('open() "/var/www/html/missing" failed' in l for l in obj["error_log"]), obj


@pytest.mark.nginx
def test_whole_nginx_conf_real(real_nginx):
    real = real_nginx(FULL, "GET /t")
    assert real["status"] == 200
    assert real["body"] == "server example.test uri /t\n"


def test_json_output_is_deterministic(conf):
    path = conf(SPAWN)
    assert cli("--config", path, "--json").stdout == cli("--config", path, "--json").stdout


def test_body_pieces_arrive_over_virtual_time(tmp_path):
    # the light thread sleeps 0.05 s; the body's last piece comes 0.1 s after the
    # first, so the thread runs while read_body waits: its line comes first
    conf = tmp_path / "rb.conf"
    conf.write_text('location /t {\n    content_by_lua_block {\n'
                    '        ngx.thread.spawn(function() ngx.sleep(0.05) ngx.say("thread") end)\n'
                    '        ngx.req.read_body()\n'
                    '        ngx.say("body: ", ngx.req.get_body_data())\n    }\n}\n')
    out = subprocess.run([sys.executable, "-m", "ngxcoro", "run", "--config", str(conf),
                          "--request", "POST /t", "--body-piece", "0:a=1&",
                          "--body-piece", "0.1:b=2", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["body"] == "thread\nbody: a=1&b=2\n"


# ------------------------------------------------------------------ horizon and exit codes
FOREVER = textwrap.dedent("""\
    location = /t {
        content_by_lua_block {
            ngx.thread.spawn(function()
                while true do ngx.sleep(1) end
            end)
            ngx.say("entry")
        }
    }
    """)

NOT_MODELLED = "location = /t {\n    content_by_lua_block {\n        ngx.socket.udp()\n    }\n}\n"


def test_a_hang_at_the_horizon_is_nginx_s_answer_exit_0(conf):
    # real nginx keeps the request open; its client gives up at its timeout (3 s, the
    # oracle's default): that is the answer, so the exit code is 0
    for extra in ([], ["--json"]):
        out = cli("--config", conf(FOREVER), *extra)
        no_traceback(out)
        assert out.returncode == 0, out.stdout + out.stderr
    obj = json.loads(out.stdout)
    assert obj["status"] is None and obj["hung"] is True and obj["refused"] is False
    assert obj["message"].startswith("stopped at the horizon: the client gives up after 3 s")
    # the light thread sleeps at 1 s and 2 s; the one due at 3 s is past the horizon
    assert "t1 (running; ngx.sleep(1): re-arms a 1 s timer forever, armed 3 times" in obj["message"]


def test_timeout_moves_the_horizon(conf):
    out = cli("--config", conf(FOREVER), "--json", "--timeout", "10.5")
    obj = json.loads(out.stdout)
    assert out.returncode == 0 and obj["hung"] is True
    assert "after 10.5 s" in obj["message"] and "armed 11 times" in obj["message"]


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "inf"])
def test_bad_timeout_is_a_usage_error(conf, bad):
    out = cli("--config", conf(FOREVER), "--timeout", bad)
    no_traceback(out)
    assert out.returncode == 2 and "bad timeout" in out.stderr


def test_not_modelled_exits_2_with_one_json_object(conf):
    out = cli("--config", conf(NOT_MODELLED))
    no_traceback(out)
    assert out.returncode == 2
    assert "not modelled" in out.stdout
    out = cli("--config", conf(NOT_MODELLED), "--json")
    obj = json.loads(out.stdout)
    assert out.returncode == 2 and obj["refused"] is True and "not modelled" in obj["message"]


def test_bad_request_line_with_json_is_one_object_exit_2(conf):
    out = cli("--config", conf(SPAWN), "--request", "GET t", "--json")
    no_traceback(out)
    assert out.returncode == 2
    obj = json.loads(out.stdout)
    assert obj["status"] is None and "request line" in obj["message"] and obj["refused"] is True


def test_exit_codes_of_each_kind_of_answer(conf):
    # a Lua error is nginx's 500: exit 0; a config nginx refuses: exit 1 (as nginx -t);
    # a runaway loop is a hang real nginx's worker would also have: exit 0
    assert cli("--config", conf(LUA_ERROR), "--json").returncode == 0
    assert cli("--config", conf("location = /t {\n    foo;\n}\n"), "--json").returncode == 1
    spin = "location = /t {\n    content_by_lua_block {\n        while true do end\n    }\n}\n"
    assert cli("--config", conf(spin), "--json").returncode == 0


def test_stream_is_json_lines_then_the_result(conf):
    # --stream writes what --json gathers, one JSON value per line as it happens:
    # the events and the stap lines in the order they fired, then the rest of the object
    path = conf(SPAWN)
    whole = json.loads(cli("--config", path, "--json").stdout)
    out = cli("--config", path, "--stream")
    no_traceback(out)
    assert out.returncode == 0
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    *items, last = lines
    assert [x for x in items if "event" in x] == whole["events"]
    assert [x["stap"] for x in items if "stap" in x] == whole["stap"]
    assert all(("event" in x) != ("stap" in x) for x in items)
    assert last["result"] == {k: v for k, v in whole.items() if k not in ("events", "stap")}
    # the spawn's stap line comes before the events that follow it, not at the end
    first_stap = next(i for i, x in enumerate(items) if "stap" in x)
    assert first_stap < len(items) - 1 and "event" in items[first_stap + 1]


def test_stream_bad_request_line_is_one_result_line(conf):
    out = cli("--config", conf(SPAWN), "--request", "GET t", "--stream")
    no_traceback(out)
    assert out.returncode == 2
    (obj,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert obj["result"]["refused"] is True and "request line" in obj["result"]["message"]


def test_stream_and_json_exclude_each_other(conf):
    out = cli("--config", conf(SPAWN), "--json", "--stream")
    assert out.returncode == 2 and "not allowed" in out.stderr
